"""The wheel carries the licence, the weights' notice, the package data and the console script.

The slow test builds the wheel from a copy of the project files and installs it with
``--no-deps`` into a fresh venv that has no site packages: ``xraycls --help`` must run there
(the command line imports nothing heavy), from the installed wheel and not from the source tree.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTICE = ROOT / "src" / "xraycls" / "lungs" / "WEIGHTS-NOTICE.md"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_files_exist_and_the_licence_is_mit() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "2026 xraycls developers" in text
    data = _pyproject()["tool"]["setuptools"]["package-data"]["xraycls"]
    assert "lungs/WEIGHTS-NOTICE.md" in data and "lungs/*.weights.h5" in data


def test_weights_notice_names_every_source_of_the_training_data(cxr_lungmask_dir: Path) -> None:
    text = NOTICE.read_text(encoding="utf-8")
    with (cxr_lungmask_dir / "MANIFEST.csv").open(newline="", encoding="utf-8") as f:
        sources = {(r["source_repo"], r["source_commit"], r["license"]) for r in csv.DictReader(f)}
    assert sources
    for repo, commit, licence in sources:
        assert f"`{repo}` @ `{commit}`" in text, repo
        # The licence as the source states it, up to our bold marks and wording of "the".
        for part in ("JSRT terms of use", "SCR terms of use", "Tahir et al."):
            if part in licence:
                assert part in text.replace("**", ""), part
    assert "lung_unet.weights.h5" in (ROOT / "NOTICE").read_text(encoding="utf-8")


def _copy_project(dest: Path) -> Path:
    """The files a wheel is built from, without caches, build leftovers or the tests."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=ignore)
    return dest


@pytest.mark.slow
def test_wheel_ships_licence_notice_data_and_a_working_console_script(tmp_path: Path) -> None:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed (it is in the [dev] extra)")
    # A copy, so setuptools' build/ and *.egg-info do not land in the working tree.
    project = _copy_project(tmp_path / "project")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(project)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("xraycls-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        for licence in ("LICENSE", "NOTICE", "src/xraycls/lungs/WEIGHTS-NOTICE.md"):
            assert f"{info}/licenses/{licence}" in names, licence
        metadata = zf.read(f"{info}/METADATA").decode()
        assert "License-Expression: MIT" in metadata
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        assert "[console_scripts]" in entry_points
        assert "xraycls = xraycls.cli:main" in entry_points
        assert "xraycls/py.typed" in names
        assert "xraycls/lungs/WEIGHTS-NOTICE.md" in names
        from xraycls.lungs import WEIGHTS_SHA256

        weights = zf.read("xraycls/lungs/lung_unet.weights.h5")
        assert hashlib.sha256(weights).hexdigest() == WEIGHTS_SHA256
        sources = {
            p.relative_to(ROOT / "src").as_posix()
            for p in (ROOT / "src" / "xraycls").rglob("*.py")
            if "__pycache__" not in p.parts
        }
        assert sources <= names, sorted(sources - names)
        assert not [n for n in names if n.startswith(("tests/", "xraycls/tests/"))]

    # A fresh venv without site packages (nothing of this interpreter's), the wheel alone.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    outside = tmp_path / "elsewhere"  # cwd outside the repository: no source tree on sys.path
    outside.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(
            list(args), cwd=outside, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    help_text = run(str(bindir / "xraycls"), "--help")
    assert "reproduce" in help_text and "train" in help_text
    assert run(str(bindir / "xraycls"), "--version").strip().startswith("xraycls ")
    where = run(
        str(python),
        "-c",
        "import importlib.metadata as m, importlib.resources as r, xraycls; "
        "print(xraycls.__file__); "
        "print((r.files('xraycls') / 'lungs' / 'WEIGHTS-NOTICE.md').is_file()); "
        "print(sorted(str(f) for f in m.files('xraycls') if 'licenses' in str(f)))",
    ).splitlines()
    assert Path(where[0]).is_relative_to(env_dir), where[0]
    assert where[1] == "True"
    assert "LICENSE" in where[2] and "NOTICE" in where[2]
