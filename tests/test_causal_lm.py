"""Tests of companion.causal_lm: neighbours by brute force, perplexity against transformers' loss,
training on a toy corpus, the cache, the logit lens."""

import math

import pytest
import torch

from companion import cache

from companion.causal_lm import (
    cached_tiny_gpt,
    layer_cosines,
    logit_lens,
    perplexity,
    text_log_likelihood,
    text_passages,
    token_blocks,
    token_neighbours,
    train_byte_bpe,
    train_tiny_gpt,
    unigram_log_likelihood,
)

TOY = [
    "The cat sat on the mat. The dog sat on the rug.",
    "A cat and a dog met on the mat, and the cat ran.",
    "The dog ran to the cat. The cat sat on the dog's rug.",
    "On the mat sat a cat; on the rug sat a dog.",
] * 6

SMALL = dict(vocab_size=300, n_embd=32, n_layer=2, n_head=2, n_positions=32, block_size=16, batch_size=8)


def test_token_neighbours_agree_with_brute_force_cosine():
    matrix = torch.randn(50, 6, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    queries = [0, 7, 49]
    scores, ids = token_neighbours(matrix, queries, k=5, chunk=7)
    full = matrix.float()
    cosine = (full @ full.T) / (full.norm(dim=1)[:, None] * full.norm(dim=1)[None, :])
    for row, q in enumerate(queries):
        others = [(float(cosine[q, j]), j) for j in range(50) if j != q]
        expected = sorted(others, reverse=True)[:5]
        assert ids[row].tolist() == [j for _, j in expected]
        assert scores[row].tolist() == pytest.approx([c for c, _ in expected], abs=1e-5)


def test_token_neighbours_chunking_does_not_change_scores():
    """Chunks of any size give the scores and neighbours of F.normalize on the whole matrix."""
    matrix = torch.randn(300, 16, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    queries = [0, 150, 299]
    normalize = torch.nn.functional.normalize
    whole = normalize(matrix[queries].float(), dim=1) @ normalize(matrix.float(), dim=1).T
    whole[torch.arange(3), queries] = -2.0
    expected = whole.topk(10, dim=1)
    for chunk in (1, 64, 300, 8_192):
        scores, ids = token_neighbours(matrix, queries, k=10, chunk=chunk)
        assert torch.equal(ids, expected.indices)
        torch.testing.assert_close(scores, expected.values, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"k": 0}, "0"), ({"k": 50}, "50"), ({"query_ids": [60]}, r"\[60\]"), ({"chunk": -1}, "-1")],
)
def test_token_neighbours_bad_input(kwargs, bad):
    arguments = {"matrix": torch.eye(5), "query_ids": [0], "k": 2} | kwargs
    if "k" in kwargs and kwargs["k"] == 50:
        with pytest.raises(ValueError, match="got 50"):
            token_neighbours(**arguments)
        return
    with pytest.raises(ValueError, match=bad):
        token_neighbours(**arguments)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    return train_tiny_gpt(TOY, steps=40, lr=1e-2, seed=0, **SMALL)


def test_byte_bpe_is_lossless_and_deterministic():
    tokenizer = train_byte_bpe(TOY, vocab_size=300)
    text = "The  Cat, naïve!\nÉté 2017"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert tokenizer(text)["input_ids"][0] == 0  # <|endoftext|> starts a document
    again = train_byte_bpe(TOY, vocab_size=300)
    assert tokenizer.get_vocab() == again.get_vocab()
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") == 0


def test_token_blocks_separate_texts_with_end_of_text():
    tokenizer = train_byte_bpe(TOY, vocab_size=300)
    blocks = token_blocks(tokenizer, ["a cat", "a dog"], block_size=2)
    flat = tokenizer("a cat")["input_ids"] + tokenizer("a dog")["input_ids"]  # each starts with 0
    assert blocks.flatten().tolist() == flat[: len(flat) // 2 * 2]
    with pytest.raises(ValueError, match="fewer than one block"):
        token_blocks(tokenizer, ["a"], block_size=100)


def test_tiny_gpt_loss_decreases(trained):
    _, _, history = trained
    losses = history["train_loss"]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    assert history["n_training_tokens"] == 40 * 8 * 16


def test_trained_model_beats_unigram_on_its_corpus(trained):
    model, tokenizer, _ = trained
    text = [TOY[0]]
    model_nll = text_log_likelihood(model, tokenizer, text)
    unigram = unigram_log_likelihood(tokenizer, TOY, text)
    assert model_nll["tokens"] == unigram["tokens"] == len(tokenizer(TOY[0], add_special_tokens=False)["input_ids"])
    assert model_nll["nll"] < unigram["nll"]


def test_perplexity_agrees_with_the_models_own_loss(trained):
    model, tokenizer, _ = trained
    texts = [TOY[1]]
    ids = torch.tensor([tokenizer(TOY[1])["input_ids"]])  # starts with <|endoftext|>
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert perplexity(model, tokenizer, texts) == pytest.approx(math.exp(float(loss)), rel=1e-4)
    # chunked scoring gives the same total as one chunk
    one = text_log_likelihood(model, tokenizer, texts, chunk=1000)["nll"]
    assert text_log_likelihood(model, tokenizer, texts, chunk=3)["nll"] == pytest.approx(one, rel=1e-5)


def test_unigram_matches_a_hand_count():
    tokenizer = train_byte_bpe(TOY, vocab_size=300)
    ids = tokenizer("cat", add_special_tokens=False)["input_ids"]
    assert len(ids) == 1
    train = ["cat cat", "cat"]
    pieces = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in train]
    counts = sum(p.count(ids[0]) for p in pieces)
    n_train = sum(len(p) for p in pieces) + len(train)  # + one start token per text
    expected = -math.log((counts + 1) / (n_train + len(tokenizer)))
    assert unigram_log_likelihood(tokenizer, train, ["cat"])["nll"] == pytest.approx(expected)


def test_too_long_text_raises(trained):
    model, tokenizer, _ = trained
    with pytest.raises(ValueError, match="exceeds the model's 32 positions"):
        text_log_likelihood(model, tokenizer, [" ".join(TOY)])
    with pytest.raises(ValueError, match="non-empty"):
        text_log_likelihood(model, tokenizer, [""])


def test_text_passages_cut_at_spaces():
    # "eee" and "x" are tails shorter than 8 // 2 characters: dropped
    assert text_passages(["aaa bbb ccc ddd eee", "x"], n_chars=8) == ["aaa bbb", "ccc ddd"]
    assert text_passages(["aaa  bbb\nccc dddd"], n_chars=8) == ["aaa bbb", "ccc dddd"]
    assert text_passages(["aaa bbb ccc ddd"], n_chars=8, max_passages=1) == ["aaa bbb"]
    with pytest.raises(ValueError, match="got 0"):
        text_passages(["a"], n_chars=0)


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"n_head": 3}, "divisible"), ({"block_size": 64}, "block_size"), ({"steps": 0}, "got 0"), ({"lr": -1.0}, "-1.0")],
)
def test_train_bad_input(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        train_tiny_gpt(TOY, **(SMALL | {"steps": 1} | kwargs))


def test_cache_reload_gives_identical_logits(tmp_cache):
    model, tokenizer, history = cached_tiny_gpt("test/tiny-gpt-v1", TOY, steps=3, seed=0, **SMALL)
    again, tokenizer_again, history_again = cached_tiny_gpt("test/tiny-gpt-v1", TOY, steps=3, seed=0, **SMALL)
    ids = torch.tensor([tokenizer("The cat sat")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, again(input_ids=ids).logits)
    assert tokenizer.get_vocab() == tokenizer_again.get_vocab()
    assert history == history_again
    assert cache.artifact_path("test/tiny-gpt-v1", "causal_lm").joinpath("history.json").exists()


def test_same_seed_same_model():
    first = train_tiny_gpt(TOY, steps=3, seed=1, **SMALL)[2]["train_loss"]
    second = train_tiny_gpt(TOY, steps=3, seed=1, **SMALL)[2]["train_loss"]
    assert first == second


def test_layer_cosines_and_logit_lens(trained):
    model, tokenizer, _ = trained
    ids = torch.tensor([tokenizer("The cat sat on the mat")["input_ids"]])
    with torch.no_grad():
        output = model(input_ids=ids, output_hidden_states=True)
    cosines = layer_cosines(output.hidden_states)
    assert cosines.shape == (3, ids.shape[1])
    assert torch.allclose(cosines[0], torch.ones(ids.shape[1]))
    top, target = logit_lens(model, ids, output.hidden_states)
    # the last layer of the lens is the model's own prediction
    assert torch.equal(top[-1], output.logits[0].argmax(dim=-1))
    probabilities = output.logits[0].softmax(dim=-1)
    expected = probabilities[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    assert torch.allclose(target[-1, :-1], expected, atol=1e-5)
    assert math.isnan(float(target[-1, -1]))
    with pytest.raises(ValueError, match="shape"):
        logit_lens(model, ids[0])
