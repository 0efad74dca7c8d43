"""The audit's documented thresholds (`Thresholds`) and the findings they raise (`find_flags`).

The reasoning behind each default is in ``docs/audit.md``; change a threshold by passing a
`Thresholds` to `xraycls.audit`, never by editing the numbers here.

Examples:
    >>> from xraycls.auditing import Thresholds
    >>> Thresholds().cam_lung_share
    0.5
    >>> Thresholds.from_dict(Thresholds(probe_auc=0.8).to_dict()).probe_auc
    0.8
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xraycls._serial import Serial
from xraycls.auditing._report import Flag
from xraycls.errors import ConfigError

__all__ = ["Thresholds", "find_flags"]


@dataclass(frozen=True)
class Thresholds(Serial):
    """When a finding becomes a flag (see ``docs/audit.md`` for why these values).

    Attributes:
        ci_level: Confidence level of the Wilson interval of border-only accuracy.
        border_excess: Border-only accuracy is flagged when the lower end of its Wilson
            interval exceeds chance by more than this (room for lung-mask edge errors and for
            the little a heart or diaphragm outline tells).
        border_over_lung: Flag when border-only accuracy beats lung-only accuracy by more than
            this.
        cam_lung_share: Flag when the mean Grad-CAM mass inside the lung field is below this.
        text_flip_share: Flag when inpainting text and markers flips more than this share of
            predictions.
        probe_auc: Flag when the linear source probe's cross-validated AUC exceeds this.
        lung_swap_border: Flag when, with the lung field swapped for one of another class, more
            than this share of predictions keep the class of the border (a model that reads
            the lungs follows the new lungs; a constant two-class guess scores 0.5).
    """

    ci_level: float = 0.95
    border_excess: float = 0.05
    border_over_lung: float = 0.05
    cam_lung_share: float = 0.5
    text_flip_share: float = 0.05
    probe_auc: float = 0.7
    lung_swap_border: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"Thresholds.ci_level={self.ci_level} must be in (0, 1)")
        for name in ("cam_lung_share", "text_flip_share", "probe_auc", "lung_swap_border"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"Thresholds.{name}={value} must be in [0, 1]")


def _single_source_flags(
    labels: Sequence[int] | np.ndarray,
    sources: Sequence[str],
    class_names: Sequence[str],
    populations: dict[str, str],
) -> list[Flag]:
    """A class whose every image comes from one source: that source can stand in for it."""
    by_class: dict[int, set[str]] = {}
    for label, source in zip(labels, sources, strict=True):
        by_class.setdefault(int(label), set()).add(str(source))
    if len(by_class) < 2 or all(s == {"unknown"} for s in by_class.values()):
        return []
    flags = []
    for k, found in sorted(by_class.items()):
        if len(found) != 1 or found == {"unknown"}:
            continue
        (source,) = found
        shared = [class_names[j] for j, s in sorted(by_class.items()) if j != k and source in s]
        others = [class_names[j] for j, s in sorted(by_class.items()) if source not in s]
        known = f"; {populations[source]}" if source in populations else ""
        message = f"every {class_names[k]} image comes from one source ({source}{known})"
        if shared:
            message += f", which also supplies {', '.join(shared)}"
        if others:
            message += f" and no {', '.join(others)} image"
        message += (
            ": anything that marks this source (patient age, scanner, export path, burned-in "
            "text) can stand in for the class. No crop or filter removes that: the model never "
            "sees what a film of this class from another population (adults, if the source is "
            "paediatric) looks like. Add images of this class from other sources."
        )
        flags.append(
            Flag(
                code="single_source_class",
                message=message,
                value=1.0,
                threshold=2.0,
                rule="sources of the class < 2",
            )
        )
    return flags


def find_flags(
    report: dict[str, Any],
    thresholds: Thresholds,
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    sources: Sequence[str] | None = None,
    populations: dict[str, str] | None = None,
) -> list[Flag]:
    """The flags raised by an audit's numbers (an `AuditReport.to_dict`-shaped dict).

    Args:
        report: Needs ``chance``, ``full``, ``border_only``, ``lung_only``,
            ``cam_lung_share``, ``text_inpainted``, ``source_probe_auc`` and ``class_names``;
            ``lung_swap`` when present.
        thresholds: The thresholds.
        labels: True class index per image (for the single-source check).
        sources: Source per image; with ``labels``, classes from a single source are flagged.
        populations: Source -> what is known of its patients (`Dataset.describe` notes, e.g.
            paediatric films), quoted in the single-source findings.

    Returns:
        The flags in a fixed order; empty when nothing is suspicious.

    Examples:
        >>> rep = {"chance": 0.34, "class_names": ["a", "b", "c"],
        ...        "full": {"accuracy": 0.95}, "lung_only": {"accuracy": 0.5},
        ...        "border_only": {"accuracy": 0.81, "accuracy_ci": [0.75, 0.86]},
        ...        "cam_lung_share": 0.7, "text_inpainted": {"flip_share": 0.0},
        ...        "source_probe_auc": None}
        >>> [f.code for f in find_flags(rep, Thresholds())]
        ['border_only_above_chance', 'border_beats_lungs']
    """
    flags = [flag for check in _CHECKS if (flag := check(report, thresholds)) is not None]
    if labels is not None and sources is not None:
        flags += _single_source_flags(labels, sources, report["class_names"], populations or {})
    return flags


def _border_only_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    chance = float(report["chance"])
    border = report["border_only"]
    b_acc, b_ci = border.get("accuracy"), border.get("accuracy_ci") or [None, None]
    bar = chance + thresholds.border_excess
    if b_acc is None or b_ci[0] is None or b_ci[0] <= bar:
        return None
    return Flag(
        code="border_only_above_chance",
        message=(
            f"border-only accuracy {b_acc:.2f} (lungs blacked out; "
            f"{thresholds.ci_level:.0%} interval {b_ci[0]:.2f}-{b_ci[1]:.2f}) is far "
            f"above chance {chance:.2f}: the model does not need the lungs to decide"
        ),
        value=float(b_acc),
        threshold=bar,
        rule=(
            f"lower end of the Wilson {thresholds.ci_level:.0%} interval > chance + "
            f"{thresholds.border_excess}"
        ),
    )


def _border_beats_lungs_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    b_acc = report["border_only"].get("accuracy")
    l_acc = report["lung_only"].get("accuracy")
    if b_acc is None or l_acc is None or b_acc - l_acc <= thresholds.border_over_lung:
        return None
    return Flag(
        code="border_beats_lungs",
        message=(
            f"border-only accuracy {b_acc:.2f} is higher than lung-only accuracy "
            f"{l_acc:.2f}: what lies outside the lungs tells this model more than the "
            "lungs do"
        ),
        value=float(b_acc - l_acc),
        threshold=thresholds.border_over_lung,
        rule=f"border-only minus lung-only accuracy > {thresholds.border_over_lung}",
    )


def _cam_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    share = report.get("cam_lung_share")
    if share is None or share >= thresholds.cam_lung_share:
        return None
    return Flag(
        code="cam_outside_lungs",
        message=(
            f"only {share:.0%} of the Grad-CAM mass lies inside the lung field: the "
            "model mostly looks elsewhere (borders, text, shoulders, background)"
        ),
        value=float(share),
        threshold=thresholds.cam_lung_share,
        rule=f"mean Grad-CAM share inside the lungs < {thresholds.cam_lung_share}",
    )


def _text_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    flip = report["text_inpainted"].get("flip_share")
    if flip is None or flip <= thresholds.text_flip_share:
        return None
    return Flag(
        code="text_changes_predictions",
        message=(
            f"inpainting burned-in text and markers flips {flip:.0%} of the predictions: "
            "the model reads the labels burned into the films"
        ),
        value=float(flip),
        threshold=thresholds.text_flip_share,
        rule=f"share of flipped predictions > {thresholds.text_flip_share}",
    )


def _lung_swap_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    swap = report.get("lung_swap") or {}
    follows = swap.get("follows_border")
    if follows is None or follows <= thresholds.lung_swap_border:
        return None
    lungs = swap.get("follows_lungs")
    lungs_text = "" if lungs is None else f" and {lungs:.0%} the class of the new lungs"
    return Flag(
        code="lung_swap_follows_border",
        message=(
            f"with the lung field replaced by that of an image of another class, "
            f"{follows:.0%} of the predictions keep the class of the surroundings"
            f"{lungs_text} ({swap.get('pairs', '?')} pairs): the model decides from "
            "what lies outside the lungs"
        ),
        value=float(follows),
        threshold=thresholds.lung_swap_border,
        rule=f"lung swap: share following the border > {thresholds.lung_swap_border}",
    )


def _probe_flag(report: dict[str, Any], thresholds: Thresholds) -> Flag | None:
    auc = report.get("source_probe_auc")
    if auc is None or auc <= thresholds.probe_auc:
        return None
    worst = max(
        (item for item in report.get("source_probe", {}).items() if item[1].get("auc")),
        key=lambda item: item[1]["auc"],
        default=None,
    )
    where = f" within {worst[0]}" if worst else ""
    return Flag(
        code="features_encode_source",
        message=(
            f"a linear probe on the model's penultimate features tells the image source "
            f"apart{where} with AUC {auc:.2f}: the features carry the hospital or "
            "collection, which can stand in for the class"
        ),
        value=float(auc),
        threshold=thresholds.probe_auc,
        rule=f"cross-validated probe AUC > {thresholds.probe_auc}",
    )


#: The audit's checks, in the order their flags are reported.
_CHECKS: tuple[Callable[[dict[str, Any], Thresholds], Flag | None], ...] = (
    _border_only_flag,
    _border_beats_lungs_flag,
    _cam_flag,
    _text_flag,
    _lung_swap_flag,
    _probe_flag,
)
