"""Tests of companion.prompting: the prompt template, balanced demonstrations, label scoring on tiny random LMs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion.prompting import (
    INSTRUCTION,
    LABEL_WORDS,
    balanced_demonstrations,
    cached_label_log_probs,
    few_shot_accuracy,
    few_shot_prefix,
    few_shot_prompt,
    label_log_probs,
    label_token_ids,
    truncate_words,
)

torch.set_num_threads(1)

WORDS = ["<pad>", "<bos>", "<eos>", "Is", "each", "movie", "review", "positive", "or", "negative", "?",
         "Review", ":", "Sentiment", "good", "bad", "film", "a", "very", "dull", "fun", "<unk>"]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # Like Gemma's tokenizer: every text starts with <bos>.
    backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def tiny_gemma3():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                              max_position_embeddings=128, sliding_window=16, pad_token_id=0, bos_token_id=1,
                              eos_token_id=2)
    return Gemma3ForCausalLM(config).eval()


DEMOS = [("a very good film", 1), ("a dull film", 0)]
PROMPTS = [few_shot_prompt(text, DEMOS[:k]) for text, k in [("fun", 0), ("a very dull movie", 1), ("good", 2)]]


# ----------------------------------------------------------------------------- prompts


def test_prompt_template_exact():
    assert few_shot_prompt("fun", DEMOS) == (
        f"{INSTRUCTION}\n\nReview: a very good film\nSentiment: positive\n\n"
        "Review: a dull film\nSentiment: negative\n\nReview: fun\nSentiment:"
    )


def test_zero_shot_prompt_and_options():
    assert few_shot_prompt("fun", instruction="") == "Review: fun\nSentiment:"
    assert few_shot_prompt("fun", [("meh", 1)], label_words=(" bad", " good"), instruction="") == (
        "Review: meh\nSentiment: good\n\nReview: fun\nSentiment:")


def test_prompt_is_prefix_plus_item():
    prefix = few_shot_prefix(DEMOS)
    assert prefix.endswith("Sentiment: negative\n\n")
    assert few_shot_prompt("fun", DEMOS) == prefix + "Review: fun\nSentiment:"
    assert few_shot_prefix(instruction="") == ""


def test_long_texts_are_cut_to_max_words():
    long = " ".join(f"w{i}" for i in range(100))
    prompt = few_shot_prompt(long, [(long, 0)], max_words=5)
    assert prompt.count("w0 w1 w2 w3 w4\n") == 2 and "w5" not in prompt
    assert truncate_words("  a\n b  ", 10) == "a b"


@pytest.mark.parametrize("demos, message", [
    ([("x", 2)], "label must be an integer index"),
    ([("x", True)], "label must be an integer index"),
    ([("x",)], r"\(text, label\) pair"),
    ([("", 1)], "non-empty string"),
])
def test_prompt_rejects_bad_demonstrations(demos, message):
    with pytest.raises(ValueError, match=message):
        few_shot_prompt("fun", demos)


@pytest.mark.parametrize("label_words, message", [
    ((" positive",), "at least two"),
    (" positive", "at least two"),
    ((" positive", " positive"), "distinct"),
    ((" positive", " "), "non-empty"),
])
def test_prompt_rejects_bad_label_words(label_words, message):
    with pytest.raises(ValueError, match=message):
        few_shot_prompt("fun", label_words=label_words)


# ----------------------------------------------------------------------------- demonstrations


def test_demonstrations_are_balanced_seeded_and_nested():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    texts = [f"text {i}" for i in range(200)]
    eight = balanced_demonstrations(texts, labels, 8, seed=3)
    assert eight == balanced_demonstrations(texts, labels, 8, seed=3)
    assert eight != balanced_demonstrations(texts, labels, 8, seed=4)
    for k in (0, 1, 2, 4, 6, 8):
        demos = balanced_demonstrations(texts, labels, k, seed=3)
        assert demos == eight[:k]
        if k % 2 == 0:
            assert sum(label for _, label in demos) == k // 2
    assert len({text for text, _ in eight}) == 8
    for text, label in eight:
        assert labels[int(text.split()[1])] == label


@pytest.mark.parametrize("k, message", [(-1, "integer >= 0"), (2.0, "integer >= 0"), (True, "integer >= 0"),
                                        (8, "needs 4 examples of label 0, but only 3")])
def test_demonstrations_reject_bad_k(k, message):
    with pytest.raises(ValueError, match=message):
        balanced_demonstrations(["a"] * 10, [0, 0, 0] + [1] * 7, k)


def test_demonstrations_reject_bad_labels():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        balanced_demonstrations(["a", "b"], [0, 2], 2)
    with pytest.raises(ValueError, match="same length"):
        balanced_demonstrations(["a", "b"], [0], 2)


# ----------------------------------------------------------------------------- label scores


def test_label_token_ids(tokenizer):
    assert label_token_ids(tokenizer) == [WORDS.index("negative"), WORDS.index("positive")]
    with pytest.raises(ValueError, match="label word ' very good' is 2 tokens"):
        label_token_ids(tokenizer, (" bad", " very good"))
    with pytest.raises(ValueError, match="same token ids"):
        label_token_ids(tokenizer, (" unknownword", " otherunknown"))


@pytest.mark.parametrize("make_model", [tiny_gpt2, tiny_gemma3])
def test_label_log_probs_match_a_direct_computation(tokenizer, make_model):
    model = make_model()
    ids = label_token_ids(tokenizer)
    expected = []
    with torch.no_grad():
        for prompt in PROMPTS:  # one prompt at a time, no padding: log-softmax of the last position's logits
            inputs = tokenizer(prompt, return_tensors="pt")
            assert inputs["input_ids"][0, 0] == tokenizer.bos_token_id
            logits = model(**inputs).logits[0, -1]
            expected.append(torch.log_softmax(logits.double(), dim=-1)[ids].numpy())
    for batch_size in (1, 2, 3):  # batches of prompts of different lengths are padded on the left
        ours = label_log_probs(model, tokenizer, PROMPTS, batch_size=batch_size)
        assert ours.shape == (len(PROMPTS), 2)
        np.testing.assert_allclose(ours, np.array(expected), rtol=0, atol=1e-5)
    assert (ours < 0).all()


@pytest.mark.parametrize("make_model", [tiny_gpt2, tiny_gemma3])
@pytest.mark.parametrize("k", [0, 2])
def test_shared_prefix_gives_the_same_scores(tokenizer, make_model, k):
    model = make_model()
    texts = ["fun", "a very dull movie", "good film", "bad"]
    prompts = [few_shot_prompt(t, DEMOS[:k]) for t in texts]
    full = label_log_probs(model, tokenizer, prompts, batch_size=3)
    shared = label_log_probs(model, tokenizer, prompts, batch_size=3, prefix=few_shot_prefix(DEMOS[:k]))
    np.testing.assert_allclose(shared, full, rtol=0, atol=1e-5)


def test_prefix_errors(tokenizer):
    model = tiny_gpt2()
    with pytest.raises(ValueError, match="must start with the prefix"):
        label_log_probs(model, tokenizer, PROMPTS, prefix=few_shot_prefix(DEMOS))
    with pytest.raises(ValueError, match="continue after it"):
        label_log_probs(model, tokenizer, [few_shot_prefix(DEMOS)], prefix=few_shot_prefix(DEMOS))
    with pytest.raises(ValueError, match="do not begin with the prefix's tokens"):
        label_log_probs(model, tokenizer, ["Review: goodfilm"], prefix="Review: good")
    with pytest.raises(ValueError, match="prefix must be"):
        label_log_probs(model, tokenizer, PROMPTS, prefix="")


def test_label_log_probs_rejects_bad_input(tokenizer):
    model = tiny_gpt2()
    with pytest.raises(ValueError, match="non-empty list"):
        label_log_probs(model, tokenizer, "Review: fun\nSentiment:")
    with pytest.raises(ValueError, match="non-empty list"):
        label_log_probs(model, tokenizer, [])
    with pytest.raises(ValueError, match="batch_size"):
        label_log_probs(model, tokenizer, PROMPTS, batch_size=0)
    with pytest.raises(ValueError, match="is 2 tokens"):
        label_log_probs(model, tokenizer, PROMPTS, label_words=(" bad", " very good"))
    with pytest.raises(ValueError, match="exceeds the model's 128 positions"):
        label_log_probs(model, tokenizer, [" ".join(["good"] * 200)])


def test_cached_label_log_probs_computes_once(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path))
    model = tiny_gpt2()
    first = cached_label_log_probs("tiny-gpt2", model, tokenizer, PROMPTS)
    np.testing.assert_array_equal(first, label_log_probs(model, tokenizer, PROMPTS))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # a changed model under the same name: the cache answers, as documented
    np.testing.assert_array_equal(cached_label_log_probs("tiny-gpt2", model, tokenizer, PROMPTS), first)
    assert not np.allclose(cached_label_log_probs("tiny-gpt2-changed", model, tokenizer, PROMPTS), first)
    with pytest.raises(ValueError, match="model_name"):
        cached_label_log_probs("", model, tokenizer, PROMPTS)


# ----------------------------------------------------------------------------- accuracy


def test_few_shot_accuracy():
    correct, accuracy = few_shot_accuracy(np.array([[-1.0, -2.0], [-0.1, -3.0], [-5.0, -0.2]]), [0, 1, 1])
    assert correct.tolist() == [True, False, True]
    assert accuracy == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one label per row"):
        few_shot_accuracy([[0.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match="indices 0 to 1"):
        few_shot_accuracy([[0.0, 1.0]], [2])
    with pytest.raises(ValueError, match="at least two labels"):
        few_shot_accuracy([0.0, 1.0], [0, 1])


def test_label_words_constant_order():
    assert LABEL_WORDS == (" negative", " positive")  # index = label: 0 rotten, 1 fresh
