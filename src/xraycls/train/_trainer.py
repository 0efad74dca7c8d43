"""``Trainer``: seeded, resumable, checkpointed training of a Keras classifier.

Training runs one ``model.fit`` call per epoch. That keeps Keras' own progress bar and callbacks
while the trainer owns what must survive a crash: after every epoch it writes ``last.keras``
(weights and optimizer state), ``best.keras`` when the monitored metric improved, the history and
``state.json`` -- each atomically. Per-epoch calls also make resumption exact: epoch ``e``'s data
order and augmentation are seeded by ``(seed, e)``, and the dropout RNG state is stored in
``state.json``, so an interrupted-and-resumed run ends with the same weights as an uninterrupted
one (on CPU; see docs/training.md).

Examples:
    >>> import xraycls  # doctest: +SKIP
    >>> train, val, test = xraycls.load_dataset("data/cxr3").split(seed=0)  # doctest: +SKIP
    >>> model = xraycls.build_model("xception", input_shape=(128, 128, 3))  # doctest: +SKIP
    >>> trainer = xraycls.Trainer(model, xraycls.TrainConfig(), workdir="runs/x")  # doctest: +SKIP
    >>> history = trainer.fit(train, val)  # doctest: +SKIP
    >>> print(trainer.evaluate(test).to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np

from xraycls.errors import ConfigError, ModelFileError, TrainingError
from xraycls.train import _strategy
from xraycls.train._config import TrainConfig, learning_rate_at
from xraycls.train._workdir import RunDir

__all__ = ["Trainer"]

log = logging.getLogger("xraycls.train")

ModelLike: TypeAlias = "keras.Model | Callable[[], keras.Model]"


def _version() -> str:
    from xraycls import __version__

    return __version__


def _epoch_seed(seed: int, epoch: int) -> int:
    # A distinct, reproducible stream per epoch; stays within int32 for tf.data.
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**31 - 1)


def _is_xraycls_dataset(obj: Any) -> bool:
    return hasattr(obj, "to_tf_dataset") and hasattr(obj, "labels") and hasattr(obj, "files")


def _is_array_pair(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 2 and hasattr(obj[0], "shape")


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype("float32")
    return np.eye(num_classes, dtype="float32")[labels.astype(int)]


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


class _NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite batch loss and remembers where it happened."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.batch: int | None = None
        self.loss: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.batch, self.loss = batch, float(loss)
            self.model.stop_training = True


class _Progbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, told the run's total epoch count (one ``fit`` runs one epoch)."""

    def __init__(self, total_epochs: int) -> None:
        super().__init__()
        self._total = total_epochs

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params({**params, "epochs": self._total})


class Trainer:
    """Train a classifier with the paper's recipe (or any :class:`TrainConfig`) in a run folder.

    Args:
        model: A compiled-or-not ``keras.Model`` taking raw ``[0, 255]`` RGB batches, or a
            zero-argument callable that builds one (needed to build it directly inside a
            distribution strategy's scope or under mixed precision; a ready model is cloned
            from its config in those cases).
        config: Training settings; default ``TrainConfig()`` (the paper's).
        workdir: The run folder (created); see :meth:`fit` for what it holds. Default: a new
            temporary folder.
        strategy: ``None``, ``"mirrored"``, ``"multiworker"`` or a ``tf.distribute.Strategy``
            for data-parallel training (see docs/distributed.md).
        class_names: Class names; default: the training ``Dataset``'s.
        model_name: The backbone name recorded in ``config.json``; default: the model's name.

    Examples:
        >>> import numpy as np, keras, tempfile
        >>> from xraycls.train import Trainer, TrainConfig
        >>> inp = keras.Input((8, 8, 3))
        >>> out = keras.layers.Dense(2, activation="softmax", name="predictions")(
        ...     keras.layers.GlobalAveragePooling2D()(inp))
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
        >>> y = np.array([0, 1] * 4)
        >>> trainer = Trainer(keras.Model(inp, out), TrainConfig(epochs=1, batch_size=4,
        ...                   verbose=0), workdir=tempfile.mkdtemp(), class_names=["a", "b"])
        >>> history = trainer.fit((x, y), (x, y))
        >>> len(history["loss"])
        1
    """

    def __init__(
        self,
        model: ModelLike,
        config: TrainConfig | None = None,
        workdir: str | os.PathLike[str] | None = None,
        *,
        strategy: Any = None,
        class_names: Sequence[str] | None = None,
        model_name: str | None = None,
    ) -> None:
        if not (isinstance(model, keras.Model) or callable(model)):
            raise ConfigError(
                "model must be a keras.Model or a callable building one; got "
                f"{type(model).__name__}"
            )
        if config is not None and not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig; got {type(config).__name__}")
        self.config = config or TrainConfig()
        if workdir is None:
            import tempfile

            workdir = tempfile.mkdtemp(prefix="xraycls-run-")
        self.run = RunDir(workdir)
        self._source: ModelLike = model
        self._strategy_spec = strategy
        self._strategy: Any = None
        self._model: keras.Model | None = None
        self._mixed = False
        self.class_names: list[str] | None = list(class_names) if class_names else None
        self.model_name = model_name
        #: Per-epoch rows (``epoch, loss, accuracy, val_loss, val_accuracy, lr, time, ...``).
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ properties

    @property
    def workdir(self) -> Path:
        """The run folder."""
        return self.run.root

    @property
    def model(self) -> keras.Model:
        """The trained model (the best checkpoint's weights after :meth:`fit`)."""
        if self._model is None:
            if isinstance(self._source, keras.Model):
                return self._source
            raise TrainingError("the model is built by fit(); call fit() first")
        return self._model

    # ------------------------------------------------------------------ setup

    def _setup(self) -> keras.Model:
        if self._model is not None:
            return self._model
        cfg = self.config
        _strategy.enable_determinism(cfg.deterministic)
        keras.utils.set_random_seed(cfg.seed)
        self._strategy = _strategy.resolve_strategy(self._strategy_spec)
        mp = cfg.mixed_precision
        self._mixed = mp == "on" or (mp == "auto" and _strategy.gpu_available())
        model = _strategy.build_in_scope(
            self._strategy, self._source, dtype_policy="mixed_float16" if self._mixed else None
        )
        with self._strategy.scope():
            try:
                optimizer = keras.optimizers.get(
                    {
                        "class_name": cfg.optimizer,
                        "config": {"learning_rate": cfg.learning_rate, **cfg.optimizer_arguments},
                    }
                )
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"TrainConfig.optimizer={cfg.optimizer!r} with optimizer_kwargs="
                    f"{cfg.optimizer_arguments} is not a valid Keras optimizer: {exc}"
                ) from None
            if self._mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                metrics=["accuracy"],
            )
        from xraycls.transforms import attach_transform

        self._model = attach_transform(model, cfg.input_transform)  # saved with checkpoints
        return model

    def _image_size(self, model: keras.Model) -> tuple[int, int]:
        shape = model.input_shape
        if isinstance(shape, list):
            shape = shape[0]
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise ConfigError(f"the model input {tuple(shape)} is not a fixed-size image batch")
        return int(shape[1]), int(shape[2])

    def _num_classes(self, model: keras.Model) -> int:
        return int(model.output_shape[-1])

    # ------------------------------------------------------------------ data

    def _train_data(self, data: Any, model: keras.Model, epoch: int) -> tuple[Any, dict[str, Any]]:
        """The training input of one epoch and extra ``fit`` keyword arguments."""
        cfg = self.config
        seed = _epoch_seed(cfg.seed, epoch)
        if _is_xraycls_dataset(data):
            augmenter = None
            if cfg.augmentation is not None:
                from xraycls.augment import Augmenter

                augmenter = Augmenter.from_dict({**cfg.augmentation, "seed": seed})
            return (
                data.to_tf_dataset(
                    batch_size=cfg.batch_size,
                    image_size=self._image_size(model),
                    augmenter=augmenter,
                    shuffle=cfg.shuffle,
                    seed=seed,
                    input_transform=cfg.input_transform,
                ),
                {},
            )
        if cfg.augmentation is not None:
            log.warning(
                "TrainConfig.augmentation applies to xraycls Datasets only; it is ignored for %s",
                type(data).__name__,
            )
        if _is_array_pair(data):
            x = np.asarray(data[0], dtype="float32")
            y = _one_hot(data[1], self._num_classes(model))
            if cfg.shuffle:
                order = np.random.default_rng(seed).permutation(len(x))
                x, y = x[order], y[order]
            return x, {"y": y, "batch_size": cfg.batch_size, "shuffle": False}
        return data, {}

    def _val_data(self, data: Any, model: keras.Model) -> Any:
        if data is None:
            return None
        if _is_xraycls_dataset(data):
            return data.to_tf_dataset(
                batch_size=self.config.batch_size,
                image_size=self._image_size(model),
                shuffle=False,
                input_transform=self.config.input_transform,
            )
        if _is_array_pair(data):
            return (
                np.asarray(data[0], dtype="float32"),
                _one_hot(data[1], self._num_classes(model)),
            )
        return data

    def _labels_of(self, data: Any, num_classes: int) -> np.ndarray:
        if _is_xraycls_dataset(data):
            return np.asarray(data.labels)
        if _is_array_pair(data):
            y = np.asarray(data[1])
            return y.argmax(axis=1) if y.ndim == 2 else y
        # A tf.data / iterable of (x, one-hot y) batches: one pass over it to count labels.
        labels = [np.asarray(batch[1]).argmax(axis=-1) for batch in data]
        return np.concatenate(labels) if labels else np.zeros(0, int)

    def _class_weight(self, data: Any, num_classes: int) -> dict[int, float] | None:
        cw = self.config.class_weights
        if cw is None:
            return None
        if isinstance(cw, dict):
            return {k: float(cw.get(k, 1.0)) for k in range(num_classes)}
        from xraycls.augment import class_weights

        weights = class_weights(self._labels_of(data, num_classes), num_classes=num_classes)
        return {int(k): float(v) for k, v in weights.items()}

    # ------------------------------------------------------------------ files

    def _save_checkpoint(self, model: keras.Model, name: str, extra: dict[str, Any]) -> None:
        from xraycls.zoo import save_model

        save_model(
            model, self.run.path(name), class_names=list(self.class_names or []), extra=extra
        )

    def _resume_point(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The state and history of the last committed epoch (from ``last.keras``)."""
        from xraycls.zoo import read_model_info

        last = self.run.path("last.keras")
        if not last.exists():
            raise TrainingError(
                f"cannot resume: {self.workdir} has a state.json but no last.keras; start a new "
                "run in an empty folder"
            )
        info = read_model_info(last)
        if isinstance(info.get("state"), dict):
            state, history = dict(info["state"]), list(info.get("history", []))
        else:  # a checkpoint without embedded state: trust the side files
            state = self.run.read_json("state.json")
            history = list(self.run.read_json("history.json"))
        history = history[: int(state["epoch"])]
        # Re-do the side files in case the previous process died between the writes.
        if state.get("best_epoch") == state["epoch"]:
            self.run.copy("last.keras", "best.keras")
        self.run.write_history(history)
        self.run.write_json("state.json", state)
        return state, history

    def _write_config(self, model: keras.Model, train: Any) -> None:
        self.run.write_json(
            "config.json",
            {
                "train_config": self.config.to_dict(),
                "model": self.model_name or model.name,
                "class_names": self.class_names,
                "image_size": list(self._image_size(model)),
                "strategy": _strategy.strategy_name(self._strategy),
                "replicas": _strategy.replicas(self._strategy),
                "mixed_precision": self._mixed,
                "xraycls_version": _version(),
            },
        )

    def _write_splits(self, **splits: Any) -> None:
        for name, data in splits.items():
            if data is not None and hasattr(data, "to_csv"):
                try:
                    # Balanced in-memory copies are listed by name only; the manifest records
                    # which files trained the model, so that warning would be noise here.
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message=".*in-memory images")
                        data.to_csv(self.run.path(f"{name}.csv"))
                except Exception as exc:  # a manifest is a convenience; never fail training
                    log.warning("could not write %s.csv: %s", name, exc)

    def _restore(self, model: keras.Model, state: dict[str, Any]) -> None:
        """Load ``last.keras`` weights and optimizer state into ``model`` to resume."""
        from xraycls.zoo import load_model

        path = self.run.path("last.keras")
        try:
            saved = load_model(path, compile=True)
        except Exception as exc:
            raise TrainingError(f"cannot resume: {path} cannot be loaded ({exc})") from None
        if len(saved.weights) != len(model.weights):
            raise TrainingError(
                f"cannot resume: {path} holds a different model ({len(saved.weights)} weights, "
                f"the trainer's model has {len(model.weights)})"
            )
        model.set_weights(saved.get_weights())
        opt, saved_opt = model.optimizer, getattr(saved, "optimizer", None)
        if saved_opt is not None and saved_opt.variables:
            if not opt.built:
                with self._strategy.scope():
                    opt.build(model.trainable_variables)
            if len(opt.variables) == len(saved_opt.variables):
                for var, value in zip(opt.variables, saved_opt.variables, strict=True):
                    var.assign(value)
            else:
                log.warning("optimizer state in %s does not match; it restarts from zero", path)
        for key, gen in _seed_generators(model).items():
            if key in state.get("seed_states", {}):
                gen.state.assign(np.asarray(state["seed_states"][key], dtype=gen.state.dtype))

    # ------------------------------------------------------------------ training

    def fit(
        self,
        train: Any,
        val: Any = None,
        *,
        resume: bool = False,
        callbacks: Iterable[keras.callbacks.Callback] = (),
    ) -> dict[str, list[Any]]:
        """Train, checkpointing every epoch; end with the best checkpoint's weights.

        The run folder receives ``config.json``, ``history.csv``/``history.json``,
        ``last.keras`` (every epoch, with optimizer state), ``best.keras`` (best ``monitor``),
        ``state.json`` (resume point) and, for ``Dataset`` inputs that can write one,
        ``train.csv``/``val.csv`` manifests.

        Args:
            train: An :class:`xraycls.data.Dataset` (decoded, letterboxed to the model's input
                size, shuffled and augmented per ``config``), a ``tf.data.Dataset`` of
                ``(images, one-hot labels)`` batches (used as given), or an
                ``(images, labels)`` pair of arrays.
            val: Validation data of the same kinds, or ``None`` (then monitor a training
                metric such as ``"accuracy"``).
            resume: Continue the run in ``workdir`` from its last completed epoch; history is
                appended. Without a previous run it starts from scratch.
            callbacks: Extra Keras callbacks, passed to every epoch's ``fit``.

        Returns:
            The history as ``{column: [value per epoch]}`` (like ``keras.callbacks.History``).

        Raises:
            TrainingError: The loss became NaN/inf (with the epoch and batch), or the run
                cannot be resumed.
            ConfigError: Invalid settings, or ``workdir`` already holds a run and
                ``resume`` is false.
            KeyboardInterrupt: Propagated after the last completed epoch was saved; call again
                with ``resume=True`` to continue.
        """
        cfg = self.config
        previous = self.run.path("state.json").exists() or self.run.path("last.keras").exists()
        resuming = resume and previous
        if previous and not resume:
            raise ConfigError(
                f"{self.workdir} already holds a training run (state.json); pass resume=True to "
                "continue it, or choose an empty workdir"
            )
        if resume and not resuming:
            log.info("nothing to resume in %s; starting from scratch", self.workdir)
        if val is None and cfg.monitor.startswith("val_"):
            raise ConfigError(
                f"TrainConfig.monitor={cfg.monitor!r} needs validation data; pass val or "
                "monitor a training metric such as 'accuracy'"
            )
        model = self._setup()
        if self.class_names is None:
            self.class_names = (
                list(train.class_names)
                if _is_xraycls_dataset(train)
                else [f"class_{k}" for k in range(self._num_classes(model))]
            )
        if len(self.class_names) != self._num_classes(model):
            raise ConfigError(
                f"{len(self.class_names)} class names {self.class_names} for a model with "
                f"{self._num_classes(model)} outputs"
            )

        state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": None, "wait": 0}
        if resuming:
            state, self.history = self._resume_point()
            keras.utils.set_random_seed(cfg.seed)
            self._restore(model, state)
            log.info("resuming %s after epoch %d", self.workdir, state["epoch"])
        else:
            self.history = []
            self._write_config(model, train)
            self._write_splits(train=train, val=val)

        num_classes = self._num_classes(model)
        class_weight = self._class_weight(train, num_classes)
        val_data = self._val_data(val, model)
        mode = cfg.mode
        guard = _NaNGuard()
        bar: list[keras.callbacks.Callback] = [_Progbar(cfg.epochs)] if cfg.verbose else []
        patience = cfg.early_stopping_patience

        for epoch in range(int(state["epoch"]), cfg.epochs):
            if patience is not None and state["wait"] >= patience:
                break
            lr = learning_rate_at(cfg, epoch)
            model.optimizer.learning_rate.assign(lr)
            data, kwargs = self._train_data(train, model, epoch)
            start = time.perf_counter()
            result = model.fit(
                data,
                validation_data=val_data,
                epochs=epoch + 1,
                initial_epoch=epoch,
                class_weight=class_weight,
                callbacks=[guard, *bar, *callbacks],
                verbose=cfg.verbose,
                **{"shuffle": False, **kwargs},
            )
            if guard.batch is not None:
                raise TrainingError(
                    f"the training loss became {guard.loss} at epoch {epoch + 1}, batch "
                    f"{guard.batch + 1}; stopped without saving this epoch. Lower the learning "
                    f"rate (now {lr:g}), check the input data for NaN, or use gradient "
                    "clipping (optimizer_kwargs={'clipnorm': 1.0})."
                )
            logs = {k: float(v[-1]) for k, v in result.history.items() if v}
            if "loss" not in logs:  # fit stopped before a single batch (e.g. empty data)
                raise TrainingError(f"epoch {epoch + 1} ran no training batch; is the data empty?")
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                **{k: logs.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
                "lr": lr,
                "time": round(time.perf_counter() - start, 3),
            }
            row.update({k: v for k, v in logs.items() if k not in row})
            self.history.append(row)

            value = logs.get(cfg.monitor)
            if value is None:
                raise ConfigError(
                    f"TrainConfig.monitor={cfg.monitor!r} is not among the epoch metrics "
                    f"{sorted(logs)}"
                )
            best = state["best"]
            improved = (
                best is None or (mode == "max" and value > best) or (mode == "min" and value < best)
            )
            if improved:
                state.update(best=value, best_epoch=epoch + 1, wait=0)
            else:
                state["wait"] = int(state["wait"]) + 1
            state.update(
                epoch=epoch + 1,
                monitor=cfg.monitor,
                mode=mode,
                seed_states={
                    k: np.asarray(g.state).tolist() for k, g in _seed_generators(model).items()
                },
            )
            # last.keras is the commit point: it carries the resume state and the history, so
            # a kill between the writes below can never pair weights with the wrong epoch.
            self._save_checkpoint(
                model, "last.keras", {"epoch": epoch + 1, "state": state, "history": self.history}
            )
            if improved:
                self.run.copy("last.keras", "best.keras")
            self.run.write_history(self.history)
            self.run.write_json("state.json", state)
            if cfg.verbose:
                log.info(
                    "epoch %d/%d: %s=%.4f (best %.4f at epoch %s)",
                    epoch + 1,
                    cfg.epochs,
                    cfg.monitor,
                    value,
                    state["best"],
                    state["best_epoch"],
                )
            if patience is not None and state["wait"] >= patience:
                log.info("early stopping: no %s improvement for %d epochs", cfg.monitor, patience)
                break

        best_path = self.run.path("best.keras")
        if best_path.exists():
            try:
                model.load_weights(best_path)
            except Exception as exc:
                raise ModelFileError(
                    f"{best_path}: cannot restore the best weights ({exc})"
                ) from None
        return self._columns()

    def _columns(self) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = {}
        for row in self.history:
            for key in row:
                columns.setdefault(key, [])
        for row in self.history:
            for key in columns:
                columns[key].append(row.get(key))
        return columns

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, test: Any, *, batch_size: int | None = None) -> Any:
        """Evaluate the trained model and write ``evaluation.json`` to the run folder.

        Args:
            test: Test data of the kinds :func:`xraycls.evaluation.evaluate` accepts.
            batch_size: Default: the training batch size.

        Returns:
            The :class:`xraycls.evaluation.EvaluationReport`.
        """
        # Imported here: evaluation sits below training in the layer order.
        from xraycls.evaluation import evaluate

        report = evaluate(
            self.model,
            test,
            batch_size=batch_size or self.config.batch_size,
            class_names=self.class_names,
            seed=self.config.seed,
        )
        self.run.write_text("evaluation.json", report.to_json() + "\n")
        return report
