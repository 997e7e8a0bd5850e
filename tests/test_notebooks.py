"""Structural checks of every chapter; nbval checks their outputs."""

import re
from pathlib import Path

import nbformat
import pytest

from companion.profiling import toc_notebooks

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = toc_notebooks()
EXEMPT = re.compile(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)")


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def test_every_notebook_is_in_the_toc():
    on_disk = {p.resolve() for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert on_disk == {p.resolve() for p in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "**Overview.**" in text and "Learning objectives" in text
    assert "## Summary" in text and "## Exercises" in text
    first_code = _code_cells(nb)[0].source
    assert "companion.setup(" in first_code, "the first code cell must call companion.setup()"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_was_executed_top_to_bottom_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in _code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), "run `make execute` (fresh kernel, top to bottom)"
    for cell in _code_cells(nb):
        assert all(o.get("output_type") != "error" for o in cell.outputs)


def test_at_most_ten_percent_of_code_cells_are_exempt_from_nbval():
    cells = [c for p in CHAPTERS for c in _code_cells(nbformat.read(p, as_version=4))]
    exempt = [c for c in cells if EXEMPT.search(c.source) or {"nbval-ignore-output", "nbval-skip"} & set(c.metadata.get("tags", []))]
    assert len(exempt) <= 0.10 * len(cells), f"{len(exempt)} of {len(cells)} code cells are exempt"
