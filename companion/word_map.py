"""An interactive map of word vectors: a 2-D projection a reader can hover, search and zoom.

Static scatter plots of word vectors (PCA or t-SNE pictures with overlapping labels) show a
few dozen words; this module draws a few thousand, with the word under the mouse shown in a
tooltip, a search box that highlights a word and its nearest neighbours (in the full space) and
zooms in on it, and pan and zoom tools. The page is written by Bokeh as standalone HTML with its
JavaScript inlined, so it works offline, with no kernel and no CDN, in the notebook as on the
website; the only JavaScript of ours is the few lines of the search callback.

The projection is PCA of the unit-length vectors, as in the chapter's static maps, and it loses
most of each word's neighbourhood (the chapter measures how much); the tooltip and the search
therefore show the neighbours of the *full* space, wherever the map puts them.

Explained in the chapter "Evaluating and exploring embeddings" (``book/evaluating-embeddings.ipynb``,
section "Explore the vectors yourself").

Examples
--------
>>> import numpy as np
>>> from companion.vectors import keyed_vectors
>>> from companion.word_map import project_words, word_map
>>> rng = np.random.default_rng(0)
>>> kv = keyed_vectors([f"w{i}" for i in range(50)], rng.normal(size=(50, 8)))
>>> panel = project_words(kv, kv.index_to_key[:40], name="toy", neighbours=5)
>>> panel.xy.shape, len(panel.words), panel.neighbours.shape
((40, 2), 40, (40, 5))
>>> page = word_map([panel])
>>> page.html.startswith("<!DOCTYPE html>") and "w0" in page.html
True
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["MapPanel", "WordMap", "shared_frequent_words", "project_words", "word_map"]

WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

# The search box's callback: the only JavaScript of ours. For each panel it selects the word and its
# neighbours (Bokeh fades every other point), labels them, and moves the view to the word.
# (A Python string: the backslashes of the \u escapes are doubled.)
_SEARCH_JS = """
const query = (cb_obj.value_input ?? cb_obj.value ?? "").trim().toLowerCase();
const found = [];
for (let p = 0; p < sources.length; p++) {
  const data = sources[p].data, i = query ? data.word.indexOf(query) : -1;
  if (i < 0) {
    sources[p].selected.indices = [];
    labels[p].data = {x: [], y: [], text: []};
    continue;
  }
  const shown = [i, ...data.neighbours[i]];
  sources[p].selected.indices = shown;
  labels[p].data = {x: shown.map(j => data.x[j]), y: shown.map(j => data.y[j]), text: shown.map(j => data.word[j])};
  // the word near the middle, the view wide enough to show its neighbours, however far the map put them
  const fig = figures[p], far = Math.max(...shown.map(j => Math.max(Math.abs(data.x[j] - data.x[i]),
                                                                    Math.abs(data.y[j] - data.y[i]))));
  const half = Math.max(spans[p], 1.15 * far);
  fig.x_range.setv({start: data.x[i] - half, end: data.x[i] + 1.3 * half});  // room for labels on the right
  fig.y_range.setv({start: data.y[i] - half, end: data.y[i] + half});
  found.push(fig.title.text);
}
status.text = !query ? "" : found.length ? "found in: " + found.join(", ")
  : "\\u201c" + query + "\\u201d is not among the words of the map";
"""


@dataclass(frozen=True)
class MapPanel:
    """One model's words, their 2-D coordinates and each word's nearest neighbours in the full space."""

    name: str
    words: list[str]
    xy: np.ndarray  # (n, 2)
    neighbours: np.ndarray  # (n, k) row indices into words, nearest first

    def __post_init__(self):
        n = len(self.words)
        xy, neighbours = np.asarray(self.xy), np.asarray(self.neighbours)
        if xy.shape != (n, 2) or not np.isfinite(xy).all():
            raise ValueError(f"panel {self.name!r}: xy must be {n} finite 2-D points, one per word; got shape {xy.shape}")
        if neighbours.ndim != 2 or len(neighbours) != n or not np.issubdtype(neighbours.dtype, np.integer):
            raise ValueError(f"panel {self.name!r}: neighbours must be an integer array with one row per word "
                             f"({n} rows); got shape {neighbours.shape} and dtype {neighbours.dtype}")
        if neighbours.size and (neighbours.min() < 0 or neighbours.max() >= n):
            raise ValueError(f"panel {self.name!r}: neighbours must be row indices from 0 to {n - 1}; "
                             f"got values from {neighbours.min()} to {neighbours.max()}")


@dataclass(frozen=True)
class WordMap:
    """A standalone HTML page (``html``); in a notebook it shows itself in an iframe."""

    html: str
    panels: tuple[MapPanel, ...]
    height: int

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="An interactive map of word vectors" '
                f'class="word-map" style="width: 100%; height: {self.height}px; border: 0;"></iframe>')

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.panels)
        return f"WordMap({len(self.panels)} panels: {names}; {len(self.panels[0].words):,} words each)"

    def save(self, path) -> None:
        """Write the page to ``path``: open it in any browser, offline."""
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.html)


def shared_frequent_words(models: dict, n: int, pattern: re.Pattern = WORD) -> list[str]:
    """The ``n`` most frequent words of the first model (its vocabulary order) that every model
    knows and that match ``pattern`` (by default lower-case words: no punctuation or numbers)."""
    if not models:
        raise ValueError("models is empty: give at least one name -> KeyedVectors")
    if not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an integer of at least 3, got {n!r}")
    first, *others = models.values()
    words = [w for w in first.index_to_key if pattern.fullmatch(w) and all(w in kv.key_to_index for kv in others)]
    if len(words) < n:
        raise ValueError(f"only {len(words)} words are shared by {list(models)} and match {pattern.pattern!r}; "
                         f"asked for n={n}")
    return words[:n]


def project_words(kv, words: Sequence[str], name: str, neighbours: int = 5) -> MapPanel:
    """Project the vectors of ``words`` to 2-D by PCA, and find each word's ``neighbours`` nearest
    words among ``words`` by cosine in the full space.

    The vectors are scaled to unit length first, so that distance on the map follows cosine
    (as in the chapter's static maps). PCA and the neighbour search are scikit-learn's
    (``PCA(n_components=2)``; ``NearestNeighbors`` with ``metric="cosine"``, which leaves each word
    out of its own list by its index).
    """
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    from .vectors import repeated_words

    words = list(words)
    missing = [w for w in words if w not in kv.key_to_index]
    if missing:
        raise KeyError(f"{len(missing)} words are not in the vocabulary of {name!r}, e.g. {missing[:5]}; "
                       f"choose them with shared_frequent_words")
    dupes = repeated_words(words)
    if dupes:
        raise ValueError(f"words has duplicates, e.g. {dupes[:5]}; each word is one point")
    if not isinstance(neighbours, (int, np.integer)) or not 1 <= neighbours < len(words):
        raise ValueError(f"neighbours must be an integer from 1 to {len(words) - 1} (fewer than the words), "
                         f"got {neighbours!r}")
    vectors = np.asarray(kv.vectors[[kv.key_to_index[w] for w in words]], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name!r} has a zero vector for {words[int(np.where(norms == 0)[0][0])]!r}: it has no direction")
    unit = vectors / norms
    xy = PCA(n_components=2, random_state=0).fit_transform(unit)
    nearest = NearestNeighbors(n_neighbors=neighbours, metric="cosine").fit(unit).kneighbors(return_distance=False)
    return MapPanel(name=name, words=words, xy=xy, neighbours=nearest)


def _stable_ids(page: str) -> str:
    """Replace Bokeh's random element and document ids (uuid4) by ids derived from the page itself,
    so that the same map gives the same bytes (nbval compares the stored output; git stays quiet)."""
    digest = hashlib.sha256(_UUID.sub("", page).encode()).hexdigest()
    ids = {}
    for found in _UUID.findall(page):
        ids.setdefault(found, f"wordmap-{digest[:12]}-{len(ids)}")
    return _UUID.sub(lambda m: ids[m.group(0)], page)


def word_map(panels: Sequence[MapPanel], height: int = 420, point_size: int = 5,
             zoom_span: float = 0.15, title: str = "Word vectors in 2-D") -> WordMap:
    """Side-by-side, searchable maps of ``panels`` as one standalone HTML page (resources inlined).

    The panels share the width of the page (or of the notebook's iframe) and are ``height`` pixels tall.

    Hovering a point shows the word and its nearest words in the full space; typing a word in the
    search box selects it and those neighbours in every panel that has it, labels them and moves the
    view to it, zoomed in to show them all (at least ``zoom_span`` of the panel's width); "reset" in
    the toolbar returns to the whole map.
    """
    from bokeh.embed import file_html
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div, HoverTool, LabelSet, TextInput
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    panels = list(panels)
    if not panels or not all(isinstance(p, MapPanel) for p in panels):
        raise ValueError(f"panels must be a non-empty list of MapPanel (from project_words), got {panels!r:.80}")
    if not 0 < zoom_span <= 1:
        raise ValueError(f"zoom_span must be in (0, 1], a share of the panel's width; got {zoom_span!r}")
    sources, labels, figures, spans = [], [], [], []
    for number, panel in enumerate(panels):  # names let a test find the models in the page
        xy = np.round(panel.xy, 4)
        sources.append(ColumnDataSource(name=f"word-map-points-{number}", data={
            "x": xy[:, 0], "y": xy[:, 1], "word": panel.words,
            "nearest": [", ".join(panel.words[j] for j in row_) for row_ in panel.neighbours.tolist()],
            "neighbours": panel.neighbours.tolist(),
        }))
        labels.append(ColumnDataSource({"x": [], "y": [], "text": []}))
        fig = figure(title=panel.name, height=height, sizing_mode="stretch_width", min_width=240,
                     tools="pan,wheel_zoom,box_zoom,reset", active_drag="pan", toolbar_location="above",
                     x_axis_label="PC 1", y_axis_label="PC 2", name=f"word-map-{number}")
        fig.toolbar.logo = None  # a link to bokeh.org: nothing on the map points off the machine
        points = fig.scatter("x", "y", source=sources[-1], size=point_size, alpha=0.5, color="#4c72b0",
                             selection_color="#c44e52", selection_alpha=1.0, nonselection_alpha=0.12)
        fig.add_tools(HoverTool(renderers=[points], tooltips=[("word", "@word"), ("nearest", "@nearest")]))
        fig.add_layout(LabelSet(x="x", y="y", text="text", source=labels[-1], text_font_size="11px",
                                x_offset=4, y_offset=2, text_color="#222222", name=f"word-map-labels-{number}"))
        figures.append(fig)
        spans.append(float(np.ptp(xy[:, 0])) * zoom_span / 2)
    search = TextInput(title="Search a word (lower case):", placeholder="e.g. oil", width=240, name="word-search")
    status = Div(text="", sizing_mode="stretch_width", name="word-search-status")
    callback = CustomJS(args={"sources": sources, "labels": labels, "figures": figures, "spans": spans,
                              "status": status}, code=_SEARCH_JS)
    search.js_on_change("value_input", callback)
    search.js_on_change("value", callback)
    layout = column(row(search, status, sizing_mode="stretch_width"), row(*figures, sizing_mode="stretch_width"),
                    sizing_mode="stretch_width")
    page = _stable_ids(file_html(layout, resources=INLINE, title=title))
    return WordMap(html=page, panels=tuple(panels), height=height + 70)
