"""Reading a training run folder, tolerant of missing files.

``evaluation.json`` is read by :meth:`xraycls.evaluation.EvaluationReport.from_json`, the one
schema of that file; :func:`evaluation_view` turns the report into the arrays the figures draw.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xraycls.errors import ConfigError
from xraycls.evaluation import Estimate, EvaluationReport

# (value, low, high); low/high are None when there is no interval.
Interval = tuple[float | None, float | None, float | None]


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def estimate(value: Any) -> Interval:
    """Read a number or an :class:`Estimate` (object or its ``{"value", "low", "high"}`` dict)."""
    if isinstance(value, Estimate):
        return value.value, value.low, value.high
    if isinstance(value, dict):
        return _float(value.get("value")), _float(value.get("low")), _float(value.get("high"))
    return _float(value), None, None


@dataclass
class Evaluation:
    """The parts of ``evaluation.json`` the report uses, under fixed names."""

    class_names: list[str]
    n: int | None = None
    accuracy: Interval = (None, None, None)
    loss: float | None = None
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    macro: dict[str, Interval] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    roc: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    auc: dict[str, float | None] = field(default_factory=dict)
    bins: list[dict[str, float]] = field(default_factory=list)
    ece: float | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _bin(raw: dict[str, Any]) -> dict[str, float] | None:
    """One reliability bin of ``EvaluationReport.calibration``; ``None`` for an empty bin."""
    conf, acc = _float(raw.get("confidence")), _float(raw.get("accuracy"))
    count = _float(raw.get("count")) or 0.0
    if conf is None or acc is None or count <= 0:
        return None
    lower, upper = _float(raw.get("lower")), _float(raw.get("upper"))
    return {
        "confidence": conf,
        "accuracy": acc,
        "count": count,
        "lower": 0.0 if lower is None else lower,
        "upper": 1.0 if upper is None else upper,
    }


def _curve(curve: dict[str, list[float | None]]) -> tuple[list[float], list[float]]:
    """ROC points with an undefined coordinate left out."""
    pairs = [
        (f, t)
        for f, t in zip(curve.get("fpr", []), curve.get("tpr", []), strict=False)
        if f is not None and t is not None
    ]
    return [float(p[0]) for p in pairs], [float(p[1]) for p in pairs]


def evaluation_view(report: EvaluationReport) -> Evaluation:
    """The figures' view of an :class:`EvaluationReport` (``evaluation.json``)."""
    names = list(report.class_names)
    bins = [_bin(b) for b in report.calibration.get("bins") or []]
    return Evaluation(
        class_names=names,
        n=report.n,
        accuracy=estimate(report.accuracy),
        loss=report.loss,
        per_class={name: m.to_dict() for name, m in report.per_class.items()},
        macro={k: estimate(e) for k, e in report.macro.items()},
        confusion=np.asarray(report.confusion_matrix, dtype=float),
        roc={
            name: _curve(c)
            for name, c in report.roc_curves.items()
            if c.get("fpr") and c.get("tpr")
        },
        auc={n: report.per_class[n].auc.value if n in report.per_class else None for n in names},
        bins=[b for b in bins if b is not None],
        ece=_float(report.calibration.get("ece")),
        predictions=[
            {
                "file": p.file,
                "true": p.true,
                "predicted": p.predicted,
                "probabilities": [float(p.probabilities.get(n, 0.0)) for n in names],
            }
            for p in report.predictions
        ],
        notes=list(report.notes),
    )


@dataclass
class Run:
    """What a run folder holds; ``None`` for what is missing, with a note saying why."""

    path: Path
    config: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    evaluation: Evaluation | None = None
    notes: dict[str, str] = field(default_factory=dict)


def _read_json(path: Path) -> tuple[Any, str | None]:
    if not path.is_file():
        return None, f"{path.name} not found in the run folder"
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} could not be read: {exc}"


def _read_history_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: _float(v) if _float(v) is not None else v for k, v in r.items()} for r in rows]


def load_run(run_dir: Path) -> Run:
    """Read config, history and evaluation of a run folder; never raises for missing parts."""
    run = Run(path=run_dir)
    config, note = _read_json(run_dir / "config.json")
    if isinstance(config, dict):
        run.config = config
    elif note:
        run.notes["config"] = note
    history, note = _read_json(run_dir / "history.json")
    if isinstance(history, dict) and isinstance(history.get("epochs"), list):
        history = history["epochs"]
    if isinstance(history, list) and history:
        run.history = [h for h in history if isinstance(h, dict)]
    elif (run_dir / "history.csv").is_file():
        try:
            run.history = _read_history_csv(run_dir / "history.csv") or None
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            run.notes["history"] = f"history.csv could not be read: {exc}"
    else:
        run.notes["history"] = note or "history.json is empty"
    if run.history is None and "history" not in run.notes:
        run.notes["history"] = "no training history (history.json / history.csv) in the run folder"
    path = run_dir / "evaluation.json"
    try:
        run.evaluation = evaluation_view(EvaluationReport.from_json(path.read_text("utf-8")))
    except FileNotFoundError:
        why = "evaluation.json not found in the run folder"
    except (OSError, UnicodeDecodeError, ConfigError) as exc:
        why = f"evaluation.json could not be read: {exc}"
    if run.evaluation is None:
        run.notes["evaluation"] = why + " (run `xraycls evaluate` on this run to add test metrics)"
    return run
