"""``xraycls robustness MODEL --data DIR --out DIR``: accuracy under acquisition shifts.

Examples:
    >>> from xraycls.cli import main
    >>> main(["robustness", "runs/quick/simple_cnn/best.keras", "--data", "data/test",
    ...       "--out", "runs/quick/simple_cnn"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from xraycls.cli._common import SKIPPED_NAME, out_dir
from xraycls.cli._parents import (
    model_on_data_parents,
    on_error_parent,
    quiet_parent,
    run_on_data,
)


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,3,5, got {text!r}"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``robustness`` command."""
    parser = subparsers.add_parser(
        "robustness",
        help="measure a saved model under acquisition shifts (JPEG, noise, text, borders...)",
        description="Predict every image of a dataset clean and under every shift of the "
        "catalogue (xraycls.robustness) at every severity; print the accuracy table and write "
        "robustness.json, robustness_heatmap.png and robustness_samples.png to --out. Point "
        "--out at the model's run folder and `xraycls report` adds a robustness section.",
        parents=[
            *model_on_data_parents("seed of the shifts (default: 0)"),
            quiet_parent(),
            on_error_parent(),
        ],
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--kinds",
        metavar="A,B",
        help="comma-separated shift kinds (default: all): jpeg, resolution, squash, gamma, "
        "contrast, noise, blur, text, border, crop, rotation, invert",
    )
    parser.add_argument(
        "--severities",
        type=_int_list,
        default=[1, 2, 3, 4, 5],
        metavar="1,3,5",
        help="severities to measure, 1-5 (default: 1,2,3,4,5)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.robustness import evaluate_robustness, save_robustness

    out = out_dir(args.out, data=args.data)  # before minutes of predicting
    _, dataset, report = run_on_data(
        args,
        "robustness",
        evaluate_robustness,
        skipped=out / SKIPPED_NAME,
        kinds=args.kinds,
        severities=args.severities,
        progress=not args.quiet,
    )
    for path in save_robustness(report, out, sample=dataset.files[0]).values():
        print(f"written: {path}")
    return 0
