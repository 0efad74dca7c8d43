"""xraycls output folders: the marker that keeps them out of datasets, and the skipped-file list.

An output folder written inside a dataset folder (``train --out DATA/run1``) must not become a
class of that dataset the next time it is loaded (its report PNGs are images). Dataset
discovery therefore passes over every folder that :func:`is_output_dir` recognises: one holding
the :data:`OUTPUT_MARKER` file (the command line writes it into every output folder it
creates) or a file only xraycls writes (a training run's ``state.json``, a report's
``report.html``, a reproduction's ``results.md``).

Examples:
    >>> import tempfile, pathlib
    >>> from xraycls._outputs import is_output_dir, mark_output_dir, write_skipped
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> is_output_dir(folder)
    False
    >>> _ = mark_output_dir(folder)
    >>> is_output_dir(folder)
    True
    >>> path = write_skipped(folder / "skipped.csv", [("a.png", "file is empty (0 bytes)")])
    >>> path.read_text().splitlines()
    ['file,reason', 'a.png,file is empty (0 bytes)']
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from xraycls._atomic import write_text_atomic

__all__ = [
    "OUTPUT_FILES",
    "OUTPUT_MARKER",
    "csv_cell",
    "csv_uncell",
    "is_output_dir",
    "mark_output_dir",
    "write_skipped",
]

#: Empty file the command line puts in every output folder it creates.
OUTPUT_MARKER = ".xraycls-output"
#: Files whose presence marks a folder as xraycls output even without the marker.
OUTPUT_FILES: frozenset[str] = frozenset({OUTPUT_MARKER, "state.json", "report.html", "results.md"})


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): =, +, -, @, tab, CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` made safe to open in a spreadsheet: a text starting like a formula gets ``'``.

    A file, class or metadata value such as ``=HYPERLINK(...)`` would otherwise run when the
    CSV is opened in Excel or LibreOffice. A text that already starts with ``'`` followed by
    such a character gets one more ``'``, so :func:`csv_uncell` gives back exactly the original.
    Numbers and ``None`` pass unchanged.

    Examples:
        >>> csv_cell("=1+1"), csv_cell("-x.png"), csv_cell("'=a"), csv_cell("a.png"), csv_cell(-1.5)
        ("'=1+1", "'-x.png", "''=a", 'a.png', -1.5)
        >>> all(csv_uncell(csv_cell(v)) == v for v in ["=1+1", "'=a", "''@", "'", "a", ""])
        True
    """
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) or (
        value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START)
    ):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """Inverse of :func:`csv_cell`, for readers of the CSV files xraycls writes."""
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        return value[1:]
    return value


def is_output_dir(path: str | os.PathLike[str], names: Iterable[str] | None = None) -> bool:
    """Whether ``path`` is a folder xraycls wrote (see the module docstring).

    Args:
        path: The folder.
        names: Its file names when the caller already listed them (saves the stat calls).
    """
    if names is not None:
        return not OUTPUT_FILES.isdisjoint(names)
    return any(os.path.isfile(os.path.join(path, name)) for name in OUTPUT_FILES)


def mark_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and put the marker in it; fails early if it is not writable.

    Raises:
        OSError: The folder cannot be created or written (``path`` is a file, read-only...).
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OUTPUT_MARKER
    if not marker.is_file():
        write_text_atomic(marker, "written by xraycls; dataset discovery skips this folder\n")
    return marker


def write_skipped(target: str | os.PathLike[str], rows: Iterable[tuple[str, str]]) -> Path:
    """Write ``file,reason`` rows (every file left out, in order) as CSV, atomically.

    File names that are not valid UTF-8 keep their original bytes (see
    :func:`xraycls._atomic.write_text_atomic`); cells that start like a spreadsheet formula are
    escaped (:func:`csv_cell`).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "reason"])
    writer.writerows((csv_cell(os.fspath(f)), csv_cell(r)) for f, r in rows)
    return write_text_atomic(target, buf.getvalue())
