"""The shipped lung-field segmenter: weights integrity, shapes, batching, held-out Dice."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraycls.errors import ConfigError, WeightsError
from xraycls.lungs import (
    WEIGHTS_FILE,
    WEIGHTS_SHA256,
    load_segmenter,
    lung_box,
    segment,
    verify_weights,
)
from xraycls.lungs._prepare import postprocess


def _chest(h: int = 120, w: int = 100, seed: int = 0) -> np.ndarray:
    """A crude film: bright body, two dark lung ellipses, noise."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((h, w), 190, np.uint8)
    cv2.ellipse(img, (w * 3 // 10, h // 2), (w // 7, h // 4), 0, 0, 360, 70, -1)
    cv2.ellipse(img, (w * 7 // 10, h // 2), (w // 7, h // 4), 0, 0, 360, 70, -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def test_shipped_weights_are_in_the_package_and_match_their_checksum() -> None:
    assert WEIGHTS_FILE.is_file() and WEIGHTS_FILE.stat().st_size < 5 * 2**20
    assert hashlib.sha256(WEIGHTS_FILE.read_bytes()).hexdigest() == WEIGHTS_SHA256
    assert verify_weights() == WEIGHTS_FILE
    model = load_segmenter()
    assert load_segmenter() is model  # loaded once, cached
    assert model.count_params() < 1_000_000


def test_tampered_or_missing_weights_are_refused(tmp_path) -> None:
    bad = tmp_path / "lung_unet.weights.h5"
    shutil.copy(WEIGHTS_FILE, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_segmenter(bad)
    with pytest.raises(WeightsError, match="missing"):
        load_segmenter(tmp_path / "nope.weights.h5")
    # The right checksum for a file that is not a weights file: refused with a clear error too.
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="do not fit"):
        load_segmenter(junk, sha256=hashlib.sha256(b"not hdf5").hexdigest())


def test_segment_shapes_and_dtypes() -> None:
    gray = _chest()
    one = segment(gray)
    assert one.shape == gray.shape and one.dtype == bool
    assert segment(np.repeat(gray[:, :, None], 3, axis=2)).shape == gray.shape
    assert segment(gray[:, :, None]).shape == gray.shape
    batch = np.stack([_chest(seed=s) for s in range(3)])
    masks = segment(batch)
    assert masks.shape == batch.shape and masks.dtype == bool
    rgb = np.repeat(batch[..., None], 3, axis=3)
    assert segment(rgb).shape == batch.shape
    mixed = segment([_chest(80, 60), _chest(50, 90, seed=1)])
    assert [m.shape for m in mixed] == [(80, 60), (50, 90)]
    assert segment([]) == []
    assert segment(np.zeros((0, 30, 30), np.uint8)).shape == (0, 30, 30)


def test_batched_masks_equal_one_at_a_time() -> None:
    batch = np.stack([_chest(seed=s) for s in range(4)])
    together = segment(batch)
    for image, mask in zip(batch, together, strict=True):
        np.testing.assert_array_equal(segment(image), mask)


def test_segment_finds_the_dark_fields_of_a_crude_film() -> None:
    image = _chest(160, 140)
    mask = segment(image)
    # Most of the detected area lies on the dark ellipses, and it is not empty.
    assert mask.mean() > 0.05
    assert (image[mask] < 120).mean() > 0.7


def test_segment_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="uint8"):
        segment(np.zeros((20, 20), np.float32))
    with pytest.raises(ConfigError, match="expected"):
        segment(np.zeros((2, 3, 20, 20, 3), np.uint8))
    with pytest.raises(ConfigError, match="threshold"):
        segment(np.zeros((20, 20), np.uint8), threshold=1.5)


def test_postprocess_keeps_two_largest_blobs_and_fills_holes() -> None:
    mask = np.zeros((60, 60), bool)
    mask[10:50, 5:25] = True
    mask[10:50, 35:55] = True
    mask[2:4, 28:30] = True  # a speck
    mask[25:30, 10:15] = False  # a hole
    out = postprocess(mask)
    assert not out[2:4, 28:30].any()
    assert out[25:30, 10:15].all()
    assert out[10:50, 35:55].all()


def test_lung_box_margin_and_empty_fallback() -> None:
    mask = np.zeros((100, 80), bool)
    mask[20:60, 10:70] = True
    assert lung_box(mask, margin=0.0) == (20, 60, 10, 70)
    assert lung_box(mask, margin=0.5) == (0, 80, 0, 80)  # clipped to the image
    assert lung_box(np.zeros((30, 40), bool)) == (0, 30, 0, 40)
    with pytest.raises(ConfigError):
        lung_box(mask, margin=-0.1)
    with pytest.raises(ConfigError):
        lung_box(np.zeros((2, 3, 4), bool))


@settings(max_examples=40, deadline=None)
@given(
    y=st.integers(0, 39),
    x=st.integers(0, 29),
    h=st.integers(1, 40),
    w=st.integers(1, 30),
    margin=st.floats(0, 1),
)
def test_lung_box_contains_the_mask(y: int, x: int, h: int, w: int, margin: float) -> None:
    mask = np.zeros((40, 30), bool)
    mask[y : y + h, x : x + w] = True
    y0, y1, x0, x1 = lung_box(mask, margin)
    assert 0 <= y0 < y1 <= 40 and 0 <= x0 < x1 <= 30
    assert mask[y0:y1, x0:x1].sum() == mask.sum()


@pytest.mark.data
def test_heldout_dice_of_the_shipped_weights(cxr_lungmask_dir) -> None:
    from xraycls.lungs._pairs import load_pairs, split_ids

    pairs = {pid: (img, mask) for pid, img, mask in load_pairs(cxr_lungmask_dir)}
    train, held = split_ids(list(pairs))
    assert len(held) == 51 and not set(train) & set(held)
    predicted = segment([pairs[p][0] for p in held])
    dice = []
    for pid, pred in zip(held, predicted, strict=True):
        truth = pairs[pid][1]
        dice.append(2 * np.logical_and(pred, truth).sum() / (pred.sum() + truth.sum()))
    assert np.mean(dice) >= 0.90, f"held-out Dice {np.mean(dice):.3f} < 0.90"
    assert np.min(dice) >= 0.75, f"worst held-out Dice {np.min(dice):.3f}"
