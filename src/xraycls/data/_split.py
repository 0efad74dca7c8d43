"""Stratified, group-safe, deterministic train/val/test splitting.

Items that must not be separated (same patient, duplicate cluster, synthetic image and its
original) are merged into *units* with union-find. Per-class targets are computed exactly
(``round(n_c * test)`` for test, ``round((n_c - n_test) * val)`` for val, halves up). Units are
then placed one by one, largest first and in a seeded random order among equals, into the split
where they reduce the total per-class shortfall most (the L1 distance between the split's
remaining need and the unit's class counts), ties going to the split with the largest remaining
relative need. This runs twice: train-val against test, then train against val inside
train-val, so the test split does not change with ``val``. With single-image units this hits
every target exactly; with patient groups the counts are off by at most about the size of the
largest group.

sklearn's ``StratifiedGroupKFold`` was not used: it only gives 1/k fractions and does not hit
the paper's 80/20 per-class counts exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from xraycls.data._duplicates import Clusters, _UnionFind, find_duplicates
from xraycls.errors import ConfigError

if TYPE_CHECKING:
    from xraycls.data._types import ImageSet


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)


def split_targets(counts: np.ndarray, test: float, val: float) -> np.ndarray:
    """Target counts, shape ``(3, n_classes)``: rows train, val, test.

    Examples:
        >>> split_targets(np.array([219, 1341, 1345]), test=0.2, val=0.0).tolist()
        [[175, 1073, 1076], [0, 0, 0], [44, 268, 269]]
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_test = np.array([_round_half_up(c * test) for c in counts], dtype=np.int64)
    n_val = np.array(
        [_round_half_up((c - t) * val) for c, t in zip(counts, n_test, strict=True)], np.int64
    )
    return np.stack([counts - n_test - n_val, n_val, n_test])


def _check_fraction(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"split: {name} must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise ConfigError(f"split: {name} must be in [0, 1), got {value!r}")
    return v


def units_of(
    ds: ImageSet,
    *,
    by_group: bool = True,
    dedupe: bool | str = True,
    duplicates: Clusters | None = None,
) -> list[list[int]]:
    """Indices that must land in the same split, as a partition of ``range(len(ds))``."""
    n = len(ds)
    uf = _UnionFind(n)
    if by_group and ds.groups is not None:
        first: dict[str, int] = {}
        for i, g in enumerate(ds.groups):
            if g in first:
                uf.union(first[g], i)
            else:
                first[g] = i
    if ds.origins is not None:
        where = {f: i for i, f in enumerate(ds.files)}
        by_origin: dict[str, int] = {}
        for i, o in enumerate(ds.origins):
            if o in where:
                uf.union(where[o], i)
            if o in by_origin:
                uf.union(by_origin[o], i)
            else:
                by_origin[o] = i
    if duplicates is None and dedupe:
        method = "phash" if dedupe is True else str(dedupe)
        duplicates = find_duplicates(ds, method=method)
    for cluster in duplicates or []:
        for j in cluster[1:]:
            if not 0 <= j < n or not 0 <= cluster[0] < n:
                raise ConfigError(f"split: duplicate cluster index {j} out of range 0..{n - 1}")
            uf.union(cluster[0], j)
    return uf.clusters(min_size=1)


def check_split(test: float, val: float, dedupe: bool | str) -> tuple[float, float]:
    """``test`` and ``val`` as floats after checking the split's arguments.

    Raises:
        ConfigError: A fraction outside ``[0, 1)`` or an unknown ``dedupe``.
    """
    test = _check_fraction("test", test)
    val = _check_fraction("val", val)
    if dedupe not in (True, False, "phash", "sha256"):
        raise ConfigError(f"split: dedupe must be True, False, 'phash' or 'sha256', not {dedupe!r}")
    return test, val


def split_indices(
    ds: ImageSet,
    units: list[list[int]],
    test: float,
    val: float,
    *,
    seed: int = 0,
    hold_out_sources: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Sorted index arrays ``[train, val, test]`` (``[train, test]`` when ``val == 0``).

    ``units`` (from :func:`units_of`) are placed whole. With ``hold_out_sources``, every unit
    holding an image of those sources goes to test first; the other units are then split with
    ``test`` / ``val`` as without it.
    """
    n_cls = len(ds.class_names)
    labels = np.asarray(ds.labels)
    held: list[list[int]] = []
    if hold_out_sources is not None:
        held, units = held_out_units(ds, units, hold_out_sources)
    kept: np.ndarray = np.zeros(0, dtype=np.int64)
    if units:
        kept = np.concatenate([np.asarray(u, dtype=np.int64) for u in units])
    targets = split_targets(np.bincount(labels[kept], minlength=n_cls), test, val)

    # Two stages, so the test split does not depend on ``val``: runs with different validation
    # fractions are evaluated on the same test images.
    rng = np.random.default_rng(seed)
    first = _place(units, labels, targets[[0, 2]] + np.array([[1], [0]]) * targets[1], rng)
    assign = np.empty(len(ds), dtype=np.int64)
    trainval = [u for u, s in zip(units, first, strict=True) if s == 0]
    for u, s in zip(units, first, strict=True):
        assign[u] = 2 * s
    for u in held:
        assign[u] = 2
    if val > 0 and trainval:
        tv_idx = np.concatenate([np.asarray(u) for u in trainval])
        tv_counts = np.bincount(labels[tv_idx], minlength=n_cls)
        tv_targets = split_targets(tv_counts, val, 0.0)[[0, 2]]
        second = _place(trainval, labels, tv_targets, rng)
        for u, s in zip(trainval, second, strict=True):
            assign[u] = s
    parts = [np.flatnonzero(assign == s) for s in range(3)]
    return parts if val > 0 else [parts[0], parts[2]]


def held_out_units(
    ds: ImageSet, units: list[list[int]], sources: Sequence[str]
) -> tuple[list[list[int]], list[list[int]]]:
    """``(held, rest)``: the units holding an image of ``sources``, and the others.

    A unit is held out whole, so a patient or duplicate cluster that spans a held-out and a
    kept source lands in test with all its images.

    Raises:
        ConfigError: ``sources`` is empty, names a source the dataset does not have, or would
            hold out every image.
    """
    if isinstance(sources, str):
        sources = [sources]
    wanted = [str(s) for s in sources]
    known = sorted(set(ds.sources))
    if not wanted:
        raise ConfigError(f"split: hold_out_sources is empty; known sources: {known}")
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ConfigError(
            f"split: hold_out_sources names {unknown}, which the dataset does not have; "
            f"known sources: {known}"
        )
    names = ds.sources
    picked = set(wanted)
    held = [u for u in units if any(names[i] in picked for i in u)]
    rest = [u for u in units if not any(names[i] in picked for i in u)]
    if not rest:
        raise ConfigError(
            f"split: holding out {wanted} leaves no image to train on; known sources: {known}"
        )
    return held, rest


def _place(
    units: list[list[int]], labels: np.ndarray, targets: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """Split index per unit for target counts ``targets`` (splits x classes)."""
    n_cls = targets.shape[1]
    n_splits = targets.shape[0]
    order = rng.permutation(len(units))
    sizes = np.array([len(units[k]) for k in order], dtype=np.int64)
    order = order[np.argsort(-sizes, kind="stable")]
    need = targets.astype(np.float64)
    totals = np.maximum(targets, 1).astype(np.float64)
    out = [0] * len(units)
    for k in order:
        v = np.bincount(labels[units[k]], minlength=n_cls).astype(np.float64)
        delta = np.abs(need - v).sum(1) - np.abs(need).sum(1)
        rel = (np.clip(need, 0, None) * v).sum(1) / (totals * v).sum(1)
        # Least added shortfall, then most relative need, then the first split.
        s = min(range(n_splits), key=lambda i: (delta[i], -rel[i], i))
        need[s] -= v
        out[k] = s
    return out


def check_split_classes(parts: dict[str, ImageSet], flags: str = "test=/val=") -> None:
    """Refuse a split that left a class without images in a non-empty part.

    A class with too few images for the fractions (2 images at ``test=0.2, val=0.2``) gets 0
    validation and 0 test images; training would then go on and report metrics that say nothing
    about that class. Call this on the parts of :meth:`Dataset.split`.

    Args:
        parts: Split name to part, e.g. ``{"train": train, "val": val, "test": test}``.
        flags: How the user set the fractions, for the message (``--test/--val`` on the CLI).

    Raises:
        ConfigError: Naming every such class with its count in every part.

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset, check_split_classes
        >>> ds = Dataset(tuple(f"{i}.png" for i in range(22)), np.array([0] * 20 + [1] * 2),
        ...              ("Normal", "COVID"))
        >>> train, val, test = ds.split(test=0.2, val=0.2, dedupe=False)
        >>> check_split_classes({"train": train, "val": val, "test": test})
        Traceback (most recent call last):
        ...
        xraycls.errors.ConfigError: the split left class 'COVID' (2 images) with no image in ...
    """
    used = {name: part for name, part in parts.items() if len(part)}
    names = next(iter(parts.values())).class_names if parts else ()
    problems = []
    for k, cls in enumerate(names):
        per_part = {name: int(np.sum(part.labels == k)) for name, part in used.items()}
        empty = [name for name, n in per_part.items() if n == 0]
        total = sum(per_part.values())
        if total and empty:
            counts = ", ".join(f"{n} {name}" for name, n in per_part.items())
            problems.append(
                f"class {cls!r} ({total} images) with no image in {', '.join(empty)}: {counts}"
            )
    if problems:
        raise ConfigError(
            "the split left "
            + "; ".join(problems)
            + f". Add images to the class, leave the class out, or change {flags}."
        )
