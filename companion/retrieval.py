"""Retrieval for question answering: BM25, TF-IDF and dense cosine search, metrics, and prompts.

Given a question, a *retriever* ranks the passages of a corpus so that the one
that answers it comes first. This module holds the pieces the chapter builds
and compares:

- :class:`BM25`: Okapi BM25 (Robertson et al. 1994) from scratch, with
  ``rank_bm25.BM25Okapi``'s definitions and scores (a test checks them to 1e-9),
  computed for all documents at once as one sparse matrix product.
- :class:`TfidfRetriever`: cosine similarity of TF-IDF vectors
  (:class:`companion.tfidf.Tfidf`) between a question and every passage.
- :class:`CosineIndex`: exact cosine top-k search over dense vectors (MiniLM
  sentence embeddings, or any other), with checks on its input.
- :func:`reciprocal_rank_fusion`: a hybrid ranking from several rankings
  (Cormack et al. 2009).
- :func:`gold_ranks`, :func:`recall_at_k`, :func:`mean_reciprocal_rank`: how
  far down each ranking the passage that answers the question sits.
- :func:`article_passages`: the passage the book indexes for each news article
  (its headline alone, or the headline plus the first words of its text), and
  :func:`trim_passage`, which keeps the sentences of a passage closest to a question.
- :func:`load_news_questions`: the 40 questions written for the chapter, each
  with the news article that answers it (``companion/data/qa``).
- :func:`answer_prompt`, :func:`generate_answers`, :func:`normalize_answer`,
  :func:`exact_match`, :func:`contains_answer`: retrieval-augmented answering
  with a small language model and its scoring.

Explained in the chapter "Question answering: retrieval with embeddings"
(``book/question-answering.ipynb``).

Examples
--------
>>> from companion.retrieval import BM25, recall_at_k, mean_reciprocal_rank
>>> docs = ["the cat sat on the mat", "dogs chase cats", "the stock market fell"]
>>> bm25 = BM25().fit(docs)
>>> bm25.scores(["which market fell"]).round(3)
array([[0.   , 0.   , 1.058]])
>>> bm25.top_k(["cat on a mat"], k=2)[0].tolist()
[[0, 1]]
>>> rankings = [[2, 0, 1], [0, 1, 2]]   # two questions; the gold passages are 0 and 0
>>> recall_at_k(rankings, [0, 0], k=1), mean_reciprocal_rank(rankings, [0, 0])
(0.5, 0.75)
"""

from __future__ import annotations

import numbers
import re
import string
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .tfidf import Tfidf, as_token_lists

__all__ = [
    "BM25",
    "TfidfRetriever",
    "CosineIndex",
    "top_k_from_scores",
    "reciprocal_rank_fusion",
    "gold_ranks",
    "recall_at_k",
    "mean_reciprocal_rank",
    "article_passages",
    "load_news_questions",
    "answer_prompt",
    "generate_answers",
    "normalize_answer",
    "exact_match",
    "contains_answer",
    "trim_passage",
    "PASSAGE_WORDS",
    "HEADLINE_FALLBACK_WORDS",
    "QUESTIONS_PATH",
]

#: Words of an article's text that go into its passage, after the title (see :func:`article_passages`).
PASSAGE_WORDS = 100
#: Words that stand for an article without a title when only headlines are indexed (``max_words=0``).
HEADLINE_FALLBACK_WORDS = 12
#: The chapter's question set: question_id, article_id, question, answer ("|" between accepted answers).
QUESTIONS_PATH = Path(__file__).parent / "data" / "qa" / "news_questions.csv"


def _check_k(k, n: int, what: str = "documents") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of {what} ({n}); use k <= {n}")
    return int(k)


def _check_queries(queries) -> list:
    if isinstance(queries, str):
        raise TypeError("queries must be a list of strings, got a single str; wrap it in a list: [query]")
    queries = list(queries)
    if not queries:
        raise ValueError("queries is empty: pass at least one query")
    for i, q in enumerate(queries):
        if isinstance(q, str) and not q.strip():
            raise ValueError(f"query {i} is empty or blank: {q!r}")
    return queries


def top_k_from_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row of ``scores``, best first, ties broken by lower index.

    Returns ``(indices, values)``, both of shape ``(n_rows, k)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be a 2-d array (queries x documents) with at least one column, got shape {scores.shape}")
    k = _check_k(k, scores.shape[1])
    columns = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((columns, -scores), axis=-1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


class BM25:
    """Okapi BM25 scores of documents for a query, as ``rank_bm25.BM25Okapi`` defines them.

    For a query with terms ``q`` (repeated terms count as often as they occur) and
    a document ``d`` of length ``|d|`` (in tokens),

    ``score(d) = sum_q idf(q) * tf(q, d) * (k1 + 1) / (tf(q, d) + k1 * (1 - b + b * |d| / avgdl))``

    with ``idf(q) = ln((N - df(q) + 0.5) / (df(q) + 0.5))``; a negative idf (a term
    in more than half the documents) is replaced by ``epsilon`` times the mean
    idf of the vocabulary. Terms never seen in fitting score 0.

    Parameters
    ----------
    k1 : float
        How fast repeated occurrences of a term saturate (0: only presence counts).
    b : float
        How much a document's length discounts its term counts (0: not at all, 1: fully).
    epsilon : float
        The floor of negative idfs, as a fraction of the mean idf.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        if not isinstance(k1, numbers.Real) or isinstance(k1, bool) or k1 < 0:
            raise ValueError(f"k1 must be a non-negative number, got {k1!r}")
        if not isinstance(b, numbers.Real) or isinstance(b, bool) or not 0 <= b <= 1:
            raise ValueError(f"b must be a number in [0, 1], got {b!r}")
        if not isinstance(epsilon, numbers.Real) or isinstance(epsilon, bool):
            raise ValueError(f"epsilon must be a number, got {epsilon!r}")
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)

    def fit(self, documents) -> "BM25":
        """Index ``documents`` (strings, tokenized with :func:`companion.text.tokenize`, or token lists)."""
        docs = as_token_lists(documents)
        if not docs:
            raise ValueError("no documents to index: pass a non-empty list of documents")
        vocabulary: dict[str, int] = {}
        rows, cols = [], []
        for i, doc in enumerate(docs):
            for token in doc:
                cols.append(vocabulary.setdefault(token, len(vocabulary)))
                rows.append(i)
        if not vocabulary:
            raise ValueError(f"the {len(docs)} documents contain no tokens at all: nothing to index")
        counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocabulary)))
        counts.sum_duplicates()
        lengths = np.array([len(doc) for doc in docs], dtype=np.float64)
        n = len(docs)
        df = np.bincount(counts.indices, minlength=len(vocabulary))
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        idf[idf < 0] = self.epsilon * idf.mean()
        # the weight of each (document, term) pair, so that a query's scores are one product
        row_of = np.repeat(np.arange(n), np.diff(counts.indptr))
        tf = counts.data
        norm = self.k1 * (1 - self.b + self.b * lengths / lengths.mean())
        weights = counts.copy()
        weights.data = idf[counts.indices] * tf * (self.k1 + 1) / (tf + norm[row_of])
        self.vocabulary_, self.idf_, self.doc_lengths_ = vocabulary, idf, lengths
        self.avgdl_, self.n_documents_, self._weights = float(lengths.mean()), n, weights.tocsc()
        return self

    def _query_matrix(self, queries) -> sp.csr_matrix:
        if not hasattr(self, "_weights"):
            raise RuntimeError("this BM25 is not fitted yet: call fit(documents) first")
        tokens = as_token_lists(_check_queries(queries))
        rows, cols = [], []
        for i, query in enumerate(tokens):
            for token in query:
                col = self.vocabulary_.get(token)
                if col is not None:
                    rows.append(i)
                    cols.append(col)
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(tokens), len(self.vocabulary_)))

    def scores(self, queries) -> np.ndarray:
        """BM25 score of every document for every query: shape ``(n_queries, n_documents)``."""
        return np.asarray((self._query_matrix(queries) @ self._weights.T).toarray())

    def top_k(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, scores)`` of the ``k`` best documents per query (see :func:`top_k_from_scores`)."""
        return top_k_from_scores(self.scores(queries), k)


class TfidfRetriever:
    """Cosine similarity between the TF-IDF vectors of queries and documents.

    ``tfidf`` is a :class:`companion.tfidf.Tfidf` (default: words, smooth idf, l2
    norm), fitted on the documents; queries are transformed with the same
    vocabulary and idf, so words that no document holds are ignored.
    """

    def __init__(self, tfidf: Tfidf | None = None):
        self.tfidf = tfidf if tfidf is not None else Tfidf(norm="l2")
        if getattr(self.tfidf, "norm", None) != "l2":
            raise ValueError(f"TfidfRetriever needs l2-normalised vectors, got norm={self.tfidf.norm!r}")

    def fit(self, documents) -> "TfidfRetriever":
        """Fit the TF-IDF vocabulary and idf on ``documents`` and store their vectors."""
        self.matrix_ = self.tfidf.fit_transform(documents)
        return self

    def scores(self, queries) -> np.ndarray:
        """Cosine similarity of every query with every document: ``(n_queries, n_documents)``."""
        if not hasattr(self, "matrix_"):
            raise RuntimeError("this TfidfRetriever is not fitted yet: call fit(documents) first")
        return np.asarray((self.tfidf.transform(_check_queries(queries)) @ self.matrix_.T).toarray())

    def top_k(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, similarities)`` of the ``k`` best documents per query."""
        return top_k_from_scores(self.scores(queries), k)


class CosineIndex:
    """Exact cosine-similarity search over a fixed set of dense vectors (one row per document).

    The rows are divided by their length once, at construction; a search divides
    the query vectors too, so the scores are cosines whatever the input lengths.
    A zero row (or query) has no direction, hence no cosine: it is an error.

    >>> import numpy as np
    >>> index = CosineIndex(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    >>> ids, sims = index.search(np.array([[3.0, 1.0]]), k=2)
    >>> ids.tolist(), sims.round(3).tolist()
    ([[0, 2]], [[0.949, 0.894]])
    """

    def __init__(self, vectors):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise ValueError(
                f"vectors must be a non-empty 2-d array (documents x dimensions), got shape {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinite values")
        lengths = np.linalg.norm(vectors, axis=1)
        zero = np.flatnonzero(lengths == 0)
        if len(zero):
            raise ValueError(f"vectors has {len(zero)} zero rows (first: row {zero[0]}); cosine is undefined for them")
        self.vectors = vectors / lengths[:, None]

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        """Number of dimensions of the indexed vectors."""
        return self.vectors.shape[1]

    def scores(self, queries) -> np.ndarray:
        """Cosine of every query vector (rows of ``queries``) with every indexed vector."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[0] == 0:
            raise ValueError(f"queries must be a non-empty 2-d array (queries x {self.dim}), got shape {queries.shape}")
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors have {queries.shape[1]} dimensions but the index has {self.dim}")
        lengths = np.linalg.norm(queries, axis=1)
        if (lengths == 0).any() or not np.isfinite(lengths).all():
            raise ValueError(f"query {int(np.flatnonzero(~(lengths > 0))[0])} is a zero or non-finite vector")
        return (queries / lengths[:, None]) @ self.vectors.T

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, cosines)`` of the ``k`` nearest indexed vectors per query, best first.

        ``k`` larger than the index is an error (ask for ``k=len(index)`` to rank everything).
        """
        _check_k(k, len(self), "indexed vectors")
        return top_k_from_scores(self.scores(queries), k)


def reciprocal_rank_fusion(rankings: Sequence[np.ndarray], k: int | None = None, c: float = 60.0) -> np.ndarray:
    """Fuse several rankings of the same documents by reciprocal rank (Cormack et al. 2009).

    Each of ``rankings`` has shape ``(n_queries, depth)``: document ids, best
    first. A document's fused score is ``sum over rankings of 1 / (c + rank)``
    (rank 1 = best; absent from a ranking: no term). Returns the fused ids per
    query, best first (ties by lower id), ``k`` of them (all documents that
    appear in any ranking if ``k`` is None).

    >>> reciprocal_rank_fusion([np.array([[3, 1, 2]]), np.array([[1, 2, 3]])]).tolist()
    [[1, 3, 2]]
    """
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or c < 0:
        raise ValueError(f"c must be a non-negative number, got {c!r}")
    rankings = [np.asarray(r) for r in rankings]
    if not rankings:
        raise ValueError("rankings is empty: pass at least one ranking")
    n_queries = rankings[0].shape[0] if rankings[0].ndim == 2 else -1
    for i, r in enumerate(rankings):
        if r.ndim != 2 or r.shape[0] != n_queries or r.shape[1] == 0:
            raise ValueError(
                f"ranking {i} has shape {r.shape}; every ranking must be 2-d (queries x depth) "
                f"with the same number of queries as ranking 0"
            )
    fused = []
    for q in range(n_queries):
        score: dict[int, float] = {}
        for r in rankings:
            for rank, doc in enumerate(r[q].tolist(), start=1):
                score[doc] = score.get(doc, 0.0) + 1.0 / (c + rank)
        fused.append(sorted(score, key=lambda doc: (-score[doc], doc)))
    depth = min(len(f) for f in fused)
    if k is not None:
        depth = _check_k(k, depth, "fused documents")
    return np.array([f[:depth] for f in fused])


def gold_ranks(rankings, gold) -> np.ndarray:
    """Rank (1 = first) of each query's gold document in its ranking; 0 where it is not in the ranking.

    ``gold[i]`` is one document id, or a collection of ids any of which counts (the best-ranked one is used).
    """
    rankings = [list(np.asarray(r).tolist()) for r in rankings]
    gold = list(gold)
    if len(rankings) != len(gold):
        raise ValueError(f"got {len(rankings)} rankings but {len(gold)} gold answers; need one per query")
    if not rankings:
        raise ValueError("no rankings: pass at least one query's ranking")
    out = np.zeros(len(gold), dtype=np.int64)
    for i, (ranking, g) in enumerate(zip(rankings, gold)):
        wanted = set(g) if isinstance(g, (set, frozenset, list, tuple)) else {g}
        for rank, doc in enumerate(ranking, start=1):
            if doc in wanted:
                out[i] = rank
                break
    return out


def recall_at_k(rankings, gold, k: int) -> float:
    """Share of queries whose gold document is among the first ``k`` of its ranking."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ranks = gold_ranks(rankings, gold)
    return float(((ranks >= 1) & (ranks <= k)).mean())


def mean_reciprocal_rank(rankings, gold) -> float:
    """Mean over queries of 1 / (rank of the gold document), counting 0 where it is not ranked."""
    ranks = gold_ranks(rankings, gold)
    return float(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0).mean())


def article_passages(articles: pd.DataFrame, max_words: int = PASSAGE_WORDS) -> list[str]:
    """One passage per article: ``"<title>. <first max_words words of text>"`` (whitespace-split words).

    ``max_words=0`` gives the headline alone; an article without a title then
    stands for itself by its first :data:`HEADLINE_FALLBACK_WORDS` words.
    """
    if isinstance(max_words, bool) or not isinstance(max_words, numbers.Integral) or max_words < 0:
        raise ValueError(f"max_words must be a non-negative integer, got {max_words!r}")
    missing = {"title", "text"} - set(articles.columns)
    if missing:
        raise ValueError(f"articles needs columns 'title' and 'text'; missing {sorted(missing)}")
    passages = []
    for title, text in zip(articles["title"].fillna(""), articles["text"].fillna("")):
        title = " ".join(str(title).split())
        words = str(text).split()
        body = " ".join(words[: max_words if (max_words or title) else HEADLINE_FALLBACK_WORDS])
        passages.append(f"{title}. {body}".strip() if title and body else (title or body))
    return passages


_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or is was were are be been did do does what which who whom "
    "whose how when where why that this these those it its as into about after before according".split()
)


def trim_passage(passage: str, question: str, max_sentences: int = 2) -> str:
    """The ``max_sentences`` sentences of ``passage`` that share the most content words with ``question``.

    Sentences are split after ``.``, ``!`` or ``?``; a sentence's score is the
    number of distinct question words (lower-cased, without common function
    words) it contains; ties go to the earlier sentence, and the chosen ones
    are returned in their original order. Only the question is used, never the answer.

    >>> trim_passage("Rain fell. The mayor, Ann Lee, resigned. Shops shut.", "Who resigned as mayor?", 1)
    'The mayor, Ann Lee, resigned.'
    """
    from .text import tokenize

    if not isinstance(passage, str) or not passage.strip():
        raise ValueError(f"passage must be a non-empty string, got {passage!r}")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    if isinstance(max_sentences, bool) or not isinstance(max_sentences, numbers.Integral) or max_sentences < 1:
        raise ValueError(f"max_sentences must be a positive integer, got {max_sentences!r}")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(passage.split())) if s]
    wanted = set(tokenize(question)) - _STOPWORDS
    overlap = [len(wanted & set(tokenize(s))) for s in sentences]
    chosen = sorted(sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))[:max_sentences])
    return " ".join(sentences[i] for i in chosen)


def load_news_questions() -> pd.DataFrame:
    """The chapter's questions, one row each.

    Columns: question_id, article_id (the article the question was written from),
    question, answer (accepted answers separated by ``|``), ``answers`` (them as a
    list) and ``also_answers`` (list of other article_ids known to answer it too).
    """
    questions = pd.read_csv(QUESTIONS_PATH, dtype={"question_id": int, "article_id": int, "question": str,
                                                   "answer": str, "also_answers": str})
    questions["answers"] = questions["answer"].str.split("|")
    questions["also_answers"] = [[int(a) for a in str(v).split()] if isinstance(v, str) else []
                                 for v in questions["also_answers"]]
    return questions


# ---------------------------------------------------------------------- answering with a language model

_EXAMPLE = (
    "Passage: Heavy rain flooded the town of Ashby on Sunday, and 200 homes were evacuated.\n"
    "Question: How many homes were evacuated in Ashby?\n"
    "Answer: 200\n\n"
)


def answer_prompt(question: str, passage: str | None = None, max_words: int = 80) -> str:
    """A prompt for a base language model: one worked example, then the passage (if any) and the question.

    The passage is cut to its first ``max_words`` words. Without a passage the
    prompt is *closed-book*: the model must answer from what it memorised.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    if isinstance(max_words, bool) or not isinstance(max_words, numbers.Integral) or max_words < 1:
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    if passage is None:
        example = _EXAMPLE.split("\n", 1)[1]
        return f"{example}Question: {question.strip()}\nAnswer:"
    if not isinstance(passage, str) or not passage.strip():
        raise ValueError(f"passage must be a non-empty string or None, got {passage!r}")
    trimmed = " ".join(passage.split()[:max_words])
    return f"{_EXAMPLE}Passage: {trimmed}\nQuestion: {question.strip()}\nAnswer:"


def generate_answers(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8,
                     batch_size: int = 8) -> list[str]:
    """Greedy continuation of each prompt, cut at the first line break.

    Prompts go through the model ``batch_size`` at a time, padded on the left:
    one batched pass reads the weights once for the whole batch, which on a CPU
    is several times faster than one prompt at a time. Padding can move an
    answer's logits in the last bits, so the batches are fixed: the prompts are
    sorted, and batch ``i`` is always the same prompts; the answers come back
    in the order of ``prompts``.
    """
    import torch

    prompts = _check_queries(prompts)
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    ordered = sorted(set(prompts))
    answer_of: dict[str, str] = {}
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    try:
        with torch.inference_mode():
            for start in range(0, len(ordered), batch_size):
                batch = ordered[start : start + batch_size]
                inputs = tokenizer(batch, return_tensors="pt", padding=True)
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
                for prompt, row in zip(batch, out[:, inputs["input_ids"].shape[1] :]):
                    text = tokenizer.decode(row, skip_special_tokens=True)
                    answer_of[prompt] = text.strip().split("\n")[0].strip()
    finally:
        tokenizer.padding_side = side
    return [answer_of[p] for p in prompts]


def normalize_answer(text: str) -> str:
    """Lower case, without punctuation, English articles (a, an, the) or extra spaces (SQuAD's rule)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _answers(answers) -> list[str]:
    if isinstance(answers, str):
        answers = [answers]
    answers = [a for a in answers]
    if not answers or not all(isinstance(a, str) and normalize_answer(a) for a in answers):
        raise ValueError(f"answers must be one or more non-empty strings, got {answers!r}")
    return answers


def exact_match(prediction: str, answers) -> bool:
    """True if the normalised prediction equals a normalised accepted answer."""
    return normalize_answer(prediction) in {normalize_answer(a) for a in _answers(answers)}


def contains_answer(prediction: str, answers) -> bool:
    """True if a normalised accepted answer occurs in the normalised prediction, on word boundaries."""
    padded = f" {normalize_answer(prediction)} "
    return any(f" {normalize_answer(a)} " in padded for a in _answers(answers))
