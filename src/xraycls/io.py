"""Decode one image file to a ``uint8`` array, with the path in every error.

Supported: PNG and JPEG (8- and 16-bit, grayscale, RGB, RGBA, palette) and whatever else OpenCV
decodes (BMP, TIFF, WebP), plus DICOM through the optional ``pydicom`` dependency
(``pip install "xraycls[dicom]"``).

Conventions, fixed for the whole library:

* The result is ``uint8`` with shape ``(H, W, 3)`` in **RGB** order (``channels=3``, the
  default) or ``(H, W, 1)`` (``channels=1``). Grayscale is replicated to three channels; colour is
  converted to gray with the ITU-R 601 luma weights (as Pillow's ``convert("L")``).
* Alpha is composited on **black** (``rgb * alpha``), the way the test data was built.
* 16-bit and floating-point images are **min-max scaled** per image to 0..255. Radiographs are
  often 10-14 bit values stored in 16-bit containers; a plain ``>> 8`` would leave such an image
  almost black. A constant image becomes all zeros.
* JPEG EXIF orientation is applied (OpenCV does it when decoding to colour/gray). PNG has no
  standard orientation tag in practice, so none is applied.
* DICOM: the modality LUT (rescale slope/intercept) and the VOI LUT or window are applied, then
  ``MONOCHROME1`` is inverted so bone is bright, then min-max scaling. Multi-frame files use the
  first frame.

The file is read as bytes and decoded with :func:`cv2.imdecode`, so paths with spaces and
non-ASCII characters work on every platform. OpenCV decodes a truncated PNG or JPEG partially
with only a warning on stderr; :func:`check_image` (run by :func:`read_image`) therefore checks the
file structure first: a PNG must reach its ``IEND`` chunk with valid chunk CRCs, a JPEG must have
an end-of-image marker after its first scan.

Examples:
    >>> import numpy as np, cv2, tempfile, os
    >>> from xraycls.io import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "scan 1.png")
    >>> _ = cv2.imwrite(path, np.full((4, 5), 200, np.uint8))
    >>> img = read_image(path)
    >>> img.shape, img.dtype, int(img[0, 0, 0])
    ((4, 5, 3), dtype('uint8'), 200)
"""

from __future__ import annotations

import io as _stdio
import os
import struct
import zlib
from typing import Any, Literal

import cv2
import numpy as np

from xraycls.errors import DependencyError, ImageReadError

__all__ = ["IMAGE_EXTENSIONS", "check_image", "read_image"]

#: File name extensions treated as images by dataset loaders (lower case, with the dot).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_DICOM_EXTENSIONS = (".dcm", ".dicom")
_DICOM_HINT = 'reading DICOM files needs pydicom: pip install "xraycls[dicom]"'

_Format = Literal["png", "jpeg", "dicom", "other"]


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ImageReadError(path, "file does not exist") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not an image file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied: the file is not readable") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ImageReadError(path, "file is empty (0 bytes)")
    return data


def _sniff(path: str, data: bytes) -> _Format:
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data[128:132] == b"DICM" or path.lower().endswith(_DICOM_EXTENSIONS):
        return "dicom"
    return "other"


def _check_png(path: str, data: bytes) -> None:
    # Walk the chunk list: every chunk must fit in the file, critical chunks (IHDR, PLTE, IDAT,
    # IEND: upper-case first letter) must carry a valid CRC, and IEND must be reached. Like libpng,
    # a bad CRC in an ancillary chunk (text, colour profile...) is tolerated. zlib.crc32 runs at
    # memory speed, so this costs far less than decoding.
    pos = len(_PNG_MAGIC)
    n = len(data)
    while True:
        if pos + 8 > n:
            raise ImageReadError(path, "truncated PNG: the file ends before the IEND chunk")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > n:
            raise ImageReadError(
                path, f"truncated PNG: chunk {ctype!r} at byte {pos} runs past the end of the file"
            )
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        critical = not ctype[0] & 0x20
        if critical and zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise ImageReadError(path, f"corrupt PNG: bad CRC in chunk {ctype!r} at byte {pos}")
        if ctype == b"IEND":
            return
        pos = end


def _check_jpeg(path: str, data: bytes) -> None:
    # Skip the marker segments (APPn holds EXIF thumbnails with their own EOI) up to the first
    # start-of-scan; after it 0xFF is byte-stuffed, so an FF D9 pair can only be the real EOI.
    pos = 2
    n = len(data)
    while True:
        while pos < n and data[pos] == 0xFF:
            pos += 1  # fill bytes before a marker are allowed
        if pos >= n:
            raise ImageReadError(path, "truncated JPEG: the file ends before the image data")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            raise ImageReadError(path, "corrupt JPEG: end-of-image marker before any image data")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # markers without a length field
        if pos + 2 > n:
            raise ImageReadError(path, "truncated JPEG: the file ends inside a marker segment")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise ImageReadError(path, "truncated JPEG: a marker segment runs past the end")
        pos += length
        if marker == 0xDA:  # start of scan
            break
        if pos >= n or data[pos] != 0xFF:
            raise ImageReadError(path, f"corrupt JPEG: expected a marker at byte {pos}")
    if data.find(b"\xff\xd9", pos) == -1:
        raise ImageReadError(
            path, "truncated JPEG: no end-of-image (EOI) marker; the file was cut short"
        )


def check_image(path: str | os.PathLike[str]) -> None:
    """Check that a file is a complete, plausible image without decoding its pixels.

    Reads the file and checks its structure: PNG chunks (lengths, CRCs, ``IEND``), JPEG marker
    segments and end-of-image marker. DICOM and other formats are decoded, since their decoder
    is the only judge for them. About 40 times faster than :func:`read_image` on PNGs.

    Args:
        path: The file to check.

    Raises:
        ImageReadError: The file is missing, empty, unreadable, truncated or not an image; the
            message names the file and the reason.
        DependencyError: A DICOM file was given and ``pydicom`` is not installed.

    Examples:
        >>> import tempfile, os
        >>> from xraycls.io import check_image
        >>> path = os.path.join(tempfile.mkdtemp(), "notes.png")
        >>> with open(path, "w") as fh:
        ...     _ = fh.write("not an image")
        >>> check_image(path)
        Traceback (most recent call last):
        ...
        xraycls.errors.ImageReadError: ...notes.png: not an image: ...
    """
    spath = os.fspath(path)
    data = _read_bytes(spath)
    fmt = _sniff(spath, data)
    if fmt == "png":
        _check_png(spath, data)
    elif fmt == "jpeg":
        _check_jpeg(spath, data)
    elif fmt == "dicom":
        _decode_dicom(spath, data)  # rare in practice; decoding is the only reliable check
    else:
        _decode_other(spath, data)


def _not_an_image(path: str, data: bytes) -> ImageReadError:
    head = data[:8]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        what = f"looks like text ({head.decode('ascii', 'replace')!r}...)"
    else:
        what = f"starts with bytes {head.hex(' ')}"
    return ImageReadError(
        path, f"not an image: the content is not a format OpenCV can decode; it {what}"
    )


def _decode_other(path: str, data: bytes) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise _not_an_image(path, data)
    return arr


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, np.nan)
    lo, hi = np.nanmin(a), np.nanmax(a)
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    out = (np.nan_to_num(a, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _composite_alpha(arr: np.ndarray) -> np.ndarray:
    # Composite on black: colour * alpha. Done in float before any 8-bit scaling so 16-bit
    # alpha keeps its precision.
    color = arr[..., :-1].astype(np.float64)
    alpha = arr[..., -1:].astype(np.float64)
    amax = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    out = color * (alpha / amax)
    if arr.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def _finish(arr: np.ndarray, channels: int, bgr: bool) -> np.ndarray:
    """Turn any decoded array (2-D, or 3-D with 1-4 channels) into uint8 RGB or gray."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = _composite_alpha(arr)  # gray+alpha or colour+alpha
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        gray = arr
        if channels == 1:
            return np.ascontiguousarray(gray[..., None])
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"unsupported decoded shape {arr.shape}")
    if channels == 1:
        code = cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY
        return np.ascontiguousarray(cv2.cvtColor(arr, code)[..., None])
    if bgr:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(arr)


def _import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise DependencyError(_DICOM_HINT) from None
    return pydicom


def _decode_dicom(path: str, data: bytes) -> np.ndarray:
    pydicom = _import_pydicom()
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pydicom 2.x
        from pydicom.pixel_data_handlers.util import (  # type: ignore[no-redef]
            apply_modality_lut,
            apply_voi_lut,
        )
    try:
        dcm = pydicom.dcmread(_stdio.BytesIO(data), force=True)
        pixels = dcm.pixel_array
    except Exception as exc:  # pydicom raises many types for corrupt or unsupported files
        raise ImageReadError(path, f"cannot decode DICOM pixel data: {exc}") from None
    photometric = str(getattr(dcm, "PhotometricInterpretation", "MONOCHROME2")).upper()
    frames = int(getattr(dcm, "NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[0]
    if photometric.startswith("MONOCHROME"):
        values = apply_modality_lut(pixels, dcm)
        values = apply_voi_lut(values, dcm, index=0)
        out = _to_uint8(np.asarray(values, dtype=np.float64))
        if photometric == "MONOCHROME1":
            out = 255 - out  # MONOCHROME1 stores bone dark; flip so every image looks alike
        return out
    if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422") and pixels.ndim == 3:
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        return _to_uint8(np.asarray(pixels))
    raise ImageReadError(path, f"unsupported DICOM PhotometricInterpretation {photometric!r}")


def read_image(path: str | os.PathLike[str], channels: int = 3) -> np.ndarray:
    """Read one image file into a ``uint8`` array.

    Args:
        path: The image file (PNG, JPEG, BMP, TIFF, WebP, or DICOM with ``pydicom``).
        channels: 3 for RGB ``(H, W, 3)`` (gray is replicated), 1 for gray ``(H, W, 1)``.

    Returns:
        A C-contiguous ``uint8`` array; see the module docstring for the conversion rules
        (alpha on black, 16-bit min-max scaled, JPEG EXIF orientation applied).

    Raises:
        ImageReadError: Missing, empty, unreadable, truncated, corrupt or non-image file. The
            error has ``.path`` and ``.reason``.
        DependencyError: A DICOM file was given and ``pydicom`` is not installed.
        ValueError: ``channels`` is not 1 or 3.

    Examples:
        >>> import numpy as np, cv2, tempfile, os
        >>> from xraycls.io import read_image
        >>> path = os.path.join(tempfile.mkdtemp(), "deep.png")
        >>> _ = cv2.imwrite(path, np.array([[0, 1000, 4000]], np.uint16))  # 12-bit in 16
        >>> read_image(path, channels=1)[0, :, 0].tolist()
        [0, 64, 255]
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    spath = os.fspath(path)
    data = _read_bytes(spath)
    fmt = _sniff(spath, data)
    arr: np.ndarray | None
    if fmt == "dicom":
        arr = _decode_dicom(spath, data)
        return _finish(arr, channels, bgr=False)
    if fmt == "jpeg":
        _check_jpeg(spath, data)
        # IMREAD_COLOR/GRAYSCALE apply the EXIF orientation (IMREAD_UNCHANGED would not); JPEG
        # has no alpha and is 8-bit, so nothing else is lost.
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if arr is None or arr.size == 0:
            raise ImageReadError(spath, "corrupt JPEG: OpenCV could not decode it")
        return _finish(arr, channels, bgr=True)
    if fmt == "png":
        _check_png(spath, data)
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None or arr.size == 0:
            raise ImageReadError(spath, "corrupt PNG: OpenCV could not decode it")
    else:
        arr = _decode_other(spath, data)
    try:
        return _finish(arr, channels, bgr=True)
    except ValueError as exc:
        raise ImageReadError(spath, f"unsupported pixel layout: {exc}") from None
