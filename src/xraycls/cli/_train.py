"""``xraycls train``: load a folder, split it, build, train and test a model."""

from __future__ import annotations

import argparse

from xraycls.cli._common import SKIPPED_NAME, add_on_error, report_skipped
from xraycls.cli._datasets import (
    add_data_arguments,
    add_group_training_arguments,
    data_label,
    data_specs,
    group_training_overrides,
    out_dir_outside_data,
)

#: Smallest --image-size: below it a backbone's strided layers leave no pixel.
_MIN_IMAGE_SIZE = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model on a dataset folder and evaluate it",
        description="Load a dataset, split it (train/val/test, patient-grouped), build a model, "
        "train it with the paper's recipe (or --config), keep the best checkpoint and evaluate "
        "it on the test split. Everything is written to --out.",
    )
    add_data_arguments(parser, required=True)
    parser.add_argument("--model", required=True, metavar="NAME", help="backbone (xraycls models)")
    parser.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    parser.add_argument("--config", metavar="FILE", help="TrainConfig JSON; flags override it")
    parser.add_argument("--epochs", type=int, help="epochs (default: 20)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: 32)")
    parser.add_argument("--lr", type=float, help="learning rate (default: 0.003)")
    parser.add_argument("--seed", type=int, help="seed of split and training (default: 0)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=128,
        help=f"square input size in pixels, {_MIN_IMAGE_SIZE}-2048 (default: 128)",
    )
    parser.add_argument(
        "--weights", default=None, help="backbone weights: none (default), imagenet or a file"
    )
    parser.add_argument(
        "--test", type=float, default=0.2, help="test fraction of the data (default: 0.2)"
    )
    parser.add_argument(
        "--val", type=float, default=0.2, help="val fraction of the rest (default: 0.2)"
    )
    parser.add_argument(
        "--strategy", default=None, help="distribution: mirrored or multiworker (default: none)"
    )
    add_group_training_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    add_on_error(parser)
    parser.add_argument(
        "--override-config",
        action="store_true",
        help="with --resume: continue with changed settings (lr, batch size, image size...); "
        "the change is recorded in config.json",
    )
    parser.add_argument(
        "--verbose", type=int, choices=[0, 1, 2], help="0 silent, 1 progress bar, 2 one line/epoch"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xraycls.data import check_split_classes, load_sources
    from xraycls.errors import ConfigError
    from xraycls.imaging import MAX_IMAGE_SIZE
    from xraycls.train import TrainConfig, Trainer
    from xraycls.zoo import build_model, get_backbone

    # 30000 px would allocate tens of GB per batch before failing deep inside TensorFlow
    if not _MIN_IMAGE_SIZE <= args.image_size <= MAX_IMAGE_SIZE:
        raise ConfigError(
            f"--image-size {args.image_size}: must be between {_MIN_IMAGE_SIZE} and "
            f"{MAX_IMAGE_SIZE} pixels (radiograph classifiers use 224-1024)"
        )
    get_backbone(args.model)  # an unknown name fails here, before any data is read or written
    config = TrainConfig()
    if args.config:
        try:
            config = TrainConfig.from_json(Path(args.config).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--config {args.config}: {exc}") from None
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "seed": args.seed,
        "verbose": args.verbose,
        **group_training_overrides(args),
    }
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})

    specs = data_specs(args)
    out = out_dir_outside_data(args)  # before minutes of loading and training
    dataset = load_sources(specs, on_error=args.on_error)
    assert dataset.report is not None
    report_skipped(dataset.report.skipped, out / SKIPPED_NAME, "train")
    train, val, test = dataset.split(test=args.test, val=args.val, seed=config.seed)
    check_split_classes({"train": train, "val": val, "test": test}, flags="--test/--val")
    print(f"data: {len(train)} train, {len(val)} val, {len(test)} test ({data_label(args)})")
    weights = None if args.weights in (None, "none", "None") else args.weights
    size = args.image_size

    def builder():  # type: ignore[no-untyped-def]
        return build_model(
            args.model,
            num_classes=len(dataset.class_names),
            input_shape=(size, size, 3),
            weights=weights,
            seed=config.seed,
        )

    trainer = Trainer(
        builder,
        config,
        workdir=args.out,
        strategy=args.strategy,
        class_names=dataset.class_names,
        model_name=args.model,
    )
    trainer.fit(train, val, resume=args.resume, override_config=args.override_config)
    report = trainer.evaluate(test)
    print(report.to_markdown())
    print(f"run folder: {trainer.workdir}")
    return 0
