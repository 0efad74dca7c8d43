"""Train a tiny CNN for a few seconds, then write Grad-CAM overlays of test images.

Run from the repository root (CI runs it; it takes well under a minute on a CPU):

    python examples/explain.py                       # ../shared/data/cxr3, 40 images per class
    python examples/explain.py --data DIR --limit 20 --out cams/
    python examples/explain.py --synthetic           # no data needed: generated images

With real X-rays a model this small, trained this briefly, is not a diagnostic tool; the point
is the mechanics: ``xraycls.cam`` -> ``xraycls.overlay`` -> PNG files. When the data folder is
missing, the example falls back to generated images whose class is a bright or dark square in
a known corner, so you can check that the maps point at it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import xraycls
from xraycls.explain import load_images, write_overlays

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def real_data(folder: Path, limit: int, size: int, model: keras.Model, seed: int):
    """Up to ``limit`` images per class, letterboxed to the model size; 3 per class held out."""
    dataset = xraycls.load_dataset(folder)
    rng = np.random.default_rng(seed)
    picks = []
    for label in range(len(dataset.class_names)):
        idx = np.flatnonzero(dataset.labels == label)
        picks += list(rng.choice(idx, min(limit, len(idx)), replace=False))
    picks = rng.permutation(picks)
    files = [dataset.files[i] for i in picks]
    x, _ = load_images(files, model)
    y = dataset.labels[picks]
    n_test = 3 * len(dataset.class_names)
    return (x[n_test:], y[n_test:]), files[:n_test], list(dataset.class_names)


def synthetic_data(out: Path, size: int, seed: int):
    """Noise with a bright square top-left (class 0) or a dark one bottom-right (class 1)."""
    import cv2

    rng = np.random.default_rng(seed)
    n = 160
    y = np.arange(n) % 2
    x = rng.normal(128, 25, (n, size, size, 1)).clip(0, 255)
    q, s = size // 2, size // 4
    for i, label in enumerate(y):
        oy, ox = rng.integers(2, q - s - 1, 2)
        y0, x0 = (oy, ox) if label == 0 else (q + oy, q + ox)
        x[i, y0 : y0 + s, x0 : x0 + s] = 235 if label == 0 else 20
    x = np.repeat(x, 3, axis=-1).astype(np.float32)
    folder = out / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(8):  # held-out test images as files, like real scans
        path = folder / f"test_{i}_class{y[i]}.png"
        cv2.imwrite(str(path), x[i].astype(np.uint8))
        files.append(str(path))
    return (x[8:], y[8:]), files, ["bright top-left", "dark bottom-right"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder")
    parser.add_argument("--limit", type=int, default=40, help="images per class (real data)")
    parser.add_argument("--size", type=int, default=64, help="model input size")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--method", default="gradcam", choices=list(xraycls.explain.METHODS))
    parser.add_argument("--out", type=Path, default=Path("explain-output"))
    parser.add_argument("--synthetic", action="store_true", help="use generated images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    synthetic = args.synthetic or not args.data.is_dir()
    if synthetic and not args.synthetic:
        print(f"{args.data} not found: using generated images instead", file=sys.stderr)
    num_classes = 2 if synthetic else 3
    model = xraycls.build_model(
        "simple_cnn",
        num_classes=num_classes,
        input_shape=(args.size, args.size, 3),
        width=8,
        seed=args.seed,
    )
    if synthetic:
        (x, y), test_files, class_names = synthetic_data(args.out, args.size, args.seed)
    else:
        (x, y), test_files, class_names = real_data(
            args.data, args.limit, args.size, model, args.seed
        )
    for layer in model.layers:
        # A few seconds of training is too short for BatchNorm's default slow running averages
        # (momentum 0.99) to catch up; inference would then see stale statistics.
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.8
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Small batches: more steps, so the head's BatchNorm statistics settle in a few seconds.
    history = model.fit(x, y, batch_size=8, epochs=args.epochs, verbose=0)
    print(f"trained on {len(x)} images: accuracy {history.history['accuracy'][-1]:.2f}")
    print(f"target layer: {xraycls.find_target_layer(model)}")

    written = write_overlays(model, test_files, args.out, method=args.method)
    batch, _ = load_images(test_files, model)
    predicted = model.predict(batch, verbose=0).argmax(axis=1)
    for src, dst, k in zip(test_files, written, predicted, strict=True):
        print(f"{Path(src).name:28s} predicted {class_names[k]:18s} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
