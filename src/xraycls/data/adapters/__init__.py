"""Adapters for the public chest X-ray datasets, as their maintainers distribute them.

One module a dataset; each has ``NAME``, ``detect(root) -> bool`` and
``list_files(root) -> Listing`` (files, raw labels, findings, patient groups and the meta
columns ``age``, ``sex``, ``view``, ``finding``, ``source``). :mod:`xraycls.data._layouts`
registers them as layouts, so ``load_dataset(path, layout="nih-cxr14")`` (or ``"auto"``)
uses them; label maps (:class:`~xraycls.data.LabelMap`) turn their findings into classes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters import chexpert, covidx, ieee8023, iu, nih, padchest, rsna, vindr

__all__ = ["ADAPTERS"]

#: Layout name -> (detect, list_files), in the order ``layout="auto"`` tries them.
ADAPTERS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Listing]]] = {
    m.NAME: (m.detect, m.list_files)
    for m in (nih, rsna, covidx, chexpert, padchest, ieee8023, vindr, iu)
}
