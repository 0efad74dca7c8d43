"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from xraycls.reporting._run import Evaluation

_DPI = 100


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _series(history: Sequence[dict[str, Any]], key: str) -> list[float]:
    out = []
    for row in history:
        try:
            out.append(float(row.get(key, np.nan)))
        except (TypeError, ValueError):
            out.append(np.nan)
    return out


def training_curves(history: Sequence[dict[str, Any]]) -> Figure | None:
    """Loss and accuracy per epoch, train and validation side by side."""
    epochs = _series(history, "epoch")
    if all(np.isnan(epochs)):
        epochs = list(range(len(history)))
    # Trainer epochs are 0-based in the history; people count from 1.
    x = [e + 1 for e in epochs] if min(epochs) == 0 else epochs
    panels = [m for m in ("loss", "accuracy") if any(np.isfinite(_series(history, m)))]
    if not panels:
        return None
    fig = new_figure(5.0 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, metric in zip(axes, panels, strict=True):
        for key, label, style in ((metric, "train", "-o"), (f"val_{metric}", "validation", "-s")):
            y = _series(history, key)
            if any(np.isfinite(y)):
                ax.plot(x, y, style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
        if metric == "accuracy":
            ax.set_ylim(-0.02, 1.02)
    return fig


def confusion_matrix(ev: Evaluation) -> Figure | None:
    """Counts with row-normalised colour (recall per true class)."""
    if ev.confusion is None or ev.confusion.size == 0:
        return None
    cm = ev.confusion
    names = ev.class_names
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = 1.4 + 1.1 * len(names)
    fig = new_figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{frac[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if frac[i, j] > 0.6 else "black",
                fontsize=10,
            )
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (colour: share of the true class)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def roc_curves(ev: Evaluation) -> Figure | None:
    """One-vs-rest ROC curve per class with its AUC."""
    if not ev.roc:
        return None
    fig = new_figure(5.2, 4.6)
    ax = fig.subplots()
    for name in ev.class_names or list(ev.roc):
        if name not in ev.roc:
            continue
        fpr, tpr = ev.roc[name]
        auc = ev.auc.get(name)
        label = f"{name} (AUC {auc:.3f})" if auc is not None else name
        ax.plot(fpr, tpr, label=label, linewidth=1.8)
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title("ROC curves (one vs rest)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def calibration(ev: Evaluation) -> Figure | None:
    """Reliability diagram: accuracy vs confidence of the top class, with bin counts."""
    if not ev.bins:
        return None
    fig = new_figure(5.2, 5.4)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    conf = np.array([b["confidence"] for b in ev.bins])
    acc = np.array([b["accuracy"] for b in ev.bins])
    count = np.array([b["count"] for b in ev.bins])
    lower = np.array([b["lower"] for b in ev.bins])
    upper = np.array([b["upper"] for b in ev.bins])
    if np.all(upper - lower >= 1.0):  # no bin edges in the file: centre bars on confidences
        half = 0.5 / max(len(conf), 5)
        lower, upper = conf - half, conf + half
    centre, width = (lower + upper) / 2, (upper - lower) * 0.92
    top.bar(centre, acc, width=width, color="tab:blue", alpha=0.7, label="accuracy per bin")
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    top.plot(conf, acc, "o", color="tab:red", markersize=4, label="mean confidence")
    title = "Reliability diagram"
    if ev.ece is not None:
        title += f" (ECE {ev.ece:.3f})"
    top.set_title(title)
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centre, count, width=width, color="grey")
    bottom.set_xlabel("confidence of the predicted class")
    bottom.set_ylabel("images")
    return fig


def decision_roc(cal: dict[str, Any]) -> Figure | None:
    """ROC of the positive class on the calibration data, with the operating point marked."""
    roc = cal.get("roc") or {}
    if not roc.get("fpr") or cal.get("specificity") is None or cal.get("sensitivity") is None:
        return None
    fig = new_figure(5.2, 4.6)
    ax = fig.subplots()
    positive = cal.get("positive_class", "positive")
    auc = cal.get("auc")
    label = f"{positive} vs rest" + (f" (AUC {auc:.3f})" if auc is not None else "")
    ax.plot(roc["fpr"], roc["tpr"], linewidth=1.8, label=label)
    x, y = 1 - float(cal["specificity"]), float(cal["sensitivity"])
    ax.plot([x], [y], "o", color="tab:red", markersize=8,
            label=f"operating point p >= {float(cal['threshold']):.3f}")  # fmt: skip
    ax.axhline(float(cal.get("target_sensitivity", y)), color="tab:red", linestyle=":",
               linewidth=1, label="target sensitivity")  # fmt: skip
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(f"{positive} operating point (calibration data)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def cam_grid(
    rows: Sequence[tuple[str, Sequence[dict[str, Any] | None]]], columns: int, method: str
) -> Figure:
    """A grid of overlays: one row per class, its correct then its wrong predictions.

    Each tile is a dict with ``image`` (RGB uint8), ``title`` and ``correct`` (bool), or
    ``None`` for an empty slot.
    """
    fig = new_figure(2.0 * columns + 0.6, 2.25 * len(rows) + 0.3)
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, (label, tiles) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            tile = tiles[c] if c < len(tiles) else None
            if tile is None:
                ax.text(0.5, 0.5, "none", ha="center", va="center", color="grey", fontsize=9)
                for spine in ax.spines.values():
                    spine.set_color("lightgrey")
            else:
                ax.imshow(tile["image"])
                colour = "tab:green" if tile["correct"] else "tab:red"
                ax.set_title(tile["title"], fontsize=8, color=colour)
                for spine in ax.spines.values():
                    spine.set_color(colour)
                    spine.set_linewidth(2.5)
            if c == 0:
                ax.set_ylabel(f"true: {label}", fontsize=9)
    fig.suptitle(f"{method} maps of the predicted class - green: correct, red: wrong", fontsize=10)
    return fig


def audit_bars(audit: dict[str, Any]) -> Figure:
    """Bar chart of an ``audit.json``: accuracy per input variant against chance, and the
    Grad-CAM lung share, source-probe AUC and lung-swap share following the border against
    their flag thresholds."""
    thresholds = audit.get("settings", {}).get("thresholds", {})
    fig = new_figure(9.0, 3.4)
    left, right = fig.subplots(1, 2, width_ratios=[2, 1.3])
    names = ["full", "border_only", "lung_only", "text_inpainted"]
    labels = [
        "full image",
        "border only\n(lungs black)",
        "lung only\n(outside black)",
        "text\ninpainted",
    ]
    colours = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    for i, (key, colour) in enumerate(zip(names, colours, strict=True)):
        part = audit.get(key) or {}
        acc = part.get("accuracy")
        if acc is None:
            continue
        low, high = (part.get("accuracy_ci") or [None, None])[:2]
        err = None
        if low is not None and high is not None:
            err = [[max(0.0, acc - low)], [max(0.0, high - acc)]]
        left.bar(i, acc, color=colour, yerr=err, capsize=4)
        left.text(i, min(acc + 0.03, 1.02), f"{acc:.2f}", ha="center", fontsize=9)
    chance = audit.get("chance")
    if chance is not None:
        left.axhline(chance, color="black", linestyle="--", linewidth=1)
        left.text(-0.45, chance + 0.015, f"chance {chance:.2f}", ha="left", fontsize=8)
    left.set_xticks(range(len(names)), labels, fontsize=8)
    left.set_ylim(0, 1.08)
    left.set_ylabel("accuracy (95% Wilson interval)")
    left.set_title("Accuracy by input", fontsize=10)
    items = [
        ("Grad-CAM\nlung share", audit.get("cam_lung_share"), thresholds.get("cam_lung_share")),
        ("source probe\nAUC", audit.get("source_probe_auc"), thresholds.get("probe_auc")),
        (
            "lung swap:\nfollows border",
            (audit.get("lung_swap") or {}).get("follows_border"),
            thresholds.get("lung_swap_border"),
        ),
    ]
    for i, (_, value, limit) in enumerate(items):
        if value is not None:
            right.bar(i, value, color="tab:grey")
            right.text(i, min(value + 0.03, 1.02), f"{value:.2f}", ha="center", fontsize=9)
        else:
            right.text(i, 0.05, "n/a", ha="center", fontsize=9, color="grey")
        if limit is not None:
            right.hlines(limit, i - 0.4, i + 0.4, color="black", linestyle="--", linewidth=1)
    right.set_xticks(range(len(items)), [t for t, _, _ in items], fontsize=8)
    right.set_ylim(0, 1.08)
    right.set_title("Dashed: flag threshold", fontsize=9)
    return fig
