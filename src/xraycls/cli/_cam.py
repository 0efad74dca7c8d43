"""``xraycls cam``: class activation overlays for image files, one PNG per image.

Examples:
    >>> from xraycls.cli import main
    >>> main(["cam", "run/best.keras", "scan.png", "--out", "cams"])  # doctest: +SKIP
    cams/scan_gradcam.png
"""

from __future__ import annotations

import argparse
from typing import Any

from xraycls.cli._common import SKIPPED_NAME, out_dir, report_skipped, warn_unsafe
from xraycls.cli._parents import batch_size_parent, model_parent, on_error_parent


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
        default="pad",
        help="how images were fitted to the model in training (default: pad = letterbox)",
    )
    parser.set_defaults(func=_run)


def _run(args: Any) -> int:
    from xraycls.explain import write_overlays
    from xraycls.io import check_images

    out = out_dir(args.out)  # before loading the model and computing maps
    images, skipped = check_images(args.images, on_error=args.on_error)
    report_skipped(skipped, out / SKIPPED_NAME, "cam")
    model, class_index = _unsafe_model(args) if args.unsafe else (args.model, args.class_index)
    if not images:
        return 0
    written = write_overlays(
        model,
        images,
        out,
        method=args.method,
        class_index=class_index,
        layer=args.layer,
        alpha=args.alpha,
        colormap=args.colormap,
        batch_size=args.batch_size,
        resize=args.resize,
    )
    for path in written:
        print(path)
    return 0


def _unsafe_model(args: Any) -> tuple[Any, int | str | None]:
    """The Keras model loaded with safe mode off, and ``--class-index`` as an index.

    ``write_overlays`` loads a path safely; with ``--unsafe`` it gets the loaded model instead,
    which carries no class names, so a class name is looked up in the file here.
    """
    from xraycls.zoo import load_model, load_model_info

    warn_unsafe(args.model)
    model = load_model(args.model, safe_mode=False, compile=False)
    class_index: int | str | None = args.class_index
    if isinstance(class_index, str) and not class_index.lstrip("-").isdigit():
        names = list(load_model_info(args.model).class_names)
        if class_index not in names:
            from xraycls.errors import ConfigError

            raise ConfigError(f"--class-index {class_index!r} is not one of {names}")
        class_index = names.index(class_index)
    elif isinstance(class_index, str):
        class_index = int(class_index)
    return model, class_index
