"""The Keras callbacks that make one ``model.fit`` call a resumable, checkpointed run.

Keras's own callbacks are used where they fit (``LearningRateScheduler``, ``TerminateOnNaN``,
``EarlyStopping``); they are subclassed only to carry state across a resume, which Keras resets
in ``on_train_begin``. :class:`Checkpoint` is ``ModelCheckpoint`` with the guarantees Keras's
lacks: atomic files, the resume state inside ``last.keras``, and a verified ``best.keras``.
:class:`RecomputeBatchNorm` re-estimates BatchNorm statistics before each validation.

Examples:
    >>> from xraycls.train._callbacks import NaNStop
    >>> NaNStop().batch is None
    True
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from typing_extensions import override

from xraycls.errors import ConfigError, TrainingError
from xraycls.train._batchnorm import batch_statistics

if TYPE_CHECKING:
    from xraycls.train._workdir import RunDir

__all__ = ["Checkpoint", "NaNStop", "RecomputeBatchNorm", "ResumableEarlyStopping", "seed_states"]

log = logging.getLogger("xraycls.train")


def _seed_generators(model: keras.Model) -> dict[str, Any]:
    """Random-state generators of the model's layers (dropout...), keyed by layer and attribute.

    Keras does not save their state in ``.keras`` files, so the trainer stores it in
    ``state.json`` to resume with exactly the dropout masks an uninterrupted run would use.
    """
    found: dict[str, Any] = {}
    for layer in model._flatten_layers(include_self=False):
        for attr, value in vars(layer).items():
            if isinstance(value, keras.random.SeedGenerator):
                found[f"{layer.name}.{attr}"] = value
    return found


def seed_states(model: keras.Model) -> dict[str, list[Any]]:
    """The dropout (etc.) RNG states of ``model`` as JSON-ready lists."""
    return {k: np.asarray(g.state).tolist() for k, g in _seed_generators(model).items()}


def restore_seed_states(model: keras.Model, states: dict[str, Any]) -> None:
    """Inverse of :func:`seed_states`."""
    for key, gen in _seed_generators(model).items():
        if key in states:
            gen.state.assign(np.asarray(states[key], dtype=gen.state.dtype))


class NaNStop(keras.callbacks.TerminateOnNaN):
    """Keras's ``TerminateOnNaN`` that also remembers where the loss diverged, so the trainer
    can skip saving that epoch and raise a :class:`~xraycls.errors.TrainingError` naming it."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.batch: int | None = None
        self.loss: float | None = None

    @override
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    @override
    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if self.batch is None and loss is not None and not math.isfinite(float(loss)):
            self.batch, self.loss = batch, float(loss)
        super().on_batch_end(batch, logs)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's ``EarlyStopping``, continuing the patience count of the run it resumes."""

    def __init__(
        self, monitor: str, patience: int, mode: str, best: float | None, wait: int
    ) -> None:
        super().__init__(monitor=monitor, patience=patience, mode=mode)
        self._resume_best, self._resume_wait = best, wait

    @override
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best = self._resume_best
        self.wait = self._resume_wait


class RecomputeBatchNorm(keras.callbacks.Callback):
    """Re-estimate BatchNorm moving statistics from training images before validation.

    BatchNorm's moving averages (momentum 0.99, a memory of ~100 steps) trail the weights by
    several epochs when an epoch is only a few dozen steps: validation then sees statistics of
    older weights, and a from-scratch model predicts one class until they catch up. After the
    last training step of each epoch (Keras validates right after it), this sets every
    BatchNorm layer's moving mean and variance to the average of the batch statistics of
    ``batches()`` under the current weights ("precise BN"). Training steps use batch statistics
    anyway, so the weight trajectory is unchanged; the dropout RNG state is restored, so is the
    random stream.

    Args:
        batches: Returns the image batches to estimate from (the trainer passes unaugmented
            training batches of the current epoch).
    """

    def __init__(self, batches: Callable[[], list[np.ndarray]]) -> None:
        super().__init__()
        self._batches = batches
        self._layers: list[keras.layers.BatchNormalization] = []
        self._forward: Callable[[np.ndarray], list[tuple[np.ndarray, np.ndarray]]] | None = None

    @override
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._forward = None
        self._layers = [
            layer
            for layer in self.model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
        ]

    @override
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = self.params.get("steps")
        if self._layers and steps and batch == steps - 1 and not self.model.stop_training:
            self.recompute()

    def recompute(self) -> None:
        """Set the moving statistics to their average over ``batches()``."""
        states = seed_states(self.model)
        momenta = [layer.momentum for layer in self._layers]
        try:
            # Momentum 0: each forward pass leaves the batch's own statistics in the moving
            # variables (read back by the compiled seam), and their average is the estimate.
            for layer in self._layers:
                layer.momentum = 0.0
            if self._forward is None:
                self._forward = batch_statistics(self.model, self._layers)
            sums: list[list[np.ndarray]] | None = None
            count = 0
            for batch in self._batches():
                stats = self._forward(batch)
                if sums is None:
                    sums = [
                        [mean.astype(np.float64), var.astype(np.float64)] for mean, var in stats
                    ]
                else:
                    for acc, (mean, var) in zip(sums, stats, strict=True):
                        acc[0] += mean
                        acc[1] += var
                count += 1
            if sums is not None:
                for layer, (mean, var) in zip(self._layers, sums, strict=True):
                    layer.moving_mean.assign((mean / count).astype(layer.moving_mean.dtype))
                    layer.moving_variance.assign((var / count).astype(layer.moving_variance.dtype))
        finally:
            for layer, momentum in zip(self._layers, momenta, strict=True):
                layer.momentum = momentum
            restore_seed_states(self.model, states)


class Checkpoint(keras.callbacks.Callback):
    """After every epoch: the history row, ``last.keras``, ``best.keras``, history, state.

    ``last.keras`` is the commit point: it embeds the resume state and the history, so a kill
    between the writes that follow can never pair weights with the wrong epoch. ``best.keras``
    is a verified copy of it whenever ``monitor`` improved.

    Args:
        run: The run folder.
        save: ``save(name, extra)`` writes the model atomically as ``name`` with ``extra``
            metadata (the trainer's ``zoo.save_model`` call).
        monitor: Epoch metric that selects ``best.keras``.
        mode: ``"max"`` or ``"min"``.
        state: The resume state (updated in place).
        history: Per-epoch rows (appended in place).
        learning_rate: The scheduled learning rate of a 0-based epoch.
        nan: The run's :class:`NaNStop` (a diverged epoch is not saved).
    """

    def __init__(
        self,
        run: RunDir,
        save: Callable[[str, dict[str, Any]], None],
        *,
        monitor: str,
        mode: str,
        state: dict[str, Any],
        history: list[dict[str, Any]],
        learning_rate: Callable[[int], float],
        nan: NaNStop,
    ) -> None:
        super().__init__()
        self.run, self._save = run, save
        self.monitor, self.mode = monitor, mode
        self.state, self.history = state, history
        self._learning_rate = learning_rate
        self._nan = nan
        self._start = 0.0

    @override
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    @override
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._nan.batch is not None:
            return
        logs = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        if "loss" not in logs:  # fit stopped before a single batch (e.g. empty data)
            raise TrainingError(f"epoch {epoch + 1} ran no training batch; is the data empty?")
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            **{k: logs.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
            "lr": self._learning_rate(epoch),
            "time": round(time.perf_counter() - self._start, 3),
        }
        row.update({k: v for k, v in logs.items() if k not in row})
        self.history.append(row)

        value = logs.get(self.monitor)
        if value is None:
            raise ConfigError(
                f"TrainConfig.monitor={self.monitor!r} is not among the epoch metrics "
                f"{sorted(logs)}"
            )
        best = self.state["best"]
        improved = best is None or (value > best if self.mode == "max" else value < best)
        if not improved and self.run.set_aside_if_damaged("best.keras"):
            # The best checkpoint of an earlier epoch was damaged on disk: noticed now, not at
            # the end of the run. Its weights are gone; this epoch becomes the best so far.
            log.warning(
                "best.keras (epoch %s) was damaged and set aside; epoch %d becomes the best",
                self.state["best_epoch"],
                epoch + 1,
            )
            self.state.setdefault("lost_best_epochs", []).append(self.state["best_epoch"])
            improved = True
        if improved:
            self.state.update(best=value, best_epoch=epoch + 1, wait=0)
        else:
            self.state["wait"] = int(self.state["wait"]) + 1
        self.state.update(
            epoch=epoch + 1,
            monitor=self.monitor,
            mode=self.mode,
            seed_states=seed_states(self.model),
        )
        self._save("last.keras", {"epoch": epoch + 1, "state": self.state, "history": self.history})
        if improved:
            self.run.copy_verified("last.keras", "best.keras")
        self.run.write_history(self.history)
        self.run.write_json("state.json", self.state)
        log.info(
            "epoch %d: %s=%.4f (best %.4f at epoch %s)",
            epoch + 1,
            self.monitor,
            value,
            self.state["best"],
            self.state["best_epoch"],
        )
