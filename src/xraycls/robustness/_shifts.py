"""The catalogue of acquisition shifts: pure functions of ``(image, severity, seed)``.

Every shift takes a ``uint8`` or ``uint16`` image, gray ``(H, W)`` / ``(H, W, 1)`` or RGB
``(H, W, 3)``, of any size, and returns a new array of the same shape and dtype. Severity 0 is
the identity; severities 1-5 grow from mild to strong (5 is meant to stay readable by a
radiologist). The seed draws everything random (noise field, which corner a marker goes in, the
direction of a gamma change); severity never enters the random draw, so severity ``s + 1`` is
the same random choice as severity ``s``, only stronger. That makes the distance from the
original grow with severity: pixel by pixel for the intensity shifts, noise, text and borders,
and on average for the geometric ones, JPEG and blur.

Sizes are relative to the image's short side, so a severity means the same thing on a
256-pixel thumbnail and on a 3000-pixel original.

An RGB image whose three channels are equal (a gray radiograph stored as RGB, as
:func:`xraycls.io.load_image` returns) is shifted as one gray channel and replicated: the result
stays exactly gray and costs a third.

Examples:
    >>> import numpy as np
    >>> from xraycls.robustness import apply_shift, list_shifts
    >>> image = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    >>> len(list_shifts()) >= 10
    True
    >>> out = apply_shift(image, "gamma", 3, seed=1)
    >>> out.shape, out.dtype, bool((apply_shift(image, "gamma", 0) == image).all())
    ((48, 64), dtype('uint8'), True)
    >>> again = apply_shift(image, "noise", 2, seed=5)
    >>> bool((apply_shift(image, "noise", 2, seed=5) == again).all())
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from xraycls.errors import ConfigError
from xraycls.imaging import as_image

__all__ = ["MAX_SEVERITY", "ShiftSpec", "apply_shift", "list_shifts", "shift_catalogue"]

#: The strongest severity of every shift.
MAX_SEVERITY = 5

_Fn = Callable[[np.ndarray, int, np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class ShiftSpec:
    """One entry of the catalogue: what the shift models and what each severity means.

    Attributes:
        name: The kind, as passed to :func:`apply_shift`.
        title: A few words for tables and figures.
        models: The real-world acquisition or export problem it imitates.
        levels: What severities 1 to 5 do, one short phrase each.

    Examples:
        >>> from xraycls.robustness import shift_catalogue
        >>> spec = shift_catalogue()[0]
        >>> spec.name, len(spec.levels)
        ('jpeg', 5)
    """

    name: str
    title: str
    models: str
    levels: tuple[str, str, str, str, str]


# ---------------------------------------------------------------------------- helpers


def _scale(dtype: np.dtype[Any]) -> float:
    return 255.0 if dtype == np.uint8 else 65535.0


def _to_dtype(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    top = _scale(dtype)
    return np.clip(np.rint(values * top), 0, top).astype(dtype)


def _lut(image: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply an intensity curve on [0, 1]; a 256-entry lookup table for uint8."""
    if image.dtype == np.uint8:
        table = _to_dtype(curve(np.arange(256, dtype=np.float64) / 255.0), np.dtype(np.uint8))
        return cv2.LUT(image, table).reshape(image.shape)
    top = _scale(image.dtype)
    return _to_dtype(curve(image.astype(np.float64) / top), image.dtype)


def _resize(image: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    out = cv2.resize(image, (width, height), interpolation=interpolation)
    return out.reshape(height, width, *image.shape[2:])


# ---------------------------------------------------------------------------- the shifts
# Each function gets a 2-D (gray) or (H, W, 3) image of dtype uint8/uint16, the severity
# (1..5), a Generator seeded from (seed, kind) only, and the short side of the image.

_JPEG_QUALITY = (60, 40, 25, 15, 10)


def _jpeg(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    quality = _JPEG_QUALITY[severity - 1]
    sixteen = image.dtype == np.uint16
    # JPEG is 8-bit: exporting a 16-bit radiograph as JPEG loses the low byte too, as here.
    data = np.rint(image / 257.0).astype(np.uint8) if sixteen else image
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes every uint8 array
        raise ConfigError(f"jpeg: OpenCV could not encode a {image.shape} image")
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if out is None:  # pragma: no cover - OpenCV decodes what it encoded
        raise ConfigError(f"jpeg: OpenCV could not decode its own {image.shape} JPEG")
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    out = out.reshape(image.shape)
    return out.astype(np.uint16) * 257 if sixteen else out


_RESOLUTION = (0.7, 0.5, 0.35, 0.25, 0.18)


def _resolution(
    image: np.ndarray, severity: int, rng: np.random.Generator, short: int
) -> np.ndarray:
    h, w = image.shape[:2]
    f = _RESOLUTION[severity - 1]
    small = _resize(image, max(1, round(h * f)), max(1, round(w * f)), cv2.INTER_AREA)
    return _resize(small, h, w, cv2.INTER_LINEAR)


_SQUASH = (0.92, 0.85, 0.78, 0.70, 0.62)


def _squash(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    # Squashing one axis by f is, up to the frame, stretching the other by 1/f; stretching
    # about the centre and cropping the overflow keeps the frame full, as an export to a fixed
    # shape does. An affine warp keeps the exact factor (no rounding of a resized size).
    h, w = image.shape[:2]
    stretch = 1.0 / _SQUASH[severity - 1]
    sx, sy = (stretch, 1.0) if rng.random() < 0.5 else (1.0, stretch)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    matrix = np.array([[sx, 0.0, cx * (1 - sx)], [0.0, sy, cy * (1 - sy)]])
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out.reshape(image.shape)


_GAMMA = (1.25, 1.5, 1.8, 2.2, 2.7)


def _gamma(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    g = _GAMMA[severity - 1]
    if rng.random() < 0.5:
        g = 1.0 / g  # brighter mid-tones instead of darker; direction fixed by the seed
    return _lut(image, lambda x: np.power(x, g))


_CONTRAST = (1.2, 1.4, 1.65, 1.9, 2.2)


def _contrast(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    k = _CONTRAST[severity - 1]
    c = k if rng.random() < 0.5 else 1.0 / k  # a narrower or a wider window, by the seed
    mid = float(image.mean()) / _scale(image.dtype)
    return _lut(image, lambda x: mid + (x - mid) * c)


_NOISE = (0.02, 0.035, 0.05, 0.07, 0.10)


def _noise(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    # One field for every severity (drawn from the seed alone), scaled by sigma: the change of
    # every pixel grows with severity. The same field on every channel keeps gray gray.
    field = rng.standard_normal(image.shape[:2], dtype=np.float32)
    field *= np.float32(_NOISE[severity - 1] * _scale(image.dtype))
    if image.ndim == 3:
        field = np.repeat(field[:, :, None], image.shape[2], axis=2)
    # OpenCV adds, rounds and saturates in one pass (numpy needed four).
    depth = cv2.CV_8U if image.dtype == np.uint8 else cv2.CV_16U
    return cv2.add(image, field, dtype=depth).reshape(image.shape)


_BLUR = (0.002, 0.004, 0.007, 0.010, 0.014)


def _blur(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    sigma = _BLUR[severity - 1] * short
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return out.reshape(image.shape)


_WORDS = ("PORTABLE", "AP SUPINE", "PA ERECT", "SEMI-ERECT", "MOBILE", "AP SITTING")
_SITES = ("ST MARY HOSP", "RADIOLOGY DEPT", "CITY GENERAL", "WARD 7B", "ICU BED 12")


def _marks(rng: np.random.Generator, h: int, w: int) -> list[tuple[str, Any]]:
    """Every mark of severity 5, in the order severities add them (drawn from the seed only)."""
    short = min(h, w)
    side = int(rng.integers(2))  # which side the laterality marker and the header sit on
    marker = "LR"[int(rng.integers(2))]
    word, site = _WORDS[int(rng.integers(len(_WORDS)))], _SITES[int(rng.integers(len(_SITES)))]
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), 2020
    ident = f"ID {int(rng.integers(10000, 99999))}-{int(rng.integers(10))}"
    hour, minute = int(rng.integers(24)), int(rng.integers(60))
    arrows = [
        (
            float(rng.uniform(0.25, 0.75)) * w,
            float(rng.uniform(0.3, 0.7)) * h,
            float(rng.uniform(0, 2 * np.pi)),
        )
        for _ in range(2)
    ]
    corner_x = 0.05 * w if side == 0 else 0.95 * w
    return [
        # 1: a lead laterality marker in a box, in an upper corner
        ("box", (marker, corner_x, 0.06 * h, 0.09 * short, side)),
        # 2: the projection burned in below it
        ("text", (word, corner_x, 0.20 * h, 0.045 * short, side)),
        # 3: an arrow pointing into the lungs
        ("arrow", (*arrows[0], 0.16 * short)),
        # 4: date and patient id along the bottom
        ("text", (f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}", 0.04 * w, 0.90 * h,
                  0.04 * short, 0)),
        ("text", (ident, 0.04 * w, 0.96 * h, 0.04 * short, 0)),
        # 5: the institution, a second marker and a second arrow
        ("text", (site, 0.95 * w if side == 0 else 0.05 * w, 0.08 * h, 0.05 * short, 1 - side)),
        ("box", ("R" if marker == "L" else "L", 0.95 * w if side == 0 else 0.05 * w, 0.16 * h,
                 0.09 * short, 1 - side)),
        ("arrow", (*arrows[1], 0.2 * short)),
    ]  # fmt: skip


_MARKS_PER_SEVERITY = (1, 2, 3, 5, 8)


def _draw_text(mask: np.ndarray, text: str, x: float, y: float, height: float, right: int) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(height, 1.0) / 22.0  # Hershey simplex capitals are ~22 px tall at scale 1
    thick = max(1, round(height / 9))
    (tw, _), _ = cv2.getTextSize(text, font, scale, thick)
    left = x - tw if right else x
    cv2.putText(mask, text, (round(left), round(y)), font, scale, 255, thick, cv2.LINE_AA)


def _draw_box(mask: np.ndarray, text: str, x: float, y: float, height: float, right: int) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(height, 1.0) / 30.0
    thick = max(1, round(height / 8))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    pad = max(1, round(height * 0.18))
    left = round(x - tw - 2 * pad) if right else round(x)
    top = round(y)
    cv2.rectangle(mask, (left, top), (left + tw + 2 * pad, top + th + 2 * pad), 255, thick)
    cv2.putText(mask, text, (left + pad, top + th + pad), font, scale, 255, thick, cv2.LINE_AA)


def _draw_arrow(mask: np.ndarray, x: float, y: float, angle: float, length: float) -> None:
    tail = (round(x + length * np.cos(angle)), round(y + length * np.sin(angle)))
    thick = max(1, round(length / 14))
    cv2.arrowedLine(mask, tail, (round(x), round(y)), 255, thick, cv2.LINE_AA, tipLength=0.3)


def _text(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for kind, args in _marks(rng, h, w)[: _MARKS_PER_SEVERITY[severity - 1]]:
        if kind == "text":
            _draw_text(mask, *args)
        elif kind == "box":
            _draw_box(mask, *args)
        else:
            _draw_arrow(mask, *args)
    # White burned-in overlay, anti-aliased: out = x + (white - x) * alpha, in integers. Later
    # severities only add marks, so alpha (and the change of every pixel) never shrinks.
    wide = np.dtype(np.uint16 if image.dtype == np.uint8 else np.uint32)
    alpha = (mask if image.ndim == 2 else mask[:, :, None]).astype(wide)
    x = image.astype(wide)
    gap = np.asarray(_scale(image.dtype), dtype=wide) - x
    return (x + (gap * alpha + 127) // 255).astype(image.dtype)


_BORDER = (0.04, 0.07, 0.10, 0.13, 0.16)


def _border(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    # Collimator shutters: a frame whose four sides differ (off-centre), black (shutter edge
    # kept) or white (shutter area burned bright by an export that inverts the window).
    h, w = image.shape[:2]
    weights = rng.uniform(0.4, 1.6, size=4)
    white = rng.random() < 0.5
    f = _BORDER[severity - 1]
    top_, bottom = (min(h // 2, round(f * h * weights[i])) for i in (0, 1))
    left, right = (min(w // 2, round(f * w * weights[i])) for i in (2, 3))
    out = image.copy()
    value = _scale(image.dtype) if white else 0
    out[:top_] = value
    out[h - bottom :] = value
    out[:, :left] = value
    out[:, w - right :] = value
    return out


_CROP = (0.06, 0.12, 0.18, 0.24, 0.30)


def _crop(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    # A tighter, off-centre field of view, shown at the original size (what a different
    # collimation or a cropped export looks like after resizing). An affine warp keeps the
    # exact zoom; the window never leaves the image, so no border appears.
    h, w = image.shape[:2]
    share_x, share_y = rng.uniform(0.0, 1.0, size=2)
    keep = 1.0 - _CROP[severity - 1]
    left, top = share_x * w * (1 - keep), share_y * h * (1 - keep)
    zoom = 1.0 / keep
    matrix = np.array([[zoom, 0.0, -left * zoom], [0.0, zoom, -top * zoom]])
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out.reshape(image.shape)


_ROTATION = (2.0, 4.0, 6.0, 9.0, 12.0)


def _rotation(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    h, w = image.shape[:2]
    angle = _ROTATION[severity - 1] * (1.0 if rng.random() < 0.5 else -1.0)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out.reshape(image.shape)


def _invert(image: np.ndarray, severity: int, rng: np.random.Generator, short: int) -> np.ndarray:
    # MONOCHROME1 read as MONOCHROME2 is all or nothing: every severity is the full inversion,
    # so the kind weighs like the others in the mean over severities.
    return (np.iinfo(image.dtype).max - image).astype(image.dtype)


_SHIFTS: dict[str, tuple[_Fn, ShiftSpec]] = {}


def _register(fn: _Fn, spec: ShiftSpec) -> None:
    _SHIFTS[spec.name] = (fn, spec)


_register(_jpeg, ShiftSpec(
    "jpeg", "JPEG compression",
    "lossy export or PACS/teleradiology compression (8-bit JPEG, blocking and ringing)",
    ("quality 60", "quality 40", "quality 25", "quality 15", "quality 10"),
))  # fmt: skip
_register(_resolution, ShiftSpec(
    "resolution", "resolution loss",
    "a small export or a low-resolution detector, shown enlarged again (area down, bilinear up)",
    ("70% of the size", "50%", "35%", "25%", "18%"),
))  # fmt: skip
_register(_squash, ShiftSpec(
    "squash", "aspect-ratio squash",
    "a careless export to a fixed shape: one axis squashed (seeded which) and the frame refilled",
    ("aspect x0.92", "x0.85", "x0.78", "x0.70", "x0.62"),
))  # fmt: skip
_register(_gamma, ShiftSpec(
    "gamma", "gamma",
    "another detector response or display LUT: mid-tones darker or brighter (seeded which)",
    ("gamma 1.25 or 1/1.25", "1.5", "1.8", "2.2", "2.7"),
))  # fmt: skip
_register(_contrast, ShiftSpec(
    "contrast", "contrast / window",
    "another window width: contrast around the image mean raised (clipping) or lowered (seeded)",
    ("x1.2 or /1.2", "1.4", "1.65", "1.9", "2.2"),
))  # fmt: skip
_register(_noise, ShiftSpec(
    "noise", "Gaussian noise",
    "a low-dose or portable exposure: additive Gaussian noise, the same on every channel",
    ("sigma 2% of range", "3.5%", "5%", "7%", "10%"),
))  # fmt: skip
_register(_blur, ShiftSpec(
    "blur", "blur",
    "patient motion, a soft detector or a screen photo: Gaussian blur relative to the short side",
    ("sigma 0.2% of short side", "0.4%", "0.7%", "1.0%", "1.4%"),
))  # fmt: skip
_register(_text, ShiftSpec(
    "text", "burned-in text and markers",
    "annotations burned into the pixels: L/R lead markers, projection, date, id, site, arrows",
    ("one boxed L/R marker", "+ projection text", "+ arrow", "+ date and id lines",
     "+ site name, second marker, second arrow"),
))  # fmt: skip
_register(_border, ShiftSpec(
    "border", "collimation border",
    "collimator shutters or a scanned film's frame: off-centre black or white bands (seeded)",
    ("about 4% of each side", "7%", "10%", "13%", "16% (each side 0.4-1.6x)"),
))  # fmt: skip
_register(_crop, ShiftSpec(
    "crop", "off-centre crop",
    "a tighter, off-centre field of view, resized back to the original size",
    ("6% of each axis removed", "12%", "18%", "24%", "30%"),
))  # fmt: skip
_register(_rotation, ShiftSpec(
    "rotation", "small rotation",
    "a tilted patient or a skewed film scan: rotation about the centre, black corners",
    ("2 degrees (seeded sign)", "4", "6", "9", "12"),
))  # fmt: skip
_register(_invert, ShiftSpec(
    "invert", "inverted polarity",
    "MONOCHROME1 shown as MONOCHROME2: bone dark, air bright (all-or-nothing)",
    ("inverted", "inverted", "inverted", "inverted", "inverted"),
))  # fmt: skip


def list_shifts() -> list[str]:
    """The names of every shift kind, in catalogue order.

    Examples:
        >>> from xraycls.robustness import list_shifts
        >>> list_shifts()[:3]
        ['jpeg', 'resolution', 'squash']
    """
    return list(_SHIFTS)


def shift_catalogue() -> list[ShiftSpec]:
    """What every shift imitates and what each of its severities means, in catalogue order.

    Examples:
        >>> from xraycls.robustness import shift_catalogue
        >>> [s.name for s in shift_catalogue()][-1]
        'invert'
    """
    return [spec for _, spec in _SHIFTS.values()]


def check_kinds(kinds: Any) -> list[str]:
    """Validate a list of kind names (``None``: all), keeping order and dropping repeats."""
    if kinds is None:
        return list_shifts()
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k.strip()]
    out: list[str] = []
    for kind in kinds:
        name = str(kind).strip().lower()
        if name not in _SHIFTS:
            raise ConfigError(
                f"kinds: unknown shift {kind!r}; choose from {', '.join(list_shifts())}"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError("kinds: empty; name at least one shift or pass None for all")
    return out


def check_severity(severity: Any, name: str = "severity") -> int:
    """Validate one severity (an int in 0..5)."""
    if isinstance(severity, (bool, np.bool_)) or not isinstance(severity, (int, np.integer)):
        raise ConfigError(f"{name}: expected an int 0..{MAX_SEVERITY}, got {severity!r}")
    if not 0 <= severity <= MAX_SEVERITY:
        raise ConfigError(f"{name}: expected 0..{MAX_SEVERITY}, got {severity}")
    return int(severity)


def _rng(seed: int, kind: str) -> np.random.Generator:
    # Keyed by (seed, kind) and never by severity: see the module docstring.
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(kind.encode())]))


def apply_shift(image: np.ndarray, kind: str, severity: int, seed: int = 0) -> np.ndarray:
    """Apply one acquisition shift of the catalogue to one image.

    A pure function: the same ``(image, kind, severity, seed)`` always gives the same result,
    and the input is never modified.

    Args:
        image: ``uint8`` or ``uint16`` array, gray ``(H, W)`` / ``(H, W, 1)`` or RGB
            ``(H, W, 3)``, any size.
        kind: A name from :func:`list_shifts`.
        severity: 0 (identity, returns a copy) to 5 (strong but still readable).
        seed: Seed of the shift's random choices (int >= 0).

    Returns:
        The shifted image, same shape and dtype as ``image``.

    Raises:
        ConfigError: Unknown kind, severity outside 0..5, a negative seed, or an image of
            the wrong type, dtype or shape.

    Examples:
        >>> import numpy as np
        >>> from xraycls.robustness import apply_shift
        >>> rgb = np.full((30, 40, 3), 100, np.uint16)
        >>> out = apply_shift(rgb, "invert", 5)
        >>> out.shape, out.dtype, int(out[0, 0, 0])
        ((30, 40, 3), dtype('uint16'), 65435)
    """
    fn, _ = _SHIFTS[check_kinds([kind])[0]]
    severity = check_severity(severity)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed: expected an int >= 0, got {seed!r}")
    image = as_image(image, dtypes=(np.uint8, np.uint16))
    if severity == 0:
        return image.copy()
    shape = image.shape
    work = image
    gray_rgb = False
    if image.ndim == 3 and image.shape[2] == 1:
        work = image[:, :, 0]
    elif image.ndim == 3:
        gray_rgb = bool((image[:, :, 0] == image[:, :, 1]).all()) and bool(
            (image[:, :, 0] == image[:, :, 2]).all()
        )
        if gray_rgb:
            work = image[:, :, 0]
    work = np.ascontiguousarray(work)
    out = fn(work, severity, _rng(int(seed), kind.strip().lower()), min(work.shape[:2]))
    if gray_rgb:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out.reshape(shape))
