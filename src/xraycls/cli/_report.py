"""``xraycls report``: turn a training run folder, or a ``reproduce`` output folder, into an
HTML page with figures.

Examples:
    >>> from xraycls.cli import main
    >>> main(["report", "runs/xception"])  # doctest: +SKIP
    runs/xception/report/report.html
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    parser = subparsers.add_parser(
        "report",
        help="write an HTML report of a training run or of a reproduce output folder",
        description="Write RUN_DIR/report/report.html (self-contained, opens offline) and its "
        "PNG figures: metrics table, training curves, confusion matrix, ROC curves, reliability "
        "diagram, Grad-CAM overlays of correct and wrong test predictions, and the run config. "
        "Missing pieces are skipped with a note on the page. Given the output folder of "
        "xraycls reproduce, one page for all its models (confounding warnings, results, per-source "
        "tables, splits, profile) linking each model's own run report.",
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a training workdir or a reproduce --out folder"
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/report)")
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="dataset folder that relative image paths in evaluation.json are relative to",
    )
    parser.add_argument(
        "--n-cam",
        type=int,
        default=4,
        metavar="N",
        help="correct and wrong CAM examples per class (default 4; 0 skips the grid)",
    )
    parser.set_defaults(func=_run)


def _run(args: Any) -> int:
    from pathlib import Path

    from xraycls.cli._common import out_dir
    from xraycls.reporting import report

    if Path(args.run_dir).is_dir():  # else report() names the problem with run_dir
        out_dir(args.out or str(Path(args.run_dir) / "report"))
    page = report(args.run_dir, args.out, data=args.data, n_cam=args.n_cam)
    print(page)
    return 0
