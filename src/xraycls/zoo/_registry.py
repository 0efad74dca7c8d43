"""The backbone registry: ``BackboneSpec``, name normalisation, registration, plugin discovery.

Built-in families register themselves when ``xraycls.zoo`` is imported. Packages add backbones
through the entry point group ``xraycls.backbones``; those are discovered lazily, on the first
call to :func:`list_models`, :func:`get_backbone`, :func:`register_backbone` or ``build_model``.

Examples:
    >>> from xraycls.zoo import get_backbone, list_models
    >>> get_backbone("ResNet-50").name
    'resnet50'
    >>> "simple_cnn" in list_models(source="builtin")
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import keras

from xraycls.errors import ConfigError, PluginError, UnknownModelError
from xraycls.zoo._preprocess import PREPROCESSING_MODES, apply_preprocessing

__all__ = [
    "ENTRY_POINT_GROUP",
    "SOURCES",
    "BackboneSpec",
    "PluginWarning",
    "get_backbone",
    "list_models",
    "normalize_name",
    "register_backbone",
]

#: The entry point group scanned for backbone plugins.
ENTRY_POINT_GROUP = "xraycls.backbones"
#: Where a backbone comes from.
SOURCES: tuple[str, ...] = ("builtin", "plugin", "user")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_STRIP_RE = re.compile(r"[-_\s]+")


class PluginWarning(UserWarning):
    """A backbone plugin could not be loaded; it is skipped and every other model still works."""


def normalize_name(name: str) -> str:
    """Return the lookup key of a model name: lower case, without ``-``, ``_`` or spaces.

    Args:
        name: A model name or alias, e.g. ``"ResNet-50"``.

    Returns:
        The key, e.g. ``"resnet50"``.

    Examples:
        >>> normalize_name("Inception_ResNet V2")
        'inceptionresnetv2'
    """
    return _STRIP_RE.sub("", name.lower())


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """Everything xraycls knows about one backbone.

    Attributes:
        name: Canonical name (lower case), e.g. ``"inception_resnet_v2"``.
        aliases: Other accepted spellings (matched after :func:`normalize_name`).
        factory: ``factory(input_shape, weights=None, **kwargs) -> keras.Model`` returning a
            headless model whose output is a 4-D feature map (xraycls adds the head).
        preprocessing: ``"caffe"``, ``"tf"``, ``"torch"`` or ``"none"``: what the backbone
            expects, applied to raw ``[0, 255]`` RGB values.
        default_input_shape: The backbone's natural ``(height, width, channels)``.
        min_input_size: Smallest accepted height/width.
        source: ``"builtin"``, ``"plugin"`` or ``"user"``.
        provider: Distribution (plugins) or module (user registrations) that provides it.
        description: One line for ``xraycls models``.
        accepts_input_tensor: ``True`` when ``factory`` also takes ``input_tensor=`` and builds
            its layers on that tensor (like ``keras.applications``); the model is then one flat
            graph. Otherwise the backbone is called as a nested model.

    Examples:
        >>> import numpy as np
        >>> spec = get_backbone("xception")
        >>> spec.preprocessing, spec.min_input_size
        ('tf', 71)
        >>> float(np.asarray(spec.preprocess(np.zeros((1, 1, 1, 3))))[0, 0, 0, 0])
        -1.0
    """

    name: str
    aliases: tuple[str, ...] = ()
    factory: Callable[..., keras.Model]
    preprocessing: str = "none"
    default_input_shape: tuple[int, int, int] = (224, 224, 3)
    min_input_size: int = 32
    source: str = "user"
    provider: str = ""
    description: str = ""
    accepts_input_tensor: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(
                f"backbone name {self.name!r} is invalid: use lower-case letters, digits, "
                "'_', '-' or '.', starting with a letter or digit"
            )
        if not callable(self.factory):
            raise ConfigError(f"backbone {self.name!r}: factory must be callable")
        aliases = (self.aliases,) if isinstance(self.aliases, str) else tuple(self.aliases)
        for alias in aliases:
            if not isinstance(alias, str) or not normalize_name(alias):
                raise ConfigError(f"backbone {self.name!r}: alias {alias!r} is not a name")
        object.__setattr__(self, "aliases", aliases)
        if self.preprocessing not in PREPROCESSING_MODES:
            raise ConfigError(
                f"backbone {self.name!r}: preprocessing {self.preprocessing!r} is not one of "
                f"{', '.join(PREPROCESSING_MODES)}"
            )
        shape = tuple(self.default_input_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
            raise ConfigError(
                f"backbone {self.name!r}: default_input_shape must be (height, width, channels) "
                f"positive ints, got {self.default_input_shape!r}"
            )
        object.__setattr__(self, "default_input_shape", shape)
        if not isinstance(self.min_input_size, int) or self.min_input_size < 1:
            raise ConfigError(
                f"backbone {self.name!r}: min_input_size must be a positive int, "
                f"got {self.min_input_size!r}"
            )
        if self.source not in SOURCES:
            raise ConfigError(
                f"backbone {self.name!r}: source {self.source!r} is not one of {SOURCES}"
            )

    @property
    def keys(self) -> tuple[str, ...]:
        """The normalised lookup keys: the name's first, then each new alias's."""
        keys = [normalize_name(self.name)]
        for alias in self.aliases:
            key = normalize_name(alias)
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    def preprocess(self, x: Any) -> Any:
        """Apply this backbone's preprocessing to raw ``[0, 255]`` RGB values.

        Use it in an input pipeline when the model was built with
        ``include_preprocessing=False``.

        Args:
            x: Float array or tensor, channels last.

        Returns:
            A float32 backend tensor of the same shape.

        Examples:
            >>> import numpy as np
            >>> spec = get_backbone("densenet201")
            >>> np.asarray(spec.preprocess(np.full((1, 1, 1, 3), 255.0))).shape
            (1, 1, 1, 3)
        """
        return apply_preprocessing(x, self.preprocessing)


class _Registry:
    """Name -> spec, plus normalised key -> name. One process-wide instance."""

    def __init__(self) -> None:
        self.specs: dict[str, BackboneSpec] = {}
        self.keys: dict[str, str] = {}
        self.plugins_loaded = False
        # Re-entrant: a plugin module may call register_backbone while being discovered.
        self.lock = threading.RLock()

    def add(self, spec: BackboneSpec, *, overwrite: bool = False) -> None:
        with self.lock:
            replaced = self.specs.get(spec.name) if overwrite else None
            for key in spec.keys:
                owner_name = self.keys.get(key)
                if owner_name is None or (replaced is not None and owner_name == spec.name):
                    continue
                owner = self.specs[owner_name]
                what = "name" if key == spec.keys[0] else "an alias"
                raise PluginError(
                    f"cannot register backbone {spec.name!r} ({spec.source}, provided by "
                    f"{spec.provider or '?'}): its {what} {key!r} is already taken by backbone "
                    f"{owner.name!r} ({owner.source}, provided by {owner.provider or '?'}). "
                    "Choose another name, or pass overwrite=True to replace a backbone of the "
                    "same name."
                )
            if replaced is not None:
                self.remove(replaced.name)
            self.specs[spec.name] = spec
            for key in spec.keys:
                self.keys[key] = spec.name

    def remove(self, name: str) -> None:
        with self.lock:
            spec = self.specs.pop(name)
            for key in spec.keys:
                if self.keys.get(key) == name:
                    del self.keys[key]


_REGISTRY = _Registry()


def _register_builtin(spec: BackboneSpec) -> None:
    """Add a built-in family member (called at import of ``xraycls.zoo.families``)."""
    _REGISTRY.add(dataclasses.replace(spec, source="builtin", provider="xraycls"))


# --- plugin discovery -----------------------------------------------------------------------


def _entry_points() -> Iterable[Any]:
    """The entry points of :data:`ENTRY_POINT_GROUP` (tests replace this function)."""
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _distribution_name(entry_point: Any) -> str:
    dist = getattr(entry_point, "dist", None)
    name = getattr(dist, "name", None) or getattr(dist, "metadata", {}).get("Name")
    if name:
        return str(name)
    return str(getattr(entry_point, "value", "?")).split(":")[0]


def _spec_from_plugin(ep_name: str, obj: Any, provider: str) -> BackboneSpec:
    name = ep_name.strip().lower()
    if isinstance(obj, BackboneSpec):
        if normalize_name(obj.name) != normalize_name(name):
            raise PluginError(
                f"entry point {ep_name!r} points at a BackboneSpec named {obj.name!r}; "
                "the entry point name and the spec name must match"
            )
        return dataclasses.replace(obj, name=name, source="plugin", provider=provider)
    if not callable(obj):
        raise PluginError(
            f"entry point {ep_name!r} must point at a backbone factory (a callable) or a "
            f"BackboneSpec, got {type(obj).__name__}"
        )
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return BackboneSpec(
        name=name,
        aliases=tuple(getattr(obj, "aliases", ())),
        factory=obj,
        preprocessing=getattr(obj, "preprocessing", "none"),
        default_input_shape=tuple(getattr(obj, "default_input_shape", (224, 224, 3))),
        min_input_size=getattr(obj, "min_input_size", 32),
        source="plugin",
        provider=provider,
        description=getattr(obj, "description", doc[0] if doc else ""),
        accepts_input_tensor=bool(getattr(obj, "accepts_input_tensor", False)),
    )


def _ensure_plugins() -> None:
    """Load every ``xraycls.backbones`` entry point once; a broken one only warns."""
    with _REGISTRY.lock:
        if _REGISTRY.plugins_loaded:
            return
        _REGISTRY.plugins_loaded = True
        try:
            found = list(_entry_points())
        except Exception as exc:  # a broken environment must not break the built-ins
            warnings.warn(
                f"xraycls: could not list the {ENTRY_POINT_GROUP!r} entry points, plugins are "
                f"skipped: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=3,
            )
            return
        # Sorted so that, when two plugins clash, the same one wins on every machine.
        for ep in sorted(found, key=lambda e: (_distribution_name(e), str(e.name))):
            provider = _distribution_name(ep)
            try:
                spec = _spec_from_plugin(str(ep.name), ep.load(), provider)
                _REGISTRY.add(spec)
            except Exception as exc:
                warnings.warn(
                    f"xraycls: backbone plugin {ep.name!r} from distribution {provider!r} "
                    f"({getattr(ep, 'value', '?')}) was skipped: {type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=3,
                )


def _reset_plugins() -> None:
    """Forget discovered plugins so the next lookup scans entry points again (for tests)."""
    with _REGISTRY.lock:
        for name in [n for n, s in _REGISTRY.specs.items() if s.source == "plugin"]:
            _REGISTRY.remove(name)
        _REGISTRY.plugins_loaded = False


# --- public functions -----------------------------------------------------------------------


def register_backbone(
    name: str,
    factory: Callable[..., keras.Model],
    *,
    aliases: Sequence[str] = (),
    preprocessing: str = "none",
    default_input_shape: tuple[int, int, int] = (224, 224, 3),
    min_input_size: int = 32,
    description: str = "",
    accepts_input_tensor: bool = False,
    overwrite: bool = False,
) -> BackboneSpec:
    """Register a backbone in this process (source ``"user"``).

    Args:
        name: Canonical name; stored in lower case. Lookups ignore case, ``-``, ``_`` and spaces.
        factory: ``factory(input_shape, weights=None, **kwargs) -> keras.Model`` returning a
            headless model with a 4-D feature map output; see ``docs/plugins.md``.
        aliases: Other accepted spellings.
        preprocessing: ``"caffe"``, ``"tf"``, ``"torch"`` or ``"none"``.
        default_input_shape: The backbone's natural input shape.
        min_input_size: Smallest accepted height/width.
        description: One line shown by ``xraycls models``.
        accepts_input_tensor: ``factory`` takes ``input_tensor=`` and builds on it (flat model).
        overwrite: Replace an existing backbone of the same name instead of raising.

    Returns:
        The registered spec.

    Raises:
        PluginError: The name or an alias collides with an existing name or alias; the message
            names both providers.
        ConfigError: An argument is invalid.

    Examples:
        >>> import keras
        >>> def tiny(input_shape, weights=None, **kwargs):
        ...     inputs = keras.Input(input_shape)
        ...     return keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs))
        >>> register_backbone("doc_tiny", tiny, aliases=("DocTiny2",)).source
        'user'
        >>> get_backbone("doctiny2").name
        'doc_tiny'
    """
    if not isinstance(name, str):
        raise ConfigError(f"backbone name must be a string, got {type(name).__name__}")
    _ensure_plugins()
    spec = BackboneSpec(
        name=name.strip().lower(),
        aliases=tuple(aliases),
        factory=factory,
        preprocessing=preprocessing,
        default_input_shape=default_input_shape,
        min_input_size=min_input_size,
        source="user",
        provider=str(getattr(factory, "__module__", None) or "?"),
        description=description,
        accepts_input_tensor=accepts_input_tensor,
    )
    _REGISTRY.add(spec, overwrite=overwrite)
    return spec


def get_backbone(name: str) -> BackboneSpec:
    """Look up a backbone by name or alias (case-insensitive; ``-``, ``_``, spaces ignored).

    Args:
        name: e.g. ``"xception"``, ``"ResNet-50"``, ``"InceptionResNetV2"``.

    Returns:
        Its :class:`BackboneSpec`.

    Raises:
        UnknownModelError: No such backbone; the message lists close matches.

    Examples:
        >>> get_backbone("DenseNet201").preprocessing
        'torch'
    """
    if not isinstance(name, str):
        raise ConfigError(f"model name must be a string, got {type(name).__name__}")
    _ensure_plugins()
    with _REGISTRY.lock:
        found = _REGISTRY.keys.get(normalize_name(name))
        if found is not None:
            return _REGISTRY.specs[found]
        key_to_name = dict(_REGISTRY.keys)
    close = difflib.get_close_matches(normalize_name(name), list(key_to_name), n=3, cutoff=0.6)
    suggestions = list(dict.fromkeys(key_to_name[k] for k in close))
    hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint} (xraycls.list_models() lists all "
        f"{len(_REGISTRY.specs)} models; `xraycls models` prints them)"
    )


def list_models(source: str | None = None, pattern: str | None = None) -> list[str]:
    """Return the sorted canonical names of the registered backbones.

    Args:
        source: Only this source: ``"builtin"``, ``"plugin"`` or ``"user"``.
        pattern: Only names matching this shell-style pattern (case-insensitive), e.g.
            ``"resnet*"``.

    Returns:
        Sorted names.

    Raises:
        ConfigError: ``source`` is not one of the three.

    Examples:
        >>> list_models(pattern="resnet*")
        ['resnet101', 'resnet50']
    """
    if source is not None and source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)} or None, got {source!r}")
    _ensure_plugins()
    with _REGISTRY.lock:
        specs = list(_REGISTRY.specs.values())
    names = [s.name for s in specs if source is None or s.source == source]
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
    return sorted(names)
