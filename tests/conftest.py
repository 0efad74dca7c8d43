"""Shared pytest configuration: quiet TensorFlow, locate the real test images, and the shared
tiny fixtures (``tiny_tree`` / ``tiny_dataset``: a small image folder; ``tiny_cnn``: a small
model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from xraycls.data import Dataset

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


#: The classes (as folder names) and image counts of ``tiny_tree``.
TINY_TREE = {"COVID": 3, "NORMAL": 3, "Viral Pneumonia": 3}


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """A Kaggle-v1 folder ``<tmp>/COVID-19 Radiography Database`` of :data:`TINY_TREE`.

    Distinct 48x40 gray PNGs named ``COVID (1).png``...; the folder is the test's own, so a
    test may add or break files in it.
    """
    from _helpers_data import make_tree

    root = tmp_path / "COVID-19 Radiography Database"
    make_tree(root, TINY_TREE)
    return root


@pytest.fixture
def tiny_dataset(tiny_tree: Path) -> Dataset:
    """``load_dataset(tiny_tree)``: 9 images, classes COVID, Normal, Viral Pneumonia."""
    from xraycls.data import load_dataset

    return load_dataset(tiny_tree)
