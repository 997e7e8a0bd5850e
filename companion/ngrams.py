"""N-grams: the runs of consecutive tokens that a bag-of-n-grams model counts.

An *n-gram* is a run of ``n`` consecutive tokens inside one document, written as
its tokens joined by single spaces (``"bites man"``), the convention scikit-learn
uses too. A bag of unigrams (single words) forgets word order entirely; a bag of
bigrams keeps which word follows which, and so on: each step up in ``n`` keeps a
little more order and multiplies the number of distinct features.

:func:`ngrams` is the definition, one document at a time, for reading.
:class:`NgramTable` does the same job for a whole corpus without a Python loop
per n-gram: it numbers the distinct n-grams of a corpus level by level (an
n-gram is its (n-1)-gram prefix plus one more token, so it gets the integer key
``prefix_id * V + token_id``, with ``V`` the size of the token
:class:`~companion.text.Vocabulary`), and finds every occurrence of those
n-grams in any corpus with one ``numpy.searchsorted`` per level.
:func:`ngram_vocabulary_growth` counts, from the occurrences the table finds,
how many distinct n-grams a corpus has after its first ``k`` tokens. :mod:`companion.tfidf` builds its
features on the same table.

Explained in the chapter "Text as numbers" (``book/text-as-numbers.ipynb``).

Examples
--------
>>> from companion.ngrams import ngrams, NgramTable
>>> ngrams(["man", "bites", "dog"], 2)
['man bites', 'bites dog']
>>> ngrams(["man", "bites", "dog"], 1, 3)
['man', 'bites', 'dog', 'man bites', 'bites dog', 'man bites dog']
>>> table = NgramTable.build([["man", "bites", "dog"], ["dog", "bites", "man"]], max_n=2)
>>> [table.size(n) for n in (1, 2)]
[3, 4]
>>> table.strings(2, range(table.size(2)))
['bites dog', 'bites man', 'dog bites', 'man bites']
"""

from __future__ import annotations

import numbers
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .text import Vocabulary

__all__ = ["ngrams", "check_ngram_range", "NgramTable", "Occurrences", "ngram_vocabulary_growth"]


def check_ngram_range(ngram_range) -> tuple[int, int]:
    """Return ``ngram_range`` as ``(n_min, n_max)`` after checking it.

    A valid range is a pair of integers with ``1 <= n_min <= n_max``, e.g.
    ``(1, 1)`` for unigrams or ``(1, 3)`` for unigrams to trigrams. Anything else
    raises ``ValueError`` naming the value.
    """
    valid = "a pair (n_min, n_max) of integers with 1 <= n_min <= n_max, e.g. (1, 2)"
    try:
        n_min, n_max = ngram_range
    except (TypeError, ValueError):
        raise ValueError(f"invalid ngram_range={ngram_range!r}: expected {valid}") from None
    for value in (n_min, n_max):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"invalid ngram_range={ngram_range!r}: expected {valid}")
    if not 1 <= n_min <= n_max:
        raise ValueError(f"invalid ngram_range={ngram_range!r}: expected {valid}")
    return int(n_min), int(n_max)


def ngrams(tokens: Sequence[str], n_min: int, n_max: int | None = None) -> list[str]:
    """All n-grams of one tokenized document, for ``n`` from ``n_min`` to ``n_max``.

    Shorter n-grams come first, each size in order of position; ``n_max``
    defaults to ``n_min``. A document shorter than ``n`` has no n-grams of that size.
    """
    if isinstance(tokens, str):
        raise TypeError("ngrams expects a list of tokens, got a str; call companion.text.tokenize() first")
    n_min, n_max = check_ngram_range((n_min, n_min if n_max is None else n_max))
    tokens = list(tokens)
    return [" ".join(tokens[i : i + n]) for n in range(n_min, n_max + 1) for i in range(len(tokens) - n + 1)]


@dataclass
class Occurrences:
    """Where the n-grams of one size occur: parallel arrays, one entry per occurrence.

    ``rows[j]`` is the document and ``ids[j]`` the n-gram's id in the
    :class:`NgramTable` (an integer in ``0 .. table.size(n) - 1``); ``ends[j]``
    is the position, counted in tokens over the concatenated corpus, just past
    the occurrence's last token.
    """

    rows: np.ndarray
    ids: np.ndarray
    ends: np.ndarray


class NgramTable:
    """The distinct n-grams (``n = 1 .. max_n``) of a corpus, numbered, with fast lookup.

    Build it with :meth:`build`. Level 1 numbers tokens by their
    :class:`~companion.text.Vocabulary` id minus one (the vocabulary keeps every
    token, ``min_count=1``). Level ``n > 1`` stores the sorted array of keys
    ``prefix_id * V + last_token_id`` of the corpus's distinct n-grams; an
    n-gram's id is the position of its key. Ids at every level therefore
    follow a fixed order, so the same corpus always gives the same ids.
    The token ``<unk>`` is reserved: it never forms part of an n-gram.
    """

    def __init__(self, vocabulary: Vocabulary, keys: list[np.ndarray]):
        self.vocabulary = vocabulary
        self._keys = keys  # _keys[n - 2] holds the sorted keys of level n >= 2
        self.max_n = 1 + len(keys)
        self._base = np.int64(len(vocabulary))

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], max_n: int) -> "NgramTable":
        """Number every distinct n-gram of tokenized ``docs`` for ``n = 1 .. max_n``."""
        check_ngram_range((1, max_n))
        flat, doc_index = _flatten(docs)
        # Count the tokens with one hash pass (pandas.factorize) rather than a Counter update per token.
        codes, uniques = pd.factorize(np.asarray(flat, dtype=object))
        if len(codes) and codes.min() < 0:
            raise TypeError("tokens must be strings; found a missing value (None or NaN) among them")
        counts = np.bincount(codes, minlength=len(uniques)).tolist()
        vocabulary = Vocabulary(Counter(dict(zip(uniques.tolist(), counts))), min_count=1)
        id_of_unique = np.array([vocabulary[u] for u in uniques.tolist()], dtype=np.int64)
        token_ids = id_of_unique[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        base = np.int64(len(vocabulary))
        if int(base) * (len(token_ids) + 1) >= np.iinfo(np.int64).max:
            raise ValueError(f"corpus too large for int64 n-gram keys ({len(token_ids):,} tokens x {int(base):,} types)")
        keys = []
        ids = np.where(token_ids > 0, token_ids - 1, -1)
        for n in range(2, max_n + 1):
            query = _extend(ids, token_ids, doc_index, n, base)
            valid = query >= 0
            level_keys, inverse = np.unique(query[valid], return_inverse=True)
            keys.append(level_keys)
            ids = np.full(len(query), -1, dtype=np.int64)
            ids[valid] = inverse
        return cls(vocabulary, keys)

    def size(self, n: int) -> int:
        """Number of distinct n-grams of size ``n`` in the corpus the table was built from."""
        self._check_n(n)
        return len(self.vocabulary) - 1 if n == 1 else len(self._keys[n - 2])

    def find(self, docs: Sequence[Sequence[str]], n_min: int, n_max: int) -> dict[int, Occurrences]:
        """Every occurrence in tokenized ``docs`` of an n-gram of the table, for ``n_min <= n <= n_max``.

        Returns a dict ``n -> Occurrences``. N-grams that are not in the table
        (they contain an unseen token, or never occurred when it was built) are skipped.
        """
        n_min, n_max = check_ngram_range((n_min, n_max))
        self._check_n(n_max)
        token_ids, doc_index = _encode(self.vocabulary, docs)
        out = {}
        ids = np.where(token_ids > 0, token_ids - 1, -1)
        for n in range(1, n_max + 1):
            if n > 1:
                query = _extend(ids, token_ids, doc_index, n, self._base)
                keys = self._keys[n - 2]
                ids = np.full(len(query), -1, dtype=np.int64)
                if len(keys):
                    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
                    found = (query >= 0) & (keys[pos] == query)
                    ids[found] = pos[found]
            if n >= n_min:
                starts = np.flatnonzero(ids >= 0)
                out[n] = Occurrences(rows=doc_index[starts], ids=ids[starts], ends=starts + n)
        return out

    def strings(self, n: int, ids: Iterable[int]) -> list[str]:
        """The n-grams of size ``n`` with the given ids, as space-joined strings."""
        self._check_n(n)
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.size(n)):
            raise IndexError(f"n-gram ids must lie in 0..{self.size(n) - 1} for n={n}, got {ids.min()}..{ids.max()}")
        columns = []
        for level in range(n, 1, -1):
            key = self._keys[level - 2][ids]
            columns.append(key % self._base + 1)  # token id of the last word
            ids = key // self._base
        columns.append(ids + 1)
        tokens = np.asarray(self.vocabulary.tokens, dtype=object)
        joined = tokens[columns[-1]]
        for column in columns[-2::-1]:
            joined = joined + " " + tokens[column]
        return joined.tolist()

    def _check_n(self, n) -> None:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= self.max_n:
            raise ValueError(f"n={n!r} is outside this table, which holds n-grams of size 1..{self.max_n}")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}-grams: {self.size(n):,}" for n in range(1, self.max_n + 1))
        return f"NgramTable({sizes})"


def _flatten(docs: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """The tokens of all documents in one list, and the document index of each token."""
    if isinstance(docs, str):
        raise TypeError("expected a list of tokenized documents, got a single str")
    lengths, flat = [], []
    for i, doc in enumerate(docs):
        if isinstance(doc, str):
            raise TypeError(f"document {i} is a str; expected a list of tokens (call companion.text.tokenize() first)")
        lengths.append(len(doc))
        flat.extend(doc)
    doc_index = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return flat, doc_index


def _encode(vocabulary: Vocabulary, docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary ids of the tokens of the concatenated documents (0 if unknown), and their document index."""
    flat, doc_index = _flatten(docs)
    if not flat:
        return np.zeros(0, dtype=np.int64), doc_index
    ids = pd.Index(vocabulary.tokens).get_indexer(pd.Index(flat, dtype=object)).astype(np.int64)
    return np.maximum(ids, 0), doc_index


def _extend(prefix_ids: np.ndarray, token_ids: np.ndarray, doc_index: np.ndarray, n: int, base: np.int64) -> np.ndarray:
    """Keys of the n-grams starting at each position (-1 where there is none).

    ``prefix_ids[i]`` is the id of the (n-1)-gram starting at position ``i``
    (-1 if none); the n-gram adds the token at ``i + n - 1``, which must lie in
    the same document and be known.
    """
    query = np.full(len(token_ids), -1, dtype=np.int64)
    if len(token_ids) < n:
        return query
    head = prefix_ids[: len(token_ids) - n + 1]
    last = token_ids[n - 1 :]
    ok = (head >= 0) & (last > 0) & (doc_index[: len(head)] == doc_index[n - 1 :])
    query[: len(head)][ok] = head[ok] * base + (last[ok] - 1)
    return query


def ngram_vocabulary_growth(occurrences: Occurrences, sizes: Iterable[int]) -> np.ndarray:
    """How many distinct n-grams the first ``k`` tokens of a corpus contain, for each ``k`` in ``sizes``.

    ``occurrences`` are those of one n-gram size in the corpus, from
    :meth:`NgramTable.find`. Tokens are counted over the documents in order; an
    n-gram counts once all of its tokens have been read.

    >>> docs = [["a", "b", "a", "b", "c"]]
    >>> bigrams = NgramTable.build(docs, max_n=2).find(docs, 2, 2)[2]
    >>> ngram_vocabulary_growth(bigrams, [2, 3, 4, 5])
    array([1, 2, 2, 3])
    """
    sizes = np.asarray(list(sizes), dtype=np.int64)
    if len(sizes) and sizes.min() < 0:
        raise ValueError(f"sizes must be non-negative token counts, got {sizes.min()}")
    _, first = np.unique(occurrences.ids, return_index=True)
    completed = np.sort(occurrences.ends[first])
    return np.searchsorted(completed, sizes, side="right")
