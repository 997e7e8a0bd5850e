"""Aligning two embedding spaces: orthogonal Procrustes and word translation accuracy.

Two sets of word vectors trained separately live in unrelated coordinate
systems: even for the same word, the cosine between its vector in one space
and in the other means nothing. If the spaces have similar *shapes*, a linear
map learned on a few thousand shared *anchor* words can carry one onto the
other. Orthogonal Procrustes finds the rotation ``W`` (``W^T W = I``) that
minimises ``||X W - Y||_F`` for anchor rows ``X`` and ``Y``: with the SVD
``X^T Y = U S V^T`` it is ``W = U V^T`` (Schönemann 1966). A rotation keeps
every length and angle of the source space, so nothing is learned but the
change of coordinates. When the two spaces have different dimensions, the same
formula gives the map with orthonormal columns.

:func:`translation_accuracy` then asks, for held-out words, whether the mapped
source vector's nearest target neighbour is the same word (precision@k), the
measure used for bilingual lexicon induction (Mikolov et al. 2013; Conneau et
al. 2018) and, within one language, for model compatibility.

Explained in the chapter "Evaluating and exploring embeddings"
(``book/evaluating-embeddings.ipynb``); reused for machine translation in Part IV.

Examples
--------
>>> import numpy as np
>>> from companion.alignment import procrustes
>>> rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
>>> X = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
>>> np.allclose(procrustes(X, X @ rotation), rotation)
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .vectors import KeyedVectors, cosine_similarity_matrix

__all__ = ["procrustes", "shared_words", "translation_accuracy"]


def procrustes(X, Y) -> np.ndarray:
    """The matrix ``W`` with orthonormal columns minimising ``||X W - Y||_F``.

    ``X`` is ``(n, d_source)``, ``Y`` is ``(n, d_target)`` with ``d_source >= d_target``
    or equal dimensions; raises ``ValueError`` naming the shapes otherwise.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D, got shapes {X.shape} and {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y need one row per anchor word each: {X.shape[0]} rows vs {Y.shape[0]} rows")
    if X.shape[0] == 0:
        raise ValueError("no anchor words: X and Y have 0 rows")
    if X.shape[1] < Y.shape[1]:
        raise ValueError(
            f"the source has fewer dimensions ({X.shape[1]}) than the target ({Y.shape[1]}); "
            "map from the larger space to the smaller one"
        )
    U, _, Vt = np.linalg.svd(X.T @ Y, full_matrices=False)
    return U @ Vt


def shared_words(source: KeyedVectors, target: KeyedVectors, limit: int | None = None) -> list[str]:
    """Words present in both spaces, in the source's frequency order (the first ``limit``)."""
    words = [w for w in source.index_to_key if w in target.key_to_index]
    return words[:limit] if limit is not None else words


def _rows(kv: KeyedVectors, words: Sequence[str]) -> np.ndarray:
    missing = [w for w in words if w not in kv.key_to_index]
    if missing:
        raise KeyError(f"{len(missing)} words are not in the vocabulary, e.g. {missing[:5]}")
    return np.asarray(kv[list(words)], dtype=np.float64)


def translation_accuracy(
    source: KeyedVectors, target: KeyedVectors, words: Sequence[str], W=None,
    candidates: Sequence[str] | None = None, k: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """Precision@k of mapping each of ``words`` from ``source`` into ``target``.

    Each word's source vector (times ``W``, if given; without ``W`` the raw
    vector is used, which needs equal dimensions) is compared by cosine with
    the target vectors of ``candidates`` (default: ``words`` themselves); a
    hit at ``k`` means the word itself is among the ``k`` nearest candidates.
    """
    words = list(words)
    if not words:
        raise ValueError("no words to translate")
    candidates = list(candidates) if candidates is not None else words
    X = _rows(source, words)
    if W is not None:
        X = X @ np.asarray(W, dtype=np.float64)
    Y = _rows(target, candidates)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"mapped source vectors have {X.shape[1]} dimensions, the target {Y.shape[1]}: pass W")
    sims = cosine_similarity_matrix(X, Y)
    order = np.argsort(-sims, axis=1, kind="stable")
    index = {w: i for i, w in enumerate(candidates)}
    truth = np.array([index.get(w, -1) for w in words])
    out = {}
    for kk in k:
        hits = (order[:, :kk] == truth[:, None]).any(axis=1)
        out[f"p@{kk}"] = float(hits.mean())
    return out
