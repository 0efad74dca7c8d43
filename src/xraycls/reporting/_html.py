"""The self-contained HTML page: inline CSS, figures embedded as base64 PNG, no scripts."""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Sequence
from html import escape
from typing import Any

from xraycls.reporting._run import Interval, estimate

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #2b6cb0; padding-bottom: .2em; }
h2 { margin-top: 1.8em; color: #2b6cb0; }
table { border-collapse: collapse; margin: .6em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: .8em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #555; }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: .5em .8em; margin: .6em 0; }
.meta { color: #666; font-size: 13px; }
code { background: #f4f4f4; padding: 0 .2em; }
"""

# Column order of the per-class table; other metrics found in the file follow.
_METRIC_ORDER = ("sensitivity", "specificity", "ppv", "npv", "precision", "recall", "f1", "auc")


def fmt(value: Interval | Any, digits: int = 3) -> str:
    v, lo, hi = value if isinstance(value, tuple) else estimate(value)
    if v is None:
        return "n/a"
    text = f"{v:.{digits}f}"
    if lo is not None and hi is not None:
        text += f" ({lo:.{digits}f}-{hi:.{digits}f})"
    return text


def note(text: str) -> str:
    return f'<div class="note">{escape(text)}</div>'


def figure(png: bytes, file_name: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f'<figcaption>{escape(caption)} (<a href="{escape(file_name)}">{escape(file_name)}'
        "</a>)</figcaption></figure>"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if i >= numeric_from else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested config dicts as ``("a.b", value)`` rows."""
    rows: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            rows += flatten(value, f"{prefix}{key}.")
        if not data and prefix:
            rows.append((prefix[:-1], "{}"))
    else:
        text = data if isinstance(data, str) else json.dumps(data, default=str)
        rows.append((prefix[:-1], text))
    return rows


def per_class_rows(
    per_class: dict[str, dict[str, Any]], names: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    metrics: list[str] = []
    for m in per_class.values():
        for key in m:
            if key not in metrics and key not in ("support", "class", "name"):
                metrics.append(key)
    metrics.sort(key=lambda k: (_METRIC_ORDER.index(k) if k in _METRIC_ORDER else 99, k))
    header = ["class", "n", *metrics]
    rows = []
    for name in names or list(per_class):
        m = per_class.get(name, {})
        support = m.get("support")
        rows.append(
            [name, "" if support is None else str(support), *(fmt(m.get(k)) for k in metrics)]
        )
    return header, rows


def page(title: str, sections: Sequence[tuple[str, str]], version: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = " · ".join(
        f'<a href="#{escape(anchor)}">{escape(anchor.replace("-", " "))}</a>'
        for anchor, _ in sections
    )
    body = "\n".join(f'<section id="{escape(a)}">{html}</section>' for a, html in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="meta">Generated {stamp} by xraycls {escape(version)}'
        f'</p><p class="meta">{toc}</p>\n{body}\n</body></html>\n'
    )
