"""The command line under hostile conditions: one error path (exit 2, the flag to use, no
traceback), outputs checked before computing, every bad file named, --unsafe warned about,
TensorFlow quiet, `xraycls models` without TensorFlow."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers_data import fake_xray, write_image
from _helpers_train import make_image_folder, tiny_model
from xraycls.cli import main

_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _cli(*argv: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xraycls", *argv],
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xraycls.zoo import save_model

    path = tmp_path_factory.mktemp("model") / "m.keras"
    return save_model(tiny_model(32), path, class_names=["COVID", "Normal", "Viral Pneumonia"])


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A folder of 4 good scans and 3 bad files (empty, text, truncated)."""
    folder = tmp_path / "scans"
    for i in range(4):
        write_image(folder / f"good{i}.png", fake_xray(i))
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    (folder / "cut.png").write_bytes((folder / "good0.png").read_bytes()[:100])
    return folder


# ------------------------------------------------------------------ the error path


def test_out_that_is_a_file_is_one_line_naming_the_flag(
    model_file: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for argv in (
        ["predict", str(model_file), str(images / "good0.png"), "--out", f"{blocker}/p.csv"],
        ["evaluate", str(model_file), "--data", str(images), "--out", f"{blocker}/r.json"],
        ["cam", str(model_file), str(images / "good0.png"), "--out", str(blocker)],
        ["report", str(tmp_path), "--out", str(blocker)],
        ["data", "inspect", str(images), "--out", str(blocker)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and "--out" in err and str(blocker) in err, (argv, err)
        assert err.count("\n") == 1, err


def test_results_are_printed_when_the_write_fails_after_computing(
    model_file: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import xraycls._atomic

    def refuse(target: object, text: str) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(xraycls._atomic, "write_text_atomic", refuse)
    # .json is written in one piece at the end (.csv / .jsonl are streamed row by row instead).
    code = main(
        ["predict", str(model_file), str(images / "good1.png"), "--out", str(tmp_path / "p.json")]
    )
    assert code == 2
    captured = capsys.readouterr()
    assert "good1.png" in captured.out and '"label"' in captured.out
    assert "printed to stdout" in captured.err and "--out" in captured.err


def test_python_advice_becomes_a_flag(
    model_file: Path, images: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    import keras

    from xraycls.zoo import save_model

    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(hidden)
    lam = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    path = save_model(lam, tmp_path / "lambda.keras", class_names=["a", "b", "c"])
    assert main(["predict", str(path), str(images / "good0.png")]) == 2
    err = capsys.readouterr().err
    assert "--unsafe" in err and "safe_mode=False" not in err
    # --unsafe runs it, with the loud warning first.
    assert main(["predict", str(path), str(images / "good0.png"), "--unsafe"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: --unsafe" in captured.err and "safe mode OFF" in captured.err
    assert captured.out.startswith("file,label,probability")


# ------------------------------------------------------------------ bad files, all named


def test_predict_on_a_folder_goes_past_bad_files(
    model_file: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    assert main(["predict", str(model_file), str(images), "--out", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7
    errors = {Path(r["file"]).name: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"empty.png", "text.png", "cut.png"}
    assert all(r["label"] for r in rows if not r["error"])
    assert main(["predict", str(model_file), str(images), "--on-error", "raise"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in ("empty.png", "text.png", "cut.png"))
    assert "--on-error skip" in err and "on_error=" not in err


def test_cam_skips_and_lists_bad_files(model_file: Path, images: Path, tmp_path: Path) -> None:
    files = [str(images / n) for n in ("good0.png", "empty.png", "cut.png")]
    assert (
        main(["cam", str(model_file), *files, "--out", str(tmp_path / "c"), "--on-error", "skip"])
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "c" / "skipped.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["empty.png", "cut.png"]
    assert (tmp_path / "c" / "good0_gradcam.png").is_file()
    assert main(["cam", str(model_file), *files, "--out", str(tmp_path / "d")]) == 2


def test_data_inspect_raise_names_every_bad_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = make_image_folder(tmp_path / "data", per_class=3, size=24)
    inner = data / "COVID-19 Radiography Database"
    (inner / "COVID" / "bad1.png").write_bytes(b"")
    (inner / "NORMAL" / "bad2.png").write_text("text")
    assert main(["data", "inspect", str(data), "--no-duplicates", "--on-error", "raise"]) == 2
    err = capsys.readouterr().err
    assert "bad1.png" in err and "bad2.png" in err and "--on-error skip" in err
    out = tmp_path / "inspect"
    assert main(["data", "inspect", str(data), "--no-duplicates", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "skipped.csv").open()))
    assert sorted(Path(r["file"]).name for r in rows) == ["bad1.png", "bad2.png"]


def test_train_skips_bad_files_writes_the_list_and_refuses_tiny_classes(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    data = make_image_folder(tmp_path / "data", per_class=5, size=24)
    inner = data / "COVID-19 Radiography Database"
    (inner / "COVID" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    raw = os.path.join(os.fsencode(inner / "NORMAL"), b"caf\xe9.png")  # not UTF-8
    with open(raw, "wb") as fh:
        fh.write((inner / "NORMAL" / "NORMAL (1).png").read_bytes())
    base = ["train", "--data", str(data), "--model", "simple_cnn", "--image-size", "16"]
    base += ["--epochs", "1", "--batch-size", "8", "--verbose", "0"]
    assert main([*base, "--out", str(tmp_path / "r0")]) == 2  # a bad file: raise by default
    assert "broken.png" in capsys.readouterr().err
    assert not (tmp_path / "r0").exists()  # the early error leaves no empty run folder
    assert main([*base, "--out", str(data / "run1"), "--on-error", "skip"]) == 2
    assert "inside --data" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main([*base, "--out", str(run), "--on-error", "skip"]) == 0
    skipped = list(csv.DictReader((run / "skipped.csv").open()))
    assert [Path(r["file"]).name for r in skipped] == ["broken.png"]
    manifests = b"".join((run / f"{s}.csv").read_bytes() for s in ("train", "val"))
    manifests += (run / "test.csv").read_bytes() if (run / "test.csv").exists() else b""
    assert b"caf\xe9.png" in manifests or b"caf\xe9.png" in (run / "evaluation.json").read_bytes()
    # A class of 2 images gets no val or test image: refused by name, not exit 0.
    for extra in ("Viral Pneumonia (3).png", "Viral Pneumonia (4).png", "Viral Pneumonia (5).png"):
        (inner / "Viral Pneumonia" / extra).unlink()
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "r2"), "--on-error", "skip"]) == 2
    err = capsys.readouterr().err
    assert "'Viral Pneumonia' (2 images)" in err and "--test/--val" in err


# ------------------------------------------------------------------ quiet TensorFlow, fast models


def test_models_lists_without_importing_tensorflow() -> None:
    code = (
        "import sys; from xraycls.cli import main; main(['models']); "
        "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_ENV)
    assert done.returncode == 0, done.stderr
    assert "TF False False" in done.stdout and "xception" in done.stdout


def test_data_inspect_runs_without_importing_keras(tmp_path: Path) -> None:
    # `data` is a light command: it must not pay for (or print the start-up lines of) TensorFlow.
    import cv2
    import numpy as np

    for cls in ("COVID", "NORMAL"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), np.full((24, 24), 40 * i, np.uint8))
    code = (
        "import sys; from xraycls.cli import main; "
        f"main(['data', 'inspect', {str(tmp_path)!r}]); "
        "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_ENV)
    assert done.returncode == 0, done.stderr
    assert "TF False False" in done.stdout, done.stdout[-500:]


def test_static_models_table_matches_the_registry() -> None:
    from xraycls.cli._models import _BUILTIN
    from xraycls.zoo import get_backbone, list_models

    live = []
    for name in list_models(source="builtin"):
        s = get_backbone(name)
        live.append(
            (
                s.name,
                tuple(s.aliases),
                tuple(s.default_input_shape),
                s.min_input_size,
                s.preprocessing,
                s.description,
            )
        )
    assert list(_BUILTIN) == live, "update _BUILTIN in xraycls/cli/_models.py to match the zoo"


def test_tensorflow_start_up_lines_are_hidden_unless_verbose(tmp_path: Path) -> None:
    quiet = _cli("report", str(tmp_path / "nowhere"))
    assert quiet.returncode == 2
    lines = [ln for ln in quiet.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("xraycls report: error:"), quiet.stderr
    loud = _cli("-v", "report", str(tmp_path / "nowhere"))
    assert loud.returncode == 2 and "Traceback" in loud.stderr


# ------------------------------------------------------------------ absurd sizes, full disks


def test_an_absurd_stored_input_shape_is_one_line(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xraycls.zoo import build_model, save_model

    # the weights of this CNN do not depend on the input size: the file stays small
    big = build_model(
        "simple_cnn", num_classes=3, input_shape=(200000, 200000, 3), width=4, head_width=8
    )
    path = save_model(big, tmp_path / "big.keras", class_names=["COVID", "Normal", "V"])
    assert main(["predict", str(path), str(images / "good0.png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err and "2048" in err, err
    assert err.count("\n") == 1, err


def test_train_image_size_has_an_upper_bound(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(images), "--model", "simple_cnn", "--out", str(out)]
    for size in ("30000", "0"):
        assert main([*argv, "--image-size", size]) == 2
        err = capsys.readouterr().err
        assert "--image-size" in err and "2048" in err and "Traceback" not in err, err
    assert not out.exists()  # refused before anything is written


def test_a_full_disk_names_the_file_and_the_flag(
    model_file: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    for name in ("p.csv", "p.jsonl"):
        out = tmp_path / name
        argv = ["predict", str(model_file), str(images / "good0.png"), "--out", str(out)]
        assert main([*argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert str(out) in err and "--out" in err and "disk is full" in err, err
        assert "Traceback" not in err and err.count("\n") == 1, err
    ok = tmp_path / "skipped"
    from xraycls._atomic import write_text_atomic

    with pytest.raises(OSError) as info:
        write_text_atomic(ok / "x.txt", "text")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(ok / "x.txt")
