"""`LoadReport`: everything :func:`~xraycls.data.load_dataset` found, skipped or passed over."""

from __future__ import annotations

from dataclasses import dataclass, field

from xraycls._serial import Serial


@dataclass
class LoadReport(Serial):
    """What happened while loading a dataset; nothing is dropped without an entry here.

    Attributes:
        path: The path given to ``load_dataset``.
        root: The folder (or CSV) the files were taken from after layout detection.
        layout: The detected layout: ``"kaggle-v1"``, ``"kaggle-v2"``, ``"folders"``, ``"csv"``,
            a public-dataset adapter (``"nih-cxr14"``...) or ``"merged"``.
        counts: Images per class that were loaded, in class order.
        skipped: ``(path, reason)`` for every bad file left out (``on_error="skip"``).
        empty_classes: Class folders without a single image, as ``(class, folder)``.
        dropped_classes: Rows left out, with their counts: classes left out by ``classes=``,
            rows a label map dropped (by reason: ``"Infiltration (not in the label map)"``),
            rows an adapter left out (``"lateral view"``); after a merge, prefixed with the
            dataset's name.
        ignored: Non-data files and folders passed over (``.txt``, ``.xlsx``, ``masks/``...).
        groups_source: Where patient groups came from, or ``None`` when unknown.
        meta_source: Where the per-image columns (source, view...) came from, or ``None``.
        verify: The verification mode used (``"quick"``, ``"full"`` or ``"none"``).
        seconds: Wall time of the whole load.

    Examples:
        >>> from xraycls.data import LoadReport
        >>> r = LoadReport(path="data", root="data", layout="folders", counts={"COVID": 2},
        ...                skipped=[("data/COVID/x.png", "file is empty (0 bytes)")])
        >>> print(r)  # doctest: +NORMALIZE_WHITESPACE
        Loaded 2 images in 1 class from data (layout: folders, verify: quick, 0.00 s)
          COVID: 2
        Skipped 1 bad file:
          data/COVID/x.png: file is empty (0 bytes)
    """

    path: str
    root: str
    layout: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    empty_classes: list[tuple[str, str]] = field(default_factory=list)
    dropped_classes: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    groups_source: str | None = None
    verify: str = "quick"
    seconds: float = 0.0
    meta_source: str | None = None

    @property
    def ok(self) -> bool:
        """``True`` when nothing was skipped and no class folder was empty."""
        return not self.skipped and not self.empty_classes

    def __str__(self) -> str:
        total = sum(self.counts.values())
        n_cls = len(self.counts)
        lines = [
            f"Loaded {total} image{'s' * (total != 1)} in {n_cls} class{'es' * (n_cls != 1)} "
            f"from {self.path} (layout: {self.layout}, verify: {self.verify}, "
            f"{self.seconds:.2f} s)"
        ]
        lines += [f"  {name}: {n}" for name, n in self.counts.items()]
        if self.groups_source:
            lines.append(f"Patient groups: {self.groups_source}")
        if self.meta_source:
            lines.append(f"Per-image columns (source...): {self.meta_source}")
        if self.empty_classes:
            lines.append(f"Empty class folders ({len(self.empty_classes)}), classes left out:")
            lines += [f"  {name}: {folder}" for name, folder in self.empty_classes]
        if self.dropped_classes:
            dropped = ", ".join(f"{k} ({v})" for k, v in self.dropped_classes.items())
            lines.append(f"Left out (classes=, label map, adapter): {dropped}")
        if self.skipped:
            n = len(self.skipped)
            lines.append(f"Skipped {n} bad file{'s' * (n != 1)}:")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        if self.ignored:
            lines.append(f"Ignored {len(self.ignored)} non-image files/folders")
        return "\n".join(lines)
