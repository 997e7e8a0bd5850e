import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity

from companion.contextual import (
    average_cosine,
    centre,
    check_layer,
    cls_pooling,
    hidden_states,
    mean_pooling,
    sense_similarity,
    sentence_vectors,
    token_vectors,
    word_vectors,
)
from companion.models import load_minilm, load_minilm_encoder


@pytest.fixture(scope="module")
def minilm():
    return load_minilm_encoder()


def test_average_cosine_hand_examples():
    assert average_cosine(np.tile([[0.3, -1.2, 2.0]], (5, 1))) == pytest.approx(1.0)
    assert average_cosine(np.eye(4)) == pytest.approx(0.0)
    assert average_cosine([[1.0, 0.0], [-1.0, 0.0]]) == pytest.approx(-1.0)


def test_average_cosine_equals_the_mean_off_diagonal_cosine_of_scikit_learn():
    x = np.random.default_rng(0).normal(size=(50, 8)) + 0.5
    cos = cosine_similarity(x)
    expected = cos[~np.eye(50, dtype=bool)].mean()
    assert average_cosine(x) == pytest.approx(expected, abs=1e-12)


def test_average_cosine_rejects_zero_rows_and_single_rows():
    with pytest.raises(ValueError, match=r"rows \[1\] are zero vectors"):
        average_cosine([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="at least 2 rows"):
        average_cosine([[1.0, 0.0]])


def test_centring_removes_a_shared_offset():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16)) + 5.0  # every vector shares the direction (5, ..., 5)
    before, after = average_cosine(x), average_cosine(centre(x))
    assert before > 0.9 and abs(after) < 0.05 and after < before
    assert np.allclose(centre(x).mean(axis=0), 0)
    standardised = centre(x, standardise=True)
    assert np.allclose(standardised.std(axis=0), 1)
    assert np.allclose(centre(x, mean=np.full(16, 5.0)), x - 5.0)


def test_layer_out_of_range_names_the_valid_range(minilm):
    tokenizer, model = minilm
    assert check_layer(6, 6) == 6
    for bad in (7, -1, 2.0, True):
        with pytest.raises(ValueError, match=r"layer must be an integer in 0\.\.6"):
            check_layer(bad, 6)
    with pytest.raises(ValueError, match=r"in 0\.\.6 .* got 9"):
        token_vectors(["a sentence"], tokenizer, model, layer=9)
    with pytest.raises(ValueError, match=r"in 0\.\.6"):
        sentence_vectors(["a sentence"], tokenizer, model, layer=7)


def test_missing_word_error_names_the_word_and_the_tokens(minilm):
    tokenizer, model = minilm
    with pytest.raises(ValueError, match=r"word 'river' .*not found.*\['\[CLS\]', 'money', 'in', 'the', 'bank', '\[SEP\]'\]"):
        word_vectors("Money in the bank", "river", tokenizer, model)


def test_word_vectors_average_the_word_pieces(minilm):
    tokenizer, model = minilm
    sentence = "The embeddings were tokenized."
    pieces = tokenizer.tokenize("embeddings")
    assert len(pieces) > 1  # the test needs a word that WordPiece splits
    states, batch = hidden_states([sentence], tokenizer, model)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    start = tokens.index(pieces[0])
    expected = states[:, 0, start:start + len(pieces)].mean(dim=1).numpy()
    got = word_vectors(sentence, "embeddings", tokenizer, model)
    assert got.shape == (7, 384) and np.allclose(got, expected)
    # layer 0 of a one-piece word is its embedding output, which differs between positions only
    a, b = word_vectors("bank", "bank", tokenizer, model), word_vectors("the bank", "bank", tokenizer, model)
    assert not np.allclose(a[0], b[0])


def test_mean_pooling_ignores_padding():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.allclose(mean_pooling(states, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))
    assert torch.equal(cls_pooling(states), torch.tensor([[1.0, 2.0]]))


def test_sentence_vectors_mean_equal_sentence_transformers_and_cls_differ(minilm):
    tokenizer, model = minilm
    sentences = ["Word vectors encode meaning.", "A much longer sentence, so that the batch has padding in it.", "Hi."]
    library = load_minilm().encode(sentences, convert_to_numpy=True)
    ours = sentence_vectors(sentences, tokenizer, model, pooling="mean", batch_size=2)
    assert ours.shape == (3, 384) and np.allclose(ours, library, atol=1e-5)
    cls = sentence_vectors(sentences, tokenizer, model, pooling="cls")
    assert np.allclose(np.linalg.norm(cls, axis=1), 1) and not np.allclose(cls, library, atol=1e-2)
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'cls'"):
        sentence_vectors(sentences, tokenizer, model, pooling="max")


def test_token_vectors_skip_special_tokens(minilm):
    tokenizer, model = minilm
    sentences = ["The cat sat.", "A longer sentence about the river bank."]
    n_real = sum(len(tokenizer.tokenize(s)) for s in sentences)
    assert token_vectors(sentences, tokenizer, model, layer=3).shape == (n_real, 384)


def test_sense_similarity_hand_example():
    # one layer, 2-d: sense a = (1, 0) twice, sense b = (0, 1) and (1, 1)
    vectors = np.array([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]])
    table = sense_similarity(vectors, ["a", "a", "b", "b"])
    s = 1 / np.sqrt(2)
    # within: pairs (a1,a2)=1, (b1,b2)=s; between: four pairs 0, s, 0, s
    assert table.loc[0, "within"] == pytest.approx((1 + s) / 2)
    assert table.loc[0, "between"] == pytest.approx(s / 2)
    with pytest.raises(ValueError, match="at least two senses"):
        sense_similarity(vectors, ["a"] * 4)
