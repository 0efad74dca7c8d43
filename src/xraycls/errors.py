"""One exception tree for xraycls.

Every error raised on purpose by xraycls derives from :class:`XrayclsError`, so a caller can
catch them all in one place. Messages name the file or argument at fault, what was expected and
what to do.

Examples:
    >>> from xraycls.errors import ImageReadError, XrayclsError
    >>> err = ImageReadError("scan.png", "file is empty (0 bytes)")
    >>> isinstance(err, XrayclsError), err.path
    (True, 'scan.png')
"""

from __future__ import annotations

import os

__all__ = [
    "ConfigError",
    "DatasetLayoutError",
    "DependencyError",
    "ImageReadError",
    "ModelFileError",
    "PluginError",
    "TrainingError",
    "UnknownModelError",
    "WeightsError",
    "XrayclsError",
]


class XrayclsError(Exception):
    """Base class of every error raised by xraycls.

    An error whose remedy differs between Python and the command line carries both: the
    message (``str(err)``) gives the Python advice, ``hint_cli`` the command-line one, which
    ``xraycls`` commands print instead of ``hint``.

    Args:
        *args: The message (what is wrong), as for ``Exception``.
        hint: What to do, for Python callers (appended to the message).
        hint_cli: What to do, for command-line users (printed by the CLI instead of ``hint``).

    Examples:
        >>> err = XrayclsError("2 bad files;", hint="pass on_error='skip'.",
        ...                    hint_cli="add --on-error skip.")
        >>> str(err)
        "2 bad files; pass on_error='skip'."
        >>> err.cli_message()
        '2 bad files; add --on-error skip.'

    """

    def __init__(self, *args: object, hint: str | None = None, hint_cli: str | None = None) -> None:
        super().__init__(*args)
        self.hint = hint
        self.hint_cli = hint_cli

    def __str__(self) -> str:
        base = super().__str__()
        hint = getattr(self, "hint", None)
        return f"{base} {hint}" if hint else base

    def cli_message(self) -> str:
        """The message with the command-line hint (if any) in place of the Python one."""
        base = Exception.__str__(self)
        hint = getattr(self, "hint_cli", None) or getattr(self, "hint", None)
        return f"{base} {hint}" if hint else base


class ImageReadError(XrayclsError):
    """An image file could not be decoded.

    Args:
        path: The file that failed.
        reason: Why, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ImageReadError], tuple[str, str]]:
        # Keeps the error picklable so it survives multiprocessing and tf.data worker threads.
        return (type(self), (self.path, self.reason))


class DatasetLayoutError(XrayclsError):
    """A folder or manifest does not look like any supported dataset layout, or is empty."""


class UnknownModelError(XrayclsError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:
        # KeyError quotes its argument; we want the plain message.
        return str(self.args[0]) if self.args else ""


class WeightsError(XrayclsError):
    """Weights could not be found, downloaded, verified or loaded."""


class PluginError(XrayclsError):
    """A backbone plugin is broken or clashes with another provider."""


class ConfigError(XrayclsError, ValueError):
    """A configuration value or function argument is invalid."""


class TrainingError(XrayclsError):
    """Training cannot go on (for example the loss became NaN)."""


class ModelFileError(XrayclsError):
    """A saved model file is missing, corrupt or refused (for example unsafe code in safe mode)."""


class DependencyError(XrayclsError, ImportError):
    """An optional dependency is needed for this feature and is not installed."""
