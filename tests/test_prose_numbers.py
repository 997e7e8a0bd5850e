"""Every number in a chapter's prose is computed by the chapter or listed with a reason (issue 15).

tools/prose_numbers.py finds the prose numbers that appear in no code or output of
their chapter; tests/prose_numbers_allowed.toml lists, per chapter, those that may
stay and why (a citation, an exercise's setting, arithmetic shown in the sentence).
A number typed into the prose (a result copied from a run, or one left behind when
an output changed) fails here until it is computed in a cell, cited or listed.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = tomllib.loads((ROOT / "tests" / "prose_numbers_allowed.toml").read_text(encoding="utf-8"))
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def _tool():
    spec = importlib.util.spec_from_file_location("prose_numbers", ROOT / "tools" / "prose_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prose_numbers = _tool()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_prose_numbers_are_computed_or_listed(path):
    flagged = {number for _, number in prose_numbers.flagged(json.loads(path.read_text(encoding="utf-8")))}
    allowed = ALLOWED.get(path.stem, {})
    unlisted = sorted(flagged - set(allowed))
    stale = sorted(set(allowed) - flagged)
    assert not unlisted, (
        f"{path.name}: numbers in the prose found in no code or output: {unlisted}. Compute them in a cell, "
        "or cite their source and list them with the reason in tests/prose_numbers_allowed.toml")
    assert not stale, f"{path.name}: entries of tests/prose_numbers_allowed.toml no longer flagged, remove them: {stale}"


def test_every_listed_number_has_a_reason_and_a_chapter():
    chapters = {p.stem for p in CHAPTERS}
    assert set(ALLOWED) <= chapters, sorted(set(ALLOWED) - chapters)
    for chapter, entries in ALLOWED.items():
        for number, reason in entries.items():
            assert isinstance(reason, str) and len(reason.split()) >= 3, (chapter, number, reason)


def test_a_typed_result_is_caught_and_a_rounded_one_is_not():
    notebook = {"cells": [
        {"cell_type": "code", "source": "n = 12_000\nprint(score)", "outputs": [{"text": "0.7108\n"}]},
        {"cell_type": "markdown", "source": "On 12,000 words the score is 0.71 ($0.9$ in theory), better than 0.68."},
    ]}
    assert prose_numbers.flagged(notebook) == [(1, "0.68")]


def test_numbers_inside_an_embedded_page_or_script_do_not_count_as_computed():
    # the interactive word map stores a whole Bokeh page (library code and data) in an iframe's srcdoc
    page = '<iframe srcdoc="&lt;script&gt;var n = 0.68;&lt;/script&gt;" class="word-map"></iframe><script>x = 0.68</script>'
    notebook = {"cells": [
        {"cell_type": "code", "source": "show()", "outputs": [{"data": {"text/html": page + "<td>0.71</td>"}}]},
        {"cell_type": "markdown", "source": "The score is 0.71, better than 0.68."},
    ]}
    assert prose_numbers.flagged(notebook) == [(1, "0.68")]
