"""Small hand-built models, generated images and a fake run folder for the explain/report tests.

The models mimic the zoo's contract (raw [0, 255] input, a preprocessing layer first, the head
layer names) at a tiny size, so the tests run in seconds on a busy CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np

CLASS_NAMES = ("COVID", "NORMAL", "Viral Pneumonia")


def _conv_stack(x: Any, width: int, prefix: str = "") -> Any:
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{prefix}conv1")(x)
    x = keras.layers.MaxPooling2D(2, name=f"{prefix}pool1")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name=f"{prefix}conv2")(x)
    return keras.layers.Activation("relu", name=f"{prefix}conv2_act")(x)


def gap_dense_model(size: int = 32, width: int = 4, classes: int = 3, seed: int = 0) -> Any:
    """Conv features -> GAP -> one Dense(softmax): the head CAM is defined for."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inp)
    x = _conv_stack(x, width)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="gap_dense")


def paper_head_model(size: int = 32, width: int = 4, classes: int = 3, seed: int = 0) -> Any:
    """Conv features -> the paper's head (GAP, Dense 512 relu, BN, Dropout, Dense softmax)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inp)
    x = _conv_stack(x, width)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dense(16, activation="relu", name="head_dense")(x)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    x = keras.layers.Dropout(0.5, name="head_dropout")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="paper_head")


def nested_model(
    size: int = 32, width: int = 4, classes: int = 3, pool_inside: bool = True, seed: int = 0
) -> Any:
    """A plugin-style model: the backbone is a nested functional model with a skip connection."""
    keras.utils.set_random_seed(seed)
    b_in = keras.Input((size, size, 3), name="backbone_input")
    y = _conv_stack(b_in, width, prefix="bb_")
    z = keras.layers.Conv2D(2 * width, 3, padding="same", name="bb_conv3")(y)
    y = keras.layers.Add(name="bb_add")([y, z])
    y = keras.layers.Activation("relu", name="bb_out")(y)
    if pool_inside:
        y = keras.layers.GlobalAveragePooling2D(name="bb_gap")(y)
    backbone = keras.Model(b_in, y, name="backbone")
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inp)
    x = backbone(x)
    if not pool_inside:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="nested")


def quadrant_images(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy gray images; class 0 has a bright square top-left, class 1 a dark one bottom-right.

    The class is decided by the square alone, so a good map puts its mass in that quadrant.
    (Bright vs dark rather than only top-left vs bottom-right: after global pooling a small
    convolutional net can hardly tell positions apart, but it can tell patterns.)
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(128, 25, (n, size, size, 1)).clip(0, 255)
    q, s = size // 2, size // 4
    for i, label in enumerate(labels):
        off_y = int(rng.integers(2, q - s - 1))
        off_x = int(rng.integers(2, q - s - 1))
        y0 = off_y if label == 0 else q + off_y
        x0 = off_x if label == 0 else q + off_x
        images[i, y0 : y0 + s, x0 : x0 + s] = 235 if label == 0 else 20
    return np.repeat(images, 3, axis=-1).astype(np.float32), labels


def train_quadrant_model(size: int = 32, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    """A GAP+Dense model trained (a few seconds) to tell the two quadrants apart."""
    images, labels = quadrant_images(256, size, seed)
    model = gap_dense_model(size=size, width=8, classes=2, seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(images, labels, batch_size=32, epochs=6, verbose=0, shuffle=True)
    test_x, test_y = quadrant_images(32, size, seed + 1)
    return model, test_x, test_y


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR))
    return path


def fake_run_dir(
    root: Path,
    model: Any | None = None,
    *,
    size: int = 32,
    n_images: int = 12,
    with_evaluation: bool = True,
    with_images: bool = True,
    variant: bool = False,
    seed: int = 0,
) -> Path:
    """Write a Trainer-like workdir: config, history, best.keras, evaluation.json, images.

    ``evaluation.json`` comes from the real ``compute_metrics``; with ``variant=True`` it is a
    hand-written dict with other key names (``roc``, ``reliability``, ``ci_low``...), which the
    report must refuse (evaluation.json has one schema: ``EvaluationReport``'s). Image paths
    are relative to ``root / "data"``.
    """
    rng = np.random.default_rng(seed)
    run = root / "run"
    run.mkdir(parents=True, exist_ok=True)
    k = len(CLASS_NAMES)
    config = {
        "model": "simple_cnn",
        "class_names": list(CLASS_NAMES),
        "train": {"epochs": 5, "batch_size": 8, "learning_rate": 1e-3, "image_size": [size, size]},
    }
    (run / "config.json").write_text(json.dumps(config, indent=2))
    history = []
    for epoch in range(5):
        history.append(
            {
                "epoch": epoch,
                "loss": 1.1 / (epoch + 1),
                "accuracy": 0.5 + 0.08 * epoch,
                "val_loss": 1.2 / (epoch + 1) + 0.05,
                "val_accuracy": 0.45 + 0.08 * epoch,
                "lr": 1e-3,
            }
        )
    (run / "history.json").write_text(json.dumps(history))
    if model is None:
        model = gap_dense_model(size=size, classes=k, seed=seed)
    model.save(run / "best.keras")
    if not with_evaluation:
        return run
    preds = []
    true = np.arange(n_images) % k
    confusion = np.zeros((k, k), dtype=int)
    for i in range(n_images):
        img = rng.integers(0, 256, (size * 2, size * 2, 3)).astype(np.uint8)
        path = root / "data" / CLASS_NAMES[true[i]] / f"img{i:03d}.png"
        if with_images:
            write_png(path, img)
        p = rng.dirichlet(np.ones(k))
        pred = int(true[i]) if i % 4 else int((true[i] + 1) % k)
        p[pred] += 1.0
        p /= p.sum()
        confusion[true[i], pred] += 1
        preds.append(
            {
                "file": str(path.relative_to(root / "data")),
                "true": CLASS_NAMES[true[i]],
                "predicted": CLASS_NAMES[pred],
                "probabilities": p.round(4).tolist(),
            }
        )
    fpr = np.linspace(0, 1, 11)
    evaluation = {
        "accuracy": float(np.trace(confusion) / n_images),
        "loss": 0.61,
        "class_names": list(CLASS_NAMES),
        "confusion_matrix": confusion.tolist(),
        "per_class": {
            name: {
                "precision": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
                "recall": {"value": 0.75, "ci_low": 0.6, "ci_high": 0.85},
                "f1": {"value": 0.77, "ci_low": 0.65, "ci_high": 0.87},
                "support": int((true == c).sum()),
            }
            for c, name in enumerate(CLASS_NAMES)
        },
        "auc": {name: 0.9 - 0.05 * c for c, name in enumerate(CLASS_NAMES)},
        "ece": 0.07,
        "roc": {name: {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()} for name in CLASS_NAMES},
        "reliability": {
            "bin_confidence": [0.15, 0.35, 0.55, 0.75, 0.95],
            "bin_accuracy": [0.1, 0.3, 0.5, 0.8, 0.9],
            "bin_count": [1, 2, 3, 3, 3],
        },
        "predictions": preds,
    }
    if not variant:
        from xraycls.evaluation import compute_metrics

        probs = np.array([[p["probabilities"][c] for c in range(k)] for p in preds])
        # Keep the intended arg-max per image (the dirichlet draw was shifted towards it).
        evaluation = compute_metrics(
            true, probs, list(CLASS_NAMES), files=[p["file"] for p in preds], n_bootstrap=50
        ).to_dict()
    (run / "evaluation.json").write_text(json.dumps(evaluation, indent=2))
    return run
