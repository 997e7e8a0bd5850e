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


# --- references: every chapter ends with its reference list, every key is in references.bib ---

CITE = re.compile(r"\{footcite(?::[a-z]+)?\}`([^`]+)`")
BIB_KEY = re.compile(r"^@\w+\{([^,\s]+),", re.M)


def _bib_keys():
    return BIB_KEY.findall((ROOT / "references.bib").read_text())


def test_bibliography_keys_are_unique():
    keys = _bib_keys()
    assert len(keys) == len(set(keys)), sorted(k for k in set(keys) if keys.count(k) > 1)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_ends_with_its_references_and_cites_known_keys(path):
    nb = nbformat.read(path, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## References")
    assert "```{footbibliography}" in last.source
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    cited = {key.strip() for group in CITE.findall(markdown) for key in group.split(",")}
    assert cited, "a chapter with a reference list cites at least one work"
    unknown = cited - set(_bib_keys())
    assert not unknown, f"cited but not in references.bib: {sorted(unknown)}"
    # {footcite} needs the MyST footnote check off (_config.yml); no Markdown footnotes, then
    assert not re.search(r"\[\^[^\]]+\]", markdown), "use {footcite} instead of Markdown footnotes"


def test_every_bibliography_entry_is_cited_somewhere():
    texts = "\n".join(c.source for p in CHAPTERS for c in nbformat.read(p, as_version=4).cells
                      if c.cell_type == "markdown")
    texts += "\n".join(p.read_text() for p in (ROOT / "book").glob("*.md"))
    cited = {key.strip() for group in CITE.findall(texts) for key in group.split(",")}
    assert set(_bib_keys()) <= cited, f"never cited: {sorted(set(_bib_keys()) - cited)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_exercise_has_a_worked_solution(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    exercises = markdown[markdown.index("## Exercises"):]
    numbered = re.findall(r"^(\d+)\.\s", exercises.split("```")[0], re.M)
    solved = set()
    for title in re.findall(r"\{admonition\}\s*Solution[^\n]*?exercises?\s*([\d, and]+)", exercises):
        solved |= {int(n) for n in re.findall(r"\d+", title)}
    assert numbered, "the Exercises section lists numbered exercises"
    missing = sorted(set(range(1, len(numbered) + 1)) - solved)
    assert not missing, f"exercises without a 'Solution for exercise N' dropdown: {missing}"
    assert exercises.count(":class: dropdown") >= 1
