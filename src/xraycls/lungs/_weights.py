"""The shipped segmenter weights: path, expected checksum, verified loading, one cached model."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from xraycls.errors import WeightsError

__all__ = ["WEIGHTS_FILE", "WEIGHTS_SHA256", "load_segmenter", "verify_weights"]

#: The weights file shipped inside the package (written by ``scripts/train_lungs.py``).
WEIGHTS_FILE = Path(__file__).with_name("lung_unet.weights.h5")
#: sha256 of :data:`WEIGHTS_FILE`; a file that does not match is refused.
WEIGHTS_SHA256 = "9b526eb2bcbeb0d50e969da99872df69d91f8f14d7105184cc604424031cd1ae"

_lock = threading.Lock()
_cached: Any = None


def verify_weights(
    path: str | os.PathLike[str] = WEIGHTS_FILE, sha256: str = WEIGHTS_SHA256
) -> Path:
    """Check that ``path`` exists and has the expected sha256; return it.

    Raises:
        WeightsError: The file is missing or its checksum differs (damaged or replaced).
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(
            f"lung segmenter weights {os.fspath(p)!r} are missing: reinstall xraycls, or "
            "rebuild them with scripts/train_lungs.py"
        )
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if digest != sha256:
        raise WeightsError(
            f"lung segmenter weights {os.fspath(p)!r} have sha256 {digest}, expected {sha256}: "
            "the file is damaged or was replaced; reinstall xraycls (or, after retraining with "
            "scripts/train_lungs.py, update WEIGHTS_SHA256 in xraycls/lungs/_weights.py)"
        )
    return p


def load_segmenter(path: str | os.PathLike[str] | None = None, sha256: str = WEIGHTS_SHA256) -> Any:
    """Build the U-Net and load verified weights into it; the shipped model is cached.

    Args:
        path: A weights file; ``None`` means the shipped one (loaded once per process).
        sha256: The checksum ``path`` must have.

    Raises:
        WeightsError: Missing file, checksum mismatch, or weights that do not fit the network.
    """
    global _cached
    if path is None:
        with _lock:
            if _cached is None:
                _cached = _load(WEIGHTS_FILE, sha256)
            return _cached
    return _load(Path(path), sha256)


def _load(path: Path, sha256: str) -> Any:
    from xraycls.lungs._model import INPUT_SIZE, build_segmenter

    verify_weights(path, sha256)
    model = build_segmenter(INPUT_SIZE)
    try:
        # Weights only, into an architecture built in code: nothing in the file is executed.
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"lung segmenter weights {os.fspath(path)!r} do not fit the network: {exc}"
        ) from exc
    return model
