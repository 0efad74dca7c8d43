"""``xraycls evaluate MODEL --data DIR``: metrics with confidence intervals on a dataset."""

from __future__ import annotations

import argparse

from xraycls.cli._common import add_on_error, out_file, write_or_print
from xraycls.cli._parents import model_on_data_parents, run_on_data


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a saved model on a dataset folder",
        description="Predict every image of a dataset with a saved model and print the metrics "
        "(sensitivity, specificity, PPV, NPV, F1, AUC with 95% CIs; confusion matrix).",
        parents=model_on_data_parents("bootstrap seed (default: 0)"),
    )
    parser.add_argument("--out", metavar="FILE", help="also write the full report as JSON")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)"
    )
    parser.add_argument(
        "--by",
        action="append",
        metavar="COLUMN",
        help="also break the metrics down by a per-image column: source, or any column of the "
        "CSV / MANIFEST.csv such as view or sex (repeatable; JSON key by_<COLUMN>)",
    )
    parser.add_argument(
        "--source-column",
        metavar="NAME",
        help="the CSV / MANIFEST.csv column naming each image's source (default: source, "
        "else source_repo)",
    )
    add_on_error(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.evaluation import evaluate

    # before the minutes of predicting; a user's JSON of that name is not replaced
    target = out_file(args.out, kind="evaluation") if args.out else None
    skipped_csv = target.with_name(target.stem + ".skipped.csv") if target else None
    clf, _, report = run_on_data(
        args, "evaluate", evaluate, skipped=skipped_csv, n_bootstrap=args.bootstrap, by=args.by
    )
    from xraycls.train._summary import label_map_notes

    for note in label_map_notes(clf.info.training_data):
        print(f"note: {note}")
    if target is not None:
        write_or_print(target, report.to_json() + "\n")
        print(f"report: {target}")
    return 0
