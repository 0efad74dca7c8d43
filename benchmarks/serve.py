"""HTTP service throughput and latency against ``Classifier.predict`` in one process.

Run: ``python benchmarks/serve.py [--model efficientnet_b0] [--size 128] [--clients 16]
[--seconds 20] [--data ../shared/data/cxr3]``

Starts ``xraycls serve`` as a separate process on 127.0.0.1 (as deployed), drives it with N
concurrent clients (threads, one keep-alive connection each) posting real X-rays for a bounded
time, and prints throughput and p50/p99 latency; once with micro-batching (10 ms, up to 32
images) and once with it off (``--max-batch 1``). Then calls ``Classifier.predict(file,
details=True)`` in a loop in this process for the same time, one image at a time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx

import xraycls

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drive(url: str, payloads: list[bytes], clients: int, seconds: float) -> list[float]:
    """Latencies of the requests that succeeded; a failed request is reported on stderr."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    c.post("/predict", content=payloads[i % len(payloads)]).raise_for_status()
                except httpx.HTTPError as exc:
                    print(f"request failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                else:
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _serve(model: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "xraycls", "serve", str(model), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start")


def _row(name: str, lat: list[float], seconds: float) -> str:
    if len(lat) < 2:
        return f"| {name} | {len(lat) / seconds:.1f} | n/a | n/a | {len(lat)} |"
    q = statistics.quantiles(lat, n=100)
    return (
        f"| {name} | {len(lat) / seconds:.1f} | {1000 * statistics.median(lat):.0f} | "
        f"{1000 * q[98]:.0f} | {len(lat)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cxr3"))
    args = parser.parse_args()

    files = sorted(str(p) for p in Path(args.data).rglob("*.png"))[:64]
    payloads = [Path(f).read_bytes() for f in files]
    model = xraycls.build_model(args.model, input_shape=(args.size, args.size, 3))
    path = xraycls.save_model(
        model,
        Path(tempfile.mkdtemp()) / "m.keras",
        class_names=["COVID", "Normal", "Viral Pneumonia"],
    )
    rows = []
    for name, extra in (
        ("service, micro-batching (10 ms, <= 32)", []),
        ("service, no batching (--max-batch 1)", ["--max-batch", "1"]),
    ):
        proc, url = _serve(path, extra)
        try:
            _drive(url, payloads, args.clients, 2.0)  # warm-up
            lat = _drive(url, payloads, args.clients, args.seconds)
            calls = httpx.get(url + "/health").json()
            rows.append(_row(f"{name}, {args.clients} clients", lat, args.seconds))
            rows[-1] += f" {calls['images'] / max(calls['model_calls'], 1):.1f} |"
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    clf = xraycls.Classifier.load(path)
    clf.predict(files[0], details=True)
    lat, stop, i = [], time.perf_counter() + args.seconds, 0
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        clf.predict(files[i % len(files)], details=True)
        lat.append(time.perf_counter() - t0)
        i += 1
    rows.append(_row("Classifier.predict(file), one at a time, in process", lat, args.seconds))
    rows[-1] += " 1.0 |"
    print(f"{args.model} {args.size}px, {args.seconds:.0f} s per variant, {os.cpu_count()} CPUs")
    print("| variant | requests/s | p50 ms | p99 ms | requests | images per model call |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
