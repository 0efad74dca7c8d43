"""The report's robustness section, from ``robustness.json`` and its figures in the run folder.

The section reads files only (written by ``xraycls robustness --out RUN_DIR`` or
``xraycls reproduce --robustness``); it never imports the suite, so the report stays a view of
the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xraycls._atomic import write_bytes_atomic
from xraycls.reporting import _html
from xraycls.reporting._run import estimate
from xraycls.reporting._tables import ROBUSTNESS_ROWS, cells

JSON_NAME = "robustness.json"
FIGURES = (
    ("robustness_heatmap.png", "Accuracy per shift kind and severity (colour: accuracy)"),
    ("robustness_samples.png", "The first test image at every shift kind and severity"),
)


def _cell(value: Any) -> str:
    v = estimate(value)[0]
    return "n/a" if v is None else f"{v:.3f}"


def _last(values: Any) -> Any:
    return values[-1] if isinstance(values, list) and values else None


def robustness_section(run_dir: Path, out: Path, figures: dict[str, Path]) -> str | None:
    """HTML of the section, or ``None`` when the run folder holds no ``robustness.json``.

    The figures found beside ``robustness.json`` are copied into ``out`` (the page links them)
    and embedded; a missing or unreadable piece becomes a visible note.
    """
    path = run_dir / JSON_NAME
    if not path.is_file():
        return None
    html = "<h2>Robustness to acquisition shifts</h2>"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        clean = data["clean"]
        corruptions = data["corruptions"]
        if not isinstance(clean, dict) or not isinstance(corruptions, dict):
            raise TypeError("'clean' and 'corruptions' must be objects")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return html + _html.note(f"{JSON_NAME} could not be read: {exc}")
    html += _html.table(["summary", "value"], cells(ROBUSTNESS_ROWS, data))
    kind_rows = []
    for kind, entry in corruptions.items():
        if not isinstance(entry, dict):
            continue
        accuracy = entry.get("accuracy") or []
        finite = [a for a in (estimate(x)[0] for x in accuracy) if a is not None]
        kind_rows.append(
            [
                str(kind),
                "n/a" if not finite else f"{sum(finite) / len(finite):.3f}",
                _cell(_last(accuracy)),
                _cell(_last(entry.get("covid_sensitivity"))),
                _cell(_last(entry.get("covid_specificity"))),
            ]
        )
    severities = next(
        (e.get("severities") for e in corruptions.values() if isinstance(e, dict)), None
    )
    strongest = _last(severities) if severities else "strongest"
    html += _html.table(
        [
            "shift",
            "mean accuracy",
            f"accuracy at {strongest}",
            f"COVID sensitivity at {strongest}",
            f"COVID specificity at {strongest}",
        ],
        kind_rows,
    )
    html += (
        '<p class="meta">Each test image predicted clean and under every shift of '
        "<code>xraycls.robustness</code> (see the robustness page of the docs for what each "
        "severity means). Mean corruption accuracy is the mean over kinds and severities.</p>"
    )
    for name, caption in FIGURES:
        source = run_dir / name
        if not source.is_file():
            html += _html.note(f"{name} not found beside {JSON_NAME}")
            continue
        png = source.read_bytes()
        if out.resolve() != run_dir.resolve():
            figures[name] = write_bytes_atomic(out / name, png)
        else:
            figures[name] = source
        html += _html.figure(png, name, caption)
    return html
