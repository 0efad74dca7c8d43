"""Pieces every command shares: ``--on-error``, output checks made before computing, the list
of skipped files, the ``--unsafe`` warning.

Output paths are checked (created, written to) *before* any work, so a read-only ``--out`` costs
seconds, not a finished evaluation; and a file that still cannot be written afterwards is
printed to stdout instead of being lost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from xraycls.errors import ConfigError

SKIPPED_NAME = "skipped.csv"

# Output folders this process created; a command that fails removes those still holding only the
# marker, so an early error (bad data, unknown model) leaves no empty run folder behind.
_CREATED: list[Path] = []


def add_on_error(parser: argparse.ArgumentParser, default: str = "raise") -> None:
    """Add ``--on-error skip|raise`` to a command that reads many images."""
    parser.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default=default,
        help="a bad image file: stop with an error naming every bad file (raise), or leave it "
        f"out and list it in {SKIPPED_NAME} in the output folder (skip) (default: {default})",
    )


def _inside(path: Path, folder: Path) -> bool:
    try:
        return os.path.commonpath([path, folder]) == str(folder)
    except ValueError:  # different drives
        return False


def out_dir(
    value: str, flag: str = "--out", *, data: str | None = None, data_flag: str = "--data"
) -> Path:
    """Create the output folder ``value`` now, mark it as xraycls output, check it is writable.

    Raises:
        ConfigError: It is a file, not writable, or inside the ``--data`` folder.
    """
    from xraycls._outputs import mark_output_dir

    folder = Path(value)
    if data is not None and Path(data).is_dir():
        here, there = Path(os.path.abspath(folder)), Path(os.path.abspath(data))
        if _inside(here, there):
            raise ConfigError(
                f"{flag} {value} is inside {data_flag} {data}: its files would become part of the "
                f"dataset; choose an {flag} folder outside {data}"
            )
    existed = folder.exists()
    try:
        mark_output_dir(folder)
    except OSError as exc:
        raise ConfigError(_cannot_write(flag, value, exc, folder=True)) from None
    if not existed:
        _CREATED.append(folder)
    return folder


def discard_unused_outputs() -> None:
    """Remove output folders made by :func:`out_dir` in this process that hold only the marker."""
    from xraycls._outputs import OUTPUT_MARKER

    while _CREATED:
        folder = _CREATED.pop()
        try:
            if [p.name for p in folder.iterdir()] == [OUTPUT_MARKER]:
                (folder / OUTPUT_MARKER).unlink()
                folder.rmdir()
        except OSError:
            pass  # a folder we cannot tidy is left as it is


#: JSON outputs an ``--out`` may replace, by kind: how to recognise one xraycls wrote.
_JSON_KINDS = {
    "predictions": lambda d: (
        isinstance(d, list) and all(isinstance(r, dict) and {"file", "label"} <= set(r) for r in d)
    ),
    "evaluation": lambda d: (
        isinstance(d, dict) and {"class_names", "n", "accuracy", "confusion_matrix"} <= set(d)
    ),
}
#: Larger JSON files are not read to be recognised (no xraycls output of these kinds is).
_JSON_SNIFF_LIMIT = 256 * 1024 * 1024


def _check_replaceable(target: Path, flag: str, value: str, kind: str) -> None:
    """Refuse an existing JSON ``target`` that is not an xraycls output of ``kind``.

    Writing replaces the file, so a user's JSON of the same name would be lost; it is read
    (never written) and recognised by its shape.
    """
    if not target.is_file() or target.stat().st_size == 0:
        return
    try:
        if target.stat().st_size > _JSON_SNIFF_LIMIT:
            raise ValueError("too large")
        data = json.loads(target.read_bytes())
        ours = bool(_JSON_KINDS[kind](data))
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise ConfigError(
            f"{flag} {value} exists and is not an xraycls {kind} file; it would be overwritten: "
            f"it was left untouched; choose another file name for {flag}"
        )


def out_file(value: str, flag: str = "--out", *, kind: str | None = None) -> Path:
    """Check now that the file ``value`` can be written (its folder is created if missing).

    With ``kind`` (``"predictions"``, ``"evaluation"``), an existing ``.json`` file is replaced
    only if it is an xraycls output of that kind.

    Raises:
        ConfigError: It is a folder, an unrelated JSON file, or its folder cannot be created or
            written.
    """
    target = Path(value)
    if target.is_dir():
        raise ConfigError(f"{flag} {value} is a folder; give a file name such as {value}/out.json")
    if kind is not None and target.suffix.lower() == ".json":
        _check_replaceable(target, flag, value, kind)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        ):
            pass
    except OSError as exc:
        raise ConfigError(_cannot_write(flag, value, exc, folder=False)) from None
    return target


def _cannot_write(flag: str, value: str, exc: OSError, *, folder: bool) -> str:
    what = "folder" if folder else "file"
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and os.fspath(exc.filename) != value else ""
    return (
        f"{flag} {value}: cannot write there: {reason}{where}; choose a writable {what} for {flag}"
    )


def write_or_print(target: Path, text: str, flag: str = "--out") -> None:
    """Write ``text`` to ``target`` atomically; if that fails, print it so nothing is lost."""
    from xraycls._atomic import write_text_atomic

    try:
        write_text_atomic(target, text)
    except OSError as exc:
        sys.stdout.write(text)
        raise ConfigError(
            _cannot_write(flag, str(target), exc, folder=False)
            + "; the results were printed to stdout above"
        ) from None


def report_skipped(
    skipped: Sequence[tuple[str, str]], target: Path | None, command: str
) -> Path | None:
    """Write the full list of skipped files to ``target`` (or list them on stderr); say so."""
    from xraycls._outputs import write_skipped

    if not skipped:
        return None
    if target is None:
        print(f"xraycls {command}: skipped {len(skipped)} unreadable file(s):", file=sys.stderr)
        for path, reason in skipped:
            print(f"  {path}: {reason}", file=sys.stderr)
        return None
    write_skipped(target, skipped)
    first = f"{skipped[0][0]}: {skipped[0][1]}"
    print(
        f"xraycls {command}: skipped {len(skipped)} unreadable file(s), listed in {target} "
        f"(first: {first})",
        file=sys.stderr,
    )
    return target


def warn_unsafe(model: str) -> None:
    """The loud warning of ``--unsafe``: safe mode off means the file's code runs."""
    bar = "!" * 78
    print(
        f"{bar}\n"
        f"WARNING: --unsafe: {model} is loaded with Keras safe mode OFF. Python code stored in\n"
        "the file (Lambda layers) runs with your permissions and can do anything you can.\n"
        "Use --unsafe only for model files you made yourself or fully trust.\n"
        f"{bar}",
        file=sys.stderr,
    )
