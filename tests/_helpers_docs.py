"""Reading the Python examples out of the documentation pages, so tests can run them."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doc_blocks(page: str, *, complete_only: bool = False) -> list[str]:
    """The ```` ```python ```` blocks of ``docs/<page>``, in order.

    With ``complete_only``, only blocks that start with ``import``/``from`` (complete examples,
    as opposed to fragments such as signatures) are returned.
    """
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    if complete_only:
        blocks = [b for b in blocks if b.lstrip().startswith(("import ", "from "))]
    return blocks
