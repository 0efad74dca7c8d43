"""The visual report of a training run: figures (matplotlib, Agg) and one HTML page.

Example:
    >>> import xraycls
    >>> page = xraycls.report("runs/xception", n_cam=4)  # doctest: +SKIP
    >>> page.name  # doctest: +SKIP
    'report.html'
"""

from __future__ import annotations

import sys
import types
from typing import Any

from xraycls.report._report import report
from xraycls.report._run import read_evaluation

__all__ = ["read_evaluation", "report"]


class _CallableModule(types.ModuleType):
    """Lets ``xraycls.report(...)`` work even after ``import xraycls.report``.

    Importing the subpackage makes Python set the attribute ``xraycls.report`` to this module,
    which then shadows the lazily exported function of the same name. Calling the module
    forwards to :func:`report`, so both spellings keep working in any import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
