import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from companion.datasets import lee_corpus
from companion.text import tokenize
from companion.tfidf import Tfidf, as_token_lists, most_similar_documents

WORDS = ["apple", "berry", "cherry", "date", "elder", "fig", "grape"]


def random_docs(seed, n_docs=40, max_len=14):
    """Random documents over a small alphabet of words, with an empty document among them."""
    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, size=rng.integers(1, max_len))) for _ in range(n_docs)]
    docs.insert(int(rng.integers(0, n_docs)), "")
    return docs


def sklearn_twin(**options):
    return TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, **options)


OPTIONS = list(itertools.product([True, False], [True, False], ["l2", "l1", None]))


@pytest.mark.parametrize("smooth_idf, sublinear_tf, norm", OPTIONS)
@pytest.mark.parametrize("ngram_range, min_df", [((1, 1), 1), ((1, 2), 2), ((2, 3), 1), ((1, 3), 0.2)])
def test_agrees_with_scikit_learn(smooth_idf, sublinear_tf, norm, ngram_range, min_df):
    options = dict(smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm, ngram_range=ngram_range, min_df=min_df)
    train, new = random_docs(0), random_docs(1, n_docs=10) + ["apple kiwi berry", "kiwi"]
    ours, theirs = Tfidf(**options), sklearn_twin(**options)
    X, Y = ours.fit_transform(train), theirs.fit_transform(train)
    assert ours.features_ == theirs.get_feature_names_out().tolist()
    assert ours.vocabulary_ == theirs.vocabulary_
    assert np.abs(ours.idf_ - theirs.idf_).max() < 1e-9
    assert isinstance(X, sp.csr_matrix) and X.dtype == np.float64 and X.shape == Y.shape
    assert abs(X - Y).max() < 1e-9
    assert abs(ours.transform(new) - theirs.transform(new)).max() < 1e-9
    assert abs(ours.fit(train).transform(train) - X).max() < 1e-12


def test_agrees_with_scikit_learn_on_real_text():
    docs = lee_corpus("background")
    options = dict(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    ours, theirs = Tfidf(**options), sklearn_twin(**options)
    X, Y = ours.fit_transform(docs), theirs.fit_transform(docs)
    assert ours.features_ == theirs.get_feature_names_out().tolist()
    assert abs(X - Y).max() < 1e-9
    test_docs = lee_corpus("test")
    assert abs(ours.transform(test_docs) - theirs.transform(test_docs)).max() < 1e-9


def test_counts_without_idf_or_norm():
    X = Tfidf(norm=None, use_idf=False, ngram_range=(1, 2)).fit_transform(["dog bites man", "man bites dog"])
    # unigrams are shared, bigrams differ: features bites, bites dog, bites man, dog, dog bites, man, man bites
    assert X.toarray().tolist() == [[1, 0, 1, 1, 1, 1, 0], [1, 1, 0, 1, 0, 1, 1]]


def test_idf_by_hand():
    docs = ["the cat sat", "the dog sat", "the cat ate the fish"]
    plain = Tfidf(smooth_idf=False, norm=None).fit(docs)
    assert plain.features_ == ["ate", "cat", "dog", "fish", "sat", "the"]
    expected = [math.log(3 / 1) + 1, math.log(3 / 2) + 1, math.log(3) + 1, math.log(3) + 1, math.log(3 / 2) + 1, 1.0]
    assert np.allclose(plain.idf_, expected)
    assert plain.document_frequency_.tolist() == [1, 2, 1, 1, 2, 3]
    smooth = Tfidf(smooth_idf=True, norm=None).fit(docs)
    assert np.isclose(smooth.idf_[smooth.vocabulary_["the"]], math.log(4 / 4) + 1)
    assert np.isclose(smooth.idf_[smooth.vocabulary_["dog"]], math.log(4 / 2) + 1)
    # "the" occurs twice in document 3: tf 2, or 1 + ln 2 with sublinear tf
    row = Tfidf(smooth_idf=False, norm=None, sublinear_tf=True).fit_transform(docs)[2].toarray()[0]
    assert np.isclose(row[5], 1 + math.log(2))
    l2 = Tfidf(norm="l2").fit_transform(docs)
    assert np.allclose(np.sqrt(l2.multiply(l2).sum(axis=1)).A1, 1.0)
    l1 = Tfidf(norm="l1").fit_transform(docs)
    assert np.allclose(l1.sum(axis=1).A1, 1.0)


def test_token_lists_and_strings_give_the_same_matrix():
    docs = random_docs(2)
    a = Tfidf(ngram_range=(1, 2)).fit_transform(docs)
    b = Tfidf(ngram_range=(1, 2)).fit_transform([tokenize(d) for d in docs])
    assert abs(a - b).max() == 0


def test_empty_documents_give_zero_rows():
    tfidf = Tfidf().fit(["a b", "", "b c"])
    X = tfidf.transform(["", "zzz", "a"])
    assert X.shape == (3, 3)
    assert X[0].nnz == 0 and X[1].nnz == 0 and np.isclose(X[2, 0], 1.0)


def test_works_in_scikit_learn_tools():
    tfidf = Tfidf(ngram_range=(1, 2), min_df=2)
    twin = clone(tfidf)
    assert twin.get_params() == tfidf.get_params()
    tfidf.fit(random_docs(0))
    assert tfidf.get_feature_names_out().tolist() == tfidf.features_


@pytest.mark.parametrize("docs", [[""], ["", "", "  ...  "], ["!!!"]])
def test_all_empty_documents(docs):
    with pytest.raises(ValueError, match="empty vocabulary"):
        Tfidf().fit(docs)


def test_no_ngrams_of_the_requested_size():
    with pytest.raises(ValueError, match=r"empty vocabulary.*ngram_range=\(2, 2\)"):
        Tfidf(ngram_range=(2, 2)).fit(["one", "two"])


def test_empty_vocabulary_after_min_df():
    docs = ["a b", "b c", "c d"]  # highest document frequency: 2 ("b" and "c")
    with pytest.raises(ValueError, match=r"min_df=3 .*highest document frequency found is 2"):
        Tfidf(min_df=3).fit(docs)
    with pytest.raises(ValueError, match=r"min_df=0.9 .*highest document frequency found is 2"):
        Tfidf(min_df=0.9).fit(docs)


@pytest.mark.parametrize("bad", [(2, 1), (0, 2), (1,), "ab", (1.5, 2)])
def test_invalid_ngram_range(bad):
    with pytest.raises(ValueError, match=r"invalid ngram_range=" + __import__("re").escape(repr(bad))):
        Tfidf(ngram_range=bad)
    tfidf = Tfidf()
    tfidf.set_params(ngram_range=bad)
    with pytest.raises(ValueError, match=r"invalid ngram_range="):
        tfidf.fit(["a b"])


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, None])
def test_invalid_min_df(bad):
    with pytest.raises(ValueError, match=r"invalid min_df=" + __import__("re").escape(repr(bad))):
        Tfidf(min_df=bad)


def test_invalid_norm():
    with pytest.raises(ValueError, match=r"invalid norm='l3': expected one of 'l2', 'l1' or None"):
        Tfidf(norm="l3")


def test_transform_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        Tfidf().transform(["a b"])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Tfidf().get_feature_names_out()


def test_bad_documents():
    with pytest.raises(TypeError, match="got a single str"):
        Tfidf().fit("a b c")
    with pytest.raises(TypeError, match="document 1 has type int"):
        as_token_lists(["a", 3])
    with pytest.raises(ValueError, match="no documents"):
        Tfidf().fit([])


@pytest.mark.parametrize("norm", ["l2", None])
def test_most_similar_documents_agrees_with_scikit_learn(norm):
    X = Tfidf(norm=norm, ngram_range=(1, 2)).fit_transform(random_docs(4))
    full = cosine_similarity(X)
    for row in (0, 5, 17):
        rows, sims = most_similar_documents(X, row, topn=6, decimals=None)
        expected = np.delete(full[row], row)
        others = np.delete(np.arange(X.shape[0]), row)
        order = np.lexsort((others, -expected))[:6]
        assert rows.tolist() == others[order].tolist()
        assert np.allclose(sims, expected[order])


def test_most_similar_documents_by_hand():
    X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]]))
    rows, sims = most_similar_documents(X, 0, topn=3)
    # cos(row0, row2) = 3 / (1 * sqrt(18)) = 0.707; rows 1 and 3 tie at 0, broken by index
    assert rows.tolist() == [2, 1, 3] and sims.tolist() == [0.707, 0.0, 0.0]


def test_most_similar_documents_bad_input():
    X = sp.csr_matrix(np.eye(3))
    with pytest.raises(IndexError, match=r"row 3 is outside the matrix, which has rows 0..2"):
        most_similar_documents(X, 3)
    with pytest.raises(ValueError, match="topn must be a positive integer, got 0"):
        most_similar_documents(X, 0, topn=0)
