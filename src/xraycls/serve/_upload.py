"""Uploaded bytes -> a checked, decoded, letterboxed image.

The upload must be a PNG, JPEG or DICOM. It is decoded by :func:`xraycls.io.read_image`, which
reads the declared size from the header *before* decoding and refuses images over its pixel
limit, so a pixel bomb (a 40000x40000 PNG that is a few hundred kB on disk) is turned away
without its pixels ever being allocated; truncated and corrupt files are refused with the
reason.

At most :data:`MAX_CONCURRENT_DECODES` uploads are decoded at once in the process, so the
memory of decoding is bounded by that many times the decoded-bytes limit of
:func:`xraycls.io.read_image` however many requests arrive together; the others wait.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from xraycls.errors import ImageReadError
from xraycls.io import DEFAULT_MAX_PIXELS, read_image

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_CONCURRENT_DECODES", "read_upload", "upload_format"]

#: Most uploads decoded at the same time. One decode may need up to the decoded-bytes limit of
#: read_image (512 MiB by default) plus its uint8 result, and the decoders are CPU-bound, so more
#: in parallel would only multiply the peak memory.
MAX_CONCURRENT_DECODES = 2
_DECODES = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

_PNG = b"\x89PNG\r\n\x1a\n"
_SUFFIX = {"png": ".png", "jpeg": ".jpg", "dicom": ".dcm"}


def upload_format(data: bytes, name: str = "upload") -> str:
    """``"png"``, ``"jpeg"`` or ``"dicom"`` from the first bytes (or a ``.dcm`` name).

    Raises:
        ImageReadError: Empty, or another format (the message shows how it starts).

    Examples:
        >>> upload_format(b"\\x89PNG\\r\\n\\x1a\\n...")
        'png'
    """
    if not data:
        raise ImageReadError(name, "the upload is empty (0 bytes)")
    if data.startswith(_PNG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[128:132] == b"DICM" or name.lower().endswith((".dcm", ".dicom")):
        return "dicom"
    head = data[:8]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        what = f"it looks like text ({head.decode('ascii', 'replace')!r}...)"
    else:
        what = f"it starts with bytes {head.hex(' ')}"
    raise ImageReadError(name, f"not a PNG, JPEG or DICOM image: {what}")


def read_upload(
    data: bytes, name: str, prepare: Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Any:
    """Check the format of ``data``, decode it with the pixel limit, and ``prepare`` it.

    ``prepare`` is :meth:`xraycls.Classifier.prepare` (letterbox to the model input). The bytes
    go through a temporary file that is always removed.

    Raises:
        ImageReadError: Empty, unsupported, over the pixel limit, truncated or corrupt.
    """
    fmt = upload_format(data, name)
    fd, path = tempfile.mkstemp(prefix="xraycls-upload-", suffix=_SUFFIX[fmt])
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            with _DECODES:
                image = read_image(path, max_pixels=max_pixels)
        except ImageReadError as exc:
            raise ImageReadError(name, exc.reason) from None
        return prepare(image)
    finally:
        os.unlink(path)
