"""companion.uncertainty against scipy.stats.bootstrap, by hand, and on bad input."""

import numpy as np
import pytest
from scipy import stats

from companion.uncertainty import bootstrap_interval, describe_difference, mcnemar_exact, paired_bootstrap


def _scipy_interval(data, statistic, paired=False):
    result = stats.bootstrap(data, statistic, n_resamples=20_000, method="percentile", paired=paired,
                             vectorized=False, rng=np.random.default_rng(1))
    return result.confidence_interval.low, result.confidence_interval.high


def test_interval_of_a_mean_agrees_with_scipy():
    x = np.random.default_rng(0).normal(0.5, 0.2, size=200)
    ours = bootstrap_interval(x, n_resamples=20_000)
    low, high = _scipy_interval((x,), np.mean)
    assert ours["estimate"] == pytest.approx(x.mean())
    # two Monte Carlo estimates of the same quantiles: within a small share of the interval's width
    width = high - low
    assert abs(ours["low"] - low) < 0.03 * width and abs(ours["high"] - high) < 0.03 * width


def test_paired_difference_agrees_with_scipy_paired():
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.72
    b = a.copy()
    flip = rng.choice(300, size=40, replace=False)
    b[flip] = ~b[flip]
    ours = paired_bootstrap(a, b, n_resamples=20_000)
    low, high = _scipy_interval((a.astype(float), b.astype(float)), lambda u, v: u.mean() - v.mean(), paired=True)
    width = high - low
    assert ours["difference"] == pytest.approx(a.mean() - b.mean())
    assert abs(ours["low"] - low) < 0.05 * width and abs(ours["high"] - high) < 0.05 * width


def test_pairing_narrows_the_interval():
    """Two systems that share most of their errors: the paired interval is much narrower than
    the one an unpaired comparison of two independent samples would give."""
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.7
    b = a.copy()
    b[:12] = ~b[:12]
    paired = paired_bootstrap(a, b)
    unpaired_low, unpaired_high = _scipy_interval((a.astype(float), b.astype(float)),
                                                  lambda u, v: u.mean() - v.mean(), paired=False)
    assert (paired["high"] - paired["low"]) < 0.5 * (unpaired_high - unpaired_low)


def test_a_statistic_of_rows_spearman_over_word_pairs():
    rng = np.random.default_rng(0)
    human = rng.random(150)
    model_a = human + rng.normal(0, 0.2, 150)
    model_b = human + rng.normal(0, 0.6, 150)

    def spearman(rows):
        return stats.spearmanr(rows[:, 0], rows[:, 1]).statistic

    rows_a, rows_b = np.column_stack([human, model_a]), np.column_stack([human, model_b])
    result = paired_bootstrap(rows_a, rows_b, statistic=spearman, n_resamples=500)
    assert result["difference"] == pytest.approx(spearman(rows_a) - spearman(rows_b))
    assert 0 < result["low"] < result["difference"] < result["high"]
    single = bootstrap_interval(rows_a, statistic=spearman, n_resamples=500)
    assert single["low"] < spearman(rows_a) < single["high"] <= 1


def test_seeded_and_same_as_drawing_all_resamples_at_once():
    x = np.random.default_rng(3).random(50)
    assert bootstrap_interval(x, seed=7) == bootstrap_interval(x, seed=7)
    assert bootstrap_interval(x, seed=7) != bootstrap_interval(x, seed=8)
    idx = np.random.default_rng(7).integers(0, 50, size=(2000, 50))  # one draw of every resample
    low, high = np.quantile(x[idx].mean(axis=1), [0.025, 0.975])
    result = bootstrap_interval(x, seed=7)
    assert (result["low"], result["high"]) == (low, high)


def test_mcnemar_by_hand_and_against_scipy_binomtest():
    a = np.array([1] * 10 + [0] * 2 + [1] * 50)
    b = np.array([0] * 10 + [1] * 2 + [1] * 50)
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (10, 2)
    assert result["p_value"] == pytest.approx(stats.binomtest(2, 12, 0.5).pvalue)
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_describe_difference_reads_the_interval():
    assert describe_difference({"difference": 0.05, "low": 0.01, "high": 0.09}).endswith("A is higher")
    assert describe_difference({"difference": -0.05, "low": -0.09, "high": -0.01}).endswith("B is higher")
    assert "no measurable difference" in describe_difference({"difference": 0.0, "low": -0.01, "high": 0.02})


@pytest.mark.parametrize("call, message", [
    (lambda: paired_bootstrap([1, 0, 1], [1, 0]), "same items, got 3 and 2"),
    (lambda: paired_bootstrap([], []), "non-empty"),
    (lambda: paired_bootstrap([1, np.nan], [1, 0]), "finite numbers"),
    (lambda: paired_bootstrap(["a"], ["b"]), "finite numbers"),
    (lambda: bootstrap_interval([1, 0], confidence=95), "between 0 and 1"),
    (lambda: bootstrap_interval([1, 0], n_resamples=0), "n_resamples must be a positive integer, got 0"),
    (lambda: bootstrap_interval([1, 0], seed=-1), "seed must be a non-negative integer"),
    (lambda: mcnemar_exact([1, 2], [1, 0]), "booleans"),
    (lambda: describe_difference({"difference": 0.1}), "missing \\['high', 'low'\\]"),
])
def test_bad_input_names_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()
