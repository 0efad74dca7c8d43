"""``Classifier``: a Keras model with its :class:`xraycls.zoo.ModelInfo`, ready to predict.

Decoding and letterbox resizing (:func:`xraycls.imaging.load_fitted`, the function the
training pipeline uses, so predictions see exactly what training saw), the stored input
transform and calibration are applied here; the backbone's preprocessing is part of the
model. Every prediction goes through :meth:`Classifier.predict_batches` (``_loop.py``).

Examples:
    >>> from xraycls import Classifier
    >>> clf = Classifier.load("runs/x/best.keras")  # doctest: +SKIP
    >>> clf.predict_labels(["scan1.png", "scan2.png"])  # doctest: +SKIP
    ['COVID', 'NORMAL']
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import numpy as np

from xraycls._serial import Serial
from xraycls.errors import ConfigError, ImageReadError, ModelFileError
from xraycls.imaging import input_size, load_fitted
from xraycls.zoo import ModelHandle, ModelInfo

if TYPE_CHECKING:
    from xraycls.classifier._loop import PredictionBatch
    from xraycls.decision import Calibration

__all__ = ["Classifier", "ImagePrediction", "Input", "expand_paths"]

Input = str | os.PathLike[str] | np.ndarray
T = TypeVar("T")


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files as given, and the image files inside folders (recursively, sorted).

    Raises:
        ImageReadError: A path does not exist.
        ConfigError: A folder holds no image file.

    Examples:
        >>> expand_paths([])
        []
    """
    from xraycls.io import IMAGE_EXTENSIONS

    out: list[str] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise ConfigError(f"{p}: the folder holds no image file")
            out.extend(found)
        elif p.exists():
            out.append(str(p))
        else:
            raise ImageReadError(p, "no such file or folder")
    return out


@dataclass
class ImagePrediction(Serial):
    """What :meth:`Classifier.predict` says about one image with ``details=True``.

    Attributes:
        source: The file path, or ``None`` for an array.
        label: The most probable class.
        probabilities: Class name -> calibrated probability (raw softmax when the model file
            has no calibration).
        decision: ``"COVID"``, ``"not COVID"`` or ``"refer"`` at the stored operating point
            (see :class:`xraycls.calibration.Calibration`); ``None`` for an uncalibrated model.
        uncertainty: With test-time augmentation, the largest standard deviation of a class
            probability across the views; else ``None``.
        cam: With ``explain=True``, the Grad-CAM heat map ``(H, W)`` in ``[0, 1]`` of the
            predicted class, at the model's input size.
        image: With ``explain=True``, the letterboxed ``uint8`` input the model saw (to draw
            the heat map over with :func:`xraycls.overlay`).
    """

    source: str | None
    label: str
    probabilities: dict[str, float]
    decision: str | None = None
    uncertainty: float | None = None
    cam: np.ndarray | None = field(default=None, compare=False, metadata={"serial": False})
    image: np.ndarray | None = field(default=None, compare=False, metadata={"serial": False})

    # JSON (serve's responses, predict's JSON Lines) names the label "class"; the arrays are
    # left out (``metadata={"serial": False}``).
    def _to_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {("class" if k == "label" else k): v for k, v in data.items()}

    @classmethod
    def _migrate(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {("label" if k == "class" else k): v for k, v in data.items()}


def _source(item: Any) -> str | None:
    """The file name of an item (``None`` for an array or an unnamed image)."""
    return None if item is None or isinstance(item, np.ndarray) else str(item)


class _Locked:
    """An input transform run one call at a time: a lung crop runs a Keras model, which the
    loop's decoding threads must not call concurrently."""

    def __init__(self, transform: Any) -> None:
        self._transform = transform
        self._lock = threading.Lock()
        self.is_identity = bool(transform.is_identity)

    def apply(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._transform.apply(image))


class Classifier(ModelHandle):
    """The model handle: a Keras model and its :class:`xraycls.zoo.ModelInfo`.

    Every entry point (``evaluate``, ``calibrate``, ``export_model``, ``audit``,
    ``evaluate_robustness``, ``predict_files``, ``create_app``...) turns what it is given into
    one with :func:`xraycls.as_classifier` and predicts through :meth:`predict_batches`, so the
    stored input transform and calibration apply the same way everywhere.

    Args:
        model: A Keras model taking raw ``[0, 255]`` RGB batches of a fixed size.
        class_names: One name per output; default those of ``info``.
        resize: How images are fitted to the input size: ``"pad"`` (letterbox, as in
            training), ``"stretch"`` or ``"crop"``; default that of ``info``, else ``"pad"``.
        input_transform: The :class:`xraycls.transforms.InputTransform` (or its dict) applied
            to every image before resizing; ``None``: the one in ``info``, else the one
            attached to ``model`` by training, else none.
        calibration: Temperature, operating threshold and abstain rule; ``None``: the one in
            ``info`` (written by ``xraycls calibrate``), else raw probabilities and no decision.
        info: The model's :class:`xraycls.zoo.ModelInfo` (or its stored dict form);
            :meth:`load` reads it from the file. The arguments above override its fields.

    Attributes:
        info: The :class:`ModelInfo` the classifier uses (overrides applied):
            ``info.training_data`` says what the model was trained on.

    Examples:
        >>> import numpy as np, keras
        >>> inp = keras.Input((8, 8, 3))
        >>> out = keras.layers.Dense(2, activation="softmax")(
        ...     keras.layers.GlobalAveragePooling2D()(inp))
        >>> clf = Classifier(keras.Model(inp, out), ["a", "b"])
        >>> clf.predict(np.zeros((20, 30), np.uint8)).shape
        (1, 2)
    """

    def __init__(
        self,
        model: Any,
        class_names: Sequence[str] | None = None,
        *,
        resize: str | None = None,
        input_transform: Any = None,
        calibration: Calibration | None = None,
        info: ModelInfo | Mapping[str, Any] | None = None,
    ) -> None:
        from xraycls.transforms import as_transform, transform_of

        base = info if isinstance(info, ModelInfo) or info is None else ModelInfo.from_dict(info)
        if class_names is None and base is None:
            raise ConfigError("Classifier: give class_names or info (a ModelInfo)")
        names = tuple(str(c) for c in class_names) if class_names is not None else None
        if base is None:
            assert names is not None
            base = ModelInfo(class_names=names, backbone=str(getattr(model, "name", "")))
            if input_transform is None:  # a model the trainer built carries its transform
                input_transform = transform_of(model)
        changes: dict[str, Any] = {}
        if names is not None:
            changes["class_names"] = names
        if resize is not None:
            changes["resize"] = resize
        if input_transform is not None:
            changes["input_transform"] = as_transform(input_transform)
        if calibration is not None:
            changes["calibration"] = calibration
        self.info: ModelInfo = replace(base, **changes) if changes else base
        self.model = model
        self.image_size = input_size(model)
        outputs = int(model.output_shape[-1])
        if outputs != len(self.class_names):
            raise ConfigError(
                f"{len(self.class_names)} class names {self.class_names} for a model with "
                f"{outputs} outputs"
            )
        self._transform = _Locked(self.info.input_transform)

    # ------------------------------------------------------------------ what the info says

    @property
    def class_names(self) -> list[str]:
        """One name per model output."""
        return list(self.info.class_names)

    @property
    def resize(self) -> str:
        """How images are fitted to the input: ``"pad"``, ``"stretch"`` or ``"crop"``."""
        return self.info.resize

    @property
    def input_transform(self) -> Any:
        """The :class:`xraycls.transforms.InputTransform` applied before resizing."""
        return self.info.input_transform

    @property
    def calibration(self) -> Calibration | None:
        """The stored :class:`xraycls.Calibration`, or ``None``."""
        return self.info.calibration

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, safe_mode: bool = True) -> Classifier:
        """Load a model file written by :func:`xraycls.save_model` (or a ``Trainer``).

        Args:
            path: The ``.keras`` file.
            safe_mode: Keras safe mode (refuses files with Python code); keep it on unless you
                trust the file.

        Raises:
            ModelFileError: Missing, corrupt or refused file, or no class names in it.
        """
        from xraycls.zoo import load_model, load_model_info

        info = load_model_info(path)  # named, checked errors before Keras reads anything
        model = load_model(path, safe_mode=safe_mode, compile=False)
        try:
            input_size(model)  # an absurd stored size (200000x200000) is refused here, by file
        except ConfigError as exc:
            raise ModelFileError(f"{os.fspath(path)}: {exc}") from exc
        return cls(model, info=info)

    # ------------------------------------------------------------------ inputs

    def prepare(self, item: Input) -> np.ndarray:
        """Decode (if a path), transform and fit one image to the model: ``float32 (H, W, 3)``.

        Raises:
            ImageReadError: The file cannot be read.
            ConfigError: The array has an unsupported shape.
        """
        fitted, _, _ = load_fitted(item, *self.image_size, self.resize, transform=self._transform)
        return fitted.astype(np.float32)

    @staticmethod
    def _items(inputs: Input | Sequence[Input]) -> list[Input]:
        if isinstance(inputs, np.ndarray):
            return list(inputs) if inputs.ndim == 4 else [inputs]
        if isinstance(inputs, (str, os.PathLike)):
            return list(expand_paths([inputs]))
        items: list[Input] = []
        for item in inputs:
            if isinstance(item, np.ndarray):
                items.append(item)
            else:
                items.extend(expand_paths([item]))
        return items

    # ------------------------------------------------------------------ prediction

    def predict_batches(
        self,
        items: Sequence[T] | None = None,
        *,
        batches: Iterable[Any] | None = None,
        prepare: Callable[[T], np.ndarray] | None = None,
        batch_size: int = 32,
        tta: bool = False,
        explain: bool = False,
        cam_method: str = "gradcam",
        calibrated: bool = True,
        errors: Literal["raise", "keep"] = "raise",
        workers: int | None = None,
        progress: bool = False,
    ) -> Iterator[PredictionBatch]:
        """The one prediction loop: every xraycls prediction runs through it.

        Items are prepared (decoded, transformed, fitted) by a small thread pool up to two
        batches ahead of the model; each model call sees one batch (padded to ``batch_size`` on
        JAX, so one compiled program serves every batch); probabilities are calibrated with the
        stored calibration unless ``calibrated=False``.

        Args:
            items: What to predict, in order: paths or arrays by default, anything ``prepare``
                takes otherwise.
            batches: Instead of ``items``: ready ``(images, payload...)`` batches at the
                model's input size (a ``tf.data.Dataset``...), predicted as they come; the
                payload (labels) is passed through as :attr:`PredictionBatch.items`.
            prepare: ``item -> float32 (H, W, 3)`` at the input size; default
                :meth:`prepare` (read, stored transform, fit).
            batch_size: Images per model call.
            tta: Average over the image, its mirror and 10 % zooms; the spread is returned.
            explain: Add the class activation map of the predicted class.
            cam_method: Its method (any :func:`xraycls.cam` method).
            calibrated: Apply the stored calibration (``False``: raw softmax, to fit one).
            errors: ``"raise"``: an item that cannot be prepared stops the loop;
                ``"keep"``: it is reported in :attr:`PredictionBatch.errors` and skipped.
            workers: Preparing threads; default ``min(4, CPUs)``.
            progress: Show a progress bar (default off, as everywhere in the library; the CLI
                shows one unless ``--quiet``).

        Yields:
            One :class:`PredictionBatch` per model call, in input order.

        Raises:
            ConfigError: Bad ``batch_size``, ``workers`` or ``errors``, or both or neither of
                ``items`` and ``batches``.
        """
        from xraycls.classifier._loop import run_loop

        return run_loop(
            self,
            items,
            batches=batches,
            prepare=prepare or self.prepare,
            batch_size=batch_size,
            tta=tta,
            explain=cam_method if explain else None,
            calibrated=calibrated,
            errors=errors,
            workers=workers,
            progress=progress,
        )

    def predict_prepared(
        self,
        batch: np.ndarray,
        *,
        sources: Sequence[str | None] | None = None,
        explain: bool = False,
        tta: bool = False,
    ) -> list[ImagePrediction]:
        """Predict a batch already fitted by :meth:`prepare` (one model call; TTA adds views).

        Args:
            batch: ``(N, H, W, 3)`` float32 in ``[0, 255]`` at the model's input size.
            sources: A file name (or ``None``) per image, copied into the results.
            explain: Add the Grad-CAM of the predicted class.
            tta: Average over the image, its mirror and 10 % zooms; the spread is the
                uncertainty (and an abstain reason with a calibration).
        """
        if len(batch) == 0:
            return []
        names = list(sources) if sources is not None else [None] * len(batch)
        out: list[ImagePrediction] = []
        for part in self.predict_batches(
            batches=[(np.asarray(batch, np.float32), names)],
            batch_size=max(1, len(batch)),
            explain=explain,
            tta=tta,
        ):
            out.extend(self.details(part))
        return out

    def details(self, part: PredictionBatch) -> list[ImagePrediction]:
        """One :class:`ImagePrediction` per predicted image of a loop batch (decisions made)."""
        probs, spread = part.probabilities, part.spread
        decisions: list[str | None] = [None] * len(probs)
        if self.calibration is not None:
            decisions = list(self.calibration.decide(probs, self.class_names, spread))
        top = probs.argmax(axis=1)
        # The items that were predicted: those without a preparation error.
        errors = list(part.errors) or [None] * len(part.items)
        names = [item for item, exc in zip(part.items, errors, strict=True) if exc is None]
        return [
            ImagePrediction(
                source=_source(names[i]),
                label=self.class_names[int(top[i])],
                probabilities={
                    c: float(v) for c, v in zip(self.class_names, probs[i], strict=True)
                },
                decision=decisions[i],
                uncertainty=None if spread is None else float(spread[i]),
                cam=None if part.cam is None else part.cam[i],
                image=None
                if part.cam is None
                else np.clip(part.images[i], 0, 255).astype(np.uint8),
            )
            for i in range(len(probs))
        ]

    @overload
    def predict(
        self,
        inputs: Input | Sequence[Input],
        *,
        batch_size: int = ...,
        progress: bool = ...,
        details: Literal[False] = ...,
        explain: bool = ...,
        tta: bool = ...,
    ) -> np.ndarray: ...

    @overload
    def predict(
        self,
        inputs: Input | Sequence[Input],
        *,
        batch_size: int = ...,
        progress: bool = ...,
        details: Literal[True],
        explain: bool = ...,
        tta: bool = ...,
    ) -> list[ImagePrediction]: ...

    def predict(
        self,
        inputs: Input | Sequence[Input],
        *,
        batch_size: int = 32,
        progress: bool = False,
        details: bool = False,
        explain: bool = False,
        tta: bool = False,
    ) -> np.ndarray | list[ImagePrediction]:
        """Class probabilities ``(N, C)`` in input order, or one :class:`ImagePrediction` each.

        Probabilities are calibrated when the model file carries a calibration (see
        ``xraycls calibrate``); the argmax never changes.

        Args:
            inputs: A path (file or folder), an image array (``(H, W)``, ``(H, W, C)``), a
                batch ``(N, H, W, C)``, or a sequence of paths and arrays. Arrays hold raw
                pixel values in ``[0, 255]``; folders expand to their image files, sorted.
            batch_size: Images per forward pass.
            progress: Show a progress bar (default off, as everywhere in the library; the CLI
                shows one unless ``--quiet``).
            details: Return :class:`ImagePrediction` objects (class, calibrated probabilities,
                decision COVID / not COVID / refer, uncertainty, Grad-CAM) instead of an
                array.
            explain: With ``details``, add the Grad-CAM of the predicted class.
            tta: Test-time augmentation (mirror, 10 % zoom in and out): probabilities are
                the mean over the views and ``uncertainty`` their spread.

        Raises:
            ImageReadError: A file cannot be read (the path is in the message).

        Examples:
            >>> clf.predict("scan1.png", details=True)[0].decision  # doctest: +SKIP
            'not COVID'
        """
        items = self._items(inputs)
        parts = self.predict_batches(
            items,
            batch_size=batch_size,
            progress=progress,
            explain=explain and details,
            tta=tta,
        )
        if details:
            return [p for part in parts for p in self.details(part)]
        probs = [part.probabilities.astype(np.float32) for part in parts]
        if not probs:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(probs, axis=0)

    def predict_labels(self, inputs: Input | Sequence[Input], *, batch_size: int = 32) -> list[str]:
        """The most probable class name per input."""
        probs = self.predict(inputs, batch_size=batch_size)
        return [self.class_names[i] for i in probs.argmax(axis=1)]

    def predict_table(
        self,
        inputs: Input | Sequence[Input],
        *,
        batch_size: int = 32,
        progress: bool = False,
    ) -> list[dict[str, Any]]:
        """One row per input: ``file`` (or ``None`` for arrays), ``label``, ``probability``
        (of the label), then one column per class.

        Examples:
            >>> clf.predict_table(["scan1.png"])  # doctest: +SKIP
            [{'file': 'scan1.png', 'label': 'COVID', 'probability': 0.93, 'COVID': 0.93, ...}]
        """
        items = self._items(inputs)
        probs = self.predict(items, batch_size=batch_size, progress=progress)
        rows = []
        for item, p in zip(items, probs, strict=True):
            k = int(p.argmax())
            row: dict[str, Any] = {
                "file": None if isinstance(item, np.ndarray) else str(item),
                "label": self.class_names[k],
                "probability": float(p[k]),
            }
            row.update({name: float(v) for name, v in zip(self.class_names, p, strict=True)})
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        h, w = self.image_size
        return f"Classifier({self.model.name!r}, classes={self.class_names}, input={h}x{w})"
