"""bfloat16 against float32 on the CPU: the `quick` protocol trained in each, side by side.

Trains ``xraycls reproduce --profile quick`` (or ``--profile``) once per compute type on the
same split and seed, and prints per type: median seconds per epoch (epochs 2+), the whole
run's minutes, dev test accuracy and COVID sensitivity, and the CPU's bfloat16 flags. It is
what ``TrainConfig(mixed_precision="auto")`` would need to switch to bfloat16 on CPUs: a real
gain at equal accuracy.

Usage:
    python benchmarks/cpu_bfloat16.py --data ../shared/data/cxr3 --out runs/bf16
    python benchmarks/cpu_bfloat16.py --types bfloat16 --float32-run runs/mitigations/quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    found = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "avx2") if f" {f}" in flags]
    return ", ".join(found) or "none of avx2/avx512f/avx512_bf16/amx_bf16"


def _row(name: str, workdir: Path) -> str:
    history = json.loads((workdir / "history.json").read_text())
    evaluation = json.loads((workdir / "evaluation.json").read_text())
    times = [float(r["time"]) for r in history]
    per_epoch = statistics.median(times[1:] or times)
    acc = evaluation["accuracy"]["value"]
    sens = evaluation["per_class"]["COVID"]["sensitivity"]["value"]
    return (
        f"| {name} | {per_epoch:.1f} | {sum(times) / 60:.1f} | {acc:.3f} | {sens:.3f} | "
        f"{len(times)} |"
    )


def _step_times(repeats: int, steps: int, size: int) -> dict[str, float]:
    """Median ms per training step of the quick model in each policy, interleaved."""
    import time

    import keras
    import numpy as np

    from xraycls.zoo import build_model

    rng = np.random.default_rng(0)
    x = (rng.random((32, size, size, 3)) * 255).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    models = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        model = build_model("simple_cnn", num_classes=3, input_shape=(size, size, 3), seed=0)
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.train_on_batch(x, y)
        models[policy] = model
    keras.mixed_precision.set_global_policy("float32")
    times: dict[str, list[float]] = {p: [] for p in models}
    for _ in range(repeats):
        for policy, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[policy].append((time.perf_counter() - start) / steps * 1000)
    return {p: statistics.median(v) for p, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=here.parent / "shared/data/cxr3")
    parser.add_argument("--out", type=Path, default=Path("runs/bf16"))
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--types", default="float32,bfloat16")
    parser.add_argument(
        "--float32-run", type=Path, help="reuse this reproduce folder as the float32 row"
    )
    parser.add_argument("--speed-only", action="store_true", help="only the step times")
    args = parser.parse_args()
    speed = _step_times(repeats=5, steps=10, size=64)
    print(f"# cpu flags: {_cpu_flags()}")
    print("| policy | ms per training step (median of 5 interleaved rounds) | vs float32 |")
    print("|---|---:|---:|")
    for policy, ms in speed.items():
        print(f"| {policy} | {ms:.0f} | {ms / speed['float32']:.2f}x |")
    if args.speed_only:
        return

    import xraycls
    from xraycls.protocols import get_profile

    profile = get_profile(args.profile)
    model = profile.models[0]
    rows = {}
    if args.float32_run is not None:
        rows["float32"] = args.float32_run / model
    for kind in args.types.split(","):
        out = args.out / kind
        mode = "off" if kind == "float32" else kind
        xraycls.reproduce(
            args.data,
            profile=profile,
            models=[model],
            out=out,
            verbose=0,
            train={**profile.train, "mixed_precision": mode},
        )
        rows[kind] = out / model
    print(f"# profile={args.profile} model={model} cpu flags: {_cpu_flags()}")
    print(
        "| compute | s per epoch (median, epochs 2+) | training min | test acc | COVID sens "
        "| epochs |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, workdir in rows.items():
        print(_row(name, workdir))


if __name__ == "__main__":
    main()
