"""balance() and class_weights()."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import imgaug.augmenters as iaa
import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from _helpers_augment import make_dataset, noise_files
from xraycls.augment import Augmenter, balance, class_weights
from xraycls.errors import ConfigError
from xraycls.io import load_image

CLASSES = ("COVID", "Normal", "Viral")


@pytest.fixture
def train(tmp_path: Path):  # type: ignore[no-untyped-def]
    files = noise_files(tmp_path / "src", 10, size=(20, 24))
    labels = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]  # COVID is the minority: 2 vs 4 vs 4
    groups = [f"p{i // 2}" for i in range(10)]
    return make_dataset(files, labels, CLASSES, groups=groups)


def test_in_memory_counts_origins_groups(train) -> None:  # type: ignore[no-untyped-def]
    out = balance(train, factor=5, seed=0)
    assert out.counts() == {"COVID": 10, "Normal": 4, "Viral": 4}
    assert len(out) == 18
    assert out.files[:10] == train.files  # originals first, unchanged
    new = range(10, 18)
    assert [out.origins[j] for j in new] == [train.files[0]] * 4 + [train.files[1]] * 4
    assert out.origins[:10] == train.files  # a real image's origin is itself
    assert [out.groups[j] for j in new] == ["p0"] * 8  # copies stay with their patient
    assert out.images is not None and all(out.images[i] is None for i in range(10))
    for j in new:
        img = out.images[j]
        assert img.shape == (20, 24, 3) and img.dtype == np.uint8
        assert out.files[j].startswith(train.files[0] if j < 14 else train.files[1])
    assert len(set(out.files)) == len(out.files)
    # the copies really are augmented and differ from each other
    original = load_image(train.files[0])
    assert not np.array_equal(out.images[10], original)
    assert not np.array_equal(out.images[10], out.images[11])


def test_deterministic_with_seed(train) -> None:  # type: ignore[no-untyped-def]
    a, b = balance(train, seed=3), balance(train, seed=3)
    c = balance(train, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.images[10:], b.images[10:], strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.images[10:], c.images[10:], strict=True))


def test_to_folder_writes_pngs_atomically(train, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "balanced"
    out = balance(train, factor=3, out_dir=out_dir, seed=0)
    assert out.counts() == {"COVID": 6, "Normal": 4, "Viral": 4}
    written = sorted(p.name for p in (out_dir / "COVID").iterdir())
    assert written == ["tex000_aug1.png", "tex000_aug2.png", "tex001_aug1.png", "tex001_aug2.png"]
    # no temporary files are left behind
    assert not [p for p in out_dir.rglob("*") if p.name.startswith(".")]
    assert out.images is None
    mem = balance(train, factor=3, seed=0)
    for j in range(10, 14):
        assert os.path.isfile(out.files[j])
        assert np.array_equal(load_image(out.files[j]), mem.images[j])  # lossless PNG
    with open(out_dir / "origins.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["origin"] for r in rows] == [train.files[0]] * 2 + [train.files[1]] * 2
    assert {r["class_name"] for r in rows} == {"COVID"}


def test_classes_by_name_or_index_and_factor_one(train) -> None:  # type: ignore[no-untyped-def]
    assert balance(train, factor=2, classes=["Viral"]).counts() == {
        "COVID": 2,
        "Normal": 4,
        "Viral": 8,
    }
    assert balance(train, factor=2, classes=[0, 1]).counts() == {
        "COVID": 4,
        "Normal": 8,
        "Viral": 4,
    }
    same = balance(train, factor=1)
    assert same.files == train.files and same.counts() == train.counts()


def test_custom_augmenter(train) -> None:  # type: ignore[no-untyped-def]
    out = balance(train, factor=2, augmenter=iaa.Fliplr(1.0))
    assert np.array_equal(out.images[10], load_image(train.files[0])[:, ::-1])
    out2 = balance(train, factor=2, augmenter=Augmenter(iaa.Flipud(1.0)))
    assert np.array_equal(out2.images[10], load_image(train.files[0])[::-1])


def test_balance_twice_keeps_root_origin(train) -> None:  # type: ignore[no-untyped-def]
    once = balance(train, factor=2)
    twice = balance(once, factor=2, classes=["COVID"])
    assert twice.counts()["COVID"] == 8
    assert set(twice.origins[len(once) :]) == {train.files[0], train.files[1]}
    assert len(set(twice.files)) == len(twice.files)


def test_ties_balance_all_minority_classes(tmp_path: Path) -> None:
    files = noise_files(tmp_path, 5)
    ds = make_dataset(files, [0, 1, 2, 2, 2], CLASSES)
    assert balance(ds, factor=3).counts() == {"COVID": 3, "Normal": 3, "Viral": 3}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor": 0}, "factor"),
        ({"factor": 2.5}, "factor"),
        ({"classes": ["Flu"]}, "unknown class name 'Flu'"),
        ({"classes": [7]}, "out of range"),
        ({"augmenter": "flip"}, "augmenter"),
        ({"seed": -2}, "seed"),
    ],
)
def test_bad_arguments(train, kwargs: dict[str, object], match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        balance(train, **kwargs)  # type: ignore[arg-type]


def test_class_weights_hand_computed() -> None:
    # 6 samples, 3 classes: counts 1, 2, 3 -> 6 / (3 * count)
    assert class_weights([0, 1, 1, 2, 2, 2]) == {0: 2.0, 1: 1.0, 2: pytest.approx(2 / 3)}
    # the paper's counts: 219 / 1341 / 1345
    labels = np.repeat([0, 1, 2], [219, 1341, 1345])
    w = class_weights(labels)
    assert w[0] == pytest.approx(2905 / (3 * 219))
    assert w[0] == pytest.approx(4.42161)
    sk = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert [w[c] for c in range(3)] == pytest.approx(list(sk))


def test_class_weights_from_dataset_with_empty_class(train) -> None:  # type: ignore[no-untyped-def]
    sub = train.subset([0, 1, 2, 3, 4, 5])  # no "Viral" left
    w = class_weights(sub)
    assert w == {0: pytest.approx(6 / (2 * 2)), 1: pytest.approx(6 / (2 * 4)), 2: 1.0}


def test_class_weights_errors() -> None:
    with pytest.raises(ConfigError, match="non-empty"):
        class_weights([])
    with pytest.raises(ConfigError, match="integer"):
        class_weights([0.5, 1.0])
    with pytest.raises(ConfigError, match=">= 0"):
        class_weights([-1, 0])
    with pytest.raises(ConfigError, match="out of range"):
        class_weights([0, 3], num_classes=2)


def test_failed_write_leaves_no_partial_file(train, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    out_dir = tmp_path / "balanced"
    with pytest.raises(OSError, match="disk full"):
        balance(train, factor=2, out_dir=out_dir)
    assert [p for p in out_dir.rglob("*") if p.is_file()] == []
