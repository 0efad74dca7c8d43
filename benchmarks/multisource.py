"""Multi-source training side by side: cxr3 + cxr-adult, per source, LOSO, and the shift set.

Each configuration trains ``xraycls.reproduce`` on ``cxr3`` and ``cxr-adult`` (its
``Pneumonia`` mapped onto the third class) and is evaluated on the test split per dataset and
per source, and on ``cxr3-shift`` (measured only: never trained, tuned or chosen on). The
choice between configurations is made on the **validation** worst-group accuracy and on
leave-one-source-out runs (``--loso``: each COVID source held out in turn, COVID sensitivity on
the held-out films), never on ``cxr3-shift``.

Every run writes its usual reproduce folder under ``OUT/<config>`` (``OUT/<config>-loso-<k>``);
``--table`` reads them all back and prints one table, so runs can be made in separate
processes, one at a time on a small machine:

    python benchmarks/multisource.py --configs multisource --out runs/bench-ms
    python benchmarks/multisource.py --loso multisource --out runs/bench-ms
    python benchmarks/multisource.py --table --out runs/bench-ms
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ADULT_MAP = {"Pneumonia": "Viral Pneumonia"}
COVID_SOURCES = ("armiro/COVID-CXNet", "s-mostafa-a/covid-chestxray-dataset")

# Per-batch class x source sampling instead of offline source balancing: the first candidate
# of the multisource profile; the 96 px, lung-crop and DRO variants were measured on top of it.
SAMPLING: dict[str, Any] = {
    "profile": "multisource",
    "balance_sources": False,
    "train_extra": {"sampling": "balanced"},
}

# Each configuration: a profile name and overrides.
CONFIGS: dict[str, dict[str, Any]] = {
    # The first try: robust, unchanged, on both datasets.
    "robust+adult": {"profile": "robust", "label_map": ADULT_MAP},
    # The chosen profile: robust's offline source balancing + worst-group selection.
    "multisource": {"profile": "multisource"},
    "multisource-sampling": SAMPLING,
    "multisource-96": {**SAMPLING, "image_size": 96, "model_kwargs": {"simple_cnn": {"depth": 5}}},
    "multisource-crop": {**SAMPLING, "input_transform": {"lung_crop": True, "contrast": "clahe"}},
    "multisource-dro": {**SAMPLING, "train_extra": {"sampling": "balanced", "group_dro": 0.5}},
}


def _profile(name: str) -> Any:
    from xraycls.protocols import get_profile

    overrides = dict(CONFIGS[name])
    profile = get_profile(overrides.pop("profile"))
    extra = overrides.pop("train_extra", {})
    if extra:
        overrides["train"] = {**profile.train, **extra}
    return profile.replace(name=name, **overrides)


def _data() -> list[Any]:
    from xraycls.data import DataSpec

    return [DataSpec(str(SHARED / "cxr3")), DataSpec(str(SHARED / "cxr-adult"))]


def run(name: str, out: Path, hold_out: str | None = None) -> Path:
    """Train configuration ``name`` (optionally holding one source out); its folder."""
    from xraycls.protocols import reproduce

    folder = out / (name if hold_out is None else f"{name}-loso-{COVID_SOURCES.index(hold_out)}")
    profile = _profile(name)
    if hold_out is not None:
        profile = profile.replace(hold_out_sources=(hold_out,))
    start = time.perf_counter()
    reproduce(
        _data(),
        profile=profile,
        out=folder,
        verbose=2,
        external=None if hold_out else SHARED / "cxr3-shift",
    )
    (folder / "wall_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return folder


def _sens(summary: dict[str, Any], cls: str) -> float | None:
    return (summary.get("sensitivity") or {}).get(cls)


def row(folder: Path) -> dict[str, Any]:
    """One table row from a reproduce folder."""
    results = json.loads((folder / "results.json").read_text())
    (res,) = results["results"]
    model = res["model"]
    state = json.loads((folder / model / "state.json").read_text())
    history = json.loads((folder / model / "history.json").read_text())
    best = history[state["best_epoch"] - 1]
    by = results["by_source"][model]
    out: dict[str, Any] = {
        "config": folder.name,
        "best epoch": state["best_epoch"],
        "val worst group": best.get("val_worst_group_accuracy"),
        "val acc": best.get("val_accuracy"),
        "test acc": res["test_accuracy"],
        "COVID sens": res["covid_sensitivity"],
        "minutes": float((folder / "wall_seconds.txt").read_text()) / 60
        if (folder / "wall_seconds.txt").exists()
        else res["seconds"] / 60,
    }
    test_sources = by["test"]["by_source"]
    for source, summary in test_sources.items():
        if not summary.get("in_training", True):  # the held-out source of a LOSO run
            out["held-out COVID sens"] = _sens(summary, "COVID")
            out["held out"] = source
    for part, sources in (
        ("cxr3", ("lecuong1502/BTL_Machine_Learning", *COVID_SOURCES)),
        ("cxr-adult", ("nih-pneumonia", "nih-nofinding", "rsna")),
    ):
        n = sum(test_sources[s]["n"] for s in sources if s in test_sources)
        right = sum(
            test_sources[s]["n"] * (test_sources[s]["accuracy"] or 0)
            for s in sources
            if s in test_sources
        )
        out[f"{part} test"] = right / n if n else None
    if "external" in by:
        ext = by["external"]
        out["shift"] = ext["overall"]["accuracy"]
        worst = min(ext["by_source"].items(), key=lambda kv: kv[1]["accuracy"])
        out["shift worst source"] = f"{worst[0].split('/')[-1]} {worst[1]['accuracy']:.2f}"
    return out


def table(out: Path) -> str:
    rows = [row(f) for f in sorted(out.iterdir()) if (f / "results.json").exists()]
    cols = ["config", "best epoch", "val worst group", "val acc", "test acc", "COVID sens",
            "cxr3 test", "cxr-adult test", "held out", "held-out COVID sens", "shift",
            "shift worst source", "minutes"]  # fmt: skip

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="", help=f"comma-separated: {', '.join(CONFIGS)}")
    parser.add_argument("--loso", default="", help="configs to run leave-one-source-out")
    parser.add_argument("--table", action="store_true", help="print the table of OUT")
    parser.add_argument("--out", default="runs/bench-multisource", type=Path)
    args = parser.parse_args()
    for name in filter(None, args.configs.split(",")):
        run(name, args.out)
    for name in filter(None, args.loso.split(",")):
        for source in COVID_SOURCES:
            run(name, args.out, hold_out=source)
    if args.table or not (args.configs or args.loso):
        print(table(args.out))


if __name__ == "__main__":
    main()
