"""The ASGI application (Starlette) and the ``uvicorn`` runner behind ``xraycls serve``."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from xraycls.errors import DependencyError, ImageReadError, XrayclsError
from xraycls.serve._batcher import MicroBatcher
from xraycls.serve._page import PAGE
from xraycls.serve._upload import DEFAULT_MAX_PIXELS, read_upload

__all__ = ["DEFAULT_MAX_UPLOAD", "create_app", "run_server"]

#: Largest accepted request body: 32 MiB.
DEFAULT_MAX_UPLOAD = 32 * 1024 * 1024


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise DependencyError(
            'the HTTP service needs starlette and uvicorn: pip install "xraycls[serve]"'
        ) from None


class _TooLarge(Exception):
    pass


def create_app(
    classifier: Any,
    *,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch: int = 32,
    max_wait: float = 0.01,
) -> Any:
    """The Starlette application serving ``classifier``.

    Endpoints: ``GET /`` (web page), ``GET /health``, ``GET /model``, ``POST /predict`` and
    ``POST /explain`` (the image as the raw body or a multipart ``file`` field; PNG, JPEG,
    16-bit PNG, DICOM). Bodies over ``max_upload`` bytes get 413; non-images, truncated files
    and images over ``max_pixels`` (read from the header, before decoding) get 400 with the
    reason in ``{"error": ...}``. Concurrent requests are batched into one model call
    (at most ``max_batch`` images, waiting at most ``max_wait`` seconds).

    Args:
        classifier: A :class:`xraycls.Classifier` (its calibration gives the decisions).
        max_upload: Largest request body in bytes.
        max_pixels: Largest image in pixels.
        max_batch: Most images per model call.
        max_wait: Longest wait for a batch to fill, in seconds.

    Raises:
        DependencyError: Starlette is not installed.

    Examples:
        >>> from xraycls.serve import create_app
        >>> app = create_app(xraycls.Classifier.load("best.keras"))  # doctest: +SKIP
    """
    _starlette()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.formparsers import MultiPartParser
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from xraycls._about import __version__

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
        body = await read_body(request)
        ctype = request.headers.get("content-type", "")
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
            image = await run_in_threadpool(
                read_upload, data, name, classifier.prepare, max_pixels=max_pixels
            )
            pred = await batcher.predict(image, source=name, explain=explain, tta=tta)
        except _TooLarge:
            return error(413, f"request body larger than the limit of {max_upload:,} bytes")
        except ImageReadError as exc:
            return error(400, f"{exc.path}: {exc.reason}")
        except XrayclsError as exc:
            return error(400, str(exc))
        body = pred.to_dict()
        body.pop("source", None)
        body["calibrated"] = cal is not None
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
) -> None:
    """Load ``model`` and serve it with uvicorn until interrupted (see :func:`create_app`).

    Binds to ``127.0.0.1`` by default: the service has no authentication, so expose it only
    behind a reverse proxy that adds it (see ``docs/deploy.md``).

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
    from xraycls.predict import Classifier

    classifier = Classifier.load(model, safe_mode=safe_mode)
    app = create_app(
        classifier,
        max_upload=max_upload,
        max_pixels=max_pixels,
        max_batch=max_batch,
        max_wait=max_wait,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
