"""How sure is a comparison? Bootstrap intervals and an exact test, the book's one set of them.

Every chapter that says "A scores higher than B" on a test set backs it with
one of these, computed in the notebook:

- :func:`bootstrap_interval`: a percentile bootstrap interval for one score
  (a mean of per-item scores by default, or any statistic of the items);
- :func:`paired_bootstrap`: an interval for the *difference* between two
  systems scored on the same items. Each resample draws items with
  replacement, the same items for both systems, which removes the variation
  that the items share (an easy test set is easy for both);
- :func:`mcnemar_exact`: McNemar's exact test for two classifiers' accuracy on
  the same items, from the items where exactly one of them is right;
- :func:`describe_difference`: the sentence the book writes from an interval:
  a difference when the interval excludes zero, "no measurable difference"
  when it does not.

The statistic may be any function of the resampled items, so the same code
gives intervals for a Spearman correlation over word pairs (resample pairs) as
for an accuracy over test snippets. All functions are seeded: the same call
gives the same interval on every run. :func:`bootstrap_interval` and
:func:`paired_bootstrap` agree with ``scipy.stats.bootstrap`` (percentile
method, ``paired=True``) within Monte Carlo error; the tests check it.

Explained in the chapter "Sentiment analysis" (``book/sentiment-analysis.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.uncertainty import paired_bootstrap, describe_difference
>>> a = np.array([1] * 70 + [0] * 30)  # system A right on 70 of 100 items
>>> b = np.array([1] * 66 + [0] * 34)  # system B right on 66 of them, all shared with A
>>> result = paired_bootstrap(a, b)
>>> round(result["difference"], 2), result["low"] > 0
(0.04, True)
>>> describe_difference(result, "A", "B")
'A - B = +0.040, 95% interval [+0.010, +0.080]: A is higher'
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["bootstrap_interval", "paired_bootstrap", "mcnemar_exact", "check_flags", "describe_difference",
           "resample_indices"]

_CHUNK = 200  # resamples drawn at a time: bounds the memory, keeps the random stream the same


def _check_options(n_resamples, confidence, seed) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (0.95 for 95%), got {confidence!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def resample_indices(n_items: int, n_resamples: int = 2000, seed: int = 0):
    """Yield arrays of bootstrap indices, ``_CHUNK`` resamples of ``n_items`` indices at a time.

    >>> chunks = list(resample_indices(5, n_resamples=450, seed=0))
    >>> [c.shape for c in chunks]
    [(200, 5), (200, 5), (50, 5)]
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    _check_options(n_resamples, 0.95, seed)
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, _CHUNK):
        yield rng.integers(0, n_items, size=(min(_CHUNK, n_resamples - start), n_items))


def _as_items(name: str, values) -> np.ndarray:
    x = np.asarray(values)
    if x.dtype == bool:
        x = x.astype(np.int8)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty array of per-item scores, got {values!r}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x.astype(np.float64)).all():
        raise ValueError(f"{name} must hold finite numbers (one score per item), got dtype {x.dtype}")
    return x


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return float(low), float(high)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x.mean(axis=axis)


def bootstrap_interval(values, statistic: Callable | None = None, n_resamples: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """``estimate``, ``low`` and ``high``: ``statistic`` of the items and a percentile bootstrap interval.

    ``values`` holds one row per item (a 1-d array of per-item scores, or a 2-d
    array whose rows are items, e.g. a column of human scores beside a column
    of model scores). ``statistic`` maps such rows to a number; the default is
    the mean over items. A vectorised statistic may accept a stack of
    resamples (``axis=-1`` for 1-d items) and is then called once per chunk;
    any other is called once per resample.

    >>> bootstrap_interval([1, 0, 1, 1])["estimate"]
    0.75
    """
    _check_options(n_resamples, confidence, seed)
    x = _as_items("values", values)
    if statistic is None:
        estimate = float(x.mean())
        samples = np.concatenate([x[idx].mean(axis=1) for idx in resample_indices(len(x), n_resamples, seed)])
    else:
        estimate = float(statistic(x))
        samples = np.array([statistic(x[row]) for idx in resample_indices(len(x), n_resamples, seed) for row in idx],
                           dtype=np.float64)
    low, high = _percentiles(samples, confidence)
    return {"estimate": estimate, "low": low, "high": high}


def paired_bootstrap(scores_a, scores_b, statistic: Callable | None = None, n_resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Interval for ``statistic(A) - statistic(B)`` over the same items, resampled together.

    ``scores_a[i]`` and ``scores_b[i]`` are the two systems' scores on item
    ``i`` (booleans "was it right?" give accuracy; ROUGE per summary gives mean
    ROUGE). ``statistic`` (default: the mean) maps a system's items to its
    score; for a statistic that needs more than the scores (a Spearman
    correlation with human ratings, say), give rows with several columns and a
    statistic of those rows. Returns ``difference`` (on all items), ``low`` and
    ``high`` (percentile method).

    >>> paired_bootstrap([1, 1, 0], [1, 1, 0])
    {'difference': 0.0, 'low': 0.0, 'high': 0.0}
    """
    _check_options(n_resamples, confidence, seed)
    a = _as_items("scores_a", scores_a)
    b = _as_items("scores_b", scores_b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"scores_a and scores_b must score the same items, got {a.shape[0]} and {b.shape[0]} items")
    if statistic is None:
        if a.ndim != 1 or b.ndim != 1:
            raise ValueError("with the default statistic (the mean), scores_a and scores_b must be 1-d")
        delta = a.astype(np.float64) - b.astype(np.float64)
        difference = float(delta.mean())
        samples = np.concatenate([delta[idx].mean(axis=1) for idx in resample_indices(len(delta), n_resamples, seed)])
    else:
        difference = float(statistic(a) - statistic(b))
        samples = np.array([statistic(a[row]) - statistic(b[row])
                            for idx in resample_indices(len(a), n_resamples, seed) for row in idx], dtype=np.float64)
    low, high = _percentiles(samples, confidence)
    return {"difference": difference, "low": low, "high": high}


def mcnemar_exact(correct_a, correct_b) -> dict[str, float]:
    """McNemar's exact test: do classifiers A and B have the same accuracy on these items?

    Only the items where they disagree carry information: ``only_a`` (A right,
    B wrong) and ``only_b``. Under the null hypothesis each disagreement is a
    fair coin flip, so ``only_a`` follows Binomial(only_a + only_b, 1/2); the
    two-sided p-value is twice the smaller tail, capped at 1.

    >>> mcnemar_exact([1, 1, 1, 0], [0, 0, 1, 0])
    {'only_a': 2, 'only_b': 0, 'p_value': 0.5}
    """
    from scipy.stats import binom

    a, b = check_flags(correct_a, correct_b)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    n = only_a + only_b
    p_value = 1.0 if n == 0 else min(1.0, 2 * float(binom.cdf(min(only_a, only_b), n, 0.5)))
    return {"only_a": only_a, "only_b": only_b, "p_value": p_value}


def check_flags(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    """Two right/wrong arrays over the same items, as booleans; a clear error otherwise.

    >>> check_flags([1, 0], [True, True])[0]
    array([ True, False])
    """
    a, b = np.asarray(correct_a), np.asarray(correct_b)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"correct_a and correct_b must be non-empty 1-d arrays of the same length, "
                         f"got shapes {a.shape} and {b.shape}")
    for name, x in (("correct_a", a), ("correct_b", b)):
        if not np.isin(x, [0, 1]).all():
            raise ValueError(f"{name} must hold booleans (was each prediction right?), got values {np.unique(x)[:5]}")
    return a.astype(bool), b.astype(bool)


def describe_difference(result: dict, name_a: str = "A", name_b: str = "B", digits: int = 3,
                        confidence: float = 0.95) -> str:
    """The book's sentence for a :func:`paired_bootstrap` result.

    >>> describe_difference({"difference": 0.01, "low": -0.02, "high": 0.04}, "MiniLM", "BM25")
    'MiniLM - BM25 = +0.010, 95% interval [-0.020, +0.040]: no measurable difference'
    """
    missing = {"difference", "low", "high"} - set(result)
    if missing:
        raise ValueError(f"result needs the keys difference, low and high (from paired_bootstrap); missing {sorted(missing)}")
    if result["low"] > 0:
        verdict = f"{name_a} is higher"
    elif result["high"] < 0:
        verdict = f"{name_b} is higher"
    else:
        verdict = "no measurable difference"
    f = f"+.{digits}f"
    return (f"{name_a} - {name_b} = {result['difference']:{f}}, {confidence:.0%} interval "
            f"[{result['low']:{f}}, {result['high']:{f}}]: {verdict}")
