"""``xraycls models``: list the registered backbones (built-in, plugin, user) as a table.

Counting parameters means building every model (about 15 s for the built-ins on a 2-core CPU),
so the PARAMS column is filled only with ``--params``; otherwise it shows ``-``.

Listing must not cost a TensorFlow import (seconds) to print a static table: the built-in rows
come from :data:`_BUILTIN` below (a test keeps it equal to the registry), and installed plugins
are listed by their entry point without being imported. ``--source plugin``, ``--source user``
and ``--params`` load the full registry (plugins included) as before.

Examples:
    >>> from xraycls.cli import main
    >>> main(["models", "--pattern", "resnet*"])  # doctest: +SKIP
    NAME       SOURCE   PROVIDER  INPUT    PREPROCESSING  PARAMS  DESCRIPTION
    resnet101  builtin  xraycls   224x224  caffe          -       ResNet-101 (paper backbone), ...
    resnet50   builtin  xraycls   224x224  caffe          -       ResNet-50 (paper backbone), ...
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

_COLUMNS = ("NAME", "SOURCE", "PROVIDER", "INPUT", "PREPROCESSING", "PARAMS", "DESCRIPTION")

# The built-in backbones as the registry describes them (tests/test_reliability_cli.py fails
# when a family is added or changed without this table). Sorted by name.
_BUILTIN: tuple[tuple[str, tuple[str, ...], tuple[int, int, int], int, str, str], ...] = (
    (
        "densenet201",
        ("DenseNet201", "DenseNet-201"),
        (224, 224, 3),
        32,
        "torch",
        "DenseNet-201 (paper backbone)",
    ),
    (
        "efficientnet_b0",
        ("EfficientNetB0", "EfficientNet-B0"),
        (224, 224, 3),
        32,
        "none",
        "EfficientNet-B0, small and accurate",
    ),
    (
        "inception_resnet_v2",
        ("InceptionResNetV2", "Inception-ResNet-v2"),
        (299, 299, 3),
        75,
        "tf",
        "Inception-ResNet-v2 (paper backbone)",
    ),
    (
        "mobilenet_v3_small",
        ("MobileNetV3Small", "MobileNet-V3-Small"),
        (224, 224, 3),
        32,
        "tf",
        "MobileNetV3-Small, fast on a CPU",
    ),
    (
        "resnet101",
        ("ResNet-101", "ResNet101"),
        (224, 224, 3),
        32,
        "caffe",
        "ResNet-101 (paper backbone)",
    ),
    (
        "resnet50",
        ("ResNet-50", "ResNet50"),
        (224, 224, 3),
        32,
        "caffe",
        "ResNet-50 (paper backbone)",
    ),
    (
        "simple_cnn",
        ("simplecnn", "SimpleCNN"),
        (128, 128, 3),
        8,
        "tf",
        "Small from-scratch CNN, trains in minutes on a CPU",
    ),
    ("vgg16", ("VGG16", "VGG-16"), (224, 224, 3), 32, "caffe", "VGG16 (paper backbone)"),
    ("xception", ("Xception",), (299, 299, 3), 71, "tf", "Xception (paper backbone)"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` command."""
    parser = subparsers.add_parser(
        "models",
        help="list the available backbones",
        description="List the registered backbones: built-in, from plugins (entry point group "
        "'xraycls.backbones') and registered in this process. PARAMS is the total parameter "
        "count with a 3-class head at the default input size; it needs --params because it "
        "builds every model.",
    )
    parser.add_argument(
        "--source", choices=["builtin", "plugin", "user"], help="only backbones from this source"
    )
    parser.add_argument("--pattern", metavar="GLOB", help="only names matching, e.g. 'resnet*'")
    parser.add_argument(
        "--params", action="store_true", help="build each model to count its parameters (slow)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=_models)


def _count_params(name: str, input_shape: tuple[int, int, int]) -> int | str:
    import keras

    from xraycls.errors import XrayclsError
    from xraycls.zoo import build_model

    try:
        count = int(build_model(name, num_classes=3, input_shape=input_shape).count_params())
    except XrayclsError as exc:
        print(f"xraycls models: {name}: {exc}", file=sys.stderr)
        return "error"
    finally:
        keras.backend.clear_session()  # each full backbone holds hundreds of MB otherwise
    return count


def _static_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Built-ins from :data:`_BUILTIN`, plugins by entry point only: no TensorFlow import."""
    import fnmatch
    from importlib import metadata

    def keep(name: str) -> bool:  # as list_models(pattern=...): the name only
        return fnmatch.fnmatchcase(name, (args.pattern or "*").lower())

    rows = [
        {
            "name": name,
            "source": "builtin",
            "provider": "xraycls",
            "aliases": list(aliases),
            "default_input_shape": list(shape),
            "min_input_size": min_size,
            "preprocessing": prep,
            "params": None,
            "description": description,
        }
        for name, aliases, shape, min_size, prep, description in _BUILTIN
        if keep(name)
    ]
    if args.source is None:
        try:
            found = list(metadata.entry_points(group="xraycls.backbones"))
        except Exception:  # a broken environment must not break listing the built-ins
            found = []
        for ep in found:
            name = str(ep.name).strip().lower()
            if not keep(name):
                continue
            dist = getattr(ep, "dist", None)
            rows.append(
                {
                    "name": name,
                    "source": "plugin",
                    "provider": str(getattr(dist, "name", None) or ep.value.split(":")[0]),
                    "aliases": [],
                    "default_input_shape": None,
                    "min_input_size": None,
                    "preprocessing": None,
                    "params": None,
                    "description": "(plugin not loaded; --source plugin shows its details)",
                }
            )
    return sorted(rows, key=lambda r: r["name"])


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.source in (None, "builtin") and not args.params:
        return _static_rows(args)
    from xraycls.zoo import get_backbone, list_models

    rows = []
    for name in list_models(source=args.source, pattern=args.pattern):
        spec = get_backbone(name)
        rows.append(
            {
                "name": spec.name,
                "source": spec.source,
                "provider": spec.provider,
                "aliases": list(spec.aliases),
                "default_input_shape": list(spec.default_input_shape),
                "min_input_size": spec.min_input_size,
                "preprocessing": spec.preprocessing,
                "params": _count_params(name, spec.default_input_shape) if args.params else None,
                "description": spec.description,
            }
        )
    return rows


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    shape = row["default_input_shape"]
    params = row["params"]
    return (
        row["name"],
        row["source"],
        row["provider"],
        "-" if shape is None else f"{shape[0]}x{shape[1]}",
        row["preprocessing"] or "-",
        "-" if params is None else (f"{params:,}" if isinstance(params, int) else str(params)),
        row["description"],
    )


def _models(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [_COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS) - 1)]
    for line in table:
        cells = [cell.ljust(w) for cell, w in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())
    if not rows:
        print("(no backbone matches)", file=sys.stderr)
    return 0
