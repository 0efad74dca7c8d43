"""The run folder: atomic writes of the files a ``Trainer`` leaves behind.

A kill at any moment leaves every file either in its previous or its new complete state: each
is written to a temporary name in the same folder, flushed, and moved over the old one with
``os.replace`` (atomic on POSIX and Windows). The temporary files a kill leaves behind are
removed by the next run, which holds the folder's lock (one training per folder at a time).

Examples:
    >>> import tempfile
    >>> from xraycls.train._workdir import RunDir
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.write_json("state.json", {"epoch": 1})
    >>> run.read_json("state.json")
    {'epoch': 1}
"""

from __future__ import annotations

import contextlib
import csv
import filecmp
import io
import json
import logging
import os
import shutil
import socket
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from xraycls._atomic import atomic_target, write_text_atomic
from xraycls.errors import TrainingError

__all__ = ["HISTORY_COLUMNS", "LOCK_NAME", "RunDir"]

log = logging.getLogger("xraycls.train")

#: The lock file a running training holds in its folder.
LOCK_NAME = ".train.lock"
# The files a run writes (temporary copies are ".<stem>.<random><suffix>" beside them).
_RUN_FILES = (
    "last.keras",
    "best.keras",
    "state.json",
    "config.json",
    "history.json",
    "history.csv",
    "evaluation.json",
    "train.csv",
    "val.csv",
)

#: Columns of ``history.csv`` (extra metrics follow in the order they first appear).
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


class RunDir:
    """Paths and atomic writers of one training run folder.

    Args:
        root: The folder; created if missing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def create(self) -> None:
        """Create the folder (done by the first write, not at construction, so a run that
        fails its checks leaves no empty folder behind).

        Raises:
            TrainingError: The folder cannot be created.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"cannot create the run folder {self.root}: {exc}") from None

    # ------------------------------------------------------------------ lock

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's training lock: one training per run folder at a time.

        An OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on the lock file,
        which also records the holder's PID, host and start time for the message. The
        operating system releases the lock when its process ends, however it ends (a crash, a
        kill -9), so there is no stale lock to guess about; the file itself is removed on a
        normal exit.

        Raises:
            TrainingError: Another process holds the lock (named in the message).
        """
        self.create()
        path = self.path(LOCK_NAME)
        for _ in range(3):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                holder = _read_lock(path) or {}
                raise TrainingError(
                    f"{self.root} is in use by another training (PID {holder.get('pid')} on "
                    f"{holder.get('host')}, started {holder.get('started')}); wait for it to "
                    "finish or choose another folder."
                )
            if _same_file(fd, path):
                break
            # The holder we waited on removed the file after we opened it: our lock is on an
            # unlinked file that a third process would not see. Open the path again.
            os.close(fd)
        else:  # pragma: no cover - three processes racing at the end of a training
            raise TrainingError(f"could not take the lock {path}; try again")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode("utf-8"))
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # while still holding it, so nobody locks the unlinked file
            os.close(fd)  # releases the lock

    def clean_temp(self) -> list[Path]:
        """Remove the temporary files an interrupted write left (call while holding the lock).

        Returns:
            The removed paths.
        """
        removed = []
        for name in _RUN_FILES:
            stem, suffix = os.path.splitext(name)
            for tmp in self.root.glob(f".{stem}.*{suffix}"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed.append(tmp)
        if removed:
            log.info("removed %d temporary file(s) of an interrupted run", len(removed))
        return removed

    # ------------------------------------------------------------------ checkpoints

    def damage(self, name: str) -> str | None:
        """Why the ``.keras`` archive ``name`` is unreadable, or ``None`` when it is sound
        (every member's CRC is checked; a missing file is not damaged)."""
        path = self.path(name)
        if not path.exists():
            return None
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
            return str(exc) or type(exc).__name__
        return f"member {bad} fails its CRC check" if bad else None

    def set_aside_if_damaged(self, name: str) -> bool:
        """Move a damaged archive to ``<stem>.damaged<suffix>``; return whether it was."""
        reason = self.damage(name)
        if reason is None:
            return False
        stem, suffix = os.path.splitext(name)
        target = self.path(f"{stem}.damaged{suffix}")
        os.replace(self.path(name), target)
        log.warning("%s is damaged (%s); moved to %s", self.path(name), reason, target)
        return True

    def copy_verified(self, source: str, target: str) -> None:
        """:meth:`copy`, then check that the copy reads back identical.

        Raises:
            TrainingError: The copy differs (a failing disk): named, before training goes on.
        """
        self.copy(source, target)
        if not filecmp.cmp(self.path(source), self.path(target), shallow=False):
            raise TrainingError(
                f"{self.path(target)} does not read back as written; check the disk, then "
                "continue with resume=True (xraycls train --resume)"
            )

    def path(self, name: str) -> Path:
        """``root / name``."""
        return self.root / name

    def write_text(self, name: str, text: str) -> None:
        """Write a text file atomically."""
        self.create()
        write_text_atomic(self.path(name), text)

    def write_json(self, name: str, data: Any) -> None:
        """Write JSON atomically (strict: NaN is refused)."""
        self.write_text(name, json.dumps(data, indent=2, allow_nan=False) + "\n")

    def read_json(self, name: str) -> Any:
        """Read a JSON file of the run.

        Raises:
            TrainingError: The file is missing or not valid JSON.
        """
        path = self.path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"{path} is missing") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(f"{path} cannot be read: {exc}") from None

    def copy(self, source: str, target: str) -> None:
        """Copy one run file to another name atomically (e.g. ``last.keras`` -> ``best.keras``)."""
        with atomic_target(self.path(target)) as tmp:
            shutil.copyfile(self.path(source), tmp)

    def write_history(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write ``history.json`` (list of per-epoch dicts) and ``history.csv``."""
        columns = list(HISTORY_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
        self.write_json("history.json", list(rows))
        self.write_text("history.csv", buf.getvalue())


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking OS lock on ``fd``; ``False`` when another holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino)
    return True
