"""Uploaded bytes -> a checked image file: format, size in pixels from the header, decoding.

The pixel count is read from the PNG ``IHDR`` chunk, the JPEG start-of-frame segment or the
DICOM ``Rows``/``Columns`` elements *before* anything is decoded, so a pixel bomb (a
40000x40000 PNG that is a few kB on disk) is refused without allocating its pixels.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from typing import Any

from xraycls.errors import ImageReadError

__all__ = ["DEFAULT_MAX_PIXELS", "image_dimensions", "read_upload"]

#: Largest accepted image, in pixels (width x height x frames); 12000 x 12000 would still pass.
DEFAULT_MAX_PIXELS = 150_000_000

_PNG = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _sniff(data: bytes, name: str) -> str:
    if data.startswith(_PNG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[128:132] == b"DICM" or name.lower().endswith((".dcm", ".dicom")):
        return "dicom"
    return "other"


def _jpeg_size(data: bytes, name: str) -> tuple[int, int]:
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ImageReadError(name, f"corrupt JPEG: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            if pos + 9 > n:
                break
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return w, h
        if marker == 0xDA:
            break
        pos += 2 + length
    raise ImageReadError(name, "truncated JPEG: no frame header (SOF) with the image size")


def _dicom_size(data: bytes, name: str) -> tuple[int, int, int]:
    try:
        import pydicom
    except ImportError:
        raise ImageReadError(
            name, 'DICOM is not enabled on this server (pip install "xraycls[dicom]")'
        ) from None
    try:
        ds: Any = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except Exception as exc:
        raise ImageReadError(name, f"not a readable DICOM image: {type(exc).__name__}") from None
    return cols, rows, int(getattr(ds, "NumberOfFrames", 1) or 1)


def image_dimensions(data: bytes, name: str = "upload") -> tuple[str, int, int]:
    """``(format, width, height)`` from the header alone (PNG, JPEG or DICOM).

    Raises:
        ImageReadError: Another format, or a header too short to hold the size.

    Examples:
        >>> import struct, zlib
        >>> ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
        >>> png = _PNG + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\\0" * 4
        >>> image_dimensions(png)
        ('png', 40000, 40000)
    """
    if not data:
        raise ImageReadError(name, "the upload is empty (0 bytes)")
    fmt = _sniff(data, name)
    if fmt == "png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageReadError(name, "truncated PNG: no IHDR header with the image size")
        w, h = struct.unpack(">II", data[16:24])
        return fmt, w, h
    if fmt == "jpeg":
        w, h = _jpeg_size(data, name)
        return fmt, w, h
    if fmt == "dicom":
        w, h, frames = _dicom_size(data, name)
        return fmt, w, h * frames
    head = data[:8]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        what = f"it looks like text ({head.decode('ascii', 'replace')!r}...)"
    else:
        what = f"it starts with bytes {head.hex(' ')}"
    raise ImageReadError(name, f"not a PNG, JPEG or DICOM image: {what}")


def read_upload(
    data: bytes, name: str, prepare: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Any:
    """Check ``data`` (format, pixel count) and run ``prepare(path)`` on it.

    ``prepare`` is :meth:`xraycls.Classifier.prepare`, which reads the file with
    :func:`xraycls.io.read_image` (truncation checks, 16-bit scaling, DICOM windowing) and
    letterboxes it. The bytes go through a temporary file that is always removed.

    Raises:
        ImageReadError: Empty, unsupported, oversized in pixels, truncated or corrupt.
    """
    fmt, w, h = image_dimensions(data, name)
    if w == 0 or h == 0:
        raise ImageReadError(name, f"the {fmt.upper()} header gives an empty image ({w}x{h})")
    if w * h > max_pixels:
        raise ImageReadError(
            name,
            f"image too large: {w}x{h} = {w * h:,} pixels exceeds the limit of "
            f"{max_pixels:,}; downscale it before sending",
        )
    suffix = {"png": ".png", "jpeg": ".jpg", "dicom": ".dcm"}[fmt]
    fd, path = tempfile.mkstemp(prefix="xraycls-upload-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            return prepare(path)
        except ImageReadError as exc:
            raise ImageReadError(name, exc.reason) from None
    finally:
        os.unlink(path)
