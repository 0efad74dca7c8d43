"""``xraycls calibrate MODEL --data VAL_DIR``: temperature, operating point, abstain rule."""

from __future__ import annotations

import argparse

from xraycls.cli._parents import batch_size_parent, data_parent, model_parent, same_named


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command."""
    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate a model on validation data and set its COVID operating point",
        description="Fit temperature scaling on validation images, choose the COVID threshold "
        "for a target sensitivity and an abstain (refer) rule, and store them in the model file.",
        parents=[
            model_parent(unsafe=False),
            data_parent(metavar="VAL_DIR", help="validation folder or CSV manifest"),
            batch_size_parent(),
        ],
    )
    parser.add_argument(
        "--sensitivity", type=float, default=0.95, help="target sensitivity (default: 0.95)"
    )
    parser.add_argument(
        "--refer-below",
        type=float,
        default=0.5,
        help="refer when the top calibrated probability is below this (default: 0.5)",
    )
    parser.add_argument(
        "--max-spread",
        type=float,
        default=0.15,
        help="with test-time augmentation, refer when the spread is above this (default: 0.15)",
    )
    parser.add_argument("--positive", help="the positive class (default: the COVID class)")
    parser.add_argument(
        "--min-images",
        type=int,
        default=20,
        help="refuse fewer calibration images than this (default: 20)",
    )
    parser.add_argument(
        "--min-per-class",
        type=int,
        default=5,
        help="refuse fewer images of any class than this (default: 5)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the calibration without storing it"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from xraycls.calibration import calibrate

    cal = calibrate(
        args.model,
        args.data,
        positive_class=args.positive,
        target_sensitivity=args.sensitivity,
        save=not args.dry_run,
        **same_named(
            args, "refer_below", "max_spread", "batch_size", "min_images", "min_per_class"
        ),
    )
    low, high = cal.sensitivity_ci or (0.0, 1.0)
    print(
        f"temperature {cal.temperature:.3f}; ECE {cal.ece_before:.3f} -> {cal.ece_after:.3f} "
        f"on {cal.n_images} images\n"
        f"{cal.positive_class} threshold {cal.threshold:.4f}: sensitivity {cal.sensitivity:.3f} "
        f"(95% CI {low:.3f}-{high:.3f} on {cal.n_positive} {cal.positive_class} images; "
        f"target {cal.target_sensitivity}), specificity {cal.specificity:.3f}, AUC {cal.auc:.3f}\n"
        f"refer below {cal.refer_below}: {100 * (cal.refer_rate or 0):.1f}% of these images"
    )
    for warning in cal.warnings:
        print(f"xraycls calibrate: warning: {warning}", file=sys.stderr)
    print("not stored (--dry-run)" if args.dry_run else f"stored in {args.model}")
    return 0
