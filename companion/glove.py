"""GloVe (Pennington, Socher & Manning 2014), trained from scratch with AdaGrad.

GloVe fits word vectors ``w_i``, context vectors ``w~_j`` and two biases to the
logarithm of a word-word co-occurrence matrix ``X`` by weighted least squares:

    ``J = sum_{i,j: X_ij > 0} f(X_ij) (w_i . w~_j + b_i + b~_j - ln X_ij)^2``

with the weighting function ``f(x) = min(1, (x / x_max)^alpha)`` (the paper's
``x_max = 100``, ``alpha = 3/4``). The sum runs over the non-zero cells only:
``f(0) = 0`` and ``ln 0`` is undefined, so cells of words that never met cost
nothing. This module builds the method from small, testable pieces:

- :func:`glove_weight`: the weighting function ``f``;
- :func:`nonzero_cells`: the ``(i, j, X_ij)`` triples the objective sums over;
- :func:`glove_objective`: ``J`` of a whole matrix, in NumPy (for checking by hand);
- :func:`glove_loss_and_gradients`: the loss of a batch of cells and its
  gradients, written out by hand (a test checks them against ``torch.autograd``);
- :func:`adagrad_update`: AdaGrad, the optimiser of the paper (a test checks it
  against ``torch.optim.Adagrad``);
- :func:`train_glove`: shuffled mini-batches of non-zero cells, one AdaGrad step
  per batch, returning a :class:`GloVeFit`;
- :func:`news_glove`: GloVe trained on the book's news corpus and cached, so
  later chapters load the vectors in a second.

The original C implementation updates the parameters after *every* cell, from
several threads at once without locks ("Hogwild"). Here a batch of cells is
scored at once and the gradients of the cells that share a word are summed
before one AdaGrad step: the same objective and optimiser, fewer and larger
steps, and the same result on every run.

Explained in the chapter "GloVe" (``book/glove.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.glove import glove_weight
>>> glove_weight(np.array([0.0, 10.0, 100.0, 500.0]), x_max=100, alpha=0.75).round(3)
array([0.   , 0.178, 1.   , 1.   ])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .vectors import KeyedVectors, keyed_vectors

__all__ = [
    "X_MAX",
    "ALPHA",
    "glove_weight",
    "nonzero_cells",
    "glove_objective",
    "glove_loss_and_gradients",
    "adagrad_update",
    "GloVeFit",
    "train_glove",
    "news_glove",
]

#: The paper's cut-off of the weighting function: cells counted at least this often get weight 1.
X_MAX = 100.0
#: The paper's exponent of the weighting function.
ALPHA = 0.75


# --------------------------------------------------------------------------- checks


def _check_weighting(x_max, alpha) -> None:
    if isinstance(x_max, bool) or not isinstance(x_max, (int, float, np.integer, np.floating)) or not x_max > 0:
        raise ValueError(f"x_max must be a number > 0 (the paper uses 100), got x_max={x_max!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0 (the paper uses 0.75), got alpha={alpha!r}")


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")


def _check_positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {name}={value!r}")


# --------------------------------------------------------------------------- the objective


def glove_weight(x, x_max: float = X_MAX, alpha: float = ALPHA) -> np.ndarray:
    """GloVe's weighting function ``f(x) = (x / x_max)^alpha`` below ``x_max``, 1 from there on.

    ``f(0) = 0``, so pairs that never co-occur cost nothing; ``f`` grows with
    ``x``, so rare (noisy) pairs count less than frequent ones; and it is capped
    at 1, so the most frequent pairs ("of the") do not dominate the fit.

    Raises ``ValueError`` for a negative or non-finite count, ``x_max <= 0`` or
    ``alpha <= 0``.

    Examples
    --------
    >>> glove_weight([0.0, 50.0, 100.0], x_max=100, alpha=1.0)
    array([0. , 0.5, 1. ])
    """
    _check_weighting(x_max, alpha)
    x = np.asarray(x, dtype=np.float64)
    if x.size and (not np.isfinite(x).all() or x.min() < 0):
        bad = x[~np.isfinite(x) | (x < 0)].ravel()[0]
        raise ValueError(f"co-occurrence counts must be finite and >= 0, got a count of {bad!r}")
    return np.minimum(1.0, (x / x_max) ** alpha)


def nonzero_cells(counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows, columns and values of the non-zero cells of a co-occurrence matrix.

    Parameters
    ----------
    counts : array or scipy.sparse matrix, shape (words, contexts)
        Non-negative (possibly fractional, e.g. GloVe's ``1/d``-weighted) counts.

    Returns
    -------
    rows, cols : int64 arrays
    values : float64 array
        In row-major order.

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D, has a negative or non-finite value (naming
        it), or has no non-zero cell at all.

    Examples
    --------
    >>> rows, cols, values = nonzero_cells(np.array([[0.0, 2.0], [3.0, 0.0]]))
    >>> rows.tolist(), cols.tolist(), values.tolist()
    ([0, 1], [1, 0], [2.0, 3.0])
    """
    if sp.issparse(counts):
        coo = sp.coo_matrix(counts, dtype=np.float64)
        coo.sum_duplicates()
        rows, cols, values = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    else:
        dense = np.asarray(counts, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError(f"counts must be a 2-D matrix (words x contexts), got shape {dense.shape}")
        rows, cols = np.nonzero(dense)
        rows, cols, values = rows.astype(np.int64), cols.astype(np.int64), dense[rows, cols]
        if dense.size and not np.isfinite(dense).all():
            bad = dense[~np.isfinite(dense)].ravel()[0]
            raise ValueError(f"co-occurrence counts must be finite and >= 0, got a count of {bad!r}")
    if values.size and (not np.isfinite(values).all() or values.min() < 0):
        bad = values[~np.isfinite(values) | (values < 0)][0]
        raise ValueError(f"co-occurrence counts must be finite and >= 0, got a count of {bad!r}")
    keep = values > 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    if len(values) == 0:
        raise ValueError(
            f"the co-occurrence matrix of shape {counts.shape} has no non-zero cell: "
            "GloVe fits log X_ij on the non-zero cells only, so there is nothing to fit"
        )
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], values[order]


def glove_objective(w, w_ctx, b, b_ctx, counts, x_max: float = X_MAX, alpha: float = ALPHA) -> float:
    """The GloVe objective ``J`` of a whole co-occurrence matrix, in NumPy.

    ``J = sum_{X_ij > 0} f(X_ij) (w_i . w~_j + b_i + b~_j - ln X_ij)^2``.

    Parameters
    ----------
    w : array (words, dim)
        Word vectors, one row per row of ``counts``.
    w_ctx : array (contexts, dim)
        Context vectors, one row per column of ``counts``.
    b, b_ctx : arrays (words,), (contexts,)
        Word and context biases.
    counts : array or scipy.sparse matrix (words, contexts)

    Examples
    --------
    >>> counts = np.array([[np.e, 0.0], [0.0, 100.0]])  # ln e = 1; the zero cells do not count
    >>> w = np.array([[1.0], [0.0]]); w_ctx = np.array([[1.0], [0.0]])
    >>> round(glove_objective(w, w_ctx, np.zeros(2), np.zeros(2), counts), 3)  # f(100) (0 - ln 100)^2
    21.208
    """
    rows, cols, values = nonzero_cells(counts)
    w, w_ctx = np.asarray(w, dtype=np.float64), np.asarray(w_ctx, dtype=np.float64)
    b, b_ctx = np.asarray(b, dtype=np.float64), np.asarray(b_ctx, dtype=np.float64)
    if w.shape[0] != counts.shape[0] or w_ctx.shape[0] != counts.shape[1] or w.shape[1] != w_ctx.shape[1]:
        raise ValueError(
            f"shapes do not fit: counts {counts.shape}, word vectors {w.shape}, context vectors {w_ctx.shape}"
        )
    diff = np.einsum("ij,ij->i", w[rows], w_ctx[cols]) + b[rows] + b_ctx[cols] - np.log(values)
    return float(np.sum(glove_weight(values, x_max, alpha) * diff**2))


def glove_loss_and_gradients(w, w_ctx, b, b_ctx, log_x, weight):
    """Loss of a batch of cells and its gradients, computed by hand (PyTorch).

    Parameters
    ----------
    w, w_ctx : tensors (B, dim)
        The word vector ``w_i`` and context vector ``w~_j`` of each cell.
    b, b_ctx : tensors (B,)
        Their biases.
    log_x : tensor (B,)
        ``ln X_ij``.
    weight : tensor (B,)
        ``f(X_ij)``.

    Returns
    -------
    loss : tensor (B,)
        ``f (w . w~ + b + b~ - ln X)^2`` per cell.
    grad_w, grad_ctx : tensors (B, dim)
        ``2 f diff w~`` and ``2 f diff w``, with ``diff = w . w~ + b + b~ - ln X``.
    grad_b : tensor (B,)
        ``2 f diff``, the gradient with respect to both ``b`` and ``b~``.

    Examples
    --------
    >>> import torch
    >>> one = torch.ones(1)
    >>> loss, grad_w, grad_ctx, grad_b = glove_loss_and_gradients(
    ...     torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 1.0]]), one, one, torch.zeros(1), one)
    >>> loss.item(), grad_w.tolist(), grad_b.item()  # diff = 2 + 1 + 1 - 0 = 4
    (16.0, [[16.0, 8.0]], 8.0)
    """
    diff = (w * w_ctx).sum(-1) + b + b_ctx - log_x
    loss = weight * diff**2
    grad_b = 2.0 * weight * diff
    return loss, grad_b.unsqueeze(-1) * w_ctx, grad_b.unsqueeze(-1) * w, grad_b


def adagrad_update(param, grad, state_sum, lr: float, eps: float = 1e-10) -> None:
    """One AdaGrad step, in place: ``G += g^2``, then ``param -= lr g / (sqrt(G) + eps)``.

    The formula of ``torch.optim.Adagrad`` (no learning-rate decay, no weight
    decay). Each parameter gets its own step size, which shrinks as its squared
    gradients accumulate: a frequent word, updated often, soon takes small
    steps; a rare word keeps taking large ones. A parameter whose gradient is 0
    (a word absent from the batch) keeps both its value and its ``G``.

    Parameters
    ----------
    param, grad, state_sum : tensors of the same shape
        The parameters, their gradient and their running sum of squared gradients ``G``.
    lr : float
    eps : float
        Keeps the denominator away from zero (torch's default).

    Examples
    --------
    >>> import torch
    >>> p, G = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 0.0, 0.0])
    >>> adagrad_update(p, torch.tensor([2.0, 0.5, 0.0]), G, lr=0.1)
    >>> [round(v, 6) for v in p.tolist()]  # the first step from G = 0 is lr * sign(g), whatever the size of g
    [0.9, 0.9, 1.0]
    """
    state_sum.addcmul_(grad, grad)
    param.addcdiv_(grad, state_sum.sqrt().add_(eps), value=-lr)


# --------------------------------------------------------------------------- training


@dataclass
class GloVeFit:
    """The parameters of a trained GloVe model and its loss history.

    ``w`` (word vectors) and ``w_ctx`` (context vectors) are ``(n, dim)``
    float32 arrays, ``b`` and ``b_ctx`` their biases; row ``i`` belongs to
    ``words[i]``. ``history`` has one row per epoch: ``epoch`` and ``loss``, the
    mean of ``f(X_ij) diff^2`` over the non-zero cells during that epoch.
    """

    words: list[str]
    w: np.ndarray
    w_ctx: np.ndarray
    b: np.ndarray
    b_ctx: np.ndarray
    history: pd.DataFrame

    def vectors(self, combine: str = "sum") -> KeyedVectors:
        """The word vectors as a :class:`KeyedVectors`: ``"sum"`` ``w + w~`` (the paper's choice), ``"word"`` ``w`` only."""
        if combine not in ("sum", "word"):
            raise ValueError(f"unknown combine {combine!r}; valid: 'sum' (w + w~, the paper's choice), 'word' (w only)")
        return keyed_vectors(self.words, self.w + self.w_ctx if combine == "sum" else self.w)

    def log_counts(self, rows, cols) -> np.ndarray:
        """The model's reconstruction ``w_i . w~_j + b_i + b~_j`` of ``ln X_ij`` for the given cells."""
        rows, cols = np.asarray(rows), np.asarray(cols)
        w, w_ctx = self.w.astype(np.float64), self.w_ctx.astype(np.float64)
        return np.einsum("ij,ij->i", w[rows], w_ctx[cols]) + self.b[rows] + self.b_ctx[cols]


def train_glove(
    counts,
    words: Sequence[str],
    dim: int = 50,
    epochs: int = 10,
    lr: float = 0.2,
    batch_size: int = 32768,
    x_max: float = X_MAX,
    alpha: float = ALPHA,
    seed: int = 0,
    initial_accumulator: float = 0.0,
    init=None,
    threads: int = 1,
) -> GloVeFit:
    """Fit GloVe to a square co-occurrence matrix with AdaGrad on shuffled mini-batches of its non-zero cells.

    Every epoch visits every non-zero cell once, in a new random order, in
    batches of ``batch_size`` cells. For each batch the hand-written gradients
    of :func:`glove_loss_and_gradients` are summed per word (and per context,
    per bias), and :func:`adagrad_update` takes one step (a parameter whose
    word is absent from the batch has gradient 0 and stays where it is).
    As in the paper's C code, all four parameter sets start uniform in
    ``[-0.5/dim, 0.5/dim]``.

    The defaults are the chapter's, chosen for a corpus of two million tokens
    and a few seconds per epoch: the C code takes one small step per cell with
    ``lr=0.05`` and AdaGrad sums that start at 1; with a few hundred large
    batches per epoch, ``lr=0.2`` and sums that start at 0 learn much faster.

    Parameters
    ----------
    counts : array or scipy.sparse matrix (n, n)
        Co-occurrence counts, rows for words and columns for contexts, both
        indexed like ``words``. A word without any non-zero cell keeps its
        random initial vectors.
    words : sequence of str
        The ``n`` words.
    dim : int
        Vector dimension.
    epochs : int
        Passes over the non-zero cells.
    lr : float
        AdaGrad's learning rate (the C code's default is 0.05).
    batch_size : int
        Cells per update.
    x_max, alpha : float
        The weighting function :func:`glove_weight`.
    seed : int
        Seeds the initial vectors and the order of the cells.
    initial_accumulator : float
        The starting value of AdaGrad's sums of squared gradients (>= 0): 1 in
        the C code, 0 in ``torch.optim.Adagrad``. With 1, a parameter whose
        gradients are much smaller than 1 (a rare word's, whose cells weigh
        little) moves like plain SGD at rate ``lr``; with 0 its first step is
        ``lr`` whatever the size of its gradient.
        ``torch.optim.Adagrad`` calls it ``initial_accumulator_value``.
    init : tuple of arrays ``(w, w_ctx, b, b_ctx)``, optional
        Starting parameters instead of random ones (copied, not modified).
    threads : int
        PyTorch threads during training (restored afterwards). One thread
        fixes the order of every floating-point sum, so reruns agree exactly.

    Returns
    -------
    GloVeFit

    Raises
    ------
    ValueError
        Naming the bad value: a setting out of range, negative or non-finite
        counts, an empty (all-zero) matrix, a non-square matrix, or a word list
        of the wrong length.

    Examples
    --------
    >>> counts = np.array([[0, 30, 2], [30, 0, 8], [2, 8, 0]], dtype=float)
    >>> fit = train_glove(counts, ["a", "b", "c"], dim=2, epochs=200, lr=0.1, batch_size=6)
    >>> bool(fit.history["loss"].iloc[-1] < fit.history["loss"].iloc[0])
    True
    >>> fit.vectors().vector_size
    2
    """
    import torch

    _check_positive_int("dim", dim)
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("threads", threads)
    _check_positive_number("lr", lr)
    _check_weighting(x_max, alpha)
    words = list(words)
    shape = counts.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"counts must be a square word x word matrix, got shape {shape}")
    if len(words) != shape[0]:
        raise ValueError(f"{len(words)} words but counts has {shape[0]} rows; they must match")
    rows, cols, values = nonzero_cells(counts)

    n = shape[0]
    rng = np.random.default_rng(seed)
    if isinstance(initial_accumulator, bool) or not isinstance(initial_accumulator, (int, float)) or not initial_accumulator >= 0:
        raise ValueError(f"initial_accumulator must be a number >= 0, got initial_accumulator={initial_accumulator!r}")
    if init is None:
        uniform = lambda *size: torch.from_numpy(((rng.random(size) - 0.5) / dim).astype(np.float32))  # noqa: E731
        params = (uniform(n, dim), uniform(n, dim), uniform(n), uniform(n))
    else:
        params = tuple(torch.tensor(np.asarray(p), dtype=torch.float32) for p in init)
        shapes = [tuple(p.shape) for p in params]
        if shapes != [(n, dim), (n, dim), (n,), (n,)]:
            raise ValueError(f"init must be arrays of shapes {[(n, dim), (n, dim), (n,), (n,)]}, got {shapes}")
    w, w_ctx, b, b_ctx = params
    sums = [torch.full_like(p, float(initial_accumulator)) for p in params]
    log_x = torch.from_numpy(np.log(values).astype(np.float32))
    weight = torch.from_numpy(glove_weight(values, x_max, alpha).astype(np.float32))
    rows_t, cols_t = torch.from_numpy(rows), torch.from_numpy(cols)

    grads = [torch.zeros_like(p) for p in params]  # reused: one dense gradient buffer per parameter set
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    history = []
    try:
        with torch.no_grad():
            for epoch in range(epochs):
                order = torch.from_numpy(rng.permutation(len(values)))
                epoch_rows, epoch_cols = rows_t.index_select(0, order), cols_t.index_select(0, order)
                epoch_log_x, epoch_weight = log_x.index_select(0, order), weight.index_select(0, order)
                total = 0.0
                for start in range(0, len(order), batch_size):
                    i, j = epoch_rows[start : start + batch_size], epoch_cols[start : start + batch_size]
                    loss, grad_w, grad_ctx, grad_b = glove_loss_and_gradients(
                        w.index_select(0, i), w_ctx.index_select(0, j), b.index_select(0, i),
                        b_ctx.index_select(0, j), epoch_log_x[start : start + batch_size],
                        epoch_weight[start : start + batch_size],
                    )
                    total += float(loss.sum())
                    # Sum the gradients of the cells that share a word (or a context), then step.
                    for grad, index, update in zip(grads, (i, j, i, j), (grad_w, grad_ctx, grad_b, grad_b)):
                        grad.zero_().index_add_(0, index, update)
                    for param, grad, state_sum in zip(params, grads, sums):
                        adagrad_update(param, grad, state_sum, lr)
                history.append((epoch + 1, total / len(values)))
    finally:
        torch.set_num_threads(previous_threads)
    return GloVeFit(
        words=words,
        w=w.numpy(),
        w_ctx=w_ctx.numpy(),
        b=b.numpy().astype(np.float64),
        b_ctx=b_ctx.numpy().astype(np.float64),
        history=pd.DataFrame(history, columns=["epoch", "loss"]),
    )


# --------------------------------------------------------------------------- the news corpus, cached


def news_glove(
    dim: int = 50,
    window: int = 5,
    min_count: int = 10,
    epochs: int = 10,
    lr: float = 0.2,
    batch_size: int = 32768,
    x_max: float = X_MAX,
    alpha: float = ALPHA,
    initial_accumulator: float = 0.0,
    seed: int = 0,
) -> tuple[KeyedVectors, pd.DataFrame]:
    """GloVe vectors (``w + w~``) of the news corpus and their loss history, trained once and cached.

    The counts are :func:`companion.cooccurrence.news_cooccurrence` with
    GloVe's ``1/d`` weighting (``weighting="harmonic"``) and a symmetric window
    of ``window`` words; ``<unk>`` is left out. The defaults are the chapter's
    (about half a minute of training on one CPU thread). The cache name carries
    the corpus fingerprint and every setting, so other settings train (and
    cache) another model. The history's ``attrs["train_seconds"]`` holds the
    CPU seconds of the training thread, measured when the model was trained
    (it varies between runs: do not print it where outputs are compared).
    """
    import time

    from .cache import cached_pickle
    from .cooccurrence import news_counts

    vocab, counts, stem = news_counts(window, min_count, "harmonic")

    def compute():
        start = time.thread_time()
        fit = train_glove(counts[1:, 1:], vocab.tokens[1:], dim=dim, epochs=epochs, lr=lr,
                          batch_size=batch_size, x_max=x_max, alpha=alpha,
                          initial_accumulator=initial_accumulator, seed=seed)
        fit.history.attrs["train_seconds"] = time.thread_time() - start
        return {"words": fit.words, "vectors": fit.w + fit.w_ctx, "history": fit.history}

    settings = (f"d{dim}-e{epochs}-lr{lr:g}-b{batch_size}-x{x_max:g}-a{alpha:g}"
                f"-g{initial_accumulator:g}-seed{seed}")
    name = f"glove/{stem.split('/', 1)[1]}-glove-{settings}.pkl"
    stored = cached_pickle(name, compute)
    return keyed_vectors(stored["words"], stored["vectors"]), stored["history"]
