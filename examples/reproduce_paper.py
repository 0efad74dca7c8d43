"""Reproduce the paper's experiment (Lacruz & Lorenzo 2020, Table 2) from Python.

    python examples/reproduce_paper.py                       # quick profile on ../shared/data/cxr3
    python examples/reproduce_paper.py --profile paper --data "COVID-19 Radiography Database"
    python examples/reproduce_paper.py --limit 20 --epochs 1  # a smoke test in seconds

The same run is `xraycls reproduce ...` on the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xraycls

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset folder")
    parser.add_argument("--profile", default="quick", help="paper, quick or a JSON file")
    parser.add_argument("--out", default="runs/reproduce-example", help="output folder")
    parser.add_argument("--limit", type=int, help="at most N images per class")
    parser.add_argument("--epochs", type=int, help="override the profile's epochs")
    args = parser.parse_args()

    profile = xraycls.protocols.get_profile(args.profile)
    changes: dict[str, object] = {}
    if args.limit:
        changes["limit_per_class"] = args.limit
    if args.epochs:
        changes["train"] = {**profile.train, "epochs": args.epochs}
    result = xraycls.reproduce(
        args.data, profile=profile.replace(**changes), out=args.out, verbose=0
    )

    print(f"profile {result.profile.name}: {result.profile.description}")
    for split, counts in result.splits.items():
        print(f"  {split}: {counts}")
    print(result.to_markdown())
    best = max(result.rows, key=lambda row: row.test_accuracy or 0.0)
    print(f"best test accuracy: {best.model} {best.test_accuracy:.4f}")
    print(f"HTML report: xraycls report {best.workdir}")


if __name__ == "__main__":
    main()
