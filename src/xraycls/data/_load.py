"""`load_dataset`: detect the layout, normalise classes, verify files, attach patient groups."""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from xraycls.data._classes import canonical_class, default_order
from xraycls.data._dataset import Dataset
from xraycls.data._groups import assign_groups
from xraycls.data._labelmap import LabelMap, as_label_map
from xraycls.data._layouts import list_files
from xraycls.data._listing import Listing
from xraycls.data._meta import assign_meta
from xraycls.data._report import LoadReport
from xraycls.errors import ConfigError, DatasetLayoutError, ImageReadError
from xraycls.io import check_image, load_image

ClassSpec = Sequence[str] | Mapping[str, str | None] | None
LabelMapSpec = str | Mapping[str, str | None] | LabelMap | None

_MAX_LISTED = 200


def _verify_mode(verify: bool | str) -> str:
    if verify is True or verify == "quick":
        return "quick"
    if verify == "full":
        return "full"
    if verify is False or verify == "none":
        return "none"
    raise ConfigError(f"verify must be True, False, 'quick', 'full' or 'none', got {verify!r}")


def _verify(files: Sequence[str], mode: str, workers: int | None) -> list[tuple[str, str]]:
    """``(path, reason)`` for every bad file, in input order."""
    if mode == "none" or not files:
        return []

    def one(path: str) -> str | None:
        try:
            if mode == "full":
                load_image(path)
            else:
                check_image(path)
        except ImageReadError as exc:
            return exc.reason
        return None

    n_workers = workers or min(8, (os.cpu_count() or 1) * 2)
    # File reads and OpenCV decoding release the GIL, so threads overlap I/O and decoding.
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        reasons = list(pool.map(one, files, chunksize=16))
    return [(f, r) for f, r in zip(files, reasons, strict=True) if r is not None]


def _map_classes(
    labels: Sequence[str], present: set[str], classes: ClassSpec
) -> tuple[list[str | None], tuple[str, ...], dict[str, int]]:
    """Target class per label (``None`` = dropped), the class order, and dropped counts."""
    if classes is None:
        return list(labels), default_order(present), {}
    if isinstance(classes, Mapping):
        return _rename_classes(labels, present, classes)
    if isinstance(classes, str):
        raise ConfigError(f"classes= must be a list or a dict, not the string {classes!r}")
    return _pick_classes(labels, present, classes)


def _rename_classes(
    labels: Sequence[str], present: set[str], classes: Mapping[str, str | None]
) -> tuple[list[str | None], tuple[str, ...], dict[str, int]]:
    """``classes=`` as a dict: source -> target name (``None`` drops; others kept)."""
    counts = Counter(labels)
    mapping = {canonical_class(str(k)): v for k, v in classes.items()}
    unknown = sorted(set(mapping) - present)
    if unknown:
        raise ConfigError(
            f"classes= maps {unknown} which the dataset does not have; found: {sorted(present)}"
        )
    target = [mapping.get(lb, lb) for lb in labels]
    names = default_order({t for t in (mapping.get(p, p) for p in present) if t is not None})
    dropped = {k: counts[k] for k, v in mapping.items() if v is None}
    return target, names, dropped


def _pick_classes(
    labels: Sequence[str], present: set[str], classes: Sequence[str]
) -> tuple[list[str | None], tuple[str, ...], dict[str, int]]:
    """``classes=`` as a list: these classes in this order; the others dropped."""
    counts = Counter(labels)
    want = [canonical_class(str(c)) for c in classes]
    if len(set(want)) != len(want):
        raise ConfigError(f"classes= lists a class twice: {list(classes)}")
    missing = [c for c in want if c not in present]
    if missing:
        raise DatasetLayoutError(
            f"classes= asks for {missing}, which the dataset does not have; "
            f"found: {sorted(present)}"
        )
    keep = set(want)
    target = [lb if lb in keep else None for lb in labels]
    dropped = {c: counts[c] for c in default_order(present - keep) if counts[c]}
    return target, tuple(want), dropped


def _apply_label_map(listing: Listing, lmap: LabelMap) -> tuple[dict[str, str], dict[str, int]]:
    """Resolve every listed file through ``lmap`` in place; the raw labels and drop counts."""
    raw_of: dict[str, str] = {}
    dropped: Counter[str] = Counter()
    files: list[str] = []
    labels: list[str] = []
    for f, raw in zip(listing.files, listing.labels, strict=True):
        cls, reason = lmap.resolve(listing.findings.get(f, (raw,)), listing.uncertain.get(f, ()))
        if cls is None:
            dropped[reason] += 1
            continue
        files.append(f)
        labels.append(cls)
        raw_of.setdefault(f, raw)
    listing.files, listing.labels = files, labels
    empty: dict[str, str] = {}
    for label, folder in listing.empty_classes.items():
        cls, _reason = lmap.resolve((label,))
        if cls is not None:
            empty[cls] = folder
    listing.empty_classes = empty
    return raw_of, dict(dropped)


def load_dataset(
    path: str | os.PathLike[str],
    *,
    classes: ClassSpec = None,
    on_error: str = "raise",
    layout: str = "auto",
    verify: bool | str = True,
    workers: int | None = None,
    source_column: str | None = None,
    label_map: LabelMapSpec = None,
) -> Dataset:
    """Load a labelled chest X-ray dataset from a folder tree or a CSV manifest.

    Recognised without being told (``layout="auto"``): the Kaggle COVID-19 Radiography
    Database v1 (``COVID/`` or ``COVID-19/``, ``NORMAL/``, ``Viral Pneumonia/``, also when
    ``path`` is the folder around ``COVID-19 Radiography Database/``), its later release
    (``<class>/images/``; ``masks/`` and ``*.metadata.xlsx`` are ignored), any folder-per-class
    tree, and a CSV manifest ``file,label[,group][,origin]`` with paths relative to the CSV.

    Class names are normalised (``COVID-19`` -> ``COVID``, ``NORMAL`` -> ``Normal``,
    ``Viral_Pneumonia`` -> ``Viral Pneumonia``, ``Lung Opacity`` -> ``Lung_Opacity``; others are
    kept) and ordered COVID, Normal, Viral Pneumonia, then the rest sorted.

    Patient groups come from a CSV ``group`` (else ``patient_id``) column, else from a
    ``MANIFEST.csv`` with such a column at the root or up to two folders above it,
    else from Kermany file names (``person12_virus_34`` -> ``person12``,
    ``IM-0243-0001`` -> ``IM-0243``). Files no source covers form a group of their own. With
    no source at all, ``groups`` is ``None``.

    Every other column of a CSV manifest, or of a ``MANIFEST.csv`` at the root or up to two
    folders above it, becomes per-image :attr:`~Dataset.meta` (``view``, ``sex``...). The
    ``source`` (or ``source_repo``) column becomes :attr:`~Dataset.sources`; images nothing
    describes are ``"unknown"``.

    Args:
        path: Dataset folder or CSV manifest.
        classes: ``None`` for every class found; a list to select and order classes (others
            are dropped, and listed in the report); a dict mapping source to target names
            (several sources may share a target; ``None`` drops; unmentioned classes are kept).
        on_error: ``"raise"``: any bad file or empty class folder raises one
            :class:`~xraycls.errors.DatasetLayoutError` listing every problem. ``"skip"``:
            the good files are loaded, and one warning plus ``ds.report`` list what was left
            out. A class left without images (empty folder, or every file bad) is then left
            out of ``class_names``, unless it was listed in ``classes=``.
        layout: ``"auto"``, ``"kaggle-v1"``, ``"kaggle-v2"``, ``"folders"``, ``"csv"``, or a
            public dataset's own format: ``"nih-cxr14"``, ``"rsna-pneumonia"``, ``"covidx"``,
            ``"chexpert"``, ``"padchest"``, ``"ieee8023"``, ``"vindr-cxr"``, ``"iu-xray"``
            (``"auto"`` finds these by their label files; see :mod:`xraycls.data.adapters`).
        verify: ``True``/``"quick"`` checks every file's structure without decoding (PNG chunk
            CRCs and ``IEND``, JPEG end marker; about 20 ms for 1000 images); ``"full"``
            decodes every image in a thread pool; ``False`` checks nothing.
        workers: Threads for verification (default: up to 8).
        source_column: The column that names each image's source (default: ``source``, else
            ``source_repo``).
        label_map: The dataset's own labels/findings -> task classes, applied before
            ``classes=``: a preset name (``"paper"``, see :data:`PRESETS`), a dict
            (``{"Pneumonia": "Viral Pneumonia"}``; ``None`` drops; labels it does not name are
            kept), or a :class:`LabelMap` (multi-label rule, uncertain policy). Rows it drops
            are counted by reason in ``ds.report.dropped_classes``; the original label stays
            in the meta column ``finding``.

    Returns:
        A :class:`Dataset` with absolute file paths and ``ds.report`` (a :class:`LoadReport`).

    Raises:
        DatasetLayoutError: The path is missing or not a recognised layout, has no images,
            ``classes=`` names a class that is not there, or (``on_error="raise"``) bad files
            or empty class folders were found. The error's ``report`` attribute holds the
            :class:`LoadReport`.
        ConfigError: An invalid argument value, or a ``source_column`` that no CSV has.

    Examples:
        >>> import xraycls
        >>> ds = xraycls.load_dataset("../shared/data/cxr3")  # doctest: +SKIP
        >>> ds.counts()  # doctest: +SKIP
        {'COVID': 244, 'Normal': 403, 'Viral Pneumonia': 394}
        >>> sorted(set(ds.sources))  # doctest: +SKIP
        ['armiro/COVID-CXNet', 'lecuong1502/BTL_Machine_Learning', 's-mostafa-a/covid-...']
    """
    t0 = time.perf_counter()
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    mode = _verify_mode(verify)
    given = Path(os.path.abspath(os.fspath(path)))
    listing = list_files(given, layout)
    lmap = as_label_map(label_map, listing.layout)
    raw_of, map_dropped = _apply_label_map(listing, lmap)
    target, class_names, dropped, empty = _select_classes(listing, classes)

    problems: list[tuple[str, str]] = list(listing.problems)
    files, names = _unique_files(listing.files, target, problems)
    bad = _verify(files, mode, workers)
    problems.extend(bad)
    report = LoadReport(
        path=str(given),
        root=str(listing.root),
        layout=listing.layout,
        skipped=problems,
        empty_classes=sorted(empty.items()),
        dropped_classes={**listing.dropped, **map_dropped, **dropped},
        ignored=sorted(listing.ignored),
        verify=mode,
    )
    if on_error == "raise" and (problems or empty):
        raise _bad_files_error(given, problems, empty, report)

    files, names = _drop_bad(files, names, bad)
    if on_error == "skip" and (classes is None or isinstance(classes, Mapping)):
        class_names = _classes_left(class_names, names)
    if not files:
        raise _no_images_error(given, listing, problems, report)
    groups, groups_source = assign_groups(files, listing.groups, listing.root)
    meta, meta_source = assign_meta(files, listing.meta, listing.root, source_column)
    if label_map is not None and "finding" not in meta:
        meta["finding"] = tuple(raw_of[f] for f in files)
    index = {c: i for i, c in enumerate(class_names)}
    ds = Dataset(
        files=tuple(files),
        labels=np.array([index[n] for n in names], dtype=np.int64),
        class_names=class_names,
        groups=groups,
        origins=tuple(listing.origins.get(f, f) for f in files) if listing.origins else None,
        root=str(listing.root),
        report=report,
        meta=meta,
    )
    report.counts = ds.counts()
    report.groups_source = groups_source
    report.meta_source = meta_source
    report.seconds = time.perf_counter() - t0
    if on_error == "skip" and (problems or empty):
        _warn_left_out(given, problems, empty)
    return ds


def _classes_left(class_names: Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    # A class with no image left is not a class of the dataset unless the caller listed it.
    present = set(names)
    return tuple(c for c in class_names if c in present)


def _drop_bad(
    files: Sequence[str], names: Sequence[str], bad: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    bad_set = {p for p, _ in bad}
    keep = [i for i, f in enumerate(files) if f not in bad_set]
    return [files[i] for i in keep], [names[i] for i in keep]


def _warn_left_out(
    given: Path, problems: Sequence[tuple[str, str]], empty: Mapping[str, str]
) -> None:
    warnings.warn(
        f"load_dataset({str(given)!r}) left out {len(problems)} bad file(s) and "
        f"{len(empty)} empty class folder(s); see ds.report for the list. First: "
        + (f"{problems[0][0]}: {problems[0][1]}" if problems else next(iter(empty.values()))),
        UserWarning,
        stacklevel=3,
    )


def _select_classes(
    listing: Listing, classes: ClassSpec
) -> tuple[list[str | None], tuple[str, ...], dict[str, int], dict[str, str]]:
    """Target class per listed file, the class order, dropped counts and the empty classes
    that ``classes=`` keeps (class -> folder)."""
    labels = [canonical_class(lb) for lb in listing.labels]
    empty = {canonical_class(k): v for k, v in listing.empty_classes.items()}
    present = set(labels) | set(empty)
    target, class_names, dropped = _map_classes(labels, present, classes)
    if classes is not None and not isinstance(classes, Mapping):
        empty = {k: v for k, v in empty.items() if k in class_names}
    elif isinstance(classes, Mapping):
        canon = {canonical_class(str(k)): v for k, v in classes.items()}
        empty = {k: v for k, v in empty.items() if canon.get(k, k) is not None}
    return target, class_names, dropped, empty


def _unique_files(
    listed: Sequence[str], target: Sequence[str | None], problems: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """The kept files and their classes; a file listed twice goes to ``problems``."""
    seen: set[str] = set()
    files: list[str] = []
    names: list[str] = []
    for f, t in zip(listed, target, strict=True):
        if t is None:
            continue
        if f in seen:
            problems.append((f, "listed more than once in the manifest"))
            continue
        seen.add(f)
        files.append(f)
        names.append(t)
    return files, names


def _bad_files_error(
    given: Path,
    problems: Sequence[tuple[str, str]],
    empty: Mapping[str, str],
    report: LoadReport,
) -> DatasetLayoutError:
    lines = [f"  {p}: {r}" for p, r in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        lines.append(f"  ... and {len(problems) - _MAX_LISTED} more (see err.report)")
    lines += [f"  {folder}: class folder {c!r} has no images" for c, folder in empty.items()]
    err = DatasetLayoutError(
        f"{given}: {len(problems)} bad file(s) and {len(empty)} empty class folder(s):\n"
        + "\n".join(lines)
        + "\nFix or remove them,",
        hint="or pass on_error='skip' to load the rest.",
        hint_cli="or add --on-error skip to load the rest (the skipped files are listed in "
        "skipped.csv of the output folder).",
    )
    err.report = report  # type: ignore[attr-defined]
    return err


def _no_images_error(
    given: Path, listing: Listing, problems: Sequence[tuple[str, str]], report: LoadReport
) -> DatasetLayoutError:
    lines = [f"  {p}: {r}" for p, r in problems[:_MAX_LISTED]]
    err = DatasetLayoutError(
        f"{given}: no usable images found (layout {listing.layout}); "
        f"{len(problems)} bad file(s), {len(listing.ignored)} non-image file(s) ignored"
        + "".join("\n" + ln for ln in lines)
    )
    err.report = report  # type: ignore[attr-defined]
    return err
