"""``TrainConfig``: every training setting as data (defaults are the paper's).

Examples:
    >>> from xraycls.train import TrainConfig
    >>> cfg = TrainConfig(epochs=2, lr_schedule="cosine")
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    >>> TrainConfig().optimizer, TrainConfig().learning_rate, TrainConfig().batch_size
    ('sgd', 0.003, 32)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from xraycls._serial import Serial
from xraycls.errors import ConfigError

if TYPE_CHECKING:
    from xraycls.transforms import InputTransform

__all__ = ["LR_SCHEDULES", "MONITORS", "SAMPLINGS", "TrainConfig"]

#: Learning-rate schedules understood by :func:`learning_rate_at`.
LR_SCHEDULES = ("constant", "cosine", "step", "exponential")
_MIXED = ("auto", "on", "off", "bfloat16", "float16")
#: The epoch metrics a Trainer's model reports (it is compiled with the accuracy metric).
MONITORS = (
    "val_accuracy",
    "val_loss",
    "accuracy",
    "loss",
    # Computed per (class, source) group of a validation Dataset (train/_groups.py):
    "val_worst_group_accuracy",
    "val_worst_source_accuracy",
    "val_balanced_accuracy",
)
#: How a shuffled epoch draws its training images.
SAMPLINGS = ("shuffle", "balanced")
_MODES = ("auto", "max", "min")


def _integer(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(ok: Callable[[float], bool], *, optional: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if v is None:
            return optional
        return isinstance(v, (int, float)) and not isinstance(v, bool) and ok(float(v))

    return check


def _one_of(choices: tuple[Any, ...]) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _optional(kind: type) -> Callable[[Any], bool]:
    return lambda v: v is None or isinstance(v, kind)


def _input_transform_class() -> type[InputTransform]:
    from xraycls.transforms import InputTransform

    return InputTransform


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0


#: (field, check, what is expected): every TrainConfig value is checked here, in this order.
_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("epochs", _integer(1), "an integer >= 1"),
    ("batch_size", _integer(1), "an integer >= 1"),
    ("seed", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    ("learning_rate", _number(_positive), "a finite number > 0"),
    (
        "optimizer",
        lambda v: isinstance(v, str) and bool(v),
        "a Keras optimizer name such as 'sgd' or 'adam'",
    ),
    ("lr_schedule", _one_of(LR_SCHEDULES), f"one of {LR_SCHEDULES}"),
    ("early_stopping_patience", lambda v: v is None or _integer(1)(v), "None or an integer >= 1"),
    ("label_smoothing", _number(lambda v: 0 <= v < 1), "a number in [0, 1)"),
    ("mixed_precision", _one_of(_MIXED), f"one of {_MIXED}"),
    ("monitor", _one_of(MONITORS), f"one of {MONITORS}"),
    ("batchnorm_batches", _integer(0), "an integer >= 0"),
    ("sampling", _one_of(SAMPLINGS), f"one of {SAMPLINGS}"),
    ("group_dro", _number(_positive, optional=True), "None or a finite step size > 0"),
    ("monitor_mode", _one_of(_MODES), f"one of {_MODES}"),
    ("verbose", _one_of((0, 1, 2)), "0, 1 or 2"),
    ("optimizer_kwargs", _optional(dict), "None or a dict"),
    ("lr_schedule_kwargs", lambda v: isinstance(v, dict), "a dict"),
    ("augmentation", _optional(dict), "None or an Augmenter.to_dict() configuration"),
    (
        "class_weights",
        lambda v: v is None or v == "balanced" or isinstance(v, dict),
        "'balanced', None or a {class_index: weight} dict",
    ),
)


@dataclass(frozen=True)
class TrainConfig(Serial):
    """Training settings; round-trips through ``to_dict``/``from_dict`` and JSON.

    The defaults reproduce the paper: SGD with learning rate 0.003 and momentum 0.9, batch 32,
    20 epochs, categorical cross-entropy, keep the weights of the epoch with the best validation
    accuracy. The input image size is not a setting: it is read from the model's input shape.

    Attributes:
        epochs: Number of epochs.
        batch_size: Global batch size (split across replicas under a distribution strategy).
        optimizer: A Keras optimizer name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``...).
        learning_rate: Initial learning rate.
        optimizer_kwargs: Extra optimizer arguments; ``None`` means the paper's
            ``{"momentum": 0.9}`` for SGD and no extra arguments for other optimizers (see
            :attr:`optimizer_arguments`).
        lr_schedule: ``"constant"``, ``"cosine"`` (to ``min_lr``), ``"step"`` (multiply by
            ``gamma`` every ``step_size`` epochs) or ``"exponential"`` (times ``gamma`` per
            epoch); applied per epoch.
        lr_schedule_kwargs: Schedule parameters (``step_size``, ``gamma``, ``min_lr``,
            ``warmup_epochs``).
        early_stopping_patience: Stop after this many epochs without improvement of
            ``monitor``; ``None`` trains all epochs.
        label_smoothing: Label smoothing of the cross-entropy loss.
        class_weights: ``"balanced"`` (inverse class frequency of the training data), ``None``,
            or ``{class_index: weight}``.
        augmentation: An ``Augmenter.to_dict()`` configuration applied on the fly to training
            batches, or ``None``.
        mixed_precision: ``"auto"`` (16-bit compute on a GPU only: bfloat16 where the GPU has
            it, else float16), ``"on"``, ``"off"``, or ``"bfloat16"`` / ``"float16"`` to force
            that compute type on any device (``benchmarks/cpu_bfloat16.py`` measures bfloat16
            on a CPU).
        seed: Seed of weights initialisation, shuffling, dropout and augmentation.
        deterministic: Also enable TensorFlow op determinism (slower; bitwise-reproducible GPU
            runs).
        shuffle: Shuffle the training data each epoch (seeded by ``seed`` and the epoch).
        monitor: The epoch metric that selects ``best.keras`` (``"val_accuracy"``,
            ``"val_loss"``, ``"accuracy"``...). With a validation ``Dataset`` that names
            sources, also ``"val_worst_group_accuracy"`` (the lowest recall over its (class,
            source) groups of 5 or more images), ``"val_worst_source_accuracy"`` (the lowest
            accuracy over its sources) or ``"val_balanced_accuracy"`` (mean class recall):
            multi-source training selects on the worst group, so that no source can be traded
            for another (docs/training.md).
        monitor_mode: ``"max"``, ``"min"`` or ``"auto"`` (``min`` for losses).
        verbose: Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
        input_transform: An ``InputTransform.to_dict()`` (lung crop, soft mask, contrast, text
            removal) applied to every image as read, before resizing; saved with the model so
            evaluation, prediction and CAMs apply it too. ``None``: no transform.
        batchnorm_batches: Before each validation, re-estimate BatchNorm moving statistics
            from this many unaugmented training batches under the current weights, so
            validation (and best-epoch selection) does not see statistics of older weights
            (docs/training.md); 0 keeps Keras's moving averages.
        sampling: ``"shuffle"`` (every training image once per epoch, in a seeded order) or
            ``"balanced"``: each epoch draws as many images with replacement, every class with
            the same probability and, within a class, every source (``Dataset.sources``) with
            the same probability, so no (class, source) group dominates the batches.
        group_dro: Step size of group DRO (Sagawa et al. 2020), or ``None``. After each
            epoch the (class, source) groups' training losses (measured on up to 64
            unaugmented images per group) raise the sampling share of the groups with the
            highest loss: share <- share * exp(group_dro * loss), renormalised. Starts from
            ``sampling``'s shares; stored with the checkpoint, so a resumed run continues it.
    """

    epochs: int = 20
    batch_size: int = 32
    optimizer: str = "sgd"
    learning_rate: float = 0.003
    optimizer_kwargs: dict[str, Any] | None = None
    lr_schedule: str = "constant"
    lr_schedule_kwargs: dict[str, Any] = field(default_factory=dict)
    early_stopping_patience: int | None = None
    label_smoothing: float = 0.0
    class_weights: str | dict[int, float] | None = None
    augmentation: dict[str, Any] | None = None
    mixed_precision: str = "auto"
    seed: int = 0
    deterministic: bool = False
    shuffle: bool = True
    monitor: str = "val_accuracy"
    monitor_mode: str = "auto"
    verbose: int = 1
    input_transform: dict[str, Any] | None = None
    batchnorm_batches: int = 16
    sampling: str = "shuffle"
    group_dro: float | None = None

    def __post_init__(self) -> None:
        for name, ok, expected in _CHECKS:
            if not ok(getattr(self, name)):
                raise self._bad(name, expected)
        if isinstance(self.input_transform, _input_transform_class()):
            object.__setattr__(self, "input_transform", self.input_transform.to_dict())
        if self.input_transform is not None:
            # Validates the keys and values now, not at the first image of the first epoch.
            _input_transform_class().from_dict(self.input_transform)
        if isinstance(self.class_weights, dict):
            object.__setattr__(self, "class_weights", self._class_weights())

    def _bad(self, name: str, expected: str) -> ConfigError:
        return ConfigError(f"TrainConfig.{name} must be {expected}; got {getattr(self, name)!r}")

    def _class_weights(self) -> dict[int, float]:
        cw: dict[Any, Any] = self.class_weights  # type: ignore[assignment]
        try:
            normalised = {int(k): float(v) for k, v in cw.items()}
        except (TypeError, ValueError):
            raise self._bad("class_weights", "a {class_index: weight} dict") from None
        if any(v < 0 or not math.isfinite(v) for v in normalised.values()):
            raise self._bad("class_weights", "non-negative finite weights")
        return normalised

    @property
    def optimizer_arguments(self) -> dict[str, Any]:
        """The optimizer's extra arguments with the ``None`` default resolved.

        Examples:
            >>> TrainConfig().optimizer_arguments, TrainConfig(optimizer="adam").optimizer_arguments
            ({'momentum': 0.9}, {})
        """
        if self.optimizer_kwargs is not None:
            return dict(self.optimizer_kwargs)
        return {"momentum": 0.9} if self.optimizer.lower() == "sgd" else {}

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``: the direction in which ``monitor`` improves."""
        if self.monitor_mode != "auto":
            return self.monitor_mode
        return "min" if "loss" in self.monitor else "max"

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """The learning rate of a 0-based ``epoch`` under ``config``'s schedule.

    Examples:
        >>> cfg = TrainConfig(learning_rate=0.1, lr_schedule="step",
        ...                   lr_schedule_kwargs={"step_size": 2, "gamma": 0.5})
        >>> [learning_rate_at(cfg, e) for e in range(5)]
        [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    kw = config.lr_schedule_kwargs
    base = float(config.learning_rate)
    warmup = int(kw.get("warmup_epochs", 0))
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    e = epoch - warmup
    if config.lr_schedule == "constant":
        return base
    if config.lr_schedule == "step":
        return base * float(kw.get("gamma", 0.1)) ** (e // int(kw.get("step_size", 10)))
    if config.lr_schedule == "exponential":
        return base * float(kw.get("gamma", 0.9)) ** e
    # cosine from base to min_lr over the epochs after warm-up
    total = max(1, config.epochs - warmup - 1)
    min_lr = float(kw.get("min_lr", 0.0))
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * min(e, total) / total))
