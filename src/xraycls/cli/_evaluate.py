"""``xraycls evaluate MODEL --data DIR``: metrics with confidence intervals on a dataset."""

from __future__ import annotations

import argparse


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
        "--unsafe", action="store_true", help="load a model with Python code (trusted files only)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xraycls._atomic import write_text_atomic
    from xraycls.data import load_dataset
    from xraycls.evaluation import evaluate
    from xraycls.predict import Classifier

    clf = Classifier.load(args.model, safe_mode=not args.unsafe)
    dataset = load_dataset(args.data, classes=clf.class_names)
    report = evaluate(
        clf, dataset, batch_size=args.batch_size, n_bootstrap=args.bootstrap, seed=args.seed
    )
    print(report.to_markdown())
    if args.out:
        target = Path(args.out)
        write_text_atomic(target, report.to_json() + "\n")
        print(f"report: {target}")
    return 0
