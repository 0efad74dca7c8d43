"""xraycls.io.load_image / check_image: formats, conversions and every kind of bad file."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_data import fake_xray, truncate, write_dicom, write_image
from xraycls.errors import DependencyError, ImageReadError
from xraycls.io import check_image, load_image


def _rgb(seed: int = 0, h: int = 20, w: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------ good files


def test_gray_png_is_replicated_to_rgb(tmp_path: Path) -> None:
    gray = fake_xray(1)
    p = write_image(tmp_path / "g.png", gray)
    img = load_image(p)
    assert img.dtype == np.uint8 and img.shape == (*gray.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], gray)
    np.testing.assert_array_equal(load_image(p, channels=1)[..., 0], gray)


def test_rgb_png_comes_back_in_rgb_order(tmp_path: Path) -> None:
    rgb = _rgb()
    p = write_image(tmp_path / "c.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(load_image(p), rgb)
    gray = load_image(p, channels=1)
    assert gray.shape == (20, 30, 1)
    np.testing.assert_array_equal(gray[..., 0], cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_rgba_is_composited_on_black(tmp_path: Path) -> None:
    rgb = _rgb(2)
    alpha = np.zeros((20, 30), np.uint8)
    alpha[:, 10:20] = 128
    alpha[:, 20:] = 255
    bgra = np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), alpha])
    img = load_image(write_image(tmp_path / "a.png", bgra))
    assert img.shape == (20, 30, 3)
    assert (img[:, :10] == 0).all()
    np.testing.assert_array_equal(img[:, 20:], rgb[:, 20:])
    expected = np.rint(rgb[:, 10:20].astype(float) * 128 / 255)
    np.testing.assert_allclose(img[:, 10:20], expected, atol=1)


def test_gray_alpha_png(tmp_path: Path) -> None:
    # OpenCV writes 2-channel as gray+alpha only through 4 channels, so build LA via BGRA.
    gray = fake_xray(3, (10, 12))
    bgra = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    img = load_image(write_image(tmp_path / "la.png", bgra))
    np.testing.assert_array_equal(img[..., 0], gray)


def test_16bit_png_is_min_max_scaled(tmp_path: Path) -> None:
    # A 12-bit radiograph in a 16-bit PNG: >>8 would make it nearly black; min-max does not.
    data = np.array([[100, 1100, 2100, 4195]], np.uint16)
    p = write_image(tmp_path / "deep.png", data)
    out = load_image(p, channels=1)[0, :, 0]
    assert out.tolist() == [0, 62, 125, 255]
    const = write_image(tmp_path / "const.png", np.full((3, 3), 777, np.uint16))
    assert (load_image(const) == 0).all()


def test_16bit_rgb_png(tmp_path: Path) -> None:
    data = np.zeros((2, 2, 3), np.uint16)
    data[0, 0] = (0, 0, 65535)  # BGR: red
    img = load_image(write_image(tmp_path / "c16.png", data))
    assert img[0, 0].tolist() == [255, 0, 0]
    assert img[1, 1].tolist() == [0, 0, 0]


def test_jpeg_gray_and_color(tmp_path: Path) -> None:
    gray = fake_xray(4, (64, 64))
    p = write_image(tmp_path / "g.jpg", gray, IMWRITE_JPEG_QUALITY=95)
    img = load_image(p)
    assert img.shape == (64, 64, 3)
    assert np.abs(img[..., 0].astype(int) - gray).mean() < 3
    rgb = cv2.resize(_rgb(5, 8, 8), (64, 64), interpolation=cv2.INTER_NEAREST)
    p2 = write_image(tmp_path / "c.jpeg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.abs(load_image(p2).astype(int) - rgb).mean() < 12


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Insert an APP1 EXIF segment with Orientation=6 (rotate 90 CW) after SOI.
    img = np.zeros((20, 40), np.uint8)
    img[:, :20] = 255  # left half white
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + b"\x00\x01"
        + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
        + b"\x00\x00\x00\x00"
    )
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = buf.tobytes()
    p = tmp_path / "rot.jpg"
    p.write_bytes(data[:2] + app1 + data[2:])
    out = load_image(p)
    assert out.shape == (40, 20, 3)  # rotated
    assert out[:15, :, 0].mean() > 200 and out[25:, :, 0].mean() < 50


def test_unicode_path_with_spaces(tmp_path: Path) -> None:
    p = write_image(tmp_path / "Viral Pneumonia" / "Bild Nr 1 – ünïcødé.png", fake_xray(6))
    assert load_image(p).shape == (48, 40, 3)
    check_image(str(p))


def test_channels_argument_is_checked(tmp_path: Path) -> None:
    p = write_image(tmp_path / "g.png", fake_xray(7))
    with pytest.raises(ValueError, match="channels"):
        load_image(p, channels=2)


def test_bmp_and_tiff_through_opencv(tmp_path: Path) -> None:
    gray = fake_xray(8)
    for ext in (".bmp", ".tif"):
        p = write_image(tmp_path / f"g{ext}", gray)
        np.testing.assert_array_equal(load_image(p)[..., 1], gray)
        check_image(p)


# ------------------------------------------------------------------ bad files


def _reason(path: Path | str) -> str:
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert info.value.path == os.fspath(path)
    assert os.fspath(path) in str(info.value)
    with pytest.raises(ImageReadError):
        check_image(path)
    return info.value.reason


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _reason(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    assert "directory" in _reason(tmp_path / "d.png")


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.png"
    p.touch()
    assert "empty (0 bytes)" in _reason(p)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.97])
def test_truncated_png_and_jpeg(tmp_path: Path, ext: str, keep: float) -> None:
    p = truncate(write_image(tmp_path / f"t{ext}", fake_xray(9, (128, 128))), keep)
    reason = _reason(p)
    assert "truncated" in reason or "corrupt" in reason


def test_jpeg_with_cut_tail_only(tmp_path: Path) -> None:
    p = write_image(tmp_path / "t.jpg", fake_xray(10, (64, 64)))
    p.write_bytes(p.read_bytes()[:-2])  # only the EOI marker is missing
    assert "EOI" in _reason(p)


def test_png_with_flipped_byte_is_corrupt(tmp_path: Path) -> None:
    p = write_image(tmp_path / "c.png", fake_xray(11, (64, 64)))
    data = bytearray(p.read_bytes())
    data[60] ^= 0xFF  # inside IDAT
    p.write_bytes(bytes(data))
    assert "CRC" in _reason(p)


def test_text_file_named_png(tmp_path: Path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n")
    reason = _reason(p)
    assert "not an image" in reason and "text" in reason


def test_binary_junk_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "junk.jpg"
    p.write_bytes(bytes(range(256)) * 4)
    assert "not an image" in _reason(p)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_image(tmp_path / "locked.png", fake_xray(12))
    if os.name == "posix" and os.geteuid() != 0:
        p.chmod(0)
        try:
            assert "permission denied" in _reason(p)
        finally:
            p.chmod(0o644)
        return
    # Root (CI) reads mode-000 files anyway: simulate the PermissionError instead.
    real_open = builtins.open

    def fake_open(file: object, *args: object, **kwargs: object) -> object:
        if os.fspath(file) == str(p):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", fake_open)
    assert "permission denied" in _reason(p)


# ------------------------------------------------------------------ DICOM


def test_dicom_monochrome2_and_monochrome1(tmp_path: Path) -> None:
    px = np.array([[0, 1000], [2000, 4000]], np.uint16)
    m2 = load_image(write_dicom(tmp_path / "m2.dcm", px), channels=1)[..., 0]
    assert m2.tolist() == [[0, 64], [128, 255]]
    m1 = load_image(write_dicom(tmp_path / "m1.dcm", px, "MONOCHROME1"), channels=1)[..., 0]
    assert m1.tolist() == [[255, 191], [127, 0]]
    assert load_image(tmp_path / "m2.dcm").shape == (2, 2, 3)


def test_dicom_window_is_applied(tmp_path: Path) -> None:
    px = np.array([[0, 1000, 2000, 3000]], np.uint16)
    p = write_dicom(tmp_path / "w.dcm", px, WindowCenter=1500, WindowWidth=1000)
    out = load_image(p, channels=1)[0, :, 0]
    # Outside the window clips: 0 and 1000 are both at the bottom, 2000 and 3000 at the top.
    assert out[0] == out[1] == 0 and out[2] == out[3] == 255


def test_dicom_without_pydicom_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "x.dcm"
    p.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # makes `import pydicom` fail
    with pytest.raises(DependencyError, match=r'pip install "xraycls\[dicom\]"'):
        load_image(p)


def test_corrupt_dicom(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    p = tmp_path / "bad.dcm"
    p.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    with pytest.raises(ImageReadError, match="DICOM"):
        load_image(p)


def test_bad_crc_in_ancillary_chunk_is_tolerated(tmp_path: Path) -> None:
    # libpng only warns about ancillary chunks; so do we (critical chunks are checked above).
    p = write_image(tmp_path / "t.png", fake_xray(13))
    data = p.read_bytes()
    text = b"tEXt" + b"Comment\x00hello"
    chunk = len(text[4:]).to_bytes(4, "big") + text + b"\x00\x00\x00\x00"  # wrong CRC
    p.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    np.testing.assert_array_equal(load_image(p)[..., 0], fake_xray(13))
    check_image(p)


def test_check_image_decodes_dicom(tmp_path: Path) -> None:
    p = write_dicom(tmp_path / "ok.dcm", np.arange(16, dtype=np.uint16).reshape(4, 4))
    check_image(p)
    p.write_bytes(p.read_bytes()[:-10])  # pixel data cut short
    with pytest.raises(ImageReadError, match="DICOM"):
        check_image(p)


# ------------------------------------------------------------------ bytes in memory


def test_decode_image_equals_load_image_for_every_format(tmp_path: Path) -> None:
    from xraycls.io import decode_image

    files = [
        write_image(tmp_path / "g.png", fake_xray(2)),
        write_image(tmp_path / "c.jpg", _rgb(3, 40, 50)),
        write_image(tmp_path / "d.png", (fake_xray(4).astype(np.uint16) * 200)),
        write_image(tmp_path / "b.bmp", _rgb(5)),
    ]
    pytest.importorskip("pydicom")
    files.append(write_dicom(tmp_path / "x.dcm", fake_xray(6).astype(np.uint16) * 16))
    for path in files:
        data = Path(path).read_bytes()
        for channels in (1, 3):
            want = load_image(path, channels)
            got = decode_image(bytearray(data), channels, name=Path(path).name)
            np.testing.assert_array_equal(got, want)


def test_decode_image_has_the_checks_of_load_image(tmp_path: Path) -> None:
    from xraycls.io import decode_image

    good = write_image(tmp_path / "g.png", fake_xray(7)).read_bytes()
    cases = {
        b"": "empty",
        good[: len(good) // 2]: "truncated PNG",
        b"%PDF-1.7 secret": "looks like a PDF",
    }
    for data, reason in cases.items():
        with pytest.raises(ImageReadError, match=reason) as info:
            decode_image(data, name="upload a.png")
        assert info.value.path == "upload a.png"
    with pytest.raises(ImageReadError, match="too large"):
        decode_image(good, max_pixels=10)
    with pytest.raises(ImageReadError, match="file too large"):
        # more bytes than 1 pixel and 64 MiB of headers can need: refused before any copy
        decode_image(memoryview(good + bytes(65 << 20)), max_pixels=1)
    with pytest.raises(ImageReadError, match="not a PNG or JPEG image: it looks like text"):
        decode_image(b"BM" + b"x" * 100, name="upload b.bmp", formats=["png", "jpeg"])


def test_errors_never_quote_the_file(tmp_path: Path) -> None:
    from xraycls.io import decode_image

    secret = b"root:x:0:0:secret-hash\n"
    good = write_image(tmp_path / "g.png", fake_xray(8)).read_bytes()
    bad_chunk = good[:8] + good[8:12] + b"r\x00t:" + good[16:]  # IHDR type replaced
    hostile = [secret, b"\x01\x02secret\xff" * 4, bad_chunk, good[:40] + b"\0\0\0\x10r:x:" + secret]
    for data in hostile:
        p = tmp_path / "h.png"
        p.write_bytes(data)
        for call, arg in ((decode_image, data), (load_image, p)):
            with pytest.raises(ImageReadError) as info:
                call(arg)
            assert "secret" not in str(info.value) and "r:x" not in str(info.value)
            assert "\\x" not in str(info.value), info.value


def test_read_image_is_deprecated_and_still_works(tmp_path: Path) -> None:
    import xraycls
    from xraycls.io import read_image

    p = write_image(tmp_path / "g.png", fake_xray(2))
    with pytest.warns(DeprecationWarning, match="read_image is deprecated; use load_image"):
        old = read_image(p, channels=1, max_pixels=0)
    np.testing.assert_array_equal(old, load_image(p, channels=1))
    assert xraycls.read_image is read_image
