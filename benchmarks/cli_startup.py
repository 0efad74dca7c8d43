"""Command-line start-up: ``xraycls models`` against ``xraycls --help`` and the full registry.

Run: ``python benchmarks/cli_startup.py [--repeats 3]``

Each command runs in a fresh interpreter (that is what a user pays), in interleaved rounds so
load changes on a shared machine hit every variant alike; the table gives the median wall time
and the ratio to ``--help``. Goal: ``xraycls models`` within 1.5x of ``--help`` (it printed a
static table after a TensorFlow import, about 4 s on an idle 2-core CPU). ``models --source
plugin`` still loads the registry and the plugins, and so TensorFlow: it is the old cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "xraycls --help": ["--help"],
    "xraycls models": ["models"],
    "xraycls models --source plugin (full registry)": ["models", "--source", "plugin"],
}


def _once(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "xraycls", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, argv in VARIANTS.items():
            times[name].append(_once(argv))
    base = statistics.median(times["xraycls --help"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; repeats: {args.repeats}")
    print("| command | median s | min-max | vs --help |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| `{name}` | {med:.2f} | {min(values):.2f}-{max(values):.2f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
