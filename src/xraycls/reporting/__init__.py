"""The visual report of a training run: figures (matplotlib, Agg) and one HTML page.

Examples:
    >>> import xraycls
    >>> page = xraycls.report("runs/xception", n_cam=4)  # doctest: +SKIP
    >>> page.name  # doctest: +SKIP
    'report.html'
"""

from __future__ import annotations

from xraycls.reporting._report import report

__all__ = ["report"]
