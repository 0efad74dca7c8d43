"""Lets a subpackage share its name with the function it exports (``xraycls.evaluate``).

Importing ``xraycls.evaluate`` makes Python set the attribute ``xraycls.evaluate`` to the
subpackage, which then shadows the lazily exported function of the same name. Making the module
object callable keeps ``xraycls.evaluate(...)`` working in any import order.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, func: Callable[..., Any]) -> None:
    """Make ``sys.modules[module_name](...)`` call ``func``."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    _CallableModule.__name__ = f"{module_name}.CallableModule"
    sys.modules[module_name].__class__ = _CallableModule
