"""Tests for companion.text_to_text: span corruption, the tokenizer, the dataset builder, a tiny T5."""

import numpy as np
import pandas as pd
import pytest
import torch

from companion.text_to_text import (
    OUTLET_NAMES,
    _train_news_rt_t5,
    check_task_inputs,
    corrupt_spans,
    cross_attention_by_hand,
    encode_pairs,
    fill_examples,
    first_tokens,
    generate_text,
    headline_examples,
    keyword_examples,
    keywords_of,
    label_scores,
    news_rt_t5,
    outlet_examples,
    random_spans_noise_mask,
    sentiment_examples,
    sentinel,
    small_t5_config,
    span_corruption,
    strip_sentinels,
    task_input,
    train_text_to_text,
    train_text_to_text_tokenizer,
)

SENTINEL_IDS = [f"<extra_id_{i}>" for i in range(100)]


def reconstruct(inputs, targets):
    """Put each span of the target back in place of its sentinel in the input."""
    spans, current = {}, None
    for item in targets:
        if isinstance(item, str) and item.startswith("<extra_id_"):
            current = item
            spans[current] = []
        else:
            spans[current].append(item)
    out = []
    for item in inputs:
        out.extend(spans[item] if isinstance(item, str) and item.startswith("<extra_id_") else [item])
    return out


# --------------------------------------------------------------------------- span corruption


def test_paper_example_by_hand():
    words = "Thank you for inviting me to your party last week .".split()
    mask = [0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    inputs, targets = corrupt_spans(words, mask)
    assert inputs == ["Thank", "you", "<extra_id_0>", "me", "to", "your", "party", "<extra_id_1>", "week", "."]
    assert targets == ["<extra_id_0>", "for", "inviting", "<extra_id_1>", "last", "<extra_id_2>"]


def test_corrupt_spans_edges_by_hand():
    # noise at the start and at the end; adjacent noise tokens form one span
    inputs, targets = corrupt_spans(["a", "b", "c", "d"], [True, False, True, True])
    assert inputs == ["<extra_id_0>", "b", "<extra_id_1>"]
    assert targets == ["<extra_id_0>", "a", "<extra_id_1>", "c", "d", "<extra_id_2>"]
    # no noise: the input is unchanged and the target is one sentinel
    assert corrupt_spans(["a", "b"], [False, False]) == (["a", "b"], ["<extra_id_0>"])
    # custom sentinel items (ids)
    assert corrupt_spans([5, 6, 7], [0, 1, 0], sentinels=[-1, -2]) == ([5, -1, 7], [-1, 6, -2])


@pytest.mark.parametrize("length", [2, 3, 10, 37, 200])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_token_kept_or_in_target_in_order(length, seed):
    tokens = [f"w{i}" for i in range(length)]
    mask = random_spans_noise_mask(length, seed=seed)
    inputs, targets = corrupt_spans(tokens, mask)
    assert reconstruct(inputs, targets) == tokens
    kept = [t for t in inputs if not t.startswith("<extra_id_")]
    dropped = [t for t in targets if not t.startswith("<extra_id_")]
    assert kept == [t for t, m in zip(tokens, mask) if not m]
    assert dropped == [t for t, m in zip(tokens, mask) if m]


def test_sentinel_numbering():
    tokens = list(range(300))
    inputs, targets = span_corruption(tokens, seed=4)
    in_sentinels = [t for t in inputs if isinstance(t, str)]
    out_sentinels = [t for t in targets if isinstance(t, str)]
    k = len(in_sentinels)
    assert k > 1
    assert in_sentinels == [sentinel(i) for i in range(k)]
    assert out_sentinels == [sentinel(i) for i in range(k + 1)]
    assert targets[0] == sentinel(0) and targets[-1] == sentinel(k)
    # in the input, no two sentinels are adjacent (kept runs are non-empty)
    assert all(not (isinstance(a, str) and isinstance(b, str)) for a, b in zip(inputs, inputs[1:]))


def test_noise_density_and_span_count_on_long_inputs():
    for seed in range(5):
        mask = random_spans_noise_mask(1000, noise_density=0.15, mean_span_length=3.0, seed=seed)
        assert mask.sum() == 150
        starts = np.flatnonzero(mask & ~np.concatenate([[False], mask[:-1]]))
        assert len(starts) == 50  # 150 noise tokens / mean span length 3
        assert not mask[0] and mask[-1]  # T5's layout: kept run first, noise run last
    densities = [random_spans_noise_mask(n, 0.3, 2.0, seed=n).mean() for n in range(500, 520)]
    assert np.allclose(densities, 0.3, atol=0.002)


def test_span_lengths_vary_and_average_near_mean():
    lengths = []
    for seed in range(20):
        mask = random_spans_noise_mask(600, seed=seed)
        edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
        lengths += list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    assert min(lengths) >= 1 and max(lengths) > 3
    assert abs(np.mean(lengths) - 3.0) < 0.05


def test_determinism_under_seed():
    a = random_spans_noise_mask(100, seed=7)
    assert np.array_equal(a, random_spans_noise_mask(100, seed=7))
    assert not all(np.array_equal(a, random_spans_noise_mask(100, seed=s)) for s in range(8, 12))
    assert span_corruption(list("abcdefghijklmnopqrst"), seed=3) == span_corruption(list("abcdefghijklmnopqrst"), seed=3)
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(random_spans_noise_mask(50, seed=rng1), random_spans_noise_mask(50, seed=rng2))


def test_short_inputs_keep_one_and_drop_one():
    mask = random_spans_noise_mask(2, seed=0)
    assert mask.tolist() == [False, True]
    mask = random_spans_noise_mask(5, noise_density=0.95, seed=0)
    assert mask.sum() == 4 and not mask[0]


@pytest.mark.parametrize("kwargs", [dict(length=1), dict(length=0), dict(length=2.5), dict(length=True),
                                    dict(length=10, noise_density=0.0), dict(length=10, noise_density=1.0),
                                    dict(length=10, noise_density="0.1"), dict(length=10, mean_span_length=0.5)])
def test_noise_mask_bad_input(kwargs):
    with pytest.raises(ValueError):
        random_spans_noise_mask(**kwargs)


def test_corrupt_spans_bad_input():
    with pytest.raises(TypeError, match="not a str"):
        corrupt_spans("abc", [0, 1, 0])
    with pytest.raises(ValueError, match="must match"):
        corrupt_spans(["a", "b"], [1])
    with pytest.raises(ValueError, match="empty"):
        corrupt_spans([], [])
    with pytest.raises(ValueError, match="sentinels"):
        corrupt_spans(["a", "b", "c"], [1, 0, 1], sentinels=[-1, -2])
    with pytest.raises(TypeError):
        span_corruption("a b c")
    with pytest.raises(ValueError):
        sentinel(-1)


# --------------------------------------------------------------------------- tokenizer and data

TOY_TEXTS = ["a gorgeous witty film .", "a dull and tedious film .", "the senate voted on tuesday .",
             "the president signed the bill .", "sentiment: headline: fresh rotten"] * 4


@pytest.fixture(scope="module")
def toy_tokenizer():
    return train_text_to_text_tokenizer(TOY_TEXTS, vocab_size=120, num_sentinels=4, model_max_length=16)


def test_tokenizer_special_tokens(toy_tokenizer):
    tok = toy_tokenizer
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 6]) == ["<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_3>"]
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok("A witty <extra_id_1> film.")["input_ids"]
    assert ids[-1] == 1 and 4 in ids  # ends with </s>; the sentinel is one token
    assert tok.decode(tok("A witty film.")["input_ids"], skip_special_tokens=True) == "a witty film."
    assert tok.model_max_length == 16


def test_tokenizer_is_deterministic(toy_tokenizer):
    again = train_text_to_text_tokenizer(TOY_TEXTS, vocab_size=120, num_sentinels=4, model_max_length=16)
    assert again.get_vocab() == toy_tokenizer.get_vocab()


def test_tokenizer_bad_input():
    with pytest.raises(TypeError):
        train_text_to_text_tokenizer("one text")
    with pytest.raises(ValueError):
        train_text_to_text_tokenizer([])
    with pytest.raises(ValueError):
        train_text_to_text_tokenizer(TOY_TEXTS, vocab_size=10, num_sentinels=32)
    with pytest.raises(ValueError):
        train_text_to_text_tokenizer(TOY_TEXTS, num_sentinels=0)


def test_task_input_and_bad_input():
    assert task_input("headline", "  The senate voted. ") == "headline: The senate voted."
    with pytest.raises(ValueError, match="unknown task"):
        task_input("translate", "hello")
    with pytest.raises(ValueError, match="empty"):
        task_input("sentiment", "   ")
    with pytest.raises(TypeError):
        task_input("sentiment", None)


def test_first_tokens_is_a_prefix_with_at_most_n_tokens(toy_tokenizer):
    text = "The senate voted on Tuesday. The president signed the bill."
    for n in range(1, 14):
        cut = first_tokens(text, toy_tokenizer, n)
        assert text.startswith(cut)
        assert len(toy_tokenizer(cut, add_special_tokens=False)["input_ids"]) <= n
    assert first_tokens(text, toy_tokenizer, 100) == text
    assert first_tokens([text, "a film"], toy_tokenizer, 2) == ["The senate", "a film"]
    with pytest.raises(ValueError):
        first_tokens(text, toy_tokenizer, 0)
    with pytest.raises(ValueError):
        first_tokens("", toy_tokenizer, 3)


def test_dataset_builders(toy_tokenizer):
    reviews = pd.DataFrame({"text": ["A gorgeous, witty film.", "", "Dull."], "label": [1, 0, 0]})
    assert sentiment_examples(reviews, toy_tokenizer) == [("sentiment: A gorgeous, witty film.", "fresh"),
                                                          ("sentiment: Dull.", "rotten")]
    articles = pd.DataFrame({"title": ["Senate votes", "", "Bill signed"],
                             "text": ["The senate voted on Tuesday. " * 5, "x", "The president signed the bill."]})
    pairs = headline_examples(articles, toy_tokenizer, max_input_tokens=12)
    assert [p[1] for p in pairs] == ["Senate votes", "Bill signed"]
    assert all(len(toy_tokenizer(p[0])["input_ids"]) <= 12 for p in pairs)
    assert pairs[0][0].startswith("headline: The senate voted")
    with pytest.raises(ValueError, match="column"):
        sentiment_examples(pd.DataFrame({"text": ["x"]}), toy_tokenizer)
    with pytest.raises(ValueError, match="labels"):
        sentiment_examples(pd.DataFrame({"text": ["x"], "label": [2]}), toy_tokenizer)
    with pytest.raises(ValueError, match="column"):
        headline_examples(pd.DataFrame({"text": ["x"]}), toy_tokenizer)


def test_outlet_examples(toy_tokenizer):
    articles = pd.DataFrame({"outlet": ["dw.com", "bbc.co.uk", "tass.com"],
                             "text": ["The senate voted on Tuesday. " * 5, "", "The president signed the bill."]})
    pairs = outlet_examples(articles, toy_tokenizer, max_input_tokens=12)
    assert [p[1] for p in pairs] == ["deutsche welle", "tass"]  # the empty text is skipped
    assert all(p[0].startswith("outlet: The") and len(toy_tokenizer(p[0])["input_ids"]) <= 12 for p in pairs)
    assert set(OUTLET_NAMES.values()) >= {"deutsche welle", "huffington post", "abc news", "tass"}
    with pytest.raises(ValueError, match="nytimes.com"):
        outlet_examples(pd.DataFrame({"outlet": ["nytimes.com"], "text": ["x y"]}), toy_tokenizer)
    with pytest.raises(ValueError, match="column"):
        outlet_examples(pd.DataFrame({"text": ["x"]}), toy_tokenizer)
    with pytest.raises(ValueError, match="max_input_tokens=1"):
        outlet_examples(articles, toy_tokenizer, max_input_tokens=1)


def test_keywords_of_and_keyword_examples(toy_tokenizer):
    assert keywords_of("A three-hour cinema master class.") == "hour cinema master class"
    assert keywords_of("It is what it is .") == ""  # stop words only
    assert keywords_of("The senate voted on Tuesday") == "senate voted tuesday"
    with pytest.raises(TypeError, match="int"):
        keywords_of(3)
    with pytest.raises(ValueError, match="empty"):
        keywords_of("   ")
    pairs = keyword_examples(["The senate voted on Tuesday .", "It is what it is .", "  "], toy_tokenizer, 40)
    assert pairs == [("keywords: The senate voted on Tuesday .", "senate voted tuesday")]
    with pytest.raises(TypeError, match="single str"):
        keyword_examples("the senate voted", toy_tokenizer)
    with pytest.raises(TypeError, match="float: 2.5"):
        keyword_examples(["the senate voted", 2.5], toy_tokenizer)


def test_fill_examples_are_span_corruption(toy_tokenizer):
    texts = ["the senate voted on tuesday to sign the bill .", "a film .", "a gorgeous witty film ."]
    pairs = fill_examples(texts, toy_tokenizer, seed=3, noise_density=0.3, max_input_tokens=16)
    assert len(pairs) == 2  # "a film ." has fewer than 4 words
    for (source, target), text in zip(pairs, [texts[0], texts[2]]):
        assert source.startswith("fill: ") and target.startswith("<extra_id_0>") and "<extra_id_" in source
        cut = first_tokens(text, toy_tokenizer, 16 - len(toy_tokenizer("fill: x")["input_ids"]) + 1).split()
        kept = source[len("fill: "):].split()
        assert reconstruct(kept, target.split()) == cut  # nothing lost: the spans put back give the text
        assert len(strip_sentinels(target).split()) + sum(not w.startswith("<extra_id_") for w in kept) == len(cut)
    assert fill_examples(texts, toy_tokenizer, seed=3, noise_density=0.3, max_input_tokens=16) == pairs
    with pytest.raises(ValueError, match="noise_density.*1.5"):
        fill_examples(texts, toy_tokenizer, noise_density=1.5)
    with pytest.raises(ValueError, match="mean_span_length.*0"):
        fill_examples(texts, toy_tokenizer, mean_span_length=0)
    with pytest.raises(TypeError, match="NoneType"):
        fill_examples([None], toy_tokenizer)


def test_strip_sentinels():
    assert strip_sentinels("<extra_id_0> for inviting <extra_id_1> last <extra_id_2>") == "for inviting last"
    assert strip_sentinels("<extra_id_0> <extra_id_1>") == ""
    with pytest.raises(TypeError, match="list"):
        strip_sentinels(["<extra_id_0>"])


def test_encode_pairs(toy_tokenizer):
    inputs, targets = encode_pairs([("sentiment: a witty film", "fresh")], toy_tokenizer, 16, 2)
    assert inputs[0][-1] == 1 and targets[0][-1] == 1 and len(targets[0]) <= 2
    with pytest.raises(ValueError, match="longer than max_input_tokens"):
        encode_pairs([("sentiment: " + "the senate voted " * 10, "fresh")], toy_tokenizer, 16, 4)
    with pytest.raises(ValueError):
        encode_pairs([], toy_tokenizer)


def test_check_task_inputs(toy_tokenizer):
    assert check_task_inputs(["sentiment: a witty film"], toy_tokenizer) == ["sentiment: a witty film"]
    with pytest.raises(ValueError, match="empty"):
        check_task_inputs([""], toy_tokenizer)
    with pytest.raises(ValueError, match="task prefix"):
        check_task_inputs(["translate: a film"], toy_tokenizer)
    with pytest.raises(ValueError, match="task prefix"):
        check_task_inputs(["a film with no prefix"], toy_tokenizer)
    with pytest.raises(ValueError, match="no text"):
        check_task_inputs(["sentiment:  "], toy_tokenizer)
    with pytest.raises(ValueError, match="maximum of 16"):
        check_task_inputs(["headline: " + "the senate voted " * 10], toy_tokenizer)
    with pytest.raises(TypeError):
        check_task_inputs("sentiment: a film", toy_tokenizer)
    with pytest.raises(ValueError):
        check_task_inputs([], toy_tokenizer)


# --------------------------------------------------------------------------- a tiny T5

TOY_PAIRS = [("sentiment: a gorgeous witty film .", "fresh"), ("sentiment: a dull and tedious film .", "rotten"),
             ("headline: the senate voted on tuesday .", "senate"), ("headline: the president signed the bill .",
                                                                       "president")]


@pytest.fixture(scope="module")
def tiny_t5(toy_tokenizer):
    from transformers import T5ForConditionalGeneration

    torch.set_num_threads(1)  # a model this small only loses time to a second thread
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(small_t5_config(len(toy_tokenizer), d_model=32, num_layers=1, num_heads=2,
                                                       d_ff=64))
    history = train_text_to_text(model, toy_tokenizer, TOY_PAIRS, steps=60, batch_size=4, lr=1e-2, warmup=5,
                                 max_input_tokens=16, max_target_tokens=4)
    return model, history


def test_tiny_t5_learns_toy_task(tiny_t5, toy_tokenizer):
    model, history = tiny_t5
    losses = history["train_loss"]
    assert len(losses) == 60 and set(history["task"]) == {"sentiment", "headline"}
    assert np.mean(losses[-5:]) < 0.2 * np.mean(losses[:5])
    assert generate_text(model, toy_tokenizer, [p[0] for p in TOY_PAIRS]) == [p[1] for p in TOY_PAIRS]
    scores = label_scores(model, toy_tokenizer, [p[0] for p in TOY_PAIRS[:2]], ["fresh", "rotten"])
    assert scores.argmax(axis=1).tolist() == [0, 1]


def test_label_scores_agree_with_library_loss(tiny_t5, toy_tokenizer):
    model, _ = tiny_t5
    texts = [p[0] for p in TOY_PAIRS]
    scores = label_scores(model, toy_tokenizer, texts, ["senate", "fresh"])
    for i, text in enumerate(texts):
        for j, label in enumerate(["senate", "fresh"]):
            x = toy_tokenizer(text, return_tensors="pt")
            y = toy_tokenizer(label, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                loss = model(**x, labels=y).loss.item()
            assert scores[i, j] == pytest.approx(-loss * y.shape[1], abs=1e-4)
    assert (scores < 0).all()
    with pytest.raises(ValueError):
        label_scores(model, toy_tokenizer, texts, [])
    with pytest.raises(ValueError, match="task prefix"):
        label_scores(model, toy_tokenizer, ["review: great"], ["fresh"])


def test_generate_text_bad_input(tiny_t5, toy_tokenizer):
    model, _ = tiny_t5
    with pytest.raises(ValueError, match="empty"):
        generate_text(model, toy_tokenizer, ["  "])
    with pytest.raises(ValueError, match="unknown|task prefix"):
        generate_text(model, toy_tokenizer, ["summarize: the senate voted"])
    with pytest.raises(ValueError, match="maximum"):
        generate_text(model, toy_tokenizer, ["headline: " + "the senate voted " * 10])
    with pytest.raises(ValueError):
        generate_text(model, toy_tokenizer, ["headline: the senate"], max_new_tokens=0)


def test_cross_attention_by_hand_matches_the_module(tiny_t5, toy_tokenizer):
    model, _ = tiny_t5
    x = toy_tokenizer("headline: the senate voted on tuesday .", return_tensors="pt")["input_ids"]
    y = torch.tensor([[0, 5, 9, 11]])
    parts = cross_attention_by_hand(model, x, y, layer=0)
    S, T, heads, d_kv = x.shape[1], y.shape[1], model.config.num_heads, model.config.d_kv
    assert parts["queries"].shape == (heads, T, d_kv)
    assert parts["keys"].shape == parts["values"].shape == (heads, S, d_kv)
    assert parts["weights"].shape == (heads, T, S)
    assert torch.allclose(parts["weights"].sum(-1), torch.ones(heads, T), atol=1e-6)
    assert torch.allclose(parts["output"], parts["library_output"], atol=1e-5)
    # by hand again, without the companion's attention helpers: head 0, softmax(q k^T) v
    q, k, v = parts["queries"][0], parts["keys"][0], parts["values"][0]
    manual = torch.softmax(q @ k.T, dim=-1) @ v
    assert torch.allclose(manual, (parts["weights"][0] @ v), atol=1e-6)
    assert torch.allclose(parts["encoder_states"], model.encoder(input_ids=x).last_hidden_state[0], atol=1e-6)
    with pytest.raises(ValueError, match="layer"):
        cross_attention_by_hand(model, x, y, layer=5)
    with pytest.raises(ValueError):
        cross_attention_by_hand(model, x[0], y)


def test_training_bad_input(toy_tokenizer):
    from transformers import T5ForConditionalGeneration

    model = T5ForConditionalGeneration(small_t5_config(len(toy_tokenizer), d_model=16, num_layers=1, num_heads=2,
                                                       d_ff=16))
    with pytest.raises(ValueError):
        train_text_to_text(model, toy_tokenizer, TOY_PAIRS, steps=0)
    with pytest.raises(ValueError):
        train_text_to_text(model, toy_tokenizer, TOY_PAIRS, steps=2, batch_size=0)
    with pytest.raises(ValueError):
        small_t5_config(100, d_model=30, num_heads=4)
    with pytest.raises(ValueError):
        small_t5_config(0)


@pytest.mark.slow
def test_news_rt_t5_reloaded_from_cache_equals_the_trained_model(tmp_cache):
    settings = dict(steps=4, batch_size=8, lr=2e-3, vocab_size=300, d_model=16, num_layers=1, num_heads=2, d_ff=32,
                    held_out_articles=20, input_tokens=40, seed=0)
    with torch.random.fork_rng():
        trained, trained_tokenizer, trained_history = _train_news_rt_t5(**settings)  # in memory, never saved
    model, tokenizer, history = news_rt_t5(**settings)  # trains the same way, saves, loads from the cache
    folders = list(tmp_cache.glob("*/t5/news-rt-outlet-*"))
    assert len(folders) == 1 and (folders[0] / "history.json").is_file()
    # the loaded model is the trained one: same weights, same tokenizer, same history (but the CPU time)
    loaded, kept = model.state_dict(), trained.state_dict()
    assert loaded.keys() == kept.keys() and all(torch.equal(loaded[k], kept[k]) for k in kept)
    assert tokenizer.get_vocab() == trained_tokenizer.get_vocab() and tokenizer.model_max_length == 40
    cpu = ("training_cpu_seconds",)
    assert {k: v for k, v in history.items() if k not in cpu} == {k: v for k, v in trained_history.items()
                                                                  if k not in cpu}
    assert len(history["train_loss"]) == 4 and history["pairs"]["sentiment"] > 10_000
    assert history["pairs"]["outlet"] > 3_000
    probes = ["sentiment: a gorgeous, witty film.", "outlet: The senate voted on Tuesday to confirm the nominee."]
    trained.eval()
    assert generate_text(model, tokenizer, probes, max_new_tokens=5) == generate_text(trained, trained_tokenizer,
                                                                                       probes, max_new_tokens=5)
    assert np.allclose(label_scores(model, tokenizer, probes, ["fresh", "tass"]),
                       label_scores(trained, trained_tokenizer, probes, ["fresh", "tass"]))
    # a second call loads the same files again
    again_model, _, again_history = news_rt_t5(**settings)
    assert again_history == history
    assert all(torch.equal(again_model.state_dict()[k], loaded[k]) for k in loaded)
