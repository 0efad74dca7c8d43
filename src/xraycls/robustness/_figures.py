"""The suite's two figures: the accuracy heat-map and the sample sheet (matplotlib, Agg)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import cv2
import numpy as np
from matplotlib.figure import Figure

from xraycls.reporting._figures import new_figure
from xraycls.robustness._report import RobustnessReport
from xraycls.robustness._shifts import apply_shift, shift_catalogue

__all__ = ["heatmap_figure", "sample_sheet_figure"]


def _titles() -> dict[str, str]:
    return {spec.name: spec.title for spec in shift_catalogue()}


def heatmap_figure(report: RobustnessReport) -> Figure:
    """Accuracy per kind (rows) and severity (columns), with the clean and mean columns.

    Colour is accuracy on a fixed 0-1 scale (red low, green high), every cell annotated.
    """
    kinds = list(report.corruptions)
    severities = sorted({s for r in report.corruptions.values() for s in r.severities})
    columns = ["clean", *(str(s) for s in severities), "mean"]
    clean = report.clean.get("accuracy")
    grid = np.full((len(kinds), len(columns)), np.nan)
    for r, kind in enumerate(kinds):
        result = report.corruptions[kind]
        grid[r, 0] = np.nan if clean is None else clean
        for s, acc in zip(result.severities, result.accuracy, strict=True):
            grid[r, 1 + severities.index(s)] = acc
        grid[r, -1] = result.mean_accuracy
    titles = _titles()
    fig = new_figure(1.0 + 0.75 * len(columns) + 1.8, 1.2 + 0.36 * len(kinds))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            value = grid[r, c]
            if np.isfinite(value):
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if value < 0.25 or value > 0.85 else "black")  # fmt: skip
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(kinds)), [titles.get(k, k) for k in kinds], fontsize=8)
    ax.set_xlabel("severity")
    ax.axvline(0.5, color="white", linewidth=2)
    ax.axvline(len(columns) - 1.5, color="white", linewidth=2)
    mca = report.mean_corruption_accuracy
    drop = report.relative_drop
    title = "Accuracy under acquisition shifts"
    if clean is not None and mca is not None:
        title += f"\nclean {clean:.3f}, mean corruption {mca:.3f}"
        if drop is not None:
            title += f" (drop {100 * drop:.1f}%)"
    ax.set_title(title + f", {report.n} images", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="accuracy")
    return fig


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    """The image as 8-bit, its long side ``size`` pixels (area interpolation)."""
    if image.dtype == np.uint16:
        image = np.rint(image / 257.0).astype(np.uint8)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        image = cv2.resize(
            image,
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA,
        )
    return image


def sample_sheet_figure(
    image: np.ndarray,
    kinds: Sequence[str],
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    seed: int = 0,
    tile: int = 200,
) -> Figure:
    """One image at every kind (rows) and severity (columns), the clean image first.

    The shifts run on ``image`` at its own resolution, as the suite applies them; each tile is
    then shrunk to ``tile`` pixels on its long side for display only.
    """
    titles = _titles()
    columns = [0, *severities]
    h, w = image.shape[:2]
    aspect = h / w
    cell = tile / 100.0
    fig = new_figure(0.6 + cell * len(columns), 0.5 + cell * aspect * len(kinds) + 0.2 * len(kinds))
    axes = fig.subplots(len(kinds), len(columns), squeeze=False)
    for r, kind in enumerate(kinds):
        for c, severity in enumerate(columns):
            ax = axes[r][c]
            shown = _tile(apply_shift(image, kind, severity, seed=seed), tile)
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=255,
                      interpolation="nearest")  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("clean" if severity == 0 else f"severity {severity}", fontsize=9)
            if c == 0:
                ax.set_ylabel(textwrap.fill(titles.get(kind, kind), 14), fontsize=8)
    fig.suptitle(f"Acquisition shifts of xraycls.robustness (seed {seed})", fontsize=10)
    return fig
