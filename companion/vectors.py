"""The book's one vector-lookup type: gensim's :class:`~gensim.models.KeyedVectors`.

Whatever trained a set of word vectors (our from-scratch trainers, gensim,
GloVe's authors, spaCy), the book stores them in a ``KeyedVectors``, so every
chapter can call the same ``most_similar``, ``similarity``,
``evaluate_word_pairs`` and ``evaluate_word_analogies`` on them. This module
builds one from a word list and a matrix, with the checks that catch the usual
mistakes, and implements cosine nearest neighbours from scratch so that the
reader sees what ``most_similar`` computes (a test checks that the two agree).

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.vectors import keyed_vectors, cosine_neighbours
>>> kv = keyed_vectors(["cat", "dog", "car"], np.array([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]]))
>>> cosine_neighbours(kv, "cat", topn=2)
[('dog', 0.993), ('car', 0.1)]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from gensim.models import KeyedVectors

__all__ = ["KeyedVectors", "keyed_vectors", "cosine_neighbours", "cosine_similarity_matrix", "repeated_words"]


def keyed_vectors(words: Sequence[str], matrix, dtype=np.float32) -> KeyedVectors:
    """Wrap ``matrix`` (one row per word of ``words``) as a :class:`KeyedVectors`.

    Raises ``ValueError`` naming the problem for a shape mismatch, duplicate
    words, or non-finite values.
    """
    words = list(words)
    matrix = np.asarray(matrix, dtype=dtype)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (words x dimensions), got shape {matrix.shape}")
    if matrix.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but {matrix.shape[0]} rows in the matrix; they must match")
    dupes = repeated_words(words)
    if dupes:
        raise ValueError(f"duplicate words, e.g. {dupes[:5]}; each word needs exactly one row")
    if not np.isfinite(matrix).all():
        bad = words[int(np.where(~np.isfinite(matrix).all(axis=1))[0][0])]
        raise ValueError(f"matrix has non-finite values (first in the row of {bad!r})")
    kv = KeyedVectors(matrix.shape[1], count=0, dtype=dtype)
    kv.add_vectors(words, matrix)
    return kv


def repeated_words(words: Sequence[str]) -> list[str]:
    """The words of ``words`` that occur again after their first occurrence, in order.

    >>> repeated_words(["a", "b", "a", "c", "b", "a"])
    ['a', 'b', 'a']
    """
    seen, repeats = set(), []
    for w in words:
        if w in seen:
            repeats.append(w)
        seen.add(w)
    return repeats


def cosine_similarity_matrix(a, b) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (zero rows give 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    na[na == 0] = 1.0
    nb[nb == 0] = 1.0
    return (a / na) @ (b / nb).T


def cosine_neighbours(kv: KeyedVectors, word: str, topn: int = 10, decimals: int | None = 3) -> list[tuple[str, float]]:
    """The ``topn`` words nearest to ``word`` by cosine similarity, computed from scratch.

    Same answer as ``kv.most_similar(word, topn=topn)``; similarities are rounded
    to ``decimals`` places (``None`` keeps full precision).
    """
    if word not in kv.key_to_index:
        raise KeyError(f"{word!r} is not in the vocabulary of these {len(kv)} vectors")
    if not isinstance(topn, int) or topn < 1:
        raise ValueError(f"topn must be a positive integer, got {topn!r}")
    sims = cosine_similarity_matrix(kv.vectors[[kv.key_to_index[word]]], kv.vectors)[0]
    sims[kv.key_to_index[word]] = -np.inf
    k = min(topn, len(kv) - 1)
    best = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    best = best[np.lexsort((best, -sims[best]))]
    out = [(kv.index_to_key[i], float(sims[i])) for i in best[:k]]
    if decimals is not None:
        out = [(w, round(s, decimals)) for w, s in out]
    return out
