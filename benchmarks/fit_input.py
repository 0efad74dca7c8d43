"""Time per training step of ``model.fit`` for one model fed three ways, side by side.

The same in-memory batches of ``quick``'s model (simple_cnn, 64 px, batch 32) are given to
``model.fit`` as NumPy arrays, as an :class:`xraycls.data.ImageBatches` (Keras's own
``PyDataset`` adapter; on TensorFlow it goes through ``tf.data.Dataset.from_generator``) and
through :func:`xraycls.pipeline._tf.tf_dataset_from_batches` (what the trainer does on
TensorFlow). Variants are interleaved and repeated; the median step time is reported.

Usage: python benchmarks/fit_input.py [--repeats 3] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    args = parser.parse_args()

    import keras
    import numpy as np

    from xraycls.pipeline._pydataset import array_batches
    from xraycls.pipeline._tf import tf_dataset_from_batches
    from xraycls.zoo import build_model

    n = 32 * args.steps
    rng = np.random.default_rng(0)
    x = (rng.random((n, 64, 64, 3)) * 255).astype("float32")
    labels = rng.integers(0, 3, n)
    y = np.eye(3, dtype="float32")[labels]
    model = build_model("simple_cnn", num_classes=3, input_shape=(64, 64, 3), seed=0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.003, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )

    def batches() -> object:
        return array_batches(x, labels, 3, batch_size=32, shuffle=True, seed=0, workers=2)

    variants = {
        "NumPy arrays (Keras's array adapter)": lambda: model.fit(
            x, y, batch_size=32, epochs=1, verbose=0
        ),
        "ImageBatches via Keras's PyDataset adapter": lambda: model.fit(
            batches(), epochs=1, verbose=0
        ),
        "ImageBatches via tf_dataset_from_batches (trainer)": lambda: model.fit(
            tf_dataset_from_batches(batches()), epochs=1, verbose=0
        ),
    }
    for run in variants.values():  # trace every path once before timing
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    base = statistics.median(times[next(iter(variants))])
    print(f"# backend={keras.backend.backend()} steps={args.steps} repeats={args.repeats}")
    print("| input | ms per step (median) | min-max | vs NumPy arrays |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"| {name} | {med:.0f} | {min(values):.0f}-{max(values):.0f} | {med / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
