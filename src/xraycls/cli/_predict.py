"""``xraycls predict MODEL PATHS...``: class probabilities of image files or folders."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from xraycls.cli._common import out_file, report_skipped, write_or_print
from xraycls.cli._parents import (
    batch_size_parent,
    load_classifier,
    model_parent,
    on_error_parent,
    quiet_parent,
    same_named,
)

if TYPE_CHECKING:
    from xraycls.predict import Classifier


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    parser = subparsers.add_parser(
        "predict",
        help="predict image files or folders with a saved model",
        description="Predict the class probabilities of image files (folders are searched "
        "recursively) and print them as CSV, or write CSV/JSON with --out. With --out "
        "FILE.csv or FILE.jsonl the run is streamed: globs and CSV manifests are accepted, "
        "unreadable files become error rows, and running again resumes the file.",
        # A folder of scans with one bad file should still give the other predictions.
        parents=[model_parent(), batch_size_parent(), quiet_parent(), on_error_parent("skip")],
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="write .csv, .jsonl (streamed, resumable) or .json (default: CSV to stdout)",
    )
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation; adds an uncertainty column"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="image decoding threads (default: 2)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start --out afresh instead of resuming it"
    )
    parser.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="read CSV manifest entries outside the manifest's folder (refused by default)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import csv
    import io
    import json
    import sys
    from pathlib import Path

    from xraycls._outputs import csv_cell
    from xraycls.errors import ConfigError
    from xraycls.io import check_images
    from xraycls.predict import expand_paths

    target = Path(args.out) if args.out else None
    if target is not None and target.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise ConfigError(f"--out {args.out}: the file name must end with .csv, .jsonl or .json")
    if target is not None:
        # before predicting, so a read-only --out loses nothing; a user's .json is not replaced
        out_file(args.out, kind="predictions")
    clf = load_classifier(args)
    if target is not None and target.suffix.lower() in (".csv", ".jsonl"):
        return _run_batch(args, clf)
    inputs = expand_paths(args.paths)
    files, skipped = check_images(inputs, on_error=args.on_error)
    table = clf.predict_table(
        files, batch_size=args.batch_size, progress=not args.quiet and target is not None
    )
    # One row per input in input order; a file that cannot be read gets its error instead.
    errors = dict(skipped)
    by_file = iter(table)
    rows = [
        {"file": f, "label": None, "probability": None, "error": errors[f]}
        if f in errors
        else next(by_file)
        for f in inputs
    ]
    report_skipped(skipped, None, "predict")
    if target is not None and target.suffix.lower() == ".json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        buf = io.StringIO()
        fields = ["file", "label", "probability", *clf.class_names] + (["error"] if errors else [])
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writerow({f: csv_cell(f) for f in fields})
        # a spreadsheet must not run a file or class name as a formula
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
        text = buf.getvalue()
    if target is None:
        sys.stdout.write(text)
        return 0
    write_or_print(target, text)
    print(f"{len(table)} predictions, {len(skipped)} unreadable: {target}")
    return 0


def _run_batch(args: argparse.Namespace, clf: Classifier) -> int:
    # Streamed: every input is a row (unreadable files with their error), so --on-error does
    # not apply; an interrupted run resumes from the rows already written.
    from xraycls.batch import predict_files

    summary = predict_files(
        clf,
        args.paths,
        args.out,
        progress=not args.quiet,
        **same_named(args, "batch_size", "workers", "tta", "overwrite", "allow_outside_root"),
    )
    print(
        f"{summary.predicted} predicted, {summary.errors} unreadable (rows with an error), "
        f"{summary.resumed} already in the file: {summary.out} "
        f"({summary.images_per_second:.1f} images/s)"
    )
    return 0
