"""Class activation overlays for image files, written as PNGs (what ``xraycls cam`` runs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xraycls._atomic import write_bytes_atomic
from xraycls.errors import ConfigError, ImageReadError
from xraycls.explain._cam import METHODS, cam
from xraycls.explain._images import load_fitted_batch
from xraycls.explain._overlay import overlay
from xraycls.explain._target import split_model
from xraycls.imaging import unfit


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp file in the same folder, then replace)."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageReadError(path, "could not encode the overlay as PNG")
    return write_bytes_atomic(path, buf.tobytes())


def _load_model(model: Any) -> Any:
    if not isinstance(model, (str, os.PathLike)):
        return model
    try:
        from xraycls.zoo import load_model
    except ImportError:  # the zoo is optional for plain Keras files
        import keras

        return keras.saving.load_model(model)
    return load_model(model)


def _resolve(model: Any) -> tuple[Any, Any]:
    """``(keras model, its ModelInfo or None)`` for a model file, a Keras model or a
    :class:`xraycls.Classifier` (a :class:`xraycls.zoo.ModelHandle`, recognised by type)."""
    from xraycls.zoo import ModelHandle, info_of

    if isinstance(model, ModelHandle):
        return model.model, model.info
    keras_model = _load_model(model)
    return keras_model, info_of(keras_model)  # stored when the zoo loaded the file


def _class_by_name(info: Any, name: str) -> int:
    if name.lstrip("-").isdigit():
        return int(name)
    names: list[str] = [] if info is None else list(info.class_names)
    if name not in names:
        known = f"the model's classes are {names}" if names else "the model has no class names"
        raise ConfigError(f"class_index={name!r} is not a class index or name; {known}.")
    return names.index(name)


def write_overlays(
    model: Any,
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    method: str = "gradcam",
    class_index: int | str | None = None,
    layer: str | None = None,
    alpha: float = 0.4,
    colormap: str = "jet",
    batch_size: int = 16,
    resize: str | None = None,
) -> list[Path]:
    """Compute class activation maps for image files and save one overlay PNG per image.

    Images are fitted to the model's input size as in training (letterbox by default); the map
    is mapped back and drawn on the image at its original size.

    Args:
        model: A ``keras.Model``, the path of a saved ``.keras`` model, or a
            :class:`xraycls.Classifier` (its input transform and resize mode are used).
        paths: Image files.
        out_dir: Folder for the PNGs (created if missing); ``<stem>_<method>.png`` per image.
        method: ``"gradcam"``, ``"gradcam++"``, ``"cam"`` or ``"scorecam"`` (see
            :func:`xraycls.cam`).
        class_index: Class to explain for every image, as an index or (for a model file saved
            by :func:`xraycls.save_model`) a class name; ``None`` explains the predicted class.
        layer: Target layer name or path; default :func:`xraycls.find_target_layer`.
        alpha: Colour map weight in the blend.
        colormap: OpenCV colour map name.
        batch_size: Images per forward/backward pass.
        resize: How images were fitted to the model in training: ``"pad"``, ``"stretch"``
            or ``"crop"``; default the model's stored mode, else ``"pad"``.

    Returns:
        The written files, in the order of ``paths``.

    Raises:
        ImageReadError: An image cannot be read.
        ConfigError: Bad method, layer, class index or batch size.

    Examples:
        >>> from xraycls.explain import write_overlays
        >>> write_overlays("run/best.keras", ["a.png"], "cams")  # doctest: +SKIP
        [PosixPath('cams/a_gradcam.png')]
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1.")
    if not paths:
        raise ConfigError("no image files given.")
    keras_model, info = _resolve(model)
    if isinstance(class_index, str):
        class_index = _class_by_name(info, class_index)
    if resize is None:
        resize = "pad" if info is None else info.resize
    # Fail on a bad method or layer before reading any image.
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not one of {list(METHODS)}.")
    split_model(keras_model, layer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = method.replace("++", "pp")
    written: list[Path] = []
    used: set[str] = set()
    for start in range(0, len(paths), batch_size):
        chunk = list(paths[start : start + batch_size])
        transform = None if info is None else info.input_transform
        batch, originals, boxes = load_fitted_batch(chunk, keras_model, resize, transform)
        heat = cam(keras_model, batch, class_index=class_index, method=method, layer=layer)
        for src, img, h, box in zip(chunk, originals, heat, boxes, strict=True):
            name = f"{Path(src).stem}_{tag}"
            stem, k = name, 1
            while stem in used:  # same file name from different folders
                k += 1
                stem = f"{name}_{k}"
            used.add(stem)
            written.append(
                write_png(
                    out / f"{stem}.png", overlay(img, unfit(h, box, img.shape), alpha, colormap)
                )
            )
    return written
