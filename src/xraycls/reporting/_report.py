"""``report()``: a training run folder -> ``report.html`` + PNG figures."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

from xraycls._atomic import write_bytes_atomic, write_text_atomic
from xraycls.errors import ConfigError
from xraycls.reporting import _figures, _html
from xraycls.reporting._audit import audit_section
from xraycls.reporting._cams import cam_tiles, tile_count
from xraycls.reporting._reproduction import (
    REPRODUCTION_FILES,
    RUN_FILES,
    is_reproduction,
    is_run,
    reproduction_report,
)
from xraycls.reporting._robustness import robustness_section
from xraycls.reporting._run import Run, load_run


def _save(out: Path, name: str, fig: Any, caption: str, figures: dict[str, Path]) -> str:
    png = _figures.png_bytes(fig)
    figures[name] = write_bytes_atomic(out / name, png)
    return _html.figure(png, name, caption)


def _summary(run: Run) -> str:
    ev = run.evaluation
    if ev is None:
        return "<h2>Test metrics</h2>" + _html.note(run.notes.get("evaluation", "no evaluation"))
    rows = [
        ["accuracy", _html.fmt(ev.accuracy)],
        ["loss", "n/a" if ev.loss is None else f"{ev.loss:.4f}"],
        ["expected calibration error", "n/a" if ev.ece is None else f"{ev.ece:.3f}"],
        ["test images", "n/a" if ev.n is None else str(ev.n)],
    ]
    html = "<h2>Test metrics</h2>" + _html.table(["metric", "value"], rows)
    if ev.per_class:
        header, class_rows = _html.per_class_rows(ev.per_class, ev.class_names)
        if ev.macro:
            metrics = header[2:]
            class_rows.append(["macro", "", *(_html.fmt(ev.macro.get(m)) for m in metrics)])
        html += _html.table(header, class_rows)
        html += (
            '<p class="meta">Point estimates with confidence intervals in brackets '
            "(as computed by <code>xraycls evaluate</code>).</p>"
        )
    for text in ev.notes:
        html += _html.note(text)
    return html


def _cam_section(
    run: Run, out: Path, data: Path | None, n_cam: int, figures: dict[str, Path]
) -> str:
    html = "<h2>Class activation maps</h2>"
    ev = run.evaluation
    if ev is None:
        return html + _html.note("skipped: needs evaluation.json with per-image predictions")
    if n_cam <= 0:
        return html + _html.note("skipped: n_cam is 0")
    model_path = next(
        (run.path / n for n in ("best.keras", "last.keras") if (run.path / n).is_file()), None
    )
    if model_path is None:
        return html + _html.note("skipped: no best.keras or last.keras in the run folder")
    try:
        rows, notes = cam_tiles(ev, run.path, model_path, data=data, n_cam=n_cam, config=run.config)
    except Exception as exc:  # the page must still be written; say what went wrong instead
        return html + _html.note(f"skipped: {type(exc).__name__}: {exc}")
    if not rows or tile_count(rows) == 0:
        reason = "; ".join(notes) if notes else "no image could be explained"
        return html + _html.note(f"skipped: {reason}")
    for text in notes:
        html += _html.note(text)
    fig = _figures.cam_grid(rows, 2 * n_cam, "Grad-CAM")
    caption = (
        f"Grad-CAM of the predicted class from {model_path.name} (target layer chosen "
        f"automatically). Per true class: the {n_cam} most confident correct predictions, "
        f"then the {n_cam} most confident wrong ones."
    )
    return html + _save(out, "cams.png", fig, caption, figures)


def _decision_section(run: Run, out: Path, figures: dict[str, Path]) -> str | None:
    """The calibration of ``best.keras``; ``None`` (no section) when it was not calibrated."""
    from xraycls.errors import ModelFileError
    from xraycls.zoo import load_model_info

    try:
        stored = load_model_info(run.path / "best.keras").calibration
    except ModelFileError:  # no best.keras, or not an xraycls file: nothing to show
        return None
    if stored is None:
        return None
    cal = stored.to_dict()
    html = "<h2>Calibrated decisions</h2>"

    def num(key: str, digits: int = 3) -> str:
        value = cal.get(key)
        return "n/a" if value is None else f"{float(value):.{digits}f}"

    rows = [
        ["temperature", num("temperature")],
        ["expected calibration error before", num("ece_before")],
        ["expected calibration error after", num("ece_after")],
        [f"{cal.get('positive_class')} threshold", num("threshold", 4)],
        ["target sensitivity", num("target_sensitivity", 2)],
        ["sensitivity at the threshold", num("sensitivity")],
        ["specificity at the threshold", num("specificity")],
        ["refer below (top probability)", num("refer_below", 2)],
        ["referred (calibration images)", num("refer_rate")],
        ["calibration images", str(cal.get("n_images", "n/a"))],
    ]
    html += _html.table(["setting", "value"], rows)
    fig = _figures.decision_roc(cal)
    if fig is not None:
        caption = "ROC of the positive class on the calibration data; red: the operating point"
        html += _save(out, "operating_point.png", fig, caption, figures)
    return html


def report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    data: str | os.PathLike[str] | None = None,
    n_cam: int = 4,
) -> Path:
    """Turn a training run folder into a self-contained HTML report with PNG figures.

    The page holds the run's metrics table, training curves (loss and accuracy, train and
    validation), confusion matrix, ROC curves per class, reliability diagram, the calibrated
    decisions of ``best.keras`` when ``xraycls calibrate`` ran on it (ECE before/after, the
    COVID operating point on its ROC curve), a grid of Grad-CAM
    overlays of correct and wrong test predictions per class (from ``best.keras`` and the image
    files listed in ``evaluation.json``), the robustness to acquisition shifts when the folder
    holds a ``robustness.json`` (from ``xraycls robustness --out RUN_DIR``), and the run's
    configuration. Figures are embedded in the page (it opens offline, no scripts) and also
    written as PNG files next to it. A missing piece (no ``evaluation.json`` yet, image files
    moved) skips its section with a visible note.
    When the folder holds an ``audit.json`` (``xraycls audit``, ``reproduce --audit``), a
    shortcut-audit section follows the CAMs.

    Given the output folder of `xraycls.reproduce` (``profile.json``, ``results.json``, one
    run folder per model), it writes one page for all the models: the data's confounding
    warnings, the results table, the per-source tables, the splits and the profile, with a link
    to each model's own run report, written into ``<model>/report/`` (or ``OUT/<model>/`` when
    ``out`` is given).

    Args:
        run_dir: A :class:`xraycls.Trainer` workdir, or a `xraycls.reproduce` output folder.
        out: Output folder; default ``RUN_DIR/report``.
        data: Folder that relative image paths in ``evaluation.json`` are relative to (the
            dataset root), when they are not found as written or under the run folder.
        n_cam: Correct and wrong examples per class in the CAM grid (0 skips the grid).

    Returns:
        The path of ``report.html``.

    Raises:
        ConfigError: ``run_dir`` is not a folder, is neither a run nor a reproduce folder, or
            ``n_cam`` is negative.

    Examples:
        >>> import xraycls
        >>> xraycls.report("runs/xception")  # doctest: +SKIP
        PosixPath('runs/xception/report/report.html')
    """
    run_path = Path(run_dir)
    if not run_path.is_dir():
        raise ConfigError(f"run_dir {os.fspath(run_dir)!r} is not a folder (a training workdir).")
    if n_cam < 0:
        raise ConfigError(f"n_cam={n_cam} must be >= 0.")
    data_path = Path(data) if data is not None else None
    if data_path is not None and not data_path.is_dir():
        raise ConfigError(f"data {str(data_path)!r} is not a folder.")
    out_path = Path(out) if out is not None else run_path / "report"
    if is_reproduction(run_path) and not is_run(run_path):

        def run_report(model_dir: Path, model_out: Path) -> Path:
            top = os.path.relpath(out_path / "report.html", model_out)
            return _run_report(model_dir, model_out, data_path, n_cam, back=Path(top).as_posix())

        return reproduction_report(run_path, out_path, run_report, separate=out is not None)
    if not is_run(run_path):
        raise ConfigError(
            f"{os.fspath(run_dir)!r} is neither a training run folder (none of "
            f"{', '.join(RUN_FILES)}) nor a reproduce output folder (none of "
            f"{', '.join(REPRODUCTION_FILES)}); give a Trainer workdir or the --out folder of "
            "xraycls reproduce."
        )
    return _run_report(run_path, out_path, data_path, n_cam)


def _run_report(
    run_path: Path, out_path: Path, data_path: Path | None, n_cam: int, back: str | None = None
) -> Path:
    """The page of one training run folder; ``back`` links the reproduction page above it."""
    out_path.mkdir(parents=True, exist_ok=True)
    run = load_run(run_path)
    figures: dict[str, Path] = {}
    summary = _summary(run)
    if back is not None:
        summary = (
            f'<p class="meta">One model of a reproduction: <a href="{escape(back)}">all models, '
            "results and data warnings</a>.</p>" + summary
        )
    sections: list[tuple[str, str]] = [("metrics", summary)]

    html = "<h2>Training curves</h2>"
    fig = _figures.training_curves(run.history) if run.history else None
    if fig is None:
        html += _html.note(run.notes.get("history", "no loss or accuracy columns in the history"))
    else:
        html += _save(out_path, "training_curves.png", fig, "Loss and accuracy per epoch", figures)
    sections.append(("training", html))

    ev = run.evaluation
    missing = run.notes.get("evaluation", "no evaluation")
    for anchor, title, name, draw, caption in (
        ("confusion", "Confusion matrix", "confusion_matrix.png", _figures.confusion_matrix,
         "Test set confusion matrix"),
        ("roc", "ROC curves", "roc_curves.png", _figures.roc_curves,
         "One-vs-rest ROC curves per class"),
        ("calibration", "Calibration", "calibration.png", _figures.calibration,
         "Reliability diagram of the top-class probability"),
    ):  # fmt: skip
        html = f"<h2>{title}</h2>"
        fig = draw(ev) if ev is not None else None
        if fig is None:
            html += _html.note(
                missing if ev is None else f"evaluation.json has no data for {title}"
            )
        else:
            html += _save(out_path, name, fig, caption, figures)
        sections.append((anchor, html))

    decisions = _decision_section(run, out_path, figures)
    if decisions is not None:
        sections.append(("decisions", decisions))
    sections.append(("cams", _cam_section(run, out_path, data_path, n_cam, figures)))
    audit_html = audit_section(run_path, out_path, figures)
    if audit_html is not None:
        sections.append(("audit", audit_html))

    robustness = robustness_section(run_path, out_path, figures)
    if robustness is not None:
        sections.append(("robustness", robustness))

    html = "<h2>Configuration</h2>"
    if run.config is None:
        html += _html.note(run.notes.get("config", "no config.json"))
    else:
        html += _html.table(["setting", "value"], _html.flatten(run.config), numeric_from=2)
    sections.append(("configuration", html))

    from xraycls._about import __version__

    title = f"xraycls run report: {run_path.resolve().name}"
    text = _html.page(title, sections, __version__)
    return write_text_atomic(out_path / "report.html", text)
