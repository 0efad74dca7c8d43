"""Writing a robustness run: ``robustness.json`` and its two figures, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xraycls._atomic import write_bytes_atomic, write_text_atomic
from xraycls.errors import ConfigError
from xraycls.robustness._evaluate import first_image_seed
from xraycls.robustness._report import RobustnessReport

__all__ = ["HEATMAP_NAME", "JSON_NAME", "SAMPLES_NAME", "save_robustness"]

#: File names inside the output folder (``xraycls report`` looks for these in a run folder).
JSON_NAME = "robustness.json"
HEATMAP_NAME = "robustness_heatmap.png"
SAMPLES_NAME = "robustness_samples.png"


def save_robustness(
    report: RobustnessReport,
    out: str | os.PathLike[str],
    *,
    sample: str | os.PathLike[str] | np.ndarray | None = None,
    tile: int = 200,
) -> dict[str, Path]:
    """Write ``robustness.json``, the heat-map and (with ``sample``) the sample sheet.

    Args:
        report: What :func:`evaluate_robustness` returned.
        out: Output folder (created). Point it at a training run folder and ``xraycls report``
            adds a robustness section.
        sample: The image of the sample sheet: a file path or a ``uint8``/``uint16`` array
            (gray or RGB); ``None`` writes no sample sheet. It is shifted with the report's
            kinds and severities and with the seed the suite gave the dataset's first image.
        tile: Pixels of the long side of each tile in the sample sheet.

    Returns:
        ``{"json": path, "heatmap": path, "samples": path}`` (``samples`` only with a sample).

    Examples:
        >>> import tempfile
        >>> from xraycls.robustness import RobustnessReport, ShiftResult, save_robustness
        >>> rep = RobustnessReport(["COVID", "Normal"], 4, 0, {"accuracy": 1.0},
        ...     {"blur": ShiftResult([1, 2], [1.0, 0.75], [1.0, 0.5], [1.0, 1.0])})
        >>> sorted(save_robustness(rep, tempfile.mkdtemp()))
        ['heatmap', 'json']
    """
    from xraycls.reporting._figures import png_bytes
    from xraycls.robustness._figures import heatmap_figure, sample_sheet_figure

    if not isinstance(report, RobustnessReport):
        raise ConfigError(f"report: expected a RobustnessReport, got {type(report).__name__}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"json": write_text_atomic(folder / JSON_NAME, report.to_json() + "\n")}
    written["heatmap"] = write_bytes_atomic(
        folder / HEATMAP_NAME, png_bytes(heatmap_figure(report))
    )
    if sample is not None:
        if isinstance(sample, np.ndarray):
            image = sample
        else:
            from xraycls.io import load_image

            image = load_image(sample)
        severities = sorted({s for r in report.corruptions.values() for s in r.severities})
        # The seed the suite gave the dataset's first image: a sheet of that image shows
        # exactly what the model was shown.
        fig = sample_sheet_figure(
            image,
            list(report.corruptions),
            severities,
            seed=first_image_seed(report.seed),
            tile=tile,
        )
        written["samples"] = write_bytes_atomic(folder / SAMPLES_NAME, png_bytes(fig))
    return written
