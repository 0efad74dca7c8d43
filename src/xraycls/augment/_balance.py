"""Offline class balancing: oversample minority classes with augmented copies (paper, Sec. 3)."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import imgaug.augmenters as iaa
import numpy as np

from xraycls._atomic import write_bytes_atomic, write_text_atomic
from xraycls._outputs import csv_cell
from xraycls.augment._augmenter import Augmenter, _check_seed, _mix
from xraycls.errors import ConfigError
from xraycls.io import load_image

if TYPE_CHECKING:  # pragma: no cover
    from xraycls.data import Dataset

__all__ = ["balance"]


def _select_classes(counts: np.ndarray, class_names: Sequence[str], classes: Any) -> list[int]:
    if classes is None:
        present = counts[counts > 0]
        if present.size == 0:
            raise ConfigError("train: the dataset is empty, nothing to balance")
        return [int(c) for c in np.flatnonzero(counts == present.min())]
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    out: list[int] = []
    for item in classes:
        if isinstance(item, str):
            if item not in class_names:
                raise ConfigError(
                    f"classes: unknown class name {item!r}; the dataset has {list(class_names)}"
                )
            out.append(list(class_names).index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= int(item) < len(class_names):
                raise ConfigError(
                    f"classes: index {item} out of range for {len(class_names)} classes"
                )
            out.append(int(item))
        else:
            raise ConfigError(f"classes: expected class names or indices, got {item!r}")
    return sorted(set(out))


def _encode_png(image: np.ndarray, path: Path) -> bytes:
    # X-rays are gray replicated to RGB: store one channel when the channels agree (3x smaller);
    # load_image replicates it back, so the round trip is exact.
    if image.ndim == 3 and image.shape[2] == 3:
        if (image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all():
            image = image[..., 0]
        else:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - imencode of a valid uint8 array does not fail
        raise ConfigError(f"out_dir: could not encode {path} as PNG")
    return buf.tobytes()


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\- ]", "_", name).strip() or "class"


def _as_augmenter(augmenter: Any, seed: int) -> Augmenter:
    """``augmenter`` as an xraycls :class:`Augmenter` (default: the paper's, seeded)."""
    if augmenter is None:
        return Augmenter.paper(seed=seed)
    if isinstance(augmenter, iaa.Augmenter):
        return Augmenter(augmenter, seed=seed)
    if not isinstance(augmenter, Augmenter):
        raise ConfigError(
            f"augmenter: expected an xraycls Augmenter or imgaug augmenter, got "
            f"{type(augmenter).__name__}"
        )
    return augmenter


def _rebuild(train: Any, **fields: Any) -> Any:
    if dataclasses.is_dataclass(train) and not isinstance(train, type):
        names = {f.name for f in dataclasses.fields(train)}
        if "report" in names:
            fields["report"] = None  # the load report describes the folder, not this dataset
        return dataclasses.replace(train, **fields)
    return type(train)(**fields)


def balance(
    train: Dataset,
    factor: int = 5,
    augmenter: Augmenter | iaa.Augmenter | None = None,
    classes: Sequence[str | int] | str | int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Dataset:
    """Oversample classes offline with augmented copies, as the paper does for COVID-19.

    Each original image of a selected class gets ``factor - 1`` augmented copies, so the class
    ends with exactly ``factor`` times its original count; other classes are unchanged. The
    paper's Table 1 goes from 219 to 1314 COVID-19 images, which is ``factor=6`` in these terms
    (each original plus five augmented copies); its text says the augmentation "multiplies the
    amount by five", which is ``factor=5`` here. See ``docs/augment.md``.

    Balance the training split only, after splitting: every synthetic image records its source
    in ``origins`` and inherits its patient ``group``, so an augmented copy of a test image can
    never be trained on (the paper augmented before splitting, which leaks). It also keeps its
    original's per-image ``meta`` (its ``sources`` entry, view...).

    Args:
        train: The training dataset.
        factor: Final size of each selected class as a multiple of its original size (int >= 1;
            1 returns an unchanged copy).
        augmenter: How copies are made; default ``Augmenter.paper(seed=seed)``. A bare imgaug
            augmenter is wrapped with ``seed``.
        classes: Class names or indices to oversample. Default: the minority class(es), i.e.
            every class whose count equals the smallest non-zero count.
        out_dir: ``None`` keeps the synthetic images in memory (``Dataset.images``; their
            ``files`` entries are the virtual names ``"<original>#aug<k>"``). A folder writes
            them as PNG files ``out_dir/<class>/<stem>_aug<k>.png`` (atomically) plus
            ``out_dir/origins.csv``, and the returned dataset points at those files.
        seed: Seed; the same seed, inputs and augmenter give identical copies. Copy ``k`` of
            image ``i`` is a pure function of ``(seed, i, k)``.

    Returns:
        A dataset with the originals first (unchanged, same order) followed by the synthetic
        images, grouped by original. ``origins[j]`` is the original file a synthetic image was
        made from, and a real image's own file (as in :class:`xraycls.Dataset`). With
        ``out_dir=None``, ``images`` holds the synthetic arrays and ``None`` for the originals,
        which the input pipeline reads from their files (keeps memory small).

    Raises:
        ConfigError: Bad ``factor``, ``classes`` or ``augmenter``.
        ImageReadError: An original image cannot be read.

    Examples:
        >>> import os, tempfile, cv2, numpy as np
        >>> from xraycls.augment import balance
        >>> from xraycls.data import Dataset
        >>> folder = tempfile.mkdtemp()
        >>> files = [os.path.join(folder, f"{i}.png") for i in range(4)]
        >>> for f in files:
        ...     _ = cv2.imwrite(f, np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
        >>> train = Dataset(tuple(files), np.array([0, 1, 1, 1]), ("COVID", "Normal"))
        >>> balanced = balance(train, factor=3, seed=0)
        >>> balanced.counts()
        {'COVID': 3, 'Normal': 3}
        >>> balanced.origins[-1] == files[0], balanced.images[-1].shape
        (True, (32, 32, 3))
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ConfigError(f"factor: expected an int >= 1, got {factor!r}")
    seed = _check_seed("seed", seed)
    augmenter = _as_augmenter(augmenter, seed)

    files = [os.fspath(f) for f in train.files]
    labels = np.asarray(train.labels, dtype=np.int64)
    class_names = list(train.class_names)
    groups = getattr(train, "groups", None)
    origins = getattr(train, "origins", None)
    images = getattr(train, "images", None)
    # Per-image columns (source, view...): an augmented copy keeps its original's values.
    meta = dict(getattr(train, "meta", None) or {})
    counts = np.bincount(labels, minlength=len(class_names))
    selected = _select_classes(counts, class_names, classes)

    folder = Path(out_dir) if out_dir is not None else None
    used = set(files)
    picks: list[int] = []  # the original of each copy
    new_files: list[str] = []
    new_origins: list[str] = []
    new_images: list[np.ndarray] = []
    for i in np.flatnonzero(np.isin(labels, selected)) if factor > 1 else []:
        i = int(i)
        source = _source_image(images, files, i)
        root = origins[i] if origins is not None else files[i]
        for k in range(1, int(factor)):
            copy = augmenter(np.asarray(source), seed=_mix(seed, i, k))
            name = _copy_name(folder, root, class_names[labels[i]], k, used)
            if folder is None:
                new_images.append(copy)
            else:
                write_bytes_atomic(name, _encode_png(copy, Path(name)))
            picks.append(i)
            new_files.append(name)
            new_origins.append(root)

    if folder is not None:
        _write_origins(folder, new_files, new_origins, [int(labels[i]) for i in picks], class_names)
    old_origins = list(origins) if origins is not None else files
    fields: dict[str, Any] = {}
    if meta:
        fields["meta"] = {k: (*v, *[v[i] for i in picks]) for k, v in meta.items()}
    return _rebuild(
        train,
        files=(*files, *new_files),
        labels=np.concatenate([labels, np.asarray(labels[picks], dtype=np.int64)]),
        class_names=train.class_names,
        groups=None if groups is None else (*groups, *[groups[i] for i in picks]),
        origins=(*old_origins, *new_origins),
        images=_joined_images(images, len(files), new_images, len(new_files)),
        **fields,
    )


def _source_image(images: Sequence[np.ndarray | None] | None, files: Sequence[str], i: int) -> Any:
    """Image ``i`` of a dataset: its in-memory array, else read from its file."""
    image = images[i] if images is not None and images[i] is not None else None
    return load_image(files[i]) if image is None else image


def _copy_name(folder: Path | None, root: str, class_name: str, k: int, used: set[str]) -> str:
    """A new file name for copy ``k`` of ``root``, not in ``used`` (which gets it).

    In memory: the virtual name ``<root>#aug<k>``; else ``folder/<class>/<stem>_aug<k>.png``
    (the class folder is created).
    """
    if folder is None:
        name = f"{root}#aug{k}"
    else:
        sub = folder / _safe(class_name)
        sub.mkdir(parents=True, exist_ok=True)
        name = os.fspath(sub / f"{Path(root).stem}_aug{k}.png")
    base, j = name, 1
    while name in used:  # two originals with the same stem in one class
        name = base.replace(f"_aug{k}.png", f"_{j}_aug{k}.png") if folder else f"{base}.{j}"
        j += 1
    used.add(name)
    return name


def _write_origins(
    folder: Path,
    files: Sequence[str],
    origins: Sequence[str],
    labels: Sequence[int],
    class_names: Sequence[str],
) -> None:
    """``folder/origins.csv``: each written copy with the original it was made from."""
    folder.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "origin", "label", "class_name"])
    rows = zip(files, origins, labels, (class_names[k] for k in labels), strict=True)
    # a spreadsheet must not run a file or class name as a formula (see csv_cell)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    write_text_atomic(folder / "origins.csv", text.getvalue())


def _joined_images(
    images: Sequence[np.ndarray | None] | None,
    n: int,
    new_images: Sequence[np.ndarray],
    n_new: int,
) -> tuple[np.ndarray | None, ...] | None:
    """The images of the originals then of the copies; ``None`` stands for "read the file"."""
    if new_images:
        old = list(images) if images is not None else [None] * n
        return (*old, *new_images)
    if images is not None:
        return (*images, *([None] * n_new))
    return None
