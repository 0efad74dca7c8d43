"""`AuditReport` and `Flag`: what a shortcut audit found, as data that round-trips through JSON.

Examples:
    >>> from xraycls.auditing import AuditReport
    >>> rep = AuditReport(class_names=["a", "b"], n=10, chance=0.5,
    ...                   full={"accuracy": 0.9}, border_only={"accuracy": 0.5},
    ...                   lung_only={"accuracy": 0.9}, cam_lung_share=0.8,
    ...                   text_inpainted={"accuracy": 0.9, "flip_share": 0.0})
    >>> AuditReport.from_json(rep.to_json()) == rep
    True
    >>> rep.flags
    []
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xraycls._serial import Serial
from xraycls.reporting._tables import AUDIT_ROWS, cells, markdown

__all__ = ["AuditReport", "Flag"]


@dataclass(frozen=True)
class Flag(Serial):
    """One suspicious finding, with the number behind it and the rule that raised it.

    Attributes:
        code: Stable identifier (``"border_only_above_chance"``, ``"cam_outside_lungs"``...;
            the list is in ``docs/audit.md``).
        message: The finding in plain language, for a person.
        value: The measured number.
        threshold: The documented threshold it was compared with.
        rule: How ``value`` and ``threshold`` were compared, in words.

    Examples:
        >>> Flag("cam_outside_lungs", "CAM mostly outside the lungs", 0.3, 0.5, "value < 0.5")
        ... # doctest: +ELLIPSIS
        Flag(code='cam_outside_lungs', ...)
    """

    code: str
    message: str
    value: float | None
    threshold: float | None
    rule: str


@dataclass(frozen=True)
class AuditReport(Serial):
    """Everything `xraycls.audit` measured; what ``audit.json`` holds.

    The metric dicts (``full``, ``border_only``, ``lung_only``, ``text_inpainted``) share one
    shape: ``accuracy`` with its Wilson 95% interval ``accuracy_ci``, ``balanced_accuracy``,
    ``sensitivity`` per class, ``confusion_matrix`` (``[true][predicted]``) and ``n``.

    Attributes:
        class_names: Class names in label order.
        n: Images audited.
        chance: Accuracy of always answering the most frequent class (the bar the masked
            variants are compared with).
        full: Metrics on the images as they are.
        border_only: Metrics with everything inside the lung field blacked out.
        lung_only: Metrics with everything outside the lung field (plus ``settings["margin"]``)
            blacked out.
        cam_lung_share: Mean share of Grad-CAM mass inside the lung field, in ``[0, 1]``
            (``None`` when no image had a non-empty map).
        text_inpainted: Metrics after burned-in text and markers were found and inpainted, plus
            ``flip_share`` (share of predictions that changed), ``flipped`` and ``changed_images``
            (images in which the remover changed any pixel).
        source_probe_auc: Largest cross-validated AUC, over classes with two or more sources, of a
            linear probe that predicts the source from the model's penultimate features; ``None``
            when no class has two sources.
        source_probe: Per class: ``auc``, ``n``, ``folds`` and image ``sources`` counts.
        lung_area_share: Mean share of the input covered by the lung field: what a uniform CAM
            would score as ``cam_lung_share``.
        lung_swap: The lung-swap counterfactual: each image gets the lung field of an image of
            another class; ``follows_border`` is the share of predictions that keep the
            recipient's class (the border decides), ``follows_lungs`` the share that take the
            donor's class (the lungs decide), ``other`` the rest, ``pairs`` how many were
            predicted. ``None`` when not run (one class only, ``swap_pairs=0``).
        flags: Suspicious findings; empty when nothing is suspicious.
        notes: Remarks (e.g. why the probe was not run).
        settings: How the numbers were computed (margin, thresholds, seed, CAM method...).
        examples: A few audited images with their masked versions, lung mask and CAM, for the
            figures of `save_audit`; not part of the JSON.
        swap_examples: A few lung-swapped images (recipient, donor, composite, classes and
            prediction) for the figures; not part of the JSON.
    """

    class_names: list[str]
    n: int
    chance: float
    full: dict[str, Any]
    border_only: dict[str, Any]
    lung_only: dict[str, Any]
    cam_lung_share: float | None
    text_inpainted: dict[str, Any]
    source_probe_auc: float | None = None
    source_probe: dict[str, Any] = field(default_factory=dict)
    lung_area_share: float | None = None
    lung_swap: dict[str, Any] | None = None
    flags: list[Flag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    # Images for the figures only, not part of the JSON.
    examples: list[dict[str, Any]] = field(
        default_factory=list, repr=False, compare=False, metadata={"serial": False}
    )
    swap_examples: list[dict[str, Any]] = field(
        default_factory=list, repr=False, compare=False, metadata={"serial": False}
    )

    def to_markdown(self, digits: int = 3) -> str:
        """A short table of the audit numbers followed by the flags.

        Examples:
            >>> rep = AuditReport(["a", "b"], 4, 0.5, {"accuracy": 1.0}, {"accuracy": 0.5},
            ...                   {"accuracy": 1.0}, 0.9, {"accuracy": 1.0, "flip_share": 0.0})
            >>> print(rep.to_markdown().splitlines()[3])
            | full image accuracy | 1.000 |
        """

        lines = [markdown(["audit", "value"], cells(AUDIT_ROWS, self.to_dict(), digits))]
        lines.append("")
        if self.flags:
            lines += [f"- **{flag.code}**: {flag.message}" for flag in self.flags]
        else:
            lines.append("No flags: nothing suspicious at the documented thresholds.")
        lines += [f"- note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"
