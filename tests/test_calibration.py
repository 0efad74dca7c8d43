"""Calibrated decisions: temperature scaling, operating point, abstain rule, stored in the model."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers_serve import NAMES, real_images, saved_tiny_model, write_manifest
from xraycls.calibration import (
    REFER,
    Calibration,
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    operating_point,
)
from xraycls.errors import ConfigError, ModelFileError, XrayclsError


def _overconfident(n: int = 3000, true_t: float = 2.5, seed: int = 0):  # type: ignore[no-untyped-def]
    """Labels drawn from softmax(z); the model reports softmax(z * true_t): over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 3))
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p_true])
    reported = np.exp(z * true_t) / np.exp(z * true_t).sum(1, keepdims=True)
    return reported, y


def test_temperature_recovers_the_overconfidence_and_lowers_ece() -> None:
    probs, y = _overconfident()
    t = fit_temperature(probs, y)
    assert t == pytest.approx(2.5, rel=0.1)
    before = expected_calibration_error(probs, y)
    after = expected_calibration_error(apply_temperature(probs, t), y)
    assert after < before / 2
    # the argmax never changes
    assert (apply_temperature(probs, t).argmax(1) == probs.argmax(1)).all()


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 1.0), st.integers(0, 10_000))
def test_operating_point_reaches_the_target_sensitivity(target: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    positive = rng.random(80) < 0.4
    positive[:2] = [True, False]
    scores = np.clip(rng.normal(0.3 + 0.3 * positive, 0.2), 0, 1)
    op = operating_point(scores, positive, target)
    reached = (scores[positive] >= op["threshold"]).mean()
    assert reached >= target - 1e-9 and reached == pytest.approx(op["sensitivity"])
    assert (scores[~positive] < op["threshold"]).mean() == pytest.approx(op["specificity"])


def test_operating_point_needs_both_classes() -> None:
    with pytest.raises(ConfigError, match="positive"):
        operating_point(np.array([0.2, 0.4]), np.array([True, True]), 0.95)


def test_decisions_follow_threshold_and_refer_rule() -> None:
    cal = Calibration(threshold=0.3, refer_below=0.5, max_spread=0.1)
    probs = np.array([[0.35, 0.6, 0.05], [0.1, 0.85, 0.05], [0.4, 0.35, 0.25], [0.9, 0.05, 0.05]])
    assert cal.decide(probs, NAMES) == ["COVID", "not COVID", REFER, "COVID"]
    spread = np.array([0.0, 0.0, 0.0, 0.2])
    assert cal.decide(probs, NAMES, spread)[3] == REFER
    with pytest.raises(ConfigError, match="positive class"):
        cal.decide(probs, ["a", "b", "c"])


def test_fit_calibration_and_roundtrip() -> None:
    probs, y = _overconfident(n=600)
    cal = fit_calibration(probs, y, NAMES, target_sensitivity=0.9, refer_below=0.45)
    assert cal.sensitivity is not None and cal.sensitivity >= 0.9
    assert cal.ece_after is not None and cal.ece_before is not None
    assert cal.ece_after < cal.ece_before
    assert len(cal.roc["fpr"]) <= 101 and cal.roc["tpr"][-1] == 1.0
    again = Calibration.from_json(cal.to_json())
    assert again == cal and again.roc == cal.roc
    with pytest.raises(ConfigError, match=r"Calibration: unknown key 'bogus'"):
        Calibration.from_dict({"temperature": 1.0, "bogus": 1})
    with pytest.raises(ConfigError, match="positive"):
        fit_calibration(probs[:, :2], y.clip(0, 1), ["a", "b"])


def test_update_model_info_keeps_weights_and_other_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.zoo import load_model, load_model_info, update_model_info

    path = saved_tiny_model(tmp_path / "m.keras")
    before = load_model(path, compile=False).get_weights()
    update_model_info(path, {"site": {"name": "ward 3"}})
    update_model_info(path, {"calibration": {"temperature": 2.0}})
    info = load_model_info(path).to_dict()
    assert info["site"] == {"name": "ward 3"} and info["calibration"]["temperature"] == 2
    assert info["class_names"] == NAMES
    after = load_model(path, compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    update_model_info(path, {"calibration": None})
    assert "calibration" not in load_model_info(path).to_dict()
    with pytest.raises(ConfigError, match="reserved"):
        update_model_info(path, {"class_names": ["x"]})
    with pytest.raises(ConfigError, match="reserved"):  # the lungs helper's key, set by training
        update_model_info(path, {"input_transform": {"name": "clahe"}})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None


@pytest.mark.data
def test_calibrate_real_images_then_classifier_decides(cxr3_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main
    from xraycls.predict import Classifier, ImagePrediction

    path = saved_tiny_model(tmp_path / "m.keras")
    val = write_manifest(tmp_path / "val.csv", real_images(cxr3_dir, 8))
    cal = calibrate(path, val, target_sensitivity=0.9, save=False)
    assert Classifier.load(path).calibration is None  # save=False stores nothing
    assert cal.n_images == 24 and cal.sensitivity is not None and cal.sensitivity >= 0.9
    assert main(["calibrate", str(path), "--data", str(val), "--sensitivity", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "ECE" in out and "stored in" in out
    clf = Classifier.load(path)
    assert clf.calibration is not None
    assert clf.calibration.threshold == pytest.approx(cal.threshold, abs=1e-6)
    files = [f for f, _ in real_images(cxr3_dir, 2, offset=20)]
    preds = clf.predict(files, details=True, explain=True, tta=True)
    assert len(preds) == 6 and all(isinstance(p, ImagePrediction) for p in preds)
    for p in preds:
        assert p.decision in ("COVID", "not COVID", REFER)
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.uncertainty is not None and p.uncertainty >= 0
        assert p.cam is not None and p.cam.shape == (32, 32) and p.image is not None
    probs = clf.predict(files)
    raw = clf.model.predict(np.stack([clf.prepare(f) for f in files]), verbose=0)
    np.testing.assert_allclose(probs, clf.calibration.probabilities(raw), atol=1e-6)


def test_corrupt_stored_calibration_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from xraycls.predict import Classifier
    from xraycls.zoo import update_model_info

    path = saved_tiny_model(tmp_path / "m.keras")
    bad = {"calibration": {"temperature": 1.0, "nonsense": 3}}
    # ModelInfo is checked when written, too: update_model_info refuses it ...
    with pytest.raises(XrayclsError, match="calibrate"):
        update_model_info(path, bad)
    # ... so a damaged file is made by hand, and loading it names the fix.
    with zipfile.ZipFile(path) as archive:
        members = {m: archive.read(m) for m in archive.namelist()}
    info = json.loads(members["xraycls.json"])
    members["xraycls.json"] = json.dumps({**info, **bad}).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="calibrate"):
        Classifier.load(path)


def test_calibrate_refuses_mismatched_classes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from _helpers_train import make_image_folder

    path = saved_tiny_model(tmp_path / "m.keras")
    folder = make_image_folder(tmp_path / "imgs", per_class=2, classes=("COVID", "NORMAL"))
    with pytest.raises(XrayclsError, match="Viral Pneumonia"):
        calibrate(path, folder)


def test_report_shows_ece_and_the_operating_point(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.reporting import report
    from xraycls.zoo import update_model_info

    run = tmp_path / "run"
    run.mkdir()
    path = saved_tiny_model(run / "best.keras")
    html = report(run, n_cam=0).read_text()
    assert "Calibrated decisions" not in html  # an uncalibrated model adds no section
    probs, y = _overconfident(n=400)
    cal = fit_calibration(probs, y, NAMES)
    update_model_info(path, {"calibration": cal.to_dict()})
    html = report(run, n_cam=0).read_text()
    assert f"{cal.ece_before:.3f}" in html and f"{cal.ece_after:.3f}" in html
    assert f"{cal.threshold:.4f}" in html and (run / "report" / "operating_point.png").is_file()


def test_too_few_images_are_refused_and_overridable() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 1, 2])
    with pytest.raises(ConfigError, match="at least 20 images and 5 of each class"):
        fit_calibration(probs, y, NAMES)
    probs20, y20 = _overconfident(n=60)
    y20 = np.where(np.arange(60) < 2, 0, np.where(y20 == 0, 1, y20))  # only 2 COVID images
    with pytest.raises(ConfigError, match="COVID: 2"):
        fit_calibration(probs20, y20, NAMES)
    cal = fit_calibration(probs, y, NAMES, min_images=3, min_per_class=1)
    assert cal.n_images == 3 and cal.n_positive == 1
    assert cal.sensitivity_ci is not None and cal.sensitivity_ci[0] < 0.25  # 1 of 1: wide
    assert any("interval" in w for w in cal.warnings)


def test_degenerate_calibration_warns() -> None:
    probs = np.tile([[0.2, 0.3, 0.5]], (24, 1))  # 24 identical (all-black) images
    y = np.arange(24) % 3
    cal = fit_calibration(probs, y, NAMES)
    text = " ".join(cal.warnings)
    assert "near 0.5" in text and "specificity 0" in text
    good = fit_calibration(*_overconfident(n=3000), NAMES, target_sensitivity=0.9)
    assert not [w for w in good.warnings if "near 0.5" in w or "specificity 0" in w]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-spread", "-1"),
        ("--refer-below", "1.5"),
        ("--sensitivity", "0"),
        ("--sensitivity", "1.2"),
        ("--batch-size", "0"),
        ("--min-images", "0"),
        ("--min-per-class", "-3"),
    ],
)
def test_calibrate_options_are_range_checked(tmp_path, capsys, flag, value) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    code = main(["calibrate", str(tmp_path / "none.keras"), "--data", str(tmp_path), flag, value])
    err = capsys.readouterr().err
    assert code == 2 and flag in err and "Traceback" not in err


def _black_folder(root):  # type: ignore[no-untyped-def]
    import cv2

    for name in NAMES:
        (root / name).mkdir(parents=True)
        for i in range(8):
            cv2.imwrite(str(root / name / f"{i}.png"), np.zeros((40, 40), np.uint8))
    return root


def test_cli_calibrate_shows_the_interval_and_warns(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    path = saved_tiny_model(tmp_path / "m.keras")
    data = _black_folder(tmp_path / "black")
    assert main(["calibrate", str(path), "--data", str(data), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "95% CI" in captured.out and "on 8 COVID images" in captured.out
    assert "warning" in captured.err and "near 0.5" in captured.err
    few = tmp_path / "few"
    for name in NAMES:
        (few / name).mkdir(parents=True)
        (few / name / "0.png").write_bytes((data / name / "0.png").read_bytes())
    assert main(["calibrate", str(path), "--data", str(few)]) == 2
    err = capsys.readouterr().err
    assert "at least 20 images" in err and "--min-images" in err


def test_calibrate_checks_the_model_is_writable_first(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    import xraycls.calibration._calibrate as module

    path = saved_tiny_model(tmp_path / "m.keras")
    before = path.read_bytes()
    real_access = os.access

    def read_only(p, mode, *a, **k):  # type: ignore[no-untyped-def]
        if os.fspath(p) == os.fspath(path) and mode & os.W_OK:
            return False
        return real_access(p, mode, *a, **k)

    def no_work(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("predicted before checking that the result can be stored")

    monkeypatch.setattr(os, "access", read_only)
    monkeypatch.setattr(module, "_validation_predictions", no_work)
    with pytest.raises(ModelFileError, match="cannot store the calibration") as info:
        calibrate(path, _black_folder(tmp_path / "black"))
    assert "--dry-run" in info.value.cli_message()
    assert path.read_bytes() == before
