"""Training that cannot lean on one source: balanced sampling, worst-group selection, DRO."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from _helpers_train import tiny_model
from xraycls.data import Dataset
from xraycls.data._sampling import group_index, group_weights
from xraycls.errors import ConfigError
from xraycls.train import TrainConfig, Trainer
from xraycls.train._groups import GroupValidation, group_metrics

NAMES = ("COVID", "Normal", "Viral Pneumonia")


def _dataset(root: Path, n: int = 36, size: int = 24) -> Dataset:
    """Three classes from three sources; the class is a bright band, learnable in an epoch."""
    rng = np.random.default_rng(5)
    files, labels, sources = [], [], []
    for i in range(n):
        k = i % 3
        img = rng.integers(0, 60, (size, size), dtype=np.uint8)
        img[k * size // 3 : (k + 1) * size // 3] = 200
        path = root / f"{i}.png"
        assert cv2.imwrite(os.fspath(path), img)
        files.append(str(path))
        labels.append(k)
        sources.append(["h1", "h2", "h3"][(i // 3) % 3])
    return Dataset(tuple(files), np.array(labels), NAMES, meta={"source": sources})


def test_group_weights_balance_classes_then_sources() -> None:
    labels = np.array([0] * 90 + [0] * 10 + [1] * 20)
    sources = ["big"] * 90 + ["small"] * 10 + ["x"] * 20
    w = group_weights(labels, sources)
    keys, index = group_index(labels, sources)
    share = {k: float(w[index == g].sum()) for g, k in enumerate(keys)}
    assert share == pytest.approx({(0, "big"): 0.25, (0, "small"): 0.25, (1, "x"): 0.5})


def test_balanced_sampling_draws_groups_equally(tmp_path: Path) -> None:
    from xraycls.data import make_py_dataset

    labels = np.array([0] * 90 + [0] * 10 + [1] * 20)
    sources = ["big"] * 90 + ["small"] * 10 + ["x"] * 20
    files = [str(tmp_path / f"{i}.png") for i in range(len(labels))]
    images = [np.zeros((4, 4, 3), np.uint8)] * len(labels)
    batches = make_py_dataset(
        files,
        labels,
        2,
        batch_size=8,
        image_size=4,
        shuffle=True,
        seed=3,
        images=images,
        sample_weights=group_weights(labels, sources),
    )
    drawn = np.concatenate([batches._order_of(e) for e in range(40)])
    small = np.isin(drawn, np.arange(90, 100)).mean()
    # 10 of 120 images (8%) but a quarter of the draws: the weights, not the sizes, decide.
    assert 0.2 < small < 0.3
    assert np.array_equal(batches._order_of(7), batches._order_of(7))  # seeded per epoch


def test_group_metrics_names_the_worst_group() -> None:
    probs = np.eye(3)[[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 2]]
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2]
    sources = ["a"] * 4 + ["b"] * 6 + ["c"] * 2
    m = group_metrics(probs, labels, sources, NAMES, min_size=1)
    assert m["worst_group"] == "Viral Pneumonia | c"
    assert m["val_worst_group_accuracy"] == 0.5
    assert m["val_balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    # Groups under min_size do not decide, unless no group is large enough.
    assert group_metrics(probs, labels, sources, NAMES, min_size=4)["worst_group"] in (
        "COVID | a",
        "Normal | b",
    )


def test_worst_group_selection_picks_what_pooled_accuracy_would_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = _dataset(tmp_path)
    labels = np.asarray(ds.labels)
    small = np.array([s == "h3" and k == 2 for s, k in zip(ds.sources, labels, strict=True)])
    right = np.eye(3)[labels]
    wrong = np.eye(3)[(labels + 1) % 3]
    # Epoch 1: half the small group wrong and one image wrong in three other groups; epoch 2:
    # more right overall, but the small group all wrong (a pooled metric prefers it); epoch 3:
    # worse everywhere.
    e1 = right.copy()
    e1[np.flatnonzero(small)[:2]] = wrong[np.flatnonzero(small)[:2]]
    for i in (0, 4, 12):  # three images of three other (class, source) groups
        e1[i] = wrong[i]
    e2 = right.copy()
    e2[small] = wrong[small]
    e3 = wrong.copy()
    pooled = [float((p.argmax(1) == labels).mean()) for p in (e1, e2, e3)]
    scripted = iter([e1, e2, e3])
    original = GroupValidation.__init__

    def scripted_init(self, predict, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, lambda: next(scripted), *args, **kwargs)

    monkeypatch.setattr(GroupValidation, "__init__", scripted_init)
    monkeypatch.setattr("xraycls.train._groups.MIN_GROUP_SIZE", 1)
    cfg = TrainConfig(epochs=3, batch_size=12, verbose=0, monitor="val_worst_group_accuracy")
    trainer = Trainer(tiny_model(24), cfg, workdir=tmp_path / "run")
    trainer.fit(ds, ds)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert pooled[1] > pooled[0]  # the case is built so that pooled accuracy would pick 2
    assert state["best_epoch"] == 1
    groups = json.loads((tmp_path / "run" / "val_groups.json").read_text())
    assert [g["epoch"] for g in groups] == [1, 2, 3]
    assert groups[1]["worst_group"] == "Viral Pneumonia | h3"
    assert groups[1]["val_worst_group_accuracy"] == 0.0


def test_multisource_fit_records_groups_and_what_the_model_was_trained_on(tmp_path: Path) -> None:
    from xraycls.zoo import load_model_info

    ds = _dataset(tmp_path)
    cfg = TrainConfig(
        epochs=2,
        batch_size=12,
        verbose=0,
        sampling="balanced",
        group_dro=1.0,
        monitor="val_worst_group_accuracy",
    )
    trainer = Trainer(
        tiny_model(24), cfg, workdir=tmp_path / "run", data_info={"notes": ["a note"]}
    )
    history = trainer.fit(ds, ds)
    for key in ("val_worst_group_accuracy", "val_worst_source_accuracy", "val_balanced_accuracy"):
        assert len(history[key]) == 2 and all(0 <= v <= 1 for v in history[key])
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    shares = state["group_shares"]
    assert len(shares) == 9 and sum(shares) == pytest.approx(1.0)
    info = load_model_info(tmp_path / "run" / "best.keras").to_dict()["training_data"]
    assert set(info["sources"]) == {"h1", "h2", "h3"}
    assert info["n_images"] == len(ds) and info["notes"] == ["a note"]


def test_group_dro_raises_the_share_of_the_group_with_the_highest_loss(tmp_path: Path) -> None:
    from xraycls.data import make_py_dataset
    from xraycls.train._groups import GroupDRO

    labels = np.array([0, 1] * 20)
    sources = ["easy"] * 20 + ["hard"] * 20
    images = [np.zeros((4, 4, 3), np.uint8)] * 40
    batches = make_py_dataset(
        [str(tmp_path / f"{i}") for i in range(40)],
        labels,
        2,
        batch_size=8,
        image_size=4,
        shuffle=True,
        images=images,
    )
    keys, _ = group_index(labels, sources)

    def probe(rows: np.ndarray) -> np.ndarray:
        # Confident and right on "easy", unsure on "hard".
        sure = [np.eye(2)[labels[r]] * 0.98 + 0.01 for r in rows]
        return np.array([p if r < 20 else [0.5, 0.5] for p, r in zip(sure, rows, strict=True)])

    state: dict = {}
    dro = GroupDRO(
        batches,
        labels,
        sources,
        step_size=1.0,
        shares=np.full(4, 0.25),
        state=state,
        probe=probe,
        seed=0,
    )
    dro.on_epoch_end(0, {})
    hard = [g for g, k in enumerate(keys) if k[1] == "hard"]
    assert all(dro.shares[g] > 0.25 for g in hard)
    assert state["group_shares"] == dro.shares.tolist()
    assert batches.sample_weights is not None


def test_sampling_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="sampling"):
        TrainConfig(sampling="stratified")
    with pytest.raises(ConfigError, match="group_dro"):
        TrainConfig(group_dro=-1.0)
    cfg = TrainConfig(sampling="balanced", group_dro=0.5, monitor="val_worst_group_accuracy")
    assert TrainConfig.from_json(cfg.to_json()) == cfg


def test_balanced_sampling_needs_a_dataset() -> None:
    x = np.zeros((6, 24, 24, 3), "float32")
    y = np.array([0, 1, 2] * 2)
    trainer = Trainer(tiny_model(24), TrainConfig(epochs=1, verbose=0, sampling="balanced"))
    with pytest.raises(ConfigError, match="source"):
        trainer.fit((x, y), (x, y))


class _ValidationPasses(keras.callbacks.Callback):
    """Counts Keras's own validation passes (``on_test_begin``)."""

    passes = 0

    def on_test_begin(self, logs=None):  # type: ignore[no-untyped-def]
        self.passes += 1


def test_group_validation_predicts_the_validation_set_once_per_epoch(tmp_path: Path) -> None:
    # Per-group metrics need the predictions; Keras's own validation pass would predict every
    # validation image a second time. With groups on, val_loss / val_accuracy come from the
    # group callback's predictions and equal what model.evaluate gives.
    ds = _dataset(tmp_path)
    cfg = TrainConfig(epochs=1, batch_size=12, verbose=0, monitor="val_worst_group_accuracy")
    trainer = Trainer(tiny_model(24), cfg, workdir=tmp_path / "run")
    passes = _ValidationPasses()
    history = trainer.fit(ds, ds, callbacks=[passes])
    assert passes.passes == 0
    assert set(history) >= {"val_loss", "val_accuracy", "val_worst_group_accuracy"}
    loss, accuracy = trainer.model.evaluate(
        trainer._input(ds, trainer.model, training=False), verbose=0
    )[:2]
    assert history["val_loss"][0] == pytest.approx(loss, rel=1e-4, abs=1e-5)
    assert history["val_accuracy"][0] == pytest.approx(accuracy, abs=1e-6)


def test_single_source_validation_keeps_keras_validation(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    one = Dataset(ds.files, ds.labels, NAMES, meta={"source": ["h1"] * len(ds)})
    trainer = Trainer(
        tiny_model(24), TrainConfig(epochs=1, batch_size=12, verbose=0), workdir=tmp_path / "r"
    )
    passes = _ValidationPasses()
    history = trainer.fit(one, one, callbacks=[passes])
    assert passes.passes == 1 and "val_loss" in history
