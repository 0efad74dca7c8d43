"""Environment checks for the dependency decisions in docs/decisions.md."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest


def test_imgaug_fork_imports_under_numpy2():
    major = int(np.__version__.split(".")[0])
    if major < 2:
        pytest.skip(f"NumPy {np.__version__} < 2: the check is about NumPy 2")
    import imgaug
    import imgaug.augmenters as iaa

    # The distribution is the maintained fork `imaug`, not the abandoned `imgaug` 0.4.0.
    assert importlib.metadata.version("imaug") >= "0.4.3"
    assert hasattr(iaa, "Affine") and imgaug.__version__


def test_imgaug_augmenter_runs_and_is_seeded():
    import imgaug.augmenters as iaa

    image = np.tile(np.arange(32, dtype=np.uint8)[:, None, None] * 8, (1, 32, 3))

    def run(seed: int) -> np.ndarray:
        aug = iaa.Sequential(
            [
                iaa.Affine(rotate=(-15, 15)),
                iaa.AdditiveGaussianNoise(scale=(0, 10)),
                iaa.Fliplr(0.5),
            ]
        )
        # seed_() reseeds the children too; Sequential(seed=...) alone would not.
        aug.seed_(seed)
        return aug(image=image)

    out = run(0)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    np.testing.assert_array_equal(out, run(0))
    assert not np.array_equal(out, run(1))


def test_opencv_is_below_the_fork_pin():
    import cv2

    major, minor = (int(v) for v in cv2.__version__.split(".")[:2])
    assert (major, minor) < (4, 13), "imaug 0.4.3 pins opencv-python < 4.13"
