"""Measure the shortcut mitigations on cxr3: the `quick` profile, each mitigation alone, together.

For every configuration this trains the profile (``xraycls.reproduce``) and records: dev test
accuracy and COVID sensitivity, mean corruption accuracy (robustness suite), the shortcut audit
(border-only / lung-only accuracy, Grad-CAM lung share, text flips, source probe AUC) and
accuracy on the external shift set overall and per class (measured only: never trained, tuned
or used to choose on). ``--loso`` adds leave-one-source-out runs: each COVID source held out in
turn, with the COVID sensitivity on the held-out source.

Each configuration writes ``OUT/<name>/row.json``; ``--table`` prints the table of every row
found, so configurations can run in separate processes and be tabulated at the end:

    python benchmarks/mitigations.py --configs quick,crop --loso quick
    python benchmarks/mitigations.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

# Each configuration: overrides of the `quick` profile (or another profile by name).
CONFIGS: dict[str, dict[str, Any]] = {
    "quick": {},
    "crop": {"input_transform": {"lung_crop": True}},
    "mask": {"input_transform": {"soft_mask": 0.25}},
    "clahe": {"input_transform": {"contrast": "clahe"}},
    "text": {"input_transform": {"remove_text": True}},
    "shifts": {"shift_augment": {"max_severity": 3}},
    "sources": {"balance_sources": True},
    "all": {
        "input_transform": {"lung_crop": True, "contrast": "clahe", "remove_text": True},
        "shift_augment": {"max_severity": 3},
        "balance_sources": True,
    },
    "robust": {"profile": "robust"},
}


# Set by --epochs: every configuration (the baseline too) trains this many epochs.
EPOCHS: int | None = None
# Set by --width: simple_cnn's first-block filters in every configuration (quick: 32).
WIDTH: int | None = None
# Severities of the robustness suite the mean corruption accuracy is taken over (--severities).
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def _value(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)  # type: ignore[assignment]
    return data


def _profile(name: str) -> Any:
    from xraycls.protocols import get_profile

    overrides = dict(CONFIGS[name])
    profile = get_profile(overrides.pop("profile", "quick"))
    if overrides:
        profile = profile.replace(name=f"{profile.name}+{name}", **overrides)
    if WIDTH is not None:
        kwargs = {**profile.model_kwargs.get("simple_cnn", {}), "width": WIDTH}
        profile = profile.replace(model_kwargs={**profile.model_kwargs, "simple_cnn": kwargs})
    if EPOCHS is not None:
        # Equal training steps: a configuration that adds shifted copies of every image trains
        # proportionally fewer epochs.
        copies = 1 + (profile.shift_copies if profile.shift_augment is not None else 0)
        profile = profile.replace(train={**profile.train, "epochs": max(1, EPOCHS // copies)})
    return profile


def _mca(robustness: dict[str, Any], severities: tuple[int, ...]) -> float | None:
    """Mean accuracy over kinds at the given severities (from a ``robustness.json``)."""
    values = []
    for part in robustness.get("corruptions", {}).values():
        for sev, acc in zip(part["severities"], part["accuracy"], strict=True):
            if sev in severities and acc is not None:
                values.append(acc)
    return sum(values) / len(values) if values else None


def _run(name: str, data: Path, shift: Path, out: Path) -> dict[str, Any]:
    import xraycls
    from xraycls.robustness import evaluate_robustness, save_robustness

    profile = _profile(name)
    started = time.perf_counter()
    result = xraycls.reproduce(
        data, profile=profile, out=out / name, verbose=0, audit=True, external=shift
    )
    (row,) = result.rows
    workdir = Path(row.workdir)
    if not (workdir / "robustness.json").is_file():
        test = xraycls.load_dataset(out / name / "test.csv", classes=list(profile.classes))
        report = evaluate_robustness(
            xraycls.Classifier.load(workdir / "best.keras"), test, severities=SEVERITIES,
            seed=profile.seed, progress=False,
        )  # fmt: skip
        save_robustness(report, workdir)
    minutes = (time.perf_counter() - started) / 60
    audit = json.loads((workdir / "audit.json").read_text())
    external = result.by_source[row.model]["external"]["overall"]
    record: dict[str, Any] = {
        "name": name,
        "profile": profile.to_dict(),
        "minutes": minutes,
        "test_accuracy": row.test_accuracy,
        "covid_sensitivity": row.covid_sensitivity,
        "robustness": str(workdir / "robustness.json"),
        "border_only": audit["border_only"]["accuracy"],
        "lung_only": audit["lung_only"]["accuracy"],
        "chance": audit["chance"],
        "cam_lung_share": audit["cam_lung_share"],
        "text_flip_share": audit["text_inpainted"]["flip_share"],
        "source_probe_auc": audit["source_probe_auc"],
        "flags": [flag["code"] for flag in audit["flags"]],
        "shift_accuracy": external["accuracy"],
        "shift_sensitivity": external["sensitivity"],
    }
    (out / name / "row.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _loso(name: str, source: str, data: Path, out: Path) -> float:
    """Train with every image of ``source`` in the test split; its COVID sensitivity."""
    import xraycls

    profile = _profile(name).replace(hold_out_sources=(source,))
    folder = out / f"{name}-loso-{source.split('/')[-1]}"
    res = xraycls.reproduce(data, profile=profile, out=folder, verbose=0)
    sens = res.by_source[res.rows[0].model]["test"]["by_source"][source]["sensitivity"]["COVID"]
    (folder / "loso.json").write_text(
        json.dumps({"config": name, "source": source, "covid_sensitivity": sens}) + "\n"
    )
    return float(sens)


def _cell(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def table(out: Path) -> str:
    """The markdown table of every ``row.json`` under ``out``."""
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*/row.json"))]
    loso: dict[str, dict[str, float]] = {}
    for path in sorted(out.glob("*/loso.json")):
        item = json.loads(path.read_text())
        loso.setdefault(item["config"], {})[item["source"]] = item["covid_sensitivity"]
    for r in rows:
        r["loso_covid_sensitivity"] = loso.get(r["name"], {})
        robust_file = Path(
            r.get("robustness") or out / r["name"] / "simple_cnn" / "robustness.json"
        )
        r["mean_corruption_accuracy"] = (
            _mca(json.loads(robust_file.read_text()), SEVERITIES) if robust_file.is_file() else None
        )
    order = list(CONFIGS)
    rows.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else 99)
    header = (
        "| config | test acc | COVID sens | LOSO COVID sens (per held-out source) | mean corr. acc "
        "| border-only | lung-only | CAM lung share | text flips | probe AUC | shift acc "
        "| shift sens COVID / Normal / Viral | flags | minutes |"
    )
    lines = [header, "|" + "---|" * 14]
    for r in rows:
        loso = r["loso_covid_sensitivity"]
        loso_text = " / ".join(_cell(v) for _, v in sorted(loso.items())) if loso else "not run"
        sens = r["shift_sensitivity"]
        shift_text = " / ".join(_cell(sens.get(c)) for c in ("COVID", "Normal", "Viral Pneumonia"))
        lines.append(
            f"| {r['name']} | {_cell(r['test_accuracy'])} | {_cell(r['covid_sensitivity'])} "
            f"| {loso_text} | {_cell(r['mean_corruption_accuracy'])} "
            f"| {_cell(r['border_only'])} (chance {_cell(r['chance'], 2)}) "
            f"| {_cell(r['lung_only'])} | {_cell(r['cam_lung_share'])} "
            f"| {_cell(r['text_flip_share'])} | {_cell(r['source_probe_auc'])} "
            f"| {_cell(r['shift_accuracy'])} | {shift_text} | {', '.join(r['flags']) or '-'} "
            f"| {r['minutes']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=here.parent / "shared/data/cxr3")
    parser.add_argument("--shift", type=Path, default=here.parent / "shared/data/cxr3-shift")
    parser.add_argument("--out", type=Path, default=Path("runs/mitigations"))
    parser.add_argument("--configs", default=",".join(c for c in CONFIGS if c != "sources"))
    parser.add_argument(
        "--loso", metavar="SOURCE", help="instead: train --configs with SOURCE held out (LOSO)"
    )
    parser.add_argument("--severities", default="1,2,3,4,5", help="robustness severities")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument("--epochs", type=int, help="train every configuration this many epochs")
    parser.add_argument("--width", type=int, help="simple_cnn width of every configuration")
    args = parser.parse_args()
    global EPOCHS, SEVERITIES, WIDTH
    EPOCHS = args.epochs
    WIDTH = args.width
    SEVERITIES = tuple(int(v) for v in args.severities.split(","))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.table:
        for name in filter(None, args.configs.split(",")):
            if name not in CONFIGS:
                parser.error(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}")
            if args.loso:
                _loso(name, args.loso, args.data, args.out)
            else:
                _run(name, args.data, args.shift, args.out)
            print(table(args.out), flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()
