"""``training_data``: the age summary must not hide sources whose ages were never recorded."""

from __future__ import annotations

import numpy as np

from xraycls.data import Dataset
from xraycls.train._summary import training_summary


def test_age_summary_counts_and_names_sources_without_ages() -> None:
    # cxr3's children have no recorded age; the adult set has ages 18-83. A range over the
    # known ages alone said "18-83" for a model trained half on children.
    ds = Dataset(
        ("a", "b", "c", "d"),
        np.array([0, 1, 1, 1]),
        ("COVID", "Normal"),
        meta={"source": ["adult", "adult", "kids", "kids"], "age": ["18", "83", "", ""]},
    )
    summary = training_summary(ds)
    assert summary["age"] == {"min": 18.0, "max": 83.0, "median": 50.5, "known": 2, "unknown": 2}
    assert summary["sources"]["kids"]["age"] is None
    assert summary["sources"]["adult"]["age"]["known"] == 2


def test_no_age_column_means_no_age_keys() -> None:
    ds = Dataset(("a", "b"), np.array([0, 1]), ("COVID", "Normal"), meta={"source": ["x", "y"]})
    summary = training_summary(ds)
    assert summary["age"] is None
    assert "age" not in summary["sources"]["x"]
