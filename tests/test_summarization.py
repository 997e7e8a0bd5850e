"""Tests for companion.summarization: splitter, PageRank vs networkx, ROUGE vs rouge-score, extractors."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from rouge_score import rouge_scorer

from companion.summarization import (
    boundary_agreement,
    bootstrap_mean_interval,
    centroid_scores,
    clean_generation,
    cosine_graph,
    extract_summary,
    novel_word_share,
    pagerank,
    reference_summaries,
    rouge,
    rouge_l,
    rouge_n,
    rouge_tokenize,
    sentence_spans,
    split_sentences,
    summary_prompt,
    summary_filter_counts,
    summary_sample,
    textrank_scores,
)

# --------------------------------------------------------------------------- sentence splitter


@pytest.mark.parametrize(
    "text, expected",
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Sen. Elizabeth Warren (D-Mass.) said no. Then she left.",
         ["Sen. Elizabeth Warren (D-Mass.) said no.", "Then she left."]),
        ("Rep. Sean Duffy, R-Wis. and Mr. Smith met Dr. Jones.", ["Rep. Sean Duffy, R-Wis. and Mr. Smith met Dr. Jones."]),
        ("Prices rose 3.5 percent. Markets fell.", ["Prices rose 3.5 percent.", "Markets fell."]),
        ("He flew to the U.S. for talks. Donald J. Trump met him.",
         ["He flew to the U.S. for talks.", "Donald J. Trump met him."]),
        ('"We won," he said. "It is over." Later, more.', ['"We won," he said.', '"It is over."', "Later, more."]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        ("It costs $5 at 3 p.m. on Monday.", ["It costs $5 at 3 p.m. on Monday."]),
        ('the vote on DeVos"?highly contentious nomination. Next.', ['the vote on DeVos"?highly contentious nomination.', "Next."]),
        ("  Leading and trailing space.   ", ["Leading and trailing space."]),
        ("lower case after a period. is not a boundary", ["lower case after a period. is not a boundary"]),
        ("It was 2016. 45 people came.", ["It was 2016.", "45 people came."]),
    ],
)
def test_split_sentences_hand_cases(text, expected):
    assert split_sentences(text) == expected


def test_known_limitation_acronym_before_a_capital_is_not_split():
    # documented: a dotted acronym never ends a sentence
    assert split_sentences("He lives in the U.S. The end.") == ["He lives in the U.S. The end."]


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_has_no_sentences(text):
    assert split_sentences(text) == []
    assert sentence_spans(text) == []


def test_spans_point_into_the_text():
    text = ' A b. "C d," e said.  F? '
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["A b.", '"C d," e said.', "F?"]


def test_split_sentences_rejects_non_strings():
    with pytest.raises(TypeError, match="string"):
        split_sentences(None)
    with pytest.raises(TypeError, match="string"):
        split_sentences(["A. B."])


def test_boundary_agreement_counts():
    ref = [(0, 5), (6, 10), (11, 20)]  # inner boundaries 5, 10
    pred = [(0, 5), (6, 15), (16, 20)]  # inner boundaries 5, 15
    agreement = boundary_agreement(ref, pred)
    assert agreement == {"reference": 2, "predicted": 2, "shared": 1, "precision": 0.5, "recall": 0.5}
    assert boundary_agreement([(0, 3)], [(0, 3)])["precision"] == 1.0


# --------------------------------------------------------------------------- PageRank and the extractors


def _random_graph(n, seed, symmetric=False, with_dangling=False):
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    np.fill_diagonal(W, 0)
    if symmetric:
        W = (W + W.T) / 2
    if with_dangling:
        W[0] = 0  # node 0 has no out-edges
    return W


@pytest.mark.parametrize("symmetric, with_dangling", [(True, False), (False, False), (False, True)])
def test_pagerank_matches_networkx(symmetric, with_dangling):
    W = _random_graph(12, seed=3, symmetric=symmetric, with_dangling=with_dangling)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(W)))
    graph.add_weighted_edges_from((i, j, W[i, j]) for i in range(len(W)) for j in range(len(W)) if W[i, j] > 0)
    expected = nx.pagerank(graph, alpha=0.85, weight="weight", tol=1e-12, max_iter=1000)
    ours = pagerank(W, damping=0.85, tol=1e-12)
    np.testing.assert_allclose(ours, [expected[i] for i in range(len(W))], atol=1e-9)
    assert ours.sum() == pytest.approx(1.0)


def test_pagerank_hand_cases():
    # a symmetric star: the hub gets the most; two isolated nodes share uniformly
    star = np.zeros((4, 4))
    star[0, 1:] = star[1:, 0] = 1
    scores = pagerank(star)
    assert scores.argmax() == 0 and np.allclose(scores[1:], scores[1])
    # hub: p0 = 0.15/4 + 0.85 * 3 * p1 and p1 = 0.15/4 + 0.85 * p0 / 3, solved by hand
    p0 = (0.15 / 4 + 0.85 * 3 * 0.15 / 4) / (1 - 0.85 ** 2)
    assert scores[0] == pytest.approx(p0)
    np.testing.assert_allclose(pagerank(np.zeros((2, 2))), [0.5, 0.5])


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros((0, 0)), -np.ones((2, 2)), np.array([[0, np.nan], [1, 0]])])
def test_pagerank_rejects_bad_weights(bad):
    with pytest.raises(ValueError, match="weights"):
        pagerank(bad)


def test_pagerank_rejects_bad_damping_and_reports_no_convergence():
    with pytest.raises(ValueError, match="damping"):
        pagerank(np.ones((2, 2)), damping=1.0)
    with pytest.raises(RuntimeError, match="converge"):
        pagerank(_random_graph(6, seed=1, symmetric=True), tol=1e-16, max_iter=2)


def test_cosine_graph_and_centroid_on_a_toy_article():
    # three sentences about topic x, one about topic y: the odd one out scores lowest
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
    W = cosine_graph(X)
    assert np.allclose(np.diag(W), 0) and np.allclose(W, W.T) and (W >= 0).all()
    assert W[0, 3] == pytest.approx(0.0)
    assert centroid_scores(X).argmin() == 3
    assert textrank_scores(X).argmin() == 3
    assert extract_summary(["a", "b", "c", "d"], 2, "centroid", X) == [1, 2]


def test_negative_similarities_are_not_edges():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.1]])
    assert cosine_graph(X)[0, 1] == 0.0


def test_extract_summary_methods():
    sentences = [f"s{i}" for i in range(6)]
    X = np.eye(6)
    X[2] = X[4] = 1.0  # sentences 2 and 4 are the most central
    assert extract_summary(sentences, 3, "lead") == [0, 1, 2]
    assert extract_summary(sentences, 2, "textrank", X) == [2, 4]
    assert extract_summary(sentences, 2, "centroid", X) == [2, 4]
    random_pick = extract_summary(sentences, 3, "random", seed=5)
    assert random_pick == extract_summary(sentences, 3, "random", seed=5)
    assert random_pick == sorted(random_pick) and len(set(random_pick)) == 3


def test_extract_summary_ties_go_to_the_earlier_sentence():
    assert extract_summary(["a", "b", "c"], 1, "centroid", np.ones((3, 2))) == [0]


@pytest.mark.parametrize("method", ["lead", "random", "centroid", "textrank"])
def test_k_larger_than_the_article_returns_all_sentences(method):
    assert extract_summary(["a", "b"], 5, method, np.eye(2)) == [0, 1]


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3"])
def test_extract_summary_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        extract_summary(["a", "b"], k)


def test_extract_summary_bad_input():
    with pytest.raises(ValueError, match="no sentence"):
        extract_summary([], 3)
    with pytest.raises(TypeError, match="list of strings"):
        extract_summary("A. B.", 1)
    with pytest.raises(ValueError, match="method must be one of"):
        extract_summary(["a"], 1, "best")
    with pytest.raises(ValueError, match="needs embeddings"):
        extract_summary(["a", "b"], 1, "textrank")
    with pytest.raises(ValueError, match="3 rows but there are 2"):
        extract_summary(["a", "b"], 1, "centroid", np.eye(3))


# --------------------------------------------------------------------------- ROUGE


def test_rouge_hand_computed():
    # candidate "the cat sat on the mat", reference "the cat lay on the mat": 6 tokens each
    # unigrams shared: the x2, cat, on, mat = 5 -> P = R = F = 5/6
    # bigrams: (the cat), (on the), (the mat) shared of 5 -> 3/5; LCS = the cat on the mat = 5
    scores = rouge("The cat sat on the mat.", "the cat lay on the mat")
    assert scores["rouge1"].fmeasure == pytest.approx(5 / 6)
    assert scores["rouge2"].fmeasure == pytest.approx(3 / 5)
    assert scores["rougeL"].precision == pytest.approx(5 / 6)


def test_rouge_counts_are_clipped():
    score = rouge_n(["the", "the", "the"], ["the", "cat"], 1)
    assert score.precision == pytest.approx(1 / 3) and score.recall == pytest.approx(1 / 2)


def test_rouge_tokenize_matches_rouge_score_rules():
    assert rouge_tokenize("U.S. President's 3.5% DeVos\"?highly") == ["u", "s", "president", "s", "3", "5", "devos", "highly"]


TEXTS = [
    ("Police arrested two men in Berlin on Tuesday.", "Two men were arrested by Berlin police on Tuesday night."),
    ("The Senate confirmed Betsy DeVos; Pence broke the 50-50 tie.", "Vice President Pence cast a tie-breaking vote to confirm DeVos."),
    ("a a a b b c", "a b c a b c a"),
    ("Nothing in common here", "completely different words"),
    ("Short.", "A much longer reference about short things, short and long, short."),
]


@pytest.mark.parametrize("candidate, reference", TEXTS)
def test_rouge_matches_rouge_score(candidate, reference):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    expected = scorer.score(reference, candidate)  # rouge-score takes (target, prediction)
    ours = rouge(candidate, reference)
    for name in ("rouge1", "rouge2", "rougeL"):
        np.testing.assert_allclose(tuple(ours[name]), tuple(expected[name]), atol=1e-12)


def test_rouge_matches_rouge_score_on_random_token_strings():
    rng = np.random.default_rng(0)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    words = list("abcdef")
    for _ in range(30):
        cand = " ".join(rng.choice(words, size=rng.integers(1, 15)))
        ref = " ".join(rng.choice(words, size=rng.integers(1, 15)))
        expected, ours = scorer.score(ref, cand), rouge(cand, ref)
        for name in ("rouge1", "rouge2", "rougeL"):
            assert ours[name].fmeasure == pytest.approx(expected[name].fmeasure, abs=1e-12)


def test_rouge_l_hand_case():
    assert rouge_l(list("abcbdab"), list("bdcaba")).precision == pytest.approx(4 / 7)  # CLRS: LCS length 4


@pytest.mark.parametrize("reference", ["", "   ", "?!..."])
def test_rouge_rejects_an_empty_reference(reference):
    with pytest.raises(ValueError, match="reference has no words"):
        rouge("some summary", reference)


def test_rouge_empty_candidate_scores_zero():
    assert all(score.fmeasure == 0.0 for score in rouge("", "a reference").values())


def test_rouge_n_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        rouge_n(["a"], ["a"], 0)


def test_novel_word_share():
    assert novel_word_share("Berlin police arrested Bob", "Police in Berlin arrested two men.") == pytest.approx(1 / 4)
    assert novel_word_share("", "anything") == 0.0


def test_bootstrap_mean_interval():
    values = np.random.default_rng(0).normal(0.3, 0.1, size=200)
    mean, low, high = bootstrap_mean_interval(values)
    assert low < mean < high and mean == pytest.approx(values.mean())
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(200), rel=0.2)  # normal approximation
    assert bootstrap_mean_interval([0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_interval([1.0], confidence=1.5)


# --------------------------------------------------------------------------- data and prompts


def _toy_articles():
    long_text = " ".join(f"Sentence number {i} is here." for i in range(8))
    return pd.DataFrame({
        "article_id": [1, 2, 3, 4],
        "subtitle": ["A subtitle of at least ten words that says what happened here.",  # kept
                     "Too short.",  # too short
                     "Sentence number 0 is here. Sentence number 1 is here.",  # copied from the text
                     "Another subtitle of at least ten words, long enough to keep."],  # text too short
        "text": [long_text, long_text, long_text, "One sentence only."],
    })


def test_summary_sample_filters():
    pool = summary_sample(_toy_articles(), n=None, min_subtitle_words=10, min_sentences=6)
    assert pool["article_id"].tolist() == [1]
    assert len(pool["sentences"][0]) == 8
    with pytest.raises(ValueError, match="eligible"):
        summary_sample(_toy_articles(), n=2)


def test_reference_summaries_file():
    refs = reference_summaries()
    assert list(refs.columns) == ["article_id", "summary"]
    assert len(refs) == 20 and refs["article_id"].is_unique
    sentences = refs["summary"].map(split_sentences).map(len)
    assert sentences.between(1, 3).all()


def test_summary_prompt_and_clean_generation():
    assert summary_prompt("one two three four", max_words=2) == "one two\n\nTL;DR:"
    with pytest.raises(ValueError, match="article"):
        summary_prompt("  ")
    assert clean_generation(" A did it. B saw it. C is unfin") == "A did it. B saw it."
    assert clean_generation("One. Two. Three. Four.", max_sentences=2) == "One. Two."
    assert clean_generation("First line.\n\nSomething else.") == "First line."
    assert clean_generation("no end") == "no end"
    assert clean_generation("") == ""
    with pytest.raises(ValueError, match="max_sentences"):
        clean_generation("A.", max_sentences=0)


def test_summary_filter_counts_follow_the_filters():
    counts = summary_filter_counts(_toy_articles(), min_subtitle_words=10, min_sentences=6)
    assert list(counts.values()) == [4, 4, 3, 2, 1]
    with pytest.raises(ValueError, match="missing"):
        summary_filter_counts(pd.DataFrame({"text": ["A."]}))
