import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from companion.models import load_glove
from companion.vectors import cosine_neighbours, cosine_similarity_matrix, keyed_vectors


@pytest.fixture(scope="module")
def glove():
    return load_glove()


@pytest.mark.parametrize("word", ["economy", "paris", "run", "bank", "the"])
def test_from_scratch_neighbours_agree_with_gensim(glove, word):
    ours = cosine_neighbours(glove, word, topn=10, decimals=None)
    theirs = glove.most_similar(word, topn=10)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


def test_cosine_matrix_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    assert np.allclose(cosine_similarity_matrix(a, b), cosine_similarity(a, b))


def test_keyed_vectors_round_trip():
    kv = keyed_vectors(["a", "b"], [[1, 0], [0, 2]])
    assert kv.index_to_key == ["a", "b"] and len(kv) == 2
    assert kv.vectors.dtype == np.float32
    assert np.allclose(kv["b"], [0, 2])


@pytest.mark.parametrize(
    "words, matrix, message",
    [
        (["a", "b"], [[1, 2]], "2 words but 1 rows"),
        (["a", "a"], [[1, 2], [3, 4]], "duplicate words"),
        (["a"], [1, 2], "must be 2-D"),
        (["a", "b"], [[1, np.nan], [0, 1]], "non-finite values .*'a'"),
    ],
)
def test_keyed_vectors_bad_input(words, matrix, message):
    with pytest.raises(ValueError, match=message):
        keyed_vectors(words, matrix)


def test_neighbours_bad_input(glove):
    with pytest.raises(KeyError, match="'qwzxv' is not in the vocabulary"):
        cosine_neighbours(glove, "qwzxv")
    with pytest.raises(ValueError, match="topn must be a positive integer"):
        cosine_neighbours(glove, "cat", topn=0)
