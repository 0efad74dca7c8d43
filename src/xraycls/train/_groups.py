"""Training that cannot lean on one source: per-group validation metrics and group DRO.

Both work on (class, source) groups (:func:`xraycls.data.group_index`). :class:`GroupValidation`
adds ``val_worst_group_accuracy``, ``val_worst_source_accuracy`` and ``val_balanced_accuracy``
to the epoch logs, so :class:`~xraycls.train._callbacks.Checkpoint` and early stopping can
select on the worst group instead of the pooled accuracy (which a model can raise by trading
a small source for a large one). :class:`GroupDRO` moves the training batches' sampling shares
towards the groups with the highest loss.

Examples:
    >>> import numpy as np
    >>> probs = np.eye(2)[[0, 0, 1, 0, 1, 1]]
    >>> m = group_metrics(probs, [0, 0, 0, 1, 1, 1], ["a", "a", "b", "c", "c", "c"],
    ...                   ["x", "y"], min_size=1)
    >>> m["val_worst_group_accuracy"], m["worst_group"], round(m["val_balanced_accuracy"], 3)
    (0.0, 'x | b', 0.667)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from typing_extensions import override

from xraycls.data._sampling import group_index, weights_from_group_shares

__all__ = ["GroupDRO", "GroupValidation", "group_metrics"]

log = logging.getLogger("xraycls.train")

#: Groups (and sources) with fewer validation images than this do not decide the worst one:
#: one or two films would make the selection a coin toss. They are still reported.
MIN_GROUP_SIZE = 5


def group_metrics(
    probs: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    sources: Sequence[str],
    class_names: Sequence[str],
    *,
    min_size: int = MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """Worst-group, worst-source and balanced accuracy of predictions, with the parts.

    Returns:
        ``{"val_worst_group_accuracy", "val_worst_source_accuracy", "val_balanced_accuracy"``
        (floats), ``"worst_group"``, ``"worst_source"`` (names), ``"groups"``: ``{"class |
        source": {"n", "accuracy"}}``, ``"sources"``: ``{source: {"n", "accuracy"}}``}. Only
        groups (sources) of ``min_size`` images or more decide the worst one, unless none has
        that many.
    """
    labels = np.asarray(labels, dtype=np.int64)
    correct = np.asarray(probs).argmax(axis=1) == labels
    keys, index = group_index(labels, sources)
    groups = {
        f"{class_names[c]} | {s}": {
            "n": int((index == g).sum()),
            "accuracy": float(correct[index == g].mean()),
        }
        for g, (c, s) in enumerate(keys)
    }
    src = np.asarray([str(s) for s in sources])
    per_source = {
        s: {"n": int((src == s).sum()), "accuracy": float(correct[src == s].mean())}
        for s in sorted(set(src.tolist()))
    }
    recalls = [float(correct[labels == c].mean()) for c in sorted(set(labels.tolist()))]

    def worst(parts: dict[str, dict[str, Any]]) -> tuple[str, float]:
        big = {k: v for k, v in parts.items() if v["n"] >= min_size} or parts
        name = min(big, key=lambda k: (big[k]["accuracy"], k))
        return name, big[name]["accuracy"]

    worst_group, group_acc = worst(groups)
    worst_source, source_acc = worst(per_source)
    return {
        "val_worst_group_accuracy": group_acc,
        "val_worst_source_accuracy": source_acc,
        "val_balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "worst_group": worst_group,
        "worst_source": worst_source,
        "groups": groups,
        "sources": per_source,
    }


class GroupValidation(keras.callbacks.Callback):
    """Adds the per-group validation metrics to every epoch's logs (before checkpointing).

    Args:
        predict: Returns the model's class probabilities for the validation images, in order.
        labels: Their class indices.
        sources: Their sources.
        class_names: Class names (for the group names).
        record: Receives ``(epoch, group_metrics(...))`` after every epoch (the trainer writes
            ``val_groups.json``).
        loss: The compiled loss. Given, ``val_loss`` and ``val_accuracy`` are computed from the
            same predictions, so the trainer can drop Keras's own validation pass (which would
            predict every validation image a second time each epoch).
    """

    def __init__(
        self,
        predict: Callable[[], np.ndarray],
        labels: np.ndarray,
        sources: Sequence[str],
        class_names: Sequence[str],
        record: Callable[[int, dict[str, Any]], None],
        loss: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self._predict = predict
        self._labels, self._sources = np.asarray(labels), list(sources)
        self._names = list(class_names)
        self._record = record
        self._loss = loss

    @property
    def replaces_validation(self) -> bool:
        """Whether this callback writes ``val_loss`` and ``val_accuracy`` itself."""
        return self._loss is not None

    @override
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        probs = np.asarray(self._predict())
        found = group_metrics(probs, self._labels, self._sources, self._names)
        if self._loss is not None:
            onehot = np.eye(probs.shape[-1], dtype=np.float32)[self._labels]
            value = self._loss(onehot, probs.astype(np.float32))
            logs["val_loss"] = float(keras.ops.convert_to_numpy(value))
            logs["val_accuracy"] = float(np.mean(probs.argmax(axis=-1) == self._labels))
        for key, value in found.items():
            if key.startswith("val_"):
                logs[key] = value  # the same dict reaches Checkpoint and early stopping next
        self._record(epoch, found)


class GroupDRO(keras.callbacks.Callback):
    """Group DRO by resampling: raise the sampling share of the groups with the highest loss.

    Sagawa et al. (2020) reweight each step's loss by group; here the groups' losses are
    measured once per epoch on a fixed, seeded probe of up to ``probe_size`` unaugmented
    training images per group, and the shares become the next epoch's sampling weights
    (``ImageBatches.set_sample_weights``). This needs no backend-specific training step, and
    an epoch's batches stay a pure function of the run's state (exact resume).

    Args:
        batches: The training ``ImageBatches``.
        labels: Training class indices.
        sources: Training sources.
        step_size: ``eta`` of the exponentiated-gradient update.
        shares: Starting shares per group (in :func:`group_index` order).
        state: The trainer's resume state; ``"group_shares"`` is kept up to date in it.
        probe: Returns class probabilities for the training images at the given indices.
        seed: Seed of the probe's choice of images.
        probe_size: Images per group in the probe.
    """

    def __init__(
        self,
        batches: Any,
        labels: np.ndarray,
        sources: Sequence[str],
        *,
        step_size: float,
        shares: np.ndarray,
        state: dict[str, Any],
        probe: Callable[[np.ndarray], np.ndarray],
        seed: int,
        probe_size: int = 64,
    ) -> None:
        super().__init__()
        self._batches = batches
        self._labels = np.asarray(labels, dtype=np.int64)
        self.keys, self._index = group_index(self._labels, sources)
        self._eta = float(step_size)
        self._state = state
        self._probe = probe
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
        picks = []
        for g in range(len(self.keys)):
            members = np.flatnonzero(self._index == g)
            picks.append(np.sort(rng.permutation(members)[:probe_size]))
        self._picks = picks
        self.shares = np.asarray(shares, dtype=np.float64)
        self._apply()

    def _apply(self) -> None:
        self._state["group_shares"] = self.shares.tolist()
        self._batches.set_sample_weights(weights_from_group_shares(self.shares, self._index))

    @override
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        rows = np.concatenate(self._picks)
        probs = np.clip(np.asarray(self._probe(rows), dtype=np.float64), 1e-7, 1.0)
        losses = -np.log(probs[np.arange(len(rows)), self._labels[rows]])
        per_group = np.array(
            [losses[np.isin(rows, p)].mean() if len(p) else 0.0 for p in self._picks]
        )
        shares = self.shares * np.exp(self._eta * per_group)
        self.shares = shares / shares.sum()
        self._apply()
        if logs is not None:
            logs["group_dro_max_share"] = float(self.shares.max())
        named = zip(self.keys, self.shares, strict=True)
        log.info("group DRO: shares %s", {f"{c}|{s}": round(float(q), 3) for (c, s), q in named})
