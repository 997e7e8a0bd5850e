"""TF-IDF document vectors, from scratch, with scikit-learn's options and results.

A document becomes one row of a sparse matrix with a column per n-gram
(:mod:`companion.ngrams`). The entry for n-gram ``t`` in document ``d`` is

.. math::

    \\text{tf-idf}(t, d) = \\text{tf}(t, d) \\cdot \\text{idf}(t), \\qquad
    \\text{idf}(t) = \\ln \\frac{1 + N}{1 + \\text{df}(t)} + 1

where ``tf(t, d)`` is how often ``t`` occurs in ``d`` (``1 + ln tf`` with
``sublinear_tf=True``), ``N`` the number of training documents and ``df(t)``
how many of them contain ``t``. ``smooth_idf=False`` drops the two ``1 +`` in
the fraction: ``idf = ln(N / df) + 1``. Each row is then divided by its
Euclidean (``norm="l2"``) or absolute-sum (``norm="l1"``) length, or left as is
(``norm=None``). These are the definitions of scikit-learn's
``TfidfVectorizer``, and :class:`Tfidf` returns the same matrix (a test checks
every combination of options to 1e-9).

Documents may be strings, tokenized with :func:`companion.text.tokenize`, or
lists of tokens. Features are ordered alphabetically, as in scikit-learn.

Explained in the chapter "Text as numbers" (``book/text-as-numbers.ipynb``).

Examples
--------
>>> from companion.tfidf import Tfidf
>>> docs = ["the cat sat", "the dog sat", "the cat ate the fish"]
>>> tfidf = Tfidf(smooth_idf=False, norm=None)
>>> X = tfidf.fit_transform(docs)
>>> X.shape
(3, 6)
>>> tfidf.features_
['ate', 'cat', 'dog', 'fish', 'sat', 'the']
>>> tfidf.idf_.round(3).tolist()
[2.099, 1.405, 2.099, 2.099, 1.405, 1.0]
>>> X[2].toarray().round(3).tolist()
[[2.099, 1.405, 0.0, 2.099, 0.0, 2.0]]
>>> most_similar_documents(X, 0, topn=2)
(array([1, 2]), array([0.492, 0.465]))
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from .ngrams import NgramTable, check_ngram_range
from .text import tokenize

__all__ = ["Tfidf", "as_token_lists", "most_similar_documents"]

_NORMS = ("l2", "l1", None)


def as_token_lists(documents) -> list[list[str]]:
    """Documents as lists of tokens: strings are tokenized, token lists are kept as they are."""
    if isinstance(documents, str):
        raise TypeError("expected an iterable of documents, got a single str; wrap it in a list: [text]")
    out = []
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            out.append(tokenize(doc))
        elif isinstance(doc, (list, tuple)) and (set(map(type, doc)) <= {str} or all(isinstance(t, str) for t in doc)):
            out.append(doc)
        else:
            raise TypeError(f"document {i} has type {type(doc).__name__}; expected a str or a list of str tokens")
    return out


class Tfidf(BaseEstimator, TransformerMixin):
    """TF-IDF vectorizer: ``fit`` learns the n-gram features and their idf, ``transform`` weights documents.

    Parameters
    ----------
    ngram_range : (int, int)
        Smallest and largest n-gram size, e.g. ``(1, 2)`` for words and word pairs.
    min_df : int or float
        Keep an n-gram only if at least this many training documents contain it
        (a float in [0, 1] is a fraction of the documents).
    norm : {"l2", "l1", None}
        Divide each row by its Euclidean length, its absolute sum, or nothing.
    use_idf : bool
        Multiply by the idf (``False`` leaves term frequencies: counts, with ``norm=None``).
    smooth_idf : bool
        Add one to ``N`` and to every document frequency, as if one extra document
        contained every n-gram once.
    sublinear_tf : bool
        Replace a count ``tf`` by ``1 + ln(tf)``.

    Attributes (after ``fit``)
    --------------------------
    features_ : list of str, the n-gram of each column (alphabetical).
    vocabulary_ : dict, n-gram -> column.
    idf_ : ndarray, the idf of each column.
    document_frequency_ : ndarray of int, how many training documents contain each column's n-gram.
    n_documents_ : int, the number of training documents.
    """

    def __init__(self, ngram_range=(1, 1), min_df=1, norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=False):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.norm = norm
        self.use_idf = use_idf
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf
        self._check_params()

    # -- parameters ---------------------------------------------------------------------------
    def _check_params(self) -> tuple[int, int]:
        n_range = check_ngram_range(self.ngram_range)
        m = self.min_df
        valid_int = isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 0
        valid_float = isinstance(m, numbers.Real) and not isinstance(m, (bool, numbers.Integral)) and 0.0 <= m <= 1.0
        if not (valid_int or valid_float):
            raise ValueError(
                f"invalid min_df={m!r}: expected a non-negative int (a number of documents) "
                "or a float in [0.0, 1.0] (a fraction of the documents)"
            )
        if self.norm not in _NORMS:
            raise ValueError(f"invalid norm={self.norm!r}: expected one of 'l2', 'l1' or None")
        return n_range

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, documents, y=None) -> "Tfidf":
        """Learn the n-gram features (those in at least ``min_df`` documents) and their idf."""
        self._fit(as_token_lists(documents))
        return self

    def fit_transform(self, documents, y=None) -> sp.csr_matrix:
        """``fit(documents)`` then ``transform(documents)``, counting the n-grams only once."""
        counts = self._fit(as_token_lists(documents))
        return self._weight(counts)

    def _fit(self, docs: list[list[str]]) -> sp.csr_matrix:
        n_min, n_max = self._check_params()
        if len(docs) == 0:
            raise ValueError("no documents to fit: pass a non-empty list of documents")
        table = NgramTable.build(docs, max_n=n_max)
        found = table.find(docs, n_min, n_max)
        # One column per distinct n-gram of every size in range, then keep those frequent enough.
        offsets = np.cumsum([0] + [table.size(n) for n in range(n_min, n_max + 1)])
        rows = np.concatenate([found[n].rows for n in range(n_min, n_max + 1)])
        cols = np.concatenate([found[n].ids + offsets[i] for i, n in enumerate(range(n_min, n_max + 1))])
        counts = _count_matrix(rows, cols, (len(docs), int(offsets[-1])))
        if counts.shape[1] == 0:
            raise ValueError(
                f"empty vocabulary: the {len(docs)} documents contain no n-grams of size "
                f"{n_min}..{n_max} (ngram_range={self.ngram_range!r}); are they all empty?"
            )
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        min_count = self.min_df if isinstance(self.min_df, numbers.Integral) else self.min_df * len(docs)
        kept = np.flatnonzero(df >= min_count)
        if len(kept) == 0:
            raise ValueError(
                f"empty vocabulary after the min_df cut-off: min_df={self.min_df!r} asks for n-grams in at "
                f"least {min_count:g} of the {len(docs)} documents, but the highest document frequency "
                f"found is {int(df.max())}; lower min_df"
            )
        names = []
        for i, n in enumerate(range(n_min, n_max + 1)):
            in_level = kept[(kept >= offsets[i]) & (kept < offsets[i + 1])]
            names.extend(table.strings(n, in_level - offsets[i]))
        order = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
        kept = kept[order]
        self.features_ = [names[i] for i in order]
        self.vocabulary_ = {name: col for col, name in enumerate(self.features_)}
        self.document_frequency_ = df[kept]
        self.n_documents_ = len(docs)
        smooth = int(bool(self.smooth_idf))
        self.idf_ = np.log((self.n_documents_ + smooth) / (self.document_frequency_ + smooth)) + 1.0
        # Map (size, n-gram id) -> column for transform; -1 marks n-grams that are not features.
        column = np.full(int(offsets[-1]), -1, dtype=np.int64)
        column[kept] = np.arange(len(kept))
        self._columns = {n: column[offsets[i] : offsets[i + 1]] for i, n in enumerate(range(n_min, n_max + 1))}
        self._table = table
        self._n_range = (n_min, n_max)
        return counts[:, kept]

    # -- transforming -------------------------------------------------------------------------
    def transform(self, documents) -> sp.csr_matrix:
        """TF-IDF matrix (documents x features, ``scipy.sparse`` CSR) of ``documents``.

        N-grams that are not features (unseen in training, or below ``min_df``) are ignored.
        """
        if not hasattr(self, "idf_"):
            raise NotFittedError(
                "this Tfidf is not fitted yet: call fit(documents) or fit_transform(documents) before transform"
            )
        docs = as_token_lists(documents)
        n_min, n_max = self._n_range
        found = self._table.find(docs, n_min, n_max)
        rows, cols = [], []
        for n in range(n_min, n_max + 1):
            col = self._columns[n][found[n].ids]
            keep = col >= 0
            rows.append(found[n].rows[keep])
            cols.append(col[keep])
        counts = _count_matrix(np.concatenate(rows), np.concatenate(cols), (len(docs), len(self.features_)))
        return self._weight(counts)

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        X = counts.astype(np.float64)
        if self.sublinear_tf:
            X.data = 1.0 + np.log(X.data)
        if self.use_idf:
            X.data *= self.idf_[X.indices]
        if self.norm is not None:
            row_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            values = X.data**2 if self.norm == "l2" else np.abs(X.data)
            lengths = np.bincount(row_of, weights=values, minlength=X.shape[0])
            if self.norm == "l2":
                lengths = np.sqrt(lengths)
            lengths[lengths == 0] = 1.0
            X.data /= lengths[row_of]
        return X

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The n-gram of each column, as scikit-learn's vectorizers return them."""
        if not hasattr(self, "features_"):
            raise NotFittedError("this Tfidf is not fitted yet: call fit(documents) first")
        return np.asarray(self.features_, dtype=object)


def _count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Sparse matrix with ``counts[r, c]`` = number of pairs ``(r, c)``; int64, sorted indices."""
    data = np.ones(len(rows), dtype=np.int64)
    counts = sp.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.int64)
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


def most_similar_documents(X, row: int, topn: int = 5, decimals: int | None = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ``topn`` rows of sparse ``X`` most cosine-similar to row ``row`` (itself excluded), best first.

    Works on any non-negative or signed sparse matrix; rows of zeros get
    similarity 0. Ties are broken by row index. Returns ``(rows, similarities)``,
    the similarities rounded to ``decimals`` places (``None`` keeps full precision).
    """
    X = sp.csr_matrix(X)
    if isinstance(row, bool) or not isinstance(row, numbers.Integral) or not 0 <= row < X.shape[0]:
        raise IndexError(f"row {row!r} is outside the matrix, which has rows 0..{X.shape[0] - 1}")
    if isinstance(topn, bool) or not isinstance(topn, numbers.Integral) or topn < 1:
        raise ValueError(f"topn must be a positive integer, got {topn!r}")
    lengths = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    lengths[lengths == 0] = 1.0
    sims = (X @ X[row].T).toarray().ravel() / (lengths * lengths[row])
    sims[row] = -np.inf
    best = np.lexsort((np.arange(len(sims)), -sims))[: min(topn, X.shape[0] - 1)]
    out = sims[best]
    return best, (out.round(decimals) if decimals is not None else out)
