"""Trainer reliability (issue #13, trainer side): the workdir lock, resume with changed
settings, temp files left by a kill -9 during a save, early checks, a damaged best.keras."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from _helpers_train import arrays, make_image_folder, same_weights, tiny_model
from xraycls.errors import ConfigError, TrainingError
from xraycls.train import TrainConfig, Trainer
from xraycls.train._workdir import LOCK_NAME

FAST = {"batch_size": 8, "verbose": 0}
SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)


# ---------------------------------------------------------------- one training per folder


_HOLDER = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                         "started": "2026-01-01 10:00:00"}).encode())
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the holder script uses fcntl")
def test_a_live_lock_holder_is_refused_and_named(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        cfg = TrainConfig(epochs=1, monitor="accuracy", **FAST)
        with pytest.raises(TrainingError, match=rf"PID {holder.pid}.*2026-01-01 10:00:00"):
            Trainer(tiny_model(), cfg, workdir=tmp_path).fit(arrays(8))
        assert not (tmp_path / "state.json").exists() and not (tmp_path / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone (killed: the OS dropped its lock; its file is still there): the next
    # run takes the lock without asking anyone.
    assert (tmp_path / LOCK_NAME).exists()
    history = Trainer(tiny_model(), cfg, workdir=tmp_path).fit(arrays(8))
    assert history["epoch"] == [1]
    assert not (tmp_path / LOCK_NAME).exists(), "the lock is released at the end"


def test_two_concurrent_trainings_cannot_share_a_folder(tmp_path: Path) -> None:
    # A second Trainer started while the first one trains (from a callback, so it is really
    # side by side) is refused; the first one finishes normally.
    seen: list[BaseException] = []

    class Intruder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            try:
                Trainer(tiny_model(), cfg, workdir=tmp_path).fit(arrays(8))
            except TrainingError as exc:
                seen.append(exc)

    cfg = TrainConfig(epochs=1, monitor="accuracy", **FAST)
    Trainer(tiny_model(), cfg, workdir=tmp_path).fit(arrays(8), callbacks=[Intruder()])
    assert len(seen) == 1 and f"PID {os.getpid()}" in str(seen[0])
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1


# ---------------------------------------------------------------- resume with other settings


def test_resume_with_changed_settings_is_refused_then_recorded(tmp_path: Path) -> None:
    x, y = arrays(8)
    cfg = TrainConfig(epochs=1, monitor="accuracy", **FAST)
    Trainer(tiny_model(), cfg, workdir=tmp_path).fit((x, y))
    changed = cfg.replace(epochs=2, learning_rate=0.5, batch_size=4)
    with pytest.raises(ConfigError, match=r"learning_rate: 0\.003 -> 0\.5.*override"):
        Trainer(tiny_model(), changed, workdir=tmp_path).fit((x, y), resume=True)
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1  # nothing trained

    # More epochs alone is an ordinary resume.
    Trainer(tiny_model(), cfg.replace(epochs=2), workdir=tmp_path).fit((x, y), resume=True)
    # A bigger model input is refused too (the CLI's --image-size).
    with pytest.raises(ConfigError, match="image_size"):
        Trainer(tiny_model(size=40), cfg.replace(epochs=3), workdir=tmp_path).fit(
            (np.zeros((8, 40, 40, 3), "float32"), y), resume=True
        )

    history = Trainer(tiny_model(), changed.replace(epochs=3), workdir=tmp_path).fit(
        (x, y), resume=True, override_config=True
    )
    assert history["epoch"] == [1, 2, 3]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train_config"]["learning_rate"] == 0.5
    change = config["changes"][-1]
    assert change["after_epoch"] == 2
    assert change["changed"]["train_config.learning_rate"] == [0.003, 0.5]
    assert change["changed"]["train_config.batch_size"] == [8, 4]


def test_cli_has_override_config(tmp_path: Path) -> None:
    from xraycls.cli import main

    data = make_image_folder(tmp_path / "data", per_class=6)
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--model", "simple_cnn", "--image-size", "32"]
    base += ["--verbose", "0", "--batch-size", "4", "--out", str(out)]
    assert main([*base, "--epochs", "1"]) == 0
    assert main([*base, "--epochs", "2", "--lr", "0.01", "--resume"]) != 0  # refused
    assert main([*base, "--epochs", "2", "--lr", "0.01", "--resume", "--override-config"]) == 0
    assert json.loads((out / "state.json").read_text())["epoch"] == 2


# ---------------------------------------------------------------- early checks


def test_misspelt_monitor_fails_at_once() -> None:
    with pytest.raises(ConfigError, match="monitor"):
        TrainConfig(monitor="val_acc")


def test_unknown_model_leaves_no_folder(tmp_path: Path) -> None:
    from xraycls.cli import main

    data = make_image_folder(tmp_path / "data", per_class=2)
    out = tmp_path / "never"
    code = main(["train", "--data", str(data), "--model", "no_such_net", "--out", str(out)])
    assert code != 0
    assert not out.exists()


def test_failed_checks_leave_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match="validation data"):
        Trainer(tiny_model(), TrainConfig(epochs=1, **FAST), workdir=out).fit(arrays(8))
    assert not out.exists()


# ---------------------------------------------------------------- kill -9 during a save

_CHILD = """
import os, sys, time
from pathlib import Path
sys.path[:0] = [{src!r}, {tests!r}]
import keras
from _helpers_train import arrays, tiny_model
from xraycls.train import TrainConfig, Trainer

real_save = keras.Model.save
def slow_save(self, path, *args, **kwargs):
    real_save(self, path, *args, **kwargs)
    if Path({marker!r}).exists():  # second epoch: stop inside the write, temp file on disk
        Path({ready!r}).write_text("saving")
        time.sleep(120)
keras.Model.save = slow_save

class Mark(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        Path({marker!r}).write_text("epoch 1 done")

cfg = TrainConfig(epochs=3, monitor="accuracy", shuffle=False, batch_size=8, verbose=0)
Trainer(tiny_model(), cfg, workdir={workdir!r}).fit(arrays(8), callbacks=[Mark()])
"""


@pytest.mark.slow
def test_kill_9_during_a_save_leaves_temp_files_the_next_run_removes(tmp_path: Path) -> None:
    workdir, marker, ready = tmp_path / "run", tmp_path / "marker", tmp_path / "ready"
    script = _CHILD.format(
        src=SRC, tests=TESTS, marker=str(marker), ready=str(ready), workdir=str(workdir)
    )
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            assert child.poll() is None, "the child training ended early"
            assert time.monotonic() < deadline, "the child never reached its second save"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    left = [p.name for p in workdir.iterdir() if p.name.startswith(".last.")]
    assert left, "the kill should have hit the temporary file of last.keras"
    assert (workdir / LOCK_NAME).exists(), "the killed process could not release its lock"
    assert json.loads((workdir / "state.json").read_text())["epoch"] == 1

    # The next run: the lock the kill left is free (the OS dropped it), temp files removed,
    # resumes after epoch 1.
    cfg = TrainConfig(epochs=3, monitor="accuracy", shuffle=False, **FAST)
    history = Trainer(tiny_model(), cfg, workdir=workdir).fit(arrays(8), resume=True)
    assert history["epoch"] == [1, 2, 3]
    assert not [p.name for p in workdir.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- damaged best.keras


class _Damage(keras.callbacks.Callback):
    def __init__(self, path: Path, at_epoch: int) -> None:
        super().__init__()
        self.path, self.at_epoch = path, at_epoch

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        if epoch == self.at_epoch:
            data = bytearray(self.path.read_bytes())
            data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
            self.path.write_bytes(bytes(data))


def _frozen(tmp_path: Path, epochs: int) -> tuple[TrainConfig, keras.Model]:
    # A negligible learning rate: val_loss never improves after epoch 1 (strictly).
    cfg = TrainConfig(epochs=epochs, learning_rate=1e-30, monitor="val_loss", shuffle=False, **FAST)
    return cfg, tiny_model()


def test_damaged_best_is_noticed_at_the_next_epoch(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    from xraycls.zoo import load_model

    x, y = arrays(16)
    cfg, model = _frozen(tmp_path, 3)
    trainer = Trainer(model, cfg, workdir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="xraycls.train"):
        trainer.fit((x, y), (x, y), callbacks=[_Damage(tmp_path / "best.keras", at_epoch=1)])
    assert "damaged" in caplog.text
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["lost_best_epochs"] == [1] and state["best_epoch"] == 2
    assert (tmp_path / "best.damaged.keras").exists()
    assert same_weights(load_model(tmp_path / "best.keras"), trainer.model)


def test_resume_sets_a_damaged_best_aside(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    x, y = arrays(16)
    cfg, model = _frozen(tmp_path, 2)
    Trainer(model, cfg, workdir=tmp_path).fit((x, y), (x, y))
    assert json.loads((tmp_path / "state.json").read_text())["best_epoch"] == 1
    best = tmp_path / "best.keras"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])  # truncated
    with caplog.at_level(logging.WARNING, logger="xraycls.train"):
        history = Trainer(tiny_model(), cfg.replace(epochs=3), workdir=tmp_path).fit(
            (x, y), (x, y), resume=True
        )
    assert history["epoch"] == [1, 2, 3]
    assert "best.keras" in caplog.text and "damaged" in caplog.text
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["best_epoch"] == 3 and state["lost_best_epochs"] == [1]
