"""The report's class activation grid: correct and wrong test predictions per class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xraycls.explain import cam, overlay
from xraycls.imaging import RESIZE_MODES, fit_image, input_size, unfit
from xraycls.reporting._run import Evaluation
from xraycls.zoo import load_model

# Originals are shrunk to this longest side before drawing; tiles are small anyway.
_TILE_SIDE = 256


def resolve_file(file: str, run_dir: Path, data: Path | None) -> Path | None:
    """Find a predictions entry's image: as given, under ``data``, or under the run folder."""
    path = Path(file)
    candidates = [path] if path.is_absolute() else []
    if data is not None:
        candidates += [data / path, data / path.name] if path.is_absolute() else [data / path]
    if not path.is_absolute():
        candidates += [run_dir / path, path]
    return next((c for c in candidates if c.is_file()), None)


def select(ev: Evaluation, n_cam: int) -> list[tuple[str, list[int | None]]]:
    """Per true class: up to ``n_cam`` most confident correct and most confident wrong."""
    rows = []
    for name in ev.class_names:
        idx = [
            i
            for i, p in enumerate(ev.predictions)
            if p["true"] == name and p["file"] and p["predicted"] in ev.class_names
        ]

        def confidence(i: int) -> float:
            p = ev.predictions[i]
            probs = p["probabilities"]
            k = ev.class_names.index(p["predicted"]) if p["predicted"] in ev.class_names else -1
            return float(probs[k]) if 0 <= k < len(probs) else 0.0

        right = sorted((i for i in idx if ev.predictions[i]["predicted"] == name), key=confidence)
        wrong = sorted((i for i in idx if ev.predictions[i]["predicted"] != name), key=confidence)
        picks: list[int | None] = []
        for group in (right[::-1][:n_cam], wrong[::-1][:n_cam]):
            picks += [*group, *([None] * (n_cam - len(group)))]
        rows.append((name, picks))
    return rows


def _resize_mode(config: dict[str, Any] | None) -> str:
    """The run's resize mode when its config records one, else the pipeline's default."""
    stack: list[Any] = [config or {}]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            mode = item.get("resize")
            if isinstance(mode, str) and mode in RESIZE_MODES:
                return mode
            stack.extend(item.values())
    return "pad"


def cam_tiles(
    ev: Evaluation,
    run_dir: Path,
    model_path: Path,
    *,
    data: Path | None,
    n_cam: int,
    config: dict[str, Any] | None,
    method: str = "gradcam",
) -> tuple[list[tuple[str, list[dict[str, Any] | None]]], list[str]]:
    """Compute the overlays for the grid. Returns ``(rows, notes)``; rows may be empty."""
    from xraycls.io import load_image

    notes: list[str] = []
    rows = select(ev, n_cam)
    wanted = sorted({i for _, picks in rows for i in picks if i is not None})
    if not wanted:
        return [], ["no per-image predictions with file paths in evaluation.json"]
    found = _find_files(ev, wanted, run_dir, data, notes)
    if not found:
        return [], notes
    # A bare Keras file (no class names stored) is fine here: the classes come from
    # evaluation.json.
    model = load_model(model_path)
    outputs = int(model.outputs[0].shape[-1])
    if outputs != len(ev.class_names):
        return [], [
            *notes,
            f"{model_path.name} predicts {outputs} classes but evaluation.json has "
            f"{len(ev.class_names)} ({ev.class_names}); CAMs skipped",
        ]
    h, w = input_size(model, any_size=True)
    mode = _resize_mode(config)
    originals, fitted, boxes, order = [], [], [], []
    for i, path in found.items():
        try:
            img = load_image(path)
        except Exception as exc:  # one unreadable file must not cost the whole section
            notes.append(f"{path}: {exc}")
            continue
        model_img, box = fit_image(img, h or img.shape[0], w or img.shape[1], mode)
        originals.append(_thumbnail(img))
        fitted.append(model_img)
        boxes.append(box)
        order.append(i)
    if not order:
        return [], notes
    batch = np.stack(fitted).astype(np.float32)
    names = ev.class_names
    # Explain the class the evaluation says was predicted (same as the model's arg-max when the
    # file is unchanged), so the picture matches the tile's label.
    classes = [names.index(ev.predictions[i]["predicted"]) for i in order]
    heat = cam(model, batch, class_index=classes, method=method)
    tiles: dict[int, dict[str, Any]] = {}
    for i, img, box, hm in zip(order, originals, boxes, heat, strict=True):
        p = ev.predictions[i]
        k = names.index(p["predicted"])
        prob = p["probabilities"][k] if k < len(p["probabilities"]) else float("nan")
        tiles[i] = {
            "image": overlay(img, unfit(hm, box, img.shape)),
            "title": f"pred {p['predicted']} {prob:.2f}\n{_short(Path(str(p['file'])).name)}",
            "correct": p["predicted"] == p["true"],
        }
    grid: list[tuple[str, list[dict[str, Any] | None]]] = []
    for name, picks in rows:
        grid.append((name, [tiles.get(i) if i is not None else None for i in picks]))
    return grid, notes


def _find_files(
    ev: Evaluation, wanted: list[int], run_dir: Path, data: Path | None, notes: list[str]
) -> dict[int, Path]:
    """The files of predictions ``wanted`` that exist; a note names those that do not."""
    found: dict[int, Path] = {}
    missing = []
    for i in wanted:
        path = resolve_file(str(ev.predictions[i]["file"]), run_dir, data)
        if path is None:
            missing.append(str(ev.predictions[i]["file"]))
        else:
            found[i] = path
    if missing:
        hint = "" if data is not None else " (pass data=/the dataset folder to resolve them)"
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        notes.append(f"{len(missing)} of {len(wanted)} image files not found{hint}: {shown}")
    return found


def _thumbnail(img: np.ndarray) -> np.ndarray:
    """``img`` shrunk to at most the tile side (never enlarged)."""
    scale = _TILE_SIDE / max(img.shape[:2])
    if scale >= 1:
        return img
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _short(name: str, limit: int = 26) -> str:
    half = (limit - 1) // 2
    return name if len(name) <= limit else f"{name[:half]}\u2026{name[-half:]}"


def tile_count(rows: Sequence[tuple[str, Sequence[Any]]]) -> int:
    return sum(t is not None for _, tiles in rows for t in tiles)
