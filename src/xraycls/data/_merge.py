"""`merge`: several datasets as one, keeping each image's source, dataset and patient."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from xraycls.data._classes import canonical_class, default_order
from xraycls.data._columns import SOURCE, UNKNOWN
from xraycls.data._dataset import Dataset
from xraycls.data._report import LoadReport
from xraycls.errors import ConfigError

__all__ = ["DATASET", "dataset_name", "merge", "with_classes"]

#: The meta column :func:`merge` adds: which input each image came from.
DATASET = "dataset"

# A patient id that already names its namespace (``nih:00001234``, ``kermany:person12``,
# ``ieee8023:17``): the same value in two datasets is the same patient.
_NAMESPACED = re.compile(r"^[A-Za-z][\w.+-]*:[^/\\]")


def dataset_name(ds: Dataset, index: int = 0) -> str:
    """The default name of ``ds`` in a merge: the folder it was loaded from.

    The path given to ``load_dataset`` (``ds.report.path``) wins over the root found inside
    it (``cxr3`` rather than ``COVID-19 Radiography Database``); ``dataset<k>`` when neither
    is known.
    """
    for path in (ds.report.path if ds.report is not None else None, ds.root):
        if path:
            name = os.path.basename(os.path.normpath(path))
            if name:
                return os.path.splitext(name)[0] if name.lower().endswith(".csv") else name
    return f"dataset{index + 1}"


def _group(name: str, group: str, file: str) -> str:
    if group == file or _NAMESPACED.match(group):
        return group  # a file's own group is unique; a namespaced id is shared on purpose
    return f"{name}:{group}"


def merge(datasets: Sequence[Dataset], *, names: Sequence[str] | None = None) -> Dataset:
    """Join datasets into one, keeping each image's source, dataset and patient.

    * Classes: the union, ordered COVID, Normal, Viral Pneumonia, then the rest sorted; labels
      are re-indexed.
    * Patient groups are prefixed with the dataset's name (``cxr-adult:17``), so patient ``17``
      of one dataset is not patient ``17`` of another. Ids that already carry a namespace
      (``nih:00001234``, ``kermany:person12``) are kept: the same id in two datasets is the
      same patient and stays in one split. A dataset without groups gives each file its own.
    * :attr:`~Dataset.sources`: an image without a source gets its dataset's name.
    * Meta column ``dataset``: the name of the input each image came from. Other columns are
      joined (``"unknown"`` where an input lacks one).
    * The merged ``report`` sums counts and lists each input's dropped rows as
      ``"<name>: <reason>"``.

    Args:
        datasets: The datasets, in order.
        names: One name per dataset (default: the folder each was loaded from; repeated
            default names get ``-2``, ``-3``...).

    Returns:
        A new :class:`Dataset`.

    Raises:
        ConfigError: No datasets, a wrong number of names, a name given twice, or the same
            file in two inputs (named in the message).

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset, merge
        >>> a = Dataset(("a/1.png", "a/2.png"), np.array([0, 1]), ("COVID", "Normal"),
        ...             groups=("1", "2"))
        >>> b = Dataset(("b/1.png",), np.array([0]), ("Viral Pneumonia",), groups=("1",))
        >>> m = merge([a, b], names=["A", "B"])
        >>> m.class_names, m.labels.tolist()
        (('COVID', 'Normal', 'Viral Pneumonia'), [0, 1, 2])
        >>> m.groups, m.sources, m.meta["dataset"]
        (('A:1', 'A:2', 'B:1'), ('A', 'A', 'B'), ('A', 'A', 'B'))
    """
    items = _check_inputs(datasets)
    chosen = _merge_names(items, names)
    _check_disjoint(items, chosen)
    classes = default_order({c for ds in items for c in ds.class_names})
    index = {c: i for i, c in enumerate(classes)}
    files: list[str] = []
    labels: list[int] = []
    groups: list[str] = []
    origins: list[str] = []
    images: list[np.ndarray | None] = []
    for name, ds in zip(chosen, items, strict=True):
        files.extend(ds.files)
        labels.extend(index[ds.class_names[k]] for k in ds.labels.tolist())
        own = ds.groups if ds.groups is not None else ds.files
        groups.extend(_group(name, g, f) for g, f in zip(own, ds.files, strict=True))
        origins.extend(ds.origins if ds.origins is not None else ds.files)
        images.extend(ds._image_list())
    report = _merge_report(items, chosen)
    merged = Dataset(
        files=tuple(files),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=classes,
        groups=tuple(groups),
        origins=tuple(origins) if any(ds.origins is not None for ds in items) else None,
        root=report.root or None,
        images=images if any(ds.images is not None for ds in items) else None,
        report=report,
        meta=_merge_meta(items, chosen),
    )
    report.counts = merged.counts()
    report.groups_source = "; ".join(
        f"{name}: {ds.report.groups_source}"
        for name, ds in zip(chosen, items, strict=True)
        if ds.report is not None and ds.report.groups_source
    )
    return merged


def _check_inputs(datasets: Sequence[Dataset]) -> list[Dataset]:
    items = list(datasets)
    if not items:
        raise ConfigError("merge: no datasets given")
    for ds in items:
        if not isinstance(ds, Dataset):
            raise ConfigError(f"merge: expected Dataset objects, got {type(ds).__name__}")
    return items


def _merge_names(items: Sequence[Dataset], names: Sequence[str] | None) -> list[str]:
    """The given names, checked, or each input's folder name made unique with ``-2``..."""
    if names is None:
        chosen: list[str] = []
        for i, ds in enumerate(items):
            base = dataset_name(ds, i)
            name, k = base, 1
            while name in chosen:
                k += 1
                name = f"{base}-{k}"
            chosen.append(name)
        return chosen
    chosen = [str(n) for n in names]
    if len(chosen) != len(items):
        raise ConfigError(f"merge: {len(chosen)} names for {len(items)} datasets")
    twice = sorted({n for n in chosen if chosen.count(n) > 1})
    if twice or not all(n.strip() for n in chosen):
        raise ConfigError(f"merge: dataset names must be non-empty and distinct: {chosen}")
    return chosen


def _check_disjoint(items: Sequence[Dataset], chosen: Sequence[str]) -> None:
    owner: dict[str, str] = {}
    for name, ds in zip(chosen, items, strict=True):
        for f in ds.files:
            if f in owner:
                raise ConfigError(
                    f"merge: {f} is in both {owner[f]!r} and {name!r}; a file may be in one "
                    "input only (load the datasets with disjoint folders, or drop it from one)"
                )
            owner[f] = name


def _merge_meta(items: Sequence[Dataset], chosen: Sequence[str]) -> dict[str, list[str]]:
    """Every input's meta columns joined, a ``source`` column and the ``dataset`` column."""
    columns = list(dict.fromkeys(c for ds in items for c in ds.meta if c != DATASET))
    if SOURCE not in columns:
        columns.append(SOURCE)
    meta: dict[str, list[str]] = {c: [] for c in [*columns, DATASET]}
    for name, ds in zip(chosen, items, strict=True):
        for column in columns:
            values = ds.column(column)
            if column == SOURCE:
                values = tuple(name if v == UNKNOWN else v for v in values)
            meta[column].extend(values)
        meta[DATASET].extend([name] * len(ds))
    return meta


def _merge_report(items: Sequence[Dataset], chosen: Sequence[str]) -> LoadReport:
    """The inputs' reports summed; dropped rows as ``"<name>: <reason>"``. No counts yet."""
    roots = {ds.root or "" for ds in items}
    report = LoadReport(
        path=" + ".join(chosen),
        root=roots.pop() if len(roots) == 1 else "",
        layout="merged",
        verify="+".join(sorted({ds.report.verify for ds in items if ds.report})) or "none",
        seconds=sum(ds.report.seconds for ds in items if ds.report),
    )
    for name, ds in zip(chosen, items, strict=True):
        if ds.report is None:
            continue
        report.skipped += ds.report.skipped
        report.empty_classes += ds.report.empty_classes
        report.ignored += ds.report.ignored
        for reason, n in ds.report.dropped_classes.items():
            report.dropped_classes[f"{name}: {reason}"] = n
    return report


def with_classes(ds: Dataset, classes: Sequence[str]) -> Dataset:
    """``ds`` with exactly ``classes`` (in this order); images of other classes dropped.

    The dropped images are counted in a copy of ``ds.report.dropped_classes`` (by class), so
    nothing leaves silently. A listed class the dataset lacks is kept with 0 images.

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset
        >>> ds = Dataset(("a", "b", "c"), np.array([0, 1, 2]), ("COVID", "Lung_Opacity", "Normal"))
        >>> out = with_classes(ds, ["Normal", "COVID", "Viral Pneumonia"])
        >>> out.class_names, out.labels.tolist()
        (('Normal', 'COVID', 'Viral Pneumonia'), [1, 0])
        >>> out.report.dropped_classes
        {'Lung_Opacity': 1}
    """
    if isinstance(classes, str):
        raise ConfigError(f"classes= must be a list of class names, not the string {classes!r}")
    want = tuple(canonical_class(str(c)) for c in classes)
    if len(set(want)) != len(want) or not want:
        raise ConfigError(f"classes= must list distinct class names: {list(classes)}")
    index = {c: i for i, c in enumerate(want)}
    names = [ds.class_names[k] for k in ds.labels.tolist()]
    keep = [i for i, n in enumerate(names) if n in index]
    sub = ds.subset(keep)
    if ds.report is not None:
        report = LoadReport.from_dict(ds.report.to_dict())
    else:
        report = LoadReport(path=ds.root or "", root=ds.root or "", layout="dataset")
    for n in names:
        if n not in index:
            report.dropped_classes[n] = report.dropped_classes.get(n, 0) + 1
    out = Dataset(
        files=sub.files,
        labels=np.asarray([index[names[i]] for i in keep], dtype=np.int64),
        class_names=want,
        groups=sub.groups,
        origins=sub.origins,
        root=sub.root,
        images=sub.images,
        report=report,
        meta=sub.meta,
    )
    report.counts = out.counts()
    return out
