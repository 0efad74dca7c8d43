"""Short, actionable renderings of third-party exceptions for xraycls error messages.

Examples:
    >>> short_error(ValueError("x" * 1000), limit=8)
    'ValueError: xxxxx...'
"""

from __future__ import annotations

__all__ = ["short_error"]


def short_error(exc: BaseException, limit: int = 400) -> str:
    """Return ``"Type: message"`` on one line, at most about ``limit`` characters.

    Keras errors can embed whole model configs or weight tensors; the start of the message is
    the part a user can act on.

    Args:
        exc: The exception.
        limit: Maximum length of the message part.
    """
    text = " ".join(str(exc).split())
    text = text.split(" Target variable:")[0]
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return f"{type(exc).__name__}: {text}"
