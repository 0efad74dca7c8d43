"""The shortcut audit, both ways: a planted corner mark is flagged, a lung-reading model is not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import xraycls
from _helpers_audit import SIZE, corner_inpainter, known_lungs, phantoms, trained_phantom_model
from xraycls.auditing import AuditReport, Flag, Thresholds, audit, find_flags
from xraycls.auditing._probe import source_probe
from xraycls.cli import main
from xraycls.errors import ConfigError, DependencyError

TEST_N = 60


def _run(model, kind: str, out: Path | None = None, **kwargs) -> AuditReport:
    return audit(
        model,
        phantoms(kind, TEST_N, seed=1),
        lung_masks=known_lungs,
        text_remover=corner_inpainter,
        out=out,
        **kwargs,
    )


@pytest.fixture(scope="module")
def shortcut_model():
    return trained_phantom_model(phantoms("shortcut", 160, seed=0))


@pytest.fixture(scope="module")
def lung_model():
    return trained_phantom_model(phantoms("lungs", 160, seed=0))


@pytest.fixture(scope="module")
def shortcut_audit(shortcut_model, tmp_path_factory) -> tuple[AuditReport, Path]:
    out = tmp_path_factory.mktemp("shortcut-audit")
    return _run(shortcut_model, "shortcut", out), out


def test_a_planted_corner_mark_raises_flags(shortcut_audit) -> None:
    rep, _ = shortcut_audit
    assert rep.full["accuracy"] >= 0.9
    # The mark sits outside the lungs: blacking out the lungs changes nothing. The two images
    # of each pair share their lungs (plus the margin), so keeping only the lungs gives both the
    # same input: exactly one of them is right, whatever the weights and the CPU's numerics.
    assert rep.border_only["accuracy"] >= 0.8
    assert rep.lung_only["accuracy"] == 0.5
    assert rep.border_only["accuracy"] - rep.lung_only["accuracy"] >= 0.3
    codes = [flag.code for flag in rep.flags]
    assert "border_only_above_chance" in codes and "border_beats_lungs" in codes
    # Lungs from an image of the other class change nothing: the prediction follows the mark.
    swap = rep.lung_swap
    assert swap is not None and swap["pairs"] == TEST_N
    assert swap["follows_border"] >= 0.8 and swap["follows_lungs"] <= 0.2
    assert abs(swap["follows_border"] - rep.full["accuracy"]) <= 0.1
    assert "lung_swap_follows_border" in codes
    # Inpainting the corners removes the mark: the predictions flip.
    assert rep.text_inpainted["flip_share"] >= 0.3
    assert "text_changes_predictions" in codes
    assert rep.cam_lung_share is not None and rep.cam_lung_share < 0.5
    for flag in rep.flags:
        assert flag.value is not None and flag.threshold is not None and flag.rule
    border = next(f for f in rep.flags if f.code == "border_only_above_chance")
    assert (
        f"{rep.border_only['accuracy']:.2f}" in border.message and "chance 0.50" in border.message
    )


def test_a_model_that_reads_the_lungs_raises_no_flag(lung_model) -> None:
    rep = _run(lung_model, "lungs")
    assert rep.full["accuracy"] >= 0.9
    assert rep.lung_only["accuracy"] >= 0.8
    # Each pair shares everything outside the lungs: one border-only input for both classes.
    assert rep.border_only["accuracy"] == 0.5
    # The swapped-in lungs decide.
    swap = rep.lung_swap
    assert swap is not None and swap["pairs"] == TEST_N
    assert swap["follows_border"] <= 0.2 and swap["follows_lungs"] >= 0.8
    assert rep.cam_lung_share is not None and rep.cam_lung_share >= 0.5
    assert rep.text_inpainted["flip_share"] <= 0.05
    assert rep.flags == []
    assert rep.chance == 0.5 and rep.n == TEST_N
    assert 0.3 < (rep.lung_area_share or 0) < 0.5


def test_lung_swap_sees_a_shortcut_that_black_lungs_hide() -> None:
    # Issue #17: trained without ever seeing dark lungs, the corner-mark model collapses on
    # blacked-out lungs, so border-only accuracy sits at chance and raises nothing. Swapping in
    # the lungs of the other class stays in distribution: the prediction follows the mark.
    model = trained_phantom_model(phantoms("shortcut-bright", 160, seed=0))
    rep = _run(model, "shortcut-bright")
    assert rep.full["accuracy"] >= 0.9
    assert rep.border_only["accuracy"] <= 0.7
    assert rep.lung_swap is not None and rep.lung_swap["follows_border"] >= 0.8
    codes = [flag.code for flag in rep.flags]
    assert "lung_swap_follows_border" in codes and "border_only_above_chance" not in codes


def test_audit_writes_json_html_and_figures(shortcut_audit) -> None:
    rep, out = shortcut_audit
    data = json.loads((out / "audit.json").read_text())
    for key in (
        "full", "border_only", "lung_only", "cam_lung_share", "text_inpainted",
        "source_probe_auc", "flags", "lung_swap",
    ):  # fmt: skip
        assert key in data
    assert isinstance(data["full"]["accuracy"], float)
    assert 0.0 <= data["cam_lung_share"] <= 1.0
    assert data["source_probe_auc"] is None  # no sources given
    assert AuditReport.from_dict(data) == rep
    page = (out / "audit.html").read_text()
    assert "border_only_above_chance" in page and "data:image/png;base64" in page
    assert set(data["lung_swap"]) == {"follows_border", "follows_lungs", "other", "pairs"}
    assert "lung_swap_follows_border" in page and "Lung swap" in page
    for name in ("audit_metrics.png", "audit_inputs.png", "audit_cams.png", "audit_lung_swap.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_the_source_probe_sees_what_the_features_encode(shortcut_model) -> None:
    # Within each class, "source" = whether the corner mark is present: the shortcut model's
    # features encode it, so the probe finds it. Random sources are not found.
    data = phantoms("lungs", 80, seed=2)
    marked = ["marked" if img.max() == 255 else "plain" for img in data.images]
    rep = audit(
        shortcut_model, data, lung_masks=known_lungs, text_remover=corner_inpainter,
        sources=marked,
    )  # fmt: skip
    assert set(rep.source_probe) == {"COVID", "Normal"}
    assert rep.source_probe_auc is not None and rep.source_probe_auc > 0.9
    assert "features_encode_source" in [f.code for f in rep.flags]
    shuffled = list(np.random.default_rng(0).permutation(marked))
    rep = audit(
        shortcut_model, data, lung_masks=known_lungs, text_remover=corner_inpainter,
        sources=shuffled,
    )  # fmt: skip
    assert rep.source_probe_auc is not None and rep.source_probe_auc < 0.75


def test_source_probe_on_features() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(60, 8))
    labels = [0] * 30 + [1] * 30
    sources = ["a", "b"] * 15 + ["c"] * 30
    feats[:30:2, 3] += 3.0  # source "a" is visible on one axis
    out = source_probe(feats, labels, sources, ["COVID", "Normal"], seed=0)
    assert set(out) == {"COVID"}  # Normal has one source: nothing to probe
    assert out["COVID"]["auc"] > 0.9 and out["COVID"]["sources"] == {"a": 15, "b": 15}
    noise = source_probe(rng.normal(size=(60, 8)), labels, sources, ["COVID", "Normal"], seed=0)
    assert noise["COVID"]["auc"] < 0.8
    # Patients are kept within one fold, and the result is seeded.
    groups = [f"p{i // 2}" for i in range(60)]
    first = source_probe(feats, labels, sources, ["COVID", "Normal"], groups=groups, seed=3)
    assert first == source_probe(feats, labels, sources, ["COVID", "Normal"], groups=groups, seed=3)


def test_lung_swap_pairs_are_seeded_and_across_classes() -> None:
    from xraycls.auditing._audit import _swap_pairs
    from xraycls.auditing._masks import swap_lungs

    labels = np.array([0, 0, 1, 2, 2, 1, 0, 1])
    pairs = _swap_pairs(labels, seed=3, limit=100)
    assert [a for a, _ in pairs] == list(range(8))
    assert all(labels[a] != labels[b] for a, b in pairs)
    assert pairs == _swap_pairs(labels, seed=3, limit=100)
    assert pairs != _swap_pairs(labels, seed=4, limit=100)
    assert len(_swap_pairs(labels, seed=3, limit=5)) == 5
    assert _swap_pairs(np.zeros(5, int), seed=0, limit=10) == []
    # The donor's lung box is moved onto the recipient's, then covers the lung field
    # completely; the feathered edge blends outside it only.
    image = np.full((16, 16, 3), 200, np.uint8)
    donor = np.full((16, 16, 3), 90, np.uint8)
    mask, donor_mask = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    mask[4:8, 4:10], donor_mask[9:13, 2:8] = True, True
    donor[9:13, 2:8] = 0  # the donor's lungs: black
    out = swap_lungs(image, mask, donor, donor_mask, 2)
    assert (out[mask] == 0).all() and (out[0, 0] == 200).all()
    assert 90 <= out[5, 11, 0] < 200  # next to the lung field: blended with the donor's body
    small = np.zeros((16, 16), bool)
    small[10:12, 3:6] = True  # a lung box half the size: scaled up onto the recipient's
    donor = np.full((16, 16, 3), 90, np.uint8)
    donor[small] = 0
    out = swap_lungs(image, mask, donor, small, 0)
    assert (out[5:7, 5:9] == 0).all() and (out[~mask] == 200).all()
    identity = swap_lungs(image, mask, donor, mask, 0)
    assert (identity[mask] == 90).all() and (identity[~mask] == 200).all()


def test_single_source_classes_are_named() -> None:
    rep = {
        "chance": 0.4, "class_names": ["COVID", "Normal", "Viral Pneumonia"],
        "full": {"accuracy": 0.9}, "border_only": {"accuracy": 0.4, "accuracy_ci": [0.3, 0.5]},
        "lung_only": {"accuracy": 0.9}, "cam_lung_share": 0.8,
        "text_inpainted": {"flip_share": 0.0}, "source_probe_auc": 0.6,
    }  # fmt: skip
    labels = [0, 0, 1, 1, 2, 2]
    sources = ["armiro", "ieee", "kids", "kids", "kids", "kids"]
    flags = find_flags(rep, Thresholds(), labels=labels, sources=sources)
    assert [f.code for f in flags] == ["single_source_class", "single_source_class"]
    assert "every Normal image comes from one source (kids)" in flags[0].message
    assert "also supplies Viral Pneumonia" in flags[0].message
    assert "no COVID image" in flags[0].message and "adult" in flags[0].message
    named = find_flags(rep, Thresholds(), labels=labels, sources=sources,
                       populations={"kids": "paediatric films"})  # fmt: skip
    assert "(kids; paediatric films)" in named[0].message
    assert find_flags(rep, Thresholds(), labels=labels, sources=["unknown"] * 6) == []


def test_thresholds_and_report_round_trip() -> None:
    assert Thresholds.from_dict(Thresholds(cam_lung_share=0.6).to_dict()) == Thresholds(
        cam_lung_share=0.6
    )
    with pytest.raises(ConfigError, match="Thresholds: unknown key 'cam'"):
        Thresholds.from_dict({"cam": 0.5})
    with pytest.raises(ConfigError, match="probe_auc"):
        Thresholds(probe_auc=1.5)
    rep = AuditReport(
        ["a", "b"], 4, 0.5, {"accuracy": float("nan")}, {"accuracy": 0.5}, {"accuracy": 1.0},
        None, {"accuracy": 1.0, "flip_share": 0.0},
        flags=[Flag("cam_outside_lungs", "m", 0.2, 0.5, "value < 0.5")],
    )  # fmt: skip
    back = AuditReport.from_json(rep.to_json())
    assert back.full["accuracy"] is None and back.flags == rep.flags
    with pytest.raises(ConfigError, match="AuditReport: missing key 'full'"):
        AuditReport.from_dict({"class_names": [], "n": 0, "chance": 0})


def test_bad_inputs_get_clear_errors(lung_model, monkeypatch) -> None:
    data = phantoms("lungs", 6, seed=3)
    with pytest.raises(ConfigError, match=r"mask for lungs-3-0\.png"):
        audit(lung_model, data, lung_masks=lambda imgs: [np.ones((5, 5), bool)] * len(imgs),
              text_remover=corner_inpainter)  # fmt: skip
    with pytest.raises(ConfigError, match="sources has 2 entries for 6 images"):
        audit(lung_model, data, lung_masks=known_lungs, text_remover=corner_inpainter,
              sources=["a", "b"])  # fmt: skip
    clf = xraycls.Classifier(lung_model, ["Normal", "COVID"])
    with pytest.raises(ConfigError, match="differ from the dataset's"):
        audit(clf, data, lung_masks=known_lungs, text_remover=corner_inpainter)
    monkeypatch.setitem(sys.modules, "xraycls.lungs", None)
    with pytest.raises(DependencyError, match="pass lung_masks="):
        audit(lung_model, data, text_remover=corner_inpainter)


def test_audit_is_a_function_also_after_importing_its_subpackage() -> None:
    import inspect

    import xraycls.auditing

    assert inspect.isfunction(xraycls.audit) and xraycls.audit is xraycls.auditing.audit
    assert "audit" in xraycls.__all__ and "AuditReport" in xraycls.__all__


def _write_folder(root: Path, data) -> Path:
    import cv2

    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        folder = root / data.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return root


def _known_defaults(monkeypatch, masks=known_lungs) -> None:
    from xraycls.auditing import _audit

    monkeypatch.setattr(_audit, "_default_lung_masks", lambda: masks)
    monkeypatch.setattr(_audit, "_default_text_remover", lambda: corner_inpainter)


def test_cli_audit_writes_the_report(lung_model, tmp_path, monkeypatch, capsys) -> None:
    _known_defaults(monkeypatch)
    model_path = xraycls.save_model(
        lung_model, tmp_path / "m.keras", class_names=["COVID", "Normal"]
    )
    data = _write_folder(tmp_path / "data", phantoms("lungs", 20, seed=4))
    out = tmp_path / "audit"
    assert main(["audit", str(model_path), "--data", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "border-only accuracy" in printed and "audit.json" in printed
    assert json.loads((out / "audit.json").read_text())["n"] == 20
    assert (
        main(["audit", str(tmp_path / "missing.keras"), "--data", str(data), "--out", str(out)])
        == 2
    )
    assert "error:" in capsys.readouterr().err


def test_reproduce_audit_lands_in_the_run_report(tmp_path, monkeypatch) -> None:
    from _helpers_train import make_image_folder

    # The generated images have no anatomy: the middle of the image stands in for the lungs.
    def middle(images):
        masks = [np.zeros(img.shape[:2], bool) for img in images]
        for mask in masks:
            mask[
                mask.shape[0] // 4 : -mask.shape[0] // 4, mask.shape[1] // 4 : -mask.shape[1] // 4
            ] = True
        return masks

    _known_defaults(monkeypatch, middle)
    data = make_image_folder(tmp_path / "data", per_class=6, size=SIZE)
    xraycls.reproduce(
        data, profile="quick", out=tmp_path / "out", verbose=0, audit=True,
        train={"epochs": 1}, image_size=SIZE,
        model_kwargs={"simple_cnn": {"width": 4, "head_width": 8}},
    )  # fmt: skip
    run = tmp_path / "out" / "simple_cnn"
    assert (run / "audit.json").is_file() and (run / "audit.html").is_file()
    page = xraycls.report(run, n_cam=0).read_text()
    assert 'id="audit"' in page and "border-only accuracy" in page
    assert "lung swap: prediction follows the border" in page
    # The whole output folder: one page, linking the model's own report.
    top = xraycls.report(tmp_path / "out", n_cam=0).read_text()
    assert '<a href="../simple_cnn/report/report.html">simple_cnn</a>' in top
    assert "shortcut audit" in top and (run / "report" / "report.html").is_file()
