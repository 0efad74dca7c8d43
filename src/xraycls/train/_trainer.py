"""``Trainer``: seeded, resumable, checkpointed training of a Keras classifier.

A run is one ``model.fit`` call. What must survive a crash is done by callbacks
(``train/_callbacks.py``): after every epoch ``last.keras`` (weights, optimizer state and the
resume point), ``best.keras`` when the monitored metric improved, the history and
``state.json`` are written atomically; the learning-rate schedule, the NaN stop and early
stopping are Keras's own callbacks. Resuming passes ``initial_epoch`` to ``fit``. Epoch ``e``'s
data order and augmentation are seeded by ``(seed, e)`` (``train/_input.py``) and the dropout
RNG state is stored in ``state.json``, so an interrupted-and-resumed run ends with the same
weights as an uninterrupted one (on CPU; see docs/training.md). One training at a time holds a
run folder (a lock file naming its PID).

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
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np

from xraycls.errors import ConfigError, ModelFileError, TrainingError
from xraycls.imaging import input_size
from xraycls.pipeline._pydataset import ImageBatches
from xraycls.train import _compile, _strategy
from xraycls.train._callbacks import (
    Checkpoint,
    NaNStop,
    RecomputeBatchNorm,
    ResumableEarlyStopping,
    restore_seed_states,
)
from xraycls.train._config import TrainConfig, learning_rate_at
from xraycls.train._workdir import RunDir

__all__ = ["Trainer"]

log = logging.getLogger("xraycls.train")

ModelLike: TypeAlias = "keras.Model | Callable[[], keras.Model]"

# Epoch metrics computed per (class, source) group of the validation Dataset.
_GROUP_MONITORS = ("val_worst_group_accuracy", "val_worst_source_accuracy", "val_balanced_accuracy")

# Settings a resumed run may change without override_config: more epochs, other output.
_RESUMABLE_CHANGES = ("epochs", "verbose")

# Decoded, fitted training images are kept in memory up to this size (2 GiB: 700k images of
# 32 px, 44k of 128 px); beyond it every epoch decodes its files again.
_CACHE_BYTES = 2 * 1024**3


def _version() -> str:
    from xraycls._about import __version__

    return __version__


def _is_xraycls_dataset(obj: Any) -> bool:
    return hasattr(obj, "to_tf_dataset") and hasattr(obj, "labels") and hasattr(obj, "files")


def _is_array_pair(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 2 and hasattr(obj[0], "shape")


def _feed(batches: Any) -> Any:
    """What ``model.fit`` is given for ``batches``: on TensorFlow an :class:`ImageBatches`
    goes through ``tf.data`` (Keras's generator adapter there doubles the time per step;
    :func:`xraycls.pipeline._tf.tf_dataset_from_batches`), elsewhere it is passed as is."""
    if isinstance(batches, ImageBatches) and keras.backend.backend() == "tensorflow":
        from xraycls.pipeline._tf import tf_dataset_from_batches

        return tf_dataset_from_batches(batches)
    return batches


def _size_of(data: Any) -> int | None:
    """The number of images of a Dataset or an array pair; ``None`` for other inputs."""
    if _is_array_pair(data):
        return len(data[0])
    return len(data.labels) if _is_xraycls_dataset(data) else None


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype("float32")
    return np.eye(num_classes, dtype="float32")[labels.astype(int)]


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
        data_info: More facts about the training data stored with every checkpoint under
            ``training_data`` (``label_maps``, ``notes``...), beside the sources, classes,
            counts and age range that :meth:`fit` reads from a training ``Dataset``.

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
        data_info: Mapping[str, Any] | None = None,
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
        self._data_info = dict(data_info or {})
        self._training_data: dict[str, Any] | None = None
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
        # Asks the active backend (TensorFlow, JAX or PyTorch) about the device.
        policy = _strategy.mixed_precision_policy(cfg.mixed_precision)
        self._mixed = policy is not None
        model = _strategy.build_in_scope(self._strategy, self._source, dtype_policy=policy)
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
            if policy == "mixed_float16":  # bfloat16 has float32's range: no loss scaling
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # On JAX the last validation batch is padded with zero-weight rows (one compiled
            # test step): accuracy must then be weighted to count the real images only.
            accuracy = {
                "weighted_metrics" if _compile.fixed_batch_shapes() else "metrics": ["accuracy"]
            }
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                **accuracy,
            )
        from xraycls.transforms import attach_transform

        self._model = attach_transform(model, cfg.input_transform)  # saved with checkpoints
        return model

    def _num_classes(self, model: keras.Model) -> int:
        return int(model.output_shape[-1])

    # ------------------------------------------------------------------ data

    def _input(self, data: Any, model: keras.Model, *, training: bool, epoch: int = 0) -> Any:
        """``data`` as the trainer reads it: an :class:`xraycls.data.ImageBatches` for Datasets
        and arrays (order and augmentation seeded per ``(seed, epoch)``, starting at
        ``epoch``), anything else (a ``tf.data.Dataset``...) as given."""
        cfg = self.config
        shuffle = cfg.shuffle and training
        size = _size_of(data)
        if size == 0:
            raise ConfigError(
                f"the {'training' if training else 'validation'} data is empty; check the "
                "dataset and the split fractions"
            )
        num_classes = self._num_classes(model)
        # One batch shape on JAX (docs/backends.md#compiled-programs): drop the last partial
        # training batch, pad the last validation batch with zero-weight rows.
        fixed = _compile.fixed_batch_shapes()
        drop = fixed and training and size is not None and size >= cfg.batch_size
        pad = fixed and not training
        if _is_xraycls_dataset(data):
            from xraycls.data import make_py_dataset
            from xraycls.transforms import as_transform

            augmenter = None
            if training and cfg.augmentation is not None:
                from xraycls.augment import Augmenter

                augmenter = Augmenter.from_dict({**cfg.augmentation, "seed": cfg.seed})
            height, width = input_size(model)
            weights = None
            if training and cfg.sampling == "balanced":
                from xraycls.data._sampling import group_weights

                weights = group_weights(data.labels, data.sources)
            return make_py_dataset(
                data.files,
                np.asarray(data.labels, dtype=np.int64),
                num_classes,
                batch_size=cfg.batch_size,
                image_size=(height, width),
                augmenter=augmenter,
                shuffle=shuffle,
                seed=cfg.seed,
                images=getattr(data, "images", None),
                input_transform=as_transform(cfg.input_transform),
                # Fitted images are small (quick: 12 KB, paper: 48 KB each) and every epoch
                # reads them all again: decode once, unless they would not fit in memory.
                cache=len(data.labels) * height * width * 3 <= _CACHE_BYTES,
                epoch=epoch,
                sample_weights=weights,
                drop_remainder=drop,
                pad_remainder=pad,
            )
        if training and (cfg.sampling != "shuffle" or cfg.group_dro is not None):
            raise ConfigError(
                f"TrainConfig.sampling={cfg.sampling!r} and group_dro need to know every "
                "training image's class and source: pass an xraycls Dataset as training data, "
                f"not {type(data).__name__}"
            )
        if training and cfg.augmentation is not None:
            log.warning(
                "TrainConfig.augmentation applies to xraycls Datasets only; it is ignored for %s",
                type(data).__name__,
            )
        if _is_array_pair(data):
            from xraycls.pipeline._pydataset import array_batches

            y = _one_hot(data[1], num_classes)
            return array_batches(
                np.asarray(data[0], dtype=np.float32),
                y.argmax(axis=1),
                num_classes,
                batch_size=cfg.batch_size,
                shuffle=shuffle,
                seed=cfg.seed,
                epoch=epoch,
                drop_remainder=drop,
                pad_remainder=pad,
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

    def _save_checkpoint(self, name: str, extra: dict[str, Any]) -> None:
        from xraycls.zoo import save_model

        if self._training_data is not None:
            extra = {**extra, "training_data": self._training_data}
        save_model(
            self.model, self.run.path(name), class_names=list(self.class_names or []), extra=extra
        )

    def _resume_point(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The state and history of the last committed epoch (from ``last.keras``)."""
        from xraycls.zoo import load_model_info

        last = self.run.path("last.keras")
        if not last.exists():
            raise TrainingError(
                f"cannot resume: {self.workdir} has a state.json but no last.keras; start a new "
                "run in an empty folder"
            )
        info = load_model_info(last).extra  # the resume state is not a ModelInfo field
        if isinstance(info.get("state"), dict):
            state, history = dict(info["state"]), list(info.get("history", []))
        else:  # a checkpoint without embedded state: trust the side files
            state = self.run.read_json("state.json")
            history = list(self.run.read_json("history.json"))
        history = history[: int(state["epoch"])]
        # Re-do the side files in case the previous process died between the writes.
        if state.get("best_epoch") == state["epoch"]:
            self.run.copy_verified("last.keras", "best.keras")
        elif (
            self.run.set_aside_if_damaged("best.keras") or not self.run.path("best.keras").exists()
        ):
            # The way out of a damaged best checkpoint: its epoch's weights are lost, so the
            # best is chosen again among the epochs still to come.
            log.warning(
                "best.keras (epoch %s) is damaged or missing: the best checkpoint is chosen "
                "again from epoch %d on",
                state.get("best_epoch"),
                int(state["epoch"]) + 1,
            )
            state.setdefault("lost_best_epochs", []).append(state.get("best_epoch"))
            state.update(best=None, best_epoch=None)
        self.run.write_history(history)
        self.run.write_json("state.json", state)
        return state, history

    def _config_record(self, model: keras.Model) -> dict[str, Any]:
        return {
            "train_config": self.config.to_dict(),
            "model": self.model_name or model.name,
            "class_names": self.class_names,
            "image_size": list(input_size(model)),
            "strategy": _strategy.strategy_name(self._strategy),
            "replicas": _strategy.replicas(self._strategy),
            "mixed_precision": self._mixed,
            "xraycls_version": _version(),
        }

    def _check_resumed_config(self, model: keras.Model, epoch: int, override: bool) -> None:
        """Refuse a resume whose settings differ from the stored run's (or record them)."""
        path = self.run.path("config.json")
        stored = self.run.read_json("config.json") if path.exists() else {}
        new = self._config_record(model)
        old_cfg = TrainConfig.from_dict(stored.get("train_config", {})).to_dict()
        changed = {
            f"train_config.{k}": [old_cfg.get(k), v]
            for k, v in new["train_config"].items()
            if old_cfg.get(k) != v
        }
        for key in ("model", "class_names", "image_size"):
            if key in stored and stored[key] != new[key]:
                changed[key] = [stored[key], new[key]]
        refused = {k: v for k, v in changed.items() if k.split(".")[-1] not in _RESUMABLE_CHANGES}
        if refused and not override:
            shown = "; ".join(
                f"{k.split('.')[-1]}: {a!r} -> {b!r}" for k, (a, b) in refused.items()
            )
            raise ConfigError(
                f"cannot resume {self.workdir} with changed settings ({shown}); resume with the "
                "stored settings, or pass override_config=True (xraycls train --resume "
                "--override-config) to continue with the new ones, recorded in config.json"
            )
        if changed:
            if refused:
                log.warning("resuming with changed settings: %s", sorted(refused))
            changes = [*stored.get("changes", []), {"after_epoch": epoch, "changed": changed}]
            self.run.write_json("config.json", {**stored, **new, "changes": changes})

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
        restore_seed_states(model, state.get("seed_states", {}))

    # ------------------------------------------------------------------ training

    def _group_callbacks(
        self,
        model: keras.Model,
        state: dict[str, Any],
        data: tuple[Any, Any, Any, Any],
    ) -> list[keras.callbacks.Callback]:
        """Per-group validation metrics (with a validation Dataset) and group DRO."""
        from xraycls.train._groups import GroupDRO, GroupValidation

        cfg = self.config
        train, train_input, val, val_input = data
        found: list[keras.callbacks.Callback] = []
        if cfg.group_dro is not None and isinstance(train_input, ImageBatches):
            from xraycls.data._sampling import group_index

            keys, index = group_index(train.labels, train.sources)
            if state.get("group_shares") and len(state["group_shares"]) == len(keys):
                shares = np.asarray(state["group_shares"], dtype=np.float64)
            else:
                weights = train_input.sample_weights
                if weights is None:
                    weights = np.full(len(index), 1.0 / len(index))
                shares = np.bincount(index, weights=weights, minlength=len(keys)).astype(float)
            found.append(
                GroupDRO(
                    train_input,
                    np.asarray(train.labels),
                    train.sources,
                    step_size=cfg.group_dro,
                    shares=shares,
                    state=state,
                    probe=lambda rows: _compile.predict_padded(
                        model, train_input.images_at(rows), cfg.batch_size
                    ),
                    seed=cfg.seed,
                )
            )
        wants_groups = cfg.monitor in _GROUP_MONITORS
        if val is not None and _is_xraycls_dataset(val) and hasattr(val, "sources"):
            if wants_groups or len(set(val.sources)) > 1:
                found.append(
                    GroupValidation(
                        # [:n]: without the padding rows of the last batch (JAX)
                        lambda: model.predict(_feed(val_input), verbose=0)[: len(val.labels)],
                        np.asarray(val.labels),
                        val.sources,
                        list(self.class_names or []),
                        self._record_groups,
                        # The trainer compiled this loss; Keras's validation pass is dropped.
                        loss=model.loss,
                    )
                )
        elif wants_groups:
            raise ConfigError(
                f"TrainConfig.monitor={cfg.monitor!r} needs a validation xraycls Dataset (its "
                "images' classes and sources); pass one as val"
            )
        return found

    def _record_groups(self, epoch: int, found: dict[str, Any]) -> None:
        """Append epoch ``epoch``'s per-group validation metrics to ``val_groups.json``."""
        path = self.run.path("val_groups.json")
        rows = self.run.read_json("val_groups.json") if path.exists() else []
        rows = [r for r in rows if int(r.get("epoch", 0)) < epoch + 1]
        rows.append({"epoch": epoch + 1, **found})
        self.run.write_json("val_groups.json", rows)

    def _callbacks(
        self,
        state: dict[str, Any],
        train_input: Any,
        nan: NaNStop,
        groups: Sequence[keras.callbacks.Callback] = (),
        val_input: Any = None,
    ) -> list[keras.callbacks.Callback]:
        cfg = self.config
        own: list[keras.callbacks.Callback] = [
            keras.callbacks.LearningRateScheduler(lambda epoch, lr: learning_rate_at(cfg, epoch)),
            nan,
        ]
        if isinstance(train_input, ImageBatches):
            own.insert(0, train_input.epoch_callback())
            if cfg.batchnorm_batches and not _strategy.is_distributed(self._strategy):
                n = cfg.batchnorm_batches
                own.append(RecomputeBatchNorm(lambda: train_input.plain(n)))
        # Before early stopping and the checkpoint: they read what these add to the logs.
        own.extend(groups)
        own[:0] = _compile.padded_validation_loss(val_input)
        if cfg.early_stopping_patience is not None:
            own.append(
                ResumableEarlyStopping(
                    cfg.monitor, cfg.early_stopping_patience, cfg.mode, state["best"], state["wait"]
                )
            )
        own.append(
            Checkpoint(
                self.run,
                self._save_checkpoint,
                monitor=cfg.monitor,
                mode=cfg.mode,
                state=state,
                history=self.history,
                learning_rate=lambda epoch: learning_rate_at(cfg, epoch),
                nan=nan,
            )
        )
        return own

    def fit(
        self,
        train: Any,
        val: Any = None,
        *,
        resume: bool = False,
        override_config: bool = False,
        callbacks: Iterable[keras.callbacks.Callback] = (),
    ) -> dict[str, list[Any]]:
        """Train in one ``model.fit``, checkpointing every epoch; end with the best weights.

        The run folder receives ``config.json``, ``history.csv``/``history.json``,
        ``last.keras`` (every epoch, with optimizer state), ``best.keras`` (best ``monitor``),
        ``state.json`` (resume point) and, for ``Dataset`` inputs that can write one,
        ``train.csv``/``val.csv`` manifests. While training, ``.train.lock`` names the process.

        Args:
            train: An :class:`xraycls.data.Dataset` (decoded, letterboxed to the model's input
                size, shuffled and augmented per ``config``), a ``tf.data.Dataset`` of
                ``(images, one-hot labels)`` batches (used as given), or an
                ``(images, labels)`` pair of arrays.
            val: Validation data of the same kinds, or ``None`` (then monitor a training
                metric such as ``"accuracy"``).
            resume: Continue the run in ``workdir`` from its last completed epoch; history is
                appended. Without a previous run it starts from scratch.
            override_config: When resuming, accept settings that differ from the stored run
                (learning rate, batch size, image size...); the change is recorded under
                ``"changes"`` in ``config.json``. More ``epochs`` never need it.
            callbacks: Extra Keras callbacks; they see one ``on_train_begin`` for the whole run
                and may end it with ``model.stop_training = True``.

        Returns:
            The history as ``{column: [value per epoch]}`` (like ``keras.callbacks.History``).

        Raises:
            TrainingError: The loss became NaN/inf (with the epoch and batch), the run cannot
                be resumed, or another process trains in ``workdir``.
            ConfigError: Invalid settings, ``workdir`` already holds a run and ``resume`` is
                false, or a resume with changed settings without ``override_config``.
            KeyboardInterrupt: Propagated after the last completed epoch was saved; call again
                with ``resume=True`` to continue.
        """
        cfg = self.config
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
        if _is_xraycls_dataset(train) and hasattr(train, "sources"):
            from xraycls.train._summary import training_summary

            self._training_data = training_summary(train, self._data_info)
        with self.run.lock():
            self.run.clean_temp()
            previous = self.run.path("state.json").exists() or self.run.path("last.keras").exists()
            if previous and not resume:
                raise ConfigError(
                    f"{self.workdir} already holds a training run (state.json); pass resume=True "
                    "to continue it, or choose an empty workdir"
                )
            state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": None, "wait": 0}
            self.history = []
            if previous:
                state, self.history = self._resume_point()
                self._check_resumed_config(model, int(state["epoch"]), override_config)
                keras.utils.set_random_seed(cfg.seed)
                self._restore(model, state)
                log.info("resuming %s after epoch %d", self.workdir, state["epoch"])
            else:
                if resume:
                    log.info("nothing to resume in %s; starting from scratch", self.workdir)
                self.run.write_json("config.json", self._config_record(model))
                self._write_splits(train=train, val=val)
            self._fit(model, train, val, state, list(callbacks))
            self._restore_best(model)
        return self._columns()

    def _fit(
        self,
        model: keras.Model,
        train: Any,
        val: Any,
        state: dict[str, Any],
        user_callbacks: list[keras.callbacks.Callback],
    ) -> None:
        cfg = self.config
        patience = cfg.early_stopping_patience
        if state["epoch"] >= cfg.epochs or (patience is not None and state["wait"] >= patience):
            return  # finished (or early-stopped) before: nothing to train
        initial_epoch = int(state["epoch"])
        train_input = self._input(train, model, training=True, epoch=initial_epoch)
        val_input = None if val is None else self._input(val, model, training=False)
        nan = NaNStop()
        groups = self._group_callbacks(model, state, (train, train_input, val, val_input))
        if any(getattr(g, "replaces_validation", False) for g in groups):
            val_input = None  # the group callback predicts the validation set once per epoch
        model.fit(
            _feed(train_input),
            validation_data=None if val_input is None else _feed(val_input),
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            class_weight=self._class_weight(train, self._num_classes(model)),
            callbacks=[
                *self._callbacks(state, train_input, nan, groups, val_input),
                *user_callbacks,
            ],
            verbose=cfg.verbose,
            shuffle=False,  # ImageBatches shuffle per (seed, epoch); other inputs are used as given
        )
        if nan.batch is not None:
            lr = learning_rate_at(cfg, nan.epoch)
            raise TrainingError(
                f"the training loss became {nan.loss} at epoch {nan.epoch + 1}, batch "
                f"{nan.batch + 1}; stopped without saving this epoch. Lower the learning "
                f"rate (now {lr:g}), check the input data for NaN, or use gradient "
                "clipping (optimizer_kwargs={'clipnorm': 1.0})."
            )

    def _restore_best(self, model: keras.Model) -> None:
        best_path = self.run.path("best.keras")
        if best_path.exists():
            try:
                model.load_weights(best_path)
            except Exception as exc:
                raise ModelFileError(
                    f"{best_path}: cannot restore the best weights ({exc}); resume=True "
                    "(xraycls train --resume) sets a damaged best.keras aside and continues"
                ) from None

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
