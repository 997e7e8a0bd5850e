"""Tests of companion.decoding: hand examples, sampling frequencies, agreement with transformers."""

import math

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from companion.decoding import (
    apply_temperature,
    distinct_n,
    filtered_probabilities,
    generate,
    generate_batch,
    greedy_token,
    repetition_rate,
    sample_token,
    top_k_filter,
    top_p_filter,
    training_compute,
)

# Probabilities 0.4, 0.1, 0.3, 0.2 (order shuffled on purpose): sorted, 0.4, 0.3, 0.2, 0.1.
HAND = torch.tensor([0.4, 0.1, 0.3, 0.2]).log()


def random_logits(seed, batch=8, vocab=50):
    return torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def test_top_k_keeps_exactly_k_tokens_the_largest():
    assert top_k_filter(HAND, 2).isfinite().tolist() == [True, False, True, False]
    logits = random_logits(0)
    for k in (1, 5, 17, 50, 80):
        kept = top_k_filter(logits, k).isfinite()
        assert (kept.sum(dim=-1) == min(k, 50)).all()
        smallest_kept = logits.masked_fill(~kept, math.inf).min(dim=-1).values
        largest_dropped = logits.masked_fill(kept, -math.inf).max(dim=-1).values
        assert (smallest_kept > largest_dropped).all()


@pytest.mark.parametrize(
    "p, expected",
    [
        (0.3, [True, False, False, False]),  # 0.4 >= 0.3 already
        (0.4, [True, False, False, False]),  # exactly 0.4: the top token suffices
        (0.5, [True, False, True, False]),  # 0.4 < 0.5 <= 0.7
        (0.75, [True, False, True, True]),  # 0.7 < 0.75 <= 0.9
        (0.95, [True, True, True, True]),
        (1.0, [True, True, True, True]),
    ],
)
def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(p, expected):
    assert top_p_filter(HAND, p).isfinite().tolist() == expected


def test_top_p_set_is_minimal_on_random_logits():
    logits = random_logits(1)
    for p in (0.1, 0.5, 0.9):
        kept = top_p_filter(logits, p).isfinite()
        probabilities = logits.softmax(dim=-1)
        mass = (probabilities * kept).sum(dim=-1)
        assert (mass >= p - 1e-6).all()
        smallest_kept = probabilities.masked_fill(~kept, math.inf).min(dim=-1).values
        assert (mass - smallest_kept < p).all()  # dropping any kept token falls below p


def test_temperature_divides_and_tends_to_greedy():
    assert torch.allclose(apply_temperature(HAND, 2.0), HAND / 2)
    logits = random_logits(2)
    sharp = filtered_probabilities(logits, temperature=1e-3)
    assert torch.equal(sharp.argmax(dim=-1), greedy_token(logits))
    assert (sharp.max(dim=-1).values > 0.999).all()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert torch.equal(sample_token(logits, temperature=1e-3, generator=generator), greedy_token(logits))


def test_sampling_frequencies_match_the_filtered_softmax():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    expected = filtered_probabilities(logits, temperature=0.8, top_k=4, top_p=0.9)
    # By hand: top-4 at T = 0.8 and the nucleus must drop the tail tokens 4 and 5.
    assert expected[4:].sum() == 0
    generator = torch.Generator().manual_seed(0)
    n = 40_000
    draws = sample_token(logits.expand(n, -1), 0.8, 4, 0.9, generator=generator)
    frequencies = torch.bincount(draws, minlength=6).float() / n
    # Binomial standard error is at most 0.0025 at n = 40,000; allow 4 of them.
    assert torch.allclose(frequencies, expected, atol=0.01)


def test_the_same_seed_gives_the_same_draws():
    logits = random_logits(3)
    first = sample_token(logits, top_p=0.9, generator=torch.Generator().manual_seed(7))
    second = sample_token(logits, top_p=0.9, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_filters_agree_with_transformers_warpers(seed):
    logits = random_logits(seed, batch=16, vocab=200)
    ids = torch.zeros(16, 1, dtype=torch.long)
    for temperature in (0.5, 1.0, 1.7):
        assert torch.allclose(apply_temperature(logits, temperature), TemperatureLogitsWarper(temperature)(ids, logits))
    for k in (1, 10, 199):
        assert torch.equal(top_k_filter(logits, k).isfinite(), TopKLogitsWarper(k)(ids, logits).isfinite())
    for p in (0.05, 0.3, 0.8, 0.95):
        assert torch.equal(top_p_filter(logits, p).isfinite(), TopPLogitsWarper(p)(ids, logits).isfinite())


@pytest.mark.parametrize(
    "call, bad",
    [
        (lambda: top_k_filter(HAND, 0), "0"),
        (lambda: top_k_filter(HAND, 2.5), "2.5"),
        (lambda: top_p_filter(HAND, 0.0), "0.0"),
        (lambda: top_p_filter(HAND, 1.5), "1.5"),
        (lambda: apply_temperature(HAND, 0), "0"),
        (lambda: apply_temperature(HAND, -1.0), "-1.0"),
        (lambda: sample_token(HAND, temperature=0.0), "0.0"),
        (lambda: training_compute(0, 10), "0"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_value(call, bad):
    with pytest.raises(ValueError, match=rf"got {bad}\b"):
        call()


def test_training_compute_is_six_n_d():
    assert training_compute(175e9, 300e9) == pytest.approx(3.15e23)


@pytest.fixture(scope="module")
def tiny_gpt():
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "<eos>"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="the"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=64, n_embd=32, n_layer=2, n_head=2, eos_token_id=8)
    return tokenizer, GPT2LMHeadModel(config).eval()


def test_greedy_generation_matches_transformers_generate(tiny_gpt):
    tokenizer, model = tiny_gpt
    ours = generate(model, tokenizer, "the cat sat", max_new_tokens=10)
    ids = tokenizer("the cat sat", return_tensors="pt")["input_ids"]
    theirs = model.generate(ids, max_new_tokens=10, do_sample=False, pad_token_id=8)
    assert ours == tokenizer.decode(theirs[0, ids.shape[1] :], skip_special_tokens=True)


def test_seeded_sampling_generation_is_repeatable(tiny_gpt):
    tokenizer, model = tiny_gpt
    runs = [generate(model, tokenizer, "a dog", 12, "sample", temperature=1.5, seed=3) for _ in range(2)]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="'beam'"):
        generate(model, tokenizer, "a dog", strategy="beam")


# ---------------------------------------------------------------- batches, distinct-n, repetition


def test_distinct_n_by_hand():
    texts = ["the cat sat", "the cat the cat"]
    # unigrams: the, cat, sat, the, cat, the, cat -> 7 in all, 3 different
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    # bigrams: (the cat) (cat sat) | (the cat) (cat the) (the cat) -> 5 in all, 3 different
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    # n-grams do not cross texts: "sat the" is not a bigram
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n(["a a a a"], 1) == pytest.approx(1 / 4)


def test_repetition_rate_by_hand():
    # "a b a b a": bigrams ab ba ab ba -> 2 of 4 repeat an earlier one
    assert repetition_rate(["a b a b a"], 2) == pytest.approx(0.5)
    assert repetition_rate(["a b c d"], 2) == 0.0
    # mean over texts; the text without a 4-gram is skipped
    assert repetition_rate(["a b a b a", "a b c d", "x"], 2) == pytest.approx((0.5 + 0.0) / 2)
    with pytest.raises(ValueError, match="no text contains a 5-gram"):
        repetition_rate(["a b"], 5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: distinct_n(["a b"], 0), "got 0"),
        (lambda: distinct_n("a b", 1), "list of strings"),
        (lambda: distinct_n(["a"], 2), "no 2-gram"),
        (lambda: repetition_rate(["a b"], -1), "got -1"),
    ],
)
def test_diversity_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batched_greedy_matches_one_prompt_at_a_time(tiny_gpt):
    tokenizer, model = tiny_gpt
    prompts = ["the cat sat on", "a dog", "the mat"]  # different lengths: left padding matters
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=8)
    single = [generate(model, tokenizer, p, max_new_tokens=8) for p in prompts]
    assert batched == single


def test_batched_sampling_is_repeatable(tiny_gpt):
    tokenizer, model = tiny_gpt
    prompts = ["the cat", "a dog ran"]
    first = generate_batch(model, tokenizer, prompts, 10, "sample", top_k=3, seed=5)
    assert first == generate_batch(model, tokenizer, prompts, 10, "sample", top_k=3, seed=5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, t: generate(m, t, "", 5), "non-empty"),
        (lambda m, t: generate_batch(m, t, ["a dog", ""], 5), "non-empty"),
        (lambda m, t: generate(m, t, "a dog", 63), "exceeds the model's 64 positions"),
        (lambda m, t: generate_batch(m, t, ["a dog"], 5, "nucleus"), "'nucleus'"),
        (lambda m, t: generate_batch(m, t, ["a dog"], 5, "sample", top_k=0), "got 0"),
        (lambda m, t: generate_batch(m, t, ["a dog"], 0), "got 0"),
    ],
)
def test_generation_bad_input(tiny_gpt, call, message):
    tokenizer, model = tiny_gpt
    with pytest.raises(ValueError, match=message):
        call(model, tokenizer)
