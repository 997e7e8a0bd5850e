"""Tests of companion.cooccurrence: counts against a naive double loop, PPMI against
hand arithmetic, SVD against NumPy and scikit-learn, and the errors on bad input."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from companion.cooccurrence import (
    NEWS_SVD_RANK,
    cooccurrence_matrix,
    keyed_rows,
    matrix_frame,
    news_ppmi_svd,
    pmi,
    ppmi,
    ppmi_svd_vectors,
    row_neighbours,
    svd_embedding,
    truncated_svd,
    vocabulary_vectors,
    word_row,
)
from companion.text import Vocabulary

# The chapter's toy corpus: six two-word phrases, window 1.
TOY = ["cherry pie", "cherry pie", "apple pie", "apple data", "digital data", "digital data"]


@pytest.fixture
def toy():
    docs = [phrase.split() for phrase in TOY]
    vocab = Vocabulary.build(docs)
    return docs, vocab, cooccurrence_matrix(docs, vocab, window=1)


def naive_counts(docs, vocab, window, weighting="count"):
    """The definition, one token pair at a time."""
    out = np.zeros((len(vocab), len(vocab)))
    for doc in docs:
        ids = [vocab.index.get(tok, 0) for tok in doc]
        for i in range(len(ids)):
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j == i or ids[i] == 0 or ids[j] == 0:
                    continue
                out[ids[i], ids[j]] += 1.0 if weighting == "count" else 1.0 / abs(i - j)
    return out


def random_corpus(seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i:02d}" for i in range(60)]
    p = 1.0 / np.arange(1, 61) ** 1.2
    docs = [list(rng.choice(words, size=n, p=p / p.sum())) for n in rng.integers(2, 20, size=60)]
    docs[5], docs[9] = [], [words[0]]  # an empty and a one-token document
    return docs, Vocabulary.build(docs, min_count=4)


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize("window", [1, 2, 3, 8])
def test_counts_equal_a_naive_double_loop(window):
    docs, vocab = random_corpus(window)
    assert any(tok not in vocab.index for doc in docs for tok in doc), "the corpus should contain <unk> tokens"
    assert any(len(doc) == 0 for doc in docs) and any(len(doc) == 1 for doc in docs)
    got = cooccurrence_matrix(docs, vocab, window=window)
    assert sp.issparse(got)
    assert np.array_equal(got.toarray(), naive_counts(docs, vocab, window))


@pytest.mark.parametrize("window", [1, 4])
def test_harmonic_weights_equal_a_naive_double_loop(window):
    docs, vocab = random_corpus(10 + window)
    got = cooccurrence_matrix(docs, vocab, window=window, weighting="harmonic").toarray()
    assert np.allclose(got, naive_counts(docs, vocab, window, "harmonic"), rtol=1e-12, atol=0)


def test_toy_counts_by_hand(toy):
    _, vocab, counts = toy
    frame = matrix_frame(counts, vocab)
    # window 1: every phrase is one adjacent pair, counted in both directions
    assert frame.loc["cherry", "pie"] == 2 and frame.loc["pie", "cherry"] == 2
    assert frame.loc["apple", "pie"] == 1 and frame.loc["apple", "data"] == 1
    assert frame.loc["digital", "data"] == 2
    assert frame.to_numpy().sum() == 2 * len(TOY)
    assert np.array_equal(counts.toarray()[0], np.zeros(len(vocab)))  # <unk> row


def test_windows_do_not_cross_documents():
    docs = [["a", "b"], ["c", "d"]]
    vocab = Vocabulary.build(docs)
    frame = matrix_frame(cooccurrence_matrix(docs, vocab, window=3), vocab)
    assert frame.loc["a", "b"] == 1 and frame.loc["b", "c"] == 0 and frame.loc["a", "d"] == 0


def test_unknown_tokens_keep_their_position():
    # "x" is rare (min_count 2) and becomes <unk>: a and b stay 2 apart.
    docs = [["a", "x", "b"], ["a", "b"]]
    vocab = Vocabulary.build(docs, min_count=2)
    assert "x" not in vocab
    assert matrix_frame(cooccurrence_matrix(docs, vocab, window=1), vocab).loc["a", "b"] == 1
    assert matrix_frame(cooccurrence_matrix(docs, vocab, window=2), vocab).loc["a", "b"] == 2


# --------------------------------------------------------------------------- PMI


def test_ppmi_of_the_toy_by_hand(toy):
    _, vocab, counts = toy
    # N = 12 (6 pairs, both directions); totals: pie 3, data 3, apple 2, cherry 2, digital 2.
    plain = matrix_frame(ppmi(counts, alpha=1.0), vocab)
    assert plain.loc["cherry", "pie"] == pytest.approx(math.log((2 / 12) / ((2 / 12) * (3 / 12))))  # ln 4
    assert plain.loc["apple", "pie"] == pytest.approx(math.log((1 / 12) / ((2 / 12) * (3 / 12))))  # ln 2
    assert plain.loc["cherry", "pie"] == pytest.approx(1.3862944, abs=1e-7)
    assert plain.loc["cherry", "data"] == 0  # never met: PMI -inf, clipped to 0
    # alpha = 0.75: the context totals 3, 3, 2, 2, 2 become 3^0.75 (twice) and 2^0.75 (three times)
    z = 2 * 3**0.75 + 3 * 2**0.75
    smooth = matrix_frame(ppmi(counts, alpha=0.75), vocab)
    assert smooth.loc["cherry", "pie"] == pytest.approx(math.log((2 / 12) / ((2 / 12) * (3**0.75 / z))))
    assert smooth.loc["pie", "cherry"] == pytest.approx(math.log((2 / 12) / ((3 / 12) * (2**0.75 / z))))
    assert smooth.loc["pie", "cherry"] < plain.loc["pie", "cherry"] < smooth.loc["cherry", "pie"]
    # shifted by ln k, k = 2: apple-pie ln 2 - ln 2 = 0 is dropped, cherry-pie ln 4 - ln 2 = ln 2 stays
    shifted = matrix_frame(ppmi(counts, alpha=1.0, negative=2), vocab)
    assert shifted.loc["apple", "pie"] == 0
    assert shifted.loc["cherry", "pie"] == pytest.approx(math.log(2))


def test_pmi_keeps_negative_values_and_minus_infinity():
    counts = np.array([[2.0, 0.0], [1.0, 1.0]])
    # N = 4, rows 2 and 2, columns 3 and 1
    expected = np.array(
        [
            [math.log((2 / 4) / ((2 / 4) * (3 / 4))), -np.inf],
            [math.log((1 / 4) / ((2 / 4) * (3 / 4))), math.log((1 / 4) / ((2 / 4) * (1 / 4)))],
        ]
    )
    assert np.array_equal(np.isinf(pmi(counts)), np.isinf(expected))
    assert np.allclose(pmi(counts)[np.isfinite(expected)], expected[np.isfinite(expected)])
    assert np.allclose(ppmi(counts, alpha=1.0), np.maximum(expected, 0))


def test_sparse_and_dense_ppmi_agree():
    docs, vocab = random_corpus(3)
    counts = cooccurrence_matrix(docs, vocab, window=2)
    sparse = ppmi(counts)
    dense = ppmi(counts.toarray())
    assert sp.issparse(sparse) and isinstance(dense, np.ndarray)
    assert np.allclose(sparse.toarray(), dense)
    assert (sparse.data > 0).all()
    # PPMI is PMI clipped at zero
    assert np.allclose(dense, np.maximum(pmi(counts, alpha=0.75), 0))


# --------------------------------------------------------------------------- SVD


def low_rank_plus_noise(seed=0, shape=(300, 200)):
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.normal(size=(shape[0], 20)))
    q2, _ = np.linalg.qr(rng.normal(size=(shape[1], 20)))
    s = 100.0 * 0.7 ** np.arange(20)
    return (q1 * s) @ q2.T + 1e-3 * rng.normal(size=shape)


def assert_equal_up_to_sign(a, b, atol):
    for j in range(a.shape[1]):
        sign = np.sign(a[:, j] @ b[:, j])
        assert sign != 0
        assert np.allclose(a[:, j], sign * b[:, j], atol=atol), f"column {j} differs"


@pytest.mark.parametrize("algorithm", ["exact", "randomized"])
def test_truncated_svd_matches_numpy_up_to_sign(algorithm):
    m = low_rank_plus_noise()
    U, S, Vt = truncated_svd(sp.csr_matrix(m), dim=8, algorithm=algorithm)
    U_ref, S_ref, Vt_ref = np.linalg.svd(m, full_matrices=False)
    assert np.allclose(S, S_ref[:8], rtol=1e-8)
    assert_equal_up_to_sign(U, U_ref[:, :8], atol=1e-6)
    assert_equal_up_to_sign(Vt.T, Vt_ref[:8].T, atol=1e-6)


def test_svd_embedding_matches_scikit_learn_truncated_svd(toy):
    docs, vocab = random_corpus(7)
    x = ppmi(cooccurrence_matrix(docs, vocab, window=3))
    ours = svd_embedding(x, dim=4, power=1.0)
    theirs = TruncatedSVD(n_components=4, algorithm="arpack", random_state=0).fit_transform(x)
    assert_equal_up_to_sign(ours, theirs, atol=1e-8)
    # power p scales component j by S_j^(p - 1) relative to power 1
    _, S, _ = truncated_svd(x, dim=4)
    assert np.allclose(svd_embedding(x, dim=4, power=0.5), ours * S**-0.5)
    assert np.allclose(np.linalg.norm(svd_embedding(x, dim=4, power=0.0), axis=0), 1.0)


def test_svd_signs_are_deterministic():
    m = low_rank_plus_noise(seed=1)
    U1, _, _ = truncated_svd(m, dim=5)
    U2, _, _ = truncated_svd(-m, dim=5)  # the same singular vectors, opposite signs in U or V
    assert np.allclose(U1, U2, atol=1e-10)
    assert np.array_equal(U1, truncated_svd(m, dim=5)[0])
    biggest = U1[np.argmax(np.abs(U1), axis=0), np.arange(5)]
    assert (biggest > 0).all()


# --------------------------------------------------------------------------- lookups


def test_row_neighbours_and_keyed_rows(toy):
    _, vocab, counts = toy
    x = ppmi(counts, alpha=1.0)
    # cherry's only context is pie; apple shares pie, digital shares nothing
    neighbours = row_neighbours(x, vocab, "cherry", topn=4, decimals=None)
    kv = keyed_rows(x, vocab, vocab.tokens[1:])
    for word, sim in neighbours:
        assert sim == pytest.approx(kv.similarity("cherry", word), abs=1e-6)
    assert neighbours[0][0] == "apple" and "cherry" not in dict(neighbours)
    assert np.array_equal(word_row(x, vocab, "cherry"), x.toarray()[vocab["cherry"]])


def test_vocabulary_vectors_drop_unk():
    vocab = Vocabulary.build([["a", "b", "a"]])
    kv = vocabulary_vectors(vocab, np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]))
    assert kv.index_to_key == ["a", "b"] and np.allclose(kv["b"], [3, 4])
    with pytest.raises(ValueError, match="2 rows but 3 vocabulary ids"):
        vocabulary_vectors(vocab, np.zeros((2, 2)))


@pytest.mark.slow  # the first call counts the corpus and runs the SVD (cached afterwards)
def test_news_vectors_are_the_slice_of_one_cached_svd():
    kv = ppmi_svd_vectors(dim=50, power=0.5)
    vocab, U, S = news_ppmi_svd()
    assert U.shape == (len(vocab), NEWS_SVD_RANK) and np.all(np.diff(S) <= 0)
    assert kv.index_to_key == vocab.tokens[1:] and kv.vector_size == 50
    assert np.allclose(kv.vectors, (U[1:, :50] * S[:50] ** 0.5).astype(np.float32))
    assert 10_000 <= len(vocab) <= 20_000


# --------------------------------------------------------------------------- bad input


def test_empty_corpus():
    vocab = Vocabulary.build([["a", "b"]])
    for docs in ([], [[], []]):
        with pytest.raises(ValueError, match="the corpus is empty"):
            cooccurrence_matrix(docs, vocab)
    with pytest.raises(ValueError, match="no tokens at all"):
        cooccurrence_matrix([], Vocabulary.build([]))


def test_vocabulary_empty_after_min_count():
    docs = [["a", "b", "a"], ["c"]]
    vocab = Vocabulary.build(docs, min_count=5)
    with pytest.raises(ValueError, match=r"min_count=5 removed every word.*'a', occurs 2 times.*min_count <= 2"):
        cooccurrence_matrix(docs, vocab)


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_bad_window(window):
    docs = [["a", "b"]]
    with pytest.raises(ValueError, match=rf"window must be an integer >= 1.*window={window!r}"):
        cooccurrence_matrix(docs, Vocabulary.build(docs), window=window)


def test_unknown_word(toy):
    _, vocab, counts = toy
    for call in (
        lambda: word_row(counts, vocab, "zebra"),
        lambda: row_neighbours(counts, vocab, "zebra"),
        lambda: matrix_frame(counts, vocab, ["pie", "zebra"]),
    ):
        with pytest.raises(KeyError, match=r"'zebra' is not in the vocabulary.*min_count=1.*lower min_count.*<unk>"):
            call()


@pytest.mark.parametrize("dim", [0, 7, 100])
def test_svd_dimension_out_of_range(toy, dim):
    _, _, counts = toy  # 6 x 6: five words and <unk>
    with pytest.raises(ValueError, match=rf"dim={dim} is not possible for a 6 x 6 matrix.*between 1 and min\(shape\) = 6"):
        truncated_svd(counts, dim=dim)
    with pytest.raises(ValueError, match=rf"dim={dim} is not possible for a 3 x 5 matrix.*min\(shape\) = 3"):
        svd_embedding(np.ones((3, 5)), dim=dim)


def test_other_bad_arguments(toy):
    docs, vocab, counts = toy
    with pytest.raises(ValueError, match="unknown weighting 'gaussian'.*count, harmonic"):
        cooccurrence_matrix(docs, vocab, weighting="gaussian")
    with pytest.raises(TypeError, match="call tokenize"):
        cooccurrence_matrix(["cherry pie"], vocab)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\].*alpha=1.5"):
        ppmi(counts, alpha=1.5)
    with pytest.raises(ValueError, match="negative must be >= 1.*negative=0"):
        ppmi(counts, negative=0)
    with pytest.raises(ValueError, match="non-negative"):
        ppmi(np.array([[1.0, -1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="all zero"):
        ppmi(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="topn must be a positive integer"):
        row_neighbours(counts, vocab, "pie", topn=0)
    with pytest.raises(ValueError, match="none of the words"):
        keyed_rows(counts, vocab, ["zebra"])
