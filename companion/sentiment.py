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

The chapter "Sentiment analysis" (Part IV) adds the tools to compare models
on this split: :func:`make_embedding_classifier` (standardised dense features,
for averaged word vectors or sentence embeddings, into a logistic regression
whose ``C`` is chosen by cross-validation on the training set only), :func:`has_negation` (which snippets contain
*not*, *never* or a word ending in *n't*), and two paired tests of whether
one model is really better than another on the same test snippets:
:func:`paired_bootstrap` (a confidence interval for the difference in
accuracy) and :func:`mcnemar_exact` (an exact test on the snippets where the
two models disagree).

Explained in the chapters "Text as numbers" (``book/text-as-numbers.ipynb``)
and "Sentiment analysis" (``book/sentiment-analysis.ipynb``).

Examples
--------
>>> from companion.sentiment import evaluate_classifier
>>> scores = evaluate_classifier([1, 1, 0, 0], [1, 0, 0, 0])
>>> {name: round(value, 3) for name, value in scores.items()}
{'accuracy': 0.75, 'macro_f1': 0.733}
>>> has_negation(["Not bad at all.", "I don't care.", "A knotty, never-boring plot", "Nothing new"]).tolist()
[True, True, False, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .text import tokenize
from .tfidf import Tfidf
from .uncertainty import check_flags, mcnemar_exact  # noqa: F401  (re-exported: the chapter imports it from here)
from .uncertainty import paired_bootstrap as _paired_bootstrap

__all__ = [
    "evaluate_classifier",
    "make_tfidf_pipeline",
    "tfidf_baseline",
    "BASELINE_TFIDF",
    "BASELINE_LOGREG",
    "EMBEDDING_LOGREG",
    "EMBEDDING_C_GRID",
    "EMBEDDING_CV_FOLDS",
    "make_embedding_classifier",
    "NEGATION_WORDS",
    "has_negation",
    "paired_bootstrap",
    "mcnemar_exact",
]

#: TF-IDF settings of the baseline (fixed in advance, not tuned on the test set).
BASELINE_TFIDF = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True, "norm": "l2", "smooth_idf": True}
#: Logistic-regression settings of the baseline (scikit-learn's default C; deterministic solver).
BASELINE_LOGREG = {"C": 1.0, "solver": "liblinear", "random_state": 0}
#: Logistic-regression settings for dense features (averaged word vectors, sentence embeddings);
#: liblinear (as in the baseline) is deterministic with a fixed random_state. ``C`` is not fixed:
#: :func:`make_embedding_classifier` picks it from :data:`EMBEDDING_C_GRID` by cross-validation
#: on the training set.
EMBEDDING_LOGREG = {"solver": "liblinear", "max_iter": 1000, "random_state": 0}
#: Candidate values of ``C`` (inverse regularisation strength), fixed in advance.
EMBEDDING_C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: Number of cross-validation folds (stratified, unshuffled, so deterministic).
EMBEDDING_CV_FOLDS = 5
#: Whole tokens that count as a negation; any token ending in "n't" (don't, isn't, can't) counts too.
NEGATION_WORDS = ("not", "never")


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


def make_embedding_classifier() -> GridSearchCV:
    """Unfitted classifier for dense features: scaling, then logistic regression with ``C`` cross-validated.

    Standardising puts every dimension on the same scale, so one ``C``
    penalises all weights alike whatever the embedding's units. ``fit(X, y)``
    tries every ``C`` of :data:`EMBEDDING_C_GRID` with
    :data:`EMBEDDING_CV_FOLDS`-fold stratified cross-validation *on the data it
    is given* (the scaler is refitted inside each fold), keeps the ``C`` of the
    highest mean accuracy (the smallest such ``C`` on a tie), and refits on all
    of ``X``. Pass it training data only: the test set must play no part in the
    choice. The chosen value is ``best_params_["logreg__C"]``.
    """
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(**EMBEDDING_LOGREG))])
    return GridSearchCV(pipeline, {"logreg__C": list(EMBEDDING_C_GRID)}, scoring="accuracy",
                        cv=StratifiedKFold(n_splits=EMBEDDING_CV_FOLDS), n_jobs=1, refit=True)


def has_negation(texts) -> np.ndarray:
    """Boolean array: does each text contain a negation token?

    A negation token is one of :data:`NEGATION_WORDS` or any token that ends in
    ``n't`` after :func:`companion.text.tokenize` (which keeps contractions
    whole and maps the typographic apostrophe to ``'``). Words that merely
    contain the letters (*knot*, *nothing*, *never-ending* is one token) do not
    count.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string; wrap it: [text]")
    words = set(NEGATION_WORDS)
    return np.array([any(t in words or t.endswith("n't") for t in tokenize(text)) for text in texts], dtype=bool)


def paired_bootstrap(correct_a, correct_b, n_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> dict[str, float]:
    """Paired bootstrap confidence interval for accuracy(A) - accuracy(B) on the same test items.

    ``correct_a[i]`` and ``correct_b[i]`` say whether models A and B got test
    item ``i`` right (booleans, checked). Each resample draws ``n`` items with
    replacement, the same items for both models, which is what makes it
    *paired*; the interval is the central ``confidence`` share of the
    differences (percentile method). Returns ``difference`` (on the full test
    set), ``low`` and ``high``. The book's one implementation is
    :func:`companion.uncertainty.paired_bootstrap`; this adds the check that the
    inputs are right/wrong flags.
    """
    a, b = check_flags(correct_a, correct_b)
    return _paired_bootstrap(a, b, n_resamples=n_resamples, confidence=confidence, seed=seed)
