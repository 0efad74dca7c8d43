"""Train a small CNN on your own chest X-ray folder, evaluate it, print the clinical metrics.

Run from the repository root (CI runs it with the defaults; about a minute on a CPU):

    python examples/train_your_own.py                        # ../shared/data/cxr3, 30 per class
    python examples/train_your_own.py --data DIR --epochs 10 --image-size 128 --limit 0

The folder can be any layout ``xraycls.load_dataset`` recognises (Kaggle COVID-19 Radiography
Database, one folder per class, or a CSV manifest). The run folder (``--out``) receives the
checkpoints, the history and ``evaluation.json``; re-running with ``--resume`` continues an
interrupted run. With the tiny defaults the numbers mean nothing clinically; the point is the
mechanics: load -> split -> build -> train -> evaluate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import xraycls

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def limit_per_class(dataset: xraycls.Dataset, limit: int, seed: int) -> xraycls.Dataset:
    """At most ``limit`` images of each class (a seeded random choice); 0 keeps everything."""
    if limit <= 0:
        return dataset
    rng = np.random.default_rng(seed)
    keep = [
        i
        for k in range(len(dataset.class_names))
        for i in sorted(rng.permutation(np.flatnonzero(dataset.labels == k))[:limit])
    ]
    return dataset.subset(sorted(keep))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder or CSV")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=30, help="images per class (0: all)")
    parser.add_argument("--model", default="simple_cnn", help="backbone (xraycls models)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not args.data.exists():
        print(f"data folder not found: {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    dataset = limit_per_class(xraycls.load_dataset(args.data), args.limit, args.seed)
    train, val, test = dataset.split(test=0.2, val=0.2, seed=args.seed)
    print(
        f"{len(train)} train / {len(val)} val / {len(test)} test images, classes "
        f"{list(dataset.class_names)}"
    )

    size = args.image_size
    model_kwargs = {"width": 8} if args.model == "simple_cnn" else {}
    model = xraycls.build_model(
        args.model,
        num_classes=len(dataset.class_names),
        input_shape=(size, size, 3),
        seed=args.seed,
        **model_kwargs,
    )
    config = xraycls.TrainConfig(
        epochs=args.epochs,
        batch_size=16,
        seed=args.seed,
        class_weights="balanced",  # the COVID class is the smallest
        verbose=2,
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="xraycls-example-"))
    trainer = xraycls.Trainer(model, config, workdir=out, model_name=args.model)
    trainer.fit(train, val, resume=args.resume)
    report = trainer.evaluate(test)
    print()
    print(report.to_markdown())
    print(f"run folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
