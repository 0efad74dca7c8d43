"""The complete Python examples of the user-guide pages run as written.

Blocks that start with ``import``/``from`` are complete examples and are executed in order, one
namespace per page; other blocks are fragments (signatures, attribute lines). The augmentation
and pipeline pages, whose examples need prepared data, are run by ``test_augment_docs.py``.
"""

from __future__ import annotations

import importlib.util

import pytest

from _helpers_docs import doc_blocks
from _helpers_zoo import registry_snapshot

_PLUGIN_INSTALLED = importlib.util.find_spec("xraycls_example_plugin") is not None


@pytest.mark.parametrize("page", ["zoo.md", "plugins.md", "explain.md", "report.md"])
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # restored afterwards
    monkeypatch.setenv("XRAYCLS_ALLOW_DOWNLOAD", "0")
    blocks = doc_blocks(page, complete_only=True)
    assert blocks, f"no runnable example in docs/{page}"
    namespace: dict[str, object] = {}
    with registry_snapshot():  # pages register backbones; leave the registry as found
        for block in blocks:
            if not _PLUGIN_INSTALLED and "tiny_convnet" in block:
                continue
            exec(compile(block, f"docs/{page}", "exec"), namespace)
