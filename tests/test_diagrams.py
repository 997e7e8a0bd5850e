"""The architecture figures: committed SVGs equal their code, chapters show them, labels use the chapters' symbols."""

import re
from pathlib import Path

import matplotlib
import nbformat
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Circle, FancyBboxPatch, Polygon
from matplotlib.text import Text

from companion import diagrams
from companion.profiling import toc_notebooks
from companion.diagrams import FIGURES, draw, figure_texts, svg_bytes, write_svgs

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "book" / "figures"
NAMES = sorted(FIGURES)

# Symbols each figure must share with the equations of its chapter, as LaTeX. They are compared
# without spaces, and with \dfrac read as \frac (the figures use display-size fractions).
SYMBOLS = {
    "skip-gram-and-cbow": [r"\mathbf{v}_w", r"\sigma(\mathbf{u}_c \cdot \mathbf{v}_w)", r"\mathbf{u}_{n_i}",
                           r"n_i \sim P_n"],
    "elmo-bilm": [r"\mathrm{ELMo}_k = \gamma \sum_{j=0}^{L} \mathrm{softmax}(s)_j \, h_{k,j}",
                  r"\overrightarrow{h}_{k,", r"\overleftarrow{h}_{k,", r"h_{k,0}", r"x_k"],
    "scaled-dot-product-attention": [r"\mathrm{Attention}(Q, K, V)", r"QK^\top", r"\sqrt{d_k}", r"-\infty"],
    "multi-head-attention": [r"\mathrm{MultiHead}(X) = [\mathrm{head}_1; \dots; \mathrm{head}_h]\, W_O",
                             r"d_k = d_{\text{model}} / h", r"W_O"],
    "transformer-blocks": [r"x \leftarrow \mathrm{LN}(x + \mathrm{MHA}(x))", r"x \leftarrow \mathrm{LN}(x + \mathrm{FFN}(x))",
                           r"x \leftarrow x + \mathrm{MHA}(\mathrm{LN}(x))", r"x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))"],
    "t5-encoder-decoder": [r"D W_Q", r"E W_K", r"E W_V", r"T \times S"],
    "lora": [r"h = W x + \frac{\alpha}{r} B A x", r"W + \frac{\alpha}{r} B A",
             r"A \in \mathbb{R}^{r \times \text{in}}", r"B \in \mathbb{R}^{\text{out} \times r}"],
}

FIGURE_DIRECTIVE = re.compile(
    r"```\{figure\} figures/(?P<file>[^\s`]+)\n(?P<options>(?::[a-z]+:[^\n]*\n)*)\n(?P<caption>.*?)\n```", re.S)


def _plain(latex: str) -> str:
    return re.sub(r"\s+", "", latex.replace(r"\dfrac", r"\frac"))


def _markdown(chapter: str) -> str:
    notebook = nbformat.read(ROOT / chapter, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def _figure_directives() -> dict[str, list[dict]]:
    """Every ``{figure}`` of a chapter that shows a file of ``book/figures``, by chapter."""
    found = {}
    for path in toc_notebooks():
        chapter = path.resolve().relative_to(ROOT).as_posix()
        for match in FIGURE_DIRECTIVE.finditer(_markdown(chapter)):
            options = dict(re.findall(r"^:([a-z]+):[ ]?(.*)$", match["options"], re.M))
            found.setdefault(chapter, []).append({"file": match["file"], "caption": match["caption"], **options})
    return found


def test_committed_svgs_are_what_the_code_draws(tmp_path):
    written = write_svgs(tmp_path)
    assert sorted(p.name for p in COMMITTED.glob("*.svg")) == sorted(p.name for p in written), (
        "book/figures holds other SVGs than the registry draws: run `python -m companion.diagrams --write book/figures`")
    stale = [p.name for p in written if p.read_bytes() != (COMMITTED / p.name).read_bytes()]
    assert not stale, f"stale figures {stale}: run `python -m companion.diagrams --write book/figures` and commit"


def test_svg_bytes_do_not_depend_on_the_callers_style():
    reference = svg_bytes("lora")
    with matplotlib.rc_context({"font.size": 20, "font.family": "serif", "mathtext.fontset": "stix",
                                "svg.hashsalt": None, "lines.linewidth": 4}):
        assert svg_bytes("lora") == reference
    assert b"<dc:date>" not in reference  # no time stamp in the file


@pytest.mark.parametrize("name", NAMES)
def test_each_figure_is_shown_with_alt_text_and_referenced_in_its_chapter(name):
    chapter = FIGURES[name].chapter
    shown = [d for d in _figure_directives().get(chapter, []) if d["file"] == f"{name}.svg"]
    assert len(shown) == 1, f"{chapter} should show figures/{name}.svg once, shows it {len(shown)} times"
    directive = shown[0]
    assert directive.get("name") == f"fig-{name}"
    assert len(directive.get("alt", "").split()) >= 20, f"fig-{name}: the alt text should describe the drawing"
    assert directive["caption"].strip(), f"fig-{name} has no caption"
    assert f"{{numref}}`fig-{name}`" in _markdown(chapter), f"{chapter} never refers to fig-{name} with {{numref}}"


def test_every_figure_directive_shows_a_registered_figure():
    shown = [d["file"] for directives in _figure_directives().values() for d in directives]
    assert sorted(shown) == sorted(f"{name}.svg" for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_labels_use_the_symbols_of_the_chapters_equations(name):
    texts = _plain(" ".join(figure_texts(draw(name))))
    chapter = _plain(_markdown(FIGURES[name].chapter))
    for symbol in SYMBOLS[name]:
        assert _plain(symbol) in texts, f"figure {name} has no label with {symbol}"
        assert _plain(symbol) in chapter, f"{FIGURES[name].chapter} does not write {symbol}: rename in both"


@pytest.mark.parametrize("name", NAMES)
def test_labels_are_legible_and_inside_their_boxes(name):
    fig = draw(name)
    renderer = FigureCanvasAgg(fig).get_renderer()
    width, height = fig.get_size_inches()
    assert width <= 7.5, "wider than the book's content column (about 750 px): the labels would shrink"
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= 8.5
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for text, box in extents:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, f"{text!r} is cut off"
    for i, (a, box_a) in enumerate(extents):
        for b, box_b in extents[i + 1:]:
            assert not box_a.overlaps(box_b), f"labels {a!r} and {b!r} overlap"
    filled = [patch.get_window_extent(renderer) for patch in fig.findobj(
        lambda artist: isinstance(artist, (FancyBboxPatch, Polygon, Circle)) and artist.get_facecolor()[3] > 0)]
    for text in texts:
        extent = text.get_window_extent(renderer)
        anchor = text.get_transform().transform(text.get_position())
        for outline in filled:
            if outline.padded(1).contains(*anchor):  # a label placed in a box stays inside it
                assert outline.padded(1).contains(extent.x0, extent.y0) and outline.padded(1).contains(
                    extent.x1, extent.y1), f"{text.get_text()!r} spills out of its box"
            else:  # and a label outside every box covers none
                assert not extent.overlaps(outline), f"{text.get_text()!r} covers a box"


def test_parts_of_a_kind_have_one_colour_in_every_figure():
    palette = {kind: tuple(matplotlib.colors.to_hex(c) for c in colours) for kind, colours in diagrams.PALETTE.items()}
    drawn = set()
    for name in NAMES:
        for patch in draw(name).findobj(lambda artist: isinstance(artist, (FancyBboxPatch, Polygon))):
            if patch.get_facecolor()[3] == 0:  # an outline: a repeated layer, the mixed token
                continue
            colours = (matplotlib.colors.to_hex(patch.get_facecolor()), matplotlib.colors.to_hex(patch.get_edgecolor()))
            kinds = [kind for kind, pair in palette.items() if pair == colours]
            assert kinds, f"{name}: a part coloured {colours}, outside companion.diagrams.PALETTE"
            drawn.update(kinds)
    assert {"embedding", "attention", "feed_forward", "norm", "recurrent", "trainable", "frozen"} <= drawn


def test_unknown_figure_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown figure 'lstm'; the figures are: elmo-bilm, lora, "):
        draw("lstm")
    with pytest.raises(ValueError, match="skip-gram-and-cbow"):
        svg_bytes("skip-gram")
    with pytest.raises(SystemExit) as exit_info:
        diagrams.main(["--write", str(tmp_path), "--only", "lstm"])
    assert exit_info.value.code == 2
    assert "unknown figure 'lstm'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_command_line_writes_the_figures_it_is_asked_for(tmp_path, capsys):
    assert diagrams.main(["--write", str(tmp_path / "out"), "--only", "lora", "--only", "elmo-bilm"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["elmo-bilm.svg", "lora.svg"]
    assert (tmp_path / "out" / "lora.svg").read_bytes() == svg_bytes("lora")
