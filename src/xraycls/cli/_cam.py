"""``xraycls cam``: class activation overlays for image files, one PNG per image.

Examples:
    >>> from xraycls.cli import main
    >>> main(["cam", "run/best.keras", "scan.png", "--out", "cams"])  # doctest: +SKIP
    cams/scan_gradcam.png
"""

from __future__ import annotations

import argparse
from typing import Any

from xraycls.cli._common import SKIPPED_NAME, out_dir, report_skipped
from xraycls.cli._parents import (
    batch_size_parent,
    load_classifier,
    model_parent,
    on_error_parent,
    same_named,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cam`` command."""
    parser = subparsers.add_parser(
        "cam",
        help="write class activation map overlays for images",
        description="Compute class activation maps (Grad-CAM by default) of a saved model for "
        "image files and write one overlay PNG per image (<stem>_<method>.png), drawn on the "
        "image at its original size.",
        parents=[
            model_parent(metavar="MODEL", help="a .keras model file (e.g. best.keras)"),
            batch_size_parent(16, help="images per pass (16)"),
            on_error_parent(),
        ],
    )
    parser.add_argument("images", metavar="IMAGES", nargs="+", help="image files")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs")
    parser.add_argument(
        "--method",
        choices=["gradcam", "gradcam++", "cam", "scorecam"],
        default="gradcam",
        help="map method; 'cam' needs a GAP + single Dense head; 'scorecam' is gradient-free "
        "but runs one forward pass per feature map (default: gradcam)",
    )
    parser.add_argument(
        "--class-index",
        metavar="CLASS",
        help="class to explain, as an index or a class name (default: the predicted class)",
    )
    parser.add_argument(
        "--layer", help="target layer name or 'submodel/layer' path (default: found by itself)"
    )
    parser.add_argument("--alpha", type=float, default=0.4, help="colour map weight (0.4)")
    parser.add_argument("--colormap", default="jet", help="OpenCV colour map name (jet)")
    parser.add_argument(
        "--resize",
        choices=["pad", "stretch", "crop"],
        default=None,
        help="how images were fitted to the model in training (default: the mode stored in "
        "the model file, else pad = letterbox)",
    )
    parser.set_defaults(func=_run)


def _run(args: Any) -> int:
    from xraycls.explain import write_overlays
    from xraycls.io import check_images

    out = out_dir(args.out)  # before loading the model and computing maps
    images, skipped = check_images(args.images, on_error=args.on_error)
    report_skipped(skipped, out / SKIPPED_NAME, "cam")
    if not images:
        return 0
    options = same_named(
        args, "method", "class_index", "layer", "alpha", "colormap", "batch_size", "resize"
    )
    written = write_overlays(load_classifier(args), images, out, **options)
    for path in written:
        print(path)
    return 0
