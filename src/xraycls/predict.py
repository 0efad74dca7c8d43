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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xraycls.errors import ConfigError, ImageReadError, ModelFileError
from xraycls.imaging import input_size, load_fitted

__all__ = ["Classifier", "expand_paths"]

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
    ) -> None:
        from xraycls.transforms import as_transform, transform_of

        self.model = model
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
        return cls(model, names)

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
            out.append(np.asarray(self.model.predict_on_batch(batch), dtype=np.float32))
            if bar is not None:
                bar.add(len(chunk))
        return np.concatenate(out, axis=0)

    def predict(
        self,
        inputs: Input | Sequence[Input],
        *,
        batch_size: int = 32,
        progress: bool = False,
    ) -> np.ndarray:
        """Class probabilities, shape ``(N, C)``, in input order.

        Args:
            inputs: A path (file or folder), an image array (``(H, W)``, ``(H, W, C)``), a
                batch ``(N, H, W, C)``, or a sequence of paths and arrays. Arrays hold raw
                pixel values in ``[0, 255]``; folders expand to their image files, sorted.
            batch_size: Images per forward pass.
            progress: Show a progress bar.

        Raises:
            ImageReadError: A file cannot be read (the path is in the message).
        """
        return self._predict_items(self._items(inputs), batch_size, progress)

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
