"""Batched Grad-CAM vs one forward+backward pass vs a per-image loop (the tutorial way).

Run: ``python benchmarks/cam.py [--model xception] [--batch 32] [--size 128] [--repeats 3]``

Prints the median time of each variant (interleaved rounds, so load changes hit all of them)
and the ratios. Goal: batched Grad-CAM at most 1.5x one forward+backward pass of the batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

import xraycls


def _forward_backward(model: keras.Model, x: tf.Tensor) -> Callable[[], object]:
    """One forward pass and one backward pass to the input: the cost floor for any gradient."""

    def run() -> object:
        with tf.GradientTape() as tape:
            tape.watch(x)
            probs = model(x, training=False)
            score = tf.reduce_sum(tf.reduce_max(probs, axis=-1))
        return tape.gradient(score, x).numpy()

    return run


def _forward(model: keras.Model, x: tf.Tensor) -> Callable[[], object]:
    return lambda: model(x, training=False).numpy()


def _tutorial_loop(model: keras.Model, x: np.ndarray, layer: str) -> Callable[[], object]:
    """Keras's Grad-CAM tutorial: a two-output model and one GradientTape per image."""
    grad_model = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.output])

    def run() -> object:
        maps = []
        for img in x:
            with tf.GradientTape() as tape:
                conv, preds = grad_model(img[None], training=False)
                top = tf.argmax(preds[0])
                channel = preds[:, top]
            grads = tape.gradient(channel, conv)
            pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
            heat = tf.squeeze(conv[0] @ pooled[..., None])
            heat = tf.maximum(heat, 0) / (tf.reduce_max(heat) + 1e-12)
            maps.append(tf.image.resize(heat[..., None], x.shape[1:3])[..., 0].numpy())
        return np.stack(maps)

    return run


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="xception")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-image loop")
    args = parser.parse_args()

    model = xraycls.build_model(args.model, input_shape=(args.size, args.size, 3), seed=0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch, args.size, args.size, 3)).astype(np.float32)
    x = tf.constant(images)
    layer = xraycls.find_target_layer(model)
    variants: dict[str, Callable[[], object]] = {
        "forward only": _forward(model, x),
        "forward+backward (to input)": _forward_backward(model, x),
        "xraycls.cam gradcam (batched)": lambda: xraycls.cam(model, images, method="gradcam"),
        "xraycls.cam gradcam++ (batched)": lambda: xraycls.cam(model, images, method="gradcam++"),
    }
    if not args.no_loop and "/" not in layer:
        variants["per-image loop (tutorial)"] = _tutorial_loop(model, images, layer)
    for fn in variants.values():  # warm-up: graph building, caches, first-call allocations
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    med = {name: statistics.median(t) for name, t in times.items()}
    ref = med["forward+backward (to input)"]
    batched = med["xraycls.cam gradcam (batched)"]
    print(
        f"model={args.model} target={layer} batch={args.batch} size={args.size} "
        f"repeats={args.repeats} "
        f"cpu={_cpu_model()!r} "
        f"nproc={os.cpu_count()} keras={keras.__version__} tf={tf.__version__}"
    )
    print()
    print("| variant | median s | runs (s) | vs fwd+bwd | vs batched Grad-CAM |")
    print("|---|---:|---|---:|---:|")
    for name, m in med.items():
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"| {name} | {m:.3f} | {runs} | {m / ref:.2f}x | {m / batched:.2f}x |")


if __name__ == "__main__":
    main()
