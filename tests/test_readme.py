"""The README's two set-up commands are the ones users and CI actually run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands), "each set-up command is one line"
    main_job, tests = commands
    assert "xraycls reproduce --profile multisource" in main_job
    assert "pytest" in tests and "mkdocs build --strict" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines()]
    assert _setup_commands()[1] in ci_lines


def test_ci_runs_the_slow_tests_after_the_readme_test_command() -> None:
    """The README command runs the fast suite; the tests marked slow run in CI right after it."""
    assert '-m "not slow"' in _setup_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    readme = ci_lines.index(_setup_commands()[1])
    slow = [i for i, line in enumerate(ci_lines) if "pytest" in line and "-m slow" in line]
    assert slow and slow[0] > readme, "CI must run `pytest -m slow` after the README command"
