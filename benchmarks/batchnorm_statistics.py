"""Validation of one checkpoint with Keras's moving BatchNorm statistics vs. re-estimated ones.

Usage: python benchmarks/batchnorm_statistics.py RUN_DIR [CHECKPOINT]

RUN_DIR is a Trainer run folder (its val.csv and train.csv are read; in-memory balanced copies
listed there are skipped); CHECKPOINT defaults to RUN_DIR/last.keras. Prints one table: the
same weights validated with their moving averages and after the trainer's RecomputeBatchNorm
(16 unaugmented training batches of the checkpoint's epoch order). docs/training.md reports it.
"""

from __future__ import annotations

import csv
import os
import sys

import numpy as np

from xraycls.data import make_py_dataset
from xraycls.imaging import input_size
from xraycls.train._callbacks import RecomputeBatchNorm
from xraycls.zoo import load_model, load_model_info


class _Files:
    def __init__(self, rows: list[tuple[str, int]]) -> None:
        self.files = [f for f, _ in rows]
        self.labels = np.array([k for _, k in rows])
        self.images = None


def main(run: str, checkpoint: str) -> None:
    info = load_model_info(checkpoint).to_dict()
    names = list(info["class_names"])
    model = load_model(checkpoint, compile=False)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])

    def rows(name: str) -> _Files:
        with open(os.path.join(run, name), encoding="utf-8") as fh:
            found = [(r["file"], names.index(r["label"])) for r in csv.DictReader(fh)]
        return _Files([(f, k) for f, k in found if os.path.exists(f)])

    size = input_size(model)
    common = {"batch_size": 32, "seed": 0, "workers": 1, "image_size": size}

    def batches(name: str, shuffle: bool) -> object:
        found = rows(name)
        return make_py_dataset(found.files, found.labels, len(names), shuffle=shuffle, **common)

    val = batches("val.csv", False)
    train = batches("train.csv", True)
    train.set_epoch(int(info.get("epoch", 1)) - 1)
    moving = model.evaluate(val, verbose=0, return_dict=True)
    recompute = RecomputeBatchNorm(lambda: train.plain(16))
    recompute.set_model(model)
    recompute.on_train_begin()
    recompute.recompute()
    precise = model.evaluate(val, verbose=0, return_dict=True)
    print(f"checkpoint: {checkpoint} (epoch {info.get('epoch')})")
    print("| BatchNorm statistics | val accuracy | val loss |")
    print("|---|---|---|")
    print(f"| moving averages | {moving['accuracy']:.3f} | {moving['loss']:.3f} |")
    print(f"| re-estimated | {precise['accuracy']:.3f} | {precise['loss']:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else os.path.join(sys.argv[1], "last.keras"))
