import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, bootstrap
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from companion.datasets import rotten_tomatoes_split
from companion.sentiment import (
    BASELINE_LOGREG,
    BASELINE_TFIDF,
    EMBEDDING_C_GRID,
    EMBEDDING_CV_FOLDS,
    EMBEDDING_LOGREG,
    NEGATION_WORDS,
    evaluate_classifier,
    has_negation,
    make_embedding_classifier,
    make_tfidf_pipeline,
    mcnemar_exact,
    paired_bootstrap,
    tfidf_baseline,
)
from companion.text import tokenize


def test_scores_by_hand():
    scores = evaluate_classifier([1, 1, 0, 0], [1, 0, 0, 0])
    # class 1: TP 1, FP 0, FN 1 -> F1 2/3; class 0: TP 2, FP 1, FN 0 -> F1 4/5
    assert scores["accuracy"] == 0.75
    assert np.isclose(scores["macro_f1"], (2 / 3 + 4 / 5) / 2)


def test_always_one_class():
    scores = evaluate_classifier([1, 1, 1, 0], [1, 1, 1, 1])
    # class 1: F1 = 6/7; class 0: never predicted, F1 = 0
    assert scores["accuracy"] == 0.75
    assert np.isclose(scores["macro_f1"], (6 / 7 + 0) / 2)


@pytest.mark.parametrize("seed, n_classes", [(0, 2), (1, 2), (2, 3), (3, 5)])
def test_agrees_with_scikit_learn(seed, n_classes):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, n_classes, size=200))
    ours = evaluate_classifier(y_true, y_pred)
    assert np.isclose(ours["accuracy"], accuracy_score(y_true, y_pred))
    assert np.isclose(ours["macro_f1"], f1_score(y_true, y_pred, average="macro"))


def test_string_labels_and_a_label_only_predicted():
    y_true = ["fresh", "fresh", "rotten"]
    y_pred = ["fresh", "plot", "rotten"]
    ours = evaluate_classifier(y_true, y_pred)
    assert np.isclose(ours["macro_f1"], f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_bad_input():
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        evaluate_classifier([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="empty"):
        evaluate_classifier([], [])
    with pytest.raises(ValueError, match="must be 1-D"):
        evaluate_classifier([[1, 0]], [[1, 0]])


def test_baseline_on_a_tiny_task():
    train = pd.DataFrame({"text": ["great fun", "great film", "dull mess", "dull bore"] * 3, "label": [1, 1, 0, 0] * 3})
    test = pd.DataFrame({"text": ["great", "dull", "a great film"], "label": [1, 0, 1]})
    pipeline, scores = tfidf_baseline(train, test)
    assert pipeline.predict(["great", "dull"]).tolist() == [1, 0]
    assert scores == {"accuracy": 1.0, "macro_f1": 1.0}


def test_baseline_matches_scikit_learn_twin_on_the_book_split():
    train, test = rotten_tomatoes_split()
    pipeline, scores = tfidf_baseline()
    twin_tfidf = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, **BASELINE_TFIDF)
    twin = LogisticRegression(**BASELINE_LOGREG).fit(twin_tfidf.fit_transform(train["text"]), train["label"])
    twin_pred = twin.predict(twin_tfidf.transform(test["text"]))
    assert (pipeline.predict(test["text"].tolist()) == twin_pred).all()
    assert np.isclose(scores["accuracy"], accuracy_score(test["label"], twin_pred))
    assert np.isclose(scores["macro_f1"], f1_score(test["label"], twin_pred, average="macro"))
    majority = max(test["label"].mean(), 1 - test["label"].mean())
    assert scores["accuracy"] > majority + 0.1


def test_pipeline_options_override_the_baseline():
    pipeline = make_tfidf_pipeline(ngram_range=(1, 1))
    assert pipeline.named_steps["tfidf"].ngram_range == (1, 1)
    assert pipeline.named_steps["tfidf"].min_df == BASELINE_TFIDF["min_df"]


def test_baseline_bad_input():
    frame = pd.DataFrame({"text": ["a"], "label": [1]})
    with pytest.raises(ValueError, match="pass both train and test"):
        tfidf_baseline(frame)
    with pytest.raises(ValueError, match=r"test lacks the column\(s\) \['label'\]"):
        tfidf_baseline(frame, frame[["text"]])


# ----------------------------------------------------------------- chapter "Sentiment analysis"


def test_has_negation_by_hand():
    texts = ["Not bad.", "It isn’t funny", "Never again", "I can't", "Knot nothing notable", "never-ending", "no way"]
    assert has_negation(texts).tolist() == [True, True, True, True, False, False, False]
    assert set(NEGATION_WORDS) == {"not", "never"}
    with pytest.raises(TypeError, match="not a single string"):
        has_negation("not good")


def test_embedding_classifier_cross_validates_c_on_the_training_data():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=[1.0, 10.0, 0.1, 1.0], size=(120, 4))
    y = ((X[:, 0] - 5) + 10 * (X[:, 2] - 5) + rng.normal(scale=0.8, size=120) > 0).astype(int)
    model = make_embedding_classifier().fit(X, y)
    # by hand: stratified 5-fold CV, scaler fitted on each fold's training part, mean accuracy per C
    folds = list(StratifiedKFold(n_splits=EMBEDDING_CV_FOLDS).split(X, y))
    mean_accuracy = []
    for C in EMBEDDING_C_GRID:
        accuracies = []
        for fit_rows, held_rows in folds:
            mean, std = X[fit_rows].mean(axis=0), X[fit_rows].std(axis=0)
            fold_model = LogisticRegression(C=C, **EMBEDDING_LOGREG).fit((X[fit_rows] - mean) / std, y[fit_rows])
            accuracies.append(np.mean(fold_model.predict((X[held_rows] - mean) / std) == y[held_rows]))
        mean_accuracy.append(np.mean(accuracies))
    best_c = EMBEDDING_C_GRID[int(np.argmax(np.round(mean_accuracy, 12)))]
    assert model.best_params_["logreg__C"] == best_c
    # refitted on all the data with the chosen C
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    twin = LogisticRegression(C=best_c, **EMBEDDING_LOGREG).fit(Z, y)
    assert np.allclose(model.best_estimator_.named_steps["logreg"].coef_, twin.coef_, atol=1e-4)
    assert (model.predict(X) == twin.predict(Z)).all()
    assert list(EMBEDDING_C_GRID) == sorted(EMBEDDING_C_GRID)


def test_mcnemar_by_hand_and_against_scipy():
    # A right and B wrong on 1 item, B right and A wrong on 5: p = 2 * P(X <= 1 | n=6) = 2 * 7/64
    a = np.array([1, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (1, 5)
    assert result["p_value"] == pytest.approx(14 / 64)
    assert result["p_value"] == pytest.approx(binomtest(1, 6, 0.5).pvalue)
    assert mcnemar_exact(a, a)["p_value"] == 1.0
    rng = np.random.default_rng(1)
    a, b = rng.random(300) < 0.8, rng.random(300) < 0.7
    ours = mcnemar_exact(a, b)
    assert ours["p_value"] == pytest.approx(binomtest(ours["only_a"], ours["only_a"] + ours["only_b"], 0.5).pvalue)


def test_paired_bootstrap():
    same = np.array([1, 0, 1, 1], dtype=bool)
    assert paired_bootstrap(same, same) == {"difference": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(2)
    a = rng.random(500) < 0.8
    b = np.where(rng.random(500) < 0.85, a, ~a)
    ours = paired_bootstrap(a, b, n_resamples=4000)
    assert ours["difference"] == pytest.approx(a.mean() - b.mean())
    theirs = bootstrap((a.astype(float), b.astype(float)), lambda x, y: np.mean(x) - np.mean(y), paired=True,
                       n_resamples=4000, method="percentile", random_state=0, vectorized=False)
    assert ours["low"] == pytest.approx(theirs.confidence_interval.low, abs=0.006)
    assert ours["high"] == pytest.approx(theirs.confidence_interval.high, abs=0.006)
    assert ours["low"] < ours["difference"] < ours["high"]


def test_paired_tests_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="must hold booleans"):
        paired_bootstrap([1, 2], [1, 0])
    with pytest.raises(ValueError, match="confidence must lie"):
        paired_bootstrap([1, 0], [1, 0], confidence=95)
    with pytest.raises(ValueError, match="empty"):
        mcnemar_exact([], [])
