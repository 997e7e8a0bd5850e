"""Tests of companion.evaluation against gensim's evaluate_word_pairs / evaluate_word_analogies."""

import numpy as np
import pandas as pd
import pytest

from companion.assets import asset_path
from companion.datasets import google_analogies, simlex999, wordsim353
from companion.evaluation import analogy_accuracy, compare_pair, shared_vocabulary, word_similarity
from companion.models import load_glove
from companion.vectors import keyed_vectors


@pytest.fixture(scope="module")
def random_kv():
    rng = np.random.default_rng(0)
    words = [f"w{i:03d}" for i in range(200)]
    return keyed_vectors(words, rng.normal(size=(200, 20)))


@pytest.fixture(scope="module")
def random_pairs():
    rng = np.random.default_rng(1)
    names = [f"w{i:03d}" for i in range(200)] + [f"oov{i}" for i in range(20)]
    pairs = pd.DataFrame({"word1": rng.choice(names, 150), "word2": rng.choice(names, 150)})
    pairs["score"] = rng.uniform(0, 10, size=150).round(2)
    return pairs


def write_pairs(pairs, path):
    pairs[["word1", "word2", "score"]].to_csv(path, sep="\t", header=False, index=False)
    return str(path)


def write_analogies(analogies, path):
    lines = []
    for section, group in analogies.groupby("section", sort=False):
        lines.append(f": {section}")
        lines += [" ".join(row) for row in group[["a", "b", "c", "d"]].itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# --------------------------------------------------------------------------- word similarity


@pytest.mark.parametrize("restrict_vocab", [None, 120])
def test_word_similarity_equals_gensim_on_random_vectors(random_kv, random_pairs, restrict_vocab, tmp_path):
    ours = word_similarity(random_kv, random_pairs, restrict_vocab=restrict_vocab)
    _, (rho, _), oov_percent = random_kv.evaluate_word_pairs(
        write_pairs(random_pairs, tmp_path / "pairs.tsv"), restrict_vocab=restrict_vocab or 300000, dummy4unknown=False
    )
    assert ours["spearman"] == pytest.approx(rho, abs=1e-9)
    assert 100 * ours["oov_pairs"] / ours["pairs_total"] == pytest.approx(oov_percent)
    assert ours["pairs_used"] + ours["oov_pairs"] == ours["pairs_total"] == 150
    assert 0 < ours["oov_pairs"] < 150


@pytest.mark.parametrize("name, loader", [("wordsim353", wordsim353), ("simlex999", simlex999)])
def test_word_similarity_equals_gensim_on_glove(name, loader):
    glove = load_glove()
    ours = word_similarity(glove, loader())
    _, (rho, _), oov_percent = glove.evaluate_word_pairs(str(asset_path(name)), restrict_vocab=len(glove), dummy4unknown=False)
    assert ours["spearman"] == pytest.approx(rho, abs=1e-6)
    assert 100 * ours["oov_pairs"] / ours["pairs_total"] == pytest.approx(oov_percent)


def test_word_similarity_reports_oov_pairs_by_hand():
    kv = keyed_vectors(["cat", "dog", "car", "bus"], np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]))
    pairs = pd.DataFrame(
        {
            "word1": ["cat", "cat", "car", "cat", "emu"],
            "word2": ["dog", "car", "bus", "bus", "yak"],
            "score": [9.0, 1.0, 8.0, 2.0, 5.0],
        }
    )
    result = word_similarity(kv, pairs)
    # cosines: cat-dog 0.8, cat-car 0.0, car-bus 0.8, cat-bus 0.6; gold ranks 4, 1, 3, 2
    # model ranks 3.5, 1, 3.5, 2 -> Spearman = Pearson of the ranks
    gold, model = np.array([4, 1, 3, 2.0]), np.array([3.5, 1, 3.5, 2])
    expected = np.corrcoef(gold, model)[0, 1]
    assert result["spearman"] == pytest.approx(expected)
    assert (result["pairs_used"], result["pairs_total"], result["oov_pairs"]) == (4, 5, 1)
    assert result["oov_words"] == ["emu", "yak"] and result["coverage"] == pytest.approx(0.8)


# --------------------------------------------------------------------------- analogies


@pytest.fixture(scope="module")
def planted():
    """Pairs (x_i, y_i) with y_i = x_i + offset + noise, so x_i : y_i :: x_j : y_j holds only sometimes."""
    rng = np.random.default_rng(2)
    n, dim = 60, 16
    x = rng.normal(size=(n, dim))
    y = x + 1.5 * rng.normal(size=dim) + 0.9 * rng.normal(size=(n, dim))
    words = [f"x{i:02d}" for i in range(n)] + [f"y{i:02d}" for i in range(n)]
    kv = keyed_vectors(words, np.vstack([x, y]))
    rows = []
    for i in range(n):
        for j in rng.choice(n, size=5, replace=False):
            if i != j:
                rows.append(("pairs", f"x{i:02d}", f"y{i:02d}", f"x{j:02d}", f"y{j:02d}"))
    rows += [("missing", "x00", "y00", "zzz", "y01"), ("missing", "x00", "y00", "x01", "qqq")]
    return kv, pd.DataFrame(rows, columns=["section", "a", "b", "c", "d"])


@pytest.mark.parametrize("restrict_vocab", [None, 90])
def test_3cosadd_equals_gensim(planted, restrict_vocab, tmp_path):
    kv, analogies = planted
    ours = analogy_accuracy(kv, analogies, method="3cosadd", restrict_vocab=restrict_vocab)
    score, sections = kv.evaluate_word_analogies(
        write_analogies(analogies, tmp_path / "q.txt"), restrict_vocab=restrict_vocab or 300000, dummy4unknown=False
    )
    total = sections[-1]
    assert 0.1 < ours["accuracy"] < 0.9, "the planted structure should make the test informative"
    assert ours["accuracy"] == pytest.approx(score)
    assert ours["correct"] == len(total["correct"])
    assert ours["questions_used"] == len(total["correct"]) + len(total["incorrect"])
    assert ours["oov_questions"] == ours["questions_total"] - ours["questions_used"] >= 2
    # the per-question answers are gensim's: right exactly on the questions it lists as correct
    gensim_right = {tuple(w.lower() for w in q) for q in total["correct"]}  # gensim upper-cases them
    words = analogies.loc[ours["answers"].index, ["a", "b", "c", "d"]].itertuples(index=False)
    assert [tuple(q) in gensim_right for q in words] == ours["answers"].tolist()


def test_shared_vocabulary_makes_coverage_and_candidates_equal(planted):
    kv, analogies = planted
    words = kv.index_to_key
    small = keyed_vectors(words[::-1][: len(words) // 2] + ["extra"], np.ones((len(words) // 2 + 1, 2)))
    shared = shared_vocabulary({"big": kv, "small": small})
    assert set(shared["big"].index_to_key) == set(shared["small"].index_to_key) == set(words[len(words) // 2:])
    assert shared["big"].index_to_key == [w for w in words if w in set(words[len(words) // 2:])]  # order kept
    np.testing.assert_array_equal(shared["big"][shared["big"].index_to_key], kv[shared["big"].index_to_key])
    a, b = (analogy_accuracy(shared[m], analogies) for m in ("big", "small"))
    assert a["answers"].index.equals(b["answers"].index) and a["questions_used"] < len(analogies)
    with pytest.raises(ValueError, match="share no word"):
        shared_vocabulary({"a": keyed_vectors(["x"], np.ones((1, 2))), "b": keyed_vectors(["y"], np.ones((1, 2)))})
    with pytest.raises(ValueError, match="non-empty dict"):
        shared_vocabulary({})


def test_3cosmul_equals_gensim_most_similar_cosmul(planted):
    kv, analogies = planted
    ours = analogy_accuracy(kv, analogies, method="3cosmul", epsilon=1e-6)
    covered = analogies[analogies[["a", "b", "c", "d"]].isin(kv.index_to_key).all(axis=1)]
    hits = [
        kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] == d
        for a, b, c, d in covered[["a", "b", "c", "d"]].itertuples(index=False)
    ]
    assert ours["questions_used"] == len(covered)
    assert ours["correct"] == sum(hits)
    assert 0.1 < ours["accuracy"] < 0.9


def test_3cosadd_equals_gensim_on_glove(tmp_path):
    glove = load_glove()
    questions = google_analogies()
    sample = questions.groupby("section", sort=False).head(60)  # 60 questions of each of the 14 sections
    ours = analogy_accuracy(glove, sample, restrict_vocab=30000)
    score, sections = glove.evaluate_word_analogies(write_analogies(sample, tmp_path / "q.txt"), restrict_vocab=30000)
    assert ours["accuracy"] == pytest.approx(score)
    assert ours["questions_used"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    by_section = ours["by_section"].set_index("section")
    for section in sections[:-1]:
        assert by_section.loc[section["section"], "correct"] == len(section["correct"])


def test_analogy_by_hand():
    # unit vectors: king - man + woman = (0.707, 0.707) - (1, 0) + (0.100, 0.995) = (-0.193, 1.702),
    # cosine 0.99 with queen (0.050, 0.999) and negative with apple (0.707, -0.707): queen wins.
    # 3CosMul: s = (1 + cos) / 2; queen 0.871 * 0.999 / 0.525 = 1.66 > apple 0.5 * 0.18 / 0.85 = 0.11.
    kv = keyed_vectors(
        ["man", "king", "woman", "queen", "apple"],
        np.array([[1.0, 0.0], [1.0, 1.0], [0.1, 1.0], [0.1, 2.0], [1.0, -1.0]]),
    )
    questions = pd.DataFrame([("man", "king", "woman", "queen"), ("man", "king", "woman", "apple")], columns=list("abcd"))
    for method in ("3cosadd", "3cosmul"):
        result = analogy_accuracy(kv, questions, method=method)
        assert (result["correct"], result["questions_used"], result["accuracy"]) == (1, 2, 0.5)
        assert result["by_section"] is None


def test_words_sharing_a_vector_tie_and_the_first_wins_whatever_the_rounding():
    """spaCy maps many keys to one vector: such words tie exactly, and the first of them in the
    vocabulary is the answer, on every CPU (each distinct vector is scored once)."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 20))
    answer = base[0] - base[1] + base[2]  # a vector that is the best 3CosAdd candidate for (1 : 0 :: 2 : ?)
    vectors = np.vstack([base, answer, answer * 3.0, rng.normal(size=(50, 20))])
    # rows 300 ("first") and 301 ("second") have the same direction; row 301 is the same after normalising
    words = [f"w{i}" for i in range(300)] + ["first", "second"] + [f"x{i}" for i in range(50)]
    kv = keyed_vectors(words, vectors)
    for d, expected in (("first", 1), ("second", 0)):
        questions = pd.DataFrame([("w1", "w0", "w2", d)], columns=list("abcd"))
        for method in ("3cosadd", "3cosmul"):
            assert analogy_accuracy(kv, questions, method=method)["correct"] == expected, (d, method)
    # exact duplicate rows at scattered positions: the answer is the same as with the duplicates removed
    duplicated = keyed_vectors(words + ["w0copy", "firstcopy"], np.vstack([vectors, base[0], answer]))
    questions = pd.DataFrame([("w1", "w0", "w2", "first"), ("w3", "w4", "w5", "w6")], columns=list("abcd"))
    ours = analogy_accuracy(duplicated, questions)["answers"].tolist()
    assert ours == analogy_accuracy(kv, questions)["answers"].tolist()


# --------------------------------------------------------------------------- bad input


def test_bad_input(random_kv, random_pairs):
    with pytest.raises(TypeError, match="KeyedVectors"):
        word_similarity({"a": [1.0]}, random_pairs)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['score'\]"):
        word_similarity(random_kv, random_pairs[["word1", "word2"]])
    with pytest.raises(ValueError, match="only 0 of 1 pairs.*'zebra'"):
        word_similarity(random_kv, pd.DataFrame({"word1": ["zebra"], "word2": ["w001"], "score": [1.0]}))
    with pytest.raises(ValueError, match="restrict_vocab must be a positive integer"):
        word_similarity(random_kv, random_pairs, restrict_vocab=0)
    questions = pd.DataFrame([("w001", "w002", "w003", "w004")], columns=list("abcd"))
    with pytest.raises(ValueError, match="unknown method '3cosavg'.*3cosadd, 3cosmul"):
        analogy_accuracy(random_kv, questions, method="3cosavg")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['d'\]"):
        analogy_accuracy(random_kv, questions[["a", "b", "c"]])


def test_similarity_rows_and_spearman_of_rows_agree_with_word_similarity_and_scipy():
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    from companion.evaluation import similarity_rows, spearman_of_rows, word_similarity
    from companion.vectors import keyed_vectors

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    kv = keyed_vectors(words, rng.normal(size=(40, 8)).astype(np.float32))
    pairs = pd.DataFrame({"word1": rng.choice(words + ["oov"], 60), "word2": rng.choice(words, 60),
                          "score": rng.integers(0, 5, 60).astype(float)})  # integer scores: ties
    rows = similarity_rows(kv, pairs)
    assert len(rows) == word_similarity(kv, pairs)["pairs_used"]
    assert spearman_of_rows(rows) == pytest.approx(word_similarity(kv, pairs)["spearman"], abs=1e-12)
    assert spearman_of_rows(rows) == pytest.approx(spearmanr(rows[:, 0], rows[:, 1]).statistic, abs=1e-12)
    with pytest.raises(ValueError, match=r"\(n, 2\) array"):
        spearman_of_rows(np.ones((3, 3)))


def test_compare_pair_scores_both_models_on_the_same_items(planted, random_kv, random_pairs):
    kv, analogies = planted
    noisy = keyed_vectors(kv.index_to_key, kv.vectors + np.random.default_rng(0).normal(0, 0.3, kv.vectors.shape))
    table = compare_pair(kv, noisy, names=("clean", "noisy"), benchmarks={"analogies": analogies}, n_resamples=200)
    row = table.loc["analogies"]
    assert row["items"] == analogy_accuracy(kv, analogies)["questions_used"]
    assert row["clean"] == pytest.approx(analogy_accuracy(kv, analogies)["accuracy"])
    assert row["noisy"] == pytest.approx(analogy_accuracy(noisy, analogies)["accuracy"])
    assert row["difference"] == pytest.approx(row["clean"] - row["noisy"])
    assert row["low"] <= row["difference"] <= row["high"]
    # word pairs: only those both models cover, scored as word_similarity does on them
    half = keyed_vectors(random_kv.index_to_key[::2], random_kv.vectors[::2])
    table = compare_pair(random_kv, half, names=("all", "half"), benchmarks={"pairs": random_pairs}, n_resamples=200)
    covered = random_pairs[random_pairs.word1.isin(half.key_to_index) & random_pairs.word2.isin(half.key_to_index)]
    assert table.loc["pairs", "items"] == len(covered)
    assert table.loc["pairs", "all"] == pytest.approx(word_similarity(random_kv, covered)["spearman"])
    assert table.loc["pairs", "difference"] == 0 and table.loc["pairs", "verdict"] == "no measurable difference"
    with pytest.raises(ValueError, match="needs word1, word2, score"):
        compare_pair(kv, noisy, benchmarks={"odd": pd.DataFrame({"x": [1]})})
    with pytest.raises(ValueError, match="two different labels"):
        compare_pair(kv, noisy, names=("same", "same"))
