"""Canonical class names and the default class order."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: The paper's three classes, in the library's default order; other classes follow, sorted.
CANONICAL_ORDER: tuple[str, ...] = ("COVID", "Normal", "Viral Pneumonia")

_ALIASES: dict[str, str] = {
    "covid": "COVID",
    "covid19": "COVID",
    "covid2019": "COVID",
    "sarscov2": "COVID",
    "normal": "Normal",
    "viralpneumonia": "Viral Pneumonia",
    "pneumoniaviral": "Viral Pneumonia",
    "lungopacity": "Lung_Opacity",
}


def canonical_class(name: str) -> str:
    """Map a folder or manifest label to the canonical spelling; unknown names are kept as-is.

    Case, spaces, ``-`` and ``_`` are ignored: ``COVID-19``, ``covid19`` -> ``COVID``;
    ``NORMAL`` -> ``Normal``; ``Viral_Pneumonia`` -> ``Viral Pneumonia``;
    ``lung opacity`` -> ``Lung_Opacity``. Names are NFKC-normalised first, so a fullwidth
    ``ＣＯＶＩＤ`` (as typed with an East Asian input method) is ``COVID``, not a class of its own.
    """
    name = unicodedata.normalize("NFKC", name)
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return _ALIASES.get(key, name.strip())


def default_order(names: Iterable[str]) -> tuple[str, ...]:
    """COVID, Normal, Viral Pneumonia first (those present), then the rest sorted."""
    present = set(names)
    head = [c for c in CANONICAL_ORDER if c in present]
    return (*head, *sorted(present - set(CANONICAL_ORDER)))
