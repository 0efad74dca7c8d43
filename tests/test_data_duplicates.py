"""find_duplicates: exact copies and resized/re-encoded copies are found, different images not."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_data import fake_xray, make_tree, write_image
from xraycls.data import Dataset, find_duplicates, load_dataset
from xraycls.data._duplicates import hamming_pairs, phash
from xraycls.errors import ConfigError


@pytest.fixture
def with_copies(tmp_path: Path) -> Dataset:
    paths = make_tree(tmp_path / "d", {"COVID": 6, "NORMAL": 6})
    big = cv2.resize(fake_xray(3, (48, 40)), (160, 192), interpolation=cv2.INTER_CUBIC)
    write_image(paths[2], big)  # COVID (3) at a larger size
    small = cv2.resize(big, (80, 96), interpolation=cv2.INTER_AREA)
    write_image(tmp_path / "d" / "NORMAL" / "copy.jpg", small, IMWRITE_JPEG_QUALITY=70)
    shutil.copy(paths[8], tmp_path / "d" / "NORMAL" / "exact.png")  # NORMAL (3)
    return load_dataset(tmp_path / "d")


def _names(ds: Dataset, clusters: list[list[int]]) -> list[list[str]]:
    return [sorted(Path(ds.files[i]).name for i in c) for c in clusters]


def test_near_and_exact_duplicates_are_found(with_copies: Dataset) -> None:
    clusters = find_duplicates(with_copies)
    assert sorted(_names(with_copies, clusters)) == [
        ["COVID (3).png", "copy.jpg"],
        ["NORMAL (3).png", "exact.png"],
    ]
    assert all(c == sorted(c) for c in clusters)


def test_sha256_finds_only_exact(with_copies: Dataset) -> None:
    clusters = find_duplicates(with_copies, method="sha256")
    assert _names(with_copies, clusters) == [["NORMAL (3).png", "exact.png"]]


def test_split_keeps_duplicates_together(with_copies: Dataset) -> None:
    clusters = find_duplicates(with_copies)
    for seed in range(8):
        parts = with_copies.split(test=0.3, val=0.3, seed=seed)
        for cl in clusters:
            files = {with_copies.files[i] for i in cl}
            assert sum(bool(files & set(p.files)) for p in parts) == 1


def test_distinct_images_are_not_duplicates() -> None:
    images = [cv2.cvtColor(fake_xray(s, (64, 64)), cv2.COLOR_GRAY2RGB) for s in range(60)]
    ds = Dataset(tuple(f"m{i}" for i in range(60)), np.zeros(60, int), ("x",), images=images)
    assert find_duplicates(ds) == []
    ds2 = ds + ds.subset([5])  # in-memory copy
    assert find_duplicates(ds2) == [[5, 60]]


def test_hamming_pairs_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.random((300, 256)) < 0.5
    hashes[10] = hashes[200]
    hashes[11] = hashes[12] ^ (rng.random(256) < 0.05)
    got = set(hamming_pairs(hashes, 24, block=64))
    dist = (hashes[:, None, :] != hashes[None, :, :]).sum(-1)
    want = {(i, j) for i in range(300) for j in range(i + 1, 300) if dist[i, j] <= 24}
    assert got == want and (10, 200) in got and (11, 12) in got


def test_phash_is_robust_to_brightness_and_resizing() -> None:
    img = fake_xray(1, (200, 180))
    h = phash(img)
    brighter = np.clip(img.astype(float) * 1.1 + 10, 0, 255).astype(np.uint8)
    smaller = cv2.resize(img, (90, 100), interpolation=cv2.INTER_AREA)
    assert (phash(brighter) != h).sum() <= 12
    assert (phash(smaller) != h).sum() <= 12
    assert (phash(fake_xray(2, (200, 180))) != h).sum() > 24


def test_bad_arguments(with_copies: Dataset) -> None:
    with pytest.raises(ConfigError, match="method"):
        find_duplicates(with_copies, method="md5")
    with pytest.raises(ConfigError, match="threshold"):
        find_duplicates(with_copies, threshold=256)
