"""The xraycls model file: a Keras ``.keras`` archive plus an ``xraycls.json`` member.

``xraycls.json`` holds a :class:`xraycls.zoo.ModelInfo` (class names, backbone, input shape,
resize mode, input transform, calibration, training data, versions, and any ``extra`` keys), so a
model file is self-describing: a ``Classifier`` knows the labels
and the image size without a side file. Files are written atomically (temporary file in the same
folder, then ``os.replace``), so a crash never leaves a half-written model.

Examples:
    >>> import tempfile, pathlib
    >>> from xraycls.zoo import build_model, load_model_info, save_model
    >>> model = build_model("simple_cnn", num_classes=2, input_shape=(16, 16, 3), width=2)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.keras"
    >>> _ = save_model(model, path, class_names=["NORMAL", "COVID"])
    >>> load_model_info(path).class_names
    ('NORMAL', 'COVID')
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from xraycls._atomic import atomic_target
from xraycls.errors import ConfigError, ModelFileError
from xraycls.zoo._info import RESERVED, ModelInfo, attach_info, same_names
from xraycls.zoo._text import short_error

__all__ = [
    "INFO_MEMBER",
    "MAX_COMPRESSION_RATIO",
    "MAX_INFO_BYTES",
    "MAX_MEMBER_BYTES",
    "load_model",
    "load_model_info",
    "read_model_info",
    "save_model",
    "update_model_info",
]

#: Name of the zip member that holds the xraycls metadata.
INFO_MEMBER = "xraycls.json"
#: Largest ``xraycls.json`` member read (bytes): real ones are well under 10 KB, and a hostile
#: archive could declare gigabytes that zlib would happily inflate.
MAX_INFO_BYTES = 1 << 20
#: Largest uncompressed size any member of a model file may declare (bytes): 2 GiB. The
#: largest built-in backbone's weights with optimizer state are a few hundred MB; Keras' own
#: zip-bomb check only starts at 4 GiB, and reads members into memory before refusing them.
MAX_MEMBER_BYTES = 2 << 30
#: Largest uncompressed/compressed ratio of a member above 1 MiB. Keras stores members
#: uncompressed and weights deflate by about 1.1x; zeros deflate by about 1000x.
MAX_COMPRESSION_RATIO = 100
#: Most members in a model file (a Keras file has a handful).
MAX_MEMBERS = 10_000
_RATIO_FLOOR = 1 << 20


def _version() -> str:
    from xraycls._about import __version__

    return __version__


def _check_class_names(model: keras.Model, class_names: Sequence[str]) -> list[str]:
    if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
        raise ConfigError(f"class_names must be a sequence of strings, got {class_names!r}")
    names = list(class_names)
    if not names:
        raise ConfigError("class_names must be non-empty and unique, got []")
    same = same_names(names)
    if same:
        raise ConfigError(
            f"class_names must be non-empty and unique, got {names!r}: {same} are the same "
            "name (after Unicode NFKC normalisation)"
        )
    out_shape = tuple(model.outputs[0].shape) if model.outputs else ()
    if out_shape and out_shape[-1] is not None and out_shape[-1] != len(names):
        raise ConfigError(
            f"class_names has {len(names)} names but model {model.name!r} outputs "
            f"{out_shape[-1]} classes"
        )
    return names


def save_model(
    model: keras.Model,
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str],
    extra: Mapping[str, Any] | None = None,
    input_transform: Any = None,
) -> Path:
    """Save ``model`` as a ``.keras`` file with an ``xraycls.json`` member, atomically.

    Args:
        model: A Keras model (typically from :func:`build_model`; its name is the backbone).
        path: Target file; must end with ``.keras``. Parent folders are created.
        class_names: One name per output unit, in output order.
        extra: More JSON-serialisable metadata (must not reuse the reserved keys
            ``class_names``, ``backbone``, ``input_shape``, ``xraycls_version``,
            ``input_transform``, ``schema_version``). Keys of other
            :class:`ModelInfo` fields (``calibration``, ``training_data``, ``resize``) are
            checked and stored in them; any other key goes to ``ModelInfo.extra``.
        input_transform: The :class:`xraycls.transforms.InputTransform` (or its dict) the
            model's inputs need; stored as ``input_transform`` so every loader applies it.
            ``None``: the transform attached to ``model`` (by training or loading), if any.

    Returns:
        The path written.

    Raises:
        ConfigError: Wrong suffix, class names not matching the output, bad ``extra``.
        ModelFileError: The file could not be written.

    Examples:
        >>> model = build_model("simple_cnn", input_shape=(16, 16, 3), width=2)  # doctest: +SKIP
        >>> names = ["COVID", "NORMAL", "Viral Pneumonia"]
        >>> save_model(model, "run/best.keras", class_names=names)  # doctest: +SKIP
        PosixPath('run/best.keras')
    """
    target = Path(path)
    if target.suffix != ".keras":
        raise ConfigError(f"model file {os.fspath(path)!r} must end with '.keras'")
    names = _check_class_names(model, class_names)
    from xraycls.transforms import as_transform, transform_of

    transform = (
        as_transform(input_transform) if input_transform is not None else transform_of(model)
    )
    for key in dict(extra or {}):
        if key in RESERVED:
            raise ConfigError(f"extra must not set the reserved key {key!r}")
    base = ModelInfo(
        class_names=tuple(names),
        backbone=model.name,
        input_shape=tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:]),
        input_transform=transform,
        xraycls_version=_version(),
    )
    info = base.updated(dict(extra or {})) if extra else base
    payload = _payload(info)

    try:
        # Keras picks the format from the suffix, so the temporary name ends in ".keras" too.
        with atomic_target(target, suffix=".tmp.keras") as tmp:
            model.save(tmp)
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(INFO_MEMBER, payload)
    except Exception as exc:
        if isinstance(exc, (ConfigError, ModelFileError)):
            raise
        raise ModelFileError(
            f"could not write model file {os.fspath(target)!r}: {short_error(exc)}"
        ) from exc
    return target


def _check_archive(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file {os.fspath(path)!r} does not exist")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"model file {os.fspath(path)!r} is corrupt or not a '.keras' archive "
            "(not a zip file); re-save or re-download it"
        )
    try:
        with zipfile.ZipFile(p) as archive:
            _check_members(os.fspath(path), archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ModelFileError(
            f"model file {os.fspath(path)!r} is corrupt: {short_error(exc)}; re-save or "
            "re-download it"
        ) from exc
    return p


def _check_members(path: str, members: list[zipfile.ZipInfo]) -> None:
    """Refuse zip-bomb members from the central directory, before anything is inflated.

    zipfile stops reading a member at its declared size, so checking the declared sizes
    bounds what loading can inflate.
    """
    if len(members) > MAX_MEMBERS:
        raise ModelFileError(
            f"model file {path!r} has {len(members):,} members, above the limit of "
            f"{MAX_MEMBERS:,}; the file is damaged or hostile and was not loaded"
        )
    for member in members:
        if member.filename == INFO_MEMBER:
            continue  # load_model_info holds it to its own, smaller limit (MAX_INFO_BYTES)
        declared, stored = member.file_size, member.compress_size
        if declared > MAX_MEMBER_BYTES:
            raise ModelFileError(
                f"model file {path!r}: member {member.filename!r} declares {declared:,} bytes, "
                f"above the {MAX_MEMBER_BYTES:,}-byte limit "
                "(xraycls.zoo._saving.MAX_MEMBER_BYTES); the file was not loaded"
            )
        if declared > _RATIO_FLOOR and declared > MAX_COMPRESSION_RATIO * max(stored, 1):
            raise ModelFileError(
                f"model file {path!r}: member {member.filename!r} declares {declared:,} bytes "
                f"compressed into {stored:,} (ratio {declared / max(stored, 1):,.0f}, above "
                f"{MAX_COMPRESSION_RATIO}): a zip bomb, not model weights; the file was not "
                "loaded"
            )


def load_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read the :class:`ModelInfo` of a model file without loading the model.

    The one reader of ``xraycls.json``: files written before the record had a
    ``schema_version`` load too (see :mod:`xraycls.zoo._info`).

    Args:
        path: A ``.keras`` file written by :func:`save_model`.

    Returns:
        The typed record (unknown keys in its ``extra``).

    Raises:
        ModelFileError: Missing, corrupt, not written by :func:`save_model`, or a field is
            malformed (the file and the key are named).

    Examples:
        >>> load_model_info("run/best.keras").backbone  # doctest: +SKIP
        'xception'
    """
    raw = _read_raw(path)
    try:
        return ModelInfo.from_dict(raw)
    except ConfigError as exc:
        raise ModelFileError(f"{os.fspath(path)}: {INFO_MEMBER}: {exc}") from exc


def read_model_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Deprecated: use :func:`load_model_info`, and ``.to_dict()`` where a plain dict is needed.

    Args:
        path: A ``.keras`` file written by :func:`save_model`.

    Returns:
        ``load_model_info(path).to_dict()``.

    Raises:
        ModelFileError: As :func:`load_model_info`.
    """
    warnings.warn(
        "read_model_info is deprecated; use load_model_info (a ModelInfo; .to_dict() for the "
        "old dict)",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_model_info(path).to_dict()


def _read_raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``xraycls.json`` dict, bounded in size, with usable class names.

    Args:
        path: A ``.keras`` file written by :func:`save_model`.

    Returns:
        The metadata: ``class_names``, ``backbone``, ``input_shape``, ``xraycls_version``,
        ``input_transform`` (an ``InputTransform.to_dict()``; absent when the model needs no
        input transform) and any extra keys.

    Raises:
        ModelFileError: Missing, corrupt, or not written by :func:`save_model`.

    Examples:
        >>> _read_raw("run/best.keras")["backbone"]  # doctest: +SKIP
        'xception'
    """
    p = _check_archive(path)
    try:
        with zipfile.ZipFile(p) as archive:
            if INFO_MEMBER not in archive.namelist():
                raise ModelFileError(
                    f"model file {os.fspath(path)!r} has no {INFO_MEMBER} member: it was not "
                    "written by xraycls.save_model (load it with keras.saving.load_model)"
                )
            declared = archive.getinfo(INFO_MEMBER).file_size
            if declared > MAX_INFO_BYTES:
                raise ModelFileError(
                    f"model file {os.fspath(path)!r}: its {INFO_MEMBER} member declares "
                    f"{declared:,} bytes, above the {MAX_INFO_BYTES:,}-byte limit for metadata; "
                    "the file is damaged or hostile and was not loaded"
                )
            with archive.open(INFO_MEMBER) as member:
                # zipfile stops at the declared size; read one byte more to be sure of it.
                raw = member.read(MAX_INFO_BYTES + 1)
            if len(raw) > MAX_INFO_BYTES:
                raise ModelFileError(
                    f"model file {os.fspath(path)!r}: {INFO_MEMBER} is larger than the "
                    f"{MAX_INFO_BYTES:,}-byte limit for metadata; the file was not loaded"
                )
            info = json.loads(raw.decode("utf-8"))
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(
            f"model file {os.fspath(path)!r}: {INFO_MEMBER} is unreadable: {short_error(exc)}"
        ) from exc
    if not isinstance(info, dict) or not isinstance(info.get("class_names"), list):
        raise ModelFileError(f"model file {os.fspath(path)!r}: {INFO_MEMBER} has no class_names")
    names = info["class_names"]
    if not names or not all(isinstance(c, str) for c in names):
        raise ModelFileError(
            f"model file {os.fspath(path)!r}: {INFO_MEMBER} class_names must be a non-empty "
            f"list of strings, got {names!r}; the file is damaged"
        )
    same = same_names(names)
    if same:
        raise ModelFileError(
            f"model file {os.fspath(path)!r}: {INFO_MEMBER} class_names has {same}, the same "
            "name (after Unicode NFKC normalisation); predictions could not be told apart, so "
            "the file was not used"
        )
    return info


def update_model_info(path: str | os.PathLike[str], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Add or replace extra keys in the ``xraycls.json`` of an existing model file, atomically.

    The weights and every other archive member are copied unchanged; the file is rewritten to a
    temporary name and then renamed over the original, so a crash leaves the old file intact.
    Other keys are kept, so tools adding different keys (calibration, input transforms...) do
    not overwrite each other. A value of ``None`` removes its key.

    Args:
        path: A ``.keras`` file written by :func:`save_model`.
        extra: JSON-serialisable keys to set (not the reserved ``class_names``, ``backbone``,
            ``input_shape``, ``xraycls_version``, ``input_transform``, ``schema_version``);
            ``calibration``, ``training_data`` and ``resize`` are checked as their
            :class:`ModelInfo` fields.

    Returns:
        The new metadata.

    Raises:
        ConfigError: A reserved key or a value that is not JSON-serialisable.
        ModelFileError: Missing, corrupt or not written by :func:`save_model`; or not writable.

    Examples:
        >>> import tempfile, pathlib
        >>> from xraycls.zoo import build_model, save_model, update_model_info
        >>> model = build_model("simple_cnn", num_classes=2, input_shape=(16, 16, 3), width=2)
        >>> path = save_model(model, pathlib.Path(tempfile.mkdtemp()) / "m.keras",
        ...                   class_names=["a", "b"])
        >>> update_model_info(path, {"note": "checked"})["note"]
        'checked'
    """
    info = load_model_info(path).updated(extra)
    payload = _payload(info)
    target = Path(path)
    try:
        with (
            atomic_target(target, suffix=".tmp.keras") as tmp,
            zipfile.ZipFile(target) as src,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            for member in src.infolist():
                if member.filename != INFO_MEMBER:
                    dst.writestr(member, src.read(member))
            dst.writestr(INFO_MEMBER, payload)
    except Exception as exc:
        raise ModelFileError(
            f"could not update model file {os.fspath(target)!r}: {short_error(exc)}"
        ) from exc
    return info.to_dict()


def _payload(info: ModelInfo) -> str:
    """The ``xraycls.json`` text of ``info``; its one writer."""
    try:
        return json.dumps(info.to_dict(), indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"extra must be JSON-serialisable: {exc}") from exc


def load_model(
    path: str | os.PathLike[str], *, safe_mode: bool = True, compile: bool = True
) -> keras.Model:
    """Load a ``.keras`` model file (Keras safe mode by default).

    Args:
        path: The file.
        safe_mode: Refuse files that carry Python code (``Lambda`` layers). Turn it off only
            for files you trust.
        compile: Restore the optimizer/loss/metrics saved with the model.

    Returns:
        The model (the xraycls ``Preprocess`` layer is registered on import of
        ``xraycls.zoo``), with the file's ``input_transform`` attached
        (:func:`xraycls.transforms.transform_of` returns it).

    Raises:
        ModelFileError: Missing or corrupt file, or refused by safe mode (the message says how
            to opt out).

    Examples:
        >>> model = load_model("run/best.keras")  # doctest: +SKIP
    """
    p = _check_archive(path)
    try:
        model = keras.saving.load_model(p, safe_mode=safe_mode, compile=compile)
    except Exception as exc:
        text = str(exc)
        if safe_mode and ("safe_mode" in text or "Lambda" in text):
            from xraycls.zoo._unsafe import refused_code  # the layer Keras named, not a guess

            raise ModelFileError(
                f"model file {os.fspath(path)!r} was refused in safe mode: it contains "
                f"{refused_code(text)}, which could run arbitrary code when loaded. If and only "
                "if you trust where the file comes from,",
                hint="load it with xraycls.load_model(path, safe_mode=False).",
                hint_cli="add --unsafe to the command.",
            ) from exc
        hint = ""
        if "Could not locate" in text or "Unknown layer" in text:
            hint = (
                " The file uses a custom class: import the package that defines it (for "
                "example the backbone plugin the model was built with) before loading."
            )
        raise ModelFileError(
            f"model file {os.fspath(path)!r} could not be loaded: {short_error(exc)}{hint}"
        ) from exc
    return _attach_stored_info(model, p)


def _attach_stored_info(model: keras.Model, path: Path) -> keras.Model:
    """Remember the file's :class:`ModelInfo` (class names, transform, calibration) for the
    loaded model."""
    with zipfile.ZipFile(path) as archive:
        if INFO_MEMBER not in archive.namelist():
            return model  # a plain Keras file: no class names, no transform
    return attach_info(model, load_model_info(path))
