"""Shared pieces of the export / calibration / batch / service tests: real images, tiny models."""

from __future__ import annotations

import csv
import socket
import threading
import time
from pathlib import Path

NAMES = ["COVID", "Normal", "Viral Pneumonia"]
_FOLDERS = {"COVID": "COVID", "Normal": "NORMAL", "Viral Pneumonia": "Viral Pneumonia"}


def real_images(cxr3: Path, per_class: int, offset: int = 0) -> list[tuple[str, str]]:
    """``(path, label)`` of the first ``per_class`` cxr3 images of each class after ``offset``."""
    base = cxr3 / "COVID-19 Radiography Database"
    out = []
    for label, folder in _FOLDERS.items():
        files = [
            base / folder / f"{folder} ({i}).png" for i in range(1 + offset, 1 + offset + per_class)
        ]
        out.extend((str(f), label) for f in files)
    return out


def write_manifest(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A ``file,label`` CSV manifest with absolute paths."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label"])
        writer.writerows(rows)
    return path


def saved_tiny_model(path: Path, size: int = 32) -> Path:
    """The project's tiny test model saved with the three cxr3 class names."""
    from _helpers_train import tiny_model
    from xraycls.zoo import save_model

    return save_model(tiny_model(size=size), path, class_names=NAMES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """uvicorn in a background thread, stopped at the end of the module."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
