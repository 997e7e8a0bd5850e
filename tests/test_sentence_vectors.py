import numpy as np
import pandas as pd
import pytest

from companion.sentence_vectors import (
    MINILM_BATCH_SIZE,
    average_word_vectors,
    known_word_counts,
    minilm_embeddings,
    minilm_training_sample,
    texts_fingerprint,
    token_coverage,
)
from companion.vectors import keyed_vectors


@pytest.fixture
def toy_kv():
    return keyed_vectors(["good", "bad", "film"], np.array([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]]))


def test_average_by_hand(toy_kv):
    docs = [["good", "bad"], ["good", "good", "film", "unknown"], ["unknown"], []]
    X = average_word_vectors(docs, toy_kv)
    expected = np.array([[1.0, 2.0], [(2 + 2 + 1) / 3, 1 / 3], [0.0, 0.0], [0.0, 0.0]])
    assert X.shape == (4, 2) and X.dtype == np.float32
    assert np.allclose(X, expected)
    assert known_word_counts(docs, toy_kv).tolist() == [2, 3, 0, 0]
    assert int((known_word_counts(docs, toy_kv) == 0).sum()) == 2  # the empty rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_agrees_with_gensim_get_mean_vector(seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(50)]
    kv = keyed_vectors(words, rng.normal(size=(50, 8)))
    vocabulary = words + ["oov1", "oov2"]
    docs = [list(rng.choice(vocabulary, size=rng.integers(1, 12))) for _ in range(40)]
    ours = average_word_vectors(docs, kv)
    for doc, row in zip(docs, ours):
        known = [w for w in doc if w in kv.key_to_index]
        if known:
            theirs = kv.get_mean_vector(known, pre_normalize=False)
        else:
            theirs = np.zeros(kv.vector_size)
        assert np.allclose(row, theirs, atol=1e-6)


def test_average_on_glove_matches_gensim():
    from companion.models import load_glove
    from companion.text import tokenize

    glove = load_glove()
    docs = [tokenize(t) for t in ["A thoroughly enjoyable film.", "Don't bother: zxqvw is dull!"]]
    ours = average_word_vectors(docs, glove)
    for doc, row in zip(docs, ours):
        theirs = glove.get_mean_vector(doc, pre_normalize=False, ignore_missing=True)
        assert np.allclose(row, theirs, atol=1e-5)


def test_coverage_by_hand(toy_kv):
    docs = [["good", "unknown"], ["film", "film", "bad", "other"]]
    assert token_coverage(docs, toy_kv) == pytest.approx(4 / 6)


def test_bad_input(toy_kv):
    with pytest.raises(TypeError, match="list of token lists"):
        average_word_vectors("good film", toy_kv)
    with pytest.raises(TypeError, match="document 1 must be a list of tokens"):
        average_word_vectors([["good"], "bad film"], toy_kv)
    with pytest.raises(ValueError, match="no tokens"):
        token_coverage([[], []], toy_kv)


def test_fingerprint_depends_on_order_and_boundaries():
    assert texts_fingerprint(["a", "b"]) == texts_fingerprint(["a", "b"])
    assert texts_fingerprint(["a", "b"]) != texts_fingerprint(["b", "a"])
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["a", "bc"])


def test_minilm_matches_the_sentence_encoder_and_is_cached(tmp_path, monkeypatch):
    from companion.models import load_minilm

    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path))
    texts = ["A gorgeous, moving film.", "Dull.", "It never finds its footing, and the jokes fall flat."]
    X = minilm_embeddings(texts)
    assert X.shape == (3, 384) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # load_minilm().encode is mean pooling + unit length, checked by hand in tests/test_models.py
    assert np.allclose(X, load_minilm().encode(texts, convert_to_numpy=True), atol=1e-5)
    # cached: one file, named by the texts' hash, loaded again unchanged
    files = list(tmp_path.glob("*/sentence-vectors/*.npy"))
    assert len(files) == 1 and texts_fingerprint(texts) in files[0].name and f"bs{MINILM_BATCH_SIZE}" in files[0].name
    assert np.array_equal(minilm_embeddings(texts), X)
    minilm_embeddings(texts[:2])
    assert len(list(tmp_path.glob("*/sentence-vectors/*.npy"))) == 2


def test_minilm_bad_input():
    with pytest.raises(TypeError, match="list of strings"):
        minilm_embeddings("one text")
    with pytest.raises(ValueError, match="empty"):
        minilm_embeddings([])
    with pytest.raises(TypeError, match="item 1 is int"):
        minilm_embeddings(["fine", 3])


def test_training_sample():
    train = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": np.arange(100) % 2})
    sample = minilm_training_sample(train, size=10, seed=3)
    again = minilm_training_sample(train, size=10, seed=3)
    assert len(sample) == 10 and sample.equals(again)
    numbers = [int(t[1:]) for t in sample["text"]]
    assert numbers == sorted(set(numbers))  # distinct rows, original order
    assert not sample.equals(minilm_training_sample(train, size=10, seed=4))
    with pytest.raises(ValueError, match="from 1 to len\\(train\\) = 100"):
        minilm_training_sample(train, size=101)
