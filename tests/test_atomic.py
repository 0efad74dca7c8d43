"""Every file xraycls writes goes through one atomic writer."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from xraycls._atomic import atomic_target, write_bytes_atomic, write_text_atomic


def test_write_replaces_whole_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "results.json"
    write_text_atomic(target, "old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_the_old_file(tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "best.keras"
    target.write_bytes(b"good model")
    with pytest.raises(error), atomic_target(target, suffix=".tmp.keras") as tmp:
        assert tmp.name.endswith(".tmp.keras") and tmp.parent == tmp_path
        tmp.write_bytes(b"half a mod")
        raise error()
    assert target.read_bytes() == b"good model"
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]
