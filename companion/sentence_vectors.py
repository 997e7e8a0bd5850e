"""One vector per text: averaged word vectors and MiniLM sentence embeddings.

A classifier such as logistic regression needs one fixed-length vector per
document. This module gives two ways to get one from pretrained models.

- :func:`average_word_vectors`: the mean of the vectors of a document's words
  that the word vectors know (any :class:`~gensim.models.KeyedVectors`: GloVe,
  our Word2Vec). Unknown words are skipped; a document with no known word gets
  the zero vector, and :func:`known_word_counts` tells you which rows those are.
  The same numbers as gensim's ``KeyedVectors.get_mean_vector(words,
  pre_normalize=False)``, computed for all documents at once with one sparse
  matrix product instead of a Python loop per document.
- :func:`token_coverage`: the share of a corpus's running tokens that a
  vocabulary covers (how much of each text the average actually sees).
- :func:`minilm_embeddings`: all-MiniLM-L6-v2 sentence embeddings (384-d, unit
  length), computed with a fixed batch size and cached under a hash of the
  texts, so every chapter that embeds the same texts loads them in a second.
- :func:`minilm_training_sample`: the fixed subsample of the Rotten Tomatoes
  training set whose MiniLM embeddings the book computes (encoding all of it
  would not fit a chapter's time budget on a laptop CPU).

Explained in the chapter "Sentiment analysis" (``book/sentiment-analysis.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.vectors import keyed_vectors
>>> from companion.sentence_vectors import average_word_vectors, known_word_counts
>>> kv = keyed_vectors(["good", "bad"], np.array([[1.0, 0.0], [0.0, 1.0]]))
>>> docs = [["good", "good", "bad"], ["good", "film"], ["film"]]
>>> average_word_vectors(docs, kv).round(3)
array([[0.667, 0.333],
       [1.   , 0.   ],
       [0.   , 0.   ]], dtype=float32)
>>> known_word_counts(docs, kv)
array([3, 1, 0])
"""

from __future__ import annotations

import hashlib
from itertools import chain
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .vectors import KeyedVectors

__all__ = [
    "average_word_vectors",
    "known_word_counts",
    "token_coverage",
    "texts_fingerprint",
    "minilm_embeddings",
    "minilm_training_sample",
    "MINILM_BATCH_SIZE",
    "MINILM_TRAIN_SIZE",
    "MINILM_SAMPLE_SEED",
]

#: Batch size of every MiniLM encoding (fixed: padding depends on the batch, so results do too, in the last bits).
MINILM_BATCH_SIZE = 64
#: Number of training snippets whose MiniLM embeddings the book computes (see :func:`minilm_training_sample`).
MINILM_TRAIN_SIZE = 1000
#: Seed of the training subsample.
MINILM_SAMPLE_SEED = 0


def _check_token_lists(token_lists) -> list[list[str]]:
    if isinstance(token_lists, str) or not isinstance(token_lists, Sequence):
        raise TypeError(
            f"token_lists must be a list of token lists, e.g. [['a', 'fine', 'film']], got {type(token_lists).__name__}"
        )
    for i, doc in enumerate(token_lists):
        if isinstance(doc, str) or not isinstance(doc, Sequence):
            raise TypeError(
                f"document {i} must be a list of tokens (use companion.text.tokenize on the text), "
                f"got {type(doc).__name__}: {doc!r:.60}"
            )
    return [list(doc) for doc in token_lists]


def _known_ids(token_lists: list[list[str]], kv: KeyedVectors) -> tuple[np.ndarray, np.ndarray]:
    """Row (document) and column (word id) of every known token, in reading order."""
    key_to_index = kv.key_to_index
    lengths = np.fromiter((len(doc) for doc in token_lists), dtype=np.int64, count=len(token_lists))
    doc_of_token = np.repeat(np.arange(len(token_lists)), lengths)
    ids = np.fromiter((key_to_index.get(t, -1) for t in chain.from_iterable(token_lists)), dtype=np.int64,
                      count=int(lengths.sum()))
    known = ids >= 0
    return doc_of_token[known], ids[known]


def known_word_counts(token_lists: Sequence[Sequence[str]], kv: KeyedVectors) -> np.ndarray:
    """Number of tokens of each document that ``kv`` has a vector for (0: the document is all unknown words)."""
    token_lists = _check_token_lists(token_lists)
    rows, _ = _known_ids(token_lists, kv)
    return np.bincount(rows, minlength=len(token_lists))


def average_word_vectors(token_lists: Sequence[Sequence[str]], kv: KeyedVectors) -> np.ndarray:
    """One row per document: the mean of the vectors of its tokens that ``kv`` knows.

    Repeated tokens count as often as they occur; unknown tokens are skipped. A
    document with no known token (or no token at all) gets the zero vector:
    count those rows with ``(known_word_counts(token_lists, kv) == 0).sum()``.
    Row ``i`` equals ``kv.get_mean_vector(known_tokens_i, pre_normalize=False)``.

    Parameters
    ----------
    token_lists : list of list of str
        Tokenized documents (``companion.text.tokenize``).
    kv : KeyedVectors
        The word vectors.

    Returns
    -------
    numpy.ndarray of shape (n_documents, kv.vector_size), float32
    """
    token_lists = _check_token_lists(token_lists)
    rows, cols = _known_ids(token_lists, kv)
    counts = np.bincount(rows, minlength=len(token_lists))
    # a sparse (documents x vocabulary) matrix of 1/count per known token: its product with the
    # vectors sums each document's vectors and divides by its count in one step
    weights = 1.0 / counts[rows] if len(rows) else np.zeros(0)
    averaging = sp.csr_matrix((weights, (rows, cols)), shape=(len(token_lists), len(kv.index_to_key)))
    return np.asarray(averaging @ np.asarray(kv.vectors, dtype=np.float64), dtype=np.float32)


def token_coverage(token_lists: Sequence[Sequence[str]], kv: KeyedVectors) -> float:
    """Share of all running tokens of ``token_lists`` that ``kv`` has a vector for."""
    token_lists = _check_token_lists(token_lists)
    n_tokens = sum(len(doc) for doc in token_lists)
    if n_tokens == 0:
        raise ValueError("token_lists has no tokens at all, so coverage is undefined")
    return float(known_word_counts(token_lists, kv).sum() / n_tokens)


def texts_fingerprint(texts: Sequence[str]) -> str:
    """A short SHA-256 hex digest of the texts, in order (the cache key of :func:`minilm_embeddings`)."""
    digest = hashlib.sha256()
    digest.update(str(len(texts)).encode())
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))  # lengths make the joined bytes unambiguous
        digest.update(encoded)
    return digest.hexdigest()[:16]


def minilm_embeddings(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of ``texts`` (n x 384, float32, rows of length 1), cached.

    Encoded on the CPU with batch size :data:`MINILM_BATCH_SIZE`; the cache name
    holds a hash of the texts (:func:`texts_fingerprint`), so the same texts in
    the same order are encoded once, whichever chapter asks first.
    Encoding costs tens of milliseconds per Rotten Tomatoes snippet on two busy CPU cores.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: nothing to embed")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        first = texts[bad[0]]
        raise TypeError(f"texts must all be strings; item {bad[0]} is {type(first).__name__}: {first!r:.60}")
    from .cache import cached_file

    def build(tmp_path) -> None:
        from .models import load_minilm

        model = load_minilm()
        embeddings = model.encode(texts, batch_size=MINILM_BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
        with open(tmp_path, "wb") as handle:
            np.save(handle, embeddings.astype(np.float32))

    name = f"sentence-vectors/minilm-l6-{texts_fingerprint(texts)}-n{len(texts)}-bs{MINILM_BATCH_SIZE}.npy"
    return np.load(cached_file(name, build))


def minilm_training_sample(train: pd.DataFrame, size: int = MINILM_TRAIN_SIZE,
                           seed: int = MINILM_SAMPLE_SEED) -> pd.DataFrame:
    """A fixed random subsample of ``size`` rows of ``train`` (in their original order), index reset.

    The book embeds this subsample of the Rotten Tomatoes training set with
    MiniLM, plus the whole test set; later chapters call this function to get
    the same rows, so :func:`minilm_embeddings` finds them in the cache.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(train):
        raise ValueError(f"size must be an integer from 1 to len(train) = {len(train)}, got {size!r}")
    return train.iloc[_sample_rows(len(train), size, seed)].reset_index(drop=True)


def _sample_rows(n_rows: int, size: int, seed: int) -> np.ndarray:
    """The sorted row positions of :func:`minilm_training_sample` (also used to find the rows it leaves out)."""
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))
