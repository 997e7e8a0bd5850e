import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from companion.datasets import rotten_tomatoes_split
from companion.sentiment import BASELINE_LOGREG, BASELINE_TFIDF, evaluate_classifier, make_tfidf_pipeline, tfidf_baseline
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
