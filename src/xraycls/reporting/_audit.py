"""The run report's audit section, read from the run folder's ``audit.json``.

The report reads the file as plain JSON (it never imports :mod:`xraycls.auditing`), so a run
folder stays readable without the audit's dependencies.
"""

from __future__ import annotations

import json
from pathlib import Path

from xraycls._atomic import write_bytes_atomic
from xraycls.reporting import _figures, _html
from xraycls.reporting._tables import AUDIT_ROWS, cells

__all__ = ["audit_section"]


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
    html += _html.table(["audit", "value"], cells(AUDIT_ROWS, data))
    png = _figures.png_bytes(_figures.audit_bars(data))
    figures["audit_metrics.png"] = write_bytes_atomic(out / "audit_metrics.png", png)
    html += _html.figure(png, "audit_metrics.png", "Accuracy by audit input and attention")
    if (run_dir / "audit.html").is_file():
        html += (
            '<p class="meta">Figures of the masked inputs and CAMs: <code>audit.html</code> in '
            "the run folder.</p>"
        )
    return html
