"""The loaders against the sizes published with each data set (ASSETS.md, the papers)."""

import numpy as np
import pytest

from companion import datasets
from companion.text import tokenize


def test_news_articles():
    df = datasets.news_articles()
    assert len(df) == 3824
    assert df["article_id"].is_unique and df["article_id"].is_monotonic_increasing
    assert df["outlet"].notna().all()
    assert df["outlet"].str.contains(r"^[a-z0-9.-]+\.[a-z]+$").all()
    assert "bbc.co.uk" in set(df["outlet"])
    assert df["publish_date"].dt.year.isin([2016, 2017]).all()


def test_news_tokens_match_the_tokenizer():
    docs = datasets.news_tokens()
    df = datasets.news_articles()
    assert len(docs) == len(df)
    assert docs[7] == tokenize(f"{df['title'][7]}\n{df['text'][7]}")
    n_tokens = sum(map(len, docs))
    assert 1.9e6 < n_tokens < 2.2e6  # ASSETS.md: ~2.0M word tokens


def test_rotten_tomatoes_counts():
    df = datasets.rotten_tomatoes()
    assert (df["label"] == 1).sum() == 7403  # fresh
    assert (df["label"] == 0).sum() == 5405  # rotten
    assert set(df.columns) == {"text", "label", "movie_name"}


def test_rotten_tomatoes_split_is_by_film_and_fixed():
    train, test = datasets.rotten_tomatoes_split()
    assert len(train) + len(test) == 7403 + 5405
    assert not set(train["movie_name"]) & set(test["movie_name"])
    films = train["movie_name"].nunique() + test["movie_name"].nunique()
    assert test["movie_name"].nunique() == round(datasets.RT_TEST_FRACTION * films)
    train2, test2 = datasets.rotten_tomatoes_split()
    assert train.equals(train2) and test.equals(test2)
    assert 0.4 < test["label"].mean() < 0.7


@pytest.mark.parametrize("loader, n", [(datasets.wordsim353, 353), (datasets.simlex999, 999)])
def test_word_pairs(loader, n):
    df = loader()
    assert len(df) == n
    assert df["score"].between(0, 10).all()
    assert (df["word1"] == df["word1"].str.lower()).all()


def test_wordsim_known_pair():
    df = datasets.wordsim353()
    row = df[(df.word1 == "tiger") & (df.word2 == "cat")]
    assert float(row["score"].iloc[0]) == pytest.approx(7.35)


def test_google_analogies():
    df = datasets.google_analogies()
    assert len(df) == 19544
    assert df["section"].nunique() == 14
    assert (df.kind == "semantic").sum() == 8869
    assert (df.kind == "syntactic").sum() == 10675
    first = df.iloc[0]
    assert (first.a, first.b, first.c, first.d) == ("athens", "greece", "baghdad", "iraq")


def test_lee_corpus_and_similarities():
    assert len(datasets.lee_corpus("test")) == 50
    assert len(datasets.lee_corpus("background")) == 300
    sims = datasets.lee_similarities()
    assert sims.shape == (50, 50)
    assert np.allclose(sims, sims.T)
    assert np.allclose(np.diag(sims), 1.0)
    with pytest.raises(ValueError, match="valid parts are: test, background"):
        datasets.lee_corpus("train")


def test_convention_speeches():
    df = datasets.convention_speeches()
    assert len(df) == 189
    assert df["party"].value_counts().to_dict() == {"democrat": 123, "republican": 66}
