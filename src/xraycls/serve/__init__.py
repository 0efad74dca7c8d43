"""The HTTP service: predictions, explanations and a web page over one ASGI app.

Start it with ``xraycls serve MODEL`` (or :func:`run_server`); embed the app elsewhere with
:func:`create_app`. Needs ``pip install "xraycls[serve]"`` (Starlette and uvicorn).

Examples:
    >>> from xraycls.serve import DEFAULT_MAX_UPLOAD
    >>> DEFAULT_MAX_UPLOAD // 2**20
    32
"""

from __future__ import annotations

from xraycls.serve._app import DEFAULT_MAX_UPLOAD, create_app, run_server, server_options
from xraycls.serve._batcher import MicroBatcher
from xraycls.serve._upload import DEFAULT_MAX_PIXELS, upload_format

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_UPLOAD",
    "MicroBatcher",
    "create_app",
    "run_server",
    "server_options",
    "upload_format",
]
