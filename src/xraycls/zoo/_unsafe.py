"""What Keras safe mode refused in a model file, in words (for the refusal message)."""

from __future__ import annotations

import re

__all__ = ["refused_code"]

_REQUESTED = re.compile(r"deserialization of an? `?([A-Za-z_][\w.]*)`?")
_KNOWN = {
    "Lambda": "Python code (a Lambda layer)",
    "TFSMLayer": "a TFSMLayer, which loads an external SavedModel whose graph may run any code",
}


def refused_code(text: str) -> str:
    """What the refused part of a model file is, from Keras's safe-mode error ``text``.

    Names the layer class Keras named, rather than always blaming a Lambda layer.

    Examples:
        >>> refused_code("Requested the deserialization of a `TFSMLayer`, which loads ...")
        'a TFSMLayer, which loads an external SavedModel whose graph may run any code'
        >>> refused_code("Requested the deserialization of a `Lambda` layer whose ...")
        'Python code (a Lambda layer)'
        >>> refused_code("Requested the deserialization of a `MyLayer` ...")
        'a MyLayer layer, which safe mode does not load'
        >>> refused_code("safe_mode refused it")
        'code that safe mode does not load'
    """
    match = _REQUESTED.search(text)
    if match is None:
        return "code that safe mode does not load"
    name = match.group(1)
    return _KNOWN.get(name, f"a {name} layer, which safe mode does not load")
