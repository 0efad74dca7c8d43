"""Decode one image, a file (:func:`load_image`) or bytes in memory (:func:`decode_image`), to a
``uint8`` array, with the file's name in every error and none of its bytes.

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

The file is read as bytes and decoded with :func:`cv2.imdecode` (the path of
:func:`decode_image` too), so paths with spaces and non-ASCII characters work on every platform.
Pillow is not used: its header parsers refuse the hostile TIFF and WebP headers that OpenCV
would still decode, and it hides a bomb's declared size behind its own process-wide limit.

OpenCV decodes a truncated PNG or JPEG partially with only a warning on stderr;
:func:`check_image` (run by :func:`load_image`) therefore checks the file structure first: a PNG
must reach its ``IEND`` chunk with valid chunk CRCs, a JPEG must have an end-of-image marker after
its first scan.

**Pixel limit.** A small file can declare a huge image (a 109 KB PNG of 30000x30000 pixels
decodes to 900 MB or more). Before anything is decoded, the image size is read from the header
(PNG ``IHDR``, JPEG start-of-frame, BMP, TIFF, WebP, PNM, DICOM ``Rows``/``Columns``/frames)
and a file above the limit is refused with :class:`~xraycls.errors.ImageReadError`. The limit
is :data:`DEFAULT_MAX_PIXELS` (100 megapixels, ten times a large radiograph); change it per
call with ``max_pixels=``, or for the whole process with the environment variable
``XRAYCLS_MAX_PIXELS`` (``0`` turns it off). Formats whose header xraycls does not parse fall
back on OpenCV's own limit (``OPENCV_IO_MAX_IMAGE_PIXELS``, set to the same value when unset).

**Decoded-bytes limit.** Pixels alone do not bound memory: a 16-bit RGBA pixel takes 8 bytes.
The header's width x height x frames x channels x bytes per sample is checked against
:data:`DEFAULT_MAX_DECODE_BYTES` (512 MiB; ``max_decode_bytes=`` per call,
``XRAYCLS_MAX_DECODE_BYTES`` for the process, ``0`` turns it off) before decoding, and the
conversion to ``uint8`` (alpha compositing, min-max scaling) works on blocks of rows, so a decode
needs about the decoded buffer plus the ``uint8`` result, not float64 copies of the image.

Examples:
    >>> import numpy as np, cv2, tempfile, os
    >>> from xraycls.io import load_image
    >>> path = os.path.join(tempfile.mkdtemp(), "scan 1.png")
    >>> _ = cv2.imwrite(path, np.full((4, 5), 200, np.uint8))
    >>> img = load_image(path)
    >>> img.shape, img.dtype, int(img[0, 0, 0])
    ((4, 5, 3), dtype('uint8'), 200)
"""

from __future__ import annotations

import io as _stdio
import os
import re
import struct
import warnings
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from xraycls.errors import ConfigError, DependencyError, ImageReadError

#: Default largest image, in pixels (width x height x frames), that is decoded: 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000
#: Environment variable that sets the pixel limit for the whole process (``0``: no limit).
MAX_PIXELS_ENV = "XRAYCLS_MAX_PIXELS"
#: Default largest decoded buffer, in bytes (width x height x frames x channels x bytes per
#: sample, from the header): 512 MiB. A 100-megapixel 8-bit RGB image (300 MB) fits; a
#: 10000x9999 16-bit RGBA PNG (800 MB) does not, though it is under the pixel limit.
DEFAULT_MAX_DECODE_BYTES = 512 << 20
#: Environment variable that sets the decoded-bytes limit for the whole process (``0``: none).
MAX_DECODE_BYTES_ENV = "XRAYCLS_MAX_DECODE_BYTES"
#: Most start-of-scan markers accepted in a JPEG. A progressive JPEG has about 10 scans
#: (libjpeg's default script has 10, Pillow's 6-10); libjpeg decodes each one over the whole
#: image, so a small file that repeats scans can take tens of seconds.
MAX_JPEG_SCANS = 64


# OpenCV checks its own pixel limit in every decoder, read from this variable on first use. It
# backs up the header checks below for the formats xraycls does not parse (Sun raster, EXR...).
# OpenCV reads it once, when cv2 is first imported, so this only takes effect when nothing
# imported cv2 before xraycls.io (the CLI entry point sets it first thing too).
def _opencv_limit() -> str:
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    wanted = int(raw) if raw.isdigit() else DEFAULT_MAX_PIXELS
    # Never below our default, so a per-call max_pixels= above it still works for parsed formats;
    # "0" (no limit) keeps OpenCV's own default of 2**30.
    return str(max(wanted, DEFAULT_MAX_PIXELS) if wanted else 2**30)


os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", _opencv_limit())

import cv2  # noqa: E402  (after the environment default above)

__all__ = [
    "DEFAULT_MAX_DECODE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_DECODE_BYTES_ENV",
    "MAX_JPEG_SCANS",
    "MAX_PIXELS_ENV",
    "check_image",
    "check_images",
    "decode_byte_limit",
    "decode_image",
    "image_format",
    "load_image",
    "pixel_limit",
    "read_image",
]

#: File name extensions treated as images by dataset loaders (lower case, with the dot).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_DICOM_EXTENSIONS = (".dcm", ".dicom")
_MAX_LISTED = 200  # bad files named in one error message
_DICOM_HINT = 'reading DICOM files needs pydicom: pip install "xraycls[dicom]"'

_Format = Literal["png", "jpeg", "dicom", "other"]


# No image format stores more than 8 bytes per pixel (16-bit RGBA, uncompressed) plus headers,
# so a file larger than this for the pixel limit is refused before it is read into memory.
_BYTES_PER_PIXEL = 8
_HEADER_SLACK = 64 << 20


def _check_file_size(name: str, size: int, limit: int | None) -> None:
    """Refuse ``size`` bytes of file when no image within the pixel limit can need that many."""
    if limit is not None and size > limit * _BYTES_PER_PIXEL + _HEADER_SLACK:
        raise ImageReadError(
            name,
            f"file too large: {size:,} bytes is more than any image within the pixel "
            f"limit of {limit / 1e6:,.1f} megapixels can need; raise the limit with "
            f"max_pixels= or {MAX_PIXELS_ENV} if the file is genuine",
        )


def _read_bytes(path: str, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as fh:
            _check_file_size(path, os.fstat(fh.fileno()).st_size, limit)
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


def _sniff(name: str, data: bytes) -> _Format:
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data[128:132] == b"DICM" or name.lower().endswith(_DICOM_EXTENSIONS):
        return "dicom"
    return "other"


# Signatures of common non-image files, named instead of echoing the file's bytes (an error
# message can reach a web client, a log or a CSV; the bytes of an upload must not).
_KNOWN_CONTENT = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or a .docx/.xlsx/.keras file)",
    b"\x1f\x8b": "gzip-compressed data",
    b"GIF8": "a GIF image (not supported)",
    b"\x89HDF": "an HDF5 file",
}


def _describe(data: bytes | bytearray | memoryview) -> str:
    """What the content looks like, in words that never quote the content itself."""
    head = bytes(data[:8])
    for magic, what in _KNOWN_CONTENT.items():
        if head.startswith(magic):
            return f"it looks like {what}"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "it looks like text"
    return "its first bytes are no PNG, JPEG, DICOM or other image signature"


_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "dicom": "DICOM", "other": "other image"}


def image_format(
    data: bytes | bytearray | memoryview,
    *,
    name: str = "image bytes",
    accept: Sequence[str] | None = None,
) -> str:
    """The format of encoded image bytes, from their signature: ``"png"``, ``"jpeg"``,
    ``"dicom"`` (the ``DICM`` preamble, or a ``.dcm``/``.dicom`` ``name``) or ``"other"``
    (left to OpenCV: BMP, TIFF, WebP...).

    Args:
        data: The encoded bytes (only the first 132 are looked at).
        name: The file or upload, for the error message and the DICOM extension.
        accept: Formats allowed (a subset of the four above); ``None`` allows all.

    Raises:
        ImageReadError: ``data`` is empty, or its format is not in ``accept``. The message
            names ``name`` and describes the content without quoting it.

    Examples:
        >>> from xraycls.io import image_format
        >>> image_format(b"\\x89PNG\\r\\n\\x1a\\n....")
        'png'
        >>> image_format(b"secret: hunter2", name="notes.txt", accept=["png", "jpeg"])
        Traceback (most recent call last):
        ...
        xraycls.errors.ImageReadError: notes.txt: not a PNG or JPEG image: it looks like text
    """
    if not len(data):
        raise ImageReadError(name, "empty (0 bytes)")
    fmt = _sniff(name, bytes(data[:132]))
    if accept is not None and fmt not in accept:
        names = [_FORMAT_NAMES.get(f, f) for f in accept]
        listed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ImageReadError(name, f"not a {listed} image: {_describe(data)}")
    return fmt


def _env_limit(value: int | None, env: str, default: int, unit: str) -> int | None:
    """``value``, else the environment variable ``env``, else ``default``; ``<= 0`` -> ``None``."""
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        try:
            value = int(float(raw)) if "e" in raw.lower() else int(raw)
        except ValueError:
            raise ConfigError(
                f"environment variable {env}={raw!r} is not a {unit} count; set it to an "
                f"integer such as {default} (0 = no limit) or unset it"
            ) from None
    return int(value) if value > 0 else None


def pixel_limit(max_pixels: int | None = None) -> int | None:
    """The pixel limit in force: ``max_pixels`` if given, else ``XRAYCLS_MAX_PIXELS``, else
    :data:`DEFAULT_MAX_PIXELS`. ``0`` (or a negative value) means no limit and gives ``None``.

    Raises:
        ConfigError: ``XRAYCLS_MAX_PIXELS`` is set to something that is not an integer.

    Examples:
        >>> from xraycls.io import pixel_limit
        >>> pixel_limit(), pixel_limit(4096), pixel_limit(0)
        (100000000, 4096, None)
    """
    return _env_limit(max_pixels, MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS, "pixel")


def decode_byte_limit(max_decode_bytes: int | None = None) -> int | None:
    """The decoded-bytes limit in force: ``max_decode_bytes`` if given, else
    ``XRAYCLS_MAX_DECODE_BYTES``, else :data:`DEFAULT_MAX_DECODE_BYTES`. ``0`` (or a negative
    value) means no limit and gives ``None``.

    The pixel limit alone does not bound memory: a 16-bit RGBA pixel takes 8 bytes where an 8-bit
    gray one takes 1, so the header's width x height x frames x channels x bytes per sample is
    checked against this limit too, before decoding.

    Raises:
        ConfigError: ``XRAYCLS_MAX_DECODE_BYTES`` is set to something that is not an integer.

    Examples:
        >>> from xraycls.io import decode_byte_limit
        >>> decode_byte_limit() == 512 << 20 and decode_byte_limit(0) is None
        True
    """
    return _env_limit(max_decode_bytes, MAX_DECODE_BYTES_ENV, DEFAULT_MAX_DECODE_BYTES, "byte")


def _check_size(
    path: str,
    size: tuple[int, int, int] | None,
    layout: tuple[int, int],
    limit: int | None,
    blimit: int | None,
) -> None:
    """Refuse, before decoding, a declared ``(width, height, frames)`` above the pixel
    ``limit``, or a decode buffer (``layout``: channels, bytes per sample) above ``blimit``."""
    if size is None:
        return
    width, height, frames = size
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"corrupt header: the image declares a size of {width}x{height}")
    what = f"{width}x{height}" + (f"x{frames} frames" if frames > 1 else "")
    pixels = width * height * max(frames, 1)
    if limit is not None and pixels > limit:
        raise ImageReadError(
            path,
            f"image too large: the header declares {what} = {pixels / 1e6:,.1f} megapixels, "
            f"above the limit of {limit / 1e6:,.1f} megapixels (a decompression bomb, or a "
            f"genuine huge image: then raise the limit with max_pixels= or the environment "
            f"variable {MAX_PIXELS_ENV})",
        )
    channels, sample_bytes = layout
    total = pixels * channels * sample_bytes
    if blimit is not None and total > blimit:
        raise ImageReadError(
            path,
            f"decoded size too large: the header declares {what} x {channels} channel(s) x "
            f"{sample_bytes} byte(s) per sample = {total:,} bytes, above the limit of "
            f"{blimit:,} bytes for one decode (raise it with max_decode_bytes= or the "
            f"environment variable {MAX_DECODE_BYTES_ENV} if the file is genuine)",
        )


# Channels OpenCV's IMREAD_UNCHANGED gives per PNG colour type: palette images come out as BGR,
# or BGRA with a tRNS chunk, and gray+alpha as BGRA; the larger count is assumed.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}


def _png_layout(data: bytes) -> tuple[int, int]:
    """``(channels, bytes per sample)`` of the decoded PNG, from ``IHDR`` (already checked)."""
    depth, color = data[24], data[25]
    return _PNG_CHANNELS.get(color, 4), 2 if depth == 16 else 1


def _other_layout(data: bytes) -> tuple[int, int]:
    """An upper bound of ``(channels, bytes per sample)`` for formats whose depth is not parsed:
    BMP and WebP are 8-bit with at most 4 channels, PNM at most 16-bit RGB, TIFF anything up to
    16-bit RGBA (float TIFFs are rarer than this bound is loose)."""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return 4, 2
    if data[:1] == b"P":
        return 3, 2
    return 4, 1


def _png_size(path: str, data: bytes) -> tuple[int, int, int]:
    # The PNG standard puts IHDR first: length 13, then width and height as big-endian uint32.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageReadError(path, "corrupt PNG: the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, 1


# JPEG start-of-frame markers (every coding process); C4 (DHT), C8 (JPG), CC (DAC) are not SOFs.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _bmp_size(data: bytes) -> tuple[int, int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:  # height < 0 means top-down rows
        width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height), 1


def _webp_size(data: bytes) -> tuple[int, int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:  # 24-bit canvas size minus one
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height, 1
    if kind == b"VP8 " and len(data) >= 30:  # key frame: 14-bit sizes after the start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF, 1
    if kind == b"VP8L" and len(data) >= 25:  # 14-bit sizes minus one, packed in 4 bytes
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    return None


def _tiff_size(data: bytes) -> tuple[int, int, int] | None:
    # First IFD only: that is the page OpenCV decodes.
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    sizes: dict[int, int] = {}
    for i in range(min(count, 4096)):
        pos = ifd + 2 + 12 * i
        if pos + 12 > len(data):
            break
        tag, typ = struct.unpack(order + "HH", data[pos : pos + 4])
        if tag in (256, 257):
            fmt = "H" if typ == 3 else "I"
            value = data[pos + 8 : pos + 8 + struct.calcsize(fmt)]
            (sizes[tag],) = struct.unpack(order + fmt, value)
    if 256 in sizes and 257 in sizes:
        return sizes[256], sizes[257], 1
    return None


def _pnm_size(data: bytes) -> tuple[int, int, int] | None:
    # "P5 # comment\n 640 480 255": whitespace-separated tokens, '#' starts a comment.
    tokens: list[int] = []
    for line in data[2:512].split(b"\n"):
        for token in line.split(b"#", 1)[0].split():
            if not token.isdigit():
                return None
            tokens.append(int(token))
            if len(tokens) == 2:
                return tokens[0], tokens[1], 1
    return None


def _other_size(data: bytes) -> tuple[int, int, int] | None:
    """Declared size of a BMP, TIFF, WebP or PNM file; ``None`` for a format not parsed here."""
    if data.startswith(b"BM"):
        return _bmp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if len(data) > 2 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return _pnm_size(data)
    return None


def _imdecode(path: str, data: bytes, flag: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        # OpenCV raises (instead of returning None) for sizes above its own limit and for
        # some malformed headers; the first line of its message is the useful part.
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise ImageReadError(
            path, f"OpenCV could not decode it: {lines[-1] if lines else 'unknown error'}"
        ) from None


def _check_png(path: str, data: bytes) -> None:
    # Walk the chunk list: every chunk must fit in the file, critical chunks (IHDR, PLTE, IDAT,
    # IEND: upper-case first letter) must carry a valid CRC, and IEND must be reached. Like libpng,
    # a bad CRC in an ancillary chunk (text, colour profile...) is tolerated. zlib.crc32 runs at
    # memory speed, so this costs far less than decoding.
    _png_size(path, data)
    pos = len(_PNG_MAGIC)
    n = len(data)
    while True:
        if pos + 8 > n:
            raise ImageReadError(path, "truncated PNG: the file ends before the IEND chunk")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        # A chunk type is four ASCII letters; anything else is named, not quoted.
        chunk = repr(ctype.decode("ascii")) if ctype.isalpha() else "with an invalid type"
        end = pos + 12 + length
        if end > n:
            raise ImageReadError(
                path, f"truncated PNG: chunk {chunk} at byte {pos} runs past the end of the file"
            )
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        critical = not ctype[0] & 0x20
        if critical and zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise ImageReadError(path, f"corrupt PNG: bad CRC in chunk {chunk} at byte {pos}")
        if ctype == b"IEND":
            return
        pos = end


def _check_jpeg(path: str, data: bytes) -> tuple[tuple[int, int, int] | None, int]:
    """Check the marker structure; return the start-of-frame size (``None`` if no SOF) and the
    bytes per decoded sample (2 for 12- and 16-bit JPEGs)."""
    # Skip the marker segments (APPn holds EXIF thumbnails with their own EOI) up to the first
    # start-of-scan; after it 0xFF is byte-stuffed, so an FF D9 pair can only be the real EOI.
    pos = 2
    n = len(data)
    size: tuple[int, int, int] | None = None
    sample_bytes = 1
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
        if marker in _JPEG_SOF and length >= 7 and size is None:
            # precision (1 byte), then height and width as big-endian uint16
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            size = (width, height, 1)
            sample_bytes = 2 if data[pos + 2] > 8 else 1
        pos += length
        if marker == 0xDA:  # start of scan
            break
        if pos >= n or data[pos] != 0xFF:
            raise ImageReadError(path, f"corrupt JPEG: expected a marker at byte {pos}")
    eoi = data.find(b"\xff\xd9", pos)
    if eoi == -1:
        raise ImageReadError(
            path, "truncated JPEG: no end-of-image (EOI) marker; the file was cut short"
        )
    # Entropy-coded data byte-stuffs 0xFF, so FF DA up to the EOI is a start-of-scan marker
    # (or, at worst, bytes of a table between scans: counting those too only errs on the safe
    # side). Data after the EOI (a second picture of a multi-picture file) is not decoded.
    scans = 1 + data.count(b"\xff\xda", pos, eoi)
    if scans > MAX_JPEG_SCANS:
        raise ImageReadError(
            path,
            f"JPEG has {scans} scans, above the limit of {MAX_JPEG_SCANS} (a progressive JPEG "
            "has about 10; each scan is decoded over the whole image, so this many would take "
            "very long): refused as hostile or broken",
        )
    return size, sample_bytes


def check_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
) -> None:
    """Check that a file is a complete, plausible image without decoding its pixels.

    Reads the file and checks its structure: PNG chunks (lengths, CRCs, ``IEND``), JPEG marker
    segments and end-of-image marker. DICOM and other formats are decoded, since their decoder
    is the only judge for them. About 40 times faster than :func:`load_image` on PNGs.

    Args:
        path: The file to check.
        max_pixels: Largest image accepted, in pixels; ``None`` uses :func:`pixel_limit`
            (``XRAYCLS_MAX_PIXELS`` or 100 megapixels), ``0`` accepts any size.
        max_decode_bytes: Largest decoded buffer accepted, in bytes, from the header;
            ``None`` uses :func:`decode_byte_limit` (``XRAYCLS_MAX_DECODE_BYTES`` or 512 MiB),
            ``0`` accepts any size.

    Raises:
        ImageReadError: The file is missing, empty, unreadable, truncated, not an image, or
            declares more pixels or decoded bytes than the limits; the message names the file
            and the reason.
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
    limit = pixel_limit(max_pixels)
    blimit = decode_byte_limit(max_decode_bytes)
    spath = os.fspath(path)
    data = _read_bytes(spath, limit)
    fmt = _sniff(spath, data)
    if fmt in ("png", "jpeg"):
        _check_structure(spath, data, fmt, 3, limit, blimit)
    elif fmt == "dicom":
        # rare in practice; decoding is the only reliable check
        _decode_dicom(spath, data, limit, blimit)
    else:
        _decode_other(spath, data, limit, blimit)


def _check_structure(
    name: str, data: bytes, fmt: str, channels: int, limit: int | None, blimit: int | None
) -> None:
    """Check a PNG's chunks or a JPEG's markers, then its declared size against the limits."""
    size: tuple[int, int, int] | None
    if fmt == "png":
        _check_png(name, data)
        size = _png_size(name, data)
        layout = _png_layout(data)
    else:
        size, sample_bytes = _check_jpeg(name, data)
        layout = (channels, sample_bytes)
    _check_size(name, size, layout, limit, blimit)


def _not_an_image(path: str, data: bytes) -> ImageReadError:
    return ImageReadError(
        path, f"not an image: the content is not a format OpenCV can decode; {_describe(data)}"
    )


def _decode_other(path: str, data: bytes, limit: int | None, blimit: int | None) -> np.ndarray:
    size = _other_size(data)
    _check_size(path, size, _other_layout(data), limit, blimit)
    arr = _imdecode(path, data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise _not_an_image(path, data)
    return arr


# Conversions below work on blocks of rows of about this many values: a float64 copy of a
# whole 100-megapixel RGBA image is 3.2 GB, a block is 8 MB; the result is the same.
_BLOCK = 1 << 20


def _blocks(arr: np.ndarray) -> list[slice]:
    per_row = max(1, arr[0].size) if arr.ndim > 1 else 1
    step = max(1, _BLOCK // per_row)
    return [slice(i, i + step) for i in range(0, arr.shape[0], step)]


def _scale_into(out: np.ndarray, block: np.ndarray, lo: float, scale: float) -> None:
    """Write ``rint((block - lo) * scale)`` clipped to 0..255 into ``out``; ``block`` is a
    float64 scratch array and is overwritten."""
    block -= lo
    block *= scale
    np.rint(block, out=block)
    np.clip(block, 0, 255, out=block)
    out[...] = block


def _value_range(arr: np.ndarray) -> tuple[float, float] | None:
    """Smallest and largest finite value (``None`` if there is none), without a full copy."""
    if np.issubdtype(arr.dtype, np.integer):
        return (float(arr.min()), float(arr.max())) if arr.size else None
    lo, hi = np.inf, -np.inf
    for rows in _blocks(arr):
        block = arr[rows]
        finite = block[np.isfinite(block)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else None


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    span = _value_range(arr)
    out = np.zeros(arr.shape, np.uint8)
    if span is None or span[1] <= span[0]:
        return out  # constant (or all non-finite): all zeros
    lo, hi = span
    for rows in _blocks(arr):
        block = arr[rows].astype(np.float64)
        if not np.issubdtype(arr.dtype, np.integer):
            block[~np.isfinite(block)] = lo  # NaN and inf become the minimum, as before
        _scale_into(out[rows], block, lo, 255.0 / (hi - lo))
    return out


def _composite_block(arr: np.ndarray, amax: float) -> np.ndarray:
    color = arr[..., :-1].astype(np.float64)
    color *= arr[..., -1:] / amax
    return color


def _composite_alpha(arr: np.ndarray) -> np.ndarray:
    """Composite on black (colour * alpha) and scale to ``uint8``, block by block.

    Compositing is done in float before any 8-bit scaling so 16-bit alpha keeps its precision;
    for deeper than 8 bits the min-max scaling needs the range of the composited values, so
    a first pass finds it and a second writes the result (recomputing a block is cheaper than
    keeping a float64 copy of the image).
    """
    amax = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    out = np.zeros((*arr.shape[:-1], arr.shape[-1] - 1), np.uint8)
    if arr.dtype == np.uint8:
        for rows in _blocks(arr):
            _scale_into(out[rows], _composite_block(arr[rows], amax), 0.0, 1.0)
        return out
    lo, hi = np.inf, -np.inf
    for rows in _blocks(arr):
        block = _composite_block(arr[rows], amax)
        finite = block[np.isfinite(block)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if not lo < hi:
        return out
    for rows in _blocks(arr):
        block = _composite_block(arr[rows], amax)
        block[~np.isfinite(block)] = lo
        _scale_into(out[rows], block, lo, 255.0 / (hi - lo))
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
        # In place when possible: the array is the decoder's (or the conversion's) own, and a
        # second full-size copy would be a third of a large decode's peak memory.
        inplace = arr.flags.writeable and arr.flags.c_contiguous
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr if inplace else None)
    return np.ascontiguousarray(arr)


def _import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise DependencyError(_DICOM_HINT) from None
    return pydicom


_DEFLATED_TS = b"1.2.840.10008.1.2.1.99"
_EXPLICIT_LE_TS = b"1.2.840.10008.1.2.1"
# Explicit-VR elements whose length is 4 bytes after 2 reserved ones (PS3.5 7.1.2).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})  # fmt: skip
# Room for the non-pixel elements of an inflated dataset, on top of the decoded-bytes limit.
_DICOM_SLACK = 16 << 20


def _dicom_meta(data: bytes) -> tuple[int, int, int] | None:
    """Walk the file meta group (0002): ``(end of the meta, offset, length)`` of the
    TransferSyntaxUID value, or ``None`` without a preamble or that element."""
    if data[128:132] != b"DICM":
        return None
    pos, ts = 132, None
    while pos + 8 <= len(data):
        group, element = struct.unpack("<HH", data[pos : pos + 4])
        if group != 2:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack("<I", data[pos + 8 : pos + 12])
            start = pos + 12
        else:
            (length,) = struct.unpack("<H", data[pos + 6 : pos + 8])
            start = pos + 8
        if element == 0x10:
            ts = (start, length)
        pos = start + length
    return None if ts is None else (pos, *ts)


def _inflate_dicom(path: str, data: bytes, blimit: int | None) -> bytes:
    """Inflate a Deflated Explicit VR Little Endian file into a plain explicit-VR one, stopping
    as soon as the dataset outgrows what the decoded-bytes limit allows.

    pydicom inflates the whole dataset with one ``zlib.decompress`` before the Rows/Columns
    check can run, so a 400 KB file could take gigabytes; here the inflation is bounded.
    """
    meta = _dicom_meta(data)
    if meta is None:
        return data
    meta_end, ts_at, ts_len = meta
    if data[ts_at : ts_at + ts_len].rstrip(b"\0 ") != _DEFLATED_TS:
        return data
    cap = None if blimit is None else blimit + _DICOM_SLACK
    # Same length, padded with NULs (pydicom strips them), so the group length stays right.
    out = bytearray(data[:ts_at])
    out += _EXPLICIT_LE_TS.ljust(ts_len, b"\0") + data[ts_at + ts_len : meta_end]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending, size = data[meta_end:], 0
    try:
        while pending:
            chunk = inflater.decompress(pending, 1 << 20)
            pending = inflater.unconsumed_tail
            size += len(chunk)
            if cap is not None and size > cap:
                raise ImageReadError(
                    path,
                    f"deflated DICOM dataset inflates to more than {cap:,} bytes (the "
                    f"decoded-bytes limit of {blimit:,} plus {_DICOM_SLACK:,} for the other "
                    "elements): a decompression bomb, or a genuine huge file: then raise the "
                    f"limit with max_decode_bytes= or {MAX_DECODE_BYTES_ENV}",
                )
            out += chunk
        out += inflater.flush()
    except zlib.error as exc:
        raise ImageReadError(path, f"corrupt deflated DICOM dataset: {_excerpt(exc)}") from None
    return bytes(out)


def _decode_dicom(path: str, data: bytes, limit: int | None, blimit: int | None) -> np.ndarray:
    pydicom = _import_pydicom()
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pydicom 2.x
        from pydicom.pixel_data_handlers.util import (  # type: ignore[no-redef]
            apply_modality_lut,
            apply_voi_lut,
        )
    data = _inflate_dicom(path, data, blimit)
    try:
        dcm = pydicom.dcmread(_stdio.BytesIO(data), force=True)
        # pixel_array decodes lazily, so the size check below runs before any allocation.
        declared = (
            int(dcm.get("Columns", 0) or 0),
            int(dcm.get("Rows", 0) or 0),
            int(dcm.get("NumberOfFrames", 1) or 1),
        )
        # pixel_array decodes every frame at BitsAllocated per sample.
        samples = int(dcm.get("SamplesPerPixel", 1) or 1)
        sample_bytes = (int(dcm.get("BitsAllocated", 8) or 8) + 7) // 8
    except Exception as exc:  # pydicom raises many types for corrupt or unsupported files
        raise ImageReadError(path, f"cannot read the DICOM header: {_excerpt(exc)}") from None
    if "PixelData" in dcm:
        _check_size(path, declared, (samples, sample_bytes), limit, blimit)
    try:
        pixels = dcm.pixel_array
    except Exception as exc:  # pydicom raises many types for corrupt or unsupported files
        raise ImageReadError(path, f"cannot decode DICOM pixel data: {_excerpt(exc)}") from None
    try:
        return _dicom_to_uint8(path, dcm, pixels, apply_modality_lut, apply_voi_lut)
    except ImageReadError:
        raise
    except Exception as exc:  # a malformed LUT, window or rescale fails deep inside pydicom
        raise ImageReadError(
            path,
            f"malformed DICOM rescale, window or VOI LUT: {type(exc).__name__}: {_excerpt(exc)}",
        ) from None


def _excerpt(exc: object, limit: int = 120) -> str:
    """A decoder's message without the file's bytes: pydicom and Python quote element values
    (``could not convert string to float: 'x7y!'``), and an error can reach a web client, so
    quoted parts are blanked, the rest kept to printable ASCII and cut short."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", str(exc))
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first(value: Any) -> Any:
    # WindowCenter/WindowWidth may be multi-valued (one per window); pydicom's index=0 uses
    # the first, so this checks the same one.
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _checked_window(path: str, dcm: Any) -> bool:
    """Whether the VOI window can be applied: ``False`` (with a warning) for a WindowWidth
    below 1; an ``ImageReadError`` for a window that is not a pair of finite numbers."""
    if "VOILUTSequence" in dcm or "WindowWidth" not in dcm or "WindowCenter" not in dcm:
        return True  # a VOI LUT wins over the window in pydicom; a half window is ignored
    width, center = _first(dcm.WindowWidth), _first(dcm.WindowCenter)
    try:
        w, c = float(width), float(center)
    except (TypeError, ValueError):
        w = c = float("nan")
    if not (np.isfinite(w) and np.isfinite(c)):
        raise ImageReadError(
            path,
            "malformed DICOM window: WindowCenter and WindowWidth must be finite numbers",
        )
    if w < 1:
        # WindowWidth 0 occurs in real files (a modality that leaves the window unset); the
        # standard requires >= 1, so the window is meaningless: scale the full range instead.
        warnings.warn(
            f"{path}: DICOM WindowWidth is {width} (the standard needs at least 1); the window "
            "is ignored and the full range of values is scaled",
            UserWarning,
            stacklevel=5,
        )
        return False
    return True


def _dicom_to_uint8(
    path: str, dcm: Any, pixels: np.ndarray, apply_modality_lut: Any, apply_voi_lut: Any
) -> np.ndarray:
    photometric = str(getattr(dcm, "PhotometricInterpretation", "MONOCHROME2")).upper()
    frames = int(getattr(dcm, "NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[0]
    if photometric.startswith("MONOCHROME"):
        values = apply_modality_lut(pixels, dcm)
        if _checked_window(path, dcm):
            values = apply_voi_lut(values, dcm, index=0)
        out = _to_uint8(np.asarray(values))
        if photometric == "MONOCHROME1":
            out = 255 - out  # MONOCHROME1 stores bone dark; flip so every image looks alike
        return out
    if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422") and pixels.ndim == 3:
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        return _to_uint8(np.asarray(pixels))
    # A code string (CS) is at most 16 of A-Z, 0-9, space and underscore; other content is
    # not quoted back.
    shown = repr(photometric) if re.fullmatch(r"[A-Z0-9 _]{1,16}", photometric) else "(invalid)"
    raise ImageReadError(path, f"unsupported DICOM PhotometricInterpretation {shown}")


def load_image(
    path: str | os.PathLike[str],
    channels: int = 3,
    *,
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
) -> np.ndarray:
    """Read one image file into a ``uint8`` array.

    Args:
        path: The image file (PNG, JPEG, BMP, TIFF, WebP, or DICOM with ``pydicom``).
        channels: 3 for RGB ``(H, W, 3)`` (gray is replicated), 1 for gray ``(H, W, 1)``.
        max_pixels: Largest image decoded, in pixels (width x height x frames), checked from
            the header before decoding; ``None`` uses :func:`pixel_limit`
            (``XRAYCLS_MAX_PIXELS`` or 100 megapixels), ``0`` accepts any size.
        max_decode_bytes: Largest decoded buffer, in bytes (width x height x frames x
            channels x bytes per sample), checked from the header before decoding; ``None``
            uses :func:`decode_byte_limit` (``XRAYCLS_MAX_DECODE_BYTES`` or 512 MiB), ``0``
            accepts any size. The conversion to ``uint8`` works block by block, so the peak
            memory of a decode is about this buffer plus the ``uint8`` result.

    Returns:
        A C-contiguous ``uint8`` array; see the module docstring for the conversion rules
        (alpha on black, 16-bit min-max scaled, JPEG EXIF orientation applied).

    Raises:
        ImageReadError: Missing, empty, unreadable, truncated, corrupt or non-image file, or
            an image above the pixel or decoded-bytes limit. The error has ``.path`` and
            ``.reason``.
        DependencyError: A DICOM file was given and ``pydicom`` is not installed.
        ValueError: ``channels`` is not 1 or 3.

    Examples:
        >>> import numpy as np, cv2, tempfile, os
        >>> from xraycls.io import load_image
        >>> path = os.path.join(tempfile.mkdtemp(), "deep.png")
        >>> _ = cv2.imwrite(path, np.array([[0, 1000, 4000]], np.uint16))  # 12-bit in 16
        >>> load_image(path, channels=1)[0, :, 0].tolist()
        [0, 64, 255]
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    limit = pixel_limit(max_pixels)
    spath = os.fspath(path)
    data = _read_bytes(spath, limit)
    return _decode(spath, data, channels, limit, decode_byte_limit(max_decode_bytes))


def read_image(path: str | os.PathLike[str], channels: int = 3, **limits: int | None) -> np.ndarray:
    """Deprecated: use :func:`load_image` (the same function under the library's file verb).

    Args:
        path: As for :func:`load_image`.
        channels: As for :func:`load_image`.
        **limits: ``max_pixels`` and ``max_decode_bytes``, as for :func:`load_image`.

    Returns:
        What :func:`load_image` returns.
    """
    warnings.warn("read_image is deprecated; use load_image", DeprecationWarning, stacklevel=2)
    return load_image(path, channels, **limits)


def decode_image(
    data: bytes | bytearray | memoryview,
    channels: int = 3,
    *,
    name: str = "image bytes",
    formats: Sequence[str] | None = None,
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
) -> np.ndarray:
    """Decode an image held in memory (an upload, a zip member) exactly as :func:`load_image`
    decodes a file: same formats, same checks and limits, same ``uint8`` result.

    Args:
        data: The encoded image (PNG, JPEG, BMP, TIFF, WebP, or DICOM with ``pydicom``).
        channels: 3 for RGB ``(H, W, 3)``, 1 for gray ``(H, W, 1)``.
        name: What the bytes are called in error messages (a file name or ``"upload a.png"``);
            a name ending in ``.dcm``/``.dicom`` marks a DICOM without its preamble.
        formats: Formats accepted, from ``"png"``, ``"jpeg"``, ``"dicom"`` and ``"other"``
            (see :func:`image_format`); ``None`` accepts all.
        max_pixels: As for :func:`load_image`.
        max_decode_bytes: As for :func:`load_image`.

    Returns:
        A C-contiguous ``uint8`` array, as :func:`load_image` returns.

    Raises:
        ImageReadError: Empty, not an accepted format, truncated, corrupt, or above a limit;
            ``.path`` is ``name``. Messages describe the content, never quote it.
        DependencyError: DICOM bytes and ``pydicom`` is not installed.
        ValueError: ``channels`` is not 1 or 3.

    Examples:
        >>> import numpy as np, cv2
        >>> from xraycls.io import decode_image
        >>> png = cv2.imencode(".png", np.full((4, 5), 9, np.uint8))[1].tobytes()
        >>> decode_image(png, name="upload a.png").shape
        (4, 5, 3)
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    limit = pixel_limit(max_pixels)
    image_format(data, name=name, accept=formats)
    _check_file_size(name, len(data), limit)
    raw = data if isinstance(data, bytes) else bytes(data)
    return _decode(name, raw, channels, limit, decode_byte_limit(max_decode_bytes))


def _decode(
    name: str, data: bytes, channels: int, limit: int | None, blimit: int | None
) -> np.ndarray:
    """The shared decode of :func:`load_image` and :func:`decode_image`."""
    fmt = _sniff(name, data)
    arr: np.ndarray | None
    if fmt == "dicom":
        arr = _decode_dicom(name, data, limit, blimit)
    elif fmt == "other":
        arr = _decode_other(name, data, limit, blimit)
    else:
        _check_structure(name, data, fmt, channels, limit, blimit)
        # IMREAD_COLOR/GRAYSCALE apply a JPEG's EXIF orientation (IMREAD_UNCHANGED would not);
        # JPEG has no alpha and is 8-bit, so nothing else is lost. PNG keeps depth and alpha.
        flag = cv2.IMREAD_UNCHANGED
        if fmt == "jpeg":
            flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        arr = _imdecode(name, data, flag)
        if arr is None or arr.size == 0:
            raise ImageReadError(name, f"corrupt {fmt.upper()}: OpenCV could not decode it")
    try:
        return _finish(arr, channels, bgr=fmt != "dicom")
    except (ValueError, cv2.error) as exc:
        raise ImageReadError(name, f"unsupported pixel layout: {exc}") from None


def check_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    on_error: str = "raise",
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Check many image files with :func:`check_image`; keep the good ones, name every bad one.

    Args:
        paths: Image files.
        on_error: ``"raise"``: any bad file raises one error naming every bad file;
            ``"skip"``: bad files are returned in the second list instead.
        max_pixels: Passed to :func:`check_image`.
        max_decode_bytes: Passed to :func:`check_image`.

    Returns:
        ``(good_paths, skipped)`` with ``skipped`` a list of ``(path, reason)``, both in input
        order.

    Raises:
        ImageReadError: ``on_error="raise"`` and at least one file is bad; ``.path`` is the
            first bad file and the message lists them all.
        ConfigError: ``on_error`` is neither ``"raise"`` nor ``"skip"``.

    Examples:
        >>> import numpy as np, cv2, tempfile, os
        >>> from xraycls.io import check_images
        >>> folder = tempfile.mkdtemp()
        >>> good = os.path.join(folder, "good.png")
        >>> _ = cv2.imwrite(good, np.zeros((4, 4), np.uint8))
        >>> bad = os.path.join(folder, "bad.png")
        >>> open(bad, "wb").close()
        >>> ok, skipped = check_images([good, bad], on_error="skip")
        >>> [os.path.basename(p) for p in ok], [r for _, r in skipped]
        (['good.png'], ['file is empty (0 bytes)'])
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    good: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        spath = os.fspath(path)
        try:
            check_image(spath, max_pixels=max_pixels, max_decode_bytes=max_decode_bytes)
        except ImageReadError as exc:
            skipped.append((spath, exc.reason))
        else:
            good.append(spath)
    if skipped and on_error == "raise":
        first, reason = skipped[0]
        more = "".join(f"\n  {p}: {r}" for p, r in skipped[1:_MAX_LISTED])
        if len(skipped) > _MAX_LISTED:
            more += f"\n  ... and {len(skipped) - _MAX_LISTED} more"
        err = ImageReadError(
            first, reason + (f"; {len(skipped) - 1} more bad file(s):{more}" if more else "")
        )
        err.hint = "Fix or remove them, or pass on_error='skip' to go on without them."
        err.hint_cli = "Fix or remove them, or add --on-error skip to go on without them."
        raise err
    return good, skipped
