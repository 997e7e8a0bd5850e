"""Measuring and removing a social bias in word vectors: WEAT and hard-debias's neutralise step.

- :func:`weat`: the Word Embedding Association Test (Caliskan, Bryson &
  Narayanan 2017). Two equal-sized sets of *target* words ``X`` and ``Y``
  (e.g. male and female names) and two sets of *attribute* words ``A`` and
  ``B`` (e.g. career and family words). Each target word ``w`` gets the
  association ``s(w) = mean_a cos(w, a) - mean_b cos(w, b)``; the test
  statistic is ``S = sum_{x in X} s(x) - sum_{y in Y} s(y)`` and the effect
  size is ``(mean_X s - mean_Y s) / std_{X u Y} s`` (sample standard
  deviation, ``ddof=1``), a Cohen's-d-like number between -2 and 2. The
  one-sided permutation p-value is the share of equal-sized re-partitions
  ``(X_i, Y_i)`` of ``X u Y`` with ``S(X_i, Y_i) >= S(X, Y)``: computed over
  *all* partitions when there are at most ``n_permutations`` of them (exact),
  otherwise over ``n_permutations`` seeded random ones, counting the observed
  partition too, ``(hits + 1) / (n_permutations + 1)``, so it is never 0.
- :func:`gender_direction`: the first principal component of the centred
  definitional pairs (``he - she``, ``man - woman``, ...) of unit vectors, as
  in Bolukbasi et al. (2016), oriented towards the first word of each pair.
- :func:`neutralise`: hard-debias's "neutralise" step: subtract from each
  chosen word's vector its component along the direction. Returns new
  vectors; the input is never modified. (Bolukbasi et al. also rescale every
  vector to unit length and "equalise" pairs; both are left out here.)

Explained in the chapter "Evaluating and exploring embeddings"
(``book/evaluating-embeddings.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.vectors import keyed_vectors
>>> from companion.bias import weat, gender_direction, neutralise
>>> kv = keyed_vectors(["x1", "x2", "y1", "y2", "a", "b"],
...                    np.array([[1, 0.1], [1, 0.2], [0.1, 1], [0.2, 1], [1, 0], [0, 1]]))
>>> result = weat(kv, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"])
>>> round(result["effect_size"], 3), result["p_value"], result["n_used"]
(1.728, 0.16666666666666666, 6)
>>> d = gender_direction(kv, [("a", "b")])
>>> d.round(3)
array([ 0.707, -0.707])
>>> after = neutralise(kv, ["x1"], d)
>>> abs(float(after["x1"] @ d)) < 1e-6, kv["x1"].tolist() == [1.0, 0.10000000149011612]
(True, True)
"""

from __future__ import annotations

from itertools import combinations
from math import comb
from typing import Sequence

import numpy as np

from .vectors import KeyedVectors, keyed_vectors

__all__ = ["weat", "gender_direction", "neutralise", "association"]


def _check_words(kv: KeyedVectors, words, name: str) -> list[str]:
    if isinstance(words, str) or not isinstance(words, Sequence) and not hasattr(words, "__iter__"):
        raise TypeError(f"{name} must be a list of words, got {type(words).__name__}: {words!r:.60}")
    words = [str(w) for w in words]
    if not words:
        raise ValueError(f"{name} is empty; it needs at least one word")
    missing = sorted({w for w in words if w not in kv.key_to_index})
    if missing:
        raise ValueError(
            f"{name} has {len(missing)} word(s) missing from the vocabulary of these {len(kv):,} vectors: "
            f"{missing}; remove them or use vectors that know them"
        )
    return words


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def association(kv: KeyedVectors, words: Sequence[str], A: Sequence[str], B: Sequence[str]) -> np.ndarray:
    """``s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)`` for each word ``w`` of ``words``.

    >>> import numpy as np
    >>> from companion.vectors import keyed_vectors
    >>> kv = keyed_vectors(["w", "a", "b"], np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    >>> association(kv, ["w"], ["a"], ["b"]).tolist()
    [1.0]
    """
    words = _check_words(kv, words, "words")
    A = _check_words(kv, A, "A")
    B = _check_words(kv, B, "B")
    W = _unit_rows(kv[words])
    return (W @ _unit_rows(kv[A]).T).mean(axis=1) - (W @ _unit_rows(kv[B]).T).mean(axis=1)


def weat(
    kv: KeyedVectors,
    X: Sequence[str],
    Y: Sequence[str],
    A: Sequence[str],
    B: Sequence[str],
    n_permutations: int = 10_000,
    seed: int = 0,
) -> dict:
    """Word Embedding Association Test of targets ``X`` vs ``Y`` on attributes ``A`` vs ``B``.

    Parameters
    ----------
    kv : KeyedVectors
    X, Y : list of str
        Target words, the same number in each (e.g. male and female terms).
    A, B : list of str
        Attribute words (e.g. career and family words); sizes may differ.
    n_permutations : int
        If ``X u Y`` has at most this many equal-sized partitions, all of them
        are enumerated (exact p-value); otherwise this many random ones are drawn.
    seed : int
        Seed of the random partitions.

    Returns
    -------
    dict
        ``statistic`` (S), ``effect_size``, ``p_value`` (one-sided: is ``X``
        closer to ``A`` than ``Y`` is?), ``exact`` (whether every partition was
        enumerated), ``n_partitions`` (partitions used) and ``n_used`` (words
        in ``X, Y, A, B`` together).

    Raises
    ------
    ValueError
        A word is not in the vocabulary (all such words are named), ``X`` and
        ``Y`` differ in size or overlap, or ``n_permutations < 1``.
    """
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    X = _check_words(kv, X, "X")
    Y = _check_words(kv, Y, "Y")
    A = _check_words(kv, A, "A")
    B = _check_words(kv, B, "B")
    if len(X) != len(Y):
        raise ValueError(f"X and Y must have the same number of words, got {len(X)} and {len(Y)}")
    if set(X) & set(Y):
        raise ValueError(f"X and Y must not share words, both contain {sorted(set(X) & set(Y))}")
    s = association(kv, X + Y, A, B)
    n = len(X)
    total = s.sum()
    statistic = float(s[:n].sum() - s[n:].sum())
    spread = s.std(ddof=1)
    effect_size = float((s[:n].mean() - s[n:].mean()) / spread) if spread > 0 else float("nan")

    n_partitions = comb(2 * n, n)
    exact = n_partitions <= n_permutations
    if exact:
        members = np.array(list(combinations(range(2 * n), n)), dtype=np.int64)
        partition_stats = 2 * s[members].sum(axis=1) - total  # S = sum_Xi s - (total - sum_Xi s)
        p_value = float(np.mean(partition_stats >= statistic - 1e-12))
        used = n_partitions
    else:
        rng = np.random.default_rng(seed)
        order = np.argsort(rng.random((n_permutations, 2 * n)), axis=1)[:, :n]
        partition_stats = 2 * s[order].sum(axis=1) - total
        hits = int(np.sum(partition_stats >= statistic - 1e-12))
        p_value = (hits + 1) / (n_permutations + 1)
        used = n_permutations
    return {
        "statistic": statistic,
        "effect_size": effect_size,
        "p_value": p_value,
        "exact": exact,
        "n_partitions": used,
        "n_used": len(X) + len(Y) + len(A) + len(B),
    }


def gender_direction(kv: KeyedVectors, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Unit vector of the first principal component of centred definitional pairs.

    Each pair ``(a, b)`` (e.g. ``("he", "she")``) contributes ``a - m`` and
    ``b - m`` with ``m = (a + b) / 2``, on unit-length vectors. The sign is
    chosen so that the direction points from the second words to the first
    (the mean of ``a - b`` projects positively).

    Raises
    ------
    ValueError
        No pairs, a pair that is not two words, or words not in the vocabulary.
    """
    pairs = [tuple(p) for p in pairs]
    if not pairs:
        raise ValueError("pairs is empty; give at least one pair such as ('he', 'she')")
    bad = [p for p in pairs if len(p) != 2]
    if bad:
        raise ValueError(f"every pair must have exactly two words, got {bad}")
    first = _check_words(kv, [a for a, _ in pairs], "pairs (first words)")
    second = _check_words(kv, [b for _, b in pairs], "pairs (second words)")
    a, b = _unit_rows(kv[first]), _unit_rows(kv[second])
    centre = (a + b) / 2
    stacked = np.vstack([a - centre, b - centre])
    _, _, vt = np.linalg.svd(stacked - stacked.mean(axis=0), full_matrices=False)
    direction = vt[0]
    if (a - b).mean(axis=0) @ direction < 0:
        direction = -direction
    return direction / np.linalg.norm(direction)


def neutralise(kv: KeyedVectors, words: Sequence[str], direction) -> KeyedVectors:
    """New vectors in which each of ``words`` has its component along ``direction`` removed.

    ``v <- v - (v . d) d`` with ``d = direction / |direction|``; every other
    word, and every component orthogonal to ``d``, is unchanged. ``kv`` is not
    modified.

    Raises
    ------
    ValueError
        Words not in the vocabulary (named), or a direction of the wrong shape
        or of zero length.
    """
    words = _check_words(kv, words, "words")
    d = np.asarray(direction, dtype=np.float64)
    if d.shape != (kv.vector_size,):
        raise ValueError(f"direction must have shape ({kv.vector_size},) like the vectors, got {d.shape}")
    norm = np.linalg.norm(d)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("direction must be a finite, non-zero vector")
    d = d / norm
    matrix = np.array(kv.vectors, dtype=np.float64)  # a copy
    rows = np.array(sorted({kv.key_to_index[w] for w in words}))
    matrix[rows] -= np.outer(matrix[rows] @ d, d)
    return keyed_vectors(list(kv.index_to_key), matrix, dtype=kv.vectors.dtype)
