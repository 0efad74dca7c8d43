"""Shared pytest configuration: quiet TensorFlow and locate the real test images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before TensorFlow is imported by any test module.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

#: ``../shared/data`` beside the repository, as laid out in CI. Never copied into the project.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CXR3 = SHARED_DATA / "cxr3"
CXR3_FULLSIZE = SHARED_DATA / "cxr3-fullsize"


@pytest.fixture(scope="session")
def cxr3_dir() -> Path:
    """The real 3-class subset, or a skip saying why it is missing."""
    if not CXR3.is_dir():
        pytest.skip(f"real test images not found at {CXR3} (they sit beside the repo in CI)")
    return CXR3


@pytest.fixture(scope="session")
def cxr3_fullsize_dir() -> Path:
    """A few original files in their native sizes and formats, or a skip saying why."""
    if not CXR3_FULLSIZE.is_dir():
        pytest.skip(f"real test images not found at {CXR3_FULLSIZE} (beside the repo in CI)")
    return CXR3_FULLSIZE


CXR_LUNGMASK = SHARED_DATA / "cxr-lungmask"


@pytest.fixture(scope="session")
def cxr_lungmask_dir() -> Path:
    """The real image + lung-mask pairs the segmenter is trained on, or a skip saying why."""
    if not (CXR_LUNGMASK / "MANIFEST.csv").is_file():
        pytest.skip(f"lung mask pairs not found at {CXR_LUNGMASK} (they sit beside the repo in CI)")
    return CXR_LUNGMASK


@pytest.fixture(scope="session")
def tiny_cnn():  # type: ignore[no-untyped-def]
    """One small model shared by the tests that only save, load or call it (never train it).

    ``simple_cnn`` at 16x16x3, width 2, seed 0, three classes; a test that trains or changes a
    model builds its own (``_helpers_train.tiny_model``).
    """
    import xraycls

    return xraycls.build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=0)
