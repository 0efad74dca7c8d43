"""The Python examples in docs/zoo.md and docs/plugins.md run as written.

Blocks that start with ``import``/``from`` are complete examples and are executed in order,
one namespace per page; other blocks are fragments (signatures, attribute lines).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from _helpers_zoo import registry_snapshot

DOCS = Path(__file__).resolve().parents[1] / "docs"
_PLUGIN_INSTALLED = importlib.util.find_spec("xraycls_example_plugin") is not None


def _blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if b.lstrip().startswith(("import ", "from "))]


@pytest.mark.parametrize("page", ["zoo.md", "plugins.md"])
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # restored afterwards
    monkeypatch.setenv("XRAYCLS_ALLOW_DOWNLOAD", "0")
    blocks = _blocks(page)
    assert blocks, f"no runnable example in docs/{page}"
    namespace: dict[str, object] = {}
    with registry_snapshot():
        for block in blocks:
            if not _PLUGIN_INSTALLED and "tiny_convnet" in block:
                continue
            exec(compile(block, f"docs/{page}", "exec"), namespace)
