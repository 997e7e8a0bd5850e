"""Word-word co-occurrence counts, PMI and PPMI, and word vectors by truncated SVD.

The distributional hypothesis says that words which occur in similar contexts
have similar meanings. This module turns that idea into numbers in three steps:

1. :func:`cooccurrence_matrix` counts, for every pair of vocabulary words, how
   often they occur within ``window`` tokens of each other (a symmetric
   window; optionally each pair at distance ``d`` counts ``1/d``, as in GloVe).
2. :func:`pmi` and :func:`ppmi` reweight the counts by pointwise mutual
   information, how much more often two words meet than chance predicts, with
   the context-distribution smoothing ``alpha = 0.75`` of Levy, Goldberg &
   Dagan (2015) and the shift ``ln k`` that links PPMI to word2vec's
   skip-gram with ``k`` negative samples (Levy & Goldberg 2014).
3. :func:`truncated_svd` and :func:`svd_embedding` compress the (sparse,
   vocabulary-wide) rows into dense vectors ``U_k S_k^p``, the recipe of
   latent semantic analysis.

:func:`news_cooccurrence`, :func:`news_ppmi_svd` and :func:`ppmi_svd_vectors`
run the pipeline on the book's news corpus and cache the results, so later
chapters get PPMI-SVD vectors as a :class:`~gensim.models.KeyedVectors` in a
second.

Row ``i`` of every matrix here belongs to the word with id ``i`` in the
:class:`~companion.text.Vocabulary`; row 0, the unknown token ``<unk>``, stays
zero, since rare words are not a word whose company we want to learn.

Explained in the chapter "Distributional semantics"
(``book/distributional-semantics.ipynb``).

Examples
--------
>>> from companion.text import Vocabulary
>>> from companion.cooccurrence import cooccurrence_matrix, ppmi, matrix_frame
>>> docs = [["cherry", "pie"], ["cherry", "pie"], ["apple", "pie"], ["apple", "data"]]
>>> vocab = Vocabulary.build(docs)
>>> counts = cooccurrence_matrix(docs, vocab, window=1)
>>> matrix_frame(counts, vocab).astype(int)
        pie  apple  cherry  data
pie       0      1       2     0
apple     1      0       0     1
cherry    2      0       0     0
data      0      1       0     0
>>> matrix_frame(ppmi(counts, alpha=1.0), vocab).round(3).loc["cherry", "pie"]
np.float64(0.981)
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .text import UNK, Vocabulary
from .vectors import KeyedVectors, keyed_vectors

__all__ = [
    "WEIGHTINGS",
    "cooccurrence_matrix",
    "pmi",
    "ppmi",
    "truncated_svd",
    "svd_embedding",
    "word_row",
    "row_neighbours",
    "keyed_rows",
    "vocabulary_vectors",
    "matrix_frame",
    "corpus_fingerprint",
    "news_cooccurrence",
    "news_ppmi_svd",
    "ppmi_svd_vectors",
    "NEWS_SVD_RANK",
]

#: How a pair of words ``d`` tokens apart is counted: 1 (``"count"``) or 1/d (``"harmonic"``, GloVe's weighting).
WEIGHTINGS = ("count", "harmonic")

#: Rank of the one SVD of the news PPMI matrix that :func:`ppmi_svd_vectors` slices.
NEWS_SVD_RANK = 300

# Dense PMI of more cells than this would need over 200 MB: use the sparse ppmi().
_MAX_DENSE_CELLS = 25_000_000


# --------------------------------------------------------------------------- counting


def _check_vocabulary(vocab: Vocabulary) -> None:
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a companion.text.Vocabulary, got {type(vocab).__name__}")
    if len(vocab) <= 1:
        if not vocab.counts:
            raise ValueError("the vocabulary has no words: the corpus it was built from had no tokens at all")
        top_word, top_count = max(vocab.counts.items(), key=lambda item: (item[1], item[0]))
        raise ValueError(
            f"the vocabulary is empty after the min_count cut-off: min_count={vocab.min_count} "
            f"removed every word (the most frequent word, {top_word!r}, occurs {top_count} times; "
            f"use min_count <= {top_count})"
        )


def _check_window(window) -> None:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1 (tokens on each side), got window={window!r}")


def _encode(docs: Sequence[Sequence[str]], vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Ids of all tokens, concatenated, and the document number of each token."""
    for doc in docs:
        if isinstance(doc, str):
            raise TypeError("docs must be tokenized documents (lists of tokens), got a str; call tokenize() first")
    lengths = np.fromiter((len(doc) for doc in docs), dtype=np.int64, count=len(docs))
    if lengths.sum() == 0:
        raise ValueError(f"the corpus is empty: {len(docs)} documents and 0 tokens; pass tokenized documents")
    index = vocab.index
    ids = np.fromiter((index.get(tok, 0) for doc in docs for tok in doc), dtype=np.int64, count=int(lengths.sum()))
    doc_of_token = np.repeat(np.arange(len(docs)), lengths)
    return ids, doc_of_token


def cooccurrence_matrix(
    docs: Iterable[Sequence[str]],
    vocab: Vocabulary,
    window: int = 5,
    weighting: str = "count",
) -> sp.csr_matrix:
    """Count how often each pair of vocabulary words occurs within ``window`` tokens.

    Parameters
    ----------
    docs : iterable of lists of str
        Tokenized documents. Windows never cross a document boundary.
    vocab : Vocabulary
        Maps tokens to ids. Tokens outside it become ``<unk>``: they keep their
        position (so distances stay true distances in the text) but pairs that
        involve ``<unk>`` are not counted.
    window : int
        Number of tokens on *each* side of a word that count as its context (>= 1).
    weighting : {"count", "harmonic"}
        A pair ``d`` tokens apart adds 1 (``"count"``) or ``1/d`` (``"harmonic"``).

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric ``len(vocab) x len(vocab)`` float64 matrix ``X``; ``X[i, j]``
        is the (weighted) number of times word ``j`` occurs in the window of word
        ``i``. Row and column 0 (``<unk>``) are zero.

    Examples
    --------
    >>> from companion.text import Vocabulary
    >>> docs = [["a", "b", "a", "c"]]
    >>> vocab = Vocabulary.build(docs)
    >>> cooccurrence_matrix(docs, vocab, window=1).toarray().astype(int)
    array([[0, 0, 0, 0],
           [0, 0, 2, 1],
           [0, 2, 0, 0],
           [0, 1, 0, 0]])
    """
    _check_window(window)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; valid weightings are: {', '.join(WEIGHTINGS)}")
    _check_vocabulary(vocab)
    docs = list(docs)
    ids, doc_of_token = _encode(docs, vocab)
    size = len(vocab)
    # Count each pair once, from the left word to the right word d tokens later;
    # the symmetric window is then forward + its transpose.
    forward = sp.csr_matrix((size, size), dtype=np.float64)
    for d in range(1, window + 1):
        left, right = ids[:-d], ids[d:]
        keep = (doc_of_token[:-d] == doc_of_token[d:]) & (left != 0) & (right != 0)
        if not keep.any():
            continue
        weight = 1.0 if weighting == "count" else 1.0 / d
        data = np.full(int(keep.sum()), weight)
        forward = forward + sp.coo_matrix((data, (left[keep], right[keep])), shape=(size, size)).tocsr()
    counts = (forward + forward.T).tocsr()
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


# --------------------------------------------------------------------------- PMI


def _check_counts(counts):
    if sp.issparse(counts):
        counts = sp.csr_matrix(counts, dtype=np.float64)
        values = counts.data
    else:
        counts = np.asarray(counts, dtype=np.float64)
        values = counts
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D matrix (words x contexts), got shape {counts.shape}")
    if values.size and (not np.isfinite(values).all() or values.min() < 0):
        raise ValueError("counts must be finite and non-negative")
    if counts.sum() == 0:
        raise ValueError("counts are all zero: there is nothing to compute PMI from")
    return counts


def _check_alpha(alpha) -> None:
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1] (1 = no smoothing, 0.75 = Levy et al.), got alpha={alpha!r}")


def _marginals(counts, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Row totals ``n_w`` and smoothed context probabilities ``P_alpha(c)``."""
    row_totals = np.asarray(counts.sum(axis=1)).ravel()
    context_totals = np.asarray(counts.sum(axis=0)).ravel()
    smoothed = context_totals**alpha
    return row_totals, smoothed / smoothed.sum()


def pmi(counts, alpha: float = 1.0) -> np.ndarray:
    """Pointwise mutual information of a (small) count matrix, as a dense array.

    ``PMI(w, c) = ln [ P(w, c) / (P(w) P_alpha(c)) ]`` with ``P(w, c) = n_wc / N``,
    ``P(w) = n_w / N`` (row totals) and ``P_alpha(c) = n_c^alpha / sum_c' n_c'^alpha``
    (column totals raised to ``alpha``; ``alpha=1`` is the plain context
    probability). Cells with a zero count get ``-inf``: the words never met.
    Natural logarithm.

    Raises ``ValueError`` for a matrix of more than 25 million cells (use the
    sparse :func:`ppmi`).

    Examples
    --------
    >>> counts = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> pmi(counts).round(3).tolist()  # top left: ln[(2/4) / ((2/4) (3/4))] = ln(4/3)
    [[0.288, -inf], [-0.405, 0.693]]
    """
    counts = _check_counts(counts)
    _check_alpha(alpha)
    if counts.shape[0] * counts.shape[1] > _MAX_DENSE_CELLS:
        raise ValueError(
            f"a dense PMI matrix of shape {counts.shape} would be too large; "
            "use ppmi(), which keeps the matrix sparse"
        )
    if sp.issparse(counts):
        counts = counts.toarray()
    row_totals, context_prob = _marginals(counts, alpha)
    out = np.full(counts.shape, -np.inf)
    rows, cols = np.nonzero(counts)
    out[rows, cols] = np.log(counts[rows, cols]) - np.log(row_totals[rows]) - np.log(context_prob[cols])
    return out


def ppmi(counts, alpha: float = 0.75, negative: float = 1):
    """Positive (shifted) PMI: ``max(PMI_alpha(w, c) - ln(negative), 0)``.

    Parameters
    ----------
    counts : scipy.sparse matrix or array
        Word-context counts (rows: words, columns: contexts).
    alpha : float
        Context-distribution smoothing exponent (Levy, Goldberg & Dagan 2015):
        context counts are raised to ``alpha`` before being normalised, which
        raises the probability of rare contexts and so lowers their PMI.
        ``1`` turns smoothing off.
    negative : float
        The ``k`` of Levy & Goldberg (2014): skip-gram with ``k`` negative
        samples implicitly factorises ``PMI - ln k``. ``1`` means no shift.

    Returns
    -------
    Same kind as ``counts``: a ``csr_matrix`` (zeros not stored) or an ndarray.

    Examples
    --------
    >>> counts = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> ppmi(counts, alpha=1.0).round(3)
    array([[0.288, 0.   ],
           [0.   , 0.693]])
    """
    counts = _check_counts(counts)
    _check_alpha(alpha)
    if not negative >= 1:
        raise ValueError(f"negative must be >= 1 (the number of negative samples k), got negative={negative!r}")
    row_totals, context_prob = _marginals(counts, alpha)
    coo = sp.coo_matrix(counts)
    nz = coo.data > 0
    rows, cols, values = coo.row[nz], coo.col[nz], coo.data[nz]
    scores = np.log(values) - np.log(row_totals[rows]) - np.log(context_prob[cols]) - np.log(negative)
    keep = scores > 0
    out = sp.csr_matrix((scores[keep], (rows[keep], cols[keep])), shape=counts.shape)
    out.sort_indices()
    return out if sp.issparse(counts) else out.toarray()


# --------------------------------------------------------------------------- SVD


def truncated_svd(matrix, dim: int, algorithm: str = "auto", n_iter: int = 7, random_state: int = 0):
    """The ``dim`` largest singular triplets ``U, S, Vt`` of ``matrix``, largest first.

    Signs are made deterministic: in each column of ``U`` the entry of largest
    absolute value is positive (scikit-learn's ``svd_flip`` convention).

    Parameters
    ----------
    matrix : array or scipy.sparse matrix
    dim : int
        Number of components, ``1 <= dim <= min(matrix.shape)``.
    algorithm : {"auto", "exact", "randomized"}
        ``"exact"``: NumPy's full SVD (small dense matrices). ``"randomized"``:
        scikit-learn's randomized SVD (Halko et al. 2011) with ``n_iter`` power
        iterations and a fixed ``random_state``; the leading components are
        accurate, the last ones of a large ``dim`` less so. ``"auto"`` picks
        exact for matrices with at most 2,000 rows or columns.

    Examples
    --------
    >>> M = np.array([[3.0, 0.0], [0.0, -2.0]])
    >>> U, S, Vt = truncated_svd(M, dim=2)
    >>> S
    array([3., 2.])
    >>> np.allclose((U * S) @ Vt, M)
    True
    >>> U.max(axis=0)  # signs fixed: the largest entry of each column of U is positive
    array([1., 1.])
    """
    if algorithm not in ("auto", "exact", "randomized"):
        raise ValueError(f"unknown algorithm {algorithm!r}; valid: 'auto', 'exact', 'randomized'")
    shape = matrix.shape
    if len(shape) != 2:
        raise ValueError(f"matrix must be 2-D, got shape {shape}")
    limit = min(shape)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= limit:
        raise ValueError(
            f"dim={dim!r} is not possible for a {shape[0]} x {shape[1]} matrix: "
            f"the number of SVD components must be between 1 and min(shape) = {limit}"
        )
    if algorithm == "auto":
        algorithm = "exact" if limit <= 2000 else "randomized"
    if algorithm == "exact":
        dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64)
        U, S, Vt = np.linalg.svd(dense, full_matrices=False)
        U, S, Vt = U[:, :dim], S[:dim], Vt[:dim]
    else:
        from sklearn.utils.extmath import randomized_svd

        U, S, Vt = randomized_svd(
            matrix, dim, n_iter=n_iter, random_state=random_state, flip_sign=False
        )
    # Each singular vector is defined up to sign; fix it so reruns agree.
    biggest = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[biggest, np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    return U * signs, S, Vt * signs[:, None]


def svd_embedding(matrix, dim: int, power: float = 0.5, **svd_options) -> np.ndarray:
    """Dense word vectors ``U_dim * S_dim**power``, one row per row of ``matrix``.

    ``power=1`` gives the rank-``dim`` approximation's own coordinates (dot
    products reproduce the matrix); ``power=0.5`` (Levy et al. 2015's usual
    choice) and ``power=0`` shrink the weight of the first, dominant
    components. Extra keyword arguments go to :func:`truncated_svd`.

    Examples
    --------
    >>> svd_embedding(np.array([[4.0, 0.0], [0.0, 1.0]]), dim=1, power=0.5)
    array([[2.],
           [0.]])
    """
    U, S, _ = truncated_svd(matrix, dim, **svd_options)
    return U * S**power


# --------------------------------------------------------------------------- looking up rows


def _word_id(vocab: Vocabulary, word: str) -> int:
    if word not in vocab.index:
        raise KeyError(
            f"{word!r} is not in the vocabulary ({len(vocab):,} tokens, min_count={vocab.min_count}); "
            f"lower min_count to keep rarer words, or map unknown words to {UNK!r} with vocab.encode()"
        )
    return vocab.index[word]


def word_row(matrix, vocab: Vocabulary, word: str) -> np.ndarray:
    """The row of ``word`` in ``matrix`` as a dense 1-D array.

    Raises ``KeyError`` naming the word if it is not in ``vocab``.

    Examples
    --------
    >>> vocab = Vocabulary.build([["a", "b"]])
    >>> word_row(np.eye(3), vocab, "a")
    array([0., 1., 0.])
    """
    i = _word_id(vocab, word)
    row = matrix[i]
    return np.asarray(row.toarray() if sp.issparse(row) else row, dtype=np.float64).ravel()


def row_neighbours(matrix, vocab: Vocabulary, word: str, topn: int = 5, decimals: int | None = 3):
    """The ``topn`` words whose rows have the highest cosine similarity with the row of ``word``.

    Works on a sparse matrix without making it dense, so it can compare the
    vocabulary-wide rows of a co-occurrence or PPMI matrix. ``<unk>`` and the
    word itself are left out; ties are broken by word id.

    Examples
    --------
    >>> vocab = Vocabulary.build([["a", "b", "c"]])
    >>> rows = np.array([[0, 0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> row_neighbours(rows, vocab, "a", topn=2)
    [('b', 0.994), ('c', 0.0)]
    """
    if isinstance(topn, bool) or not isinstance(topn, int) or topn < 1:
        raise ValueError(f"topn must be a positive integer, got {topn!r}")
    i = _word_id(vocab, word)
    m = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    query = m[i]
    sims = np.asarray((m @ query.T).toarray()).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = np.where(norms > 0, sims / (norms * norms[i]), 0.0) if norms[i] > 0 else np.zeros_like(sims)
    sims[[0, i]] = -np.inf
    order = np.lexsort((np.arange(len(sims)), -sims))[: min(topn, len(sims) - 2)]
    out = [(vocab.tokens[j], float(sims[j])) for j in order]
    if decimals is not None:
        out = [(w, round(s, decimals)) for w, s in out]
    return out


def keyed_rows(matrix, vocab: Vocabulary, words: Iterable[str]) -> KeyedVectors:
    """The rows of ``words`` (those in ``vocab``; others are skipped) as a :class:`KeyedVectors`.

    Used to evaluate raw count or PPMI rows, which are too wide to hold for the
    whole vocabulary as dense vectors, on a benchmark's words only.

    Examples
    --------
    >>> vocab = Vocabulary.build([["a", "b"]])
    >>> kv = keyed_rows(np.eye(3), vocab, ["b", "zebra"])
    >>> kv.index_to_key, kv["b"].tolist()
    (['b'], [0.0, 0.0, 1.0])
    """
    kept = sorted({w for w in words if w in vocab.index and w != UNK}, key=vocab.index.get)
    if not kept:
        raise ValueError("none of the words is in the vocabulary; lower min_count or check the words")
    ids = [vocab.index[w] for w in kept]
    rows = matrix[ids]
    return keyed_vectors(kept, rows.toarray() if sp.issparse(rows) else rows)


def vocabulary_vectors(vocab: Vocabulary, vectors) -> KeyedVectors:
    """Wrap ``vectors`` (one row per vocabulary id, ``<unk>`` included) as a KeyedVectors without ``<unk>``.

    Examples
    --------
    >>> vocab = Vocabulary.build([["a", "b", "a"]])
    >>> vocabulary_vectors(vocab, np.arange(6).reshape(3, 2)).index_to_key
    ['a', 'b']
    """
    vectors = np.asarray(vectors)
    if vectors.shape[0] != len(vocab):
        raise ValueError(f"{vectors.shape[0]} rows but {len(vocab)} vocabulary ids (<unk> included); they must match")
    return keyed_vectors(vocab.tokens[1:], vectors[1:])


def matrix_frame(matrix, vocab: Vocabulary, words: Sequence[str] | None = None) -> pd.DataFrame:
    """A labelled DataFrame of the rows and columns of ``words`` (default: every word but ``<unk>``).

    For printing small matrices; raises ``KeyError`` for a word not in ``vocab``.
    """
    words = list(vocab.tokens[1:] if words is None else words)
    ids = [_word_id(vocab, w) for w in words]
    sub = matrix[ids][:, ids]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    return pd.DataFrame(sub, index=words, columns=words)


# --------------------------------------------------------------------------- the news corpus, cached


def corpus_fingerprint(docs: Sequence[Sequence[str]]) -> str:
    """A short hash of tokenized ``docs``: cache names built from it change when the corpus or tokenizer does.

    Examples
    --------
    >>> corpus_fingerprint([["a", "b"], ["c"]]) == corpus_fingerprint([["a"], ["b", "c"]])
    False
    """
    digest = hashlib.sha256()
    for doc in docs:
        digest.update("\x1f".join(doc).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()[:12]


def news_cooccurrence(window: int = 5, min_count: int = 10, weighting: str = "count") -> tuple[Vocabulary, sp.csr_matrix]:
    """The vocabulary and co-occurrence counts of the news corpus, cached after the first call.

    Same arguments as :func:`cooccurrence_matrix` and
    :meth:`Vocabulary.build <companion.text.Vocabulary.build>`; the tokens come
    from :func:`companion.datasets.news_tokens`, and the cache name includes
    their :func:`corpus_fingerprint`, so a change of tokenizer never serves
    stale counts.
    """
    vocab, counts, _ = news_counts(window, min_count, weighting)
    return vocab, counts


def news_counts(window: int, min_count: int, weighting: str) -> tuple[Vocabulary, sp.csr_matrix, str]:
    """Cached news-corpus counts, with the cache-name stem that keys artifacts derived from them.

    The stem carries a fingerprint of the tokenized corpus, so a change of the
    tokenizer rebuilds everything derived from these counts (PPMI-SVD here, GloVe
    in :mod:`companion.glove`).
    """
    from .cache import cached_pickle
    from .datasets import news_tokens

    _check_window(window)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; valid weightings are: {', '.join(WEIGHTINGS)}")
    docs = news_tokens()
    stem = f"cooccurrence/news-{corpus_fingerprint(docs)}-w{window}-m{min_count}-{weighting}"

    def compute():
        vocab = Vocabulary.build(docs, min_count=min_count)
        return {"vocab": vocab, "counts": cooccurrence_matrix(docs, vocab, window=window, weighting=weighting)}

    cached = cached_pickle(f"{stem}-counts.pkl", compute)
    return cached["vocab"], cached["counts"], stem


def news_ppmi_svd(
    window: int = 5,
    min_count: int = 10,
    weighting: str = "count",
    alpha: float = 0.75,
    negative: float = 1,
    rank: int = NEWS_SVD_RANK,
) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
    """``(vocab, U, S)``: the rank-``rank`` randomized SVD of the news corpus's PPMI matrix, cached.

    ``U`` has one row per vocabulary id (``<unk>`` included, a zero row).
    """
    from .cache import cached_file

    vocab, counts, stem = news_counts(window, min_count, weighting)

    def build(tmp):
        U, S, _ = truncated_svd(ppmi(counts, alpha=alpha, negative=negative), rank, algorithm="randomized")
        with open(tmp, "wb") as handle:
            np.savez(handle, U=U, S=S)

    name = f"{stem}-ppmi-a{alpha:g}-k{negative:g}-svd-r{rank}.npz"
    with np.load(cached_file(name, build)) as data:
        return vocab, data["U"], data["S"]


def ppmi_svd_vectors(
    dim: int = 300,
    window: int = 5,
    min_count: int = 10,
    power: float = 0.5,
    alpha: float = 0.75,
    negative: float = 1,
    weighting: str = "count",
) -> KeyedVectors:
    """PPMI-SVD word vectors of the news corpus as a :class:`KeyedVectors` (cached).

    The vectors are ``U_dim S_dim^power`` from one cached SVD of rank
    ``max(dim, NEWS_SVD_RANK)`` of the PPMI matrix (:func:`news_ppmi_svd`), so
    asking for several dimensions costs one SVD. ``<unk>`` is left out.

    Examples
    --------
    >>> kv = ppmi_svd_vectors(dim=50)
    >>> kv.vector_size, "<unk>" in kv.key_to_index
    (50, False)
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got dim={dim!r}")
    vocab, U, S = news_ppmi_svd(
        window=window, min_count=min_count, weighting=weighting, alpha=alpha, negative=negative,
        rank=max(dim, NEWS_SVD_RANK),
    )
    return vocabulary_vectors(vocab, U[:, :dim] * S[:dim] ** power)
