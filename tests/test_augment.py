"""Augmenter: shapes, dtypes, determinism, configuration round trip, errors."""

from __future__ import annotations

import json
import threading

import imgaug.augmenters as iaa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xraycls.augment import Augmenter, PaperAugmentation
from xraycls.errors import ConfigError

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    h = draw(st.integers(8, 96))
    w = draw(st.integers(8, 96))
    layout = draw(st.sampled_from(["HW", "HW1", "HW3", "NHW1", "NHW3"]))
    n = draw(st.integers(1, 3))
    shape = {
        "HW": (h, w),
        "HW1": (h, w, 1),
        "HW3": (h, w, 3),
        "NHW1": (n, h, w, 1),
        "NHW3": (n, h, w, 3),
    }[layout]
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@_SETTINGS
@given(img=images(), seed=st.integers(0, 2**31 - 1))
def test_paper_preserves_shape_and_dtype_and_is_deterministic(img: np.ndarray, seed: int) -> None:
    before = img.copy()
    out = Augmenter.paper(seed=seed)(img)
    assert out.shape == img.shape
    assert out.dtype == np.uint8
    assert np.array_equal(img, before), "the input must not be modified"
    assert np.array_equal(out, Augmenter.paper(seed=seed)(img))
    per_call = Augmenter.paper(seed=seed)(img, seed=5)
    assert np.array_equal(per_call, Augmenter.paper(seed=seed)(img, seed=5))


def test_stream_changes_between_calls_but_repeats_across_instances() -> None:
    img = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    a, b = Augmenter.paper(seed=3), Augmenter.paper(seed=3)
    a1, a2 = a(img), a(img)
    b1, b2 = b(img), b(img)
    assert not np.array_equal(a1, a2)
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert not np.array_equal(a1, Augmenter.paper(seed=4)(img))


def test_per_call_seed_is_independent_of_stream_state() -> None:
    img = np.random.default_rng(1).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    a = Augmenter.paper(seed=9)
    first = a(img, seed=11)
    a(img)  # advance the stream
    assert np.array_equal(a(img, seed=11), first)
    assert not np.array_equal(a(img, seed=12), first)


def test_per_call_seed_is_thread_safe() -> None:
    img = np.random.default_rng(2).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    a = Augmenter.paper(seed=0)
    expected = {s: a(img, seed=s) for s in range(8)}
    got: dict[int, np.ndarray] = {}

    def work(s: int) -> None:
        got[s] = a(img, seed=s)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[s], expected[s]) for s in range(8))


def test_gray_stays_gray() -> None:
    gray = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 1), dtype=np.uint8)
    rgb = np.repeat(gray, 3, axis=3)
    out = Augmenter.paper(seed=0)(rgb)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])


def test_wraps_any_imgaug_augmenter_without_touching_it() -> None:
    img = np.arange(2 * 8 * 10 * 3, dtype=np.uint8).reshape(2, 8, 10, 3)
    user = iaa.Fliplr(1.0)
    out = Augmenter(user, seed=1)(img)
    assert np.array_equal(out, img[:, :, ::-1])
    single = Augmenter(iaa.Flipud(1.0), seed=1)(img[0])
    assert np.array_equal(single, img[0, ::-1])


def test_identity_parameters_leave_image_unchanged() -> None:
    img = np.random.default_rng(4).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    aug = Augmenter.paper(seed=0, rotate=0, noise=0, crop=0, flip=0, scale=(1, 1))
    assert np.array_equal(aug(img), img)
    flip = Augmenter.paper(seed=0, rotate=0, noise=0, crop=0, flip=1, scale=(1, 1))
    assert np.array_equal(flip(img), img[:, :, ::-1])


def test_round_trip_dict_and_json() -> None:
    aug = Augmenter.paper(seed=42, rotate=10, noise=0.05, crop=0.2, flip=0.0, scale=(0.8, 1.2))
    data = aug.to_dict()
    assert data == {
        "kind": "paper",
        "seed": 42,
        "rotate": 10.0,
        "noise": 0.05,
        "crop": 0.2,
        "flip": 0.0,
        "scale": [0.8, 1.2],
    }
    json.dumps(data)
    again = Augmenter.from_dict(data)
    img = np.random.default_rng(5).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert np.array_equal(again(img), aug(img))  # both fresh streams with the same seed
    assert PaperAugmentation.from_dict(PaperAugmentation(rotate=3).to_dict()).rotate == 3.0
    assert Augmenter.from_json(aug.to_json()).to_dict() == data


def test_defaults_are_documented_values() -> None:
    assert Augmenter.paper().to_dict() == {
        "kind": "paper",
        "seed": 0,
        "rotate": 15.0,
        "noise": 0.03,
        "crop": 0.1,
        "flip": 0.5,
        "scale": [0.9, 1.1],
    }


def test_arbitrary_augmenter_is_not_serialisable() -> None:
    with pytest.raises(ConfigError, match=r"only Augmenter\.paper"):
        Augmenter(iaa.Fliplr(0.5)).to_dict()


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), "images: expected dtype uint8"),
        (np.zeros((8, 8, 3), np.uint16), "images: expected dtype uint8"),
        (np.zeros((2, 2, 8, 8, 3), np.uint8), "images: expected 2"),
        (np.zeros((8,), np.uint8), "images: expected 2"),
        (np.zeros((8, 8, 4), np.uint8), "images: expected 1 or 3 channels"),
        ([[1, 2], [3, 4]], "images: expected a numpy uint8 array"),
    ],
)
def test_bad_images_raise_config_error(images: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Augmenter.paper()(images)  # type: ignore[arg-type]


def test_size_changing_augmenter_is_refused() -> None:
    with pytest.raises(ConfigError, match="changed the images"):
        Augmenter(iaa.Resize(0.5))(np.zeros((2, 16, 16, 3), np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rotate": -1}, "rotate"),
        ({"noise": 2}, "noise"),
        ({"crop": 0.5}, "crop"),
        ({"flip": 1.5}, "flip"),
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"scale": (0, 1)}, "scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_parameters_raise_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Augmenter.paper(**kwargs)  # type: ignore[arg-type]


def test_from_dict_rejects_unknown_keys_and_kinds() -> None:
    with pytest.raises(ConfigError, match="Augmenter: unknown key 'rotation'"):
        Augmenter.from_dict({"kind": "paper", "seed": 0, "rotation": 3})
    with pytest.raises(ConfigError, match="kind"):
        Augmenter.from_dict({"kind": "custom"})
    with pytest.raises(ConfigError, match="expected an imgaug augmenter"):
        Augmenter("flip")  # type: ignore[arg-type]


def test_empty_batch_passes_through() -> None:
    empty = np.zeros((0, 16, 16, 3), np.uint8)
    assert Augmenter.paper()(empty).shape == (0, 16, 16, 3)


def test_pickle_and_deepcopy_keep_the_stream_position() -> None:
    import copy
    import pickle

    img = np.random.default_rng(6).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    a = Augmenter.paper(seed=1)
    a(img)
    b, c = pickle.loads(pickle.dumps(a)), copy.deepcopy(a)
    nxt = a(img)
    assert np.array_equal(b(img), nxt) and np.array_equal(c(img), nxt)
