"""Uploaded bytes -> a checked, decoded, letterboxed image.

The upload must be a PNG, JPEG or DICOM. Its bytes are decoded in memory by
:func:`xraycls.io.decode_image` (no temporary file), which reads the declared size from the header
*before* decoding and refuses images over its pixel limit, so a pixel bomb (a 40000x40000 PNG that
is a few hundred kB on disk) is turned away without its pixels ever being allocated; truncated and
corrupt files are refused with the reason, and no error quotes the upload's bytes.

At most :data:`MAX_CONCURRENT_DECODES` uploads are decoded at once in the process, so the
memory of decoding is bounded by that many times the decoded-bytes limit of
:func:`xraycls.io.decode_image` however many requests arrive together; the others wait.
"""

from __future__ import annotations

import threading
from typing import Any

from xraycls.io import DEFAULT_MAX_PIXELS, decode_image, image_format

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_CONCURRENT_DECODES", "decode_upload", "upload_format"]

#: Most uploads decoded at the same time. One decode may need up to the decoded-bytes limit of
#: load_image (512 MiB by default) plus its uint8 result, and the decoders are CPU-bound, so more
#: in parallel would only multiply the peak memory.
MAX_CONCURRENT_DECODES = 2
_DECODES = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

_FORMATS = ("png", "jpeg", "dicom")


def upload_format(data: bytes, name: str = "upload") -> str:
    """``"png"``, ``"jpeg"`` or ``"dicom"`` from the first bytes (or a ``.dcm`` name).

    Raises:
        ImageReadError: Empty, or another format (the message says what the content looks
            like, without quoting it).

    Examples:
        >>> upload_format(b"\\x89PNG\\r\\n\\x1a\\n...")
        'png'
    """
    return image_format(data, name=name, accept=_FORMATS)


def decode_upload(
    data: bytes, name: str, prepare: Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Any:
    """Check the format of ``data``, decode it with the pixel limit, and ``prepare`` it.

    ``prepare`` is :meth:`xraycls.Classifier.prepare` (letterbox to the model input).

    Raises:
        ImageReadError: Empty, unsupported, over the pixel limit, truncated or corrupt; the
            error names the upload as ``name``.
    """
    upload_format(data, name)  # refused before waiting for a decode slot
    with _DECODES:
        image = decode_image(data, name=name, formats=_FORMATS, max_pixels=max_pixels)
    return prepare(image)
