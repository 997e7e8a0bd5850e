"""Architecture drawings of the book, drawn with matplotlib from code.

The chapters plot data with matplotlib in their own cells; the drawings of the
*machines* (skip-gram, ELMo's biLM, attention, the Transformer block, T5's
encoder-decoder, LoRA) live here instead, one function per figure, so that each
can be regenerated and checked:

- :data:`FIGURES`: the registry, figure name -> :class:`Diagram` (its drawing
  function and the chapter that shows it);
- :func:`draw`: one figure as a matplotlib :class:`~matplotlib.figure.Figure`;
- :func:`svg_bytes` and :func:`write_svgs`: the deterministic SVG of a figure
  (fixed hash salt, no date, glyphs as paths in matplotlib's own DejaVu and
  Computer Modern fonts, so the bytes depend only on the code and on the
  matplotlib version);
- ``python -m companion.diagrams --write book/figures`` writes every figure
  (``--only NAME`` for one); ``tests/test_diagrams.py`` fails when a committed
  SVG differs from what its code draws.

Every label uses the symbols of the equations of the chapter that shows the
figure ($\\mathbf{v}_w$ and $\\mathbf{u}_c$ in word2vec, $s_j$ and $\\gamma$ in
ELMo, $Q$, $K$, $V$ and $d_k$ in attention, $A$, $B$, $r$ and $\\alpha$ in LoRA).
One colour means one kind of part in every figure (:data:`PALETTE`): blue for
vectors read from an embedding table, orange for attention, green for the
feed-forward network, yellow for normalisation, purple for recurrent (LSTM)
layers, red for what is trained while the rest stays frozen, grey for frozen
weights and for output layers.

The figures are shown in the chapters ``book/word2vec.ipynb``, ``book/elmo.ipynb``,
``book/attention-and-transformers.ipynb``, ``book/t5.ipynb`` and
``book/fine-tuning.ipynb``, each where the chapter writes the equation it draws.

Examples
--------
>>> from companion.diagrams import FIGURES, draw, figure_texts
>>> FIGURES["lora"].chapter
'book/fine-tuning.ipynb'
>>> fig = draw("lora")
>>> r"$h = W x + \\dfrac{\\alpha}{r} B A x$" in figure_texts(fig)
True
>>> draw("lstm")
Traceback (most recent call last):
...
ValueError: unknown figure 'lstm'; the figures are: elmo-bilm, lora, multi-head-attention, scaled-dot-product-attention, skip-gram-and-cbow, t5-encoder-decoder, transformer-blocks
"""

from __future__ import annotations

import argparse
import io
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

__all__ = ["PALETTE", "Diagram", "FIGURES", "draw", "figure_texts", "svg_bytes", "write_svgs", "main"]

# fill and edge colour of each kind of part; the same in every figure
PALETTE = {
    "token": ("#ffffff", "#595959"),
    "embedding": ("#dbe8f7", "#3a78b5"),
    "attention": ("#fde2c2", "#d07a1e"),
    "feed_forward": ("#d9efd2", "#4a9a35"),
    "norm": ("#fff1b8", "#a88c00"),
    "recurrent": ("#e6dbf4", "#7752a3"),
    "trainable": ("#f8d0cc", "#bf3527"),
    "frozen": ("#e4e4e4", "#7f7f7f"),
    "output": ("#efefef", "#6b6b6b"),
    "state": ("#ffffff", "#3a78b5"),
}
INK = "#262626"
NOTE = "#555555"  # small explanatory text

# everything that shapes the drawing and the SVG bytes, whatever the caller's style
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "mathtext.fontset": "cm",
    "text.color": INK,
    "svg.fonttype": "path",
    "svg.hashsalt": "word-embeddings-book",
    "svg.image_inline": True,
    "path.simplify": True,
    "lines.linewidth": 1.2,
}


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        yield


# --- drawing primitives: coordinates are inches from the lower-left corner --------------------------


@dataclass(frozen=True)
class Box:
    """A drawn box: centre ``(x, y)`` and size ``(w, h)`` in inches."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    def side(self, name: str, offset: float = 0.0) -> tuple[float, float]:
        """A point on side ``name``, moved by ``offset`` inches along it (right or up)."""
        x, y = getattr(self, name)
        return (x + offset, y) if name in ("top", "bottom") else (x, y + offset)


def _canvas(width: float, height: float) -> tuple[Figure, "matplotlib.axes.Axes"]:
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _box(ax, x, y, w, h, text="", kind="token", size=11, dashed=False, bold=False, color=None) -> Box:
    fill, edge = PALETTE[kind]
    ax.add_patch(FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
        facecolor=fill, edgecolor=edge, linewidth=2.0 if bold else 1.2,
        linestyle=(0, (4, 2)) if dashed else "-", zorder=2))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=size, color=color or INK, zorder=3)
    return Box(x, y, w, h)


def _frame(ax, x0, y0, x1, y1, label="", title="") -> Box:
    """A dashed outline around a group of boxes (a repeated layer), with a title and a note inside its top."""
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.08",
                                facecolor="none", edgecolor="#8c8c8c", linewidth=1.0, linestyle=(0, (4, 2)),
                                zorder=0.5))
    if label:
        ax.text(x1 - 0.08, y1 - 0.07, label, ha="right", va="top", fontsize=8.5, color=NOTE, zorder=3)
    if title:
        ax.text(x0 + 0.08, y1 - 0.06, title, ha="left", va="top", fontsize=10, fontweight="bold", zorder=3)
    return Box((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)


def _text(ax, x, y, text, size=10, ha="center", va="center", color=INK, **kwargs) -> None:
    ax.text(x, y, text, ha=ha, va=va, fontsize=size, color=color, zorder=3, **kwargs)


def _arrow(ax, *points, color=INK, dashed=False, width=1.2, head=True) -> None:
    """An arrow through ``points`` (straight segments), with its head at the last point."""
    path = MplPath(points, [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1))
    ax.add_patch(FancyArrowPatch(
        path=path, arrowstyle="-|>,head_length=6,head_width=3" if head else "-",
        color=color, linewidth=width, linestyle=(0, (4, 2)) if dashed else "-",
        shrinkA=0, shrinkB=0, zorder=1, joinstyle="miter", capstyle="butt"))


def _add(ax, x, y, r=0.13) -> Box:
    """The sum node of a residual connection."""
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=INK, linewidth=1.2, zorder=2))
    ax.plot([x - r * 0.6, x + r * 0.6], [y, y], color=INK, linewidth=1.2, zorder=3)
    ax.plot([x, x], [y - r * 0.6, y + r * 0.6], color=INK, linewidth=1.2, zorder=3)
    return Box(x, y, 2 * r, 2 * r)


def _bracket(ax, x, y0, y1, tick=0.08) -> None:
    """A right-facing square bracket ``]`` from ``y0`` to ``y1`` at ``x``."""
    ax.plot([x - tick, x, x, x - tick], [y0, y0, y1, y1], color=NOTE, linewidth=1.0, zorder=1)


def _panel_title(ax, x, y, text) -> None:
    _text(ax, x, y, text, size=11.5, ha="left", fontweight="bold")


# --- the figures ---------------------------------------------------------------------------------------


def skip_gram_and_cbow() -> Figure:
    """Skip-gram and CBOW with negative sampling, on *the cat sat on the mat* with window m = 2."""
    fig, ax = _canvas(7.5, 5.9)
    col = {"token": 0.62, "input": 1.85, "average": 3.25, "output": 4.75, "target": 5.65}
    head_size = 9.5

    # (a) skip-gram: the centre word's input vector is scored against each output vector
    _panel_title(ax, 0.08, 5.7, "(a) skip-gram: the centre word predicts each word of its window")
    for key, label in (("token", "centre word $w$"), ("input", "input vector"), ("output", "output vectors")):
        _text(ax, col[key], 5.33, label, size=head_size, color=NOTE)
    rows = [4.95, 4.55, 4.15, 3.75]
    noise_y = 3.2
    centre_y = sum(rows + [noise_y]) / 5
    word = _box(ax, col["token"], centre_y, 0.8, 0.36, "sat")
    v = _box(ax, col["input"], centre_y, 0.7, 0.42, r"$\mathbf{v}_w$", kind="embedding", size=13)
    _arrow(ax, word.right, v.left)
    for y, context in zip(rows, ["the", "cat", "on", "the"]):
        u = _box(ax, col["output"], y, 0.95, 0.32, r"$\mathbf{u}_{\mathrm{%s}}$" % context, kind="embedding", size=13)
        _arrow(ax, v.right, u.left)
    u = _box(ax, col["output"], noise_y, 0.95, 0.32, r"$\mathbf{u}_{n_i}$", kind="embedding", size=13, dashed=True)
    _arrow(ax, v.right, u.left, dashed=True)
    _bracket(ax, col["target"], rows[-1] - 0.16, rows[0] + 0.16)
    _text(ax, col["target"] + 0.12, 4.48, r"$\sigma(\mathbf{u}_c \cdot \mathbf{v}_w) \to 1$", size=12, ha="left")
    _text(ax, col["target"] + 0.12, 4.17, "for each context $c$", size=head_size, ha="left", color=NOTE)
    _bracket(ax, col["target"], noise_y - 0.16, noise_y + 0.16)
    _text(ax, col["target"] + 0.12, noise_y + 0.08, r"$\sigma(\mathbf{u}_{n_i} \cdot \mathbf{v}_w) \to 0$", size=12, ha="left")
    _text(ax, col["target"] + 0.12, noise_y - 0.22, r"$k$ noise words $n_i \sim P_n$", size=head_size, ha="left", color=NOTE)

    ax.plot([0.08, 7.42], [2.78, 2.78], color="#cccccc", linewidth=0.8)

    # (b) CBOW: the average of the context's input vectors is scored against the centre word's output vector
    _panel_title(ax, 0.08, 2.55, "(b) CBOW: the window's average predicts the centre word")
    for key, label in (("token", "context words"), ("input", "input vectors"), ("average", "average"),
                       ("output", "output vectors")):
        _text(ax, col[key], 2.18, label, size=head_size, color=NOTE)
    rows = [1.8, 1.4, 1.0, 0.6]
    mean = _box(ax, col["average"], 1.2, 0.55, 0.7, r"$\bar{\mathbf{v}}$", kind="embedding", size=14)
    _text(ax, col["average"], 0.28, r"$\bar{\mathbf{v}} = \dfrac{1}{2m} \sum_j \mathbf{v}_{c_j}$", size=12)
    for j, (y, context) in enumerate(zip(rows, ["the", "cat", "on", "the"]), start=1):
        token = _box(ax, col["token"], y, 0.8, 0.32, context)
        vector = _box(ax, col["input"], y, 0.7, 0.32, r"$\mathbf{v}_{c_%d}$" % j, kind="embedding", size=13)
        _arrow(ax, token.right, vector.left)
        _arrow(ax, vector.right, mean.side("left", 0.21 - 0.14 * (j - 1)))
    u_w = _box(ax, col["output"], 1.55, 0.95, 0.32, r"$\mathbf{u}_{\mathrm{sat}}$", kind="embedding", size=13)
    u_n = _box(ax, col["output"], 0.85, 0.95, 0.32, r"$\mathbf{u}_{n_i}$", kind="embedding", size=13, dashed=True)
    _arrow(ax, mean.right, u_w.left)
    _arrow(ax, mean.right, u_n.left, dashed=True)
    _bracket(ax, col["target"], 1.55 - 0.16, 1.55 + 0.16)
    _text(ax, col["target"] + 0.12, 1.63, r"$\sigma(\mathbf{u}_w \cdot \bar{\mathbf{v}}) \to 1$", size=12, ha="left")
    _text(ax, col["target"] + 0.12, 1.33, "centre word $w$", size=head_size, ha="left", color=NOTE)
    _bracket(ax, col["target"], 0.85 - 0.16, 0.85 + 0.16)
    _text(ax, col["target"] + 0.12, 0.93, r"$\sigma(\mathbf{u}_{n_i} \cdot \bar{\mathbf{v}}) \to 0$", size=12, ha="left")
    _text(ax, col["target"] + 0.12, 0.63, r"$k$ noise words $n_i \sim P_n$", size=head_size, ha="left", color=NOTE)
    return fig


def elmo_bilm() -> Figure:
    """ELMo's biLM on four tokens and the scalar mix of one token's layers."""
    fig, ax = _canvas(7.5, 4.6)
    tokens = ["the", "race", "for", "governor"]
    k = 1  # the token whose layers are mixed
    xs = [1.1 + 0.85 * i for i in range(len(tokens))]
    y_token, y_layer = 0.3, [1.0, 2.0, 3.0]
    cell_w, cell_h = 0.56, 0.56

    _text(ax, 0.05, y_token, "tokens $t_k$", size=9.5, ha="left", color=NOTE)
    for j, y in enumerate(y_layer):
        _text(ax, 0.05, y, f"layer {j}", size=9.5, ha="left", color=NOTE)
    for i, (x, token) in enumerate(zip(xs, tokens)):
        _text(ax, x, y_token, token, size=10.5, fontweight="bold" if i == k else "normal")
        emb = _box(ax, x, y_layer[0], cell_w, 0.36, r"$x_{%d}$" % (i + 1), kind="embedding", size=12)
        _arrow(ax, (x, y_token + 0.14), emb.bottom)
        below = emb
        for j in (1, 2):
            y = y_layer[j]
            for half, arrow_text in ((+1, r"$\rightarrow$"), (-1, r"$\leftarrow$")):
                _box(ax, x, y + half * cell_h / 4, cell_w, cell_h / 2, arrow_text, kind="recurrent", size=11)
            cell = Box(x, y, cell_w, cell_h)
            _arrow(ax, below.top, cell.bottom)
            below = cell
            if i + 1 < len(tokens):  # forward state to the right (upper halves), backward to the left (lower)
                _arrow(ax, (x + cell_w / 2, y + cell_h / 4), (xs[i + 1] - cell_w / 2, y + cell_h / 4))
                _arrow(ax, (xs[i + 1] - cell_w / 2, y - cell_h / 4), (x + cell_w / 2, y - cell_h / 4))
    highlight = PALETTE["trainable"][1]
    ax.add_patch(FancyBboxPatch((xs[k] - 0.37, y_layer[0] - 0.3), 0.74, y_layer[2] - y_layer[0] + 0.68,
                                boxstyle="round,pad=0,rounding_size=0.08", facecolor="none",
                                edgecolor=highlight, linewidth=1.3, linestyle=(0, (4, 2)), zorder=4))
    _text(ax, 0.05, 4.35, r"$\rightarrow$ forward LSTM, $\leftarrow$ backward LSTM; each layer of a token is",
          size=9.5, ha="left", color=NOTE)
    _text(ax, 0.05, 4.1, r"the two states stacked. The top layer feeds one shared softmax:", size=9.5,
          ha="left", color=NOTE)
    _text(ax, 0.05, 3.85, r"the forward LM predicts $t_{k+1}$, the backward LM $t_{k-1}$.", size=9.5,
          ha="left", color=NOTE)

    # the scalar mix of token k: h_{k,j} = [forward; backward], weights softmax(s)_j, scale gamma
    zx, zw, zh = 4.95, 0.9, 0.76
    wx, ww = 6.1, 1.1
    _text(ax, zx, y_token, "token $k$ = race", size=9.5, color=highlight)
    halves = [(r"$x_k$", r"$x_k$"), (r"$\overrightarrow{h}_{k,1}$", r"$\overleftarrow{h}_{k,1}$"),
              (r"$\overrightarrow{h}_{k,2}$", r"$\overleftarrow{h}_{k,2}$")]
    sum_node = _add(ax, 7.1, y_layer[1], r=0.15)
    for j, (upper, lower) in enumerate(halves):
        y = y_layer[j]
        kind = "embedding" if j == 0 else "recurrent"
        _box(ax, zx, y + zh / 4, zw, zh / 2, upper, kind=kind, size=12)
        _box(ax, zx, y - zh / 4, zw, zh / 2, lower, kind=kind, size=12)
        _text(ax, zx - zw / 2 - 0.06, y, r"$h_{k,%d}$" % j, size=12.5, ha="right")
        weight = _box(ax, wx, y, ww, 0.38, r"$\times\, \mathrm{softmax}(s)_{%d}$" % j, kind="trainable", size=11.5)
        _arrow(ax, (zx + zw / 2, y), weight.left)
        r = sum_node.h / 2
        end = {0: (sum_node.x - 0.7 * r, sum_node.y - 0.7 * r), 1: sum_node.left,
               2: (sum_node.x - 0.7 * r, sum_node.y + 0.7 * r)}[j]
        _arrow(ax, weight.right, end)
    gamma = _box(ax, sum_node.x, 3.45, 0.5, 0.38, r"$\times\, \gamma$", kind="trainable", size=12.5)
    _arrow(ax, sum_node.top, gamma.bottom)
    _arrow(ax, gamma.top, (sum_node.x, 3.95))
    _text(ax, 7.45, 4.25, r"$\mathrm{ELMo}_k = \gamma \sum_{j=0}^{L} \mathrm{softmax}(s)_j \, h_{k,j}$",
          size=12.5, ha="right")
    return fig


def scaled_dot_product_attention() -> Figure:
    """softmax(QK^T / sqrt(d_k)) V, from the token vectors X to the output, with the optional mask."""
    fig, ax = _canvas(7.5, 2.9)
    main_y = 1.6
    x_box = _box(ax, 0.35, main_y, 0.45, 0.42, "$X$", kind="embedding", size=13)
    proj = {name: _box(ax, 1.45, y, 1.05, 0.4, rf"${name} = X W_{name}$", kind="attention", size=12)
            for name, y in (("Q", 2.45), ("K", main_y), ("V", 0.5))}
    for box in proj.values():
        _arrow(ax, x_box.right, (0.8, x_box.y), (0.8, box.y), box.left)
    scores = _box(ax, 2.85, main_y, 0.75, 0.42, r"$Q K^\top$", kind="attention", size=13)
    _arrow(ax, proj["Q"].right, (scores.x, proj["Q"].y), scores.top)
    _arrow(ax, proj["K"].right, scores.left)
    scale = _box(ax, 3.95, main_y, 0.75, 0.42, r"$\div \sqrt{d_k}$", kind="attention", size=13)
    mask = _box(ax, 5.0, main_y, 0.75, 0.42, "mask", kind="attention", size=10.5, dashed=True)
    softmax = _box(ax, 6.0, main_y, 0.8, 0.42, "softmax", kind="attention", size=10.5)
    times_v = _box(ax, 7.05, main_y, 0.6, 0.42, r"$\cdot\, V$", kind="attention", size=13)
    for a, b in ((scores, scale), (scale, mask), (mask, softmax), (softmax, times_v)):
        _arrow(ax, a.right, b.left)
    _arrow(ax, proj["V"].right, (times_v.x, proj["V"].y), times_v.bottom)
    _arrow(ax, times_v.top, (times_v.x, 2.45))
    _text(ax, 7.42, 2.65, r"$\mathrm{Attention}(Q, K, V)$", size=12.5, ha="right")
    notes = [(scores, "query $i$ · key $j$"), (scale, "keeps the\nvariance near 1"),
             (mask, "forbidden: $-\\infty$\n(padding, causal)"), (softmax, "the weights:\nrows sum to 1")]
    for box, note in notes:
        _text(ax, box.x, box.y - 0.3, note, size=8.5, va="top", color=NOTE)
    return fig


def multi_head_attention() -> Figure:
    """h attentions of width d_k = d_model / h side by side, concatenated and mixed by W_O."""
    fig, ax = _canvas(7.5, 3.4)
    x_box = _box(ax, 0.35, 1.6, 0.45, 0.42, "$X$", kind="embedding", size=13)
    heads = [("1", 2.75), ("2", 1.95), ("h", 0.6)]
    concat = _box(ax, 5.45, 1.65, 0.85, 2.55, "", kind="attention")
    _text(ax, concat.x, concat.y + 0.12, "concat", size=10.5)
    _text(ax, concat.x, concat.y - 0.12, "heads", size=10.5)
    for i, y in heads:
        proj = _box(ax, 1.85, y, 1.95, 0.42, rf"$X W_Q^{{{i}}},\ X W_K^{{{i}}},\ X W_V^{{{i}}}$",
                    kind="attention", size=11.5)
        attention = _box(ax, 3.5, y, 0.9, 0.42, "Attention", kind="attention", size=10.5)
        _arrow(ax, x_box.right, (0.72, x_box.y), (0.72, y), proj.left)
        _arrow(ax, proj.right, attention.left)
        _arrow(ax, attention.right, (concat.left[0], y))
        _text(ax, 4.52, y + 0.17, rf"$\mathrm{{head}}_{{{i}}}$", size=11.5)
    _text(ax, 1.85, 1.28, r"$\vdots$", size=13)
    _text(ax, 3.5, 1.28, r"$\vdots$", size=13)
    _text(ax, 1.85, 0.15, r"each head: width $d_k = d_{\text{model}} / h$", size=10.5, color=NOTE)
    w_o = _box(ax, 6.55, 1.65, 0.55, 0.42, "$W_O$", kind="attention", size=13)
    _arrow(ax, concat.right, w_o.left)
    _arrow(ax, w_o.top, (6.55, 3.0))
    _text(ax, 7.42, 3.2, r"$\mathrm{MultiHead}(X) = [\mathrm{head}_1; \dots; \mathrm{head}_h]\, W_O$", size=12.5,
          ha="right")
    return fig


def _causal_mask_icon(ax, x, y, n=4, cell=0.1) -> None:
    """A small n x n grid from ``(x, y)`` up, dark where query (row) i may attend to key (column) j <= i."""
    for i in range(n):
        for j in range(n):
            ax.add_patch(Rectangle((x + j * cell, y + (n - 1 - i) * cell), cell, cell,
                                   facecolor=PALETTE["attention"][1] if j <= i else "white",
                                   edgecolor="#999999", linewidth=0.5, zorder=2))


def _block(ax, cx, steps, residual_x, causal=False, width=1.55, gap=0.3) -> dict[str, list[Box]]:
    """A Transformer block drawn bottom-up from ``steps``; returns the drawn parts by kind.

    ``steps``: "branch" (a residual connection leaves the main path here), "add" (it comes
    back), or a sublayer: "norm", "attention", "feed_forward".
    """
    labels = {"norm": "LayerNorm", "attention": "multi-head attention", "feed_forward": "feed-forward"}
    if causal:
        labels["attention"] = "masked multi-head\nattention"
    parts: dict[str, list[Box]] = {"norm": [], "attention": [], "feed_forward": [], "add": []}
    _text(ax, cx, 0.12, "$x$", size=12.5)
    y = 0.28  # top of the main path so far
    branch_y = None
    for step in steps:
        if step == "branch":
            branch_y = y + 0.1
            ax.plot([cx, residual_x], [branch_y, branch_y], color=INK, linewidth=1.2, zorder=1)
            continue
        if step == "add":
            node = _add(ax, cx, y + gap + 0.13)
            _arrow(ax, (cx, y), node.bottom)
            _arrow(ax, (residual_x, branch_y), (residual_x, node.y), node.left)
            parts["add"].append(node)
            y = node.top[1]
            continue
        h = 0.5 if (step == "attention" and causal) else 0.38
        bottom = y + gap + (0.12 if step == "attention" else 0.0)
        box = _box(ax, cx, bottom + h / 2, width, h, labels[step], kind=step, size=10)
        _arrow(ax, (cx, y), box.bottom)
        if step == "attention":  # queries, keys and values all come from the same vectors
            split = box.bottom[1] - 0.14
            for dx in (-0.4, 0.4):
                _arrow(ax, (cx, split), (cx + dx, split), (cx + dx, box.bottom[1]))
        parts[step].append(box)
        y = box.top[1]
    _arrow(ax, (cx, y), (cx, y + 0.28))
    _text(ax, cx, y + 0.42, "$x$", size=12.5)
    return parts


def transformer_blocks() -> Figure:
    """(a) the post-norm encoder block; (b) the pre-norm decoder block with the causal mask."""
    fig, ax = _canvas(7.5, 5.4)
    size = 11
    _panel_title(ax, 0.08, 5.22, "(a) post-norm encoder block")
    _text(ax, 0.08, 4.97, "the 2017 Transformer, BERT, MiniLM", size=9, ha="left", color=NOTE)
    parts = _block(ax, 1.2, ["branch", "attention", "add", "norm", "branch", "feed_forward", "add", "norm"],
                   residual_x=0.22)
    _text(ax, 2.1, parts["add"][0].y, r"$x \leftarrow \mathrm{LN}(x + \mathrm{MHA}(x))$", size=size, ha="left")
    _text(ax, 2.1, parts["add"][1].y, r"$x \leftarrow \mathrm{LN}(x + \mathrm{FFN}(x))$", size=size, ha="left")

    ax.plot([3.9, 3.9], [0.1, 5.3], color="#cccccc", linewidth=0.8)
    _panel_title(ax, 4.0, 5.22, "(b) pre-norm decoder block")
    _text(ax, 4.0, 4.97, "GPT-2 and most recent models", size=9, ha="left", color=NOTE)
    parts = _block(ax, 5.1, ["branch", "norm", "attention", "add", "branch", "norm", "feed_forward", "add"],
                   residual_x=4.12, causal=True)
    _text(ax, 5.52, parts["add"][0].y, r"$x \leftarrow x + \mathrm{MHA}(\mathrm{LN}(x))$", size=size, ha="left")
    _text(ax, 5.52, parts["add"][1].y, r"$x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))$", size=size, ha="left")
    attention = parts["attention"][0]
    _causal_mask_icon(ax, 6.02, attention.y - 0.2)
    _text(ax, 6.5, attention.y, "causal mask:\ntoken $i$ sees\ntokens $\\leq i$", size=8.5, ha="left", color=NOTE)
    return fig


def t5_encoder_decoder() -> Figure:
    """T5: a bidirectional encoder, a causal decoder, and the cross-attention between them."""
    fig, ax = _canvas(7.5, 5.3)
    ex, dx, w = 1.45, 5.6, 1.95
    # encoder
    _text(ax, ex, 0.3, "outlet: <start of an article> </s>", size=9.5)
    _text(ax, ex, 0.07, "$S$ input tokens", size=9, color=NOTE)
    emb_e = _box(ax, ex, 0.85, w, 0.38, "token table", kind="embedding", size=10)
    _arrow(ax, (ex, 0.43), emb_e.bottom)
    _frame(ax, ex - w / 2 - 0.15, 1.25, ex + w / 2 + 0.15, 3.05, "repeated", "encoder")
    self_e = _box(ax, ex, 1.65, w, 0.42, "self-attention (all tokens)", kind="attention", size=10)
    ffn_e = _box(ax, ex, 2.4, w, 0.42, "feed-forward", kind="feed_forward", size=10)
    _arrow(ax, emb_e.top, self_e.bottom)
    _arrow(ax, self_e.top, ffn_e.bottom)
    enc_out = _box(ax, ex, 3.55, 1.1, 0.42, "$E$", kind="state", size=13)
    _arrow(ax, ffn_e.top, enc_out.bottom)
    _text(ax, ex, 3.98, r"encoder output: $S$ vectors", size=9, color=NOTE)
    # decoder
    _text(ax, dx, 0.3, "<pad> deutsche welle", size=9.5)
    _text(ax, dx, 0.07, "$T$ output tokens so far (shifted right)", size=9, color=NOTE)
    emb_d = _box(ax, dx, 0.85, w, 0.38, "token table (shared)", kind="embedding", size=10)
    _arrow(ax, (dx, 0.43), emb_d.bottom)
    _frame(ax, dx - w / 2 - 0.15, 1.25, dx + w / 2 + 0.15, 3.95, "repeated", "decoder")
    self_d = _box(ax, dx, 1.65, w, 0.42, "causal self-attention", kind="attention", size=10)
    cross = _box(ax, dx, 2.55, w, 0.55, "", kind="attention", bold=True)
    _text(ax, dx, cross.y + 0.1, "cross-attention", size=10.5)
    _text(ax, dx, cross.y - 0.13, r"weights: $T \times S$", size=9, color=NOTE)
    ffn_d = _box(ax, dx, 3.4, w, 0.42, "feed-forward", kind="feed_forward", size=10)
    _arrow(ax, emb_d.top, self_d.bottom)
    _arrow(ax, self_d.top, cross.bottom)
    _text(ax, dx + 0.08, (self_d.top[1] + cross.bottom[1]) / 2, "$Q = D W_Q$", size=11.5, ha="left")
    _arrow(ax, cross.top, ffn_d.bottom)
    route_x = 3.3
    _arrow(ax, enc_out.right, (route_x, enc_out.y), (route_x, cross.y), cross.left)
    _text(ax, route_x + 0.08, 3.15, "$K = E W_K$", size=11.5, ha="left")
    _text(ax, route_x + 0.08, 2.88, "$V = E W_V$", size=11.5, ha="left")
    out = _box(ax, dx, 4.4, w, 0.38, "output layer (shared table)", kind="output", size=9.5)
    _arrow(ax, ffn_d.top, out.bottom)
    _arrow(ax, out.top, (dx, 4.88))
    _text(ax, dx, 5.0, "deutsche welle </s>", size=9.5, va="bottom")
    _text(ax, 0.08, 5.1, "each sublayer: RMSNorm before it,", size=9, ha="left", color=NOTE)
    _text(ax, 0.08, 4.87, "a residual connection around it", size=9, ha="left", color=NOTE)
    return fig


def lora() -> Figure:
    """LoRA: the frozen W beside the trainable low-rank path B A, scaled by alpha / r."""
    fig, ax = _canvas(7.0, 4.3)
    x_in = _box(ax, 3.0, 0.3, 1.6, 0.36, "$x$  (in)", kind="embedding", size=12)
    w_box = _box(ax, 1.75, 1.95, 1.9, 1.7, "", kind="frozen")
    _text(ax, 1.75, 2.15, "$W$", size=17)
    _text(ax, 1.75, 1.72, r"out $\times$ in, frozen", size=9.5, color=NOTE)
    cx = 4.4  # A: in -> r (wide at the bottom), B: r -> out (wide at the top)
    fill, edge = PALETTE["trainable"]
    a_poly = [(cx - 0.8, 1.1), (cx + 0.8, 1.1), (cx + 0.3, 1.75), (cx - 0.3, 1.75)]
    b_poly = [(cx - 0.3, 2.15), (cx + 0.3, 2.15), (cx + 0.8, 2.8), (cx - 0.8, 2.8)]
    for poly in (a_poly, b_poly):
        ax.add_patch(Polygon(poly, closed=True, facecolor=fill, edgecolor=edge, linewidth=1.2, zorder=2))
    _text(ax, cx, 1.4, "$A$", size=16)
    _text(ax, cx, 2.5, "$B$", size=16)
    _text(ax, cx + 0.95, 1.45, r"$A \in \mathbb{R}^{r \times \text{in}}$", size=12.5, ha="left")
    _text(ax, cx + 0.95, 1.15, "random at the start", size=9.5, ha="left", color=NOTE)
    _text(ax, cx + 0.95, 2.53, r"$B \in \mathbb{R}^{\text{out} \times r}$", size=12.5, ha="left")
    _text(ax, cx + 0.95, 2.23, "$B = 0$ at the start", size=9.5, ha="left", color=NOTE)
    _text(ax, cx + 0.38, 1.95, "rank $r$", size=9.5, ha="left", color=NOTE)
    _arrow(ax, (cx, 1.75), (cx, 2.15))
    _arrow(ax, x_in.top, (3.0, 0.75), (w_box.x, 0.75), w_box.bottom)
    _arrow(ax, (3.0, 0.75), (cx, 0.75), (cx, 1.1))
    total = _add(ax, 3.0, 3.45, r=0.16)
    _arrow(ax, w_box.top, (w_box.x, total.y), total.left)
    _arrow(ax, (cx, 2.8), (cx, total.y), total.right)
    _text(ax, cx + 0.1, 3.12, r"$\times\, \dfrac{\alpha}{r}$", size=13, ha="left")
    _arrow(ax, total.top, (3.0, 3.92))
    _text(ax, 3.0, 4.1, r"$h = W x + \dfrac{\alpha}{r} B A x$", size=13.5)
    _text(ax, 0.1, 4.12, "after training, merge:", size=9.5, ha="left", color=NOTE)
    _text(ax, 0.1, 3.75, r"$W + \dfrac{\alpha}{r} B A$", size=13, ha="left")
    return fig


# --- registry, SVG and command line ------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagram:
    """A figure of the book: its drawing function and the chapter that shows it."""

    draw: Callable[[], Figure]
    chapter: str


FIGURES: dict[str, Diagram] = {
    "skip-gram-and-cbow": Diagram(skip_gram_and_cbow, "book/word2vec.ipynb"),
    "elmo-bilm": Diagram(elmo_bilm, "book/elmo.ipynb"),
    "scaled-dot-product-attention": Diagram(scaled_dot_product_attention, "book/attention-and-transformers.ipynb"),
    "multi-head-attention": Diagram(multi_head_attention, "book/attention-and-transformers.ipynb"),
    "transformer-blocks": Diagram(transformer_blocks, "book/attention-and-transformers.ipynb"),
    "t5-encoder-decoder": Diagram(t5_encoder_decoder, "book/t5.ipynb"),
    "lora": Diagram(lora, "book/fine-tuning.ipynb"),
}


def _diagram(name: str) -> Diagram:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; the figures are: {', '.join(sorted(FIGURES))}")
    return FIGURES[name]


def draw(name: str) -> Figure:
    """The figure ``name`` of :data:`FIGURES`, drawn in the book's fixed style."""
    diagram = _diagram(name)
    with _style():
        return diagram.draw()


def figure_texts(fig: Figure) -> list[str]:
    """Every text of a drawn figure, as written in the code (mathtext included)."""
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def svg_bytes(name: str) -> bytes:
    """The SVG of figure ``name``: the same bytes on every run with the same matplotlib."""
    diagram = _diagram(name)
    with _style():
        fig = diagram.draw()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def write_svgs(folder: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write ``<folder>/<name>.svg`` for each figure (all of them by default); return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names if names is not None else sorted(FIGURES):
        path = folder / f"{name}.svg"
        path.write_bytes(svg_bytes(name))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the book's architecture figures as SVG.")
    parser.add_argument("--write", type=Path, required=True, metavar="FOLDER", help="where to write the SVG files")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"one figure (repeatable); default: all of {', '.join(sorted(FIGURES))}")
    args = parser.parse_args(argv)
    try:
        paths = write_svgs(args.write, args.only)
    except ValueError as error:
        parser.error(str(error))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
