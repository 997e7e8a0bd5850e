"""Sentiment classification of Rotten Tomatoes snippets: the scores and the baseline every later model must beat.

The book's sentiment task: is a review snippet *fresh* (1) or *rotten* (0)?
Every experiment trains on the training half and scores on the test half of
the one fixed split :func:`companion.datasets.rotten_tomatoes_split` (split by
film, so no film's snippets fall on both sides), and reports
:func:`evaluate_classifier`: accuracy and macro-F1 (the mean of the F1 scores
of the two classes, which an always-"fresh" classifier cannot inflate).

:func:`tfidf_baseline` is the first model on this task: TF-IDF of words and
word pairs (:class:`companion.tfidf.Tfidf`) fed to a logistic regression. It
has no knowledge of what words mean beyond the training snippets; later
chapters replace its features with word vectors, sentence encoders and
fine-tuned transformers and compare against its scores.

Explained in the chapter "Text as numbers" (``book/text-as-numbers.ipynb``).

Examples
--------
>>> from companion.sentiment import evaluate_classifier
>>> scores = evaluate_classifier([1, 1, 0, 0], [1, 0, 0, 0])
>>> {name: round(value, 3) for name, value in scores.items()}
{'accuracy': 0.75, 'macro_f1': 0.733}
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .tfidf import Tfidf

__all__ = ["evaluate_classifier", "make_tfidf_pipeline", "tfidf_baseline", "BASELINE_TFIDF", "BASELINE_LOGREG"]

#: TF-IDF settings of the baseline (fixed in advance, not tuned on the test set).
BASELINE_TFIDF = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True, "norm": "l2", "smooth_idf": True}
#: Logistic-regression settings of the baseline (scikit-learn's default C; deterministic solver).
BASELINE_LOGREG = {"C": 1.0, "solver": "liblinear", "random_state": 0}


def evaluate_classifier(y_true, y_pred) -> dict[str, float]:
    """Accuracy and macro-F1 of predictions ``y_pred`` against labels ``y_true``.

    Macro-F1 averages, over every label that occurs in ``y_true`` or ``y_pred``,
    the class's F1 = 2 TP / (2 TP + FP + FN); a class with no true and no
    predicted member would have 0 / 0, which cannot happen for a label that
    occurs. Same values as ``sklearn.metrics.accuracy_score`` and
    ``f1_score(average="macro")``.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shapes {y_true.shape} and {y_pred.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; they must match")
    if len(y_true) == 0:
        raise ValueError("no labels to evaluate: y_true and y_pred are empty")
    labels = np.union1d(y_true, y_pred)
    f1 = []
    for label in labels:
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        f1.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(y_true == y_pred)), "macro_f1": float(np.mean(f1))}


def make_tfidf_pipeline(**tfidf_options) -> Pipeline:
    """The baseline's unfitted pipeline: :class:`~companion.tfidf.Tfidf` then ``LogisticRegression``.

    Keyword arguments override :data:`BASELINE_TFIDF` (e.g. ``ngram_range=(1, 1)``).
    """
    options = {**BASELINE_TFIDF, **tfidf_options}
    return Pipeline([("tfidf", Tfidf(**options)), ("logreg", LogisticRegression(**BASELINE_LOGREG))])


def tfidf_baseline(train: pd.DataFrame | None = None, test: pd.DataFrame | None = None) -> tuple[Pipeline, dict[str, float]]:
    """Fit the TF-IDF + logistic-regression baseline on ``train`` and score it on ``test``.

    Both default to the book's split, :func:`companion.datasets.rotten_tomatoes_split`;
    each needs columns ``text`` and ``label``. Returns the fitted pipeline and the
    test scores of :func:`evaluate_classifier`.
    """
    if (train is None) != (test is None):
        raise ValueError("pass both train and test, or neither (to use the book's split)")
    if train is None:
        from .datasets import rotten_tomatoes_split

        train, test = rotten_tomatoes_split()
    for name, frame in (("train", train), ("test", test)):
        missing = {"text", "label"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name} lacks the column(s) {sorted(missing)}; it needs 'text' and 'label'")
    pipeline = make_tfidf_pipeline()
    pipeline.fit(train["text"].tolist(), train["label"].to_numpy())
    scores = evaluate_classifier(test["label"].to_numpy(), pipeline.predict(test["text"].tolist()))
    return pipeline, scores
