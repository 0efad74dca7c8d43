"""``xraycls export MODEL --format savedmodel|onnx|tflite --out PATH``."""

from __future__ import annotations

import argparse

from xraycls.cli._parents import model_parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="export a model to SavedModel, ONNX or TFLite",
        description="Export a saved model for another runtime, with a side-car xraycls.json "
        "(class names, input size, image preparation, calibration).",
        parents=[model_parent(unsafe=False)],
    )
    parser.add_argument(
        "--format",
        choices=("savedmodel", "onnx", "tflite"),
        default="savedmodel",
        help="export format (default: savedmodel)",
    )
    parser.add_argument(
        "--out", required=True, metavar="PATH", help="a folder (savedmodel) or .onnx/.tflite file"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.export import export_model, sidecar_path

    path = export_model(args.model, args.out, format=args.format)
    print(f"exported {args.format}: {path} (metadata: {sidecar_path(path)})")
    return 0
