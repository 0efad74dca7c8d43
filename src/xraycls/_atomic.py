"""Atomic file writes: a temporary file beside the target, then ``os.replace``.

Every file xraycls writes goes through here, so a crash or Ctrl-C never leaves a half-written
model, manifest, figure or report, and no temporary file is left behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_target", "with_filename", "write_bytes_atomic", "write_text_atomic"]


@contextmanager
def atomic_target(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    The temporary name keeps ``target``'s suffix (or ``suffix``), since writers such as
    ``keras.Model.save`` and ``cv2.imwrite`` choose the format from it. On any exception,
    Ctrl-C included, the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        # mkstemp creates 0600; outputs are meant to be shared like any other file.
        os.chmod(tmp, 0o644)
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (flushed to disk before the rename).

    Raises:
        OSError: The write failed; ``filename`` is ``target`` when the system did not name a
            file (a full disk, ``ENOSPC``, fails in ``write``, which names none).
    """
    with with_filename(target), atomic_target(target) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(target)


@contextmanager
def with_filename(target: str | os.PathLike[str]) -> Iterator[None]:
    """Give an ``OSError`` raised inside without a file name (``ENOSPC`` from ``write``) the
    name of ``target``, so the error says which output failed, not only "No space left"."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(target)) from exc


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically (no newline translation).

    File names that are not valid UTF-8 reach Python as lone surrogates (``os.fsdecode``);
    they are written back as their original bytes (``surrogateescape``), so a manifest naming
    such a file is written instead of failing, and reads back to the same path with
    ``errors="surrogateescape"``.
    """
    return write_bytes_atomic(target, text.encode("utf-8", "surrogateescape"))
