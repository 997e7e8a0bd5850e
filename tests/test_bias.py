"""Tests of companion.bias: WEAT against hand arithmetic and enumeration, hard-debias's neutralise step."""

from itertools import combinations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from companion.bias import association, gender_direction, neutralise, weat
from companion.vectors import keyed_vectors


@pytest.fixture
def tiny():
    # Attributes a = (1, 0), b = (0, 1). Every target's cosine with a is its x / |v| and with b its y / |v|.
    words = ["x1", "x2", "y1", "y2", "a", "b"]
    matrix = np.array([[2.0, 0.0], [3.0, 4.0], [0.0, 1.0], [0.8, 0.6], [1.0, 0.0], [0.0, 5.0]])
    return keyed_vectors(words, matrix, dtype=np.float64)


def test_weat_statistic_and_effect_size_by_hand(tiny):
    # s(x1) = 1 - 0 = 1; s(x2) = 0.6 - 0.8 = -0.2; s(y1) = 0 - 1 = -1; s(y2) = 0.8 - 0.6 = 0.2.
    # S = (1 - 0.2) - (-1 + 0.2) = 1.6.
    # Means 0.4 and -0.4; the four s have mean 0 and sum of squares 2.08, so std (ddof=1) = sqrt(2.08 / 3).
    result = weat(tiny, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"])
    assert result["statistic"] == pytest.approx(1.6)
    assert result["effect_size"] == pytest.approx(0.8 / np.sqrt(2.08 / 3))
    assert result["n_used"] == 6
    # The six partitions of {1, -0.2, -1, 0.2} into two pairs give S = 2 * sum(X_i) - 0:
    # 1.6, 0, 2.4, -2.4, 0, -1.6; two of six are >= 1.6.
    assert result["exact"] and result["n_partitions"] == 6
    assert result["p_value"] == pytest.approx(2 / 6)


def test_association_by_hand(tiny):
    np.testing.assert_allclose(association(tiny, ["x1", "x2", "y1", "y2"], ["a"], ["b"]), [1, -0.2, -1, 0.2], atol=1e-12)


def _enumerated_p_value(vectors, X, Y, A, B):
    def cos(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    def s(w):
        return np.mean([cos(vectors[w], vectors[a]) for a in A]) - np.mean([cos(vectors[w], vectors[b]) for b in B])

    def S(Xi, Yi):
        return sum(s(x) for x in Xi) - sum(s(y) for y in Yi)

    observed = S(X, Y)
    targets = X + Y
    stats = []
    for Xi in combinations(targets, len(X)):
        Yi = [w for w in targets if w not in Xi]
        stats.append(S(list(Xi), Yi))
    return np.mean(np.array(stats) >= observed - 1e-12), observed


def _random_kv(n_words, dim, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n_words)]
    return words, keyed_vectors(words, rng.normal(size=(n_words, dim)), dtype=np.float64)


def test_exact_p_value_matches_enumeration_of_all_partitions():
    words, kv = _random_kv(14, 6, seed=1)
    X, Y, A, B = words[:4], words[4:8], words[8:11], words[11:14]
    expected_p, expected_S = _enumerated_p_value({w: kv[w] for w in words}, X, Y, A, B)
    result = weat(kv, X, Y, A, B, n_permutations=10_000)
    assert result["exact"] and result["n_partitions"] == 70  # C(8, 4)
    assert result["p_value"] == pytest.approx(expected_p)
    assert result["statistic"] == pytest.approx(expected_S)


def test_random_permutations_approximate_the_exact_p_value():
    words, kv = _random_kv(24, 8, seed=2)
    X, Y, A, B = words[:7], words[7:14], words[14:19], words[19:24]
    exact = weat(kv, X, Y, A, B, n_permutations=5000)  # C(14, 7) = 3432 partitions: enumerated
    sampled = weat(kv, X, Y, A, B, n_permutations=3000, seed=0)
    assert exact["exact"] and not sampled["exact"]
    assert sampled["p_value"] == pytest.approx(exact["p_value"], abs=0.03)
    assert weat(kv, X, Y, A, B, n_permutations=3000, seed=0)["p_value"] == sampled["p_value"]


def test_planted_association_is_significant_and_random_one_is_not():
    rng = np.random.default_rng(3)
    dim, n = 20, 8
    a_centre, b_centre = rng.normal(size=dim), rng.normal(size=dim)
    A = a_centre + 0.3 * rng.normal(size=(n, dim))
    B = b_centre + 0.3 * rng.normal(size=(n, dim))
    X = a_centre + 0.5 * rng.normal(size=(n, dim))  # X planted near A, Y near B
    Y = b_centre + 0.5 * rng.normal(size=(n, dim))
    names = {k: [f"{k}{i}" for i in range(n)] for k in "XYAB"}
    words = sum((names[k] for k in "XYAB"), [])
    kv = keyed_vectors(words, np.vstack([X, Y, A, B]), dtype=np.float64)
    planted = weat(kv, names["X"], names["Y"], names["A"], names["B"], n_permutations=10_000, seed=0)
    assert not planted["exact"]  # C(16, 8) = 12870 > 10000
    assert planted["effect_size"] > 1.5
    assert planted["p_value"] < 0.001

    random_kv = keyed_vectors(words, rng.normal(size=(4 * n, dim)), dtype=np.float64)
    null = weat(random_kv, names["X"], names["Y"], names["A"], names["B"], n_permutations=10_000, seed=0)
    assert null["p_value"] > 0.05
    assert abs(null["effect_size"]) < 1.5


def test_swapping_targets_flips_the_sign(tiny):
    forward = weat(tiny, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"])
    backward = weat(tiny, ["y1", "y2"], ["x1", "x2"], ["a"], ["b"])
    assert backward["statistic"] == pytest.approx(-forward["statistic"])
    assert backward["effect_size"] == pytest.approx(-forward["effect_size"])


def test_weat_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match=r"X has 2 word\(s\) missing.*'nurse'.*'zebra'"):
        weat(tiny, ["zebra", "nurse"], ["y1", "y2"], ["a"], ["b"])
    with pytest.raises(ValueError, match="B has 1 word.*'family'"):
        weat(tiny, ["x1", "x2"], ["y1", "y2"], ["a"], ["family"])
    with pytest.raises(ValueError, match="same number of words, got 2 and 1"):
        weat(tiny, ["x1", "x2"], ["y1"], ["a"], ["b"])
    with pytest.raises(ValueError, match="n_permutations must be a positive integer"):
        weat(tiny, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"], n_permutations=0)
    with pytest.raises(ValueError, match="must not share"):
        weat(tiny, ["x1", "x2"], ["x1", "y2"], ["a"], ["b"])
    with pytest.raises(ValueError, match="A is empty"):
        weat(tiny, ["x1", "x2"], ["y1", "y2"], [], ["b"])


def test_gender_direction_of_one_pair_is_the_normalised_difference():
    kv = keyed_vectors(["he", "she"], np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]), dtype=np.float64)
    expected = np.array([0.6, 0.8, -1.0]) / np.sqrt(2.0)  # unit(he) - unit(she), normalised
    np.testing.assert_allclose(gender_direction(kv, [("he", "she")]), expected, atol=1e-12)
    np.testing.assert_allclose(gender_direction(kv, [("she", "he")]), -expected, atol=1e-12)


def test_gender_direction_matches_sklearn_pca():
    words, kv = _random_kv(10, 7, seed=4)
    pairs = [(words[i], words[i + 5]) for i in range(5)]
    unit = {w: kv[w] / np.linalg.norm(kv[w]) for w in words}
    rows = []
    for a, b in pairs:
        centre = (unit[a] + unit[b]) / 2
        rows += [unit[a] - centre, unit[b] - centre]
    component = PCA(n_components=1).fit(np.array(rows)).components_[0]
    ours = gender_direction(kv, pairs)
    assert np.linalg.norm(ours) == pytest.approx(1.0)
    assert abs(ours @ component) == pytest.approx(1.0, abs=1e-9)
    assert np.mean([unit[a] - unit[b] for a, b in pairs], axis=0) @ ours > 0


def test_gender_direction_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match="pairs is empty"):
        gender_direction(tiny, [])
    with pytest.raises(ValueError, match="exactly two words"):
        gender_direction(tiny, [("a", "b", "x1")])
    with pytest.raises(ValueError, match="'queen'"):
        gender_direction(tiny, [("a", "queen")])


def test_neutralise_zeroes_the_projection_and_keeps_the_rest():
    words, kv = _random_kv(12, 5, seed=5)
    before = kv.vectors.copy()
    d = np.random.default_rng(6).normal(size=5)
    unit_d = d / np.linalg.norm(d)
    chosen = words[:6]
    after = neutralise(kv, chosen, d)
    np.testing.assert_array_equal(kv.vectors, before)  # the input is not modified
    assert after is not kv and after.index_to_key == kv.index_to_key
    for w in words:
        v, v_new = kv[w], after[w]
        if w in chosen:
            assert abs(v_new @ unit_d) < 1e-6
            np.testing.assert_allclose(v_new, v - (v @ unit_d) * unit_d, atol=1e-6)
        else:
            np.testing.assert_array_equal(v_new, v)
        # the part orthogonal to d is the same before and after
        np.testing.assert_allclose(v_new - (v_new @ unit_d) * unit_d, v - (v @ unit_d) * unit_d, atol=1e-6)


def test_neutralise_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match="'doctor'"):
        neutralise(tiny, ["doctor", "a"], np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        neutralise(tiny, ["a"], np.array([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="non-zero"):
        neutralise(tiny, ["a"], np.zeros(2))
