"""Batch inference: many image files -> one CSV or JSON Lines file, streamed and resumable.

Inputs are files, folders (searched recursively), glob patterns and CSV manifests (column
``file``, ``path`` or ``image``, else the first column; paths relative to the CSV), DICOM
included. Images are decoded by a small thread pool a few batches ahead of the model, so memory
holds only those batches whatever the number of files. Every input gives exactly one output
row: a file that cannot be read gets its reason in the ``error`` column, never a crash or a silent
skip. Rows are appended and flushed batch by batch; running again on the same output skips the
inputs it already has (a half-written last line from a crash is dropped and redone).

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
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def _manifest_paths(csv_path: Path) -> list[str]:
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in reader.fieldnames or []]
        if not fields:
            raise ConfigError(f"{csv_path}: the CSV manifest has no header row")
        column = next((c for c in fields if c.lower() in _MANIFEST_COLUMNS), fields[0])
        original = (reader.fieldnames or [])[fields.index(column)]
        out = []
        for row in reader:
            value = (row.get(original) or "").strip()
            if value:
                p = Path(value)
                out.append(str(p if p.is_absolute() else csv_path.parent / p))
        return out


def expand_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[str | _Missing]:
    """Expand files, folders, globs and CSV manifests into image paths, in a stable order.

    Folders are searched recursively for image extensions (sorted); glob patterns are
    expanded (sorted); a ``.csv`` file is read as a manifest. A path or pattern that matches
    nothing is kept as a missing entry, so it is reported in the output rather than dropped.

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
            out.extend(_manifest_paths(p))
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


def _done_rows(out: Path, fmt: str, columns: list[str]) -> set[str]:
    """Inputs already in ``out``; truncates a half-written last line left by a crash."""
    if not out.is_file() or out.stat().st_size == 0:
        return set()
    data = out.read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    text = data.decode("utf-8")
    done: set[str] = set()
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames and list(reader.fieldnames) != columns:
            raise ConfigError(
                f"{out}: its columns {reader.fieldnames} are not this model's {columns}; "
                "write to another file or start over with overwrite=True (--overwrite)"
            )
        done.update(row["file"] for row in reader)
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    done.add(json.loads(line)["file"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(
                        f"{out}: line {n} is not a prediction row ({exc}); write to another "
                        "file or start over with overwrite=True (--overwrite)"
                    ) from exc
    return done


def _decode(classifier: Any, entry: str | _Missing) -> np.ndarray | str:
    """The prepared image, or the reason it could not be read (never raises)."""
    if isinstance(entry, _Missing):
        return entry.reason
    try:
        return np.asarray(classifier.prepare(entry))
    except XrayclsError as exc:
        return getattr(exc, "reason", None) or str(exc)
    except Exception as exc:  # a decoder bug must not stop a long batch: report it per row
        return f"{type(exc).__name__}: {exc}"


def _rows(
    classifier: Any,
    entries: list[str | _Missing],
    batch_size: int,
    workers: int,
    tta: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Rows batch by batch; decoding runs ``workers`` threads up to two batches ahead."""
    names = list(classifier.class_names)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[str | _Missing, Future[Any]]] = deque()
        it = iter(entries)
        ahead = 2 * batch_size

        def fill() -> None:
            while len(pending) < ahead:
                entry = next(it, None)
                if entry is None:
                    return
                pending.append((entry, pool.submit(_decode, classifier, entry)))

        fill()
        while pending:
            chunk = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            fill()  # keep the pool busy while the model runs on this chunk
            decoded = [(entry, fut.result()) for entry, fut in chunk]
            good = [(e, x) for e, x in decoded if isinstance(x, np.ndarray)]
            preds = iter(
                classifier.predict_prepared(
                    np.stack([x for _, x in good]), sources=[_key(e) for e, _ in good], tta=tta
                )
                if good
                else []
            )
            rows = []
            for entry, x in decoded:
                row: dict[str, Any] = {"file": _key(entry), "label": None, "probability": None}
                row.update(dict.fromkeys(names))
                row.update(decision=None, uncertainty=None, error=None)
                if isinstance(x, np.ndarray):
                    pred = next(preds)
                    row.update(pred.probabilities)
                    row.update(label=pred.label, probability=pred.probabilities[pred.label])
                    row.update(decision=pred.decision, uncertainty=pred.uncertainty)
                else:
                    row["error"] = x
                rows.append(row)
            yield rows


def predict_files(
    model: Any,
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    batch_size: int = 32,
    workers: int = 2,
    tta: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> BatchSummary:
    """Predict every image under ``paths`` into ``out`` (``.csv`` or ``.jsonl``), streaming.

    Columns (those of ``xraycls predict`` before streaming, then new ones): ``file``,
    ``label`` (most probable class), ``probability`` (its probability), one probability column
    per class, ``decision`` (empty for an uncalibrated model), ``uncertainty`` (with ``tta``)
    and ``error`` (the reason a file could not be read; empty for a predicted row).

    Args:
        model: A model file path or a :class:`xraycls.predict.Classifier`.
        paths: Files, folders, glob patterns and CSV manifests.
        out: Output file; ``.csv`` or ``.jsonl``. If it exists, inputs already in it are
            skipped (resume) unless ``overwrite``.
        batch_size: Images per model call.
        workers: Decoding threads.
        tta: Test-time augmentation (uncertainty column).
        overwrite: Start the output afresh.
        progress: Show a progress bar.

    Returns:
        A :class:`BatchSummary`.

    Raises:
        ConfigError: Bad suffix or batch size, or an existing output with other columns.

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
    if isinstance(model, (str, os.PathLike)):
        from xraycls.predict import Classifier

        classifier = Classifier.load(model)
    else:
        classifier = model
    names = list(classifier.class_names)
    columns = ["file", "label", "probability", *names, "decision", "uncertainty", "error"]
    start = time.perf_counter()
    entries = expand_inputs(paths)
    if overwrite and target.exists():
        target.unlink()
    done = _done_rows(target, fmt, columns)
    todo = [e for e in entries if _key(e) not in done]
    target.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress and todo:
        import keras

        bar = keras.utils.Progbar(len(todo), unit_name="image")
    predicted = errors = 0
    new_file = not target.exists() or target.stat().st_size == 0
    with target.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        if new_file and fmt == "csv":
            writer.writeheader()
        for rows in _rows(classifier, todo, batch_size, workers, tta):
            for row in rows:
                if fmt == "csv":
                    writer.writerow(row)
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
