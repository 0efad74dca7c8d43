"""``ModelInfo``: everything xraycls stores with a model, as one typed, versioned record.

It is the ``xraycls.json`` member of a ``.keras`` file (written by :func:`save_model`, changed
by :func:`update_model_info`, read by :func:`load_model_info`) and the only place its keys are
spelled. Files written before the schema had a version (xraycls 0.x without
``schema_version``) hold the same keys with fewer of them; :meth:`ModelInfo.from_dict` reads
them unchanged (the missing fields take their defaults), which is the whole migration.

Unknown keys are **kept**, in :attr:`ModelInfo.extra`, and written back: a model file is shared
by several tools (the trainer's resume ``state`` and ``history``, a user's ``extra=`` notes), and
a reader that dropped a key it does not know would erase another tool's data on the next
:func:`update_model_info`. A file from a *newer* schema is refused with the version named.

Examples:
    >>> info = ModelInfo(class_names=("COVID", "Normal"), input_shape=(224, 224, 3))
    >>> info.image_size
    (224, 224)
    >>> ModelInfo.from_dict(info.to_dict()) == info
    True
    >>> ModelInfo.from_dict({"class_names": ["a", "b"], "note": "kept"}).extra
    {'note': 'kept'}
"""

from __future__ import annotations

import abc
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xraycls.decision import Calibration
from xraycls.errors import ConfigError
from xraycls.transforms import InputTransform
from xraycls.transforms._attach import attach_record, attached

__all__ = ["SCHEMA_VERSION", "ModelHandle", "ModelInfo", "attach_info", "info_of"]

#: Version of the ``xraycls.json`` layout written by this xraycls. 1: the first versioned
#: layout (adds ``schema_version`` and ``resize``); files without the key are version 0 and
#: read the same way.
SCHEMA_VERSION = 1
#: The resize modes :func:`xraycls.imaging.fit_image` knows.
_RESIZE_MODES = ("pad", "stretch", "crop")
#: Keys with a field of their own; everything else goes to ``extra``.
_FIELDS = (
    "class_names",
    "backbone",
    "input_shape",
    "resize",
    "input_transform",
    "calibration",
    "training_data",
    "xraycls_version",
    "schema_version",
)
#: Keys only :func:`save_model` sets (the model's identity and the layout version);
#: ``extra=`` and ``update_model_info`` refuse them.
RESERVED = (
    "class_names",
    "backbone",
    "input_shape",
    "xraycls_version",
    "input_transform",
    "schema_version",
)


def same_names(names: Sequence[str]) -> str | None:
    """Describe the first two names equal after NFKC normalisation (``'COVID' and 'ＣＯＶＩＤ'``),
    or ``None``. Compatibility forms (fullwidth letters, ligatures) look alike to a reader, so
    two such classes would be merged or confused downstream (one CSV column would be lost)."""
    seen: dict[str, str] = {}
    for name in names:
        key = unicodedata.normalize("NFKC", name)
        if key in seen:
            return f"{seen[key]!r} and {name!r}"
        seen[key] = name
    return None


@dataclass(frozen=True)
class ModelInfo:
    """What travels with a model: its classes, input, preprocessing, calibration and origin.

    Attributes:
        class_names: One name per model output, in output order.
        backbone: The Keras model's name (the zoo backbone it was built from).
        input_shape: ``(H, W, C)`` of the model input (``None`` for a free dimension).
        resize: How images are fitted to the input: ``"pad"`` (letterbox, as in training),
            ``"stretch"`` or ``"crop"``.
        input_transform: Applied to every image before resizing (lung crop, CLAHE...).
        calibration: Temperature, operating threshold and abstain rule (``xraycls
            calibrate``); ``None``: raw probabilities and no decision.
        training_data: What the model was trained on (sources, classes, label maps, notes),
            as the trainer summarised it; ``None`` when unknown.
        xraycls_version: The xraycls that wrote the file.
        schema_version: Layout version of the stored record (:data:`SCHEMA_VERSION`).
        extra: Keys this xraycls has no field for (the trainer's resume state, a user's
            notes), kept and written back unchanged.
    """

    class_names: tuple[str, ...]
    backbone: str = ""
    input_shape: tuple[int | None, ...] | None = None
    resize: str = "pad"
    input_transform: InputTransform = field(default_factory=InputTransform)
    calibration: Calibration | None = None
    training_data: dict[str, Any] | None = None
    xraycls_version: str = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = self.class_names
        if isinstance(names, str) or not all(isinstance(c, str) for c in names):
            raise ConfigError(f"class_names must be a sequence of strings, got {names!r}")
        object.__setattr__(self, "class_names", tuple(names))
        if not names:
            raise ConfigError("class_names must be non-empty and unique, got []")
        same = same_names(names)
        if same:
            raise ConfigError(
                f"class_names must be non-empty and unique, got {list(names)!r}: {same} are "
                "the same name (after Unicode NFKC normalisation)"
            )
        if self.resize not in _RESIZE_MODES:
            raise ConfigError(f"resize={self.resize!r} is not one of {list(_RESIZE_MODES)}")
        if self.input_shape is not None:
            shape = tuple(None if d is None else int(d) for d in self.input_shape)
            object.__setattr__(self, "input_shape", shape)
        clash = sorted(set(self.extra) & set(_FIELDS))
        if clash:
            raise ConfigError(f"ModelInfo.extra must not hold the field keys {clash}")

    @property
    def image_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the model input, or ``None`` when not recorded."""
        if self.input_shape is None or len(self.input_shape) < 2:
            return None
        h, w = self.input_shape[0], self.input_shape[1]
        return None if h is None or w is None else (h, w)

    def to_dict(self) -> dict[str, Any]:
        """The ``xraycls.json`` form (JSON-serialisable; empty optional fields left out)."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            class_names=list(self.class_names),
            backbone=self.backbone,
            resize=self.resize,
            xraycls_version=self.xraycls_version,
            schema_version=self.schema_version,
        )
        if self.input_shape is not None:
            out["input_shape"] = list(self.input_shape)
        if not self.input_transform.is_identity:
            out["input_transform"] = self.input_transform.to_dict()
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        if self.training_data is not None:
            out["training_data"] = self.training_data
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        """Read a stored record, of this schema or an older one (see the module docstring).

        Raises:
            ConfigError: A field is malformed (the key is named), or the record comes from a
                newer xraycls (its ``schema_version`` is above :data:`SCHEMA_VERSION`).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"model info must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ConfigError(f"schema_version must be an int >= 0, got {version!r}")
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"schema_version {version} was written by a newer xraycls (this one reads up "
                f"to {SCHEMA_VERSION}); upgrade xraycls"
            )
        names = data.get("class_names")
        if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
            raise ConfigError(f"class_names must be a non-empty list of strings, got {names!r}")
        return cls(
            class_names=tuple(names),
            backbone=str(data.get("backbone") or ""),
            input_shape=_shape(data.get("input_shape")),
            resize=str(data.get("resize") or "pad"),
            input_transform=_transform(data.get("input_transform")),
            calibration=_calibration(data.get("calibration")),
            training_data=_mapping("training_data", data.get("training_data")),
            xraycls_version=str(data.get("xraycls_version") or ""),
            schema_version=SCHEMA_VERSION,  # read once, written back in today's layout
            extra={k: v for k, v in data.items() if k not in _FIELDS},
        )

    def updated(self, changes: Mapping[str, Any]) -> ModelInfo:
        """A copy with stored keys set (``None`` removes one), as :func:`update_model_info`.

        Raises:
            ConfigError: A key in :data:`RESERVED`, or a malformed value.
        """
        data = self.to_dict()
        for key, value in dict(changes).items():
            if key in RESERVED:
                raise ConfigError(f"extra must not set the reserved key {key!r}")
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value.to_dict() if isinstance(value, Calibration) else value
        return ModelInfo.from_dict(data)

    def with_calibration(self, calibration: Calibration | None) -> ModelInfo:
        """A copy with ``calibration`` stored (``None`` removes it)."""
        return replace(self, calibration=calibration)


def _shape(value: Any) -> tuple[int | None, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in value
    ):
        raise ConfigError(f"input_shape must be a list of ints or nulls, got {value!r}")
    return tuple(value)


def _transform(value: Any) -> InputTransform:
    try:
        return InputTransform.from_dict(value)
    except ConfigError as exc:
        raise ConfigError(
            f"its input_transform is invalid ({exc}); it was written by a newer or damaged xraycls"
        ) from exc


def _calibration(value: Any) -> Calibration | None:
    if not value:
        return None
    try:
        return Calibration.from_dict(value)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(
            f"the stored calibration is unreadable ({exc}); run `xraycls calibrate` again"
        ) from exc


def _mapping(key: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a JSON object, got {type(value).__name__}")
    return dict(value)


class ModelHandle(abc.ABC):
    """A Keras model with its :class:`ModelInfo`; :class:`xraycls.Classifier` is the one.

    Declared here, below the handle, so the layers the handle itself uses (``explain``, whose
    ``write_overlays`` takes a model file, a Keras model or a ``Classifier``) can recognise one
    by type, without importing it and without guessing from attribute names.
    """

    model: Any
    info: ModelInfo


def attach_info(model: Any, info: ModelInfo) -> Any:
    """Remember ``info`` for ``model`` (a loaded Keras model); returns ``model``.

    It goes into the one map of what a model object carries
    (:mod:`xraycls.transforms._attach`), so :func:`xraycls.transforms.transform_of` sees its
    transform too.
    """
    return attach_record(model, info)


def info_of(model: Any) -> ModelInfo | None:
    """The :class:`ModelInfo` attached to ``model`` by :func:`load_model`, else ``None``."""
    record = attached(model)
    return record if isinstance(record, ModelInfo) else None
