"""``xraycls reproduce``: the paper's protocol end to end, on a profile."""

from __future__ import annotations

import argparse
from typing import Any

from xraycls.cli._common import add_on_error
from xraycls.cli._datasets import (
    add_data_arguments,
    add_group_training_arguments,
    data_specs,
    group_training_overrides,
    out_dir_outside_data,
)
from xraycls.cli._parents import same_named


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` command."""
    parser = subparsers.add_parser(
        "reproduce",
        help="run the paper's protocol end to end and write a Table-2-style table",
        description="Load, split (patient- and duplicate-safe), oversample COVID x5 with the "
        "paper's augmentation, train each backbone, evaluate it and write results.md and "
        "results.json to --out. Profiles: 'paper' (the published protocol; needs a GPU and "
        "ImageNet weights), 'quick' (a CPU-sized reduction that runs in minutes), 'robust' "
        "(quick trained on the robustness suite's shifts; docs/audit.md) and 'multisource' "
        "(robust on several datasets, sources balanced within each class, best epoch by the worst "
        "validation group; docs/multisource.md).",
    )
    add_data_arguments(parser, required=False)
    parser.add_argument(
        "--profile",
        default="quick",
        metavar="NAME|FILE",
        help="paper, quick (default), robust (quick with the shortcut mitigations), "
        "multisource (several datasets, worst-group selection) or a profile JSON file",
    )
    parser.add_argument(
        "--models",
        default=None,
        metavar="all|A,B",
        help="comma-separated zoo names; 'all' = the paper's six (default: the profile's)",
    )
    parser.add_argument("--out", default="runs/reproduce", metavar="DIR", help="output folder")
    parser.add_argument("--epochs", type=int, help="override the profile's epochs")
    parser.add_argument("--image-size", type=int, help="override the profile's input size")
    parser.add_argument("--limit", type=int, metavar="N", help="use at most N images per class")
    parser.add_argument("--weights", help="none, imagenet or a weights file (overrides profile)")
    parser.add_argument("--seed", type=int, help="override the profile's seed")
    parser.add_argument("--resume", action="store_true", help="continue interrupted runs in --out")
    mit = parser.add_argument_group(
        "shortcut mitigations (stored with the model; see docs/audit.md)"
    )
    mit.add_argument(
        "--lung-crop", action="store_true", help="crop every image to its lung field + 10%%"
    )
    mit.add_argument(
        "--soft-mask",
        type=float,
        metavar="F",
        help="dim everything outside the lung field to F times its brightness",
    )
    mit.add_argument(
        "--contrast", choices=["none", "clahe", "equalize"], help="contrast normalisation"
    )
    mit.add_argument(
        "--remove-text", action="store_true", help="find and inpaint burned-in text and markers"
    )
    mit.add_argument(
        "--shift-augment",
        type=int,
        metavar="SEVERITY",
        help="add one copy of every training image shifted by the robustness suite "
        "(a random kind at severity 1..SEVERITY)",
    )
    mit.add_argument(
        "--balance-sources",
        action="store_true",
        help="oversample each class's smaller sources to the size of its largest",
    )
    add_group_training_arguments(parser)
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="also run the robustness suite on the test split (robustness.json per model)",
    )
    parser.add_argument(
        "--hold-out-source",
        action="append",
        metavar="NAME",
        help="leave-one-source-out: put every image of this source in the test split "
        "(repeatable; names as 'xraycls data inspect' lists them)",
    )
    parser.add_argument(
        "--external",
        metavar="DIR",
        help="also evaluate every model on this folder from other sources (never trained or "
        "tuned on), overall and per source",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="also run the shortcut audit on the test split (audit.json in each run folder)",
    )
    parser.add_argument(
        "--verbose", type=int, default=2, choices=[0, 1, 2], help="0, 1 bar, 2 line/epoch"
    )
    add_on_error(parser, default="skip")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.protocols import get_profile, reproduce

    profile = get_profile(args.profile)
    overrides = _overrides(args, profile)
    specs = data_specs(args)
    out_dir_outside_data(args)  # before any data is loaded or model trained
    passed = same_named(args, *_PARAMETERS)
    result = reproduce(specs or None, profile=profile, **passed, **overrides)
    if args.verbose == 0:  # otherwise reproduce() already printed the table
        print(result.to_markdown())
    print(f"written: {args.out}/results.md, {args.out}/results.json")
    return 0


#: Flags that are `reproduce` parameters of the same name.
_PARAMETERS = ("out", "resume", "verbose", "on_error", "robustness", "external", "audit")
#: Flags whose value replaces a profile field as it is: flag's dest -> Profile field.
_AS_IS = {"image_size": "image_size", "limit": "limit_per_class", "seed": "seed"}
#: Mitigation flags, each an ``InputTransform`` field of the same name.
_TRANSFORM = ("lung_crop", "soft_mask", "contrast", "remove_text")


def _overrides(args: argparse.Namespace, profile: Any) -> dict[str, Any]:
    """The `Profile` fields the flags change (``reproduce(**overrides)``)."""
    from xraycls.protocols import PAPER_MODELS

    overrides: dict[str, Any] = {
        field: getattr(args, dest)
        for dest, field in _AS_IS.items()
        if getattr(args, dest) is not None
    }
    if args.models:
        names = args.models.split(",") if args.models != "all" else list(PAPER_MODELS)
        overrides["models"] = tuple(n.strip() for n in names if n.strip())
    train = {**profile.train, **_given({"epochs": args.epochs}), **group_training_overrides(args)}
    if train != profile.train:
        overrides["train"] = train
    if args.weights is not None:
        overrides["weights"] = None if args.weights.lower() == "none" else args.weights
    if args.hold_out_source:
        overrides["hold_out_sources"] = tuple(args.hold_out_source)
    transform = {**profile.input_transform, **_given({k: getattr(args, k) for k in _TRANSFORM})}
    if transform != profile.input_transform:
        overrides["input_transform"] = transform
    if args.shift_augment is not None:
        overrides["shift_augment"] = {
            **(profile.shift_augment or {}),
            "max_severity": args.shift_augment,
        }
    if args.balance_sources:
        overrides["balance_sources"] = True
    return overrides


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The flags given: neither absent (``None``) nor an unset switch (``False``)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}
