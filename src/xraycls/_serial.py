"""One serialisation rule for every config and report: dataclass <-> JSON-ready data.

A class gets ``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json`` by deriving from
:class:`Serial`; the field types say how each value is written and read back (nested
dataclasses, lists and tuples, ``dict``, ``Optional`` and other unions, ``Literal``, enums,
``Path``). The rule, the same for all:

- writing: a dataclass becomes a dict of its fields in declaration order (a field with
  ``metadata={"serial": False}`` is left out), tuples become lists, paths strings, enums their
  value, dict keys strings, and NaN / infinities ``None`` (strict JSON has no NaN);
- reading: an unknown key is an error (:class:`~xraycls.errors.ConfigError` naming the key and
  the class); a missing key takes the field's default, a missing required one is an error.
  Keys that a class writes for readers only (``_derived``: properties such as a mean) are
  accepted and dropped; keys that older xraycls versions wrote are turned into today's by the
  class's ``_migrate`` (a named migration), never by ignoring unknown keys in general.

A plain dict written by hand (a config file) goes through the same rule, so a typo such as
``"learning_rat"`` is reported instead of silently ignored.

Examples:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point(Serial):
    ...     x: float
    ...     tags: tuple[str, ...] = ()
    >>> Point(1.0, ("a",)).to_dict()
    {'x': 1.0, 'tags': ['a']}
    >>> Point.from_json('{"x": 2, "tags": ["b"]}')
    Point(x=2.0, tags=('b',))
    >>> Point.from_dict({"x": 1, "y": 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xraycls.errors.ConfigError: Point: unknown key 'y'; expected one of ['tags', 'x']
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from typing_extensions import Self

from xraycls.errors import ConfigError

__all__ = ["Serial", "dumps", "from_data", "loads", "reject_unknown", "to_data"]

_NONE = type(None)
_SEQUENCES = (list, tuple, Sequence)
_MAPPINGS = (dict, Mapping)


def to_data(value: Any) -> Any:
    """``value`` as JSON-ready data (dicts, lists, strings, numbers, booleans, ``None``).

    Examples:
        >>> to_data({1: (float("nan"), Path("a/b"))})
        {'1': [None, 'a/b']}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass_to_data(value)
    if isinstance(value, enum.Enum):
        return to_data(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a NumPy scalar
        return to_data(value.item())
    return value


def _dataclass_to_data(obj: Any) -> dict[str, Any]:
    data = {
        f.name: to_data(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if f.metadata.get("serial", True)
    }
    for name in getattr(obj, "_derived", ()):
        data[name] = to_data(getattr(obj, name))
    hook = getattr(obj, "_to_data", None)
    return hook(data) if hook is not None else data


def reject_unknown(where: str, data: Mapping[str, Any], known: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming every key of ``data`` not in ``known``."""
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        keys = "key" if len(unknown) == 1 else "keys"
        raise ConfigError(
            f"{where}: unknown {keys} {', '.join(map(repr, unknown))}; "
            f"expected one of {sorted(known)}"
        )


def from_data(cls: type[Any], data: Any, where: str | None = None) -> Any:
    """An instance of the dataclass ``cls`` from :func:`to_data` output (see the module rule).

    Args:
        cls: The dataclass.
        data: A mapping of its fields.
        where: How to name the object in error messages (default: the class name).

    Raises:
        ConfigError: ``data`` is not a mapping, has an unknown key or lacks a required one, or
            the class refuses a value.
    """
    where = where or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object (dict), got {type(data).__name__}")
    migrate = getattr(cls, "_migrate", None)
    values = dict(migrate(data) if migrate is not None else data)
    for name in getattr(cls, "_derived", ()):
        values.pop(name, None)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("serial", True)]
    reject_unknown(where, values, [f.name for f in fields])
    hints = get_type_hints(cls)
    kwargs = {}
    for f in fields:
        if f.name in values:
            kwargs[f.name] = _convert(hints[f.name], values[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing key {f.name!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _accepts(tp: Any, value: Any) -> bool:
    """Whether ``value`` has the JSON shape of type ``tp`` (to choose a member of a union)."""
    origin = get_origin(tp) or tp
    if tp is Any:
        return True
    if origin is Literal:
        return value in get_args(tp)
    if dataclasses.is_dataclass(origin) or origin in _MAPPINGS:
        return isinstance(value, Mapping)
    if origin in _SEQUENCES:
        return isinstance(value, (list, tuple))
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (Path, PurePath):
        return isinstance(value, (str, PurePath))
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return value in {m.value for m in origin} or isinstance(value, origin)
    return isinstance(value, origin) if isinstance(origin, type) else True


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` read back as type ``tp``; values of the wrong shape are passed on unchanged,
    for the class's own checks to report."""
    if tp is Any or value is None:
        return value
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        member = next((a for a in args if a is not _NONE and _accepts(a, value)), None)
        return value if member is None else _convert(member, value, where)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_data(tp, value, where)
    if origin in _SEQUENCES and isinstance(value, (list, tuple)):
        return _convert_sequence(origin, args, value, where)
    if origin in _MAPPINGS and isinstance(value, Mapping):
        key_type, value_type = args or (Any, Any)
        return {
            _convert_key(key_type, k): _convert(value_type, v, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    return _convert_scalar(tp, value, where)


def _convert_scalar(tp: Any, value: Any, where: str) -> Any:
    """Enums from their value, paths from strings, floats from integers."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not one of {[m.value for m in tp]}") from None
    if tp in (Path, PurePath) and isinstance(value, str):
        return Path(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _convert_sequence(origin: Any, args: tuple[Any, ...], value: Any, where: str) -> Any:
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            return tuple(value)  # the class reports the wrong length
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    item = args[0] if args else Any
    items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return items if origin is list else tuple(items)


def _convert_key(tp: Any, key: Any) -> Any:
    """JSON object keys are strings: ``{"0": ...}`` is read back as ``{0: ...}`` for int keys."""
    if tp is int and isinstance(key, str):
        try:
            return int(key)
        except ValueError:
            return key  # the class reports it
    return key


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text (no NaN literals) of :func:`to_data` output."""
    return json.dumps(to_data(data), indent=indent, allow_nan=False)


def loads(text: str | bytes, where: str) -> Any:
    """Parse JSON text, raising :class:`ConfigError` naming ``where`` when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None


class Serial:
    """Mixin of a dataclass: ``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json`` by the rule.

    Class attributes a subclass may set:

    - ``_derived``: names of properties written for readers and dropped on reading.

    Methods a subclass may define: ``_to_data(self, data) -> data`` (change the written
    layout) and ``_migrate(cls, data) -> data`` (classmethod: today's layout from an older one).
    """

    _derived: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        data: dict[str, Any] = to_data(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from :meth:`to_dict` output; missing keys take their defaults.

        Raises:
            ConfigError: Not a dict, an unknown key (named), a missing required key, or an
                invalid value.
        """
        out: Self = from_data(cls, data)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as strict JSON text (``null`` for undefined numbers)."""
        return dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Inverse of :meth:`to_json`.

        Raises:
            ConfigError: The text is not JSON, or not a valid object of this class.
        """
        return cls.from_dict(loads(text, cls.__name__))
