"""Trainer: run-folder files, best restore, resume, determinism, NaN, distribution, config."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers_train import CLASSES, arrays, make_image_folder, same_weights, tiny_model
from xraycls.errors import ConfigError, TrainingError
from xraycls.train import TrainConfig, Trainer, learning_rate_at

FAST = {"batch_size": 8, "verbose": 0}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("imgs"), per_class=8)


@pytest.fixture(scope="module")
def splits(image_dir: Path):  # type: ignore[no-untyped-def]
    from xraycls.data import load_dataset

    return load_dataset(image_dir).split(test=0.25, val=0.25, seed=0)


# ---------------------------------------------------------------- one epoch on a Dataset


def test_one_epoch_writes_the_run_folder(splits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.zoo import load_model, load_model_info

    train, val, test = splits
    trainer = Trainer(tiny_model(), TrainConfig(epochs=1, **FAST), workdir=tmp_path)
    history = trainer.fit(train, val)
    assert history["epoch"] == [1]
    for name in (
        "config.json",
        "history.csv",
        "history.json",
        "best.keras",
        "last.keras",
        "state.json",
        "train.csv",
        "val.csv",
    ):
        assert (tmp_path / name).is_file(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left"

    config = json.loads((tmp_path / "config.json").read_text())
    assert (
        config["class_names"] == list(train.class_names) == ["COVID", "Normal", "Viral Pneumonia"]
    )
    assert config["model"] == "simple_cnn"
    assert TrainConfig.from_dict(config["train_config"]) == trainer.config
    assert config["image_size"] == [32, 32] and config["mixed_precision"] is False

    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert len(rows) == 1
    assert set(rows[0]) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert float(rows[0]["lr"]) == pytest.approx(0.003)
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist[0]["loss"] == pytest.approx(float(rows[0]["loss"]))

    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1
    assert state["best"] == pytest.approx(hist[0]["val_accuracy"])

    info = load_model_info(tmp_path / "best.keras").to_dict()
    assert info["class_names"] == list(train.class_names) and info["epoch"] == 1
    best = load_model(tmp_path / "best.keras")
    assert same_weights(best, trainer.model)

    report = trainer.evaluate(test)
    assert report.n == len(test)
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["n"] == len(test)
    assert [p["file"] for p in saved["predictions"]] == [str(f) for f in test.files]


def test_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    x, y = arrays(8)
    cfg = TrainConfig(epochs=1, monitor="accuracy", **FAST)
    Trainer(tiny_model(), cfg, workdir=tmp_path).fit((x, y))
    with pytest.raises(ConfigError, match="resume=True"):
        Trainer(tiny_model(), cfg, workdir=tmp_path).fit((x, y))


def test_monitor_needs_validation_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="validation data"):
        Trainer(tiny_model(), TrainConfig(epochs=1, **FAST), workdir=tmp_path).fit(arrays(8))


# ---------------------------------------------------------------- best checkpoint


class _Sabotage(keras.callbacks.Callback):
    """Makes the model wildly over-confident at the start of one epoch."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # type: ignore[no-untyped-def]
        if epoch == self.at_epoch:
            layer = self.model.get_layer("predictions")
            kernel, bias = layer.get_weights()
            layer.set_weights(
                [kernel * 0 + np.random.default_rng(0).normal(0, 50, kernel.shape), bias]
            )
            self.model.optimizer.learning_rate.assign(0.0)


def test_best_checkpoint_is_restored(tmp_path: Path) -> None:
    from xraycls.zoo import load_model

    x, y = arrays(24)
    cfg = TrainConfig(epochs=3, monitor="val_loss", **FAST)
    trainer = Trainer(tiny_model(), cfg, workdir=tmp_path)
    history = trainer.fit((x, y), (x, y), callbacks=[_Sabotage(at_epoch=2)])
    state = json.loads((tmp_path / "state.json").read_text())
    assert history["val_loss"][2] > min(history["val_loss"][:2])
    assert state["best_epoch"] == 1 + int(np.argmin(history["val_loss"]))
    assert state["best_epoch"] < 3
    assert same_weights(trainer.model, load_model(tmp_path / "best.keras"))
    assert not same_weights(trainer.model, load_model(tmp_path / "last.keras"))


def test_early_stopping(tmp_path: Path) -> None:
    x, y = arrays(16)
    cfg = TrainConfig(
        epochs=6,
        learning_rate=1e-30,
        early_stopping_patience=1,
        monitor="val_loss",
        shuffle=False,
        **FAST,
    )
    inp = keras.Input((32, 32, 3))
    out = keras.layers.Dense(3, activation="softmax", name="predictions")(
        keras.layers.GlobalAveragePooling2D()(inp)
    )
    history = Trainer(keras.Model(inp, out), cfg, workdir=tmp_path).fit((x, y), (x, y))
    # A negligible learning rate cannot improve val_loss: stop after patience + 1 epochs.
    assert history["epoch"] == [1, 2]


# ---------------------------------------------------------------- determinism and resume


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # type: ignore[no-untyped-def]
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def _paper_aug() -> dict:  # type: ignore[type-arg]
    from xraycls.augment import Augmenter

    return Augmenter.paper(seed=0).to_dict()


@pytest.mark.slow
def test_same_seed_same_weights(splits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train, val, _ = splits
    cfg = TrainConfig(epochs=2, augmentation=_paper_aug(), class_weights="balanced", **FAST)
    a = Trainer(tiny_model(), cfg, workdir=tmp_path / "a")
    b = Trainer(tiny_model(), cfg, workdir=tmp_path / "b")
    ha, hb = a.fit(train, val), b.fit(train, val)
    assert ha["loss"] == hb["loss"]
    assert same_weights(a.model, b.model)
    c = Trainer(tiny_model(), cfg.replace(seed=1), workdir=tmp_path / "c")
    c.fit(train, val)
    assert not same_weights(a.model, c.model)


def test_resume_after_interruption_matches_uninterrupted(splits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train, val, _ = splits
    # Shuffling, on-the-fly augmentation and dropout are all active: resumption must restore
    # the data order / augmentation of later epochs and the dropout RNG state exactly.
    cfg = TrainConfig(epochs=3, augmentation=_paper_aug(), **FAST)
    full = Trainer(tiny_model(), cfg, workdir=tmp_path / "full")
    full_history = full.fit(train, val)

    broken = Trainer(tiny_model(), cfg, workdir=tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        broken.fit(train, val, callbacks=[_Interrupt(at_epoch=1)])
    state = json.loads((tmp_path / "cut" / "state.json").read_text())
    assert state["epoch"] == 1

    # A fresh process would build the model again, with any initial weights.
    resumed = Trainer(tiny_model(seed=99), cfg, workdir=tmp_path / "cut")
    history = resumed.fit(train, val, resume=True)
    assert history["epoch"] == [1, 2, 3]
    assert len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 3
    with (tmp_path / "cut" / "history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3
    assert history["loss"] == full_history["loss"]
    assert history["val_accuracy"] == full_history["val_accuracy"]
    assert same_weights(resumed.model, full.model)


def test_resume_of_a_finished_run_does_not_train(tmp_path: Path) -> None:
    x, y = arrays(8)
    cfg = TrainConfig(epochs=1, monitor="accuracy", **FAST)
    first = Trainer(tiny_model(), cfg, workdir=tmp_path)
    first.fit((x, y))
    again = Trainer(tiny_model(seed=5), cfg, workdir=tmp_path)
    history = again.fit((x, y), resume=True)
    assert history["epoch"] == [1]
    assert same_weights(first.model, again.model)


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = arrays(8)
    cfg = TrainConfig(epochs=2, monitor="accuracy", **FAST)
    trainer = Trainer(tiny_model(), cfg, workdir=tmp_path)
    trainer.fit((x, y))
    before = (tmp_path / "last.keras").read_bytes()

    def killed_mid_write(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"PK half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", killed_mid_write)
    more = Trainer(tiny_model(), cfg.replace(epochs=3), workdir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        more.fit((x, y), resume=True)
    monkeypatch.undo()
    # The kill hit the temporary file: the checkpoint and the resume point are intact.
    assert (tmp_path / "last.keras").read_bytes() == before
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 2
    from xraycls.zoo import load_model, load_model_info

    assert load_model_info(tmp_path / "last.keras").to_dict()["epoch"] == 2
    assert len(load_model(tmp_path / "last.keras").weights) == len(trainer.model.weights)


def test_kill_between_checkpoint_and_side_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xraycls.train._workdir import RunDir

    x, y = arrays(8)
    cfg = TrainConfig(epochs=3, monitor="accuracy", shuffle=False, **FAST)
    full = Trainer(tiny_model(), cfg, workdir=tmp_path / "full")
    full.fit((x, y))

    real = RunDir.write_history
    calls = []

    def dies_on_second_epoch(self, rows):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        if len(rows) == 2:
            raise KeyboardInterrupt  # after last.keras of epoch 2, before history/state
        real(self, rows)

    monkeypatch.setattr(RunDir, "write_history", dies_on_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_model(), cfg, workdir=tmp_path / "cut").fit((x, y))
    monkeypatch.undo()
    assert json.loads((tmp_path / "cut" / "state.json").read_text())["epoch"] == 1
    # last.keras (the commit point) already holds epoch 2: resume continues at epoch 3.
    history = Trainer(tiny_model(), cfg, workdir=tmp_path / "cut").fit((x, y), resume=True)
    assert history["epoch"] == [1, 2, 3]
    assert len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 3
    assert same_weights(
        load_model_file(tmp_path / "cut" / "last.keras"),
        load_model_file(tmp_path / "full" / "last.keras"),
    )


def load_model_file(path: Path):  # type: ignore[no-untyped-def]
    from xraycls.zoo import load_model

    return load_model(path)


# ---------------------------------------------------------------- NaN


def test_nan_loss_raises_training_error(tmp_path: Path) -> None:
    x, y = arrays(16)
    # The model clips its input, so NaN pixels would not do: an absurd learning rate does.
    cfg = TrainConfig(epochs=3, learning_rate=1e12, monitor="accuracy", shuffle=False, **FAST)
    with pytest.raises(TrainingError, match=r"epoch 2, batch 1\b.*[Ll]ower the learning rate"):
        Trainer(tiny_model(), cfg, workdir=tmp_path).fit((x, y))
    # The diverged epoch is not saved; state.json still points at the last finite epoch.
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1
    assert len(json.loads((tmp_path / "history.json").read_text())) == 1


# ---------------------------------------------------------------- tf.data input, schedules


def test_tf_data_input_and_schedule(tmp_path: Path) -> None:
    import tensorflow as tf

    x, y = arrays(16)
    onehot = np.eye(3, dtype="float32")[y]
    ds = tf.data.Dataset.from_tensor_slices((x, onehot)).batch(8)
    cfg = TrainConfig(
        epochs=2,
        lr_schedule="step",
        lr_schedule_kwargs={"step_size": 1, "gamma": 0.5},
        class_weights="balanced",
        **FAST,
    )
    trainer = Trainer(tiny_model(), cfg, workdir=tmp_path, class_names=list(CLASSES))
    history = trainer.fit(ds, ds)
    assert history["lr"] == [pytest.approx(0.003), pytest.approx(0.0015)]
    report = trainer.evaluate(ds)
    assert report.n == 16 and report.predictions[0].file is None


def test_learning_rate_schedules() -> None:
    cos = TrainConfig(epochs=5, learning_rate=1.0, lr_schedule="cosine")
    assert [round(learning_rate_at(cos, e), 6) for e in range(5)] == [
        1.0,
        0.853553,
        0.5,
        0.146447,
        0.0,
    ]
    exp = TrainConfig(
        learning_rate=1.0, lr_schedule="exponential", lr_schedule_kwargs={"gamma": 0.5}
    )
    assert learning_rate_at(exp, 3) == 0.125
    warm = TrainConfig(learning_rate=1.0, lr_schedule_kwargs={"warmup_epochs": 1})
    assert [learning_rate_at(warm, e) for e in range(3)] == [0.5, 1.0, 1.0]


# ---------------------------------------------------------------- mixed precision


def test_mixed_precision_on_keeps_float32_output(tmp_path: Path) -> None:
    x, y = arrays(8)
    cfg = TrainConfig(epochs=1, mixed_precision="on", monitor="accuracy", **FAST)
    trainer = Trainer(tiny_model(), cfg, workdir=tmp_path)
    trainer.fit((x, y))
    assert trainer.model.get_layer("head_dense").dtype_policy.name == "mixed_float16"
    assert trainer.model.get_layer("predictions").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert json.loads((tmp_path / "config.json").read_text())["mixed_precision"] is True
    assert np.isfinite(trainer.model.predict_on_batch(x)).all()
    assert isinstance(trainer.model.optimizer, keras.optimizers.LossScaleOptimizer)
    # A builder is called under the policy instead of cloning a finished model.
    built = Trainer(tiny_model, cfg, workdir=tmp_path / "builder")
    built.fit((x, y))
    assert built.model.get_layer("block1_conv").dtype_policy.name == "mixed_float16"
    assert keras.config.dtype_policy().name == "float32"


# ---------------------------------------------------------------- distribution


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    sys.path.insert(0, sys.argv[2])
    from _helpers_train import arrays, tiny_model
    from xraycls.train import Trainer, TrainConfig

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = arrays(16)
    cfg = TrainConfig(epochs=2, batch_size=8, verbose=0)
    # The model is built outside the scope on purpose: the trainer clones it inside.
    trainer = Trainer(tiny_model(), cfg, workdir=sys.argv[1], strategy=strategy)
    history = trainer.fit((x, y), (x, y))
    var = trainer.model.get_layer("predictions").kernel
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "mirrored": type(var.value if hasattr(var, "value") else var).__name__,
        "loss": history["loss"],
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path: Path) -> None:
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["mirrored"] == "MirroredVariable"  # the clone's variables live on both devices
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"]))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["strategy"] == "MirroredStrategy" and config["replicas"] == 2
    assert (tmp_path / "run" / "best.keras").is_file()


# ---------------------------------------------------------------- TrainConfig


def test_config_defaults_are_the_papers() -> None:
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.learning_rate, cfg.optimizer_arguments) == (
        "sgd",
        0.003,
        {"momentum": 0.9},
    )
    assert TrainConfig(optimizer="adam").optimizer_arguments == {}
    assert (cfg.batch_size, cfg.epochs, cfg.monitor, cfg.mode) == (32, 20, "val_accuracy", "max")
    assert TrainConfig(monitor="val_loss").mode == "min"


def test_config_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="TrainConfig: unknown keys 'epoch', 'lr'"):
        TrainConfig.from_dict({"epochs": 3, "lr": 0.1, "epoch": 2})


@pytest.mark.parametrize(
    "changes",
    [
        {"epochs": 0},
        {"batch_size": 2.5},
        {"learning_rate": -1.0},
        {"lr_schedule": "linear"},
        {"mixed_precision": True},
        {"class_weights": "inverse"},
        {"label_smoothing": 1.0},
        {"early_stopping_patience": 0},
        {"class_weights": {0: -1.0}},
    ],
)
def test_config_rejects_bad_values(changes: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=next(iter(changes))):
        TrainConfig(**changes)


def test_config_bad_optimizer_is_a_config_error(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, optimizer="sgdd", monitor="accuracy", **FAST)
    with pytest.raises(ConfigError, match="sgdd"):
        Trainer(tiny_model(), cfg, workdir=tmp_path).fit(arrays(8))


_configs = st.builds(
    TrainConfig,
    epochs=st.integers(1, 500),
    batch_size=st.integers(1, 1024),
    optimizer=st.sampled_from(["sgd", "adam", "adamw", "rmsprop"]),
    learning_rate=st.floats(1e-8, 10, allow_nan=False),
    optimizer_kwargs=st.none()
    | st.dictionaries(st.sampled_from(["momentum", "clipnorm"]), st.floats(0, 1)),
    lr_schedule=st.sampled_from(["constant", "cosine", "step", "exponential"]),
    early_stopping_patience=st.none() | st.integers(1, 50),
    label_smoothing=st.floats(0, 0.99),
    class_weights=st.none()
    | st.just("balanced")
    | st.dictionaries(st.integers(0, 5), st.floats(0, 100), max_size=4),
    augmentation=st.none()
    | st.fixed_dictionaries({"kind": st.just("paper"), "seed": st.integers(0, 9)}),
    mixed_precision=st.sampled_from(["auto", "on", "off"]),
    seed=st.integers(-(2**31), 2**31),
    deterministic=st.booleans(),
    shuffle=st.booleans(),
    monitor=st.sampled_from(["val_accuracy", "val_loss", "accuracy"]),
    verbose=st.sampled_from([0, 1, 2]),
)


@settings(max_examples=60, deadline=None)
@given(_configs)
def test_config_json_round_trip(cfg: TrainConfig) -> None:
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
