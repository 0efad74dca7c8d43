"""``xraycls audit MODEL --data DIR --out DIR``: does the model look at the lungs?"""

from __future__ import annotations

import argparse

from xraycls.cli._parents import model_on_data_parents, quiet_parent, run_on_data


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
        parents=[*model_on_data_parents("seed of the source probe folds"), quiet_parent()],
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="border kept around the lungs in the lung-only test, as a fraction of the image "
        "side (default: 0.05)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xraycls.auditing import audit

    run_on_data(args, "audit", audit, margin=args.margin, out=args.out, progress=not args.quiet)
    out = Path(args.out)
    print(f"written: {out / 'audit.json'}, {out / 'audit.html'}")
    return 0
