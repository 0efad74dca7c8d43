"""`Dataset`: files, labels, class names, patient groups and origins of synthetic images."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xraycls._atomic import write_text_atomic
from xraycls._outputs import csv_cell
from xraycls._serial import Serial
from xraycls.data._columns import SOURCE, UNKNOWN
from xraycls.data._report import LoadReport
from xraycls.errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf

    from xraycls.data._describe import DatasetDescription
    from xraycls.data._duplicates import Clusters


def _as_tuple(values: Sequence[Any] | None, n: int, name: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    out = tuple(str(v) for v in values)
    if len(out) != n:
        raise ConfigError(f"Dataset: {name} has {len(out)} entries but there are {n} files")
    return out


_RESERVED = frozenset({"file", "label", "group", "origin"})


def _as_meta(meta: Mapping[str, Sequence[Any]] | None, n: int) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, values in (meta or {}).items():
        column = str(name).strip()
        if not column:
            raise ConfigError("Dataset: a meta column needs a non-empty name")
        if column.lower() in _RESERVED:
            raise ConfigError(
                f"Dataset: {column!r} cannot be a meta column (it is a Dataset field or a "
                f"manifest column); reserved: {sorted(_RESERVED)}"
            )
        out[column] = _as_tuple(values, n, f"meta column {column!r}") or ()
    return out


@dataclass(frozen=True, eq=False)
class Dataset(Serial):
    """A labelled set of chest X-ray images, by file (and optionally in memory).

    Instances are immutable: :meth:`subset`, :meth:`concat` and :meth:`split` return new ones.

    Attributes:
        files: Image paths (absolute when loaded by :func:`load_dataset`). With ``images`` set
            they are only identifiers (synthetic images may have made-up names).
        labels: ``int64`` class index per file, read-only.
        class_names: Class name per index.
        groups: Patient id per file, or ``None`` when unknown. A patient never spans two
            splits.
        origins: For synthetic images, the original file each was made from (an original's
            entry is its own file); ``None`` when there are no synthetic images. A synthetic
            image always lands in the same split as its original.
        root: The folder the data was loaded from (informational).
        images: Optional in-memory ``uint8`` images aligned with ``files`` (``None`` entries are
            read from their file). Offline balancing keeps synthetic images here; the input
            pipeline uses them instead of reading files.
        report: The :class:`LoadReport` of :func:`load_dataset` (only on the loaded dataset,
            not on subsets).
        meta: Per-image columns (``{"source": (...), "view": (...)}``), one string per file,
            read from a CSV manifest or a ``MANIFEST.csv`` beside or above the data, or set
            with :meth:`with_meta` / :meth:`with_sources`. Carried through every operation.
            :attr:`sources` is the ``"source"`` column.

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset
        >>> ds = Dataset(files=("a.png", "b.png", "c.png"), labels=np.array([0, 1, 1]),
        ...              class_names=("COVID", "Normal"))
        >>> len(ds), ds.counts()
        (3, {'COVID': 1, 'Normal': 2})
        >>> ds.subset([2]).files
        ('c.png',)
    """

    files: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    groups: tuple[str, ...] | None = None
    origins: tuple[str, ...] | None = None
    root: str | None = None
    # Not serialised: pixels belong in image files, the load report in its own JSON.
    images: list[np.ndarray | None] | None = field(
        default=None, repr=False, metadata={"serial": False}
    )
    report: LoadReport | None = field(default=None, repr=False, metadata={"serial": False})
    meta: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        files = tuple(os.fspath(f) for f in self.files)
        n = len(files)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1).copy()
        if labels.shape[0] != n:
            raise ConfigError(f"Dataset: {labels.shape[0]} labels for {n} files")
        names = tuple(str(c) for c in self.class_names)
        if len(set(names)) != len(names):
            raise ConfigError(f"Dataset: duplicate class names in {names}")
        if n and (labels.min() < 0 or labels.max() >= len(names)):
            raise ConfigError(
                f"Dataset: labels must be in 0..{len(names) - 1} for {len(names)} classes, "
                f"got {int(labels.min())}..{int(labels.max())}"
            )
        labels.setflags(write=False)
        images = self.images
        if images is not None:
            images = list(images)
            if len(images) != n:
                raise ConfigError(f"Dataset: {len(images)} images for {n} files")
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "groups", _as_tuple(self.groups, n, "groups"))
        object.__setattr__(self, "origins", _as_tuple(self.origins, n, "origins"))
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "meta", _as_meta(self.meta, n))
        if self.root is not None:
            object.__setattr__(self, "root", os.fspath(self.root))

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        extra = []
        if self.groups is not None:
            extra.append(f"groups={len(set(self.groups))}")
        if self.origins is not None:
            extra.append("origins=yes")
        if self.images is not None:
            extra.append("images=in memory")
        if self.meta:
            extra.append(f"meta={sorted(self.meta)}")
        tail = "".join(f", {e}" for e in extra)
        return f"Dataset(n={len(self)}, counts={self.counts()}{tail}, root={self.root!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return (
            self.files == other.files
            and np.array_equal(self.labels, other.labels)
            and self.class_names == other.class_names
            and self.groups == other.groups
            and self.origins == other.origins
            and dict(self.meta) == dict(other.meta)
        )

    __hash__ = None  # type: ignore[assignment]

    def counts(self) -> dict[str, int]:
        """Images per class, in class order (classes without images count 0)."""
        bins = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(bins[i]) for i, name in enumerate(self.class_names)}

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset with the given items, in the given order.

        Args:
            indices: Integer positions, or a boolean mask of length ``len(self)``.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(("a", "b", "c"), np.array([0, 1, 0]), ("x", "y"))
            >>> ds.subset(ds.labels == 0).files
            ('a', 'c')
        """
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            if idx.shape != (len(self),):
                raise ConfigError(f"subset: mask has shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ConfigError(f"subset: index out of range for a dataset of {len(self)}")
        pick = idx.tolist()
        return Dataset(
            files=tuple(self.files[i] for i in pick),
            labels=self.labels[idx],
            class_names=self.class_names,
            groups=None if self.groups is None else tuple(self.groups[i] for i in pick),
            origins=None if self.origins is None else tuple(self.origins[i] for i in pick),
            root=self.root,
            images=None if self.images is None else [self.images[i] for i in pick],
            meta={k: tuple(v[i] for i in pick) for k, v in self.meta.items()},
        )

    # ------------------------------------------------------------------ per-image columns

    @property
    def sources(self) -> tuple[str, ...]:
        """Where each image comes from (collection, hospital, repository), one per file.

        The ``"source"`` column of :attr:`meta`; ``"unknown"`` for every image when nothing
        says. Read from a CSV ``source`` column (or ``source_column=`` of
        :func:`load_dataset`), from the ``source_repo`` column of a ``MANIFEST.csv`` beside or
        above the data, or set with :meth:`with_sources`.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(("a", "b"), np.array([0, 1]), ("x", "y"))
            >>> ds.sources
            ('unknown', 'unknown')
            >>> ds.with_sources(["site-1", "site-2"]).subset([1]).sources
            ('site-2',)
        """
        return self.column(SOURCE)

    def column(self, name: str) -> tuple[str, ...]:
        """One per-image column of :attr:`meta` (``"unknown"`` everywhere when absent).

        Args:
            name: Column name, e.g. ``"source"``, ``"view"`` or ``"sex"``.
        """
        values = self.meta.get(name)
        return tuple(values) if values is not None else (UNKNOWN,) * len(self)

    def with_meta(self, name: str, values: Sequence[Any] | str) -> Dataset:
        """A copy with the per-image column ``name`` set (one value per file, or one for all).

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(("a", "b"), np.array([0, 1]), ("x", "y")).with_meta("view", "PA")
            >>> ds.meta
            {'view': ('PA', 'PA')}
        """
        column = [values] * len(self) if isinstance(values, str) else list(values)
        meta = {**self.meta, str(name): tuple(str(v) for v in column)}
        return dataclasses.replace(self, meta=meta)

    def with_sources(self, values: Sequence[Any] | str) -> Dataset:
        """A copy with :attr:`sources` set by hand (one value per file, or one for all)."""
        return self.with_meta(SOURCE, values)

    def describe(self, by: str = SOURCE) -> DatasetDescription:
        """Class x ``by`` table with confounding warnings: a :class:`DatasetDescription`.

        Says when a class comes from a single source, a source gives a single class, and how
        accurate a classifier that only knew the source would be.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(tuple("abcd"), np.array([0, 0, 1, 1]), ("COVID", "Normal"))
            >>> d = ds.with_sources(["s1", "s1", "s2", "s2"]).describe()
            >>> d.source_only_accuracy
            1.0
        """
        from xraycls.data._describe import describe

        return describe(self, by=by)

    def limit_per_class(self, n: int, *, seed: int = 0) -> Dataset:
        """At most ``n`` items of each class, drawn at random (seeded), in dataset order.

        Useful for quick experiments and smoke tests on a large dataset.

        Args:
            n: Maximum items per class (>= 1).
            seed: Seed of the draw; the same seed gives the same items.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(("a", "b", "c", "d"), np.array([0, 0, 0, 1]), ("x", "y"))
            >>> ds.limit_per_class(2).counts()
            {'x': 2, 'y': 1}
        """
        if n < 1:
            raise ConfigError(f"limit_per_class: n must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        keep: list[int] = []
        for label in range(len(self.class_names)):
            members = np.flatnonzero(self.labels == label)
            if members.size > n:
                members = rng.choice(members, size=n, replace=False)
            keep.extend(members.tolist())
        return self.subset(np.sort(np.asarray(keep, dtype=np.int64)))

    def concat(self, other: Dataset) -> Dataset:
        """Both datasets, ``self`` first. Also available as ``a + b``.

        Class names must be equal. Missing groups/origins on one side are filled with each
        file's own path; missing in-memory images with ``None`` (read from the file).

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> a = Dataset(("a",), np.array([0]), ("x", "y"))
            >>> b = Dataset(("b",), np.array([1]), ("x", "y"), groups=("p1",))
            >>> (a + b).groups
            ('a', 'p1')
        """
        if not isinstance(other, Dataset):
            raise ConfigError(f"concat: expected a Dataset, got {type(other).__name__}")
        if other.class_names != self.class_names:
            raise ConfigError(
                f"concat: class names differ: {self.class_names} vs {other.class_names}; "
                "load both with the same classes= to align them"
            )

        def side(values: tuple[str, ...] | None, ds: Dataset) -> tuple[str, ...]:
            return values if values is not None else ds.files

        groups = None
        if self.groups is not None or other.groups is not None:
            groups = side(self.groups, self) + side(other.groups, other)
        origins = None
        if self.origins is not None or other.origins is not None:
            origins = side(self.origins, self) + side(other.origins, other)
        images = None
        if self.images is not None or other.images is not None:
            images = self._image_list() + other._image_list()
        meta = {
            k: self.column(k) + other.column(k) for k in dict.fromkeys([*self.meta, *other.meta])
        }
        return Dataset(
            files=self.files + other.files,
            labels=np.concatenate([self.labels, other.labels]),
            class_names=self.class_names,
            groups=groups,
            origins=origins,
            root=self.root if self.root == other.root else None,
            images=images,
            meta=meta,
        )

    def __add__(self, other: Dataset) -> Dataset:
        return self.concat(other)

    def _image_list(self) -> list[np.ndarray | None]:
        return list(self.images) if self.images is not None else [None] * len(self)

    # ------------------------------------------------------------------ splitting

    def split(
        self,
        test: float = 0.2,
        val: float = 0.2,
        *,
        seed: int = 0,
        by_group: bool = True,
        dedupe: bool | str = True,
        duplicates: Clusters | None = None,
        hold_out_sources: Sequence[str] | None = None,
    ) -> tuple[Dataset, ...]:
        """Stratified, group-safe, deterministic split into train/val/test.

        ``test`` is a fraction of the whole dataset; ``val`` is a fraction of what remains
        (the train-val part), like Keras' ``validation_split`` and the paper's protocol. So the
        defaults give 64 % / 16 % / 20 %. Per class, the test count is ``round(n * test)`` and
        the val count ``round((n - n_test) * val)`` (halves round up): with the paper's
        219/1341/1345 images the train-val/test sizes are 175/44, 1073/268, 1076/269.

        Items that must stay together form one unit: the same patient (``groups``), a duplicate
        cluster (``dedupe``), a synthetic image and its original (``origins``). Units are placed
        greedily, largest first, in a seeded random order, each into the split that needs its
        classes most. Without groups the per-class counts are exact; with groups they are as
        close as the unit sizes allow.

        Args:
            test: Fraction of the whole for the test split, in ``[0, 1)``.
            val: Fraction of the train-val part for validation, in ``[0, 1)``; 0 for a two-way
                split.
            seed: Seed; the same seed gives the same split.
            by_group: Keep each patient in one split when ``groups`` is known.
            dedupe: ``True``/``"phash"`` keeps near-duplicate images together (perceptual
                hash, decodes every image once), ``"sha256"`` only byte-identical files,
                ``False`` neither.
            duplicates: Precomputed clusters from :func:`find_duplicates` (skips hashing).
            hold_out_sources: Leave-one-source-out: every image of these :attr:`sources` goes
                to the test part (with the rest of its patient / duplicate unit, so a unit
                never straddles parts); ``test`` and ``val`` then split the remaining images
                as usual (``test=0`` for a test part of the held-out sources only).

        Returns:
            ``(train, val, test)``, or ``(train, test)`` when ``val == 0``. Each keeps the
            dataset's order.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(tuple(f"{i}.png" for i in range(100)),
            ...              np.repeat([0, 1], 50), ("COVID", "Normal"))
            >>> train, val, test = ds.split(test=0.2, val=0.25, seed=1, dedupe=False)
            >>> len(train), len(val), len(test), test.counts()
            (60, 20, 20, {'COVID': 10, 'Normal': 10})
        """
        from xraycls.data._split import check_split, split_indices, units_of

        test, val = check_split(test, val, dedupe)
        units = units_of(self, by_group=by_group, dedupe=dedupe, duplicates=duplicates)
        parts = split_indices(self, units, test, val, seed=seed, hold_out_sources=hold_out_sources)
        return tuple(self.subset(p) for p in parts)

    # ------------------------------------------------------------------ pipeline

    def to_tf_dataset(
        self,
        batch_size: int,
        image_size: int | tuple[int, int],
        augmenter: Any = None,
        preprocess: Any = None,
        shuffle: bool = False,
        seed: int = 0,
        **kwargs: Any,
    ) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of ``(float32 images in [0, 255] NHWC, one-hot labels)``.

        Delegates to :func:`xraycls.pipeline.make_tf_dataset` (the batches of
        :func:`xraycls.pipeline.make_py_dataset` through ``tf.data``; every iteration is the
        next epoch); extra keyword arguments (``resize``, ``drop_remainder``, ``cache``...) are
        passed through. In-memory ``images`` are used when present.

        Examples:
            >>> import xraycls
            >>> ds = xraycls.load_dataset("../shared/data/cxr3")  # doctest: +SKIP
            >>> batches = ds.to_tf_dataset(16, 128, shuffle=True)  # doctest: +SKIP
            >>> images, onehot = next(iter(batches))  # doctest: +SKIP
        """
        return self.batches(
            batch_size,
            image_size,
            augmenter,
            shuffle,
            seed,
            pipeline="tf.data",
            preprocess=preprocess,
            **kwargs,
        )

    def batches(
        self,
        batch_size: int,
        image_size: int | tuple[int, int],
        augmenter: Any = None,
        shuffle: bool = False,
        seed: int = 0,
        *,
        pipeline: str = "auto",
        **kwargs: Any,
    ) -> Any:
        """``(float32 images in [0, 255] NHWC, one-hot labels)`` batches for any Keras backend.

        ``pipeline="auto"`` gives :meth:`to_tf_dataset`'s ``tf.data.Dataset`` under TensorFlow
        and a ``keras.utils.PyDataset`` (:func:`xraycls.pipeline.make_py_dataset`) under JAX or
        PyTorch; both yield the same batches. Extra keyword arguments go to the chosen
        pipeline. In-memory ``images`` are used when present.

        Examples:
            >>> import xraycls
            >>> ds = xraycls.load_dataset("../shared/data/cxr3")  # doctest: +SKIP
            >>> batches = ds.batches(16, 128, shuffle=True, pipeline="pydataset")  # doctest: +SKIP
            >>> images, onehot = batches[0]  # doctest: +SKIP
        """
        from xraycls.pipeline._input import make_batches

        return make_batches(
            list(self.files),
            self.labels,
            len(self.class_names),
            pipeline=pipeline,
            batch_size=batch_size,
            image_size=image_size,
            augmenter=augmenter,
            shuffle=shuffle,
            seed=seed,
            images=self.images,
            **kwargs,
        )

    # ------------------------------------------------------------------ persistence

    def _to_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """``to_dict`` (``Serial``): labels as plain ints; images and the report are left out.

        Examples:
            >>> import numpy as np
            >>> from xraycls.data import Dataset
            >>> ds = Dataset(("a.png",), np.array([1]), ("COVID", "Normal"))
            >>> Dataset.from_dict(ds.to_dict()) == ds
            True
        """
        return {**data, "labels": [int(v) for v in self.labels]}

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write a manifest ``file,label[,group][,origin][,<meta columns>]`` atomically.

        Paths under the CSV's folder are written relative to it, others absolute, so the file
        reads back with ``load_dataset(path)``. Labels are class names.
        In-memory images are not saved (a warning says so).

        Examples:
            >>> import numpy as np, tempfile, os
            >>> from xraycls.data import Dataset
            >>> folder = tempfile.mkdtemp()
            >>> ds = Dataset((os.path.join(folder, "a.png"),), np.array([0]), ("COVID",))
            >>> ds.to_csv(os.path.join(folder, "split.csv"))
            >>> open(os.path.join(folder, "split.csv")).read().splitlines()
            ['file,label', 'a.png,COVID']
        """
        target = os.path.abspath(os.fspath(path))
        base = os.path.dirname(target)
        if self.images is not None:
            warnings.warn(
                f"Dataset.to_csv({target}): the {len(self)} in-memory images are not saved; "
                "only their file names and labels are",
                UserWarning,
                stacklevel=2,
            )

        def rel(p: str) -> str:
            ap = os.path.abspath(p)
            try:
                if os.path.commonpath([ap, base]) == base:
                    return os.path.relpath(ap, base).replace(os.sep, "/")
            except ValueError:  # another drive on Windows
                pass
            return ap

        header = ["file", "label"]
        if self.groups is not None:
            header.append("group")
        if self.origins is not None:
            header.append("origin")
        header += list(self.meta)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        # csv_cell: a name or value starting like a formula (=, +, -, @) is not run by a
        # spreadsheet; the manifest reader undoes it.
        writer.writerow([csv_cell(h) for h in header])
        for i, f in enumerate(self.files):
            row = [rel(f), self.class_names[int(self.labels[i])]]
            if self.groups is not None:
                row.append(self.groups[i])
            if self.origins is not None:
                row.append(rel(self.origins[i]))
            row += [values[i] for values in self.meta.values()]
            writer.writerow([csv_cell(v) for v in row])
        write_text_atomic(target, buf.getvalue())
