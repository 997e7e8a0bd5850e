"""companion.word_map: the projection, the neighbour sets, and the standalone page they become."""

import html
import html.parser
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from companion.vectors import keyed_vectors
from companion.word_map import MapPanel, project_words, shared_frequent_words, word_map

ROOT = Path(__file__).resolve().parent.parent
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _kv(n=60, dim=8, seed=0, prefix="w"):
    rng = np.random.default_rng(seed)
    return keyed_vectors([f"{prefix}{i}" for i in range(n)], rng.normal(size=(n, dim)))


@pytest.fixture(scope="module")
def page():
    kv_a, kv_b = _kv(seed=0), _kv(seed=1)
    words = kv_a.index_to_key[:50]
    panels = [project_words(kv_a, words, "model A"), project_words(kv_b, words, "model B")]
    return word_map(panels), words


def test_shared_frequent_words_keeps_the_first_models_order_and_only_shared_words():
    a = keyed_vectors(["the", ",", "oil", "gas", "x9", "paris", "berlin"], np.eye(7))
    b = keyed_vectors(["berlin", "gas", "the", "paris", "oil", ","], np.eye(6))
    assert shared_frequent_words({"a": a, "b": b}, 4) == ["the", "oil", "gas", "paris"]
    with pytest.raises(ValueError, match=r"only 5 words.*n=6"):
        shared_frequent_words({"a": a, "b": b}, 6)


def test_project_words_is_pca_of_the_unit_vectors_up_to_the_sign_of_each_axis():
    kv = _kv()
    words = kv.index_to_key[10:40][::-1]
    panel = project_words(kv, words, "toy", neighbours=4)
    assert panel.words == words and panel.xy.shape == (30, 2)
    # PCA by hand: centre the unit vectors, project on the first two right singular vectors
    unit = np.array([kv[w] / np.linalg.norm(kv[w]) for w in words], dtype=np.float64)
    centred = unit - unit.mean(axis=0)
    expected = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    for axis in range(2):
        sign = np.sign(panel.xy[:, axis] @ expected[:, axis])
        np.testing.assert_allclose(panel.xy[:, axis], sign * expected[:, axis], atol=1e-5)


def test_project_words_neighbours_are_the_nearest_by_cosine_in_the_full_space():
    kv = _kv(n=80, dim=5, seed=7)
    words = kv.index_to_key
    panel = project_words(kv, words, "toy", neighbours=6)
    vectors = np.array([kv[w] for w in words], dtype=np.float64)
    for i, row in enumerate(panel.neighbours.tolist()):
        cosines = [(float(vectors[i] @ vectors[j] / np.linalg.norm(vectors[i]) / np.linalg.norm(vectors[j])), j)
                   for j in range(len(words)) if j != i]
        assert row == [j for _, j in sorted(cosines, reverse=True)[:6]], words[i]


# -- bad input ---------------------------------------------------------------------------------

def test_bad_input_raises_errors_that_name_the_value_and_what_is_valid():
    kv = _kv()
    with pytest.raises(KeyError, match="'nowhere'"):
        project_words(kv, ["w1", "nowhere", "w2", "w3"], "toy")
    with pytest.raises(ValueError, match=r"duplicates.*'w1'"):
        project_words(kv, ["w1", "w1", "w2", "w3"], "toy")
    with pytest.raises(ValueError, match=r"from 1 to 3.*got 4"):
        project_words(kv, ["w1", "w2", "w3", "w4"], "toy", neighbours=4)
    zero = keyed_vectors(["a", "b", "c", "d"], np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="zero vector for 'b'"):
        project_words(zero, ["a", "b", "c", "d"], "toy", neighbours=2)
    with pytest.raises(ValueError, match=r"n must be an integer of at least 3, got 1"):
        shared_frequent_words({"toy": kv}, 1)
    with pytest.raises(ValueError, match=r"zoom_span.*got 2"):
        word_map([project_words(kv, kv.index_to_key[:10], "toy")], zoom_span=2)
    with pytest.raises(ValueError, match="MapPanel"):
        word_map(["not a panel"])
    words = ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"'toy'.*3 finite 2-D points.*\(2, 2\)"):
        MapPanel("toy", words, np.zeros((2, 2)), np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match=r"'toy'.*from 0 to 2.*to 3"):
        MapPanel("toy", words, np.zeros((3, 2)), np.array([[1], [2], [3]]))
    with pytest.raises(ValueError, match=r"'toy'.*one row per word"):
        MapPanel("toy", words, np.zeros((3, 2)), np.zeros((3, 1)))


# -- the page ----------------------------------------------------------------------------------

class _Resources(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.script_srcs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "poster", "action") and value:
                self.urls.append(value)
            if tag == "script" and key == "src":
                self.script_srcs.append(value)


def test_page_loads_nothing_from_outside_every_resource_is_inline(page):
    wm, _ = page
    parser = _Resources()
    parser.feed(wm.html)
    assert "script" in parser.tags and "div" in parser.tags
    assert parser.script_srcs == [], "BokehJS must be inlined, not loaded from a file or a CDN"
    outside = [u for u in parser.urls if re.match(r"(https?:)?//", u)]
    assert not outside, outside
    # no CSS import or url() from elsewhere in the markup either (BokehJS's own code is checked in the browser)
    markup = re.sub(r"<script\b.*?</script>", "", wm.html, flags=re.S)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", markup)


def _documents(page_html: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', page_html, re.S)
    assert blocks, "no Bokeh document in the page"
    return [json.loads(block) for block in blocks]


def _find_named(node, name):
    if isinstance(node, dict):
        if node.get("name") == name or node.get("attributes", {}).get("name") == name:
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_named(child, name)
        if found is not None:
            return found
    return None


def test_the_data_source_of_each_panel_holds_exactly_the_input_words(page):
    wm, words = page
    docs = _documents(wm.html)
    for number in range(2):
        source = _find_named(docs, f"word-map-points-{number}")
        assert source is not None, f"no data source word-map-points-{number} in the page"
        columns = dict(source["attributes"]["data"]["entries"])
        assert columns["word"] == words
        assert len(columns["neighbours"]) == len(words)
        assert all(0 <= j < len(words) for row in columns["neighbours"] for j in row)


def test_the_page_is_the_same_bytes_in_two_fresh_processes_and_has_no_random_ids(page):
    # nbval compares the stored output of the chapter's cell with a fresh run's: it must not vary
    script = ("import numpy as np\n"
              "from companion.vectors import keyed_vectors\n"
              "from companion.word_map import project_words, word_map\n"
              "kv = keyed_vectors([f'w{i}' for i in range(30)], np.random.default_rng(0).normal(size=(30, 4)))\n"
              "print(word_map([project_words(kv, kv.index_to_key, 'toy')])._repr_html_())\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT).stdout
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert not UUID4.search(runs[0])
    assert not UUID4.search(page[0].html)


def test_the_notebook_view_is_an_iframe_whose_srcdoc_is_the_page(page):
    wm, _ = page
    shown = wm._repr_html_()
    match = re.fullmatch(r'<iframe srcdoc="([^"]*)"[^>]*></iframe>', shown, re.S)
    assert match, shown[:200]
    assert html.unescape(match.group(1)) == wm.html
    assert "model A" in repr(wm) and "50 words" in repr(wm)


def test_save_writes_the_page(page, tmp_path):
    wm, _ = page
    wm.save(tmp_path / "map.html")
    assert (tmp_path / "map.html").read_text(encoding="utf-8") == wm.html


def test_map_panel_is_the_type_word_map_takes():
    kv = _kv()
    panel = project_words(kv, kv.index_to_key[:12], "toy")
    assert isinstance(panel, MapPanel) and panel.xy.shape == (12, 2)
