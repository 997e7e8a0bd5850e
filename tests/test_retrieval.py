"""Tests for companion.retrieval: BM25 against rank_bm25, cosine search, metrics, answer scoring."""

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from companion.retrieval import (
    BM25,
    PASSAGE_WORDS,
    CosineIndex,
    TfidfRetriever,
    answer_prompt,
    article_passages,
    contains_answer,
    exact_match,
    generate_answers,
    gold_ranks,
    load_news_questions,
    mean_reciprocal_rank,
    normalize_answer,
    recall_at_k,
    reciprocal_rank_fusion,
    top_k_from_scores,
    trim_passage,
)
from companion.text import tokenize

TOY = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "cats and dogs and cats",
    "the stock market fell sharply on monday",
    "the the the",
]


# ----------------------------------------------------------------------------- BM25


def test_bm25_hand_computed():
    docs = ["the cat sat on the mat", "dogs chase cats", "the stock market fell"]
    scores = BM25().fit(docs).scores(["which market fell"])[0]
    # N = 3; "market" and "fell" are each in one document: idf = ln(2.5 / 1.5);
    # document 2 has 4 tokens, avgdl = 13 / 3; "which" is unknown and adds nothing
    idf = math.log(2.5 / 1.5)
    norm = 1.5 * (1 - 0.75 + 0.75 * 4 / (13 / 3))
    expected = 2 * idf * 2.5 / (1 + norm)
    assert scores[:2].tolist() == [0.0, 0.0]
    assert scores[2] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k1,b,epsilon", [(1.5, 0.75, 0.25), (1.2, 0.5, 0.1), (2.0, 1.0, 0.5), (0.5, 0.0, 0.25)])
def test_bm25_matches_rank_bm25_on_toy(k1, b, epsilon):
    corpus = [tokenize(d) for d in TOY]
    ours = BM25(k1=k1, b=b, epsilon=epsilon).fit(corpus)
    theirs = BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon)
    # "the" is in 4 of 5 documents (negative idf, floored); repeated and unknown terms too
    for query in ["the cat", "cats cats dogs", "stock market monday", "the the zebra", "zebra"]:
        tokens = tokenize(query)
        np.testing.assert_allclose(ours.scores([tokens])[0], theirs.get_scores(tokens), rtol=0, atol=1e-9)


def test_bm25_matches_rank_bm25_on_news():
    from companion.datasets import news_articles

    articles = news_articles().iloc[:300]
    corpus = [tokenize(p) for p in article_passages(articles)]
    questions = load_news_questions()["question"].tolist()[:10]
    ours = BM25().fit(corpus).scores(questions)
    theirs = BM25Okapi(corpus)
    for i, q in enumerate(questions):
        np.testing.assert_allclose(ours[i], theirs.get_scores(tokenize(q)), rtol=0, atol=1e-9)


def test_bm25_strings_and_tokens_agree():
    as_strings = BM25().fit(TOY).scores(["cat on the mat"])
    as_tokens = BM25().fit([tokenize(d) for d in TOY]).scores([tokenize("cat on the mat")])
    np.testing.assert_array_equal(as_strings, as_tokens)


def test_bm25_bad_input():
    with pytest.raises(ValueError, match="k1"):
        BM25(k1=-1)
    with pytest.raises(ValueError, match="b must"):
        BM25(b=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        BM25().fit([])
    with pytest.raises(ValueError, match="no tokens"):
        BM25().fit(["", "  "])
    with pytest.raises(RuntimeError, match="not fitted"):
        BM25().scores(["cat"])
    bm25 = BM25().fit(TOY)
    with pytest.raises(ValueError, match="empty"):
        bm25.scores([""])
    with pytest.raises(ValueError, match="empty"):
        bm25.scores([])
    with pytest.raises(TypeError, match="single str"):
        bm25.scores("cat")
    with pytest.raises(ValueError, match="larger than"):
        bm25.top_k(["cat"], k=6)


# ----------------------------------------------------------------------------- TF-IDF and cosine search


def test_tfidf_retriever_matches_sklearn_cosine():
    ours = TfidfRetriever().fit(TOY).scores(["cat on a mat", "dogs fell"])
    vectorizer = TfidfVectorizer(analyzer=tokenize).fit(TOY)
    theirs = cosine_similarity(vectorizer.transform(["cat on a mat", "dogs fell"]), vectorizer.transform(TOY))
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_tfidf_retriever_bad_input():
    from companion.tfidf import Tfidf

    with pytest.raises(ValueError, match="l2"):
        TfidfRetriever(Tfidf(norm=None))
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfRetriever().scores(["cat"])


def test_cosine_index_hand_example_and_sklearn():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]])
    index = CosineIndex(vectors)
    ids, sims = index.search(np.array([[3.0, 1.0]]), k=4)
    assert ids.tolist() == [[0, 2, 1, 3]]
    np.testing.assert_allclose(sims[0], [3 / math.sqrt(10), 4 / math.sqrt(20), 1 / math.sqrt(10), -3 / math.sqrt(10)],
                               atol=1e-6)
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(50, 8)), rng.normal(size=(5, 8))
    np.testing.assert_allclose(CosineIndex(X).scores(Q), cosine_similarity(Q, X), atol=1e-5)
    best, _ = CosineIndex(X).search(Q, k=3)
    np.testing.assert_array_equal(best, np.argsort(-cosine_similarity(Q, X), axis=1)[:, :3])


def test_cosine_index_bad_input():
    with pytest.raises(ValueError, match="non-empty 2-d"):
        CosineIndex(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-empty 2-d"):
        CosineIndex(np.ones(3))
    with pytest.raises(ValueError, match="zero rows"):
        CosineIndex(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        CosineIndex(np.array([[1.0, np.nan]]))
    index = CosineIndex(np.eye(3))
    with pytest.raises(ValueError, match="k=4 is larger"):
        index.search(np.ones((1, 3)), k=4)
    with pytest.raises(ValueError, match="positive integer"):
        index.search(np.ones((1, 3)), k=0)
    with pytest.raises(ValueError, match="2 dimensions but the index has 3"):
        index.search(np.ones((1, 2)), k=1)
    with pytest.raises(ValueError, match="non-empty"):
        index.search(np.zeros((0, 3)), k=1)
    with pytest.raises(ValueError, match="zero or non-finite"):
        index.search(np.zeros((1, 3)), k=1)


def test_top_k_breaks_ties_by_index():
    ids, values = top_k_from_scores(np.array([[1.0, 3.0, 3.0, 0.0]]), k=3)
    assert ids.tolist() == [[1, 2, 0]] and values.tolist() == [[3.0, 3.0, 1.0]]
    with pytest.raises(ValueError, match="2-d"):
        top_k_from_scores(np.array([1.0, 2.0]), k=1)


def test_reciprocal_rank_fusion_hand_computed():
    a = np.array([[3, 1, 2], [0, 1, 2]])
    b = np.array([[1, 2, 3], [2, 1, 0]])
    fused = reciprocal_rank_fusion([a, b], c=0)
    # query 0: doc 1 = 1/2 + 1/1 = 1.5, doc 3 = 1 + 1/3, doc 2 = 1/3 + 1/2
    # query 1: docs 0 and 2 tie at 1 + 1/3 (lower id first), doc 1 = 1/2 + 1/2
    assert fused.tolist() == [[1, 3, 2], [0, 2, 1]]
    assert reciprocal_rank_fusion([a, b], k=1, c=0).tolist() == [[1], [0]]
    with pytest.raises(ValueError, match="same number of queries"):
        reciprocal_rank_fusion([a, b[:1]])
    with pytest.raises(ValueError, match="at least one"):
        reciprocal_rank_fusion([])
    with pytest.raises(ValueError, match="c must"):
        reciprocal_rank_fusion([a], c=-1)


# ----------------------------------------------------------------------------- metrics


def test_metrics_hand_computed():
    rankings = [[4, 2, 7], [1, 5, 9], [3, 8, 6], [0, 1, 2]]
    gold = [2, 1, 5, {9, 1}]  # ranks 2, 1, absent, 2 (best of the set)
    assert gold_ranks(rankings, gold).tolist() == [2, 1, 0, 2]
    assert recall_at_k(rankings, gold, 1) == 0.25
    assert recall_at_k(rankings, gold, 2) == 0.75
    assert recall_at_k(rankings, gold, 10) == 0.75
    assert mean_reciprocal_rank(rankings, gold) == pytest.approx((1 / 2 + 1 + 0 + 1 / 2) / 4)


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="one per query"):
        recall_at_k([[1, 2]], [1, 2], 1)
    with pytest.raises(ValueError, match="positive integer"):
        recall_at_k([[1, 2]], [1], 0)
    with pytest.raises(ValueError, match="at least one"):
        mean_reciprocal_rank([], [])


# ----------------------------------------------------------------------------- data and answers


def test_questions_are_answerable_from_their_passage():
    from companion.datasets import news_articles

    questions = load_news_questions()
    assert len(questions) >= 30
    assert questions["question_id"].is_unique
    articles = news_articles().set_index("article_id")
    assert set(questions["article_id"]) <= set(articles.index)
    also = [a for alts in questions["also_answers"] for a in alts]
    assert set(also) <= set(articles.index) and not set(also) & set(questions["article_id"])
    passages = dict(zip(articles.index, article_passages(articles)))
    for row in questions.itertuples():
        passage = normalize_answer(passages[row.article_id])
        assert any(normalize_answer(a) in passage for a in row.answers), (row.question_id, row.answer)
        for other in row.also_answers:  # a second answering article must hold an accepted answer too
            text = normalize_answer(passages[other])
            assert any(normalize_answer(a) in text for a in row.answers), (row.question_id, other)


def test_article_passages():
    import pandas as pd

    frame = pd.DataFrame({"title": ["A  title", ""], "text": ["one two  three four", "five six"]})
    assert article_passages(frame, max_words=2) == ["A title. one two", "five six"]
    # headlines only; an article without a title is represented by its first words
    assert article_passages(frame, max_words=0) == ["A title", "five six"]
    assert PASSAGE_WORDS >= 1
    with pytest.raises(ValueError, match="max_words"):
        article_passages(frame, max_words=-1)
    with pytest.raises(ValueError, match="missing"):
        article_passages(frame.drop(columns="text"))


def test_trim_passage():
    passage = "Rain fell on Monday. The mayor of Ashby, Ann Lee, resigned. Shops shut early. Lee was mayor for years."
    # sentence 2 shares {mayor, ashby, resigned}, sentence 4 shares {mayor}; kept in reading order
    assert trim_passage(passage, "Who resigned as mayor of Ashby?", 2) == (
        "The mayor of Ashby, Ann Lee, resigned. Lee was mayor for years.")
    assert trim_passage(passage, "Zebra?", 1) == "Rain fell on Monday."  # no overlap: the first sentence
    assert trim_passage("One sentence only", "Who?", 3) == "One sentence only"
    with pytest.raises(ValueError, match="max_sentences"):
        trim_passage(passage, "Who?", 0)
    with pytest.raises(ValueError, match="passage"):
        trim_passage(" ", "Who?")
    with pytest.raises(ValueError, match="question"):
        trim_passage(passage, "")


def test_answer_scoring():
    assert normalize_answer("The  Science Museum!") == "science museum"
    assert exact_match("the Science Museum.", "Science Museum")
    assert not exact_match("London's Science Museum", "Science Museum")
    assert contains_answer("London's Science Museum", "Science Museum")
    assert contains_answer("it was 20 days", ["twenty days", "20 days"])
    assert not contains_answer("1974 and 2017", "974")  # whole words only
    with pytest.raises(ValueError, match="non-empty"):
        exact_match("x", [])
    with pytest.raises(ValueError, match="non-empty"):
        contains_answer("x", ["!!"])
    with pytest.raises(TypeError, match="str"):
        normalize_answer(None)


def test_answer_prompt():
    prompt = answer_prompt("Who won?", "one two three four", max_words=2)
    assert prompt.endswith("Passage: one two\nQuestion: Who won?\nAnswer:")
    closed = answer_prompt("Who won?")
    assert "Passage" not in closed and closed.endswith("Question: Who won?\nAnswer:")
    with pytest.raises(ValueError, match="question"):
        answer_prompt("  ")
    with pytest.raises(ValueError, match="passage"):
        answer_prompt("Who?", "")
    with pytest.raises(ValueError, match="max_words"):
        answer_prompt("Who?", "text", max_words=0)


def test_generate_answers_bad_input():
    with pytest.raises(ValueError, match="empty"):
        generate_answers(None, None, [])
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_answers(None, None, ["Q"], max_new_tokens=0)
    with pytest.raises(ValueError, match="batch_size"):
        generate_answers(None, None, ["Q"], batch_size=0)
