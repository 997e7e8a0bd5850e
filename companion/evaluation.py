"""Intrinsic evaluation of word vectors: word similarity and word analogies.

Every chapter that trains or loads word vectors scores them with these two
functions, whatever made the vectors, because they take the book's one lookup
type, a :class:`~gensim.models.KeyedVectors`:

- :func:`word_similarity`: Spearman's rank correlation between the cosine
  similarities of word pairs and human scores (WordSim-353, SimLex-999, from
  :mod:`companion.datasets`).
- :func:`analogy_accuracy`: the share of ``a : b :: c : ?`` questions (the
  Google analogy set) whose answer is the nearest word to ``b - a + c``
  (3CosAdd, Mikolov et al. 2013) or maximises 3CosMul (Levy & Goldberg 2014).

A benchmark word missing from the vectors' vocabulary cannot be scored. Both
functions skip such items, as gensim's ``evaluate_word_pairs`` and
``evaluate_word_analogies`` do with ``dummy4unknown=False``, and report how
many they skipped: a score on 40% of a benchmark is not comparable with a
score on all of it. Tests check that the scores equal gensim's on the covered
items.

Explained in the chapter "Distributional semantics"
(``book/distributional-semantics.ipynb``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from companion.vectors import keyed_vectors
>>> from companion.evaluation import word_similarity
>>> kv = keyed_vectors(["cat", "dog", "car"], np.array([[1.0, 0.1], [0.9, 0.3], [0.1, 1.0]]))
>>> pairs = pd.DataFrame({"word1": ["cat", "cat", "dog", "cat"], "word2": ["dog", "car", "car", "zebra"],
...                       "score": [8.0, 1.0, 2.0, 7.0]})
>>> result = word_similarity(kv, pairs)
>>> result["spearman"], result["pairs_used"], result["pairs_total"], result["oov_pairs"], result["oov_words"]
(1.0, 3, 4, 1, ['zebra'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .vectors import KeyedVectors

__all__ = ["word_similarity", "analogy_accuracy", "similarity_rows", "spearman_of_rows", "shared_vocabulary",
           "compare_pair", "ANALOGY_METHODS"]

#: The two ways :func:`analogy_accuracy` can answer ``a : b :: c : ?``.
ANALOGY_METHODS = ("3cosadd", "3cosmul")


def _check_kv(kv) -> None:
    if not isinstance(kv, KeyedVectors):
        raise TypeError(
            f"expected a gensim KeyedVectors (build one with companion.vectors.keyed_vectors), got {type(kv).__name__}"
        )
    if len(kv) == 0:
        raise ValueError("the KeyedVectors is empty: there are no vectors to evaluate")


def _check_columns(df, columns, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame with columns {columns}, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it needs {columns}, has {list(df.columns)}")


def _known_words(kv: KeyedVectors, restrict_vocab: int | None) -> dict[str, int]:
    if restrict_vocab is None:
        return kv.key_to_index
    if isinstance(restrict_vocab, bool) or not isinstance(restrict_vocab, int) or restrict_vocab < 1:
        raise ValueError(f"restrict_vocab must be a positive integer or None, got {restrict_vocab!r}")
    return {w: i for i, w in enumerate(kv.index_to_key[:restrict_vocab])}


def _unit(vectors) -> np.ndarray:
    """``vectors`` divided by their length, row by row (a zero row stays zero), float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def word_similarity(kv: KeyedVectors, pairs: pd.DataFrame, restrict_vocab: int | None = None) -> dict:
    """Spearman correlation between cosine similarities and human scores of word pairs.

    Parameters
    ----------
    kv : KeyedVectors
    pairs : DataFrame
        Columns ``word1``, ``word2``, ``score`` (e.g. :func:`companion.datasets.wordsim353`).
    restrict_vocab : int, optional
        Only the first ``restrict_vocab`` words of ``kv`` count as known (as in gensim).

    Returns
    -------
    dict
        ``spearman`` (full precision), ``pairs_used`` (both
        words known), ``pairs_total``, ``oov_pairs`` (pairs skipped because a
        word is unknown), ``oov_words`` (those words, sorted) and ``coverage``
        (``pairs_used / pairs_total``).

    Raises
    ------
    ValueError
        If fewer than two pairs are covered (no correlation can be computed).
    """
    _check_kv(kv)
    _check_columns(pairs, ["word1", "word2", "score"], "pairs")
    known = _known_words(kv, restrict_vocab)
    w1 = pairs["word1"].astype(str).tolist()
    w2 = pairs["word2"].astype(str).tolist()
    covered = np.array([a in known and b in known for a, b in zip(w1, w2)], dtype=bool)
    oov_words = sorted({w for w in w1 + w2 if w not in known})
    if covered.sum() < 2:
        raise ValueError(
            f"only {int(covered.sum())} of {len(pairs)} pairs have both words in the vocabulary of these "
            f"{len(kv):,} vectors; at least 2 are needed (unknown words include {oov_words[:5]})"
        )
    i = np.array([kv.key_to_index[a] for a, ok in zip(w1, covered) if ok])
    j = np.array([kv.key_to_index[b] for b, ok in zip(w2, covered) if ok])
    cosines = np.einsum("ij,ij->i", _unit(kv.vectors[i]), _unit(kv.vectors[j]))
    gold = pairs["score"].to_numpy(dtype=np.float64)[covered]
    rho = stats.spearmanr(gold, cosines).statistic
    used = int(covered.sum())
    return {
        "spearman": float(rho),
        "pairs_used": used,
        "pairs_total": len(pairs),
        "oov_pairs": len(pairs) - used,
        "oov_words": oov_words,
        "coverage": used / len(pairs) if len(pairs) else 0.0,
    }


def analogy_accuracy(
    kv: KeyedVectors,
    analogies: pd.DataFrame,
    method: str = "3cosadd",
    restrict_vocab: int | None = None,
    epsilon: float = 1e-3,
    batch_size: int | None = None,
) -> dict:
    """Accuracy on ``a : b :: c : d`` questions, answering with the best candidate word.

    Candidates are the known words (the first ``restrict_vocab`` of ``kv``, or
    all) except ``a``, ``b`` and ``c``. With unit vectors and cosine ``cos``:

    - ``"3cosadd"``: ``argmax_x cos(x, b - a + c)`` (the answer gensim's
      ``evaluate_word_analogies`` and ``most_similar`` give);
    - ``"3cosmul"``: ``argmax_x s(x, b) s(x, c) / (s(x, a) + epsilon)`` with
      ``s = (1 + cos) / 2`` (Levy & Goldberg 2014; gensim's
      ``most_similar_cosmul`` uses ``epsilon = 1e-6``).

    Words that share one vector (spaCy's tables map many keys to one row) tie;
    the first of them in ``kv``'s order is the answer. Each distinct vector is
    scored once, so the tie holds exactly whatever the CPU's rounding.

    Parameters
    ----------
    kv : KeyedVectors
    analogies : DataFrame
        Columns ``a``, ``b``, ``c``, ``d``, and optionally ``section``
        (e.g. :func:`companion.datasets.google_analogies`).
    method : {"3cosadd", "3cosmul"}
    restrict_vocab : int, optional
        Only the first ``restrict_vocab`` words of ``kv`` are known (questions
        with another word are skipped) and searched. Vocabularies sorted by
        frequency make this "the most frequent words".
    epsilon : float
        Keeps 3CosMul's denominator away from zero.
    batch_size : int, optional
        Questions scored at once (memory: a few ``batch_size x vocabulary``
        float32 arrays). By default about 8 million scores per batch.

    Returns
    -------
    dict
        ``accuracy`` (correct / questions_used), ``correct``,
        ``questions_used``, ``questions_total``, ``oov_questions`` (skipped
        because a word is unknown), ``coverage`` and ``by_section`` (a DataFrame
        with the same counts per section, if ``analogies`` has a ``section``
        column, else ``None``) and ``answers`` (a boolean Series, "was it
        right?", indexed like ``analogies``, for the questions used: pair two
        models on it with :func:`companion.uncertainty.mcnemar_exact`).
    """
    _check_kv(kv)
    _check_columns(analogies, ["a", "b", "c", "d"], "analogies")
    if method not in ANALOGY_METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are: {', '.join(ANALOGY_METHODS)}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    known = _known_words(kv, restrict_vocab)
    if batch_size is None:
        batch_size = max(1, 8_000_000 // len(known))
    words = analogies[["a", "b", "c", "d"]].astype(str).to_numpy()
    covered = np.array([all(w in known for w in row) for row in words], dtype=bool)
    ids = np.array([[known[w] for w in row] for row in words[covered]], dtype=np.int64).reshape(-1, 4)
    unit = _unit(kv.vectors[: len(known)]).astype(np.float32)
    # Words that share one vector (spaCy maps many keys to one row) tie exactly, but a matrix product
    # may round their scores differently by position and SIMD kernel: score each distinct vector once
    # and copy, so a tie stays a tie and argmax takes the first (most frequent) of the tied words.
    distinct, first, shared = np.unique(unit, axis=0, return_index=True, return_inverse=True)
    if len(distinct) < len(unit):
        order = np.argsort(first)  # distinct rows in order of first appearance
        distinct, shared = distinct[order], np.argsort(order)[shared.ravel()]
    else:
        distinct, shared = unit, None

    def expand(scores: np.ndarray) -> np.ndarray:
        return scores if shared is None else scores[:, shared]

    predicted = np.empty(len(ids), dtype=np.int64)
    for start in range(0, len(ids), batch_size):
        a, b, c = (ids[start : start + batch_size, k] for k in range(3))
        if method == "3cosadd":
            target = unit[b] - unit[a] + unit[c]
            scores = expand(target @ distinct.T)  # same argmax as the cosine: |target| is fixed per question
        else:
            sim_a, sim_b, sim_c = ((1.0 + expand(unit[x] @ distinct.T)) / 2.0 for x in (a, b, c))
            scores = sim_b * sim_c / (sim_a + epsilon)
        rows = np.arange(len(a))
        for x in (a, b, c):
            scores[rows, x] = -np.inf
        predicted[start : start + batch_size] = np.argmax(scores, axis=1)
    correct = predicted == ids[:, 3] if len(ids) else np.zeros(0, dtype=bool)

    used = int(covered.sum())
    by_section = None
    if "section" in analogies.columns:
        frame = pd.DataFrame({"section": analogies["section"].to_numpy(), "covered": covered})
        frame["correct"] = False
        frame.loc[covered, "correct"] = correct
        by_section = (
            frame.groupby("section", sort=False)
            .agg(questions_total=("covered", "size"), questions_used=("covered", "sum"), correct=("correct", "sum"))
            .reset_index()
        )
        by_section["accuracy"] = by_section["correct"] / by_section["questions_used"].where(by_section["questions_used"] > 0)
    return {
        "accuracy": float(correct.mean()) if used else float("nan"),
        "correct": int(correct.sum()),
        "questions_used": used,
        "questions_total": len(analogies),
        "oov_questions": len(analogies) - used,
        "coverage": used / len(analogies) if len(analogies) else 0.0,
        "by_section": by_section,
        "answers": pd.Series(correct, index=analogies.index[covered], dtype=bool, name="correct"),
    }


def similarity_rows(kv: KeyedVectors, pairs: pd.DataFrame) -> np.ndarray:
    """One row per word pair the vectors cover: ``[human score, cosine]`` (the columns
    :func:`word_similarity` ranks), for a bootstrap over pairs with :func:`spearman_of_rows`.

    >>> from companion.vectors import keyed_vectors
    >>> kv = keyed_vectors(["cat", "dog"], np.array([[1.0, 0.0], [1.0, 1.0]]))
    >>> pairs = pd.DataFrame({"word1": ["cat", "cat"], "word2": ["dog", "zebra"], "score": [8.0, 7.0]})
    >>> similarity_rows(kv, pairs).round(3).tolist()
    [[8.0, 0.707]]
    """
    _check_kv(kv)
    _check_columns(pairs, ("word1", "word2", "score"), "pairs")
    covered = pairs[pairs.word1.isin(kv.key_to_index) & pairs.word2.isin(kv.key_to_index)]
    a, b = _unit(kv[covered.word1.tolist()]), _unit(kv[covered.word2.tolist()])
    return np.column_stack([covered.score.to_numpy(dtype=float), np.einsum("ij,ij->i", a, b)])


def spearman_of_rows(rows: np.ndarray) -> float:
    """Spearman's rho between the two columns of ``rows``: Pearson's r of their (average) ranks.

    Equal to ``scipy.stats.spearmanr`` and much faster inside a bootstrap loop.

    >>> spearman_of_rows(np.array([[1.0, 10.0], [2.0, 30.0], [3.0, 20.0]]))
    0.5
    """
    from scipy.stats import rankdata

    rows = np.asarray(rows, dtype=float)
    if rows.ndim != 2 or rows.shape[1] != 2 or len(rows) < 2:
        raise ValueError(f"rows must be an (n, 2) array with n >= 2, got shape {rows.shape}")
    ranks = rankdata(rows, axis=0)
    return float(np.corrcoef(ranks[:, 0], ranks[:, 1])[0, 1])


def shared_vocabulary(models: dict[str, KeyedVectors]) -> dict[str, KeyedVectors]:
    """Each model restricted to the words every model knows, in its own order.

    Models with different vocabularies are not scored on the same items: a
    benchmark pair or analogy question counts only where all its words are
    known, and an analogy's answer is searched among all known words. Restricted
    to a shared vocabulary, every model covers the same items and searches the
    same candidates, so a paired comparison (:mod:`companion.uncertainty`) is
    fair. Explained in the chapter "Word2Vec" (``book/word2vec.ipynb``).

    >>> from companion.vectors import keyed_vectors
    >>> a = keyed_vectors(["the", "cat", "sat"], np.eye(3))
    >>> b = keyed_vectors(["cat", "the", "dog"], np.eye(3))
    >>> {name: kv.index_to_key for name, kv in shared_vocabulary({"a": a, "b": b}).items()}
    {'a': ['the', 'cat'], 'b': ['cat', 'the']}
    """
    from .vectors import keyed_vectors

    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> KeyedVectors, got {type(models).__name__}")
    for kv in models.values():
        _check_kv(kv)
    shared = set.intersection(*(set(kv.key_to_index) for kv in models.values()))
    if not shared:
        raise ValueError(f"the models {sorted(models)} share no word")
    restricted = {}
    for name, kv in models.items():
        words = [w for w in kv.index_to_key if w in shared]
        restricted[name] = keyed_vectors(words, kv[words], dtype=kv.vectors.dtype)
    return restricted


def compare_pair(kv_a: KeyedVectors, kv_b: KeyedVectors, names: tuple[str, str] = ("A", "B"),
                 benchmarks: dict[str, pd.DataFrame] | None = None, n_resamples: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """Two models on the same items of each benchmark, with a paired bootstrap interval of the difference.

    ``benchmarks`` maps a name to word pairs (columns ``word1``, ``word2``,
    ``score``: Spearman's rho) or analogy questions (``a``, ``b``, ``c``,
    ``d``: 3CosAdd accuracy); by default WordSim-353, SimLex-999 and the
    Google analogies. Each benchmark is scored on the items both models
    cover, and :func:`companion.uncertainty.paired_bootstrap` resamples those
    items for both models at once. An analogy's answer is searched among each
    model's own words, so give models with the same vocabulary
    (:func:`shared_vocabulary`) for a fair analogy comparison.

    Returns one row per benchmark: ``items``, the two scores (columns named
    by ``names``), ``difference`` (A - B), ``low``, ``high`` and ``verdict``
    (:func:`companion.uncertainty.describe_difference`'s). Explained in the
    chapter "Word2Vec" (``book/word2vec.ipynb``).
    """
    from .uncertainty import describe_difference, paired_bootstrap

    _check_kv(kv_a)
    _check_kv(kv_b)
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and names[0] != names[1]):
        raise ValueError(f"names must be two different labels, got {names!r}")
    if benchmarks is None:
        from .datasets import google_analogies, simlex999, wordsim353

        benchmarks = {"WordSim-353": wordsim353(), "SimLex-999": simlex999(), "Google analogies": google_analogies()}
    rows = []
    for bench, items in benchmarks.items():
        if {"word1", "word2", "score"} <= set(items.columns):
            both = items[items.word1.isin(kv_a.key_to_index) & items.word2.isin(kv_a.key_to_index)
                         & items.word1.isin(kv_b.key_to_index) & items.word2.isin(kv_b.key_to_index)]
            a, b = similarity_rows(kv_a, both), similarity_rows(kv_b, both)
            result = paired_bootstrap(a, b, statistic=spearman_of_rows, n_resamples=n_resamples, seed=seed)
            score_a, score_b = spearman_of_rows(a), spearman_of_rows(b)
        elif {"a", "b", "c", "d"} <= set(items.columns):
            answers_a, answers_b = analogy_accuracy(kv_a, items)["answers"], analogy_accuracy(kv_b, items)["answers"]
            common = answers_a.index.intersection(answers_b.index)
            a, b = answers_a[common].to_numpy(), answers_b[common].to_numpy()
            result = paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed)
            score_a, score_b = float(a.mean()), float(b.mean())
        else:
            raise ValueError(f"benchmark {bench!r} has columns {list(items.columns)}; it needs word1, word2, score "
                             "(word pairs) or a, b, c, d (analogies)")
        rows.append({"benchmark": bench, "items": len(a), names[0]: score_a, names[1]: score_b, **result,
                     "verdict": describe_difference(result, *names).split(": ")[-1]})
    return pd.DataFrame(rows).set_index("benchmark")
