"""Every companion module says which page of the book explains it, and that page exists."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p for p in (ROOT / "companion").glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
PAGE = re.compile(r"book/[a-z0-9-]+\.(?:ipynb|md)")


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_names_an_existing_page_that_explains_it(path):
    doc = _docstring(path)
    pages = PAGE.findall(doc)
    assert pages, f"{path.name}: the module docstring names no book page (``book/<chapter>.ipynb``)"
    missing = [page for page in pages if not (ROOT / page).is_file()]
    assert not missing, f"{path.name} names pages that do not exist: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_is_listed_in_the_package_index(path):
    index = _docstring(ROOT / "companion" / "__init__.py")
    assert f":mod:`companion.{path.stem}`" in index, f"add companion.{path.stem} to companion/__init__.py's list"
