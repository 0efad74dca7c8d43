"""The audit's files: ``audit.json``, PNG figures and a self-contained ``audit.html``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xraycls._atomic import write_bytes_atomic, write_text_atomic
from xraycls.auditing._report import AuditReport
from xraycls.reporting import _figures, _html
from xraycls.reporting._tables import AUDIT_ROWS, cells

__all__ = ["save_audit"]

_TITLES = {
    "full": "full image",
    "border_only": "border only",
    "lung_only": "lung only",
    "text_inpainted": "text inpainted",
}


def _inputs_figure(examples: list[dict[str, Any]]) -> Any:
    """One row per example: the four inputs, the lung contour on the full image."""
    rows = len(examples)
    fig = _figures.new_figure(9.0, 2.3 * rows + 0.4)
    axes = fig.subplots(rows, len(_TITLES), squeeze=False)
    for r, ex in enumerate(examples):
        for c, variant in enumerate(_TITLES):
            ax = axes[r][c]
            ax.imshow(ex["images"][variant])
            ax.set_xticks([])
            ax.set_yticks([])
            if variant == "full":
                ax.contour(ex["mask"], levels=[0.5], colors="cyan", linewidths=1)
                ax.set_ylabel(f"true: {ex['true']}", fontsize=8)
            if variant == "lung_only":
                ax.contour(ex["margin_mask"], levels=[0.5], colors="yellow", linewidths=0.8)
            predicted = ex["predicted"][variant]
            colour = "tab:green" if predicted == ex["true"] else "tab:red"
            ax.set_title(f"{_TITLES[variant]} -> {predicted}", fontsize=8, color=colour)
    fig.suptitle(
        "What the model sees in each audit variant (cyan: lung field; yellow: lung field + "
        "margin). Title: prediction, green if correct.",
        fontsize=9,
    )
    return fig


def _cams_figure(examples: list[dict[str, Any]]) -> Any:
    from xraycls.explain import overlay

    columns = min(4, len(examples))
    rows = -(-len(examples) // columns)
    fig = _figures.new_figure(2.3 * columns + 0.2, 2.45 * rows + 0.4)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i in range(rows * columns):
        ax = axes[i // columns][i % columns]
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(examples):
            ax.axis("off")
            continue
        ex = examples[i]
        ax.imshow(overlay(ex["images"]["full"], ex["cam"]))
        ax.contour(ex["mask"], levels=[0.5], colors="cyan", linewidths=1)
        share = ex["cam_lung_share"]
        share_text = "n/a" if not np.isfinite(share) else f"{share:.0%}"
        predicted = ex["predicted"]["full"]
        colour = "tab:green" if predicted == ex["true"] else "tab:red"
        ax.set_title(
            f"{ex['true']} -> {predicted}\n{share_text} inside lungs", fontsize=8, color=colour
        )
    fig.suptitle("Grad-CAM of the predicted class with the lung contour (cyan)", fontsize=9)
    return fig


def _swap_figure(examples: list[dict[str, Any]]) -> Any:
    """One row per pair: recipient, donor, composite (with the pasted region's contour)."""
    rows = len(examples)
    fig = _figures.new_figure(6.9, 2.3 * rows + 0.5)
    axes = fig.subplots(rows, 3, squeeze=False)
    for r, ex in enumerate(examples):
        panels = (
            (ex["recipient"], f"border from: {ex['border_class']}", "black"),
            (ex["donor"], f"lungs from: {ex['lung_class']}", "black"),
            (ex["swapped"], f"swapped -> {ex['predicted']}", _swap_colour(ex)),
        )
        for c, (image, title, colour) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 2:
                ax.contour(ex["mask"], levels=[0.5], colors="cyan", linewidths=0.8)
            ax.set_title(title, fontsize=8, color=colour)
    fig.suptitle(
        "Lung swap: the lungs of an image of another class pasted in (cyan: pasted region).\n"
        "Red: the prediction kept the border's class; green: it took the lungs' class.",
        fontsize=9,
    )
    return fig


def _swap_colour(example: dict[str, Any]) -> str:
    if example["predicted"] == example["lung_class"]:
        return "tab:green"
    return "tab:red" if example["predicted"] == example["border_class"] else "tab:orange"


def _numbers(report: AuditReport) -> str:
    names = report.class_names
    header = ["input", "accuracy (95% CI)", "balanced accuracy", *[f"{c} sens." for c in names]]
    rows = []
    for variant, title in _TITLES.items():
        part = getattr(report, variant)
        low, high = (part.get("accuracy_ci") or [None, None])[:2]
        rows.append(
            [
                title,
                _html.fmt((part.get("accuracy"), low, high)),
                _html.fmt((part.get("balanced_accuracy"), None, None)),
                *[_html.fmt((part.get("sensitivity", {}).get(c), None, None)) for c in names],
            ]
        )
    html = _html.table(header, rows)
    html += _html.table(["measure", "value"], cells(AUDIT_ROWS, report.to_dict()))

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    if report.source_probe:
        html += "<h3>Source probe per class</h3>" + _html.table(
            ["class", "images", "folds", "sources", "AUC"],
            [
                [
                    name,
                    str(p["n"]),
                    str(p["folds"]),
                    ", ".join(f"{s} ({c})" for s, c in p["sources"].items()),
                    num(p["auc"]),
                ]
                for name, p in report.source_probe.items()
            ],
            numeric_from=4,
        )
    return html


def save_audit(report: AuditReport, out: str | os.PathLike[str]) -> Path:
    """Write ``audit.json``, the figures (PNG) and ``audit.html`` into the folder ``out``.

    The figures of masked inputs and CAMs need ``report.examples``, which only a report fresh
    from `xraycls.audit` has; a report read back from JSON gets the bar chart only.

    Returns:
        The path of ``audit.html``.

    Examples:
        >>> from xraycls.auditing import AuditReport, save_audit
        >>> rep = AuditReport(["a", "b"], 4, 0.5, {"accuracy": 1.0}, {"accuracy": 0.5},
        ...                   {"accuracy": 1.0}, 0.9, {"accuracy": 1.0, "flip_share": 0.0})
        >>> save_audit(rep, "runs/audit").name  # doctest: +SKIP
        'audit.html'
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "audit.json", report.to_json() + "\n")

    def save(name: str, fig: Any, caption: str) -> str:
        png = _figures.png_bytes(fig)
        write_bytes_atomic(out / name, png)
        return _html.figure(png, name, caption)

    if report.flags:
        findings = "<h2>Findings</h2>" + "".join(
            _html.note(f"{flag.message} [{flag.code}: {flag.rule}]") for flag in report.flags
        )
    else:
        findings = (
            "<h2>Findings</h2><p>No flags: nothing suspicious at the documented thresholds "
            "(docs/audit.md).</p>"
        )
    findings += "".join(_html.note(text) for text in report.notes)
    numbers = "<h2>Numbers</h2>" + _numbers(report)
    numbers += save(
        "audit_metrics.png",
        _figures.audit_bars(report.to_dict()),
        "Accuracy by input variant against chance; Grad-CAM lung share, source probe AUC and the "
        "lung swap's share following the border against their flag thresholds",
    )
    sections = [("findings", findings), ("numbers", numbers)]
    if report.examples:
        html = "<h2>Inputs</h2>" + save(
            "audit_inputs.png",
            _inputs_figure(report.examples),
            "The first images of each class in the four audit variants",
        )
        html += "<h2>Grad-CAM</h2>" + save(
            "audit_cams.png",
            _cams_figure(report.examples),
            "Grad-CAM of the predicted class; the cyan line is the lung field the share is "
            "measured against",
        )
        if report.swap_examples:
            html += "<h2>Lung swap</h2>" + save(
                "audit_lung_swap.png",
                _swap_figure(report.swap_examples),
                "The first lung-swapped pairs: the image whose border is kept, the image whose "
                "lungs are pasted in, and the composite with the model's prediction",
            )
        sections.append(("figures", html))
    sections.append(
        (
            "settings",
            "<h2>Settings</h2>"
            + _html.table(["setting", "value"], _html.flatten(report.settings), numeric_from=2),
        )
    )
    from xraycls._about import __version__

    text = _html.page("xraycls shortcut audit", sections, __version__)
    return write_text_atomic(out / "audit.html", text)
