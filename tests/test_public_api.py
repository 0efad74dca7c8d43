"""``__all__``, the lazy names and the ``TYPE_CHECKING`` imports of a package agree.

A package that imports some names lazily (PEP 562 ``__getattr__``) lists them three times: in
``__all__``, in what ``__getattr__`` resolves (``xraycls._LAZY`` at the top) and in the
``if TYPE_CHECKING:`` imports that type checkers and IDEs see. These tests read the three from
the source (``ast``) and check at run time that every listed name resolves to the object its
``TYPE_CHECKING`` import names. Every ``__init__.py`` with a ``__getattr__`` is checked, so a new
lazy package is covered without editing this file.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import xraycls

SRC = Path(xraycls.__file__).resolve().parent


def _module_name(init: Path) -> str:
    return ".".join(("xraycls", *init.parent.relative_to(SRC).parts))


LAZY_PACKAGES = sorted(
    _module_name(p)
    for p in SRC.rglob("__init__.py")
    if "__pycache__" not in p.parts
    and any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
        for node in ast.parse(p.read_text(encoding="utf-8")).body
    )
)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Declared:
    """What a package ``__init__`` declares, read from its source."""

    def __init__(self, package: str) -> None:
        path = SRC.joinpath(*package.split(".")[1:], "__init__.py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.all: list[str] = []
        self.eager: set[str] = set()  # public names bound at import time
        self.type_checking: dict[str, str] = {}  # name -> module of its TYPE_CHECKING import
        self.lazy_map: dict[str, str] | None = None  # xraycls._LAZY
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                if node.module in ("typing", "collections.abc"):
                    continue
                self.eager |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                for sub in node.body:
                    assert isinstance(sub, ast.ImportFrom), ast.dump(sub)
                    for alias in sub.names:
                        name = alias.asname or alias.name
                        assert name not in self.type_checking, f"{name} imported twice"
                        self.type_checking[name] = sub.module or ""
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if "__all__" in names:
                    self.all = list(ast.literal_eval(node.value))
                elif "_LAZY" in names:
                    self.lazy_map = ast.literal_eval(node.value)
                else:
                    self.eager |= set(names)
        self.eager = {n for n in self.eager if not n.startswith("_") or n == "__version__"}


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_all_lazy_names_and_type_checking_imports_agree(package: str) -> None:
    declared = _Declared(package)
    module = importlib.import_module(package)
    assert declared.all == module.__all__
    assert len(declared.all) == len(set(declared.all)), "duplicate names in __all__"
    lazy = set(declared.type_checking)
    assert lazy, f"{package} has a __getattr__ but no TYPE_CHECKING imports of its lazy names"
    if declared.lazy_map is not None:
        assert declared.lazy_map == declared.type_checking, "_LAZY != TYPE_CHECKING imports"
    assert not lazy & declared.eager, "a name is both imported eagerly and lazily"
    assert set(declared.all) == declared.eager | lazy, (
        f"in __all__ only: {sorted(set(declared.all) - declared.eager - lazy)}; "
        f"public but not in __all__: {sorted((declared.eager | lazy) - set(declared.all))}"
    )
    for name in declared.all:
        value = getattr(module, name)
        if name in lazy:
            source = importlib.import_module(declared.type_checking[name])
            assert value is getattr(source, name), name
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = module.no_such_name


def test_the_top_level_package_is_checked_with_its_lazy_map() -> None:
    assert "xraycls" in LAZY_PACKAGES
    assert _Declared("xraycls").lazy_map


def test_every_public_module_is_an_attribute_of_the_package() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(SRC)]) if not m.name.startswith("_")}
    for name in sorted(modules):
        assert getattr(xraycls, name) is importlib.import_module(f"xraycls.{name}"), name
    assert set(dir(xraycls)) >= set(xraycls.__all__)


def test_import_xraycls_loads_neither_keras_nor_tensorflow() -> None:
    """The lazy map keeps ``import xraycls`` (and a profile look-up) light, in a fresh process.

    (``tests/test_protocols.py::test_subpackages_are_reachable_as_attributes`` also resolves
    ``xraycls.explain``, which loads TensorFlow, and is marked slow.)
    """
    code = (
        "import sys, xraycls; "
        "assert xraycls.protocols.get_profile('quick').name == 'quick'; "
        "print(sorted({'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
