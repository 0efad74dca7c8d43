"""``xraycls predict MODEL PATHS...``: class probabilities of image files or folders."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    parser = subparsers.add_parser(
        "predict",
        help="predict image files or folders with a saved model",
        description="Predict the class probabilities of image files (folders are searched "
        "recursively) and print them as CSV, or write CSV/JSON with --out.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model file written by xraycls")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--out", metavar="FILE", help="write .csv or .json (default: CSV to stdout)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument(
        "--unsafe", action="store_true", help="load a model with Python code (trusted files only)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import csv
    import io
    import json
    import sys
    from pathlib import Path

    from xraycls._atomic import write_text_atomic
    from xraycls.errors import ConfigError
    from xraycls.predict import Classifier

    target = Path(args.out) if args.out else None
    if target is not None and target.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--out {args.out}: the file name must end with .csv or .json")
    clf = Classifier.load(args.model, safe_mode=not args.unsafe)
    rows = clf.predict_table(
        args.paths, batch_size=args.batch_size, progress=not args.quiet and target is not None
    )
    if target is not None and target.suffix.lower() == ".json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=["file", "label", "probability", *clf.class_names], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    if target is None:
        sys.stdout.write(text)
        return 0
    write_text_atomic(target, text)
    print(f"{len(rows)} predictions: {target}")
    return 0
