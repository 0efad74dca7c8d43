"""Reading a training run folder, tolerant of missing files and small key-name differences.

Everything the report needs from ``evaluation.json`` goes through :func:`read_evaluation`, the
one adapter between the evaluation format and the figures.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# (value, low, high); low/high are None when there is no interval.
Interval = tuple[float | None, float | None, float | None]


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def estimate(value: Any) -> Interval:
    """Read a number, ``{"value", "low", "high"}`` (or ``ci_low``/``ci_high``...) or a list."""
    if isinstance(value, dict):
        v = value.get("value", value.get("estimate", value.get("mean")))
        lo = next((value[k] for k in ("low", "ci_low", "lower", "lo") if k in value), None)
        hi = next((value[k] for k in ("high", "ci_high", "upper", "hi") if k in value), None)
        return _float(v), _float(lo), _float(hi)
    if isinstance(value, (list, tuple)):
        parts = [*value, None, None, None]
        return _float(parts[0]), _float(parts[1]), _float(parts[2])
    return _float(value), None, None


def _first(data: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in data and data[key] is not None:
            return data[key]
    return default


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


def _probabilities(value: Any, names: list[str]) -> list[float]:
    if isinstance(value, dict):
        return [float(value.get(n, 0.0)) for n in names]
    return [float(v) for v in value]


def _label(value: Any, names: list[str]) -> str:
    if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(names):
        return names[int(value)]
    return str(value)


def read_evaluation(data: dict[str, Any]) -> Evaluation:
    """Normalise an ``EvaluationReport.to_dict()`` (or a close variant) for the report.

    Keys used: ``class_names``, ``n``, ``accuracy``, ``loss``, ``per_class`` (class ->
    ``support`` and metric estimates), ``macro``, ``confusion_matrix``, ``roc_curves`` (class ->
    ``fpr``/``tpr``), ``calibration`` (``ece``, ``bins`` of ``confidence``/``accuracy``/
    ``count``), ``predictions`` (``file``, ``true``, ``predicted``, ``probabilities``) and
    ``notes``. Alternative names (``roc``, ``reliability``, top-level ``ece``/``auc``) are
    accepted too.
    """
    names = [str(c) for c in _first(data, "class_names", "classes", default=[])]
    ev = Evaluation(class_names=names)
    ev.n = int(data["n"]) if _float(data.get("n")) is not None else None
    ev.accuracy = estimate(data.get("accuracy"))
    ev.loss = _float(data.get("loss"))
    per_class = _first(data, "per_class", "classes_metrics", default={})
    if isinstance(per_class, list):  # [{"class": name, ...}, ...]
        per_class = {str(r.get("class", r.get("name", i))): r for i, r in enumerate(per_class)}
    ev.per_class = {str(k): dict(v) for k, v in per_class.items() if isinstance(v, dict)}
    ev.macro = {str(k): estimate(v) for k, v in (data.get("macro") or {}).items()}
    cm = _first(data, "confusion_matrix", "confusion")
    if cm is not None:
        ev.confusion = np.asarray(cm, dtype=float)
        if not names:
            ev.class_names = names = [f"class_{i}" for i in range(len(cm))]
    roc = _first(data, "roc_curves", "roc", default={})
    for name, curve in roc.items():
        if isinstance(curve, dict) and curve.get("fpr") and curve.get("tpr"):
            fpr = [_float(x) for x in curve["fpr"]]
            tpr = [_float(x) for x in curve["tpr"]]
            pairs = [
                (f, t) for f, t in zip(fpr, tpr, strict=False) if f is not None and t is not None
            ]
            ev.roc[str(name)] = ([p[0] for p in pairs], [p[1] for p in pairs])
    top_auc = data.get("auc")
    for name in names:
        metrics = ev.per_class.get(name, {})
        auc = estimate(metrics["auc"])[0] if "auc" in metrics else None
        if auc is None and isinstance(top_auc, dict):
            auc = estimate(top_auc.get(name))[0]
        ev.auc[name] = auc
    calib = _first(data, "calibration", "reliability", default={})
    raw_bins = calib.get("bins") if isinstance(calib, dict) else None
    if raw_bins is None and isinstance(calib, dict) and "bin_confidence" in calib:
        raw_bins = [
            {"confidence": c, "accuracy": a, "count": n}
            for c, a, n in zip(
                calib["bin_confidence"],
                calib.get("bin_accuracy", []),
                calib.get("bin_count", [1] * len(calib["bin_confidence"])),
                strict=False,
            )
        ]
    for b in raw_bins or []:
        conf, acc = _float(b.get("confidence")), _float(b.get("accuracy"))
        count = _float(b.get("count")) or 0.0
        if conf is None or acc is None or count <= 0:
            continue
        ev.bins.append(
            {
                "confidence": conf,
                "accuracy": acc,
                "count": count,
                "lower": _float(b.get("lower")) or 0.0,
                "upper": _float(b.get("upper")) or 1.0,
            }
        )
    ev.ece = _float(calib.get("ece")) if isinstance(calib, dict) else None
    if ev.ece is None:
        ev.ece = _float(data.get("ece"))
    for p in _first(data, "predictions", "per_image", default=[]):
        try:
            ev.predictions.append(
                {
                    "file": p.get("file") or p.get("path"),
                    "true": _label(p["true"], names),
                    "predicted": _label(p["predicted"], names),
                    "probabilities": _probabilities(p.get("probabilities", []), names),
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
    ev.notes = [str(n) for n in data.get("notes", [])]
    return ev


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


def read_run(run_dir: Path) -> Run:
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
    evaluation, note = _read_json(run_dir / "evaluation.json")
    if isinstance(evaluation, dict):
        try:
            run.evaluation = read_evaluation(evaluation)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            run.notes["evaluation"] = f"evaluation.json has an unexpected layout: {exc}"
    else:
        run.notes["evaluation"] = (
            note or "evaluation.json is not an object"
        ) + " (run `xraycls evaluate` on this run to add test metrics)"
    return run
