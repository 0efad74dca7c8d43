"""The audit numbers are defined once (``reporting/_tables.py``) and drawn the same everywhere."""

from __future__ import annotations

from html import escape
from pathlib import Path

from xraycls.auditing import AuditReport, Flag, save_audit
from xraycls.reporting._audit import audit_section
from xraycls.reporting._tables import AUDIT_ROWS, Row, cells, markdown


def _report(with_swap: bool = True) -> AuditReport:
    return AuditReport(
        class_names=["a", "b"],
        n=8,
        chance=0.5,
        full={"accuracy": 0.875},
        border_only={"accuracy": 0.625},
        lung_only={"accuracy": 0.75},
        cam_lung_share=0.4,
        text_inpainted={"accuracy": 0.875, "flip_share": 0.125, "changed_images": 3},
        source_probe_auc=0.55,
        lung_area_share=0.35,
        lung_swap={"follows_border": 0.25, "follows_lungs": 0.5, "other": 0.25, "pairs": 8}
        if with_swap
        else None,
        flags=[Flag("cam_outside_lungs", "CAM outside", 0.4, 0.5, "value < 0.5")],
    )


def test_rows_render_the_same_in_markdown_html_and_the_run_report(tmp_path: Path) -> None:
    rep = _report()
    expected = cells(AUDIT_ROWS, rep.to_dict())
    assert [label for label, _ in expected] == [row.label for row in AUDIT_ROWS]
    assert ["images the text remover changed", "3"] in expected
    assert ["lung swap pairs", "8"] in expected
    md = rep.to_markdown()
    page = save_audit(rep, tmp_path / "audit").read_text(encoding="utf-8")
    run_section = audit_section(tmp_path / "audit", tmp_path / "out", {})
    assert run_section is not None
    for label, value in expected:
        assert f"| {label} | {value} |" in md
        cell = f'<td>{escape(label)}</td><td class="num">{escape(value)}</td>'
        assert cell in page, label
        assert cell in run_section, label


def test_optional_rows_follow_their_part() -> None:
    labels = [label for label, _ in cells(AUDIT_ROWS, _report(with_swap=False).to_dict())]
    assert "lung swap pairs" not in labels
    assert "lung swap: prediction follows the border" in labels  # shown as n/a


def test_row_formats() -> None:
    data = {"a": {"b": 0.12345}, "n": 7, "missing": None}
    rows = (Row("x", ("a", "b")), Row("n", ("n",), "count"), Row("m", ("missing", "deep")))
    assert cells(rows, data, digits=2) == [["x", "0.12"], ["n", "7"], ["m", "n/a"]]
    assert markdown(["k", "v"], [["x", "1"]]) == "| k | v |\n|---|---:|\n| x | 1 |"
