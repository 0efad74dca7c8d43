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
import json
import math
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Self

from xraycls.errors import ConfigError

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


@dataclass(frozen=True)
class TrainConfig:
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
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(
                f"TrainConfig.{name} must be {expected}; got {getattr(self, name)!r}"
            )

        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "an integer >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise bad("seed", "an integer")
        if not isinstance(self.learning_rate, (int, float)) or not (
            math.isfinite(self.learning_rate) and self.learning_rate > 0
        ):
            raise bad("learning_rate", "a finite number > 0")
        if not isinstance(self.optimizer, str) or not self.optimizer:
            raise bad("optimizer", "a Keras optimizer name such as 'sgd' or 'adam'")
        if self.lr_schedule not in LR_SCHEDULES:
            raise bad("lr_schedule", f"one of {LR_SCHEDULES}")
        patience = self.early_stopping_patience
        if patience is not None and (
            isinstance(patience, bool) or not isinstance(patience, int) or patience < 1
        ):
            raise bad("early_stopping_patience", "None or an integer >= 1")
        if not isinstance(self.label_smoothing, (int, float)) or not (
            0 <= self.label_smoothing < 1
        ):
            raise bad("label_smoothing", "a number in [0, 1)")
        if self.mixed_precision not in _MIXED:
            raise bad("mixed_precision", f"one of {_MIXED}")
        if self.monitor not in MONITORS:
            raise bad("monitor", f"one of {MONITORS}")
        nb = self.batchnorm_batches
        if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
            raise bad("batchnorm_batches", "an integer >= 0")
        if self.sampling not in SAMPLINGS:
            raise bad("sampling", f"one of {SAMPLINGS}")
        dro = self.group_dro
        if dro is not None and (
            isinstance(dro, bool)
            or not isinstance(dro, (int, float))
            or not (math.isfinite(dro) and dro > 0)
        ):
            raise bad("group_dro", "None or a finite step size > 0")
        if self.monitor_mode not in _MODES:
            raise bad("monitor_mode", f"one of {_MODES}")
        if self.verbose not in (0, 1, 2):
            raise bad("verbose", "0, 1 or 2")
        if self.optimizer_kwargs is not None and not isinstance(self.optimizer_kwargs, dict):
            raise bad("optimizer_kwargs", "None or a dict")
        if not isinstance(self.lr_schedule_kwargs, dict):
            raise bad("lr_schedule_kwargs", "a dict")
        if self.augmentation is not None and not isinstance(self.augmentation, dict):
            raise bad("augmentation", "None or an Augmenter.to_dict() configuration")
        if self.input_transform is not None:
            from xraycls.transforms import InputTransform

            if isinstance(self.input_transform, InputTransform):
                object.__setattr__(self, "input_transform", self.input_transform.to_dict())
            # Validates the keys and values now, not at the first image of the first epoch.
            InputTransform.from_dict(self.input_transform)
        cw = self.class_weights
        if isinstance(cw, dict):
            try:
                normalised = {int(k): float(v) for k, v in cw.items()}
            except (TypeError, ValueError):
                raise bad("class_weights", "a {class_index: weight} dict") from None
            if any(v < 0 or not math.isfinite(v) for v in normalised.values()):
                raise bad("class_weights", "non-negative finite weights")
            object.__setattr__(self, "class_weights", normalised)
        elif cw is not None and cw != "balanced":
            raise bad("class_weights", "'balanced', None or a {class_index: weight} dict")

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (class-weight keys become strings, as JSON requires)."""
        data = dataclasses.asdict(self)
        if isinstance(self.class_weights, dict):
            data["class_weights"] = {str(k): v for k, v in self.class_weights.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a config from a dict; missing keys take their defaults.

        Raises:
            ConfigError: Unknown keys (named in the message) or invalid values.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a TrainConfig must be a dict; got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig key(s): {', '.join(unknown)}; known keys are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_json(self, indent: int | None = 2) -> str:
        """The config as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Inverse of :meth:`to_json`.

        Raises:
            ConfigError: The text is not JSON or not a valid config.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"TrainConfig JSON is not valid: {exc}") from None
        return cls.from_dict(data)

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
