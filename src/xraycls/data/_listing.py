"""`Listing`: what a layout lister or a dataset adapter found (files, raw labels, metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Listing"]


@dataclass
class Listing:
    """What a layout lister found: files with raw labels, plus everything it passed over.

    ``labels`` holds each file's label as the dataset writes it (a folder name, NIH's
    ``Pneumonia|Infiltration``...). Multi-label adapters also fill ``findings`` (the separate
    findings of a file) and ``uncertain`` (findings marked uncertain, CheXpert's ``-1.0``); a
    label map resolves them to one class. ``dropped`` counts rows an adapter left out itself
    (lateral views...), by reason.
    """

    layout: str
    root: Path
    files: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    meta: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> file -> value
    ignored: list[str] = field(default_factory=list)
    empty_classes: dict[str, str] = field(default_factory=dict)  # label -> folder
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    findings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> findings
    uncertain: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> findings
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows

    def add(
        self,
        file: str,
        label: str,
        *,
        group: str | None = None,
        findings: tuple[str, ...] | None = None,
        uncertain: tuple[str, ...] = (),
        **meta: str | None,
    ) -> None:
        """Append one file with its raw label, patient group, findings and meta columns."""
        self.files.append(file)
        self.labels.append(label)
        if group:
            self.groups[file] = group
        if findings is not None:
            self.findings[file] = findings
        if uncertain:
            self.uncertain[file] = uncertain
        for column, value in meta.items():
            if value is not None and str(value).strip():
                self.meta.setdefault(column, {})[file] = str(value).strip()

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows left out for ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + n
