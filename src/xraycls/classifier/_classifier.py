"""``Classifier``: load a saved xraycls model and predict image files or arrays.

Decoding and letterbox resizing (:func:`xraycls.imaging.load_fitted`, the function the
training pipeline uses, so predictions see exactly what training saw) and batching happen
inside; the backbone's preprocessing is part of the model.

Examples:
    >>> from xraycls.predict import Classifier
    >>> clf = Classifier.load("runs/x/best.keras")  # doctest: +SKIP
    >>> clf.predict_labels(["scan1.png", "scan2.png"])  # doctest: +SKIP
    ['COVID', 'NORMAL']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from xraycls.errors import ConfigError, ImageReadError, ModelFileError
from xraycls.imaging import input_size, load_fitted

if TYPE_CHECKING:
    from xraycls.calibration import Calibration

__all__ = ["Classifier", "ImagePrediction", "expand_paths"]

Input = str | os.PathLike[str] | np.ndarray


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
class ImagePrediction:
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
    cam: np.ndarray | None = None
    image: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (without the ``cam`` and ``image`` arrays)."""
        return {
            "source": self.source,
            "class": self.label,
            "probabilities": dict(self.probabilities),
            "decision": self.decision,
            "uncertainty": self.uncertainty,
        }


def _tta_views(batch: np.ndarray) -> list[np.ndarray]:
    """The batch, its mirror image, and 10 % zoomed in and out (same size, zero padding)."""
    import cv2

    n, h, w, _ = batch.shape
    views = [batch, batch[:, :, ::-1, :]]
    for scale in (1.1, 1 / 1.1):
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        out = np.zeros_like(batch)
        for i in range(n):
            img = cv2.resize(batch[i], (sw, sh), interpolation=cv2.INTER_AREA)
            if scale > 1:  # zoom in: centre crop
                y, x = (sh - h) // 2, (sw - w) // 2
                out[i] = img[y : y + h, x : x + w]
            else:  # zoom out: centre on black, like the letterbox padding
                y, x = (h - sh) // 2, (w - sw) // 2
                out[i, y : y + sh, x : x + sw] = img
        views.append(out)
    return views


class Classifier:
    """A trained model together with its class names and input size, ready to predict.

    Args:
        model: A Keras model taking raw ``[0, 255]`` RGB batches of a fixed size.
        class_names: One name per output.
        resize: How images are fitted to the input size: ``"pad"`` (letterbox, as in
            training), ``"stretch"`` or ``"crop"``.
        input_transform: The :class:`xraycls.transforms.InputTransform` (or its dict) applied
            to every image before resizing; ``None``: the one stored with the model
            (:meth:`load` reads it from the file), else none.
        calibration: Temperature, operating threshold and abstain rule (read from the model
            file by :meth:`load` after ``xraycls calibrate``); ``None``: raw probabilities and
            no decision.
        info: The model file's stored information (:meth:`load` passes it), kept as
            :attr:`info`: ``info.get("training_data")`` says what the model was trained on.

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
        class_names: Sequence[str],
        *,
        resize: str = "pad",
        input_transform: Any = None,
        calibration: Calibration | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        from xraycls.transforms import as_transform, transform_of

        #: Everything stored with the model file (``xraycls.json``): class names, backbone,
        #: ``training_data`` (what it was trained on), calibration...; empty for a bare model.
        self.info: dict[str, Any] = dict(info or {})
        self.model = model
        self.calibration = calibration
        self.class_names = [str(c) for c in class_names]
        self.image_size = input_size(model)
        self.resize = resize
        self.input_transform = (
            transform_of(model) if input_transform is None else as_transform(input_transform)
        )
        outputs = int(model.output_shape[-1])
        if outputs != len(self.class_names):
            raise ConfigError(
                f"{len(self.class_names)} class names {self.class_names} for a model with "
                f"{outputs} outputs"
            )

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
        from xraycls.zoo import load_model, read_model_info

        info = read_model_info(path)
        model = load_model(path, safe_mode=safe_mode, compile=False)
        names = info.get("class_names")
        if not names:
            raise ModelFileError(f"{os.fspath(path)}: the model file records no class names")
        from xraycls.calibration import INFO_KEY, Calibration

        calibration = None
        if info.get(INFO_KEY):
            try:
                calibration = Calibration.from_dict(info[INFO_KEY])
            except (ConfigError, TypeError) as exc:
                raise ModelFileError(
                    f"{os.fspath(path)}: the stored calibration is unreadable ({exc}); "
                    "run `xraycls calibrate` again"
                ) from exc
        try:
            input_size(model)  # an absurd stored size (200000x200000) is refused here, by file
        except ConfigError as exc:
            raise ModelFileError(f"{os.fspath(path)}: {exc}") from exc
        return cls(model, names, calibration=calibration, info=info)

    # ------------------------------------------------------------------ inputs

    def _prepare(self, item: Input) -> np.ndarray:
        fitted, _, _ = load_fitted(
            item, *self.image_size, self.resize, transform=self.input_transform
        )
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

    def _predict_items(self, items: Sequence[Input], batch_size: int, progress: bool) -> np.ndarray:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        if not items:
            return np.zeros((0, len(self.class_names)), np.float32)
        bar = None
        if progress:
            import keras

            bar = keras.utils.Progbar(len(items), unit_name="image")
        out = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            batch = np.stack([self._prepare(item) for item in chunk])
            raw = np.asarray(self.model.predict_on_batch(batch), dtype=np.float32)
            out.append(self._calibrated(raw).astype(np.float32))
            if bar is not None:
                bar.add(len(chunk))
        return np.concatenate(out, axis=0)

    def prepare(self, item: Input) -> np.ndarray:
        """Decode (if a path) and fit one image to the model input: ``float32 (H, W, 3)``.

        Raises:
            ImageReadError: The file cannot be read.
            ConfigError: The array has an unsupported shape.
        """
        return self._prepare(item)

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
        n = len(batch)
        if n == 0:
            return []
        spread = None
        if tta:
            views = _tta_views(batch)
            raw = np.asarray(self.model.predict_on_batch(np.concatenate(views)), np.float64)
            per_view = np.stack(
                [self._calibrated(raw[i * n : (i + 1) * n]) for i in range(len(views))]
            )
            probs = per_view.mean(axis=0)
            spread = per_view.std(axis=0).max(axis=1)
        else:
            raw = np.asarray(self.model.predict_on_batch(batch), np.float64)
            probs = self._calibrated(raw)
        decisions: list[str | None] = [None] * n
        if self.calibration is not None:
            decisions = list(self.calibration.decide(probs, self.class_names, spread))
        top = probs.argmax(axis=1)
        heat = None
        if explain:
            from xraycls.explain import cam

            heat = np.asarray(cam(self.model, batch, class_index=top, method="gradcam"))
        names = list(sources) if sources is not None else [None] * n
        return [
            ImagePrediction(
                source=names[i],
                label=self.class_names[int(top[i])],
                probabilities={
                    c: float(v) for c, v in zip(self.class_names, probs[i], strict=True)
                },
                decision=decisions[i],
                uncertainty=None if spread is None else float(spread[i]),
                cam=None if heat is None else heat[i],
                image=None if heat is None else np.clip(batch[i], 0, 255).astype(np.uint8),
            )
            for i in range(n)
        ]

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration is None:
            return np.asarray(raw, np.float64)
        return np.asarray(self.calibration.probabilities(raw), np.float64)

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
            progress: Show a progress bar.
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
        if not details and not tta:
            return self._predict_items(items, batch_size, progress)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        results: list[ImagePrediction] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            batch = np.stack([self._prepare(item) for item in chunk])
            sources = [None if isinstance(i, np.ndarray) else str(i) for i in chunk]
            results.extend(self.predict_prepared(batch, sources=sources, explain=explain, tta=tta))
        if details:
            return results
        return np.array(
            [[r.probabilities[c] for c in self.class_names] for r in results], np.float32
        ).reshape(len(results), len(self.class_names))

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
        probs = self._predict_items(items, batch_size, progress)
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
