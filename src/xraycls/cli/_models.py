"""``xraycls models``: list the registered backbones (built-in, plugin, user) as a table.

Counting parameters means building every model (about 15 s for the built-ins on a 2-core CPU),
so the PARAMS column is filled only with ``--params``; otherwise it shows ``-``.

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


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
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
    height, width, _ = row["default_input_shape"]
    params = row["params"]
    return (
        row["name"],
        row["source"],
        row["provider"],
        f"{height}x{width}",
        row["preprocessing"],
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
