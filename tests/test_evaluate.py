"""Metrics: hand-computed examples, invariants (hypothesis), report round trips, evaluate()."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers_train import arrays, make_image_folder, tiny_model
from xraycls.errors import ConfigError
from xraycls.evaluation import (
    EvaluationReport,
    compute_metrics,
    evaluate,
    expected_calibration_error,
    wilson_interval,
)

NAMES = ["COVID", "Normal", "Viral Pneumonia"]


def _probs(pred: list[int], c: int = 3, top: float = 0.6) -> np.ndarray:
    p = np.full((len(pred), c), (1 - top) / (c - 1))
    p[np.arange(len(pred)), pred] = top
    return p


# Confusion matrix [[2, 1, 0], [0, 1, 1], [1, 0, 4]] (rows true, columns predicted).
Y = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
PRED = [0, 0, 1, 1, 2, 2, 2, 2, 0, 2]


def test_hand_computed_three_class_example() -> None:
    rep = compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=200)
    assert rep.confusion_matrix == [[2, 1, 0], [0, 1, 1], [1, 0, 4]]
    assert rep.n == 10 and rep.accuracy.value == 0.7
    expected = {  # sensitivity, specificity, ppv, npv, f1, support
        "COVID": (2 / 3, 6 / 7, 2 / 3, 6 / 7, 2 / 3, 3),
        "Normal": (1 / 2, 7 / 8, 1 / 2, 7 / 8, 1 / 2, 2),
        "Viral Pneumonia": (4 / 5, 4 / 5, 4 / 5, 4 / 5, 4 / 5, 5),
    }
    for name, (sens, spec, ppv, npv, f1, support) in expected.items():
        m = rep.per_class[name]
        assert m.support == support
        assert m.sensitivity.value == pytest.approx(sens)
        assert m.specificity.value == pytest.approx(spec)
        assert m.ppv.value == pytest.approx(ppv)
        assert m.npv.value == pytest.approx(npv)
        assert m.f1.value == pytest.approx(f1)
        assert m.sensitivity.method == "wilson" and m.f1.method == "bootstrap"
    assert rep.macro["sensitivity"].value == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    assert rep.macro["f1"].value == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    # 7 right answers at p=0.6, 3 wrong ones where the true class got 0.2.
    assert rep.loss == pytest.approx((7 * -math.log(0.6) + 3 * -math.log(0.2)) / 10)
    # Every confidence is 0.6 and accuracy is 0.7: ECE = |0.7 - 0.6|.
    assert rep.calibration["ece"] == pytest.approx(0.1)
    assert sum(b["count"] for b in rep.calibration["bins"]) == 10
    assert len(rep.calibration["bins"]) == 15
    # Wilson 95% interval of 7/10 (published value: 0.3968 - 0.8922).
    assert (rep.accuracy.low, rep.accuracy.high) == (
        pytest.approx(0.39678, abs=1e-4),
        pytest.approx(0.89222, abs=1e-4),
    )
    # Wilson 95% interval of 2/3 for COVID sensitivity: 0.2077 - 0.9385.
    cov = rep.per_class["COVID"].sensitivity
    assert (cov.low, cov.high) == (pytest.approx(0.2077, abs=1e-4), pytest.approx(0.9385, abs=1e-4))
    pred_rows = rep.predictions
    assert [p.true for p in pred_rows[:3]] == ["COVID"] * 3
    assert pred_rows[2].predicted == "Normal" and pred_rows[2].probabilities["Normal"] == 0.6


def test_hand_computed_auc_and_roc() -> None:
    # The classic example: AUC 0.75 (3 of 4 positive/negative pairs ranked correctly).
    p_pos = np.array([0.1, 0.4, 0.35, 0.8])
    rep = compute_metrics(
        [0, 0, 1, 1], np.stack([1 - p_pos, p_pos], axis=1), ["neg", "pos"], n_bootstrap=300
    )
    assert rep.per_class["pos"].auc.value == pytest.approx(0.75)
    assert rep.per_class["neg"].auc.value == pytest.approx(0.75)
    assert rep.macro["auc"].value == pytest.approx(0.75)
    roc = rep.roc_curves["pos"]
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    assert roc["thresholds"][0] is None  # sklearn's +inf threshold, stored as null
    auc = rep.per_class["pos"].auc
    assert auc.method == "bootstrap" and 0 <= auc.low <= 0.75 <= auc.high <= 1


def test_wilson_interval_reference_values() -> None:
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.72247, abs=1e-4), 1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    low, high = wilson_interval(50, 100, level=0.99)
    # z = 2.5758: centre 0.5, half-width z * sqrt(0.25/100 + z**2/40000) / (1 + z**2/100)
    assert (low, high) == (pytest.approx(0.37528, abs=1e-4), pytest.approx(0.62472, abs=1e-4))


def test_calibration_bins() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.95, 0.05], [0.45, 0.55], [0.1, 0.9], [0.3, 0.7]])
    ece, bins = expected_calibration_error(y, p, n_bins=10)
    # bins: (0.5, 0.6] holds 0.55 (right), (0.6, 0.7] holds 0.7 (wrong), (0.8, 0.9] holds 0.9
    # (right), (0.9, 1] holds 0.95 (right)
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 0, 1, 1, 0, 1, 1]
    assert ece == pytest.approx((0.45 + 0.7 + 0.1 + 0.05) / 4)
    assert bins[6]["accuracy"] == 0.0 and bins[6]["confidence"] == pytest.approx(0.7)
    assert bins[0]["confidence"] is None


def test_absent_class_gives_undefined_auc_with_a_note() -> None:
    y = [0, 0, 1, 1, 1]
    rep = compute_metrics(y, _probs([0, 1, 1, 1, 2]), NAMES, n_bootstrap=100)
    viral = rep.per_class["Viral Pneumonia"]
    assert viral.support == 0 and viral.auc.value is None and viral.sensitivity.value is None
    assert viral.specificity.value == pytest.approx(4 / 5)
    assert any("Viral Pneumonia" in n and "AUC" in n for n in rep.notes)
    assert rep.roc_curves["Viral Pneumonia"] == {"fpr": [], "tpr": [], "thresholds": []}
    assert rep.macro["auc"].value == pytest.approx(
        np.mean([rep.per_class[c].auc.value for c in NAMES[:2]])
    )
    text = rep.to_json()  # strict JSON: no NaN literal
    assert (
        "NaN" not in text
        and json.loads(text)["per_class"]["Viral Pneumonia"]["auc"]["value"] is None
    )
    assert "n/a" in rep.to_markdown()


def test_one_hot_labels_and_files() -> None:
    onehot = np.eye(3)[Y]
    files = [f"img{i}.png" for i in range(10)]
    a = compute_metrics(onehot, _probs(PRED), NAMES, files=files, n_bootstrap=50)
    b = compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=50)
    assert a.confusion_matrix == b.confusion_matrix and a.macro == b.macro
    assert [p.file for p in a.predictions] == files and b.predictions[0].file is None


@pytest.mark.parametrize(
    ("y", "p", "names", "match"),
    [
        ([0, 1], np.ones((3, 2)) / 2, ["a", "b"], "shape"),
        ([0, 2], np.ones((2, 2)) / 2, ["a", "b"], "outside"),
        ([0, 1], np.ones((2, 2)) / 2, ["a"], "class names"),
        ([0, 1], np.array([[np.nan, 1], [0.5, 0.5]]), ["a", "b"], "NaN"),
        ([], np.zeros((0, 2)), ["a", "b"], "N > 0"),
        ([0.5, 1], np.ones((2, 2)) / 2, ["a", "b"], "integer"),
    ],
)
def test_bad_inputs_are_config_errors(y, p, names, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        compute_metrics(y, p, names, n_bootstrap=10)


def test_report_round_trip_and_markdown() -> None:
    rep = compute_metrics(
        Y, _probs(PRED), NAMES, files=[f"f{i}" for i in range(10)], n_bootstrap=100
    )
    assert EvaluationReport.from_dict(rep.to_dict()) == rep
    assert EvaluationReport.from_json(rep.to_json()) == rep
    md = rep.to_markdown()
    for name in [*NAMES, "Sensitivity", "Specificity", "PPV", "NPV", "F1", "AUC", "macro"]:
        assert name in md
    assert "0.667 (0.208-0.939)" in md  # COVID sensitivity with its Wilson interval
    assert "| COVID | 2 | 1 | 0 |" in md  # confusion-matrix row
    with pytest.raises(ConfigError, match="accuracy"):
        EvaluationReport.from_dict({k: v for k, v in rep.to_dict().items() if k != "accuracy"})


def test_bootstrap_is_seeded() -> None:
    a = compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=200, seed=1)
    b = compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=200, seed=1)
    c = compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=200, seed=2)
    assert a == b
    assert a.macro["f1"] != c.macro["f1"]
    assert compute_metrics(Y, _probs(PRED), NAMES, n_bootstrap=0).per_class["COVID"].f1.low is None


# ---------------------------------------------------------------- hypothesis invariants


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    c = draw(st.integers(2, 4))
    n = draw(st.integers(2, 40))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    raw = draw(st.lists(st.floats(0.01, 1.0), min_size=n * c, max_size=n * c))
    p = np.array(raw).reshape(n, c)
    return y, p / p.sum(axis=1, keepdims=True)


def _estimates(rep: EvaluationReport):  # type: ignore[no-untyped-def]
    yield rep.accuracy
    yield from rep.macro.values()
    for m in rep.per_class.values():
        yield from (m.sensitivity, m.specificity, m.ppv, m.npv, m.f1, m.auc)


@settings(max_examples=40, deadline=None)
@given(_cases())
def test_values_in_unit_interval_and_cis_contain_estimate(case) -> None:  # type: ignore[no-untyped-def]
    y, p = case
    rep = compute_metrics(y, p, [f"c{k}" for k in range(p.shape[1])], n_bootstrap=200)
    for est in _estimates(rep):
        if est.value is None:
            continue
        assert 0 <= est.value <= 1
        if est.low is not None:
            assert 0 <= est.low <= est.value <= est.high <= 1
    assert 0 <= rep.calibration["ece"] <= 1
    assert rep.loss is not None and rep.loss >= 0
    assert np.sum(rep.confusion_matrix) == len(y)


@settings(max_examples=30, deadline=None)
@given(_cases(), st.randoms(use_true_random=False))
def test_permuting_samples_changes_nothing(case, rnd) -> None:  # type: ignore[no-untyped-def]
    y, p = case
    order = list(range(len(y)))
    rnd.shuffle(order)
    names = [f"c{k}" for k in range(p.shape[1])]
    a = compute_metrics(y, p, names, n_bootstrap=100)
    b = compute_metrics(y[order], p[order], names, n_bootstrap=100)
    assert a.per_class == b.per_class and a.macro == b.macro and a.accuracy == b.accuracy
    assert a.confusion_matrix == b.confusion_matrix
    assert a.loss == pytest.approx(b.loss) and a.calibration["ece"] == pytest.approx(
        b.calibration["ece"]
    )
    assert [a.predictions[i] for i in order] == b.predictions


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.integers(1, 8), st.randoms(use_true_random=False))
def test_perfect_predictions_score_one(c, per_class, rnd) -> None:  # type: ignore[no-untyped-def]
    y = np.repeat(np.arange(c), per_class)
    rnd.shuffle(y)
    rep = compute_metrics(y, np.eye(c)[y], [f"c{k}" for k in range(c)], n_bootstrap=100)
    assert rep.accuracy.value == 1.0 and rep.calibration["ece"] == pytest.approx(0)
    for est in _estimates(rep):
        assert est.value == 1.0
    assert rep.loss == pytest.approx(0, abs=1e-6)


# ---------------------------------------------------------------- evaluate() on a model


def test_evaluate_arrays_matches_model_predictions() -> None:
    model = tiny_model()
    x, y = arrays(12)
    rep = evaluate(model, (x, y), batch_size=5, class_names=NAMES, n_bootstrap=50)
    probs = model.predict_on_batch(x)
    assert rep.n == 12
    assert rep.confusion_matrix == compute_metrics(y, probs, NAMES, n_bootstrap=0).confusion_matrix
    got = np.array([[r.probabilities[n] for n in NAMES] for r in rep.predictions])
    np.testing.assert_allclose(got, probs, rtol=1e-5, atol=1e-6)


def test_evaluate_a_dataset_records_files(tmp_path: Path) -> None:
    from xraycls.data import load_dataset

    ds = load_dataset(make_image_folder(tmp_path, per_class=3))
    rep = evaluate(tiny_model(), ds, batch_size=4, n_bootstrap=20)
    assert rep.class_names == list(ds.class_names)
    assert [p.file for p in rep.predictions] == [str(f) for f in ds.files]
    assert [p.true for p in rep.predictions] == [ds.class_names[k] for k in ds.labels]


def test_evaluate_rejects_wrong_class_names() -> None:
    with pytest.raises(ConfigError, match="3 classes but 2 class names"):
        evaluate(tiny_model(), arrays(6), class_names=["a", "b"], n_bootstrap=10)
