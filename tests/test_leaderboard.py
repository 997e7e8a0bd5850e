"""The mini-MTEB harness: metrics on hand-computed cases, each task type on toy data, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from companion import cache

from companion import leaderboard as lb
from companion.vectors import keyed_vectors


def _toy_kv():
    return keyed_vectors(["cat", "dog", "car", "bus"], [[1.0, 0.1], [0.9, 0.3], [0.1, 1.0], [0.2, 0.9]])


def test_mrr_and_ndcg_by_hand():
    ranks = np.array([1, 2, 4, 11])
    assert lb.mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 11) / 4)
    # nDCG@10 with one relevant document: 1/log2(rank+1), zero past the cut-off
    assert lb.ndcg_at_k(ranks, 10) == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(5) + 0) / 4)
    assert lb.ndcg_at_k(ranks, 1) == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [[], [0, 1], [1.5]])
def test_rank_metrics_reject_bad_ranks(bad):
    with pytest.raises(ValueError, match="rank"):
        lb.mean_reciprocal_rank(np.array(bad))


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_ndcg_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        lb.ndcg_at_k(np.array([1]), k)


def test_relevant_ranks_match_a_brute_force_sort():
    rng = np.random.default_rng(0)
    Q, D = rng.normal(size=(20, 5)), rng.normal(size=(30, 5))
    relevant = rng.integers(0, 30, size=20)
    ranks = lb.relevant_ranks(Q, D, relevant)
    cos = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (D / np.linalg.norm(D, axis=1, keepdims=True)).T
    expected = [1 + list(np.argsort(-row)).index(r) for row, r in zip(cos, relevant)]
    assert ranks.tolist() == expected


def test_ties_count_against_the_relevant_document():
    # a model that gives every document the same vector must not be rewarded with rank 1
    ranks = lb.relevant_ranks(np.ones((2, 3)), np.ones((5, 3)), [0, 4])
    assert ranks.tolist() == [5, 5]


def test_relevant_ranks_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        lb.relevant_ranks(np.ones((1, 2)), np.ones((3, 2)), [3])


def test_static_model_is_gensims_unnormalised_mean():
    kv = _toy_kv()
    model = lb.static_model("toy", kv)
    got = model.encode(["the cat and the dog", "a bus"])
    np.testing.assert_allclose(got[0], kv.get_mean_vector(["cat", "dog"], pre_normalize=False), rtol=1e-6)
    np.testing.assert_allclose(got[1], kv["bus"], rtol=1e-6)


def test_wrong_dimension_is_reported_with_the_model_name():
    model = lb.EmbeddingModel("broken", 3, lambda texts: np.zeros((len(texts), 2)))
    with pytest.raises(ValueError, match=r"broken.*\(1, 2\).*expected \(1, 3\)"):
        model.encode(["hello"])


def test_wrong_number_of_rows_and_nan_are_reported():
    short = lb.EmbeddingModel("short", 2, lambda texts: np.zeros((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        short.encode(["a", "b"])
    nan = lb.EmbeddingModel("nan", 2, lambda texts: np.full((len(texts), 2), np.nan))
    with pytest.raises(ValueError, match="non-finite"):
        nan.encode(["a"])


def test_empty_inputs_are_rejected():
    model = lb.static_model("toy", _toy_kv())
    with pytest.raises(ValueError, match="no tasks"):
        lb.evaluate(model, [])
    with pytest.raises(ValueError, match="empty list"):
        model.encode([])
    with pytest.raises(ValueError, match="non-empty DataFrame"):
        lb.leaderboard(pd.DataFrame())


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid names are: tfidf"):
        lb.load_model("bert-large")
    with pytest.raises(ValueError, match="valid families"):
        lb.Task("x", "reranking", "MAP", lambda m: {"score": 0.0})
    with pytest.raises(ValueError, match="valid sizes"):
        lb.default_tasks("huge")
    with pytest.raises(ValueError, match="valid names are"):
        lb.run_models(["glove-6b-50d", "elmo"])
    with pytest.raises(ValueError, match="no models"):
        lb.run_models([])


def test_each_task_type_on_toy_data_where_the_answer_is_known():
    model = lb.static_model("toy", _toy_kv())
    animals, vehicles = ["cat", "dog", "cat dog"], ["car", "bus", "car bus"]
    tasks = [
        lb._split_classification_task("cls", animals + vehicles, [0, 0, 0, 1, 1, 1], ["dog cat", "bus car"], [0, 1]),
        lb._clustering_task("clu", animals + vehicles, ["a", "a", "a", "v", "v", "v"]),
        lb._retrieval_task("ret", ["cat", "bus"], ["dog", "car"]),
    ]
    scores = lb.evaluate(model, tasks).set_index("task")["score"]
    assert scores["cls"] == 1.0 and scores["clu"] == pytest.approx(1.0) and scores["ret"] == 1.0


def test_sts_task_is_spearman_of_cosines_against_people():
    kv = keyed_vectors(["a", "b", "c"], [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    # cosines: (a,b)=0.8, (a,c)=0, (b,c)=0.6; human scores in the same order give rho = 1, reversed -1
    human = np.array([[1, 0.9, 0.1], [0.9, 1, 0.5], [0.1, 0.5, 1]])
    task = lb._sts_task(["a", "b", "c"], human)
    assert task.run(lb.static_model("toy", kv))["score"] == pytest.approx(1.0)
    task = lb._sts_task(["a", "b", "c"], 1 - human)
    assert task.run(lb.static_model("toy", kv))["score"] == pytest.approx(-1.0)


def test_word_task_counts_unknown_pairs_as_failures():
    pairs = pd.DataFrame({"word1": ["cat", "cat", "car", "cat"], "word2": ["dog", "car", "bus", "zebra"],
                          "score": [9.0, 1.0, 8.0, 5.0]})
    result = lb._word_similarity_task("toy", pairs).run(lb.static_model("toy", _toy_kv()))
    assert result["coverage"] == 0.75
    assert result["score"] == pytest.approx(0.75 * result["spearman_known"])


def test_a_model_without_word_vectors_is_missing_not_zero():
    bow = lb.EmbeddingModel("bow", 2, lambda texts: np.ones((len(texts), 2)), word_tasks=False)
    pairs = pd.DataFrame({"word1": ["cat"], "word2": ["dog"], "score": [9.0]})
    assert lb._word_similarity_task("toy", pairs).run(bow)["score"] is None


def test_leaderboard_averages_over_what_each_model_did():
    rows = pd.DataFrame({
        "model": ["A", "A", "A", "B", "B", "B"],
        "task": ["s1", "s2", "r", "s1", "s2", "r"],
        "family": ["word sim", "word sim", "retrieval"] * 2,
        "score": [0.2, 0.4, 0.9, None, None, 0.6],
    })
    table = lb.leaderboard(rows)
    assert table.loc["A", "mean (tasks)"] == pytest.approx(0.5)         # (0.2 + 0.4 + 0.9) / 3
    assert table.loc["A", "mean (families)"] == pytest.approx(0.6)      # (0.3 + 0.9) / 2
    assert table.loc["B", "mean (tasks)"] == pytest.approx(0.6) and table.loc["B", "tasks"] == 1
    assert list(table.index) == ["B", "A"]  # the average over fewer tasks can rank a model first


@pytest.mark.slow
def test_command_writes_json_and_markdown(tmp_path, tmp_cache):
    assert lb.main(["--models", "glove-6b-50d", "--out", str(tmp_path)]) == 0
    assert cache.artifact_path("leaderboard/glove-6b-50d-small.pkl", "leaderboard").is_file()  # a second run only reads it
    payload = json.loads((tmp_path / "leaderboard.json").read_text())
    assert {r["task"] for r in payload["results"]} == {t.name for t in lb.default_tasks()}
    assert "GloVe 6B-50d" in (tmp_path / "leaderboard.md").read_text()
    # GloVe 6B-50d's WordSim-353 Spearman is about 0.50 (ASSETS.md); nearly all pairs are covered
    ws = next(r for r in payload["results"] if r["task"] == "WordSim-353")
    assert 0.4 < ws["score"] < 0.6


def test_command_all_runs_the_slow_models_too(monkeypatch, tmp_path):
    seen = []

    class Stop(Exception):
        pass

    def fake_run_models(names, tasks=None, size="small"):
        seen.extend(names)
        raise Stop  # the models themselves are not run: only which ones the command asks for

    monkeypatch.setattr(lb, "run_models", fake_run_models)
    with pytest.raises(Stop):
        lb.main(["--out", str(tmp_path)])
    assert seen == lb.available_models() and not set(seen) & set(lb.SLOW_MODELS)
    seen.clear()
    with pytest.raises(Stop):
        lb.main(["--all", "--out", str(tmp_path)])
    assert seen == lb.available_models(include_slow=True) and set(lb.SLOW_MODELS) <= set(seen)


def test_read_report_checks_the_file_against_fresh_rows(tmp_path):
    import pandas as pd

    rows = [{"model": "A", "task": "t1", "score": 0.5}, {"model": "A", "task": "t2", "score": None},
            {"model": "Slow", "task": "t1", "score": 0.75}]
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps({"size": "small", "results": rows}))
    # 0.5009 would print as 0.501 on one machine where the file says 0.500: one unit of the
    # printed third decimal is within the default tolerance
    here = pd.DataFrame({"model": ["A", "A"], "task": ["t1", "t2"], "score": [0.5009, float("nan")]})
    stored = lb.read_report(path, check_against=here)
    assert stored.loc[stored["model"] == "Slow", "score"].item() == 0.75
    # a score that moved by more than a unit of the third decimal: a stale file
    with pytest.raises(ValueError, match=r"'A' on 't1': 0.5000 in the file, 0.5015 here"):
        lb.read_report(path, check_against=here.assign(score=[0.5015, float("nan")]))
    # a stricter tolerance when asked
    with pytest.raises(ValueError, match="more than 0.0001 in 1 place"):
        lb.read_report(path, check_against=here, atol=1e-4)
    # every difference is named, not only the first: a task the model could not do in the
    # file but can here, and a model missing from the file
    many = pd.DataFrame({"model": ["A", "A", "B"], "task": ["t1", "t2", "t1"], "score": [0.6, 0.3, 0.5]})
    with pytest.raises(ValueError, match=r"in 3 place\(s\): 'A' on 't1'.*'A' on 't2'.*'B' on 't1': no score in the file"):
        lb.read_report(path, check_against=many)
    with pytest.raises(ValueError, match="atol must be"):
        lb.read_report(path, check_against=here, atol=-1)
    with pytest.raises(FileNotFoundError, match="make leaderboard"):
        lb.read_report(tmp_path / "missing.json")
    path.write_text(json.dumps({"size": "small", "results": []}))
    with pytest.raises(ValueError, match="no result rows"):
        lb.read_report(path)
    path.write_text('{"size": "small", "results": [')  # cut off mid-write
    with pytest.raises(ValueError, match="not valid JSON.*make leaderboard"):
        lb.read_report(path)


def test_the_committed_report_holds_every_model_on_every_task():
    stored = lb.read_report()  # reports/leaderboard.json, which the chapter reads
    assert stored["model"].nunique() == len(lb.available_models(include_slow=True))
    assert (stored.groupby("model")["task"].nunique() == stored["task"].nunique()).all()
    assert "Gemma 3 270M (mean of last layer)" in set(stored["model"])  # the row the chapter takes from it


def test_majority_baseline_by_hand_and_bad_input():
    # 3 of 4 are "d": accuracy 0.75; F1 of "d" = 2 * 0.75 * 1 / 1.75 = 6/7, of "r" = 0
    result = lb.majority_baseline(["d", "r", "d", "d"])
    assert result["majority"] == "d" and result["accuracy"] == 0.75
    assert result["macro_f1"] == pytest.approx(3 / 7, abs=1e-4)
    with pytest.raises(ValueError, match="two classes"):
        lb.majority_baseline(["d", "d"])
    with pytest.raises(ValueError, match="non-empty"):
        lb.majority_baseline([])


def test_imbalanced_task_is_not_won_by_predicting_the_majority():
    # 2-d points: class 1 (a quarter of the points) lies along the second axis, class 0 along the first
    rng = np.random.default_rng(0)
    n0, n1 = 30, 10
    X = np.vstack([np.c_[1 + 0.1 * rng.standard_normal(n0), 0.1 * rng.standard_normal(n0)],
                   np.c_[0.1 * rng.standard_normal(n1), 1 + 0.1 * rng.standard_normal(n1)]])
    y = np.array([0] * n0 + [1] * n1)
    texts = [str(i) for i in range(len(y))]
    model = lb.EmbeddingModel("toy", 2, lambda t: X[[int(s) for s in t]])
    result = lb._cv_classification_task("toy", texts, y).run(model)
    assert result["majority_accuracy"] == 0.75 and result["majority_macro_f1"] == pytest.approx(3 / 7, abs=1e-4)
    assert result["score"] > 0.9 and result["C_median"] in lb.C_GRID  # separable: macro-F1 near 1
    # a model that gives every text the same vector can only do as well as one class
    flat = lb.EmbeddingModel("flat", 2, lambda t: np.ones((len(t), 2)))
    assert lb._cv_classification_task("toy", texts, y).run(flat)["score"] < 0.5
