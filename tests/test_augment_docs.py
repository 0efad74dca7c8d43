"""The Python examples in docs/augment.md and docs/pipeline.md run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from _helpers_augment import make_dataset, noise_files
from _helpers_docs import doc_blocks

ROOT = Path(__file__).resolve().parents[1]


def test_augment_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = doc_blocks("augment.md")
    assert len(blocks) >= 6
    files = noise_files(tmp_path / "data", 12, size=(40, 48))
    labels = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2]
    dataset = make_dataset(files, labels, ("COVID", "Normal", "Viral"))
    monkeypatch.chdir(tmp_path)  # the examples write work/balanced relative to the cwd
    namespace: dict[str, object] = {"train": dataset, "dataset": dataset}
    for block in blocks:
        exec(compile(block, "docs/augment.md", "exec"), namespace)
    assert (tmp_path / "work" / "balanced" / "origins.csv").is_file()
    assert namespace["batches"] is not None


@pytest.mark.data
def test_pipeline_page_examples_run(cxr3_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the page's paths are relative to the repository root
    namespace: dict[str, object] = {}
    for block in doc_blocks("pipeline.md"):
        exec(compile(block, "docs/pipeline.md", "exec"), namespace)
    images, labels = namespace["images"], namespace["labels"]
    assert tuple(images.shape) == (32, 128, 128, 3)  # type: ignore[attr-defined]
    assert tuple(labels.shape) == (32, 3)  # type: ignore[attr-defined]
