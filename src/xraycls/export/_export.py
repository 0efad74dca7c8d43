"""``export_model()``: a saved xraycls model -> SavedModel, ONNX or TFLite, with its metadata."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from xraycls._atomic import atomic_target, write_text_atomic
from xraycls.classifier import ModelLike, as_classifier
from xraycls.errors import ConfigError, DependencyError, ModelFileError

__all__ = ["FORMATS", "export_model", "load_export_info", "read_export_info", "sidecar_path"]

#: Export format -> the ``keras.Model.export`` format that writes it.
FORMATS: dict[str, str] = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}
_NEEDS = {"onnx": ("onnx", "tf2onnx")}


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """Where the metadata of an exported artefact lives.

    A SavedModel folder holds it as ``xraycls.json``; a file ``model.onnx`` has it beside as
    ``model.onnx.json``.

    Examples:
        >>> sidecar_path("exports/model.onnx").as_posix()
        'exports/model.onnx.json'
    """
    p = Path(artifact)
    if p.suffix.lower() in _SUFFIX.values():
        return p.with_name(p.name + ".json")
    return p / "xraycls.json"


def _metadata(info: dict[str, Any], fmt: str, source: str) -> dict[str, Any]:
    shape = info.get("input_shape") or [None, None, 3]
    meta = {k: v for k, v in info.items() if k != "input_shape"}
    meta.update(
        {
            "format": fmt,
            "source_model": source,
            "input": {
                "shape": [None, *shape],
                "dtype": "float32",
                "layout": "NHWC",
                "color": "RGB",
                "range": [0, 255],
            },
            "resize": info.get("resize", "pad"),
            "preprocessing": (
                "decode to 8-bit RGB (gray replicated, alpha on black, 16-bit min-max scaled), "
                "fit to the input size with the 'resize' mode ('pad': letterbox with black, "
                "keeping the aspect ratio), feed raw values 0..255; the backbone's own "
                "normalisation is inside the exported graph"
            ),
            "output": (
                "softmax probabilities in class_names order; calibrated = "
                "softmax(log(p) / calibration.temperature)"
            ),
            "calibration": info.get("calibration"),
        }
    )
    return meta


def _check_dependencies(fmt: str) -> None:
    import importlib.util

    missing = [m for m in _NEEDS.get(fmt, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyError(
            f'exporting to {fmt} needs {", ".join(missing)}: pip install "xraycls[export]"'
        )


def export_model(
    model: ModelLike,
    out: str | os.PathLike[str],
    *,
    format: str = "savedmodel",
) -> Path:
    """Export a model file for another runtime, with a side-car ``xraycls.json``.

    The exported graph takes a float32 NHWC batch of raw RGB values in ``[0, 255]`` at the
    model's input size and returns softmax probabilities; the backbone's normalisation is
    inside. The side-car (:func:`sidecar_path`) records class names, input size, how to decode
    and resize images, and the calibration (temperature, operating threshold, abstain rule).
    ONNX files carry the same JSON in their ``metadata_props`` (key ``xraycls``).

    Args:
        model: A ``.keras`` file written by xraycls, a :class:`xraycls.Classifier` or a
            Keras model (:func:`xraycls.as_classifier`); its :class:`xraycls.zoo.ModelInfo`
            becomes the side-car.
        out: Target: a folder for ``savedmodel``, a ``.onnx`` / ``.tflite`` file otherwise.
        format: ``"savedmodel"``, ``"onnx"`` (needs ``onnx`` and ``tf2onnx``:
            ``pip install "xraycls[export]"``) or ``"tflite"``.

    Returns:
        The exported path. It replaces an earlier export of the same format (recognised by
        its side-car) only once complete.

    Raises:
        ConfigError: Unknown format, a file name with the wrong suffix, or a target that holds
            something other than an earlier export of the same format (a non-empty folder
            without the side-car, a user's file): it is refused, never replaced.
        DependencyError: The converter is not installed.
        ModelFileError: The model file cannot be read, or the conversion failed.

    Examples:
        >>> from xraycls.export import export_model
        >>> export_model("runs/x/best.keras", "exports/model.onnx", format="onnx")  # doctest: +SKIP
        PosixPath('exports/model.onnx')
    """
    if format not in FORMATS:
        raise ConfigError(f"format {format!r} is not one of {sorted(FORMATS)}")
    target = Path(out)
    want = _SUFFIX.get(format)
    if want and target.suffix.lower() != want:
        raise ConfigError(f"out {os.fspath(out)!r}: a {format} export must end with {want!r}")
    if format == "savedmodel" and target.suffix:
        raise ConfigError(f"out {os.fspath(out)!r}: a SavedModel is a folder; drop the suffix")
    _check_target(target, format)  # before the (slow) conversion, and before touching anything
    _check_dependencies(format)
    clf = as_classifier(model)
    keras_model = clf.model
    dims = [None if d is None else int(d) for d in keras_model.inputs[0].shape[1:]]
    info = {"input_shape": dims, **clf.info.to_dict()}
    if isinstance(model, (str, os.PathLike)):
        label = os.fspath(model)
        meta = _metadata(info, format, Path(label).name)
    else:
        label = str(keras_model.name)
        meta = _metadata(info, format, label)
    try:
        # A freshly loaded model has never been called, which the ONNX exporter refuses.
        import numpy as np

        shape = [1 if d is None else int(d) for d in keras_model.inputs[0].shape]
        keras_model.predict_on_batch(np.zeros(shape, np.float32))
        if format == "savedmodel":
            _export_folder(keras_model, target, meta)
        else:
            with atomic_target(target) as tmp:
                keras_model.export(str(tmp), format=FORMATS[format], verbose=False)
                if format == "onnx":
                    _embed_onnx_metadata(tmp, meta)
            write_text_atomic(sidecar_path(target), json.dumps(meta, indent=2) + "\n")
    except (ConfigError, DependencyError):
        raise
    except Exception as exc:
        raise ModelFileError(
            f"exporting {label!r} to {format} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return target


def _is_export_of(meta_file: Path, fmt: str) -> bool:
    """Whether ``meta_file`` is a side-car xraycls wrote for an export in ``fmt``."""
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == fmt and "class_names" in meta


def _check_target(target: Path, fmt: str) -> None:
    """Refuse a target that holds something xraycls did not export there.

    Replacing an export swaps the whole folder (or file), so anything else at that path (a run
    folder with ``best.keras``, a user's file) would be deleted: only an earlier export of the
    same format, recognised by its side-car, or an empty folder may be replaced.
    """
    side = sidecar_path(target)
    if fmt == "savedmodel":
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise ConfigError(
                f"out {os.fspath(target)!r} exists and is not a folder; a SavedModel is written "
                "as a folder: choose a new folder name for --out"
            )
        if target.is_dir() and any(target.iterdir()) and not _is_export_of(side, fmt):
            raise ConfigError(
                f"out {os.fspath(target)!r} is a folder that is not empty and not an earlier "
                "savedmodel export (no xraycls.json side-car of one): exporting would replace "
                "its files; choose a new or empty folder for --out, e.g. "
                f"{os.fspath(target / 'savedmodel')!r}"
            )
        return
    if target.is_dir():
        raise ConfigError(f"out {os.fspath(target)!r} is a folder; give a file name")
    for path in (target, side):
        if (path.exists() or path.is_symlink()) and not _is_export_of(side, fmt):
            raise ConfigError(
                f"out {os.fspath(target)!r}: {os.fspath(path)!r} exists and is not an earlier "
                f"{fmt} export by xraycls; it would be overwritten: choose another --out"
            )


def _export_folder(keras_model: Any, target: Path, meta: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        keras_model.export(str(tmp / "model"), format="tf_saved_model", verbose=False)
        (tmp / "model" / "xraycls.json").write_text(json.dumps(meta, indent=2) + "\n")
        if target.exists():  # swap: the old export is removed only after the new one is in place
            # _check_target made sure it is an earlier export or an empty folder
            os.replace(target, tmp / "old")
        os.replace(tmp / "model", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _embed_onnx_metadata(path: Path, meta: dict[str, Any]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "xraycls", json.dumps(meta)
    onnx.save(proto, str(path))


def load_export_info(artifact: str | os.PathLike[str]) -> dict[str, Any]:
    """Load the side-car metadata of an exported artefact (see :func:`sidecar_path`).

    Args:
        artifact: The exported file or folder (``model.onnx``, ``model.tflite``, a SavedModel).

    Returns:
        The side-car's JSON object: the model's stored info (``class_names``, ...) plus
        ``format``, ``source_model``, ``input``, ``resize``, ``preprocessing``, ``output`` and
        ``calibration``.

    Raises:
        ModelFileError: The side-car is missing or unreadable.

    Examples:
        >>> load_export_info("exports/model.onnx")["class_names"]  # doctest: +SKIP
        ['COVID', 'Normal', 'Viral Pneumonia']
    """
    path = sidecar_path(artifact)
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: export metadata is missing or unreadable: {exc}") from exc


def read_export_info(artifact: str | os.PathLike[str]) -> dict[str, Any]:
    """Deprecated: use :func:`load_export_info` (the same function under the library's file verb).

    Args:
        artifact: As for :func:`load_export_info`.

    Returns:
        What :func:`load_export_info` returns.
    """
    warnings.warn(
        "read_export_info is deprecated; use load_export_info", DeprecationWarning, stacklevel=2
    )
    return load_export_info(artifact)
