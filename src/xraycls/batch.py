"""Batch inference: many image files -> one CSV or JSON Lines file, streamed and resumable.

Inputs are files, folders (searched recursively), glob patterns and CSV manifests (column
``file``, ``path`` or ``image``, else the first column; paths relative to the CSV), DICOM
included. Images are decoded a few batches ahead of the model by the one prediction loop
(:meth:`xraycls.Classifier.predict_batches`), so memory holds only those batches whatever the
number of files. Every input gives exactly one output
row: a file that cannot be read gets its reason in the ``error`` column, never a crash or a silent
skip. Rows are appended and flushed batch by batch; running again on the same output skips the
inputs it already has, however their paths are spelled (a half-written last row from a crash is
dropped and redone). An existing output that xraycls did not write is refused before it is
touched. CSV cells that start like a spreadsheet formula (``=``, ``+``, ``-``, ``@``) get a
leading ``'`` (:func:`xraycls._outputs.csv_cell`); file names that are not valid UTF-8 are
written as their original bytes.

Examples:
    >>> from xraycls.batch import expand_inputs
    >>> expand_inputs([])
    []
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xraycls._atomic import with_filename
from xraycls._outputs import csv_cell, csv_uncell
from xraycls.classifier import Classifier, ModelLike, as_classifier
from xraycls.errors import ConfigError, XrayclsError

__all__ = ["BatchSummary", "expand_inputs", "predict_files"]

_GLOB_CHARS = frozenset("*?[")
_MANIFEST_COLUMNS = ("file", "path", "image", "filename")


@dataclass(frozen=True)
class BatchSummary:
    """What :func:`predict_files` did.

    Attributes:
        out: The output file.
        total: Inputs found (files, plus entries that could not be found).
        predicted: Rows written in this run with a prediction.
        errors: Rows written in this run with an error instead.
        resumed: Inputs skipped because the output already had them.
        seconds: Wall time of this run.
    """

    out: Path
    total: int
    predicted: int
    errors: int
    resumed: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        """Rows written per second in this run."""
        return (self.predicted + self.errors) / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Missing:
    """An input that names nothing readable; it becomes an error row, not an exception."""

    path: str
    reason: str


def _manifest_paths(csv_path: Path, allow_outside_root: bool = False) -> list[str | _Missing]:
    """The image paths a CSV manifest lists, relative to its folder.

    A path that leads outside the manifest's folder (``../../etc/shadow``, an absolute path
    elsewhere, a symbolic link out) becomes an error row unless ``allow_outside_root``: a
    manifest from elsewhere must not make this process read files it was not meant to.
    """
    root = os.path.realpath(csv_path.parent)
    with csv_path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in reader.fieldnames or []]
        if not fields:
            raise ConfigError(f"{csv_path}: the CSV manifest has no header row")
        column = next((c for c in fields if c.lower() in _MANIFEST_COLUMNS), fields[0])
        original = (reader.fieldnames or [])[fields.index(column)]
        out: list[str | _Missing] = []
        for row in reader:
            value = csv_uncell((row.get(original) or "").strip())
            if not value:
                continue
            p = Path(value)
            path = str(p if p.is_absolute() else csv_path.parent / p)
            real = os.path.realpath(path)
            if not allow_outside_root and os.path.commonpath([real, root]) != root:
                out.append(
                    _Missing(
                        path,
                        f"outside the manifest's folder {root}: not read; pass "
                        "allow_outside_root=True (--allow-outside-root) if the manifest is "
                        "trusted",
                    )
                )
            else:
                out.append(path)
        return out


def expand_inputs(
    paths: Sequence[str | os.PathLike[str]], *, allow_outside_root: bool = False
) -> list[str | _Missing]:
    """Expand files, folders, globs and CSV manifests into image paths, in a stable order.

    Folders are searched recursively for image extensions (sorted); glob patterns are
    expanded (sorted); a ``.csv`` file is read as a manifest. A path or pattern that matches
    nothing is kept as a missing entry, so it is reported in the output rather than dropped,
    and so is a manifest entry outside the manifest's folder unless ``allow_outside_root``.

    Examples:
        >>> expand_inputs(["/nonexistent/scan.png"])[0].reason
        'no such file or folder'
    """
    from xraycls.io import IMAGE_EXTENSIONS

    out: list[str | _Missing] = []
    for item in paths:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            found = sorted(
                str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            )
            out.extend(found or [_Missing(text, "folder holds no image file")])
        elif p.is_file() and p.suffix.lower() == ".csv":
            out.extend(_manifest_paths(p, allow_outside_root))
        elif p.exists():
            out.append(text)
        elif _GLOB_CHARS & set(text):
            found = sorted(f for f in glob.glob(text, recursive=True) if Path(f).is_file())
            out.extend(found or [_Missing(text, "the pattern matches no file")])
        else:
            out.append(_Missing(text, "no such file or folder"))
    return out


def _key(entry: str | _Missing) -> str:
    return entry.path if isinstance(entry, _Missing) else entry


def _same(path: str) -> str:
    """One spelling per file (``x.png``, ``./x.png`` and ``/abs/x.png`` are the same input)."""
    return os.path.realpath(path)


#: Bytes read to recognise an existing output before anything is written to it.
_SNIFF_BYTES = 1 << 16


def _refuse(out: Path, what: str, *, ours: bool) -> ConfigError:
    remedy = (
        "write to another file, or start over with overwrite=True (--overwrite)"
        if ours
        else "write to another file (a file xraycls did not write is never overwritten)"
    )
    return ConfigError(f"{out}: {what}; it was left untouched: {remedy}")


def _looks_like_predictions(keys: list[str]) -> bool:
    """Whether ``keys`` are the columns of some model's prediction file."""
    return keys[:3] == ["file", "label", "probability"] and keys[-3:] == [
        "decision",
        "uncertainty",
        "error",
    ]


def _check_existing(out: Path, fmt: str, columns: list[str], overwrite: bool = False) -> None:
    """Refuse an existing ``out`` that is not this command's output, reading it only.

    Resuming truncates a torn last row and overwriting deletes the file: both may only happen
    to a file xraycls wrote, so a user's CSV or a PNG named ``.csv`` is recognised by its first
    line (the header, or a JSON row) before anything is written. With ``overwrite``, the
    prediction file of another model may be replaced; anything else never is.
    """
    if not out.exists():
        return
    if not out.is_file():
        raise _refuse(out, "is not a regular file", ours=False)
    with out.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head:
        return
    if b"\0" in head:
        raise _refuse(out, "is a binary file, not a prediction file written by xraycls", ours=False)
    first = head.split(b"\n", 1)[0].decode("utf-8", "surrogateescape").lstrip("\ufeff")
    if b"\n" not in head and len(head) < _SNIFF_BYTES:
        # no complete line: a kill while the header or the first row was written; resuming
        # drops it, so accept only the beginning of what this command writes
        header = ",".join(str(csv_cell(c)) for c in columns)
        torn_ours = header.startswith(first) if fmt == "csv" else first.startswith('{"file": ')
        if torn_ours:
            return
    if fmt == "csv":
        try:
            keys = [csv_uncell(c) for c in next(csv.reader([first]), [])]
        except csv.Error:
            keys = []
    else:
        try:
            row = json.loads(first)
        except ValueError:
            row = None
        keys = list(row) if isinstance(row, dict) else []
    if keys == columns:
        return
    if not _looks_like_predictions(keys):
        what = f"columns {keys[:12]}" if fmt == "csv" and keys else f"first line {first[:80]!r}"
        raise _refuse(
            out, f"it is not a prediction file written by xraycls (its {what})", ours=False
        )
    if not overwrite:
        raise _refuse(out, f"its columns {keys} are not this model's {columns}", ours=True)


def _complete_csv(data: bytes) -> int:
    """Length of the complete records at the start of ``data``.

    A record ends with a newline *outside* quotes: a kill just after a newline inside a quoted
    file name leaves a text ending with a newline that is still a torn row.
    """
    inside, end, pos = False, 0, 0
    for line in data.split(b"\n")[:-1]:
        pos += len(line) + 1
        if line.count(b'"') % 2:
            inside = not inside
        if not inside:
            end = pos
    return end


def _done_rows(out: Path, fmt: str, columns: list[str]) -> set[str]:
    """Inputs already in ``out`` (resolved); truncates a half-written last row left by a crash."""
    if not out.is_file() or out.stat().st_size == 0:
        return set()
    _check_existing(out, fmt, columns)
    data = out.read_bytes()
    cut = _complete_csv(data) if fmt == "csv" else data.rfind(b"\n") + 1
    if cut != len(data):
        with out.open("r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    # Names that are not valid UTF-8 were written as their original bytes (surrogateescape).
    text = data.decode("utf-8", "surrogateescape")
    done: set[str] = set()
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        done.update(_same(csv_uncell(row["file"] or "")) for row in reader)
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    done.add(_same(json.loads(line)["file"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(
                        f"{out}: line {n} is not a prediction row ({exc}); write to another "
                        "file or start over with overwrite=True (--overwrite)"
                    ) from exc
    return done


# What a reader quotes of a file it cannot decode ("looks like text ('root:x:0'...)", "starts
# with bytes 72 6f 6f 74"): removed from the error column, which must not leak file contents.
_QUOTED_CONTENT = re.compile(
    r"\s*\((?:'[^']*'|\"[^\"]*\")\.\.\.\)|[;,]? (?:it )?starts with bytes [0-9a-f ]+"
)


def _no_contents(reason: str) -> str:
    """``reason`` without the bytes of the file it may quote.

    Examples:
        >>> _no_contents("not an image: it looks like text ('root:x:0'...)")
        'not an image: it looks like text'
        >>> _no_contents("not an image: cannot decode; it starts with bytes 00 01 ff")
        'not an image: cannot decode'
    """
    return _QUOTED_CONTENT.sub("", reason)


class _Unreadable(Exception):
    """An input that names nothing readable (a :class:`_Missing`): its reason, as an error."""


def _reason(exc: BaseException) -> str:
    """What the ``error`` column says for an input that could not be prepared."""
    if isinstance(exc, _Unreadable):
        return str(exc)
    if isinstance(exc, XrayclsError):
        return _no_contents(getattr(exc, "reason", None) or str(exc))
    # A decoder bug must not stop a long batch: it is reported per row.
    return _no_contents(f"{type(exc).__name__}: {exc}")


def _rows(
    classifier: Classifier,
    entries: list[str | _Missing],
    batch_size: int,
    workers: int,
    tta: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Rows batch by batch, from the one prediction loop (it decodes ahead in threads)."""
    names = list(classifier.class_names)

    def prepare(entry: str | _Missing) -> np.ndarray:
        if isinstance(entry, _Missing):
            raise _Unreadable(entry.reason)
        return classifier.prepare(entry)

    for part in classifier.predict_batches(
        entries,
        prepare=prepare,
        batch_size=batch_size,
        workers=max(1, workers),
        tta=tta,
        errors="keep",
    ):
        preds = iter(classifier.details(part))
        rows = []
        for entry, exc in zip(part.items, part.errors, strict=True):
            row: dict[str, Any] = {"file": _key(entry), "label": None, "probability": None}
            row.update(dict.fromkeys(names))
            row.update(decision=None, uncertainty=None, error=None)
            if exc is None:
                pred = next(preds)
                row.update(pred.probabilities)
                row.update(label=pred.label, probability=pred.probabilities[pred.label])
                row.update(decision=pred.decision, uncertainty=pred.uncertainty)
            else:
                row["error"] = _reason(exc)
            rows.append(row)
        yield rows


def predict_files(
    model: ModelLike,
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    batch_size: int = 32,
    workers: int = 2,
    tta: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    allow_outside_root: bool = False,
) -> BatchSummary:
    """Predict every image under ``paths`` into ``out`` (``.csv`` or ``.jsonl``), streaming.

    Columns (those of ``xraycls predict`` before streaming, then new ones): ``file``,
    ``label`` (most probable class), ``probability`` (its probability), one probability column
    per class, ``decision`` (empty for an uncalibrated model), ``uncertainty`` (with ``tta``)
    and ``error`` (the reason a file could not be read; empty for a predicted row).

    Args:
        model: A model file path, a :class:`xraycls.Classifier` or a Keras model
            (:func:`xraycls.as_classifier`).
        paths: Files, folders, glob patterns and CSV manifests.
        out: Output file; ``.csv`` or ``.jsonl``. If it exists, inputs already in it are
            skipped (resume) unless ``overwrite``.
        batch_size: Images per model call.
        workers: Decoding threads.
        tta: Test-time augmentation (uncertainty column).
        overwrite: Start the output afresh.
        progress: Show a progress bar (default off, as everywhere in the library; the CLI
            shows one unless ``--quiet``).
        allow_outside_root: Read manifest entries outside the manifest's folder (else they
            are error rows).

    Returns:
        A :class:`BatchSummary`.

    Raises:
        ConfigError: Bad suffix or batch size, or an existing output that is not a prediction
            file of this model (other columns, a user's file): it is left byte-identical.

    Examples:
        >>> from xraycls.batch import predict_files
        >>> predict_files("best.keras", ["scans/"], "out.csv")  # doctest: +SKIP
        BatchSummary(out=PosixPath('out.csv'), total=1041, predicted=1040, errors=1, ...)
    """
    target = Path(out)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"out {os.fspath(out)!r}: the file name must end with .csv or .jsonl")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    classifier = as_classifier(model)
    names = list(classifier.class_names)
    columns = ["file", "label", "probability", *names, "decision", "uncertainty", "error"]
    start = time.perf_counter()
    entries = expand_inputs(paths, allow_outside_root=allow_outside_root)
    _check_existing(target, fmt, columns, overwrite)  # read-only: others' files stay intact
    if overwrite and target.exists():
        target.unlink()
    done = _done_rows(target, fmt, columns)
    todo = [e for e in entries if _same(_key(e)) not in done]
    target.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress and todo:
        import keras

        bar = keras.utils.Progbar(len(todo), unit_name="image")
    predicted = errors = 0
    new_file = not target.exists() or target.stat().st_size == 0
    # surrogateescape: a file name that is not valid UTF-8 is written as its original bytes
    # (and read back so on resume) instead of stopping the run at that file, every time.
    with (
        with_filename(target),  # a full disk names this file, not only "No space left"
        target.open("a", encoding="utf-8", errors="surrogateescape", newline="") as fh,
    ):
        writer = csv.writer(fh, lineterminator="\n")
        if new_file and fmt == "csv":
            writer.writerow([csv_cell(c) for c in columns])
        for rows in _rows(classifier, todo, batch_size, workers, tta):
            for row in rows:
                if fmt == "csv":
                    writer.writerow([csv_cell(row[c]) for c in columns])
                else:
                    fh.write(json.dumps(row) + "\n")
                if row["error"] is None:
                    predicted += 1
                else:
                    errors += 1
            fh.flush()  # a crash loses at most the batch in flight; the rest resumes
            if bar is not None:
                bar.add(len(rows))
        os.fsync(fh.fileno())
    return BatchSummary(
        out=target,
        total=len(entries),
        predicted=predicted,
        errors=errors,
        resumed=len(entries) - len(todo),
        seconds=time.perf_counter() - start,
    )
