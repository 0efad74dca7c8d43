"""The report of a ``reproduce`` output folder: one page for all its models.

A ``reproduce`` folder holds ``profile.json``, ``results.json`` / ``results.md``, the split
manifests and one run folder per model. Its page has the confounding warnings of the data, the
results table, the per-source tables, the splits and the profile; each model's run folder gets
its own run report (`report` of that folder), linked from the top page.

The files are read as plain JSON (``xraycls.protocols`` is never imported), so a folder written
by an older or newer xraycls still gets a page; a missing or unreadable piece is a note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from xraycls._atomic import write_text_atomic
from xraycls.reporting import _html

__all__ = ["is_reproduction", "is_run", "reproduction_report"]

#: Files a Trainer workdir (or a run folder the report can use) holds; one is enough.
RUN_FILES = (
    "config.json",
    "history.json",
    "history.csv",
    "evaluation.json",
    "best.keras",
    "last.keras",
    "state.json",
    "audit.json",
    "robustness.json",
)
#: Files `xraycls.reproduce` writes into its output folder before the first model is trained.
REPRODUCTION_FILES = ("results.json", "profile.json")

_COLUMNS = (
    ("train loss", "train_loss"),
    ("train acc", "train_accuracy"),
    ("val loss", "val_loss"),
    ("val acc", "val_accuracy"),
    ("test loss", "test_loss"),
    ("test acc", "test_accuracy"),
    ("COVID sens", "covid_sensitivity"),
    ("COVID spec", "covid_specificity"),
    ("macro AUC", "macro_auc"),
)
_OPTIONAL = (
    ("mean corruption acc", "mean_corruption_accuracy"),
    ("external acc", "external_accuracy"),
)


def is_run(folder: Path) -> bool:
    """Whether ``folder`` looks like a training run folder."""
    return any((folder / name).exists() for name in RUN_FILES)


def is_reproduction(folder: Path) -> bool:
    """Whether ``folder`` looks like a ``reproduce`` output folder."""
    return any((folder / name).is_file() for name in REPRODUCTION_FILES)


def _read(path: Path) -> tuple[Any, str | None]:
    """JSON of ``path``, or ``None`` and why not."""
    if not path.is_file():
        return None, f"{path.name} not found"
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path.name} could not be read: {exc}"


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def _raw_table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """`_html.table` for cells that are already HTML (escaped text or a link)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _warnings_section(results: dict[str, Any], description: Any) -> str | None:
    warnings = [str(w) for w in results.get("data_warnings") or []]
    if not warnings and isinstance(description, dict):
        warnings = [str(w) for w in description.get("warnings") or []]
    if not warnings:
        return None
    html = "<h2>What the data lets a model cheat on</h2>"
    html += "".join(_html.note(w) for w in warnings)
    html += (
        '<p class="meta">Confounding warnings of the training data (<code>Dataset.describe'
        "()</code>): a class that comes from its own sources can be told apart by the source "
        "alone, and the accuracies below do not show it. Check the per-source table and the "
        "shortcut audit of each model.</p>"
    )
    return html


def _results_section(results: dict[str, Any], links: dict[str, str]) -> str:
    rows = [r for r in results.get("results") or [] if isinstance(r, dict)]
    html = "<h2>Results</h2>"
    if not rows:
        return html + _html.note("results.json has no model results yet (reproduce running?)")
    optional = [(t, k) for t, k in _OPTIONAL if any(r.get(k) is not None for r in rows)]
    header = ["model", *(t for t, _ in _COLUMNS), *(t for t, _ in optional), "best epoch", "min"]
    body = []
    for r in rows:
        name = str(r.get("model", "?"))
        first = _link(links[name], name) if name in links else escape(name)
        epoch = r.get("best_epoch")
        seconds = r.get("seconds")
        body.append(
            [
                first,
                *(_num(r.get(k)) for _, k in _COLUMNS),
                *(_num(r.get(k)) for _, k in optional),
                "n/a" if epoch is None else str(epoch),
                _num(seconds / 60 if isinstance(seconds, (int, float)) else None, 1),
            ]
        )
    html += _raw_table(header, body)
    html += (
        '<p class="meta">Train figures are on the balanced (augmented) training set. The model '
        "name links to its own run report.</p>"
    )
    return html


def _by_source_section(results: dict[str, Any], classes: list[str]) -> str | None:
    by_source = results.get("by_source") or {}
    if not isinstance(by_source, dict) or not by_source:
        return None
    html = "<h2>By source</h2>"
    header = ["model", "set", "source", "in training", "n", "accuracy"]
    header += [f"{c} sens." for c in classes] + ["macro AUC"]
    rows = []
    for model, sets in by_source.items():
        for set_name, parts in (sets or {}).items():
            if not isinstance(parts, dict):
                continue
            entries = [("<strong>all</strong>", parts.get("overall") or {})]
            entries += list((parts.get("by_source") or {}).items())
            entries = [entries[0], *((escape(str(k)), v) for k, v in entries[1:])]
            for source, m in entries:
                sens = m.get("sensitivity") or {}
                trained = m.get("in_training")
                seen = "yes" if trained is True else "no" if trained is False else ""
                rows.append(
                    [
                        escape(str(model)),
                        escape(str(set_name)),
                        source,
                        seen,
                        escape(str(m.get("n", ""))),
                        _num(m.get("accuracy"), 3),
                        *("-" if sens.get(c) is None else _num(sens[c], 3) for c in classes),
                        _num(m.get("macro_auc"), 3),
                    ]
                )
    html += _raw_table(header, rows, numeric_from=4)
    external = results.get("external")
    if external:
        html += f'<p class="meta">External set: <code>{escape(str(external))}</code> (never '
        html += "trained or tuned on).</p>"
    html += (
        '<p class="meta">"all": the whole set; "-": no image of that class from that source; '
        '"in training": the source gave training images (of any class).</p>'
    )
    return html


def _splits_section(results: dict[str, Any], description: Any, classes: list[str]) -> str:
    html = "<h2>Splits</h2>"
    splits = results.get("splits") or {}
    if splits:
        names = list(classes)
        for counts in splits.values():
            names += [c for c in counts if c not in names]
        rows = [
            [str(split), *(str(counts.get(c, 0)) for c in names), str(sum(counts.values()))]
            for split, counts in splits.items()
        ]
        html += _html.table(["split", *names, "total"], rows)
    else:
        html += _html.note("results.json has no split sizes")
    if isinstance(description, dict) and description.get("table"):
        column = str(description.get("column", "source"))
        names = [str(c) for c in description.get("class_names") or classes]
        rows = [
            [str(value), *(str(row.get(c, 0)) for c in names), str(sum(row.values()))]
            for value, row in description["table"].items()
        ]
        html += f"<h3>Class x {escape(column)} (all data)</h3>"
        html += _html.table([column, *names, "total"], rows)
        for value, text in (description.get("notes") or {}).items():
            html += f'<p class="meta">{escape(str(value))}: {escape(str(text))}</p>'
    return html


def _models_section(
    folder: Path,
    out: Path,
    names: list[str],
    run_report: Callable[[Path, Path], Path],
    model_out: Callable[[Path, str], Path],
) -> tuple[str, dict[str, str]]:
    """Write each model's run report; the section listing them and model -> relative link."""
    html = "<h2>Models</h2>"
    links: dict[str, str] = {}
    items = []
    for name in names:
        run = folder / name
        if not run.is_dir():
            items.append(f"<li>{escape(name)}: no run folder (not trained yet)</li>")
            continue
        try:
            page = run_report(run, model_out(run, name))
        except Exception as exc:  # one broken run must not cost the page of the others
            items.append(
                f"<li>{escape(name)}: its report could not be written "
                f"({escape(type(exc).__name__)}: {escape(str(exc))})</li>"
            )
            continue
        href = Path(os.path.relpath(page, out)).as_posix()
        links[name] = href
        extra = _audit_summary(run)
        items.append(
            f"<li>{_link(href, name)}: run report of <code>{escape(name)}/</code>{extra}</li>"
        )
    html += "<ul>" + "".join(items) + "</ul>" if items else _html.note("no model run folders")
    return html, links


def _audit_summary(run: Path) -> str:
    data, _ = _read(run / "audit.json")
    if not isinstance(data, dict):
        return ""
    codes = [str(f.get("code", "?")) for f in data.get("flags") or [] if isinstance(f, dict)]
    if not codes:
        return "; shortcut audit: no flags"
    return "; shortcut audit flags: " + escape(", ".join(codes))


def _model_names(results: dict[str, Any], profile: dict[str, Any] | None) -> list[str]:
    """The models with results, then the profile's others (not trained yet)."""
    names: list[str] = []
    for row in results.get("results") or []:
        if isinstance(row, dict) and row.get("model") is not None:
            names.append(str(row["model"]))
    for name in (profile or {}).get("models") or []:
        if str(name) not in names:
            names.append(str(name))
    return names


def _profile_section(profile: dict[str, Any] | None, note: str | None) -> str:
    html = "<h2>Profile</h2>"
    if profile is None:
        return html + _html.note(note or "no profile")
    return html + _html.table(["setting", "value"], _html.flatten(profile), numeric_from=2)


def reproduction_report(
    folder: Path,
    out: Path,
    run_report: Callable[[Path, Path], Path],
    *,
    separate: bool,
) -> Path:
    """Write ``out/report.html`` for the ``reproduce`` folder ``folder``.

    ``run_report(run_dir, out_dir)`` writes one model's page; with ``separate`` the model pages
    go to ``out/<model>/``, else into each run folder's ``report/``.
    """
    results, results_note = _read(folder / "results.json")
    if not isinstance(results, dict):
        results = {}
    profile, profile_note = _read(folder / "profile.json")
    if not isinstance(profile, dict):
        profile = results.get("profile") if isinstance(results.get("profile"), dict) else None
    description, _ = _read(folder / "data.json")
    classes = [str(c) for c in (profile or {}).get("classes") or []]

    def model_out(run: Path, name: str) -> Path:
        return out / name if separate else run / "report"

    names = _model_names(results, profile)
    models_html, links = _models_section(folder, out, names, run_report, model_out)
    sections: list[tuple[str, str]] = []
    warnings = _warnings_section(results, description)
    if warnings is not None:
        sections.append(("data-warnings", warnings))
    results_html = _results_section(results, links)
    if results_note:
        results_html = "<h2>Results</h2>" + _html.note(results_note)
    sections.append(("results", results_html))
    by_source = _by_source_section(results, classes)
    if by_source is not None:
        sections.append(("by-source", by_source))
    sections.append(("models", models_html))
    sections.append(("splits", _splits_section(results, description, classes)))
    sections.append(("profile", _profile_section(profile, profile_note)))

    from xraycls._about import __version__

    name = (profile or {}).get("name")
    title = f"xraycls reproduction report: {folder.resolve().name}"
    if name:
        title += f" (profile {name})"
    text = _html.page(title, sections, __version__)
    out.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out / "report.html", text)
