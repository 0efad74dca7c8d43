"""``xraycls evaluate MODEL --data DIR``: metrics with confidence intervals on a dataset."""

from __future__ import annotations

import argparse

from xraycls.cli._common import add_on_error, out_file, report_skipped, warn_unsafe, write_or_print


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a saved model on a dataset folder",
        description="Predict every image of a dataset with a saved model and print the metrics "
        "(sensitivity, specificity, PPV, NPV, F1, AUC with 95% CIs; confusion matrix).",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model file written by xraycls")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder or CSV")
    parser.add_argument("--out", metavar="FILE", help="also write the full report as JSON")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
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
    parser.add_argument(
        "--unsafe", action="store_true", help="load a model with Python code (trusted files only)"
    )
    add_on_error(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.data import load_dataset
    from xraycls.evaluation import evaluate
    from xraycls.predict import Classifier

    # before the minutes of predicting; a user's JSON of that name is not replaced
    target = out_file(args.out, kind="evaluation") if args.out else None
    if args.unsafe:
        warn_unsafe(args.model)
    clf = Classifier.load(args.model, safe_mode=not args.unsafe)
    dataset = load_dataset(
        args.data,
        classes=clf.class_names,
        on_error=args.on_error,
        source_column=args.source_column,
    )
    assert dataset.report is not None
    skipped_csv = target.with_name(target.stem + ".skipped.csv") if target else None
    report_skipped(dataset.report.skipped, skipped_csv, "evaluate")
    report = evaluate(
        clf,
        dataset,
        batch_size=args.batch_size,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        by=args.by,
    )
    print(report.to_markdown())
    from xraycls.train._summary import label_map_notes

    for note in label_map_notes(clf.info.training_data):
        print(f"note: {note}")
    if target is not None:
        write_or_print(target, report.to_json() + "\n")
        print(f"report: {target}")
    return 0
