"""Batch inference throughput: ``xraycls predict --out`` against ``model.predict`` on arrays.

Run: ``python benchmarks/predict.py [--model efficientnet_b0] [--size 128] [--n 256]
[--rounds 3] [--data ../shared/data/cxr3]``

Variants, timed in interleaved rounds (median images/s):

* ``model.predict`` on arrays decoded and letterboxed beforehand (the ceiling: no decoding);
* :func:`xraycls.batch.predict_files`: files -> CSV, decoding in threads ahead of the model;
* ``Classifier.predict`` on the files (decode, then predict, one batch after the other).

Goal: ``predict_files`` at >= 0.9x the preloaded ``model.predict`` (decoding hidden behind
the model). The model has random weights: the speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import xraycls
from xraycls.batch import predict_files

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cxr3"))
    args = parser.parse_args()

    files = sorted(str(p) for p in Path(args.data).rglob("*.png"))[: args.n]
    if len(files) < args.n:
        raise SystemExit(f"need {args.n} PNG files under {args.data}; found {len(files)}")
    model = xraycls.build_model(args.model, input_shape=(args.size, args.size, 3))
    clf = xraycls.Classifier(model, ["COVID", "Normal", "Viral Pneumonia"])
    arrays = np.stack([clf.prepare(f) for f in files])
    model.predict(arrays[: args.batch], verbose=0)  # build the predict function once
    out_dir = Path(tempfile.mkdtemp())

    def preloaded() -> None:
        model.predict(arrays, batch_size=args.batch, verbose=0)

    def batch_files() -> None:
        predict_files(
            clf,
            files,
            out_dir / "out.csv",
            batch_size=args.batch,
            workers=args.workers,
            overwrite=True,
            progress=False,
        )

    def classifier_predict() -> None:
        clf.predict(files, batch_size=args.batch)

    variants = {
        "model.predict, preloaded arrays": preloaded,
        "predict_files (files -> CSV)": batch_files,
        "Classifier.predict (files)": classifier_predict,
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    batch_files()  # warm-up (thread pool, file cache)
    for _ in range(args.rounds):
        for name, run in variants.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    ref = args.n / statistics.median(times["model.predict, preloaded arrays"])
    print(
        f"{args.model} {args.size}px, {args.n} images, batch {args.batch}, "
        f"{args.workers} decode threads, {os.cpu_count()} CPUs ({platform.processor() or '?'})"
    )
    print("| variant | img/s (median) | min-max | vs preloaded |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        rates = [args.n / t for t in ts]
        med = statistics.median(rates)
        print(f"| {name} | {med:.1f} | {min(rates):.1f}-{max(rates):.1f} | {med / ref:.2f}x |")


if __name__ == "__main__":
    main()
