"""The dataset options shared by ``reproduce``, ``train`` and ``data inspect``.

``--data`` may be given more than once; ``--layout`` and ``--label-map`` after a ``--data``
apply to that dataset (like an input's options in ffmpeg), so every dataset has its own layout
and label map::

    xraycls reproduce --profile multisource --data ../shared/data/cxr3 \\
        --data ../shared/data/cxr-adult --label-map "Pneumonia=Viral Pneumonia"
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xraycls.errors import ConfigError

_DEST = "data_specs"


def _specs(namespace: argparse.Namespace) -> list[dict[str, Any]]:
    specs = getattr(namespace, _DEST, None)
    if specs is None:
        specs = []
        setattr(namespace, _DEST, specs)
    return specs


class _DataAction(argparse.Action):
    """``--data DIR`` (or the positional DIR) starts a new dataset; ``--layout`` and
    ``--label-map`` set an option of the dataset named just before them."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        specs = _specs(namespace)
        if self.dest in ("data", "path"):
            if values is not None and values != []:  # else an absent optional positional
                specs.append({"path": str(values)})
            return
        if not specs:
            parser.error(f"{option_string} applies to the dataset before it: put --data DIR first")
        spec = specs[-1]
        if self.dest == "layout":
            if "layout" in spec:
                parser.error(f"--layout given twice for --data {spec['path']}")
            spec["layout"] = str(values)
            return
        try:
            spec["label_map"] = _add_label_map(spec.get("label_map"), str(values))
        except ConfigError as exc:
            parser.error(f"--label-map {values!r} for --data {spec['path']}: {exc}")


def _add_label_map(current: Any, text: str) -> str | dict[str, str | None]:
    """Merge one ``--label-map`` value: ``RAW=CLASS`` (``RAW=`` drops), a preset name, or a
    JSON file of ``{raw: class or null}``."""
    if "=" in text:
        raw, _, target = text.partition("=")
        if not raw.strip():
            raise ConfigError("expected RAW=CLASS, e.g. 'Pneumonia=Viral Pneumonia'")
        if isinstance(current, str):
            raise ConfigError(f"cannot add a pair to the preset {current!r}")
        return {**(current or {}), raw.strip(): target.strip() or None}
    if current is not None:
        raise ConfigError("a preset or JSON file cannot be combined with other --label-map values")
    if text.lower().endswith(".json"):
        try:
            loaded = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the label map file: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("a label map file holds one JSON object {raw: class or null}")
        return {str(k): None if v is None else str(v) for k, v in loaded.items()}
    return text


def add_data_arguments(
    parser: argparse.ArgumentParser, *, required: bool, positional: bool = False
) -> None:
    """Add ``--data`` (repeatable) with its per-dataset ``--layout`` and ``--label-map``.

    Args:
        parser: The command's parser.
        required: At least one dataset must be given (else the command decides).
        positional: Also accept the first dataset as a positional ``DIR``.
    """
    if positional:
        parser.add_argument(
            "path",
            nargs="?",
            action=_DataAction,
            metavar="DIR",
            help="dataset folder or CSV manifest",
        )
    parser.add_argument(
        "--data",
        action=_DataAction,
        required=required and not positional,
        metavar="DIR",
        help="dataset folder or CSV manifest; repeat to train on several sources (merged, "
        "each image keeps its source and patient)",
    )
    parser.add_argument(
        "--layout",
        action=_DataAction,
        metavar="NAME",
        help="layout of the --data before it (default: detect): kaggle-v1, kaggle-v2, folders, "
        "csv, nih-cxr14, rsna-pneumonia, covidx, chexpert, padchest, ieee8023, vindr-cxr, "
        "iu-xray",
    )
    parser.add_argument(
        "--label-map",
        action=_DataAction,
        metavar="RAW=CLASS|PRESET|FILE",
        help="label map of the --data before it: RAW=CLASS pairs (repeatable; RAW= drops), a "
        "preset such as 'paper', or a JSON file",
    )


def data_specs(args: argparse.Namespace) -> list[Any]:
    """The datasets given, as :class:`xraycls.data.DataSpec` objects (possibly none)."""
    from xraycls.data import DataSpec

    return [DataSpec.from_dict(d) for d in getattr(args, _DEST, None) or []]


def out_dir_outside_data(args: argparse.Namespace, data_flag: str = "--data") -> Path:
    """Create ``--out`` now (:func:`xraycls.cli._common.out_dir`), refusing a folder inside any
    of the datasets given: its files would become part of that dataset."""
    from xraycls.cli._common import out_dir

    paths = [d["path"] for d in getattr(args, _DEST, None) or []]
    for path in paths or [None]:
        folder = out_dir(args.out, data=path, data_flag=data_flag)
    return folder


def data_label(args: argparse.Namespace) -> str:
    """The datasets given, for messages: their paths joined by ' + '."""
    return " + ".join(d["path"] for d in getattr(args, _DEST, None) or []) or "(none)"


def add_group_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--sampling``, ``--monitor`` and ``--group-dro``: training that cannot lean on one
    source (``TrainConfig.sampling``, ``monitor``, ``group_dro``)."""
    grp = parser.add_argument_group("training that cannot lean on one source")
    grp.add_argument(
        "--sampling",
        choices=["shuffle", "balanced"],
        help="balanced: every class, and every source within a class, equally likely per batch",
    )
    grp.add_argument(
        "--monitor",
        metavar="METRIC",
        help="the epoch metric that picks best.keras: val_accuracy, val_loss, "
        "val_worst_group_accuracy (the worst (class, source) group of the validation split), "
        "val_worst_source_accuracy or val_balanced_accuracy (default: val_accuracy, or the "
        "profile's)",
    )
    grp.add_argument(
        "--group-dro",
        type=float,
        metavar="ETA",
        help="group DRO step size: raise the sampling share of the (class, source) groups "
        "with the highest training loss after every epoch (default: off)",
    )


def group_training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``TrainConfig`` fields the flags of :func:`add_group_training_arguments` set."""
    return {
        key: getattr(args, key)
        for key in ("sampling", "monitor", "group_dro")
        if getattr(args, key, None) is not None
    }
