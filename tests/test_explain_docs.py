"""The Python examples in docs/explain.md and docs/report.md run as written.

Blocks that start with ``import``/``from`` are complete examples and run in order, one
namespace per page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _helpers_zoo import registry_snapshot

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if b.lstrip().startswith(("import ", "from "))]


@pytest.mark.parametrize("page", ["explain.md", "report.md"])
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(page)
    assert blocks, f"{page} has no runnable examples"
    namespace: dict[str, object] = {}
    with registry_snapshot():  # the page registers a backbone; leave the registry as found
        for block in blocks:
            exec(compile(block, page, "exec"), namespace)
