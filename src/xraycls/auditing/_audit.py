"""`audit`: does a chest X-ray classifier look at the lungs, or at the source?

One pass over the data decodes each file once, finds its lung field and its burned-in text,
and runs the model on four versions of it (as is, lungs blacked out, everything but the lungs
blacked out, text inpainted), plus Grad-CAM and the penultimate features for the source probe.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xraycls.auditing._flags import Thresholds, find_flags
from xraycls.auditing._masks import (
    black_out_lungs,
    keep_lungs,
    lung_share,
    margin_pixels,
    swap_lungs,
)
from xraycls.auditing._page import save_audit
from xraycls.auditing._probe import source_probe
from xraycls.auditing._report import AuditReport
from xraycls.classifier import Classifier, ModelLike, as_classifier, dataset_items
from xraycls.errors import ConfigError, DependencyError
from xraycls.imaging import as_image

__all__ = ["audit"]

LungMasks = Callable[[list[np.ndarray]], Any]
TextRemover = Callable[[np.ndarray], np.ndarray]

# The four versions of every image the model is run on, in report order.
VARIANTS = ("full", "border_only", "lung_only", "text_inpainted")


def _default(module: str, name: str, argument: str, kind: str) -> Any:
    """``module.name``, imported here (and by name) so that the audit works, with injected
    functions, in an install that lacks it, and so ``import xraycls.auditing`` stays light."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise DependencyError(
            f"the default {module}.{name} is not available ({exc}); pass {argument}= "
            f"a function {kind}"
        ) from None


def _default_lung_masks() -> LungMasks:
    found: LungMasks = _default("xraycls.lungs", "segment", "lung_masks", "images -> boolean masks")
    return found


def _default_text_remover() -> TextRemover:
    found: TextRemover = _default(
        "xraycls.transforms", "remove_text", "text_remover", "image -> image"
    )
    return found


def _rgb(image: np.ndarray, where: str) -> np.ndarray:
    return as_image(np.asarray(image), where, rgb=True)


def _masks_for(segment: LungMasks, images: list[np.ndarray], files: Sequence[str]) -> list[Any]:
    found = segment(images)
    masks = list(found) if not isinstance(found, np.ndarray) or found.ndim == 3 else [found]
    if len(masks) != len(images):
        raise ConfigError(
            f"lung_masks returned {len(masks)} masks for {len(images)} images; it must return "
            "one (H, W) mask per image"
        )
    out = []
    for mask, image, file in zip(masks, images, files, strict=True):
        arr = np.asarray(mask)
        if arr.shape != image.shape[:2]:
            raise ConfigError(
                f"lung_masks returned a {arr.shape} mask for {file}, an image of "
                f"{image.shape[:2]}; it must return masks of the image's size"
            )
        out.append(arr.astype(bool))
    return out


def _metrics(y: np.ndarray, prob: np.ndarray, names: Sequence[str], level: float) -> dict[str, Any]:
    from xraycls.evaluation import compute_metrics

    rep = compute_metrics(y, prob, names, n_bootstrap=0, ci_level=level)
    sens = {c: rep.per_class[c].sensitivity.value for c in names}
    present = [v for c, v in sens.items() if v is not None and rep.per_class[c].support > 0]
    return {
        "accuracy": rep.accuracy.value,
        "accuracy_ci": [rep.accuracy.low, rep.accuracy.high],
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "sensitivity": sens,
        "confusion_matrix": rep.confusion_matrix,
        "n": rep.n,
    }


def _feature_model(model: Any) -> Any:
    """The model cut before its last (``predictions``) layer: the penultimate features."""
    import keras

    try:
        last = model.get_layer("predictions")
    except ValueError:
        last = model.layers[-1]
    return keras.Model(model.inputs, last.input)


def _swap_pairs(labels: np.ndarray, seed: int, limit: int) -> list[tuple[int, int]]:
    """Seeded ``(image, donor)`` pairs, the donor always from another class.

    Every image is a recipient once (a seeded sample of ``limit`` when there are more); its
    donor is drawn uniformly from the images of the other classes.
    """
    rng = np.random.default_rng([seed, 17])
    if len(np.unique(labels)) < 2 or limit <= 0:
        return []
    order = np.arange(len(labels))
    if len(order) > limit:
        order = np.sort(rng.choice(order, size=limit, replace=False))
    pairs = []
    for a in order.tolist():
        others = np.flatnonzero(labels != labels[a])
        pairs.append((a, int(others[rng.integers(len(others))])))
    return pairs


def _lung_swap(
    clf: Classifier,
    pairs: list[tuple[int, int]],
    kept: dict[int, tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    feather: int,
    batch_size: int,
    n_examples: int = 4,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Predict on every lung-swapped pair; shares following the border, the lungs, neither."""
    border = lungs = 0
    examples: list[dict[str, Any]] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = np.stack(
            [swap_lungs(kept[a][0], kept[a][1], kept[b][0], kept[b][1], feather) for a, b in chunk]
        )
        (part,) = clf.predict_batches(batches=[(batch, chunk)], calibrated=False)
        predicted = part.labels
        for j, ((a, b), p) in enumerate(zip(chunk, predicted, strict=True)):
            border += int(p == labels[a])
            lungs += int(p == labels[b])
            if len(examples) < n_examples:
                examples.append(
                    {
                        "recipient": kept[a][0],
                        "donor": kept[b][0],
                        "swapped": batch[j],
                        "mask": kept[a][1] | kept[b][1],
                        "border_class": int(labels[a]),
                        "lung_class": int(labels[b]),
                        "predicted": int(p),
                    }
                )
    n = len(pairs)
    return (
        {
            "follows_border": border / n,
            "follows_lungs": lungs / n,
            "other": (n - border - lungs) / n,
            "pairs": n,
        },
        examples,
    )


def _pick_examples(labels: np.ndarray, per_class: int) -> set[int]:
    chosen: set[int] = set()
    for k in np.unique(labels):
        chosen.update(np.flatnonzero(labels == k)[:per_class].tolist())
    return chosen


def audit(
    model: ModelLike,
    dataset: Any,
    *,
    lung_masks: LungMasks | None = None,
    text_remover: TextRemover | None = None,
    sources: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    margin: float = 0.05,
    cam_method: str = "gradcam",
    batch_size: int = 32,
    seed: int = 0,
    examples_per_class: int = 2,
    swap_pairs: int = 500,
    feather: float = 0.02,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> AuditReport:
    """Test whether a classifier decides from the lungs or from what surrounds them.

    Each image is decoded once, passed through the model's stored input transform (lung crop,
    contrast, text removal; `xraycls.transforms.InputTransform`) and fitted to the model's input
    the way evaluation does (letterbox); the lung field is found on that transformed image. The
    model then sees it as is (``full``), with the lung field blacked out (``border_only``), with
    everything outside the lung field plus ``margin`` blacked out (``lung_only``), and with
    burned-in text and markers inpainted (``text_inpainted``; the share of flipped predictions
    is reported). Blacking out is itself a shift the model never saw, so a counterfactual that
    stays in the image distribution follows: the lung field of an image of another class is
    aligned to each image's lung box and pasted in over a feathered edge (``lung_swap``), and
    the report counts how often the prediction keeps the class of the border
    (``follows_border``) or takes the class of the lungs (``follows_lungs``). Grad-CAM of the
    predicted class gives the share of attention inside the lungs (``cam_lung_share``). Where a
    class has images from two or more sources, a cross-validated linear probe on the
    penultimate features measures how well they encode the source (``source_probe_auc``).
    Findings beyond the documented thresholds (``docs/audit.md``) become plain-language `Flag`
    entries.

    Args:
        model: A Keras model taking raw ``[0, 255]`` RGB batches, a
            `xraycls.Classifier`, or the path of a ``.keras`` file written by xraycls
            (`xraycls.as_classifier`).
        dataset: An `xraycls.Dataset` (files, or in-memory ``images``) with the model's classes.
        lung_masks: ``images -> masks``: called with a list of uint8 ``(H, W, 3)`` images,
            returns one boolean ``(H, W)`` lung-field mask per image. Default:
            ``xraycls.lungs.segment``.
        text_remover: ``image -> image`` that finds and inpaints burned-in text and markers.
            Default: ``xraycls.transforms.remove_text``.
        sources: Source (hospital, collection) per image; default ``dataset.sources`` when the
            dataset has them. Without two sources in some class the probe is skipped.
        thresholds: When findings become flags; default `Thresholds()`.
        margin: Border kept around the lung field in ``lung_only``, as a fraction of the longer
            input side.
        cam_method: Any `xraycls.cam` method.
        batch_size: Images decoded, segmented and predicted together.
        seed: Seed of the probe's fold assignment.
        examples_per_class: Images per class kept for the figures.
        swap_pairs: Most (image, donor) pairs in the lung swap; every image is a recipient once
            when there are fewer images (0 skips the swap). Donors are drawn, seeded by
            ``seed``, from the other classes.
        feather: Width of the lung swap's blended edge, as a fraction of the longer input side.
        out: When given, `save_audit` writes ``audit.json``, ``audit.html`` and the
            figures there.
        progress: Show a progress bar (default off, as everywhere in the library; the CLI
            shows one unless ``--quiet``).

    Returns:
        The `AuditReport`.

    Raises:
        ConfigError: Bad arguments, class names that differ from the model's, or masks of the
            wrong size.
        DependencyError: A default (segmenter, text remover) is not installed.
        ImageReadError: A file cannot be read.

    Examples:
        >>> import xraycls
        >>> test = xraycls.load_dataset("../shared/data/cxr3").split(seed=0)[2]  # doctest: +SKIP
        >>> rep = xraycls.audit("runs/quick/simple_cnn/best.keras", test)  # doctest: +SKIP
        >>> [flag.code for flag in rep.flags]  # doctest: +SKIP
        ['border_only_above_chance', 'cam_outside_lungs', 'features_encode_source']
    """
    _check_options(batch_size, margin, feather, swap_pairs)
    thresholds = thresholds or Thresholds()
    clf, names, srcs = _resolve(model, dataset, sources)
    segment = lung_masks or _default_lung_masks()
    remove = text_remover or _default_text_remover()
    run = _Pass(clf, dataset, margin, examples_per_class, seed, swap_pairs)
    items = dataset_items(dataset)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(run.n, unit_name="image")
    for start in range(0, run.n, batch_size):
        idx = list(range(start, min(run.n, start + batch_size)))
        run.add(
            idx, _variants(clf, items, dataset.files, idx, segment, remove, run.pixels), cam_method
        )
        if bar is not None:
            bar.add(len(idx))
    data, metrics, notes, swap, swap_examples = run.results(
        thresholds.ci_level, feather, swap_pairs, batch_size, srcs
    )
    populations: dict[str, str] = {}
    if srcs is not None and sources is None:
        populations = dict(dataset.describe().notes)  # e.g. Kermany file names: paediatric
    flags = find_flags(
        data,
        thresholds,
        labels=run.labels,
        sources=None if srcs is None else list(srcs),
        populations=populations,
    )
    h, w = clf.image_size
    report = AuditReport(
        class_names=names,
        n=run.n,
        chance=data["chance"],
        full=metrics["full"],
        border_only=metrics["border_only"],
        lung_only=metrics["lung_only"],
        cam_lung_share=data["cam_lung_share"],
        text_inpainted=metrics["text_inpainted"],
        source_probe_auc=data["source_probe_auc"],
        source_probe=data["source_probe"],
        lung_area_share=float(np.concatenate(run.areas).mean()),
        lung_swap=swap,
        flags=flags,
        notes=notes,
        settings={
            "image_size": [h, w],
            "resize": "pad",
            "input_transform": clf.input_transform.to_dict(),
            "margin": margin,
            "margin_pixels": run.pixels,
            "lung_swap": f"up to {swap_pairs} pairs, donor from another class (seeded), "
            f"lung box aligned, union of both lung fields pasted with a "
            f"{margin_pixels(feather, (h, w))}-pixel feathered edge",
            "cam_method": cam_method,
            "seed": seed,
            "thresholds": thresholds.to_dict(),
            "lung_masks": getattr(segment, "__qualname__", type(segment).__name__),
            "text_remover": getattr(remove, "__qualname__", type(remove).__name__),
            "probe": "StandardScaler + LogisticRegression(C=1), stratified 5-fold (grouped by "
            "patient when known), sources with >= 5 images per class",
        },
        examples=run.examples,
        swap_examples=[
            {
                **ex,
                "border_class": names[ex["border_class"]],
                "lung_class": names[ex["lung_class"]],
                "predicted": names[ex["predicted"]],
            }
            for ex in swap_examples
        ],
    )
    if out is not None:
        save_audit(report, out)
    return report


def _check_options(batch_size: int, margin: float, feather: float, swap_pairs: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    if not 0 <= margin < 0.5:
        raise ConfigError(f"margin={margin} must be a fraction of the image side in [0, 0.5)")
    if not 0 <= feather < 0.5:
        raise ConfigError(f"feather={feather} must be a fraction of the image side in [0, 0.5)")
    if swap_pairs < 0:
        raise ConfigError(f"swap_pairs must be >= 0; got {swap_pairs}")


def _resolve(
    model: ModelLike, dataset: Any, sources: Sequence[str] | None
) -> tuple[Classifier, list[str], Sequence[str] | None]:
    """The handle (its classes checked against the data's), the class names and the sources."""
    from xraycls.data import Dataset

    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"dataset must be an xraycls.Dataset; got {type(dataset).__name__} "
            "(load one with xraycls.load_dataset)"
        )
    n = len(dataset.files)
    if n == 0:
        raise ConfigError("the dataset to audit is empty")
    names = list(dataset.class_names)
    clf = as_classifier(model, class_names=names)
    srcs = sources if sources is not None else getattr(dataset, "sources", None)
    if srcs is not None and len(srcs) != n:
        raise ConfigError(f"sources has {len(srcs)} entries for {n} images; give one per image")
    return clf, names, srcs


@dataclass
class _Batch:
    """One batch of the audit: the four versions of each image, and what made them."""

    files: list[str]
    images: dict[str, np.ndarray]  # variant -> uint8 (n, H, W, 3) at the input size
    lungs: np.ndarray  # bool (n, H, W) lung field at the input size
    changed: int  # images the text remover changed


def _variants(
    clf: Classifier,
    items: Sequence[Any],
    names: Sequence[Any],
    idx: list[int],
    segment: LungMasks,
    remove: TextRemover,
    pixels: int,
) -> _Batch:
    """Decode, transform, segment, inpaint and fit one batch (what the model sees)."""
    from xraycls.imaging import fit_image
    from xraycls.io import load_image

    h, w = clf.image_size
    files = [str(names[i]) for i in idx]
    # What the model sees before resizing: the file through its stored input transform
    # (lung crop, contrast, text removal), so the audit tests the model as it is used.
    decoded = [
        item if isinstance(item, np.ndarray) else load_image(item)
        for item in (items[i] for i in idx)
    ]
    transformed = clf.input_transform.apply_many(decoded)
    originals = [_rgb(img, file) for img, file in zip(transformed, files, strict=True)]
    masks = _masks_for(segment, originals, files)
    cleaned = [
        _rgb(remove(img), f"text_remover({f})") for img, f in zip(originals, files, strict=True)
    ]
    changed = sum(
        int(c.shape != o.shape or bool(np.any(c != o)))
        for c, o in zip(cleaned, originals, strict=True)
    )
    full = np.stack([fit_image(img, h, w, "pad")[0] for img in originals])
    white = [np.repeat(m[:, :, None] * np.uint8(255), 3, 2) for m in masks]
    lungs = np.stack([fit_image(m, h, w, "pad")[0] for m in white])[..., 0] >= 128
    images = {
        "full": full,
        "border_only": black_out_lungs(full, lungs),
        "lung_only": keep_lungs(full, lungs, pixels),
        "text_inpainted": np.stack([fit_image(img, h, w, "pad")[0] for img in cleaned]),
    }
    return _Batch(files, images, lungs, changed)


class _Pass:
    """The audit's one pass over the data: predictions, features, CAM shares and examples."""

    def __init__(
        self,
        clf: Classifier,
        dataset: Any,
        margin: float,
        examples_per_class: int,
        seed: int,
        swap_pairs: int,
    ) -> None:
        self.clf = clf
        self.dataset = dataset
        self.names = clf.class_names
        self.n = len(dataset.files)
        self.pixels = margin_pixels(margin, clf.image_size)
        self.features_of = _feature_model(clf.model)
        self.labels = np.asarray(dataset.labels, dtype=np.int64)
        self.keep = _pick_examples(self.labels, examples_per_class)
        self.pairs = _swap_pairs(self.labels, seed, swap_pairs)
        self.in_pairs = {i for pair in self.pairs for i in pair}
        self.seed = seed
        self.kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # fitted image and lungs
        self.probs: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
        self.features: list[np.ndarray] = []
        self.shares: list[np.ndarray] = []
        self.areas: list[np.ndarray] = []
        self.changed = 0
        self.examples: list[dict[str, Any]] = []

    def add(self, idx: list[int], batch: _Batch, cam_method: str) -> None:
        """Predict the four versions of one batch (raw probabilities: the audit measures the
        model's decisions, which a calibration does not change) and keep what the report needs."""
        full = batch.images["full"].astype(np.float32)
        (first,) = self.clf.predict_batches(
            batches=[(full, idx)], calibrated=False, explain=True, cam_method=cam_method
        )
        assert first.cam is not None
        self.probs["full"].append(first.probabilities)
        feats = np.asarray(self.features_of.predict_on_batch(full), np.float64)
        self.features.append(feats.reshape(len(idx), -1))
        others = [(batch.images[v].astype(np.float32), [v] * len(idx)) for v in VARIANTS[1:]]
        for part in self.clf.predict_batches(batches=others, calibrated=False):
            self.probs[str(part.items[0])].append(part.probabilities)
        self.shares.append(lung_share(first.cam, batch.lungs))
        self.areas.append(batch.lungs.mean(axis=(1, 2)))
        self.changed += batch.changed
        for j, i in enumerate(idx):
            if i in self.in_pairs:
                self.kept[i] = (batch.images["full"][j].copy(), batch.lungs[j].copy())
            if i in self.keep:
                self.examples.append(self._example(batch, j, i, first.cam[j]))

    def _example(self, batch: _Batch, j: int, i: int, heat: np.ndarray) -> dict[str, Any]:
        h, w = self.clf.image_size
        lungs = batch.lungs
        return {
            "file": batch.files[j],
            "true": self.names[self.labels[i]],
            "images": {v: batch.images[v][j] for v in VARIANTS},
            "predicted": {v: self.names[int(np.argmax(self.probs[v][-1][j]))] for v in VARIANTS},
            "mask": lungs[j],
            "margin_mask": keep_lungs(
                np.full((1, h, w, 3), 255, np.uint8), lungs[j : j + 1], self.pixels
            )[0, ..., 0]
            > 0,
            "cam": heat,
            "cam_lung_share": float(self.shares[-1][j]),
        }

    def results(
        self,
        level: float,
        feather: float,
        swap_pairs: int,
        batch_size: int,
        srcs: Sequence[str] | None,
    ) -> tuple[
        dict[str, Any], dict[str, Any], list[str], dict[str, Any] | None, list[dict[str, Any]]
    ]:
        """``(data for the flags, metrics per variant, notes, lung swap, swap examples)``."""
        n, names, labels = self.n, self.names, self.labels
        stacked = {v: np.concatenate(p) for v, p in self.probs.items()}
        metrics = {v: _metrics(labels, stacked[v], names, level) for v in VARIANTS}
        flipped = int(np.sum(stacked["text_inpainted"].argmax(1) != stacked["full"].argmax(1)))
        metrics["text_inpainted"].update(
            flip_share=flipped / n, flipped=flipped, changed_images=self.changed
        )
        share_all = np.concatenate(self.shares)
        valid = np.isfinite(share_all)
        notes: list[str] = []
        swap: dict[str, Any] | None = None
        swap_examples: list[dict[str, Any]] = []
        if self.pairs:
            feather_px = margin_pixels(feather, self.clf.image_size)
            swap, swap_examples = _lung_swap(
                self.clf, self.pairs, self.kept, labels, feather_px, batch_size
            )
        elif swap_pairs > 0:
            notes.append("the data has a single class: the lung swap was not run")
        if not valid.all():
            notes.append(
                f"{int((~valid).sum())} of {n} images had an all-zero Grad-CAM map and are left "
                "out of cam_lung_share"
            )
        probe = self._probe(srcs, notes)
        counts = np.bincount(labels, minlength=len(names))
        data: dict[str, Any] = {
            "class_names": names,
            "chance": float(counts.max() / n),
            **metrics,
            "cam_lung_share": float(share_all[valid].mean()) if valid.any() else None,
            "source_probe_auc": max((p["auc"] for p in probe.values()), default=None),
            "source_probe": probe,
            "lung_swap": swap,
        }
        return data, metrics, notes, swap, swap_examples

    def _probe(self, srcs: Sequence[str] | None, notes: list[str]) -> dict[str, dict[str, Any]]:
        if srcs is None:
            notes.append("no sources given: the source probe was not run")
            return {}
        probe = source_probe(
            np.concatenate(self.features),
            self.labels,
            [str(s) for s in srcs],
            self.names,
            groups=getattr(self.dataset, "groups", None),
            seed=self.seed,
        )
        if not probe:
            notes.append(
                "no class has images from two or more sources (at least 5 images each): the "
                "source probe was not run"
            )
        return probe
