"""The robustness suite vs plain ``xraycls.evaluate`` on the same images, per prediction.

Run: ``python benchmarks/robustness.py [--data DIR] [--n 64] [--model FILE.keras] [--repeats 3]``

Both run on the same ``n`` images with the same model (default: the ``quick`` profile's
``simple_cnn`` at 64 px, untrained: speed does not depend on the weights). ``evaluate`` makes
``n`` predictions (decode, letterbox, predict; no bootstrap); the suite makes
``n * (1 + kinds * severities)`` (decode once, shift, letterbox, predict). ``evaluate`` has a
fixed cost per call (building the tf.data pipeline) that ``n`` predictions do not amortise, so
a third variant runs ``evaluate`` on the images repeated to as many predictions as the suite
makes: the fair per-prediction baseline. Rounds are interleaved so load changes hit every
variant; medians are reported. Goal: the suite's time per prediction at most 1.3x that of
``evaluate``. A last table gives what each shift costs alone.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import xraycls
from xraycls.robustness import apply_shift, evaluate_robustness, list_shifts

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def _generated(folder: Path, n: int) -> Path:
    """``n`` gray 256 x 224 PNGs in three class folders (when no real data is at hand)."""
    import cv2

    rng = np.random.default_rng(0)
    for i in range(n):
        cls = ("COVID", "Normal", "Viral Pneumonia")[i % 3]
        (folder / cls).mkdir(parents=True, exist_ok=True)
        noise = rng.random((8, 8)).astype(np.float32)
        image = cv2.resize(noise, (256, 224), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image * 255, 0, 255).astype(np.uint8)
        assert cv2.imwrite(str(folder / cls / f"{i}.png"), image)
    return folder


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset folder (default: cxr3 or generated)")
    parser.add_argument("--n", type=int, default=64, help="images (default 64)")
    parser.add_argument("--model", default=None, help=".keras file (default: quick simple_cnn)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    data = Path(args.data) if args.data else DEFAULT_DATA
    if not data.is_dir():
        data = _generated(Path(tempfile.mkdtemp()), args.n)
    if args.model:
        model = xraycls.Classifier.load(args.model)
        ds = xraycls.load_dataset(data, classes=model.class_names)
    else:
        ds = xraycls.load_dataset(data)
        model = xraycls.Classifier(
            xraycls.build_model("simple_cnn", num_classes=ds.num_classes, input_shape=(64, 64, 3)),
            ds.class_names,
        )
    per_class = -(-args.n // ds.num_classes)
    ds = ds.limit_per_class(per_class, seed=0)
    ds = ds.subset(np.arange(min(args.n, len(ds))))
    n = len(ds)
    conditions = 1 + len(list_shifts()) * 5

    def run_evaluate() -> float:
        start = time.perf_counter()
        xraycls.evaluate(model, ds, batch_size=args.batch, n_bootstrap=0)
        return time.perf_counter() - start

    repeated = functools.reduce(lambda a, b: a + b, [ds] * conditions)

    def run_evaluate_repeated() -> float:
        start = time.perf_counter()
        xraycls.evaluate(model, repeated, batch_size=args.batch, n_bootstrap=0)
        return time.perf_counter() - start

    def run_suite() -> float:
        start = time.perf_counter()
        evaluate_robustness(model, ds, batch_size=args.batch, progress=False)
        return time.perf_counter() - start

    load_before = os.getloadavg()[0]
    run_evaluate()  # warm-up: graph tracing, file cache
    evaluate_robustness(model, ds.subset([0]), kinds="blur", severities=(1,), progress=False)
    runs = {"evaluate": run_evaluate, "repeated": run_evaluate_repeated, "suite": run_suite}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(run())
    load_after = os.getloadavg()[0]

    counts = {"evaluate": n, "repeated": n * conditions, "suite": n * conditions}
    per = {name: statistics.median(times[name]) / counts[name] for name in runs}
    print(
        f"{n} images from {data}, model {model.model.name} "
        f"{model.image_size[0]}x{model.image_size[1]}, batch {args.batch}, "
        f"median of {args.repeats} interleaved rounds; {_cpu_model()}, {os.cpu_count()} CPUs; "
        f"load average {load_before:.1f} before, {load_after:.1f} after\n"
    )
    print("| variant | predictions | s (median) | pred/s | ms/pred | vs evaluate, same count |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "evaluate": f"`xraycls.evaluate`, {n} images",
        "repeated": f"`xraycls.evaluate`, the {n} images x {conditions}",
        "suite": f"robustness suite, {n} images x ({len(list_shifts())} kinds x 5 + clean)",
    }
    for name in runs:
        print(
            f"| {labels[name]} | {counts[name]} | {statistics.median(times[name]):.2f} | "
            f"{1 / per[name]:.0f} | {1000 * per[name]:.2f} | "
            f"{per[name] / per['repeated']:.2f}x |"
        )
    ratio = per["suite"] / per["repeated"]
    print(
        f"\nGoal: suite <= 1.3x evaluate per prediction (same number of predictions): "
        f"{ratio:.2f}x, {'met' if ratio <= 1.3 else 'NOT met'}"
    )

    from xraycls.io import load_image

    originals = [load_image(f)[:, :, 0] for f in ds.files[:16]]
    print("\n| shift | ms per image (mean of severities 1-5, 16 gray images) |")
    print("|---|---:|")
    for kind in list_shifts():
        start = time.perf_counter()
        for i, image in enumerate(originals):
            for severity in range(1, 6):
                apply_shift(image, kind, severity, seed=i)
        print(f"| `{kind}` | {1000 * (time.perf_counter() - start) / (5 * len(originals)):.2f} |")


if __name__ == "__main__":
    main()
