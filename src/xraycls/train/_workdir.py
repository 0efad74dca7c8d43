"""The run folder: atomic writes of the files a ``Trainer`` leaves behind.

A kill at any moment leaves every file either in its previous or its new complete state: each
is written to a temporary name in the same folder, flushed, and moved over the old one with
``os.replace`` (atomic on POSIX and Windows).

Examples:
    >>>     >>> from xraycls.train._workdir import RunDir
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.write_json("state.json", {"epoch": 1})
    >>> run.read_json("state.json")
    {'epoch': 1}
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xraycls._atomic import atomic_target, write_text_atomic
from xraycls.errors import TrainingError

__all__ = ["HISTORY_COLUMNS", "RunDir"]

#: Columns of ``history.csv`` (extra metrics follow in the order they first appear).
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


class RunDir:
    """Paths and atomic writers of one training run folder.

    Args:
        root: The folder; created if missing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"cannot create the run folder {self.root}: {exc}") from None

    def path(self, name: str) -> Path:
        """``root / name``."""
        return self.root / name

    def write_text(self, name: str, text: str) -> None:
        """Write a text file atomically."""
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
