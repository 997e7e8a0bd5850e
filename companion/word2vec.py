"""Word2vec's skip-gram with negative sampling (SGNS), from scratch in PyTorch.

Skip-gram (Mikolov et al. 2013) learns two vectors per word, an *input*
vector ``v_w`` used when the word is the centre of a window and an *output*
vector ``u_c`` used when it is a context, so that ``sigma(v_w . u_c)`` is high
for pairs seen together and low for random pairs. With ``k`` noise words
``n_1 .. n_k`` drawn from the smoothed unigram distribution, one training pair
``(w, c)`` costs

    ``-log sigma(v_w . u_c) - sum_i log sigma(-v_w . u_{n_i})``

instead of a softmax over the whole vocabulary. This module builds every
piece of that recipe as a small vectorised function:

- :func:`keep_probabilities`: subsampling of frequent words (word2vec's and
  gensim's formula, and the simpler one printed in the paper);
- :func:`noise_distribution` and :func:`sample_negatives`: the ``unigram^0.75``
  noise distribution and a sampler for it;
- :func:`skipgram_pairs`: every (centre, context) pair of a corpus, with
  word2vec's random window shrinking, built with NumPy for a whole epoch;
- :func:`sgns_loss_and_gradients`: the loss above and its gradients, written
  out by hand (a test checks them against ``torch.autograd``);
- :func:`train_skipgram`: plain SGD with word2vec's linearly decaying learning
  rate, returning a :class:`~gensim.models.KeyedVectors` and the loss history;
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

import numpy as np
import pandas as pd

from .text import Vocabulary
from .vectors import KeyedVectors, keyed_vectors

__all__ = [
    "SUBSAMPLING_VARIANTS",
    "keep_probabilities",
    "noise_distribution",
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


def sample_negatives(probabilities, size, rng: np.random.Generator, table_size: int = 10_000_000) -> np.ndarray:
    """Draw word ids (``int32``, any ``size`` shape) from ``probabilities`` with word2vec's unigram table.

    The table holds ``round(p_w * table_size)`` copies of each word id ``w``;
    a draw is the entry at a uniformly random position. Each word's probability
    is off by at most ``0.5 / table_size`` (word2vec.c uses a table of 10^8), and
    a draw costs one random integer and one lookup, several times faster than a
    binary search in the cumulative distribution.

    Examples
    --------
    >>> sample_negatives([0.0, 1.0], size=3, rng=np.random.default_rng(0))
    array([1, 1, 1], dtype=int32)
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 1 or (probabilities < 0).any() or not probabilities.sum() > 0:
        raise ValueError("probabilities must be a 1-D array of non-negative numbers with a positive sum")
    _check_positive_int("table_size", table_size)
    copies = np.round(probabilities / probabilities.sum() * table_size).astype(np.int64)
    table = np.repeat(np.arange(len(probabilities), dtype=np.int32), copies)
    return table[rng.integers(0, len(table), size=size, dtype=np.int32)]  # int32: half the memory


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


def _sgd_epochs(corpus, keep, noise, w_in, w_out, window, negative, epochs, lr, min_lr, batch_size, log_every, rng):
    """The training loop of :func:`train_skipgram`; updates ``w_in`` and ``w_out`` in place."""
    import torch

    dim = w_in.shape[1]
    rows, pairs_done = [], 0
    with torch.no_grad():
        for epoch in range(epochs):
            # The whole epoch's batches, built with NumPy: subsample, pair, shuffle, draw noise words.
            kept = rng.random(corpus.n_tokens) < keep[corpus.ids]
            centres, contexts = skipgram_pairs(corpus.ids[kept], corpus.doc_ids[kept], window, rng)
            order = rng.permutation(len(centres))
            targets = np.empty((len(order), 1 + negative), dtype=np.int32)  # context, then k noise words
            targets[:, 0] = contexts[order]
            for start in range(0, len(order), 1_000_000):  # in chunks, to bound the temporary arrays
                chunk = targets[start : start + 1_000_000]
                chunk[:, 1:] = sample_negatives(noise, (len(chunk), negative), rng)
            centres = torch.from_numpy(centres[order])
            targets = torch.from_numpy(targets)
            del contexts, order, kept
            n_batches = -(-len(centres) // batch_size)
            running, running_pairs = 0.0, 0
            for b in range(n_batches):
                step_lr = lr - (lr - min_lr) * (epoch + b / n_batches) / epochs
                c = centres[b * batch_size : (b + 1) * batch_size]
                t = targets[b * batch_size : (b + 1) * batch_size].reshape(-1)
                loss, grad_centre, grad_outputs = sgns_loss_and_gradients(
                    w_in.index_select(0, c), w_out.index_select(0, t).view(len(c), 1 + negative, dim))
                w_in.index_add_(0, c, grad_centre, alpha=-step_lr)
                w_out.index_add_(0, t, grad_outputs.view(-1, dim), alpha=-step_lr)
                running += float(loss.sum())
                running_pairs += len(c)
                if (b + 1) % log_every == 0 or b == n_batches - 1:
                    pairs_done += running_pairs
                    rows.append((epoch + 1, pairs_done, step_lr, running / running_pairs))
                    running, running_pairs = 0.0, 0
            del centres, targets  # free this epoch's batches before building the next
    return rows


def train_skipgram(
    docs: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    epochs: int = 3,
    min_count: int = 5,
    sample: float = 1e-3,
    lr: float = 0.025,
    min_lr: float = 1e-4,
    batch_size: int = 512,
    power: float = 0.75,
    seed: int = 0,
    log_every: int = 200,
    threads: int = 1,
) -> tuple[KeyedVectors, pd.DataFrame]:
    """Train skip-gram with negative sampling on tokenized ``docs``.

    Each epoch draws a fresh subsample of the corpus (:func:`keep_probabilities`),
    builds all its pairs with random window sizes (:func:`skipgram_pairs`),
    shuffles them, draws ``negative`` noise words per pair
    (:func:`sample_negatives`), all with NumPy, and then runs plain SGD over
    batches of ``batch_size`` pairs with the hand-written gradients of
    :func:`sgns_loss_and_gradients`. Updates of a batch are summed per word
    (as word2vec's parallel threads do); the learning rate falls linearly from
    ``lr`` to ``min_lr`` over the whole run, as in word2vec. Input vectors start
    uniform in ``[-0.5/dim, 0.5/dim]``, output vectors at zero.

    The loop runs on ``threads`` PyTorch threads (restored afterwards). One is
    the default: a batch's operations are too small to gain from a second
    thread, and on a busy machine two threads wait for each other; one thread
    also fixes the order of every floating-point sum, so reruns agree exactly.

    Returns
    -------
    kv : KeyedVectors
        The input vectors, words in order of decreasing count.
    history : DataFrame
        ``epoch``, ``pairs`` (pairs trained so far), ``lr`` and ``loss`` (mean
        loss per pair over the last ``log_every`` batches).

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
    import torch

    for name, value in (("dim", dim), ("window", window), ("negative", negative), ("epochs", epochs),
                        ("batch_size", batch_size), ("log_every", log_every), ("threads", threads)):
        _check_positive_int(name, value)
    if not (isinstance(lr, (int, float)) and lr > 0) or not (isinstance(min_lr, (int, float)) and 0 <= min_lr <= lr):
        raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={lr!r}, min_lr={min_lr!r}")
    corpus = encode_corpus(docs, min_count=min_count)
    keep = keep_probabilities(corpus.counts, sample=sample).astype(np.float64)  # validates sample
    noise = noise_distribution(corpus.counts, power=power)

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    n_words = len(corpus.words)
    w_in = (torch.rand(n_words, dim, generator=gen) - 0.5) / dim
    w_out = torch.zeros(n_words, dim)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = _sgd_epochs(corpus, keep, noise, w_in, w_out, window, negative, epochs, lr, min_lr,
                           batch_size, log_every, rng)
    finally:
        torch.set_num_threads(previous_threads)
    history = pd.DataFrame(rows, columns=["epoch", "pairs", "lr", "loss"])
    return keyed_vectors(corpus.words, w_in.numpy()), history


def gensim_skipgram(
    docs: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    epochs: int = 3,
    min_count: int = 5,
    sample: float = 1e-3,
    lr: float = 0.025,
    min_lr: float = 1e-4,
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
        ns_exponent=0.75, workers=1, seed=seed,
    )
    return model.wv


# --------------------------------------------------------------------------- the news corpus, cached


def _settings_name(dim, window, negative, epochs, min_count, sample, seed) -> str:
    return f"d{dim}-w{window}-n{negative}-e{epochs}-m{min_count}-s{sample:g}-seed{seed}"


def news_skipgram(
    dim: int = 100, window: int = 5, negative: int = 5, epochs: int = 3, min_count: int = 10,
    sample: float = 1e-4, seed: int = 0,
) -> tuple[KeyedVectors, pd.DataFrame]:
    """Our SGNS vectors of the news corpus and their loss history, trained once and cached.

    The defaults are the chapter's: 100 dimensions, window 5, 5 negatives,
    3 epochs, ``min_count=10`` (as the PPMI vectors of
    :func:`companion.cooccurrence.ppmi_svd_vectors`) and ``sample=1e-4``, which
    keeps about half of the corpus's tokens per epoch. The cache name carries
    every setting, so a call with other settings trains (and caches) another
    model.
    """
    from .cache import cached_pickle
    from .datasets import news_tokens

    def compute():
        kv, history = train_skipgram(news_tokens(), dim=dim, window=window, negative=negative, epochs=epochs,
                                     min_count=min_count, sample=sample, seed=seed)
        return {"words": list(kv.index_to_key), "vectors": kv.vectors, "history": history}

    name = f"word2vec/news-sgns-{_settings_name(dim, window, negative, epochs, min_count, sample, seed)}.pkl"
    stored = cached_pickle(name, compute)
    return keyed_vectors(stored["words"], stored["vectors"]), stored["history"]


def news_gensim_skipgram(
    dim: int = 100, window: int = 5, negative: int = 5, epochs: int = 3, min_count: int = 10,
    sample: float = 1e-4, seed: int = 0,
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
