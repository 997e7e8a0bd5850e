"""An offline mini-MTEB: one harness that scores any embedding model on tasks built from the book's data.

The Massive Text Embedding Benchmark (MTEB; Muennighoff et al. 2023) scores a
text-embedding model on dozens of data sets grouped in task *families*
(classification, clustering, pair classification, reranking, retrieval, STS,
summarization), each with one main metric, and ranks models by averages. This
module does the same, small and offline, for every model of the book, with the
word-level tasks of Part II added:

============== ================================================= ===================
family         task (data)                                       main metric
============== ================================================= ===================
word sim       WordSim-353, SimLex-999                           Spearman
analogy        Google analogies, answers among the set's words   accuracy
STS            Lee et al. (2005): 50 news documents, human       Spearman
               similarity of every pair
classification Rotten Tomatoes fresh/rotten (book split)          accuracy
classification 2012 convention speeches, party (5-fold CV)       macro-F1
clustering     news articles by outlet (k-means, k = outlets)    V-measure
retrieval      news title -> its article among all sampled       nDCG@10 (and MRR)
============== ================================================= ===================

A model is an :class:`EmbeddingModel`: a name, a dimension and a function
``encode(texts) -> array (n, dim)``; word tasks embed each word as a one-word
text unless the model carries its own word vectors (``words``, a
:class:`~gensim.models.KeyedVectors`). :func:`evaluate` runs a model on a list
of :class:`Task` objects and returns one row per task; :func:`leaderboard`
turns the rows of several models into a table with the family means and two
averages (over tasks, as MTEB's headline number, and over families). A task a
model cannot do (a bag of words has no notion of word similarity) is reported
as missing, not as zero, and the averages say over how many tasks they run.

Classification uses the embeddings as features of a logistic regression.
MTEB fits one with default settings and reports accuracy as the main score,
macro-F1 beside it; Rotten Tomatoes, whose classes are nearly balanced, does the
same (``C=1`` for every model). The speeches are 65% Democratic, and with
``C=1`` on unit-length averaged word vectors a logistic regression predicts
the majority party for every speech: its accuracy is then the majority rate
and says nothing about the embeddings. That task therefore weights the classes
inversely to their frequency, chooses ``C`` by an inner cross-validation on the
training folds, and is scored by macro-F1, which gives a one-class prediction
about 0.39 here (:func:`majority_baseline`); clustering runs k-means with
10 seeded restarts; retrieval ranks documents by cosine. :func:`ndcg_at_k` and
:func:`mean_reciprocal_rank` are written out here and tested on hand-computed
rankings.

``python -m companion.leaderboard`` writes the leaderboard of every available
model to ``reports/leaderboard.json`` and ``reports/leaderboard.md``.

Explained in the chapter "Choosing an embedding model"
(``book/choosing-a-model.ipynb``).

Examples
--------
One query whose relevant document is ranked third, another whose relevant
document is ranked first:

>>> import numpy as np
>>> from companion.leaderboard import ndcg_at_k, mean_reciprocal_rank
>>> ranks = np.array([3, 1])
>>> round(mean_reciprocal_rank(ranks), 4)     # (1/3 + 1) / 2
0.6667
>>> round(ndcg_at_k(ranks, k=10), 4)          # (1/log2(4) + 1/log2(2)) / 2
0.75
>>> round(ndcg_at_k(ranks, k=2), 4)           # rank 3 is past the cut-off
0.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .vectors import KeyedVectors

__all__ = [
    "EmbeddingModel", "Task", "TASK_FAMILIES", "ndcg_at_k", "mean_reciprocal_rank", "relevant_ranks",
    "static_model", "majority_baseline", "C_GRID", "default_tasks", "news_retrieval_pairs", "SLOW_MODELS", "evaluate", "leaderboard", "available_models", "load_model", "run_models", "read_report", "main",
]

#: The task families, in the order the leaderboard shows them.
TASK_FAMILIES = ("word sim", "analogy", "STS", "classification", "clustering", "retrieval")
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- models


@dataclass
class EmbeddingModel:
    """An embedding model as the harness sees it.

    ``encode`` maps a list of texts to an array (or scipy sparse matrix) of
    shape ``(len(texts), dim)``; ``words``, if given, are the model's own word
    vectors, used by the word tasks instead of encoding one-word texts;
    ``word_tasks=False`` says the model has no meaningful word vectors (a bag
    of words) and its word tasks are reported as missing.
    """

    name: str
    dim: int
    encode_fn: Callable[[list[str]], object]
    words: KeyedVectors | None = None
    word_tasks: bool = True
    kind: str = ""
    n_parameters: int = 0
    seconds_encoding: float = field(default=0.0, repr=False)
    texts_encoded: int = field(default=0, repr=False)

    def encode(self, texts: Sequence[str]):
        """Embed ``texts`` and check the result: ``(len(texts), dim)``, finite."""
        texts = list(texts)
        if not texts:
            raise ValueError(f"model {self.name!r}: encode() needs at least one text, got an empty list")
        start = time.perf_counter()
        out = self.encode_fn(texts)
        self.seconds_encoding += time.perf_counter() - start
        self.texts_encoded += len(texts)
        shape = out.shape if hasattr(out, "shape") else np.asarray(out).shape
        if tuple(shape) != (len(texts), self.dim):
            raise ValueError(
                f"model {self.name!r} returned embeddings of shape {tuple(shape)} for {len(texts)} texts; "
                f"expected ({len(texts)}, {self.dim}) (its declared dimension)"
            )
        if sp.issparse(out):
            data = out.data
        else:
            out = np.asarray(out, dtype=np.float32)
            data = out
        if not np.all(np.isfinite(data)):
            raise ValueError(f"model {self.name!r} returned non-finite values (NaN or inf) in its embeddings")
        return out

    def word_vectors(self, words: Sequence[str]) -> KeyedVectors | None:
        """Vectors for ``words``: the model's own word vectors, or each word encoded as a text."""
        if not self.word_tasks:
            return None
        words = sorted(set(words))
        if self.words is not None:
            known = [w for w in words if w in self.words.key_to_index]
            if not known:
                raise ValueError(f"model {self.name!r} knows none of the {len(words)} words asked for")
            return _keyed(known, self.words[known])
        matrix = self.encode(words)
        matrix = matrix.toarray() if sp.issparse(matrix) else matrix
        return _keyed(words, matrix)


def _keyed(words, matrix) -> KeyedVectors:
    from .vectors import keyed_vectors

    return keyed_vectors(list(words), np.asarray(matrix, dtype=np.float32))


def static_model(name: str, kv: KeyedVectors, kind: str = "static word vectors") -> EmbeddingModel:
    """A text encoder from word vectors: a text is the mean of its known tokens' vectors.

    Tokens come from :func:`companion.text.tokenize`; the mean is
    :func:`companion.sentence_vectors.average_word_vectors` (zero vector for a
    text with no known token).

    >>> from companion.vectors import keyed_vectors
    >>> kv = keyed_vectors(["good", "film"], [[1.0, 0.0], [0.0, 1.0]])
    >>> static_model("toy", kv).encode(["A good film!", "zzz"]).tolist()
    [[0.5, 0.5], [0.0, 0.0]]
    """
    from .sentence_vectors import average_word_vectors
    from .text import tokenize

    if not isinstance(kv, KeyedVectors) or len(kv) == 0:
        raise ValueError(f"static_model needs a non-empty KeyedVectors, got {type(kv).__name__}")

    def encode(texts):
        return average_word_vectors([tokenize(t) for t in texts], kv)

    return EmbeddingModel(name, kv.vector_size, encode, words=kv, kind=kind, n_parameters=int(kv.vectors.size))


# --------------------------------------------------------------------------- metrics


def relevant_ranks(query_vectors, doc_vectors, relevant: Sequence[int]) -> np.ndarray:
    """1-based rank of each query's one relevant document when documents are sorted by cosine.

    Ties are broken against the relevant document (it is ranked after every
    document with the same score), so a model that gives every document the
    same vector gets the worst rank, not the best.
    """
    q = _unit_rows(query_vectors)
    d = _unit_rows(doc_vectors)
    relevant = np.asarray(relevant)
    if len(relevant) != q.shape[0]:
        raise ValueError(f"{q.shape[0]} queries but {len(relevant)} relevant-document indices")
    if relevant.size and (relevant.min() < 0 or relevant.max() >= d.shape[0]):
        raise ValueError(f"relevant document indices must lie in [0, {d.shape[0]}), got {relevant.min()}..{relevant.max()}")
    scores = q @ d.T
    scores = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
    gold = scores[np.arange(len(relevant)), relevant]
    return (scores >= gold[:, None]).sum(axis=1)


def _unit_rows(X):
    if sp.issparse(X):
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sp.diags(1.0 / norms) @ X
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _check_ranks(ranks) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given: a retrieval task needs at least one query")
    if not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 1:
        raise ValueError(f"ranks must be integers >= 1 (1 = first), got {ranks[:5].tolist()}...")
    return ranks


def mean_reciprocal_rank(ranks) -> float:
    """Mean of ``1 / rank`` of the relevant document over queries (one relevant document each)."""
    return float(np.mean(1.0 / _check_ranks(ranks)))


def ndcg_at_k(ranks, k: int = 10) -> float:
    """nDCG@k with one relevant document per query: ``1 / log2(rank + 1)`` if ``rank <= k``, else 0.

    With a single relevant document the ideal DCG is 1 (it at rank 1), so
    nDCG is the DCG itself.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ranks = _check_ranks(ranks)
    gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1), 0.0)
    return float(gains.mean())


# --------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """One task: a name, its family, its main metric and a function ``run(model) -> dict``.

    ``run`` returns ``{"score": float or None, **details}``; ``None`` means the
    model cannot do the task.
    """

    name: str
    family: str
    metric: str
    run: Callable[[EmbeddingModel], dict]

    def __post_init__(self):
        if self.family not in TASK_FAMILIES:
            raise ValueError(f"unknown task family {self.family!r}; valid families are: {', '.join(TASK_FAMILIES)}")


def _word_similarity_task(name: str, pairs: pd.DataFrame) -> Task:
    from .evaluation import word_similarity

    def run(model):
        words = set(pairs["word1"]) | set(pairs["word2"])
        kv = model.word_vectors(words)
        if kv is None:
            return {"score": None}
        result = word_similarity(kv, pairs)
        # a pair the model does not know counts as a failure: its score is the
        # correlation on the known pairs times the share of pairs known
        coverage = result["pairs_used"] / result["pairs_total"]
        return {"score": result["spearman"] * coverage, "coverage": coverage, "spearman_known": result["spearman"]}

    return Task(name, "word sim", "Spearman x coverage", run)


def _analogy_task(questions: pd.DataFrame) -> Task:
    from .evaluation import analogy_accuracy

    def run(model):
        words = set(questions[["a", "b", "c", "d"]].to_numpy().ravel())
        kv = model.word_vectors(words)
        if kv is None:
            return {"score": None}
        result = analogy_accuracy(kv, questions)
        return {"score": result["correct"] / result["questions_total"], "coverage": result["coverage"]}

    return Task("Google analogies", "analogy", "accuracy (unknown = wrong)", run)


def _sts_task(documents: list[str], human: np.ndarray) -> Task:
    from scipy import stats

    upper = np.triu_indices(len(documents), k=1)

    def run(model):
        X = _unit_rows(model.encode(documents))
        cos = X @ X.T
        cos = cos.toarray() if sp.issparse(cos) else cos
        rho = stats.spearmanr(cos[upper], human[upper]).statistic
        return {"score": float(rho)}

    return Task("Lee document similarity", "STS", "Spearman", run)


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000)


def _split_classification_task(name, train_texts, y_train, test_texts, y_test) -> Task:
    from sklearn.metrics import accuracy_score, f1_score

    def run(model):
        X = model.encode(list(train_texts) + list(test_texts))
        X = _unit_rows(X)
        n = len(train_texts)
        clf = _logistic_regression().fit(X[:n], y_train)
        pred = clf.predict(X[n:])
        return {"score": float(accuracy_score(y_test, pred)), "macro_f1": float(f1_score(y_test, pred, average="macro"))}

    return Task(name, "classification", "accuracy", run)


#: Inverse regularisation strengths tried by the inner cross-validation of the imbalanced task.
C_GRID = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def majority_baseline(labels) -> dict:
    """Accuracy and macro-F1 of always predicting the most frequent label (ties: the smallest label).

    The floor a classification score must clear before it says anything about the
    embeddings: on a set that is 65% one class, predicting that class is 65% accurate.
    Macro-F1 averages the F1 of each class, and a class that is never predicted has F1 = 0,
    so the same prediction scores far lower on it.

    >>> majority_baseline(["d", "d", "r"])  # accuracy 2/3; F1 of "d" = 0.8, of "r" = 0
    {'majority': 'd', 'accuracy': 0.6667, 'macro_f1': 0.4}
    """
    from sklearn.metrics import accuracy_score, f1_score

    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {y.shape}")
    values, counts = np.unique(y, return_counts=True)
    if len(values) < 2:
        raise ValueError(f"labels must contain at least two classes, got only {values.tolist()}")
    majority = values[np.argmax(counts)]
    pred = np.full(y.shape, majority)
    return {"majority": majority.item() if hasattr(majority, "item") else majority,
            "accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}


def _balanced_logistic_regression(folds: int = 3):
    """Logistic regression with class weights inverse to class frequency and ``C`` chosen by inner CV (macro-F1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    return GridSearchCV(LogisticRegression(class_weight="balanced", solver="liblinear", max_iter=1000), {"C": list(C_GRID)},
                        scoring="f1_macro", cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=0))


def _cv_classification_task(name, texts, y, folds: int = 5) -> Task:
    """Imbalanced classification scored by macro-F1 over ``folds`` outer folds.

    In each outer fold the logistic regression weights the classes inversely to
    their frequency and picks ``C`` from :data:`C_GRID` by an inner cross-validation
    on that fold's training part only, so the held-out part never chooses it.
    Accuracy is reported beside macro-F1, and so is the majority-class baseline.
    """
    from sklearn.model_selection import StratifiedKFold, cross_validate

    y = np.asarray(y)
    baseline = majority_baseline(y)

    def run(model):
        X = _unit_rows(model.encode(texts))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        out = cross_validate(_balanced_logistic_regression(), X, y, cv=cv, scoring=("f1_macro", "accuracy"),
                             return_estimator=True)
        chosen = [float(est.best_params_["C"]) for est in out["estimator"]]
        return {"score": float(out["test_f1_macro"].mean()), "fold_std": float(out["test_f1_macro"].std()),
                "accuracy": float(out["test_accuracy"].mean()), "C_median": float(np.median(chosen)),
                "majority_accuracy": baseline["accuracy"], "majority_macro_f1": baseline["macro_f1"]}

    return Task(name, "classification", f"macro-F1 ({folds}-fold CV)", run)


def _clustering_task(name, texts, labels) -> Task:
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    k = len(set(labels))

    def run(model):
        X = _unit_rows(model.encode(texts))
        X = X.toarray() if sp.issparse(X) else X
        pred = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
        return {"score": float(v_measure_score(labels, pred))}

    return Task(name, "clustering", "V-measure", run)


def _retrieval_task(name, queries, documents) -> Task:
    def run(model):
        X = model.encode(list(queries) + list(documents))
        n = len(queries)
        Q, D = (X[:n], X[n:])
        ranks = relevant_ranks(Q, D, np.arange(n))
        return {"score": ndcg_at_k(ranks, 10), "mrr": mean_reciprocal_rank(ranks), "recall@1": float(np.mean(ranks == 1))}

    return Task(name, "retrieval", "nDCG@10", run)


def _first_words(text: str, n: int) -> str:
    return " ".join(str(text).split()[:n])


def default_tasks(size: str = "small", max_words: int = 100) -> list[Task]:
    """The book's tasks. ``size="small"`` (the chapter's) samples the larger data sets; ``"full"`` does not.

    Long texts are cut to their first ``max_words`` words for every model alike.
    Samples are drawn with fixed seeds, so every model sees the same texts.
    """
    from . import datasets

    sizes = {"small": {"rt_train": 1000, "rt_test": 1000, "per_outlet": 30, "retrieval": 300},
             "full": {"rt_train": None, "rt_test": None, "per_outlet": None, "retrieval": None}}
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}; valid sizes are: {', '.join(sizes)}")
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    s = sizes[size]
    tasks = [
        _word_similarity_task("WordSim-353", datasets.wordsim353()),
        _word_similarity_task("SimLex-999", datasets.simlex999()),
        _analogy_task(datasets.google_analogies()),
        _sts_task([_first_words(d, max_words) for d in datasets.lee_corpus("test")], datasets.lee_similarities()),
    ]
    train, test = datasets.rotten_tomatoes_split()
    if s["rt_train"]:
        train = train.sample(n=s["rt_train"], random_state=0).sort_index()
        test = test.sample(n=s["rt_test"], random_state=0).sort_index()
    tasks.append(_split_classification_task("Rotten Tomatoes sentiment", train["text"].tolist(), train["label"].to_numpy(),
                                            test["text"].tolist(), test["label"].to_numpy()))
    speeches = datasets.convention_speeches()
    tasks.append(_cv_classification_task("Convention speeches: party", [_first_words(t, max_words) for t in speeches["text"]],
                                         speeches["party"].to_numpy()))
    news = datasets.news_articles()
    news = news[news["text"].str.split().str.len() >= 50].sort_values("article_id")
    clusters = news if s["per_outlet"] is None else pd.concat(
        [group.sample(n=min(len(group), s["per_outlet"]), random_state=0) for _, group in news.groupby("outlet", sort=True)])
    clusters = clusters.sort_values("article_id")
    tasks.append(_clustering_task("News articles by outlet", [_first_words(t, max_words) for t in clusters["text"]],
                                  clusters["outlet"].to_numpy()))
    titles, texts = news_retrieval_pairs(s["retrieval"], max_words)
    tasks.append(_retrieval_task("News title -> article", titles, texts))
    return tasks


def news_retrieval_pairs(n: int | None = 300, max_words: int = 100) -> tuple[list[str], list[str]]:
    """The retrieval task's data: ``n`` news titles (queries) and the first ``max_words`` words of their articles.

    Articles of at least 50 words with a title, sampled with a fixed seed
    (``n=None``: all of them); query ``i`` is answered by document ``i``.
    """
    from .datasets import news_articles

    news = news_articles()
    news = news[(news["text"].str.split().str.len() >= 50) & (news["title"].str.strip() != "")].sort_values("article_id")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(news):
            raise ValueError(f"n must be an integer in [1, {len(news)}] or None, got {n!r}")
        news = news.sample(n=n, random_state=1).sort_values("article_id")
    return news["title"].tolist(), [_first_words(t, max_words) for t in news["text"]]


# --------------------------------------------------------------------------- running


def evaluate(model: EmbeddingModel, tasks: Sequence[Task]) -> pd.DataFrame:
    """Run ``model`` on ``tasks``; one row per task: model, task, family, metric, score and details.

    >>> from companion.vectors import keyed_vectors
    >>> kv = keyed_vectors(["cat", "dog", "car"], [[1.0, 0.1], [0.9, 0.3], [0.1, 1.0]])
    >>> toy = _retrieval_task("toy retrieval", queries=["cat", "car"], documents=["dog", "car"])
    >>> evaluate(static_model("toy", kv), [toy])[["task", "score", "recall@1"]].to_dict("records")
    [{'task': 'toy retrieval', 'score': 1.0, 'recall@1': 1.0}]
    """
    if not isinstance(model, EmbeddingModel):
        raise TypeError(f"expected an EmbeddingModel, got {type(model).__name__}")
    tasks = list(tasks)
    if not tasks:
        raise ValueError("no tasks given: pass at least one Task (see default_tasks())")
    rows = []
    for task in tasks:
        if not isinstance(task, Task):
            raise TypeError(f"expected Task objects, got {type(task).__name__}")
        result = dict(task.run(model))
        score = result.pop("score")
        rows.append({"model": model.name, "task": task.name, "family": task.family, "metric": task.metric,
                     "score": None if score is None else float(score), **result})
    return pd.DataFrame(rows)


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """Models x tasks table of scores, with the mean per family and two averages, best model first.

    ``mean (tasks)`` averages over the tasks a model could do, as MTEB's headline
    average; ``mean (families)`` first averages within each family, so a family
    with many tasks does not dominate; ``tasks`` says how many tasks a model did.
    """
    if not isinstance(results, pd.DataFrame) or results.empty:
        raise ValueError("results must be a non-empty DataFrame returned by evaluate()")
    missing = {"model", "task", "family", "score"} - set(results.columns)
    if missing:
        raise ValueError(f"results lack the columns {sorted(missing)}")
    scores = results.pivot_table(index="model", columns="task", values="score", aggfunc="first", dropna=False)
    task_order = list(dict.fromkeys(results["task"]))
    scores = scores.reindex(columns=task_order)
    families = results.drop_duplicates("task").set_index("task")["family"]
    by_family = scores.T.groupby(families).mean().T.reindex(columns=[f for f in TASK_FAMILIES if f in set(families)])
    table = scores.copy()
    table["tasks"] = scores.notna().sum(axis=1)
    table["mean (tasks)"] = scores.mean(axis=1)
    table["mean (families)"] = by_family.mean(axis=1)
    return table.sort_values(["mean (tasks)", "mean (families)"], ascending=False)


# --------------------------------------------------------------------------- the book's models


def _tfidf_model() -> EmbeddingModel:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .datasets import news_articles
    from .text import tokenize

    vectorizer = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, min_df=2, sublinear_tf=True)
    vectorizer.fit(news_articles()["text"].tolist())
    dim = len(vectorizer.vocabulary_)
    return EmbeddingModel("TF-IDF (news)", dim, lambda texts: vectorizer.transform(texts), word_tasks=False,
                          kind="sparse bag of words", n_parameters=dim)  # one idf weight per word


def _ppmi_model() -> EmbeddingModel:
    from .cooccurrence import ppmi_svd_vectors

    return static_model("PPMI-SVD (news)", ppmi_svd_vectors(dim=100), kind="count-based word vectors")


def _word2vec_model() -> EmbeddingModel:
    from .word2vec import news_skipgram

    return static_model("Word2Vec SGNS (news, ours)", news_skipgram()[0], kind="predictive word vectors")


def _glove_news_model() -> EmbeddingModel:
    from .glove import news_glove

    return static_model("GloVe (news, ours)", news_glove()[0], kind="count-based word vectors")


def _glove_6b_model() -> EmbeddingModel:
    from .models import load_glove

    return static_model("GloVe 6B-50d", load_glove(), kind="pretrained word vectors")


def _spacy_model() -> EmbeddingModel:
    from .models import load_glove, load_spacy_md

    nlp = load_spacy_md()
    vectors = nlp.vocab.vectors
    # a lookup over the 100k most frequent GloVe words (lower case), where spaCy has a vector
    candidates = load_glove().index_to_key[:100_000]
    words, rows = [], []
    for word in candidates:
        key = nlp.vocab.strings[word]
        if key in vectors:
            words.append(word)
            rows.append(vectors[key])
    return static_model("spaCy md vectors", _keyed(words, np.vstack(rows)), kind="pretrained word vectors")


def _minilm_model() -> EmbeddingModel:
    from .models import load_minilm

    st = load_minilm()

    def encode(texts):
        return st.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)

    return EmbeddingModel("MiniLM-L6 (sentence-transformers)", st.get_sentence_embedding_dimension(), encode,
                          kind="contextual sentence encoder", n_parameters=sum(p.numel() for p in st.parameters()))


def _gemma_model(max_tokens: int = 64, batch_size: int = 16) -> EmbeddingModel:
    import torch

    from .gemma import load_gemma

    tokenizer, model = load_gemma()  # "mixed": float32 layers, bf16 embedding table (fast on CPUs)
    tokenizer.padding_side = "right"
    body = model.model

    def encode(texts):
        out = []
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths in a batch: less padding
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                              max_length=max_tokens)
            with torch.inference_mode():
                states = body(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append((idx, pooled.numpy()))
        result = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        for idx, pooled in out:
            result[idx] = pooled
        return result

    return EmbeddingModel("Gemma 3 270M (mean of last layer)", model.config.hidden_size, encode,
                          kind="decoder LLM, mean-pooled", n_parameters=sum(p.numel() for p in model.parameters()))


def _gemma_embedding_model() -> EmbeddingModel:
    """Gemma's input embedding table as a static model: a text is the mean of its tokens' rows."""
    import gc

    import torch

    from .gemma import load_gemma

    tokenizer, model = load_gemma()
    table = model.model.embed_tokens.weight.detach()  # 262,144 x 640, bf16: kept, the rest freed
    del model
    gc.collect()

    def encode(texts):
        # a leading space gives every word its mid-sentence token ("▁cat"), as inside a text
        ids = tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        with torch.inference_mode():
            for row, token_ids in enumerate(ids):
                if token_ids:
                    out[row] = table[token_ids].float().mean(0).numpy()
        return out

    return EmbeddingModel("Gemma 3 270M input embeddings (mean)", int(table.shape[1]), encode,
                          kind="LLM embedding table, mean-pooled", n_parameters=int(table.numel()))


_MODELS = {
    "tfidf": _tfidf_model,
    "ppmi-svd": _ppmi_model,
    "word2vec": _word2vec_model,
    "glove-news": _glove_news_model,
    "glove-6b-50d": _glove_6b_model,
    "spacy-md": _spacy_model,
    "minilm": _minilm_model,
    "gemma-embeddings": _gemma_embedding_model,
    "gemma-last-layer": _gemma_model,
}
#: Models too slow for a chapter on a laptop CPU: run them with the command, ``--models gemma-last-layer``.
SLOW_MODELS = ("gemma-last-layer",)


def available_models(include_slow: bool = False) -> list[str]:
    """Names accepted by :func:`load_model`, in the order the book introduces the models.

    ``include_slow=False`` leaves out :data:`SLOW_MODELS`: mean-pooling Gemma's last layer
    runs the whole 270M-parameter network over every text (about 0.13 CPU seconds per
    Rotten Tomatoes snippet on this book's 2-core machine; the small tasks take about
    4.5 minutes), far beyond a chapter's budget. ``python -m companion.leaderboard --all``
    runs it, and the chapter *Choosing an embedding model* reads its rows from the
    command's ``reports/leaderboard.json``.
    """
    return [name for name in _MODELS if include_slow or name not in SLOW_MODELS]


def load_model(name: str) -> EmbeddingModel:
    """One of the book's models as an :class:`EmbeddingModel` (trained models come from the cache)."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are: {', '.join(_MODELS)}")
    return _MODELS[name]()


def _run_one(name: str, tasks: Sequence[Task]) -> pd.DataFrame:
    import gc

    model = load_model(name)
    frame = evaluate(model, tasks)
    frame["dim"] = model.dim
    frame["kind"] = model.kind
    frame["parameters"] = model.n_parameters
    frame["texts_per_second"] = model.texts_encoded / model.seconds_encoding if model.seconds_encoding else np.nan
    del model
    gc.collect()
    return frame


def run_models(names: Sequence[str], tasks: Sequence[Task] | None = None, size: str = "small") -> pd.DataFrame:
    """Evaluate each named model (loaded one at a time, then released); all rows, with dim, parameters and speed.

    With ``tasks=None`` the models run on :func:`default_tasks` of ``size`` and
    each model's rows are cached (``leaderboard/<model>-<size>.pkl``, keyed by the code too: :mod:`companion.cache`), so a
    second call, in the chapter or by the command, only reads them. The
    ``texts_per_second`` column is the speed measured when the rows were computed.
    """
    from .cache import cached_pickle

    if size not in ("small", "full"):
        raise ValueError(f"unknown size {size!r}; valid sizes are: small, full")
    names = list(names)
    if not names:
        raise ValueError(f"no models given; valid names are: {', '.join(_MODELS)}")
    for name in names:
        if name not in _MODELS:
            raise ValueError(f"unknown model {name!r}; valid names are: {', '.join(_MODELS)}")
    frames = []
    shared_tasks = None
    for name in names:
        if tasks is not None:
            frames.append(_run_one(name, tasks))
            continue

        def compute(name=name):
            nonlocal shared_tasks
            if shared_tasks is None:
                shared_tasks = default_tasks(size)
            return _run_one(name, shared_tasks)

        frames.append(cached_pickle(f"leaderboard/{name}-{size}.pkl", compute))
    return pd.concat(frames, ignore_index=True)


def read_report(path: str | Path | None = None, check_against: pd.DataFrame | None = None,
                atol: float = 1e-3) -> pd.DataFrame:
    """The result rows of a leaderboard written by the command (default ``reports/leaderboard.json``).

    With ``check_against`` (rows of :func:`run_models`), every row there must be in
    the file with a score equal within ``atol``: the check that the file was
    computed on the same tasks and models. Choose ``atol`` as one unit of the
    last digit printed: the report's tables have three decimals (the default),
    the chapter prints two and passes ``atol=0.01``. Then a score that rounds
    one way on the machine that wrote the file and the other way on the
    reader's pass is accepted, while a file from other tasks or models fails. A
    stale or partial file raises ``ValueError`` naming every row that differs;
    run ``make leaderboard`` (``python -m companion.leaderboard --all``) to
    refresh it. Used by the chapter *Choosing an embedding model* for the rows
    too slow to compute in it (:data:`SLOW_MODELS`).

    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [{"model": "A", "task": "t", "score": 0.5}, {"model": "B", "task": "t", "score": 0.25}]
    >>> _ = (folder / "leaderboard.json").write_text(json.dumps({"size": "small", "results": rows}))
    >>> here = pd.DataFrame([{"model": "A", "task": "t", "score": 0.5008}])
    >>> read_report(folder / "leaderboard.json", check_against=here)["model"].tolist()
    ['A', 'B']
    """
    if not (isinstance(atol, (int, float)) and not isinstance(atol, bool) and 0 <= atol < 1):
        raise ValueError(f"atol must be a number in [0, 1), got {atol!r}")
    path = ROOT / "reports" / "leaderboard.json" if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no leaderboard report at {path}; write it with `make leaderboard`")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); write it again with `make leaderboard`") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list) or not payload["results"]:
        raise ValueError(f"{path} holds no result rows; write it with `make leaderboard`")
    stored = pd.DataFrame(payload["results"])
    missing_columns = {"model", "task", "score"} - set(stored.columns)
    if missing_columns:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing_columns)}; write it with `make leaderboard`")
    if check_against is not None:
        file_scores = {(m, t): s for m, t, s in zip(stored["model"], stored["task"], stored["score"])}
        differences = []
        for model, task, score in zip(check_against["model"], check_against["task"], check_against["score"]):
            if (model, task) not in file_scores:
                differences.append(f"{model!r} on {task!r}: no score in the file, {score:.4f} here")
                continue
            theirs = file_scores[(model, task)]
            same = (pd.isna(score) and pd.isna(theirs)) or (
                not pd.isna(score) and not pd.isna(theirs) and abs(float(score) - float(theirs)) <= atol)
            if not same:
                differences.append(f"{model!r} on {task!r}: {float(theirs):.4f} in the file, {float(score):.4f} here")
        if differences:
            raise ValueError(f"{path} differs from the scores computed here by more than {atol:g} in "
                             f"{len(differences)} place(s): " + "; ".join(differences)
                             + ". The file comes from other tasks, models or code; run `make leaderboard` again")
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the offline mini-MTEB leaderboard as JSON and Markdown.")
    parser.add_argument("--models", nargs="*", default=available_models(),
                        help=f"default: {available_models()}; also available: {list(SLOW_MODELS)}")
    parser.add_argument("--all", action="store_true",
                        help=f"every model, the slow ones {list(SLOW_MODELS)} included (overrides --models)")
    parser.add_argument("--size", default="small", choices=["small", "full"])
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    from .reproducibility import setup

    setup(seed=0)
    results = run_models(available_models(include_slow=True) if args.all else args.models, size=args.size)
    table = leaderboard(results)
    args.out.mkdir(parents=True, exist_ok=True)
    speed = results.groupby("model")[["dim", "parameters", "texts_per_second"]].first()
    payload = {"size": args.size, "date": time.strftime("%Y-%m-%d"),
               "results": json.loads(results.to_json(orient="records")),
               "leaderboard": json.loads(table.reset_index().to_json(orient="records"))}
    (args.out / "leaderboard.json").write_text(json.dumps(payload, indent=1) + "\n")
    md = table.join(speed).round(3)
    lines = [f"Offline mini-MTEB ({args.size} tasks), {payload['date']}; `python -m companion.leaderboard`. "
             "Scores in [0, 1] except Spearman in [-1, 1]; texts/s are measured on this machine and vary.", "",
             md.reset_index().to_markdown(index=False)]
    (args.out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
