"""Report tables defined once: rows of (label, where the value is, format), as Markdown or HTML.

A table is a tuple of :class:`Row`; :func:`cells` reads the values from a report's JSON form
(``to_dict()`` or the file), so ``AuditReport.to_markdown``, the audit page and the run report
show the same rows under the same labels.

Examples:
    >>> rows = (Row("accuracy", ("full", "accuracy")), Row("images", ("n",), "count"))
    >>> print(markdown(["measure", "value"], cells(rows, {"full": {"accuracy": 0.5}, "n": 4})))
    | measure | value |
    |---|---:|
    | accuracy | 0.500 |
    | images | 4 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AUDIT_ROWS", "ROBUSTNESS_ROWS", "Row", "cells", "markdown"]


@dataclass(frozen=True)
class Row:
    """One row of a report table.

    Attributes:
        label: The row's label, the same in every rendering.
        path: Keys leading to the value in the report's JSON form.
        kind: ``"number"`` (``digits`` decimals), ``"percent"`` (a share, as a percentage with
            one decimal) or ``"count"`` (as is).
        only_with: Show the row only when this top-level key holds a value (an optional part
            of the report, e.g. the lung swap).
    """

    label: str
    path: tuple[str, ...]
    kind: Literal["number", "percent", "count"] = "number"
    only_with: str | None = None

    def value(self, data: Mapping[str, Any]) -> Any:
        """The row's value in ``data``, ``None`` where a key is missing."""
        value: Any = data
        for key in self.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def text(self, data: Mapping[str, Any], digits: int = 3) -> str:
        """The value formatted as the row says, ``"n/a"`` when missing."""
        value = self.value(data)
        if value is None:
            return "n/a"
        if self.kind == "count":
            return str(value)
        if self.kind == "percent":
            return f"{100 * float(value):.1f}%"
        return f"{float(value):.{digits}f}"


def cells(rows: Sequence[Row], data: Mapping[str, Any], digits: int = 3) -> list[list[str]]:
    """``[label, value]`` per row shown for ``data``."""
    return [
        [row.label, row.text(data, digits)]
        for row in rows
        if row.only_with is None or data.get(row.only_with)
    ]


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; columns after the first are right-aligned (numbers)."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


_SWAP = "lung_swap"

#: The audit's numbers (``AuditReport.to_dict()`` / ``audit.json``), in the order shown.
AUDIT_ROWS: tuple[Row, ...] = (
    Row("images audited", ("n",), "count"),
    Row("full image accuracy", ("full", "accuracy")),
    Row("border-only accuracy (lungs blacked out)", ("border_only", "accuracy")),
    Row("lung-only accuracy (outside the lungs blacked out)", ("lung_only", "accuracy")),
    Row("chance (most frequent class)", ("chance",)),
    Row("text-inpainted accuracy", ("text_inpainted", "accuracy")),
    Row("predictions flipped by text inpainting", ("text_inpainted", "flip_share")),
    Row("images the text remover changed", ("text_inpainted", "changed_images"), "count"),
    Row("Grad-CAM mass inside the lung field", ("cam_lung_share",)),
    Row("lung field share of the input (a uniform map's score)", ("lung_area_share",)),
    Row("source probe AUC (largest over classes)", ("source_probe_auc",)),
    Row("lung swap: prediction follows the border", (_SWAP, "follows_border")),
    Row("lung swap: prediction follows the swapped-in lungs", (_SWAP, "follows_lungs")),
    Row("lung swap: another class", (_SWAP, "other")),
    Row("lung swap pairs", (_SWAP, "pairs"), "count", only_with=_SWAP),
)

#: The robustness summary (``RobustnessReport.to_dict()`` / ``robustness.json``).
ROBUSTNESS_ROWS: tuple[Row, ...] = (
    Row("clean accuracy", ("clean", "accuracy")),
    Row("mean corruption accuracy", ("mean_corruption_accuracy",)),
    Row("relative drop", ("relative_drop",), "percent"),
    Row("clean COVID sensitivity", ("clean", "covid_sensitivity")),
    Row("clean COVID specificity", ("clean", "covid_specificity")),
    Row("images", ("n",), "count"),
    Row("shift seed", ("seed",), "count"),
)
