"""The ASGI application (Starlette) and the ``uvicorn`` runner behind ``xraycls serve``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from xraycls.errors import ConfigError, DependencyError, ImageReadError, XrayclsError
from xraycls.serve._batcher import MicroBatcher
from xraycls.serve._ood import ood_warnings
from xraycls.serve._page import PAGE
from xraycls.serve._upload import DEFAULT_MAX_PIXELS, decode_upload

__all__ = ["DEFAULT_MAX_UPLOAD", "LOCAL_HOSTS", "create_app", "run_server", "server_options"]

#: Largest accepted request body: 32 MiB.
DEFAULT_MAX_UPLOAD = 32 * 1024 * 1024
#: Host headers always accepted. Any other is refused (400) unless allowed: a web page on
#: another site can make the browser send requests to 127.0.0.1 under its own name (DNS
#: rebinding), and this service has no authentication.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: Seconds a client may take to send a request body before it gets 408.
DEFAULT_BODY_TIMEOUT = 30.0
#: Seconds an idle keep-alive connection stays open, and the largest request head (bytes)
#: uvicorn buffers, so slow or endless headers do not hold connections and memory.
KEEP_ALIVE_TIMEOUT = 5
MAX_HEAD_BYTES = 16 * 1024
#: Seconds a client may take to send a request head (method, path, headers). uvicorn has no
#: such timeout of its own: a client trickling one header byte at a time held a connection
#: for ever (slowloris).
HEAD_TIMEOUT = 10.0


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise DependencyError(
            'the HTTP service needs starlette and uvicorn: pip install "xraycls[serve]"'
        ) from None


class _TooLarge(Exception):
    pass


class _SlowBody(Exception):
    pass


def _host_patterns(host: str | None, extra: Sequence[str] | None) -> list[str]:
    """Allowed ``Host`` header names: the local ones, the bound ``host`` and ``extra``."""
    out = list(LOCAL_HOSTS)
    if host and host not in ("0.0.0.0", "::", ""):  # a wildcard is no name a client sends
        out.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    for name in (h.strip() for h in extra or ()):
        if not name:
            continue
        if "*" in name[1:] or (name.startswith("*") and name != "*" and not name[1:2] == "."):
            raise ConfigError(
                f"allowed host {name!r}: a wildcard is '*' or '*.example.org'",
                hint_cli="(--allowed-hosts)",
            )
        out.append(name)
    return list(dict.fromkeys(h.lower() for h in out))


def _training_summary(info: Mapping[str, Any]) -> dict[str, Any]:
    """What ``/model`` says about the training data (``None`` where the file records none)."""
    from xraycls.train._summary import label_map_notes

    data = info.get("training_data")
    flags = info.get("audit_flags")
    data = data if isinstance(data, dict) else None
    return {
        "training_data": data,
        "audit_flags": [str(f) for f in flags] if isinstance(flags, list) else None,
        # What a label map made of a class ("read it as non-COVID pneumonia"), said up front.
        "class_notes": label_map_notes(data),
    }


def create_app(
    classifier: Any,
    *,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch: int = 32,
    max_wait: float = 0.01,
    allowed_hosts: Sequence[str] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    info: Mapping[str, Any] | None = None,
) -> Any:
    """The Starlette application serving ``classifier``.

    Endpoints: ``GET /`` (web page), ``GET /health``, ``GET /model``, ``POST /predict`` and
    ``POST /explain`` (the image as the raw body or a multipart ``file`` field; PNG, JPEG,
    16-bit PNG, DICOM). Bodies over ``max_upload`` bytes get 413; non-images, truncated files
    and images over ``max_pixels`` (read from the header, before decoding) get 400 with the
    reason in ``{"error": ...}``; a body not received within ``body_timeout`` seconds gets 408.
    Concurrent requests are batched into one model call (at most ``max_batch`` images, waiting
    at most ``max_wait`` seconds). Requests whose ``Host`` header is not one of
    :data:`LOCAL_HOSTS` or ``allowed_hosts`` get 400 (DNS rebinding). A near-constant image is
    still predicted, but flagged: ``"out_of_distribution": true`` and a reason in
    ``"warnings"``. ``GET /model`` includes the model file's ``training_data`` and
    ``audit_flags`` (``null`` when it records none).

    Args:
        classifier: A :class:`xraycls.Classifier` (its calibration gives the decisions), a
            model file or a Keras model (:func:`xraycls.as_classifier`).
        max_upload: Largest request body in bytes (> 0).
        max_pixels: Largest image in pixels.
        max_batch: Most images per model call.
        max_wait: Longest wait for a batch to fill, in seconds.
        allowed_hosts: More ``Host`` names to accept (``"*"``: any, e.g. behind a proxy that
            checks them).
        body_timeout: Seconds a client may take to send the body.
        info: The model file's metadata as a dict (``xraycls.zoo.load_model_info(path)
            .to_dict()``); default the one :meth:`xraycls.Classifier.load` read.

    Raises:
        ConfigError: ``max_upload`` or ``body_timeout`` not positive.
        DependencyError: Starlette is not installed.

    Examples:
        >>> from xraycls.serve import create_app
        >>> app = create_app(xraycls.Classifier.load("best.keras"))  # doctest: +SKIP
    """
    _starlette()
    if not max_upload > 0:
        raise ConfigError(
            f"max_upload must be > 0 bytes; got {max_upload}",
            hint_cli="(--max-upload-mb must be > 0)",
        )
    if not body_timeout > 0:
        raise ConfigError(f"body_timeout must be > 0 seconds; got {body_timeout}")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.formparsers import MultiPartParser
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from xraycls._about import __version__
    from xraycls.classifier import as_classifier

    classifier = as_classifier(classifier)  # a path, a Classifier or a Keras model
    batcher = MicroBatcher(classifier, max_batch=max_batch, max_wait=max_wait)
    cal = classifier.calibration
    model_info = {
        "backbone": getattr(classifier.model, "name", "model"),
        "class_names": list(classifier.class_names),
        "input_size": list(classifier.image_size),
        "resize": classifier.resize,
        "calibration": None if cal is None else cal.to_dict(),
        "xraycls_version": __version__,
        "limits": {"max_upload_bytes": max_upload, "max_pixels": max_pixels},
        **_training_summary(info if info is not None else classifier.info.to_dict()),
    }

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload:
            raise _TooLarge
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_upload:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def image_bytes(request: Request) -> tuple[bytes, str]:
        try:  # a client trickling its body must not hold a connection for ever
            body = await asyncio.wait_for(read_body(request), timeout=body_timeout)
        except asyncio.TimeoutError:
            raise _SlowBody from None
        ctype = request.headers.get("content-type", "").lower()  # media types ignore case
        if not ctype.startswith("multipart/form-data"):
            name = "request body"
            if "dicom" in ctype:
                name += ".dcm"  # a DICOM without its 128-byte preamble is known by its type
            return body, name

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(request.headers, stream()).parse()
        except Exception as exc:
            raise ImageReadError("request body", f"malformed multipart form: {exc}") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ImageReadError("request body", "the multipart form has no 'file' field")
        data = await upload.read()
        return data, upload.filename or "file"

    async def handle(request: Request, explain: bool) -> Response:
        try:
            data, name = await image_bytes(request)
            tta = request.query_params.get("tta", "0").lower() in ("1", "true", "yes")
            warnings: list[str] = []

            def prepare(decoded: Any) -> Any:  # sees the decoded image before it is fitted
                warnings.extend(ood_warnings(decoded))
                return classifier.prepare(decoded)

            image = await run_in_threadpool(
                decode_upload, data, name, prepare, max_pixels=max_pixels
            )
            pred = await batcher.predict(image, source=name, explain=explain, tta=tta)
        except _TooLarge:
            return error(413, f"request body larger than the limit of {max_upload:,} bytes")
        except _SlowBody:
            return error(408, f"the request body took longer than {body_timeout:g} s to arrive")
        except ImageReadError as exc:
            return error(400, f"{exc.path}: {exc.reason}")
        except XrayclsError as exc:
            return error(400, str(exc))
        body = pred.to_dict()
        body.pop("source", None)
        body["calibrated"] = cal is not None
        body["out_of_distribution"] = bool(warnings)
        body["warnings"] = warnings
        if explain:
            body["overlay_png"] = await run_in_threadpool(_overlay_png, pred)
        return JSONResponse(body)

    async def predict(request: Request) -> Response:
        return await handle(request, explain=False)

    async def explain(request: Request) -> Response:
        return await handle(request, explain=True)

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "model_calls": batcher.calls, "images": batcher.images}
        )

    async def model(request: Request) -> Response:
        return JSONResponse(model_info)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/health", health),
            Route("/model", model),
            Route("/predict", predict, methods=["POST"]),
            Route("/explain", explain, methods=["POST"]),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                TrustedHostMiddleware,
                allowed_hosts=_host_patterns(None, allowed_hosts),
                www_redirect=False,
            )
        ],
    )
    app.state.batcher = batcher
    return app


def _overlay_png(pred: Any) -> str:
    import cv2
    import numpy as np

    from xraycls.explain import overlay

    image = np.asarray(overlay(pred.image[None], pred.cam[None])[0])
    h, w = image.shape[:2]
    if max(h, w) < 256:  # small models: enlarge so the page shows more than a thumbnail
        scale = 256 / max(h, w)
        image = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR
        )
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - encoding an in-memory uint8 image does not fail
        raise RuntimeError("could not encode the overlay PNG")
    return base64.b64encode(png.tobytes()).decode("ascii")


def run_server(
    model: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch: int = 32,
    max_wait: float = 0.01,
    safe_mode: bool = True,
    allowed_hosts: Sequence[str] | None = None,
) -> None:
    """Load ``model`` and serve it with uvicorn until interrupted (see :func:`create_app`).

    Binds to ``127.0.0.1`` by default: the service has no authentication, so expose it only
    behind a reverse proxy that adds it (see ``docs/deploy.md``); ``0.0.0.0`` prints a
    warning. The port is checked before the model is loaded (a busy port is a
    :class:`~xraycls.errors.ConfigError`). A request head must arrive within
    :data:`HEAD_TIMEOUT` seconds, idle keep-alive connections close after
    :data:`KEEP_ALIVE_TIMEOUT` seconds and a request head is limited to :data:`MAX_HEAD_BYTES`
    (:func:`server_options`).

    Raises:
        ConfigError: Port out of range or busy, or the host cannot be bound.

    Examples:
        >>> run_server("runs/x/best.keras", port=8000)  # doctest: +SKIP
    """
    _starlette()
    try:
        import uvicorn
    except ImportError:
        raise DependencyError(
            'the HTTP service needs uvicorn: pip install "xraycls[serve]"'
        ) from None
    from xraycls.classifier import as_classifier

    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port}: a TCP port is a number from 1 to 65535")
    if host in ("0.0.0.0", "::"):
        print(
            f"WARNING: --host {host} serves every network this machine is on, without "
            "authentication. Prefer 127.0.0.1 behind a reverse proxy (docs/deploy.md); the "
            "Host header must still be one of --allowed-hosts.",
            file=sys.stderr,
        )
    _check_port(host, port)  # before minutes of loading the model
    classifier = as_classifier(model, safe_mode=safe_mode)
    app = create_app(
        classifier,
        max_upload=max_upload,
        max_pixels=max_pixels,
        max_batch=max_batch,
        max_wait=max_wait,
        allowed_hosts=_host_patterns(host, allowed_hosts),
    )
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            **server_options(),
        )
    except SystemExit as exc:  # uvicorn exits (1 or 3) when it cannot start: say why
        if exc.code in (0, None):
            raise
        raise ConfigError(
            f"the server could not start on {host}:{port} (uvicorn exit code {exc.code}); "
            f"is port {port} busy?",
            hint="pass another port=",
            hint_cli="choose another --port",
        ) from None


def _head_timeout_protocol(seconds: float) -> type:
    """uvicorn's h11 protocol with a deadline for every request head.

    The timer runs from the connection (or the end of the previous response) until a complete
    request head has arrived; when it fires with no request in progress the connection is
    closed. Requests being answered are never cut.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(seconds, self._head_expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _busy(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is not None and not cycle.response_complete

        def _head_expired(self) -> None:
            self._head_timer = None
            if not self._busy() and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self._busy():  # a whole head arrived: the body has its own timeout
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadTimeoutH11


def server_options(head_timeout: float = HEAD_TIMEOUT) -> dict[str, Any]:
    """The uvicorn settings :func:`run_server` uses against slow or endless requests.

    ``uvicorn.Config(app, **server_options())`` gives an embedding server the same limits:
    a deadline for request heads (:data:`HEAD_TIMEOUT`), idle keep-alive connections closed
    after :data:`KEEP_ALIVE_TIMEOUT` seconds, request heads capped at :data:`MAX_HEAD_BYTES`.
    """
    return {
        "http": _head_timeout_protocol(head_timeout),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }


def _check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once, as uvicorn will, to report a busy port in one line."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(
            f"host {host!r} cannot be resolved ({exc})", hint_cli="check --host"
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is busy: another program listens there;",
                    hint="pass another port=",
                    hint_cli="choose another --port",
                ) from None
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc};",
                hint_cli="check --host and --port",
            ) from None
