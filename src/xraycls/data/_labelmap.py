"""`LabelMap`: a dataset's own findings -> the task's classes, with one multi-label rule.

Public datasets label images with findings (NIH: ``Pneumonia|Infiltration``; VinDr: one
finding per radiologist; CheXpert: 14 columns with an uncertain value). A :class:`LabelMap`
maps each finding to a task class or to ``None`` (drop), and resolves a row with several
findings by one stated rule, so every row ends in exactly one class or in the dropped count
with a reason:

1. Findings are matched without regard to case, spaces or punctuation (``No Finding`` =
   ``No finding`` = ``no-finding``); a key ending in ``*`` matches every finding starting
   with it (``Pneumonia/Viral/*``); an exact key wins over a ``*`` key.
2. Uncertain findings (CheXpert ``-1.0``) follow ``uncertain``: ``"positive"`` counts them
   as findings, ``"negative"`` ignores them, ``"drop"`` (default) drops the row when an
   uncertain finding maps to a class.
3. If findings map to classes other than the ``alone`` classes (``Normal``), the row gets the
   first of them in ``priority`` order (COVID before Viral Pneumonia): a COVID finding makes
   the row COVID whatever else it has; a pneumonia finding with other findings is pneumonia.
   Two such classes neither of which is in ``priority`` drop the row (``conflicting
   findings``).
4. Else, an ``alone`` class (``Normal``) is given only when every finding of the row maps to
   it (``No Finding`` alone; VinDr: every radiologist said ``No finding``); with any other
   finding the row is dropped (``Normal with other findings``).
5. Else the row has no finding mapped to a class: it is dropped when a finding is mapped to
   ``None`` (``dropped by the label map``); else, with ``keep_unmapped``, it keeps its own
   label; else it is dropped (``not in the label map``), counted under its findings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from xraycls._serial import Serial
from xraycls.errors import ConfigError

__all__ = ["PRESETS", "UNCERTAIN_POLICIES", "LabelMap", "finding_key", "label_map_preset"]

UNCERTAIN_POLICIES = ("drop", "positive", "negative")

COVID, NORMAL, PNEUMONIA = "COVID", "Normal", "Viral Pneumonia"


def finding_key(text: str) -> str:
    """The matching key of a finding: lower case, letters, digits, ``/`` and ``*`` only.

    Examples:
        >>> finding_key("No Finding"), finding_key("COVID-19"), finding_key("Lung_Opacity")
        ('nofinding', 'covid19', 'lungopacity')
    """
    return re.sub(r"[^a-z0-9/*]", "", str(text).lower())


@dataclass(frozen=True)
class LabelMap(Serial):
    """Findings -> task classes (or ``None``: drop), resolved by the module's multi-label rule.

    Attributes:
        mapping: Finding (or ``prefix*``) -> class name, or ``None`` to drop it.
        name: Preset name (``"paper"``) or ``None`` for a hand-made map.
        priority: Classes that win over other findings, in this order.
        alone: Classes given only when every finding of a row maps to them.
        keep_unmapped: A row without any mapped finding keeps its own label (like
            ``classes=`` with a dict) instead of being dropped.
        uncertain: ``"drop"``, ``"positive"`` or ``"negative"`` for uncertain findings.

    Examples:
        >>> from xraycls.data import LabelMap
        >>> m = LabelMap({"No Finding": "Normal", "Pneumonia": "Viral Pneumonia"})
        >>> m.resolve(["Pneumonia", "Infiltration"])
        ('Viral Pneumonia', '')
        >>> m.resolve(["No Finding"])
        ('Normal', '')
        >>> m.resolve(["Infiltration"])
        (None, 'Infiltration (not in the label map)')
        >>> LabelMap.from_dict(m.to_dict()) == m
        True
    """

    mapping: Mapping[str, str | None] = field(default_factory=dict)
    name: str | None = None
    priority: tuple[str, ...] = (COVID, PNEUMONIA)
    alone: tuple[str, ...] = (NORMAL,)
    keep_unmapped: bool = False
    uncertain: str = "drop"

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping):
            raise ConfigError(
                f"LabelMap: mapping must be a dict, got {type(self.mapping).__name__}"
            )
        for k, v in self.mapping.items():
            if not isinstance(k, str) or not (v is None or isinstance(v, str)):
                raise ConfigError(
                    f"LabelMap: {k!r}: {v!r}: keys must be findings (str) and values class "
                    "names (str) or None"
                )
        if self.uncertain not in UNCERTAIN_POLICIES:
            raise ConfigError(
                f"LabelMap: uncertain must be one of {UNCERTAIN_POLICIES}, got {self.uncertain!r}"
            )
        object.__setattr__(self, "mapping", dict(self.mapping))
        object.__setattr__(self, "priority", tuple(self.priority))
        object.__setattr__(self, "alone", tuple(self.alone))
        exact: dict[str, str | None] = {}
        prefix: list[tuple[str, str | None]] = []
        for k, v in self.mapping.items():
            key = finding_key(k)
            if key.endswith("*"):
                prefix.append((key[:-1], v))
            else:
                exact[key] = v
        prefix.sort(key=lambda kv: -len(kv[0]))  # the longest prefix wins
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefix", tuple(prefix))

    def lookup(self, finding: str) -> tuple[bool, str | None]:
        """``(True, class or None)`` when the map mentions ``finding``, else ``(False, None)``.

        Examples:
            >>> from xraycls.data import LabelMap
            >>> LabelMap({"Pneumonia/Viral/*": "Viral Pneumonia"}).lookup("Pneumonia/Viral/SARS")
            (True, 'Viral Pneumonia')
        """
        key = finding_key(finding)
        exact: dict[str, str | None] = self._exact  # type: ignore[attr-defined]
        if key in exact:
            return True, exact[key]
        for pre, target in self._prefix:  # type: ignore[attr-defined]
            if key.startswith(pre):
                return True, target
        return False, None

    def resolve(
        self, findings: Sequence[str], uncertain: Sequence[str] = ()
    ) -> tuple[str | None, str]:
        """One row's class, or ``(None, reason)`` when the row is dropped.

        Args:
            findings: The row's findings (one for single-label datasets).
            uncertain: The row's uncertain findings (CheXpert ``-1.0``).

        Returns:
            ``(class, "")`` or ``(None, reason)``; with ``keep_unmapped`` a row without mapped
            findings keeps its own label (``"|"``-joined findings).
        """
        found = _distinct(findings)
        unsure = _distinct(uncertain)
        if self.uncertain == "positive":
            found += [f for f in unsure if f not in found]
        elif self.uncertain == "drop":
            dropped = self._dropping_uncertain(unsure)
            if dropped is not None:
                return None, f"uncertain {dropped}"
        if not found:
            return None, "no finding"
        return self._by_rule(found)

    def _dropping_uncertain(self, unsure: Sequence[str]) -> str | None:
        """The first uncertain finding that drops its row (rule 2, ``"drop"``), else ``None``."""
        for f in unsure:
            known, target = self.lookup(f)
            if (known and target is not None) or (not known and self.keep_unmapped):
                return f
        return None

    def _by_priority(self, raw: str, special: Sequence[str]) -> tuple[str | None, str]:
        """Rule 3: the first of ``special`` in ``priority``, the only one, or a conflict."""
        for cls in self.priority:
            if cls in special:
                return cls, ""
        if len(special) == 1:
            return special[0], ""
        return None, f"{raw} (conflicting findings: {', '.join(sorted(special))})"

    def _by_rule(self, found: Sequence[str]) -> tuple[str | None, str]:
        """Rules 3 to 5 of the module docstring for a row's (certain) findings."""
        raw = "|".join(found)
        looked = [(f, *self.lookup(f)) for f in found]
        targets = [t for _f, known, t in looked if known and t is not None]
        special = list(dict.fromkeys(t for t in targets if t not in self.alone))
        if special:
            return self._by_priority(raw, special)
        if targets:
            first = targets[0]
            if all(known and t == first for _f, known, t in looked):
                return first, ""
            return None, f"{raw} ({first} with other findings)"
        if any(known for _f, known, _t in looked):
            return None, f"{raw} (dropped by the label map)"
        if self.keep_unmapped:
            return raw, ""
        return None, f"{raw} (not in the label map)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMap):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _distinct(findings: Sequence[str]) -> list[str]:
    """Non-empty, stripped findings, each once, in order."""
    return [f for f in dict.fromkeys(str(f).strip() for f in findings) if f]


_BASE: dict[str, str | None] = {
    "COVID": COVID,
    "COVID-19": COVID,
    "Normal": NORMAL,
    "No Finding": NORMAL,
    "Viral Pneumonia": PNEUMONIA,
    "Pneumonia": PNEUMONIA,
}

#: The ``"paper"`` preset of every layout: the paper's three classes, the third one meaning
#: "non-COVID pneumonia" for multi-source data. Everything not listed is dropped and counted.
PRESETS: dict[str, dict[str, dict[str, str | None]]] = {
    "paper": {
        "nih-cxr14": {"No Finding": NORMAL, "Pneumonia": PNEUMONIA},
        # RSNA's "Lung Opacity" is the challenge's evidence of pneumonia (opacities suspicious
        # for pneumonia, mostly bacterial or unknown cause): non-COVID pneumonia.
        "rsna-pneumonia": {
            "Normal": NORMAL,
            "Lung Opacity": PNEUMONIA,
            "No Lung Opacity / Not Normal": None,
        },
        # COVIDx "negative" (later releases) means "not COVID": normal or pneumonia, unknown.
        "covidx": {
            "normal": NORMAL,
            "pneumonia": PNEUMONIA,
            "COVID-19": COVID,
            "positive": COVID,
            "negative": None,
        },
        "chexpert": {"No Finding": NORMAL, "Pneumonia": PNEUMONIA},
        "padchest": {
            "normal": NORMAL,
            "pneumonia": PNEUMONIA,
            "viral pneumonia": PNEUMONIA,
            "COVID 19": COVID,
        },
        # ieee8023 names the cause: viral ones only (bacterial, fungal... are dropped).
        "ieee8023": {
            "COVID-19": COVID,
            "Pneumonia/Viral/COVID-19": COVID,
            "Pneumonia/Viral/*": PNEUMONIA,
            "SARS": PNEUMONIA,
            "MERS": PNEUMONIA,
            "MERS-CoV": PNEUMONIA,
            "Influenza": PNEUMONIA,
            "Varicella": PNEUMONIA,
            "No Finding": NORMAL,
        },
        # VinDr-CXR's train.csv has no pneumonia class (its 14 local findings only).
        "vindr-cxr": {"No finding": NORMAL},
        "iu-xray": {"normal": NORMAL},
        "kaggle-v2": {**_BASE, "Lung_Opacity": None},
        "kaggle-v1": _BASE,
        "folders": _BASE,
        "csv": _BASE,
    }
}


def label_map_preset(name: str, layout: str) -> LabelMap:
    """The preset ``name`` (``"paper"``) for ``layout``.

    Examples:
        >>> label_map_preset("paper", "nih-cxr14").resolve(["Pneumonia", "Effusion"])
        ('Viral Pneumonia', '')
    """
    table = PRESETS.get(name)
    if table is None:
        raise ConfigError(f"unknown label map preset {name!r}; presets: {sorted(PRESETS)}")
    mapping = table.get(layout)
    if mapping is None:
        raise ConfigError(
            f"label map preset {name!r} has no entry for layout {layout!r}; it has {sorted(table)}"
        )
    return LabelMap(mapping, name=name)


def as_label_map(spec: str | Mapping[str, str | None] | LabelMap | None, layout: str) -> LabelMap:
    """The :class:`LabelMap` a ``label_map=`` argument means for ``layout``.

    ``None`` keeps every label (rows without a finding and uncertain rows are still dropped and
    counted); a preset name picks :func:`label_map_preset`; a plain dict maps the labels it
    names and keeps the others (like ``classes=`` with a dict).
    """
    if spec is None:
        return LabelMap({}, keep_unmapped=True)
    if isinstance(spec, LabelMap):
        return spec
    if isinstance(spec, str):
        return label_map_preset(spec, layout)
    if isinstance(spec, Mapping):
        return LabelMap(dict(spec), keep_unmapped=True)
    raise ConfigError(
        f"label_map must be a preset name, a dict or a LabelMap, got {type(spec).__name__}"
    )
