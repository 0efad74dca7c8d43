"""The run report's audit section, read from the run folder's ``audit.json``.

The report reads the file as plain JSON (it never imports :mod:`xraycls.auditing`), so a run
folder stays readable without the audit's dependencies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xraycls._atomic import write_bytes_atomic
from xraycls.reporting import _figures, _html

__all__ = ["audit_section"]

_ROWS = (
    ("full image accuracy", ("full", "accuracy")),
    ("border-only accuracy (lungs blacked out)", ("border_only", "accuracy")),
    ("lung-only accuracy (outside the lungs blacked out)", ("lung_only", "accuracy")),
    ("chance (most frequent class)", ("chance",)),
    ("text-inpainted accuracy", ("text_inpainted", "accuracy")),
    ("predictions flipped by text inpainting", ("text_inpainted", "flip_share")),
    ("Grad-CAM mass inside the lung field", ("cam_lung_share",)),
    ("source probe AUC", ("source_probe_auc",)),
    ("lung swap: prediction follows the border", ("lung_swap", "follows_border")),
    ("lung swap: prediction follows the swapped-in lungs", ("lung_swap", "follows_lungs")),
)


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def audit_section(run_dir: Path, out: Path, figures: dict[str, Path]) -> str | None:
    """HTML of the audit section, or ``None`` when the run folder has no ``audit.json``."""
    path = run_dir / "audit.json"
    if not path.is_file():
        return None
    html = "<h2>Shortcut audit</h2>"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return html + _html.note(f"audit.json could not be read: {exc}")
    flags = data.get("flags") or []
    for flag in flags:
        html += _html.note(f"{flag.get('message', '')} [{flag.get('code', '?')}]")
    if not flags:
        html += "<p>No flags: nothing suspicious at the documented thresholds.</p>"
    rows = []
    for name, key in _ROWS:
        value = _get(data, key)
        rows.append([name, "n/a" if value is None else f"{float(value):.3f}"])
    html += _html.table(["audit", "value"], rows)
    png = _figures.png_bytes(_figures.audit_bars(data))
    figures["audit_metrics.png"] = write_bytes_atomic(out / "audit_metrics.png", png)
    html += _html.figure(png, "audit_metrics.png", "Accuracy by audit input and attention")
    if (run_dir / "audit.html").is_file():
        html += (
            '<p class="meta">Figures of the masked inputs and CAMs: <code>audit.html</code> in '
            "the run folder.</p>"
        )
    return html
