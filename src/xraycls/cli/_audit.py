"""``xraycls audit MODEL --data DIR --out DIR``: does the model look at the lungs?"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command."""
    parser = subparsers.add_parser(
        "audit",
        help="test whether a model decides from the lungs or from borders, text and source",
        description="Run a saved model on every image as is, with the lung field blacked out, "
        "with everything but the lung field blacked out and with burned-in text inpainted; "
        "measure the Grad-CAM mass inside the lungs and whether the features encode the image "
        "source. Writes audit.json, audit.html and figures to --out and prints the findings "
        "(thresholds: docs/audit.md).",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model file written by xraycls")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder or CSV")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="border kept around the lungs in the lung-only test, as a fraction of the image "
        "side (default: 0.05)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the source probe folds")
    parser.add_argument(
        "--unsafe", action="store_true", help="load a model with Python code (trusted files only)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xraycls.auditing import audit
    from xraycls.data import load_dataset
    from xraycls.predict import Classifier

    clf = Classifier.load(args.model, safe_mode=not args.unsafe)
    dataset = load_dataset(args.data, classes=clf.class_names)
    report = audit(
        clf,
        dataset,
        margin=args.margin,
        batch_size=args.batch_size,
        seed=args.seed,
        out=args.out,
        progress=True,
    )
    print(report.to_markdown())
    out = Path(args.out)
    print(f"written: {out / 'audit.json'}, {out / 'audit.html'}")
    return 0
