"""Word2vec's skip-gram with negative sampling (SGNS), from scratch.

Skip-gram (Mikolov et al. 2013) learns two vectors per word, an *input*
vector ``v_w`` used when the word is the centre of a window and an *output*
vector ``u_c`` used when it is a context, so that ``sigma(v_w . u_c)`` is high
for pairs seen together and low for random pairs. With ``k`` noise words
``n_1 .. n_k`` drawn from the smoothed unigram distribution, one training pair
``(w, c)`` costs

    ``-log sigma(v_w . u_c) - sum_i log sigma(-v_w . u_{n_i})``

instead of a softmax over the whole vocabulary. This module builds every
piece of that recipe as a small function:

- :func:`keep_probabilities`: subsampling of frequent words (word2vec's and
  gensim's formula, and the simpler one printed in the paper);
- :func:`noise_distribution`, :func:`cumulative_table` and :func:`sample_negatives`:
  the ``unigram^0.75`` noise distribution and gensim's cumulative table to draw
  from it;
- :func:`skipgram_pairs`: every (centre, context) pair of a corpus, with
  word2vec's random window shrinking, built with NumPy for a whole epoch;
- :func:`sgns_loss_and_gradients`: the loss above and its gradients, written
  out by hand (a test checks them against ``torch.autograd``);
- :func:`train_skipgram`: word2vec's training loop (subsample, random window,
  one SGD step per pair, linearly decaying learning rate), a plain Python loop
  that numba compiles to machine code, as fast as gensim's Cython; it returns
  a :class:`~gensim.models.KeyedVectors` (input vectors, output vectors or their
  sum) and the loss history;
- :func:`gensim_skipgram`: gensim's ``Word2Vec`` with the same settings, the
  library twin a test compares with;
- :func:`news_skipgram` and :func:`news_gensim_skipgram`: both trained on the
  book's news corpus and cached, so later chapters load them in a second.

Explained in the chapter "Word2Vec" (``book/word2vec.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.word2vec import keep_probabilities, noise_distribution
>>> keep_probabilities([990, 10], sample=0.01).round(3)  # f = 0.99: sqrt(0.01/0.99) + 0.01/0.99
array([0.111, 1.   ])
>>> noise_distribution([16, 1]).round(3)  # 16^0.75 = 8, 1^0.75 = 1
array([0.889, 0.111])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numba
import numpy as np
import pandas as pd

from .text import Vocabulary
from .vectors import KeyedVectors, keyed_vectors

__all__ = [
    "SUBSAMPLING_VARIANTS",
    "keep_probabilities",
    "noise_distribution",
    "cumulative_table",
    "sample_negatives",
    "skipgram_pairs",
    "sgns_loss_and_gradients",
    "SkipGramCorpus",
    "encode_corpus",
    "train_skipgram",
    "gensim_skipgram",
    "news_skipgram",
    "news_gensim_skipgram",
]

#: ``"word2vec"``: keep with ``sqrt(t/f) + t/f`` (word2vec.c, gensim); ``"paper"``: keep with ``sqrt(t/f)``.
SUBSAMPLING_VARIANTS = ("word2vec", "paper")


# --------------------------------------------------------------------------- checks


def _check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


def _check_counts(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array of word counts, got shape {counts.shape}")
    if (counts < 0).any() or not np.isfinite(counts).all() or counts.sum() <= 0:
        raise ValueError("counts must be finite, non-negative and not all zero")
    return counts


# --------------------------------------------------------------------------- subsampling and noise


def keep_probabilities(counts, sample: float = 1e-3, variant: str = "word2vec") -> np.ndarray:
    """Probability that each occurrence of a word survives subsampling.

    With ``f = count / total`` the word's share of the corpus and ``t = sample``:

    - ``"word2vec"`` (the C tool and gensim): ``min(1, sqrt(t / f) + t / f)``;
    - ``"paper"`` (Mikolov et al. 2013, eq. 5, which gives the probability of
      *discarding* ``1 - sqrt(t / f)``): ``min(1, sqrt(t / f))``.

    ``sample=0`` turns subsampling off (every probability is 1).

    Examples
    --------
    >>> keep_probabilities([900, 100], sample=0.01, variant="paper").round(3)  # sqrt(0.01/0.9), sqrt(0.1)
    array([0.105, 0.316])
    """
    counts = _check_counts(counts)
    if variant not in SUBSAMPLING_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid variants are: {', '.join(SUBSAMPLING_VARIANTS)}")
    if not (isinstance(sample, (int, float)) and 0 <= sample < 1):
        raise ValueError(f"sample must be a number in [0, 1) (0 turns subsampling off), got sample={sample!r}")
    if sample == 0:
        return np.ones_like(counts)
    with np.errstate(divide="ignore"):
        ratio = sample / (counts / counts.sum())  # t / f, inf for a zero count
    keep = np.sqrt(ratio) + (ratio if variant == "word2vec" else 0.0)
    return np.minimum(keep, 1.0)


def noise_distribution(counts, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution ``count^power / sum(count^power)``.

    ``power=1`` is the unigram distribution, ``power=0`` the uniform one;
    word2vec's ``0.75`` lies between, raising the share of rare words.
    """
    counts = _check_counts(counts)
    if not (isinstance(power, (int, float)) and 0 <= power <= 1):
        raise ValueError(f"power must be a number in [0, 1], got power={power!r}")
    weights = counts**power
    weights[counts == 0] = 0.0
    return weights / weights.sum()


def cumulative_table(probabilities, domain: int = 2**31 - 1) -> np.ndarray:
    """gensim's table for drawing noise words: ``cum[w] = round(domain * (p_0 + ... + p_w))``.

    A draw takes an integer ``r`` uniform in ``[0, cum[-1])`` and returns the
    first word ``w`` with ``cum[w] > r``, found by binary search; so word ``w``
    comes up with probability ``(cum[w] - cum[w - 1]) / cum[-1]``, which is
    ``p_w`` to within ``1 / domain``. The table has one integer per word, so it
    stays in the processor's cache; word2vec.c's table of ``round(p_w * 10^8)``
    copies of each id needs one lookup per draw but 400 MB, and a random read
    from it waits for main memory. :func:`sample_negatives` and the trainer
    (:func:`train_skipgram`) both draw from this table.

    >>> cumulative_table([0.25, 0.75], domain=4).tolist()
    [1, 4]
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 1 or len(probabilities) == 0 or (probabilities < 0).any() or not probabilities.sum() > 0:
        raise ValueError("probabilities must be a 1-D array of non-negative numbers with a positive sum")
    _check_positive_int("domain", domain)
    return np.round(np.cumsum(probabilities / probabilities.sum()) * domain).astype(np.uint64)


def sample_negatives(probabilities, size, rng: np.random.Generator) -> np.ndarray:
    """Draw word ids (``int64``, any ``size`` shape) from ``probabilities``, as the trainer does.

    A uniform integer below the total of :func:`cumulative_table`, then a
    binary search (NumPy's ``searchsorted``; the trainer's own loop is
    ``_search``, tested equal to it).

    Examples
    --------
    >>> sample_negatives([0.0, 1.0], size=3, rng=np.random.default_rng(0))
    array([1, 1, 1])
    """
    cum = cumulative_table(probabilities)
    return np.searchsorted(cum, rng.integers(0, cum[-1], size=size, dtype=np.uint64), side="right")


# --------------------------------------------------------------------------- pairs


def skipgram_pairs(
    ids, doc_ids, window: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs of a corpus, without a Python loop over tokens.

    ``ids`` are the corpus's word ids concatenated, ``doc_ids`` the document
    of each token (pairs never cross a document boundary). Each centre looks at
    up to ``window`` tokens on each side; with ``rng`` each centre first draws
    its own window size uniformly from ``1..window``, as word2vec does (near
    contexts are then used more often than far ones). Pairs come out grouped by
    distance, not in corpus order.

    Examples
    --------
    >>> centres, contexts = skipgram_pairs([10, 11, 12], [0, 0, 0], window=1)
    >>> list(zip(centres.tolist(), contexts.tolist()))
    [(10, 11), (11, 12), (11, 10), (12, 11)]
    """
    _check_positive_int("window", window)
    ids = np.asarray(ids)
    doc_ids = np.asarray(doc_ids)
    if ids.shape != doc_ids.shape or ids.ndim != 1:
        raise ValueError(f"ids and doc_ids must be 1-D and of equal length, got shapes {ids.shape} and {doc_ids.shape}")
    n = len(ids)
    reach = rng.integers(1, window + 1, size=n) if rng is not None else np.full(n, window)
    centres, contexts = [], []
    for d in range(1, window + 1):  # a loop over distances, not tokens
        if d >= n:
            break
        same_doc = doc_ids[d:] == doc_ids[:-d]
        right = same_doc & (reach[:-d] >= d)  # centre i, context i + d
        left = same_doc & (reach[d:] >= d)  # centre i + d, context i
        centres += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centres:
        empty = np.zeros(0, dtype=ids.dtype)
        return empty, empty.copy()
    return np.concatenate(centres), np.concatenate(contexts)


# --------------------------------------------------------------------------- the loss


def sgns_loss_and_gradients(centre, outputs):
    """SGNS loss of a batch of pairs and its gradients, computed by hand.

    Parameters
    ----------
    centre : tensor (B, d)
        Input vectors ``v_w`` of the centre words.
    outputs : tensor (B, 1 + k, d)
        Output vectors of each pair's observed context ``u_c`` (column 0)
        and of its ``k`` noise words ``u_n`` (columns 1..k).

    Returns
    -------
    loss : tensor (B,)
        ``-log sigma(v . u_c) - sum_n log sigma(-v . u_n)`` per pair.
    grad_centre : tensor (B, d)
        ``(sigma(v . u_c) - 1) u_c + sum_n sigma(v . u_n) u_n``.
    grad_outputs : tensor (B, 1 + k, d)
        ``(sigma(v . u_c) - 1) v`` in column 0 and ``sigma(v . u_n) v`` in the others.

    Both gradients have the form ``(sigma(score) - label) x other vector``, with
    label 1 for the context and 0 for the noise words.

    Examples
    --------
    >>> import torch
    >>> v, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    >>> loss, grad_centre, grad_outputs = sgns_loss_and_gradients(v, u)
    >>> round(loss.item(), 3)  # three dot products of 0, each costing ln 2
    2.079
    >>> grad_centre.tolist()  # (sigma(0) - 1) u_c
    [[0.0, -0.5]]
    """
    import torch
    import torch.nn.functional as F

    scores = (outputs * centre.unsqueeze(1)).sum(-1)  # (B, 1 + k) dot products
    signs = torch.ones_like(scores)
    signs[:, 1:] = -1.0  # +1 for the context, -1 for the noise words
    loss = -F.logsigmoid(signs * scores).sum(-1)
    errors = torch.sigmoid(scores)  # sigma(score) - label
    errors[:, 0] -= 1.0
    grad_centre = torch.bmm(errors.unsqueeze(1), outputs).squeeze(1)
    grad_outputs = errors.unsqueeze(-1) * centre.unsqueeze(1)
    return loss, grad_centre, grad_outputs


# --------------------------------------------------------------------------- training


@dataclass
class SkipGramCorpus:
    """A corpus ready for training: the vocabulary and every kept token as an id.

    ``ids`` are 0-based ids into ``words`` (``<unk>`` tokens, the words below
    ``min_count``, are removed, as word2vec does, so windows reach over them);
    ``doc_ids`` give each token's document; ``counts`` each word's count.
    """

    words: list[str]
    counts: np.ndarray
    ids: np.ndarray
    doc_ids: np.ndarray

    @property
    def n_tokens(self) -> int:
        return len(self.ids)


def encode_corpus(docs: Sequence[Sequence[str]], min_count: int = 5) -> SkipGramCorpus:
    """Build the :class:`~companion.text.Vocabulary` of ``docs`` and encode them for training.

    Raises ``ValueError`` for an empty corpus or a ``min_count`` that leaves no word.

    Examples
    --------
    >>> corpus = encode_corpus([["a", "b", "a"], ["c", "a"]], min_count=2)
    >>> corpus.words, corpus.ids.tolist(), corpus.doc_ids.tolist()
    (['a'], [0, 0, 0], [0, 0, 1])
    """
    _check_positive_int("min_count", min_count)
    docs = list(docs)
    for doc in docs:
        if isinstance(doc, str):
            raise TypeError("docs must be tokenized documents (lists of tokens), got a str; call tokenize() first")
    n_tokens = sum(len(doc) for doc in docs)
    if n_tokens == 0:
        raise ValueError(f"the corpus is empty: {len(docs)} documents and 0 tokens; pass tokenized documents")
    vocab = Vocabulary.build(docs, min_count=min_count)
    if len(vocab) <= 1:
        top_word, top_count = min(vocab.counts.items(), key=lambda item: (-item[1], item[0]))
        raise ValueError(
            f"the vocabulary is empty after min_count={min_count}: no word occurs that often "
            f"(the most frequent, {top_word!r}, occurs {top_count} times); use min_count <= {top_count}"
        )
    flat = np.fromiter((vocab.index.get(t, 0) for doc in docs for t in doc), dtype=np.int32, count=n_tokens)
    docs_of = np.repeat(np.arange(len(docs), dtype=np.int32), [len(doc) for doc in docs])
    known = flat > 0
    return SkipGramCorpus(
        words=vocab.tokens[1:],
        counts=np.asarray(vocab.frequencies()[1:], dtype=np.int64),
        ids=flat[known] - 1,
        doc_ids=docs_of[known],
    )


# numba compiles the functions below to machine code on first call. ``fastmath`` lets it
# reorder the sum of a dot product into AVX2 lanes (without it a 100-term dot product is a chain of
# 100 dependent additions); the code is fixed by the pinned NUMBA_CPU_NAME and NUMBA_CPU_FEATURES
# (companion.cpu_dispatch), so every machine adds in the same order and gets the same vectors.
_compile = numba.njit(nogil=True, fastmath=True)
#: The trainer's logged loss is the mean over the pairs of every ``LOSS_EVERY``-th centre word.
LOSS_EVERY = 8
#: word2vec.c's and gensim's learning rate (falling linearly to ``MIN_LR``) and noise exponent, the
#: defaults of :func:`train_skipgram`, :func:`gensim_skipgram` and :func:`news_skipgram`.
LR, MIN_LR, POWER = 0.025, 1e-4, 0.75


@_compile
def _lcg(state):
    """word2vec.c's random number generator (also gensim's): ``state * 25214903917 + 11 mod 2^64``."""
    return state * np.uint64(25214903917) + np.uint64(11)


@_compile
def _uniform(state):
    """A number in [0, 1) from the top 53 bits of the generator's state (its best bits)."""
    return (state >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@_compile
def _search(cum, r):
    """The first ``w`` with ``cum[w] > r`` (binary search): a draw from :func:`cumulative_table`."""
    lo, hi = 0, cum.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum[mid] > r:
            hi = mid
        else:
            lo = mid + 1
    return lo


@_compile
def _sgns_pass(ids, doc_starts, keep, cum, w_in, w_out, window, negative, lr, min_lr, progress, rng_state,
               loss_every):
    """Train on the documents ``ids[doc_starts[i]:doc_starts[i + 1]]``, word by word, as word2vec.c does.

    For each document: keep each token with probability ``keep[id]``
    (subsampling); then for each kept centre word ``w`` draw a window
    ``1..window``, and for each context word ``c`` in it take one SGD step on
    the pair's loss ``-log sigma(v_w . u_c) - sum_n log sigma(-v_w . u_n)``
    with ``negative`` noise words ``n`` drawn from ``cum``
    (:func:`cumulative_table`). The step is :func:`sgns_loss_and_gradients`
    for one pair: with ``g = (label - sigma(v_w . u)) * alpha`` each output
    vector ``u`` moves by ``g v_w``, and ``v_w`` moves by the sum of ``g u``
    once all ``1 + negative`` are done. The learning rate ``alpha`` falls
    linearly from ``lr`` to ``min_lr`` with ``progress = [tokens done, tokens
    in the whole run]``, which it updates. ``rng_state`` (one uint64) carries
    the random generator between calls.

    Returns the number of pairs trained, and the summed loss and number of the
    pairs whose centre is every ``loss_every``-th kept word of a document (the
    logarithm for the loss costs as much as a quarter of the step, so the
    trainer measures it on a sample).
    """
    dim = w_in.shape[1]
    state = rng_state[0]
    total = cum[cum.shape[0] - 1]
    grad_v = np.empty(dim, dtype=np.float32)
    kept = np.empty(ids.shape[0], dtype=np.int32)
    pairs, loss, loss_pairs = 0, 0.0, 0
    for doc in range(doc_starts.shape[0] - 1):
        n = 0  # subsample the document
        for position in range(doc_starts[doc], doc_starts[doc + 1]):
            state = _lcg(state)
            if _uniform(state) < keep[ids[position]]:
                kept[n] = ids[position]
                n += 1
        for i in range(n):
            alpha = np.float32(lr - (lr - min_lr) * progress[0] / progress[1])
            state = _lcg(state)
            reach = 1 + int(_uniform(state) * window)  # word2vec's random window: 1..window
            measure = i % loss_every == 0
            v = w_in[kept[i]]
            for j in range(max(0, i - reach), min(n, i + reach + 1)):
                if j == i:
                    continue
                context = kept[j]
                grad_v[:] = 0.0
                for d in range(negative + 1):
                    if d == 0:
                        target, label = context, np.float32(1.0)
                    else:
                        state = _lcg(state)
                        target = _search(cum, (state >> np.uint64(16)) % total)
                        if target == context:  # word2vec skips a noise word equal to the context
                            continue
                        label = np.float32(0.0)
                    u = w_out[target]
                    score = np.float32(0.0)
                    for k in range(dim):
                        score += v[k] * u[k]
                    e = np.exp(-score)
                    g = (label - np.float32(1.0) / (np.float32(1.0) + e)) * alpha  # (label - sigma) * alpha
                    if measure:
                        loss += np.log1p(e) + (1.0 - label) * score  # -log sigma(+-score)
                    for k in range(dim):
                        grad_v[k] += g * u[k]
                        u[k] += g * v[k]
                for k in range(dim):
                    v[k] += grad_v[k]
                pairs += 1
                if measure:
                    loss_pairs += 1
        progress[0] += doc_starts[doc + 1] - doc_starts[doc]
    rng_state[0] = state
    return pairs, loss, loss_pairs


def _chunks(doc_starts: np.ndarray, tokens_per_chunk: int) -> list[tuple[int, int]]:
    """Split documents into runs of about ``tokens_per_chunk`` tokens: ``(first doc, last doc + 1)``."""
    bounds = np.searchsorted(doc_starts, np.arange(0, doc_starts[-1], tokens_per_chunk), side="right") - 1
    bounds = np.unique(np.concatenate([bounds, [len(doc_starts) - 1]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def train_skipgram(
    docs: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    epochs: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    lr: float = LR,
    min_lr: float = MIN_LR,
    power: float = POWER,
    seed: int = 0,
    log_every: int = 100_000,
    vectors: str = "input",
) -> tuple[KeyedVectors, pd.DataFrame]:
    """Train skip-gram with negative sampling on tokenized ``docs``, as word2vec.c and gensim do.

    The defaults are gensim's (and word2vec.c's): 100 dimensions, window 5,
    5 noise words, 5 epochs, ``min_count=5``, ``sample=1e-3``, learning rate
    falling linearly from 0.025 to 0.0001. The corpus is read token by token:
    subsampling (:func:`keep_probabilities`), a random window per centre word,
    noise words from the ``unigram^power`` distribution (:func:`cumulative_table`,
    :func:`noise_distribution`) and one plain SGD step per (centre, context)
    pair with the gradients of :func:`sgns_loss_and_gradients`. The loop is a
    plain Python function compiled by numba, one thread, so a run with the
    same seed gives the same vectors to the last bit. Input vectors start
    uniform in ``[-0.5/dim, 0.5/dim]``, output vectors at zero.

    ``vectors`` chooses what becomes the embedding of word ``w``: ``"input"``
    (``v_w``, word2vec's and gensim's choice), ``"output"`` (``u_w``) or
    ``"sum"`` (``v_w + u_w``, as GloVe adds its two matrices; Levy et al. 2015
    treat it as one more hyper-parameter of SGNS).

    Returns
    -------
    kv : KeyedVectors
        The chosen vectors, words in order of decreasing count.
    history : DataFrame
        ``epoch``, ``pairs`` (pairs trained so far), ``lr`` and ``loss``: the
        mean loss per pair over the last ``log_every`` corpus tokens or so,
        measured on the pairs of every ``LOSS_EVERY``-th (8th) centre word.

    Raises
    ------
    ValueError
        For a setting out of range (naming it), an empty corpus or an empty
        vocabulary after ``min_count``.

    Examples
    --------
    >>> docs = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 50
    >>> kv, history = train_skipgram(docs, dim=8, window=2, negative=2, epochs=2, min_count=1, sample=0)
    >>> kv.vector_size, sorted(kv.index_to_key), list(history.columns)
    (8, ['cat', 'dog', 'sat', 'the'], ['epoch', 'pairs', 'lr', 'loss'])
    """
    _check_vectors(vectors)
    words, w_in, w_out, history = _train_arrays(docs, dim, window, negative, epochs, min_count, sample, lr, min_lr,
                                                power, seed, log_every)
    return keyed_vectors(words, _choose(vectors, w_in, w_out)), history


def _train_arrays(docs, dim, window, negative, epochs, min_count, sample, lr, min_lr, power, seed, log_every):
    """:func:`train_skipgram`'s work: ``(words, input vectors, output vectors, history)``."""
    for name, value in (("dim", dim), ("window", window), ("negative", negative), ("epochs", epochs),
                        ("log_every", log_every)):
        _check_positive_int(name, value)
    _check_positive_int("seed", seed, minimum=0)
    if not (isinstance(lr, (int, float)) and lr > 0) or not (isinstance(min_lr, (int, float)) and 0 <= min_lr <= lr):
        raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={lr!r}, min_lr={min_lr!r}")
    corpus = encode_corpus(docs, min_count=min_count)
    keep = keep_probabilities(corpus.counts, sample=sample)  # validates sample
    cum = cumulative_table(noise_distribution(corpus.counts, power=power))

    rng = np.random.default_rng(seed)
    w_in = ((rng.random((len(corpus.words), dim)) - 0.5) / dim).astype(np.float32)
    w_out = np.zeros_like(w_in)
    doc_starts = np.concatenate([[0], np.flatnonzero(np.diff(corpus.doc_ids)) + 1, [corpus.n_tokens]]).astype(np.int64)
    rng_state = np.array([seed], dtype=np.uint64)
    progress = np.array([0, corpus.n_tokens * epochs], dtype=np.int64)
    rows, pairs_done = [], 0
    for epoch in range(epochs):
        for first, last in _chunks(doc_starts, log_every):
            pairs, loss, loss_pairs = _sgns_pass(corpus.ids, doc_starts[first : last + 1], keep, cum, w_in, w_out,
                                                 window, negative, float(lr), float(min_lr), progress, rng_state,
                                                 LOSS_EVERY)
            pairs_done += pairs
            step_lr = lr - (lr - min_lr) * progress[0] / progress[1]
            rows.append((epoch + 1, pairs_done, step_lr, loss / max(loss_pairs, 1)))
    history = pd.DataFrame(rows, columns=["epoch", "pairs", "lr", "loss"])
    return corpus.words, w_in, w_out, history


#: What :func:`train_skipgram` and :func:`news_skipgram` can return as the embeddings.
VECTOR_CHOICES = ("input", "output", "sum")


def _check_vectors(vectors) -> None:
    if vectors not in VECTOR_CHOICES:
        raise ValueError(f"vectors must be one of {', '.join(map(repr, VECTOR_CHOICES))}, got {vectors!r}")


def _choose(vectors: str, w_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    _check_vectors(vectors)
    return {"input": w_in, "output": w_out, "sum": w_in + w_out}[vectors]


def gensim_skipgram(
    docs: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    epochs: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    lr: float = LR,
    min_lr: float = MIN_LR,
    seed: int = 0,
) -> KeyedVectors:
    """gensim's ``Word2Vec`` skip-gram with the settings of :func:`train_skipgram`.

    ``workers=1``: with more threads, the order of updates (and so the vectors)
    changes from run to run. gensim seeds its initial vectors from ``seed``
    with NumPy's generator, so one worker makes it repeatable across processes.
    """
    from gensim.models import Word2Vec

    for name, value in (("dim", dim), ("window", window), ("negative", negative), ("epochs", epochs)):
        _check_positive_int(name, value)
    if sum(len(doc) for doc in docs) == 0:
        raise ValueError(f"the corpus is empty: {len(docs)} documents and 0 tokens; pass tokenized documents")
    model = Word2Vec(
        sentences=list(docs), sg=1, hs=0, negative=negative, window=window, vector_size=dim,
        min_count=min_count, sample=sample, epochs=epochs, alpha=lr, min_alpha=min_lr,
        ns_exponent=POWER, workers=1, seed=seed,
    )
    return model.wv


# --------------------------------------------------------------------------- the news corpus, cached


def _settings_name(dim, window, negative, epochs, min_count, sample, seed) -> str:
    return f"d{dim}-w{window}-n{negative}-e{epochs}-m{min_count}-s{sample:g}-seed{seed}"


def news_skipgram(
    dim: int = 100, window: int = 5, negative: int = 5, epochs: int = 5, min_count: int = 5,
    sample: float = 1e-3, seed: int = 0, vectors: str = "input",
) -> tuple[KeyedVectors, pd.DataFrame]:
    """Our SGNS vectors of the news corpus and their loss history, trained once and cached.

    The defaults are gensim's and word2vec.c's, the chapter's model: 100
    dimensions, window 5, 5 noise words, 5 epochs, ``min_count=5`` and
    ``sample=1e-3``. The cache name carries every setting, so a call with other
    settings trains (and caches) another model. Both the input and the output
    vectors are stored, so every choice of ``vectors`` (see
    :func:`train_skipgram`) comes from the same training run. The history's
    ``attrs["train_seconds"]`` holds the CPU seconds of the training thread,
    measured when the model was trained (it varies between runs: do not print
    it where outputs are compared).
    """
    import time

    from .cache import cached_pickle
    from .datasets import news_tokens

    _check_vectors(vectors)

    def compute():
        docs = news_tokens()
        start = time.thread_time()  # this thread only: the chapter trains gensim's model in another one meanwhile
        words, w_in, w_out, history = _train_arrays(docs, dim, window, negative, epochs, min_count, sample,
                                                    LR, MIN_LR, POWER, seed, 100_000)
        history.attrs["train_seconds"] = time.thread_time() - start
        return {"words": list(words), "input": w_in, "output": w_out, "history": history}

    name = f"word2vec/news-sgns-{_settings_name(dim, window, negative, epochs, min_count, sample, seed)}.pkl"
    stored = cached_pickle(name, compute)
    return keyed_vectors(stored["words"], _choose(vectors, stored["input"], stored["output"])), stored["history"]


def news_gensim_skipgram(
    dim: int = 100, window: int = 5, negative: int = 5, epochs: int = 5, min_count: int = 5,
    sample: float = 1e-3, seed: int = 0,
) -> KeyedVectors:
    """gensim's skip-gram vectors of the news corpus (:func:`gensim_skipgram`), trained once and cached."""
    from .cache import cached_pickle
    from .datasets import news_tokens

    def compute():
        kv = gensim_skipgram(news_tokens(), dim=dim, window=window, negative=negative, epochs=epochs,
                             min_count=min_count, sample=sample, seed=seed)
        return {"words": list(kv.index_to_key), "vectors": kv.vectors}

    name = f"word2vec/news-gensim-sg-{_settings_name(dim, window, negative, epochs, min_count, sample, seed)}.pkl"
    stored = cached_pickle(name, compute)
    return keyed_vectors(stored["words"], stored["vectors"])
