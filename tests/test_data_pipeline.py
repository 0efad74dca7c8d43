"""make_tf_dataset (ImageBatches through tf.data): shapes, order, determinism, augmentation,
resize modes, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from _helpers_augment import gray_files, make_dataset, noise_files, write_png
from xraycls.augment import Augmenter
from xraycls.errors import ConfigError
from xraycls.imaging import fit_image
from xraycls.pipeline._tf import make_tf_dataset


def _collect(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_shapes_dtype_range_order_no_drop(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 10)
    labels = [i % 3 for i in range(10)]
    ds = make_tf_dataset(files, labels, 3, batch_size=4, image_size=(16, 12), resize="stretch")
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert [b[0].shape for b in batches] == [(4, 16, 12, 3), (4, 16, 12, 3), (2, 16, 12, 3)]
    x, y = _collect(ds)
    assert x.dtype == np.float32 and y.dtype == np.float32
    # file i is a constant 10 * i + 5: order preserved, values raw [0, 255]
    assert np.array_equal(x[:, 0, 0, 0], 10 * np.arange(10) + 5)
    assert np.array_equal(y, np.eye(3, dtype=np.float32)[labels])
    assert np.array_equal(x[..., 0], x[..., 2])  # gray replicated


def test_drop_remainder_and_repeat(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 10)
    ds = make_tf_dataset(files, [0] * 10, 2, batch_size=4, image_size=8, drop_remainder=True)
    assert [x.shape[0] for x, _ in ds] == [4, 4]
    # repeat runs epoch after epoch in one iteration, each ending with its own last batch
    # (the ImageBatches epochs: new order per epoch, the same as iterating again)
    labels = list(range(10))
    common = {"batch_size": 4, "image_size": 8, "shuffle": True, "seed": 3}
    rep = make_tf_dataset(files, labels, 10, repeat=True, **common)
    taken = [y.numpy().argmax(1) for _, y in rep.take(7)]
    assert [len(y) for y in taken] == [4, 4, 2, 4, 4, 2, 4]
    once = make_tf_dataset(files, labels, 10, **common)
    epochs = [_collect(once)[1].argmax(1) for _ in range(2)]
    assert np.array_equal(np.concatenate(taken[:3]), epochs[0])
    assert np.array_equal(np.concatenate(taken[3:6]), epochs[1])
    assert not np.array_equal(epochs[0], epochs[1])


@pytest.mark.parametrize("cache", [False, True])
def test_shuffle_deterministic_and_reshuffles_each_epoch(tmp_path: Path, cache: bool) -> None:
    files = gray_files(tmp_path, 20)
    labels = list(range(20))

    def make(seed: int) -> tf.data.Dataset:
        return make_tf_dataset(
            files, labels, 20, batch_size=8, image_size=8, shuffle=True, seed=seed, cache=cache
        )

    ds = make(1)
    epoch1 = _collect(ds)[1].argmax(1)
    epoch2 = _collect(ds)[1].argmax(1)
    assert sorted(epoch1) == labels and sorted(epoch2) == labels
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, np.arange(20))
    assert np.array_equal(_collect(make(1))[1].argmax(1), epoch1)
    assert not np.array_equal(_collect(make(2))[1].argmax(1), epoch1)
    x, y = _collect(make(1))
    # image and label stay paired after shuffling
    assert np.array_equal(x[:, 0, 0, 0], 10 * y.argmax(1) + 5)


def test_augmentation_changes_pixels_deterministically(tmp_path: Path) -> None:
    files = noise_files(tmp_path, 6, size=(32, 32))
    labels = [0, 1, 0, 1, 0, 1]

    def make() -> tf.data.Dataset:
        return make_tf_dataset(
            files, labels, 2, batch_size=4, image_size=32, augmenter=Augmenter.paper(seed=0)
        )

    plain, y0 = _collect(make_tf_dataset(files, labels, 2, batch_size=4, image_size=32))
    ds = make()
    aug1, y1 = _collect(ds)
    aug2, _ = _collect(ds)
    assert np.array_equal(y0, y1)  # labels untouched, order kept
    assert aug1.shape == plain.shape and aug1.dtype == np.float32
    assert aug1.min() >= 0 and aug1.max() <= 255
    assert (aug1 != plain).mean() > 0.5
    assert not np.array_equal(aug1, aug2)  # a new augmentation every epoch
    assert np.array_equal(_collect(make())[0], aug1)  # same seed, same stream


def test_bare_imgaug_augmenter_is_accepted(tmp_path: Path) -> None:
    import imgaug.augmenters as iaa

    files = noise_files(tmp_path, 3, size=(16, 16))
    plain, _ = _collect(make_tf_dataset(files, [0, 0, 0], 1, batch_size=3, image_size=16))
    flipped, _ = _collect(
        make_tf_dataset(files, [0, 0, 0], 1, batch_size=3, image_size=16, augmenter=iaa.Fliplr(1.0))
    )
    assert np.array_equal(flipped, plain[:, :, ::-1])


def test_preprocess_is_applied(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 2)
    x, _ = _collect(
        make_tf_dataset(
            files, [0, 1], 2, batch_size=2, image_size=8, preprocess=lambda t: t / 127.5 - 1.0
        )
    )
    assert np.allclose(x[:, 0, 0, 0], (np.array([5, 15]) / 127.5) - 1.0)


def test_resize_pad_keeps_aspect_with_black_bars(tmp_path: Path) -> None:
    # a 20 x 40 white image letterboxed into 32 x 32 -> 16 rows of image, 8 black rows each side
    path = write_png(tmp_path / "wide.png", np.full((20, 40), 255, np.uint8))
    x, _ = _collect(make_tf_dataset([path], [0], 1, batch_size=1, image_size=32))
    assert x.shape == (1, 32, 32, 3)
    assert (x[0, :8] == 0).all() and (x[0, 24:] == 0).all()
    assert (x[0, 8:24] == 255).all()
    stretched, _ = _collect(
        make_tf_dataset([path], [0], 1, batch_size=1, image_size=32, resize="stretch")
    )
    assert (stretched == 255).all()


def test_resize_crop_takes_centre(tmp_path: Path) -> None:
    img = np.zeros((20, 60), np.uint8)
    img[:, 20:40] = 200  # the centre square is bright, the sides are black
    path = write_png(tmp_path / "wide.png", img)
    x, _ = _collect(make_tf_dataset([path], [0], 1, batch_size=1, image_size=10, resize="crop"))
    assert (x == 200).all()


def test_fit_image_tall_and_upscale() -> None:
    tall = np.full((40, 10, 3), 100, np.uint8)
    out, _ = fit_image(tall, 20, 20, "pad")
    assert out.shape == (20, 20, 3)
    assert (out[:, :7] == 0).all() and (out[:, 13:] == 0).all() and (out[:, 8:12] == 100).all()
    small, _ = fit_image(np.full((4, 4, 3), 9, np.uint8), 16, 16, "pad")
    assert (small == 9).all()


def test_rgb_and_16bit_inputs(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200  # pure red
    deep = np.zeros((8, 8), np.uint16)
    deep[:, 4:] = 4000  # 12-bit data in a 16-bit container
    files = [write_png(tmp_path / "rgb.png", rgb), write_png(tmp_path / "deep.png", deep)]
    x, _ = _collect(make_tf_dataset(files, [0, 1], 2, batch_size=2, image_size=8))
    assert np.array_equal(x[0, 0, 0], [200, 0, 0])  # RGB order kept
    assert x[1].min() == 0 and x[1].max() == 255  # 16-bit scaled to [0, 255]
    assert (x[1, :, :4] == 0).all() and (x[1, :, 4:] == 255).all()


def test_in_memory_images_mixed_with_files(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 3)
    memory = [None, np.full((10, 10), 77, np.uint8), np.full((10, 10, 3), 99, np.uint8)]
    x, _ = _collect(make_tf_dataset(files, [0, 0, 0], 1, batch_size=3, image_size=8, images=memory))
    assert list(x[:, 4, 4, 0]) == [5, 77, 99]


def test_dataset_to_tf_dataset_delegates(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 4)
    ds = make_dataset(files, [0, 1, 0, 1], ("a", "b"))
    x, y = _collect(ds.to_tf_dataset(batch_size=2, image_size=8))
    assert x.shape == (4, 8, 8, 3) and np.array_equal(y.argmax(1), [0, 1, 0, 1])


def test_bad_file_error_names_its_path(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 4)
    bad = Path(files[2])
    bad.write_bytes(b"this is not a png")
    ds = make_tf_dataset(files, [0] * 4, 1, batch_size=2, image_size=8)
    with pytest.raises(tf.errors.OpError) as info:
        _collect(ds)
    assert str(bad) in str(info.value)
    assert "ImageReadError" in str(info.value)


def test_missing_file_error_names_its_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.png")
    with pytest.raises(tf.errors.OpError, match=r"gone\.png: file does not exist"):
        _collect(make_tf_dataset([missing], [0], 1, batch_size=1, image_size=8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"files": []}, "files: the dataset is empty"),
        ({"labels": [0]}, "labels: expected one label per file"),
        ({"labels": [0, 5]}, r"labels: class indices must be in \[0, 2\)"),
        ({"labels": [0.0, 1.0]}, "labels: expected integer"),
        ({"num_classes": 0}, "num_classes"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": (8,)}, "image_size"),
        ({"image_size": 0}, "image_size"),
        ({"resize": "squash"}, "resize: expected one of"),
        ({"images": [None]}, "images: expected one entry"),
        ({"augmenter": 3}, "augmenter"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "files": ["a.png", "b.png"],
        "labels": [0, 1],
        "num_classes": 2,
        "batch_size": 2,
        "image_size": 8,
    }
    args.update(kwargs)
    files, labels, num_classes = args.pop("files"), args.pop("labels"), args.pop("num_classes")
    with pytest.raises(ConfigError, match=match):
        make_tf_dataset(files, labels, num_classes, **args)  # type: ignore[arg-type]


def test_in_memory_image_with_wrong_dtype_names_index(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 1)
    ds = make_tf_dataset(
        files, [0], 1, batch_size=1, image_size=8, images=[np.zeros((4, 4), np.float32)]
    )
    with pytest.raises(tf.errors.OpError, match=r"images\[0\]"):
        _collect(ds)


def test_truncated_png_error_names_its_path(tmp_path: Path) -> None:
    files = noise_files(tmp_path, 3, size=(32, 32))
    data = Path(files[1]).read_bytes()
    Path(files[1]).write_bytes(data[: len(data) // 2])
    ds = make_tf_dataset(files, [0, 0, 0], 1, batch_size=1, image_size=8)
    with pytest.raises(tf.errors.OpError, match=r"tex001\.png: truncated PNG"):
        _collect(ds)


@pytest.mark.data
def test_real_images(cxr3_dir: Path) -> None:
    files = sorted(str(p) for p in cxr3_dir.rglob("*.png"))[:6]
    assert files, f"no PNG files under {cxr3_dir}"
    x, y = _collect(
        make_tf_dataset(
            files,
            [0] * 6,
            3,
            batch_size=4,
            image_size=64,
            augmenter=Augmenter.paper(seed=0),
            shuffle=True,
            seed=0,
        )
    )
    assert x.shape == (6, 64, 64, 3) and y.shape == (6, 3)
    assert x.min() >= 0 and x.max() <= 255 and x.std() > 10


@pytest.mark.parametrize("threads", [1, 3])
def test_py_dataset_batches_depend_only_on_seed_epoch_and_index(
    tmp_path: Path, threads: int
) -> None:
    # What the trainer's exact resume rests on: batches made ahead for one epoch are never
    # served in another, however many threads make them (Keras's enqueuer did serve them).
    from xraycls.data import make_py_dataset

    files = noise_files(tmp_path, 10)
    labels = [i % 2 for i in range(10)]
    common = {"batch_size": 3, "image_size": 16, "shuffle": True, "seed": 4}
    aug = Augmenter.paper(seed=0)
    running = make_py_dataset(files, labels, 2, augmenter=aug, workers=threads, **common)
    running[0]  # makes batches 1.. of epoch 0 ahead
    running.set_epoch(1)
    got = [running[i] for i in range(len(running))]
    fresh = make_py_dataset(files, labels, 2, augmenter=aug, workers=1, epoch=1, **common)
    for (x, y), (x2, y2) in zip(got, (fresh[i] for i in range(len(fresh))), strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert list(running) and len(list(running)) == len(running)


@pytest.mark.parametrize("cache", [False, True])
def test_tf_dataset_yields_the_py_dataset_batches_epoch_by_epoch(
    tmp_path: Path, cache: bool
) -> None:
    # One pipeline: iteration e of make_tf_dataset is epoch e of make_py_dataset (same order,
    # same augmentation, same images and labels) for the same seed.
    from xraycls.pipeline import make_py_dataset

    files = noise_files(tmp_path, 7, size=(24, 24))
    labels = [i % 3 for i in range(7)]
    common: dict[str, object] = {
        "batch_size": 3,
        "image_size": 16,
        "shuffle": True,
        "seed": 5,
        "augmenter": Augmenter.paper(seed=0),
        "cache": cache,
    }
    tf_ds = make_tf_dataset(files, labels, 3, **common)  # type: ignore[arg-type]
    py_ds = make_py_dataset(files, labels, 3, workers=1, **common)  # type: ignore[arg-type]
    for epoch in range(2):
        py_ds.set_epoch(epoch)
        tf_batches = [(x.numpy(), y.numpy()) for x, y in tf_ds]
        py_batches = [py_ds[i] for i in range(len(py_ds))]
        assert len(tf_batches) == len(py_batches) == 3
        for (x, y), (x2, y2) in zip(tf_batches, py_batches, strict=True):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(tf_batches[0][0], py_ds.batch(0, 0)[0])  # epochs differ


def test_make_tf_dataset_starts_at_epoch_and_keeps_order_with_workers(tmp_path: Path) -> None:
    files = gray_files(tmp_path, 9)
    labels = list(range(9))
    common = {"batch_size": 2, "image_size": 8, "shuffle": True, "seed": 1}
    first = make_tf_dataset(files, labels, 9, workers=1, **common)  # type: ignore[arg-type]
    _collect(first)
    second_epoch = _collect(first)[1].argmax(1)
    started = make_tf_dataset(files, labels, 9, epoch=1, workers=4, **common)  # type: ignore[arg-type]
    assert np.array_equal(_collect(started)[1].argmax(1), second_epoch)
