"""``xraycls serve MODEL [--host 127.0.0.1] [--port 8000]``: the HTTP service."""

from __future__ import annotations

import argparse

from xraycls.cli._common import warn_unsafe
from xraycls.cli._parents import model_parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (predict, explain, web page)",
        description="Serve a model over HTTP: GET / (web page), /health, /model; POST "
        "/predict and /explain with an image. No authentication: it binds to 127.0.0.1; put "
        "a reverse proxy in front to expose it (docs/deploy.md).",
        parents=[model_parent()],
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=32, help="largest upload in MiB (default: 32)"
    )
    parser.add_argument(
        "--max-batch", type=int, default=32, help="most images per model call (default: 32)"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=10,
        help="longest wait for a batch to fill, in ms (default: 10)",
    )
    parser.add_argument(
        "--allowed-hosts",
        default="",
        metavar="NAMES",
        help="comma-separated Host header names to accept besides 127.0.0.1, localhost, [::1] "
        "and --host (DNS rebinding protection); '*' accepts any (only behind a proxy that "
        "checks them)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xraycls.errors import ConfigError
    from xraycls.serve import run_server

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: a TCP port is a number from 1 to 65535")
    if not args.max_upload_mb > 0:
        raise ConfigError(f"--max-upload-mb {args.max_upload_mb}: must be > 0")
    if not args.max_batch >= 1:
        raise ConfigError(f"--max-batch {args.max_batch}: must be >= 1")
    if not args.max_wait_ms >= 0:
        raise ConfigError(f"--max-wait-ms {args.max_wait_ms}: must be >= 0")

    if args.unsafe:
        warn_unsafe(args.model)  # as every model command does; the server loads it later,
        # after checking that the port is free
    run_server(
        args.model,
        host=args.host,
        port=args.port,
        max_upload=int(args.max_upload_mb * 1024 * 1024),
        max_batch=args.max_batch,
        max_wait=args.max_wait_ms / 1000,
        safe_mode=not args.unsafe,
        allowed_hosts=[h for h in args.allowed_hosts.split(",") if h.strip()],
    )
    return 0
