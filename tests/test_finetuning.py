"""Tests of companion.finetuning: LoRA against peft, parameter counts by hand, training, freezing, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch

from companion import finetuning as ft
from companion.finetuning import (
    FineTuneConfig,
    LoRALinear,
    build_model,
    expected_trainable_parameters,
    fixed_subset,
    lower_layer_states,
    trainable_parameters,
)


# ---------------------------------------------------------------- LoRA against peft

def _peft_lora_layer(in_features=6, out_features=5, r=2, alpha=4.0):
    from peft import LoraConfig, inject_adapter_in_model

    torch.manual_seed(1)
    holder = torch.nn.Module()
    holder.query = torch.nn.Linear(in_features, out_features)
    holder = inject_adapter_in_model(LoraConfig(r=r, lora_alpha=alpha, target_modules=["query"], lora_dropout=0.0), holder)
    layer = holder.query
    with torch.no_grad():  # peft starts B at zero; give both matrices non-zero values
        layer.lora_A["default"].weight.copy_(torch.randn(r, in_features))
        layer.lora_B["default"].weight.copy_(torch.randn(out_features, r))
    return layer


def _ours_from(peft_layer, r=2, alpha=4.0):
    import copy

    ours = LoRALinear(copy.deepcopy(peft_layer.base_layer), r=r, alpha=alpha)
    with torch.no_grad():
        ours.lora_A.copy_(peft_layer.lora_A["default"].weight)
        ours.lora_B.copy_(peft_layer.lora_B["default"].weight)
    return ours


def test_lora_forward_matches_peft():
    peft_layer = _peft_lora_layer()
    ours = _ours_from(peft_layer)
    assert ours.scaling == peft_layer.scaling["default"] == 2.0
    x = torch.randn(7, 6)
    torch.testing.assert_close(ours(x), peft_layer(x))
    assert not torch.allclose(ours(x), ours.base(x))  # the low-rank update really changes the output


def test_lora_merged_weight_matches_peft_merge_and_formula():
    peft_layer = _peft_lora_layer()
    ours = _ours_from(peft_layer)
    W = peft_layer.base_layer.weight.detach().clone()
    A, B = ours.lora_A.detach(), ours.lora_B.detach()
    by_hand = W + (4.0 / 2) * B @ A
    torch.testing.assert_close(ours.merged_weight(), by_hand)
    peft_layer.merge()
    torch.testing.assert_close(peft_layer.base_layer.weight, by_hand)


def test_lora_starts_as_base_and_freezes_base():
    torch.manual_seed(0)
    layer = LoRALinear(torch.nn.Linear(4, 3), r=2, alpha=1.0)
    x = torch.randn(5, 4)
    torch.testing.assert_close(layer(x), layer.base(x))
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A", "lora_B"}
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 2 * 4 + 3 * 2


# ---------------------------------------------------------------- parameter counts by hand

def test_expected_counts_by_hand():
    # LoRA r=8 on query and value of 6 layers, each 384 x 384, plus the 385-weight head
    assert expected_trainable_parameters("lora", r=8) == 6 * 2 * 8 * (384 + 384) + 385
    assert expected_trainable_parameters("lora", r=4) == 6 * 2 * 4 * (384 + 384) + 385
    layer = 4 * (384 * 384 + 384) + (384 * 1536 + 1536) + (1536 * 384 + 384) + 4 * 384
    assert expected_trainable_parameters("top", top_layers=2) == 2 * layer + 385
    assert expected_trainable_parameters("frozen") == 385


@pytest.fixture(scope="module")
def minilm():
    from companion.models import load_minilm_encoder

    return load_minilm_encoder()


@pytest.mark.parametrize("method, options", [("top", {"top_layers": 1}), ("top", {"top_layers": 2}),
                                             ("lora", {"lora_r": 8}), ("lora", {"lora_r": 4}), ("full", {})])
def test_model_counts_match_hand_counts(minilm, method, options):
    _, encoder = minilm
    model = build_model(encoder, FineTuneConfig(method, **options))
    expected = expected_trainable_parameters(method, top_layers=options.get("top_layers", 1), r=options.get("lora_r", 8))
    assert trainable_parameters(model) == expected


def test_full_count_is_all_encoder_weights_but_pooler(minilm):
    _, encoder = minilm
    total = sum(p.numel() for p in encoder.parameters())
    pooler = sum(p.numel() for p in encoder.pooler.parameters())
    assert expected_trainable_parameters("full") == total - pooler + 385


# ---------------------------------------------------------------- a toy model and toy data

def _tiny_encoder(seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    return BertModel(config).eval()


def _toy_data(n=32, seed=0):
    """Id lists [CLS]=1 ... [SEP]=2; label 1 iff token 5 occurs (a pattern the model can learn)."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for i in range(n):
        body = rng.integers(6, 20, size=rng.integers(2, 7)).tolist()
        label = i % 2
        if label:
            body[rng.integers(len(body))] = 5
        ids.append([1] + body + [2])
        labels.append(label)
    return ids, np.array(labels)


class _ToyTokenizer:
    """Maps each character 'a'..'n' to ids 6..19 and '+' to 5."""

    def __call__(self, texts, truncation=True, max_length=48):
        ids = [[1] + [5 if c == "+" else 6 + (ord(c) - ord("a")) % 14 for c in t][: max_length - 2] + [2] for t in texts]
        return {"input_ids": ids}


@pytest.mark.parametrize("method", ["full", "lora", "top"])
def test_toy_training_reduces_loss(method):
    encoder = _tiny_encoder()
    config = FineTuneConfig(method, epochs=8, batch_size=8, lr=3e-2 if method == "lora" else 3e-3, head_lr=1e-2, lora_r=2,
                            lora_targets=("query", "value"))
    ids, y = _toy_data()
    model = build_model(encoder, config)
    inputs = lower_layer_states(encoder, ids, 1) if method == "top" else ids
    out = ft.train_classifier(model, inputs, y, config, eval_inputs=inputs)
    history = out["loss_history"]
    assert len(history) == 8 and len(out["step_losses"]) == 8 * 4
    assert history[-1] < 0.8 * history[0]
    assert np.mean((out["eval_logits"] > 0) == y) > 0.6


def test_training_is_deterministic():
    ids, y = _toy_data()
    config = FineTuneConfig("full", epochs=2, batch_size=8, lr=1e-3)
    runs = [ft.train_classifier(build_model(_tiny_encoder(), config), ids, y, config, eval_inputs=ids) for _ in range(2)]
    assert runs[0]["step_losses"] == runs[1]["step_losses"]
    np.testing.assert_array_equal(runs[0]["eval_logits"], runs[1]["eval_logits"])


def test_top_layers_on_lower_states_equal_the_whole_encoder():
    encoder = _tiny_encoder()
    ids, _ = _toy_data(8)
    states = lower_layer_states(encoder, ids, 1)
    top = ft.TopLayersClassifier(encoder, 1).eval()
    for i in (0, 3):
        with torch.no_grad():
            x = torch.tensor([ids[i]])
            whole = encoder(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state.mean(1)
            ours = top.pooled(torch.as_tensor(states[i])[None], torch.ones(1, len(ids[i]), dtype=torch.long))
        torch.testing.assert_close(ours, whole, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- freezing really freezes

def _one_step(model, inputs, y, config):
    ft.train_classifier(model, inputs, y, FineTuneConfig(config.method, epochs=1, batch_size=len(y), lr=1e-2,
                                                         head_lr=1e-2, lora_r=2))


def test_lora_step_changes_only_adapters_and_head():
    encoder = _tiny_encoder()
    ids, y = _toy_data(8)
    config = FineTuneConfig("lora", lora_r=2)
    model = build_model(encoder, config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _one_step(model, ids, y, config)
    for name, p in model.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        if "lora_A" in name or name.startswith("head."):
            assert changed, name
        elif "lora_" not in name:
            assert not changed, name
    # the encoder passed in is untouched (build_model works on a copy)
    for name, p in encoder.named_parameters():
        assert torch.equal(p, _tiny_encoder().state_dict()[name]), name


def test_top_step_leaves_the_encoder_unchanged():
    encoder = _tiny_encoder()
    ids, y = _toy_data(8)
    config = FineTuneConfig("top")
    model = build_model(encoder, config)
    before_top = {n: p.detach().clone() for n, p in model.named_parameters()}
    _one_step(model, lower_layer_states(encoder, ids, 1), y, config)
    assert all(not torch.equal(before_top[n], p.detach()) for n, p in model.named_parameters() if "weight" in n
               and "LayerNorm" not in n)
    fresh = _tiny_encoder().state_dict()
    for name, p in encoder.state_dict().items():
        assert torch.equal(p, fresh[name]), name


def test_full_step_changes_encoder_weights_but_not_pooler():
    encoder = _tiny_encoder()
    ids, y = _toy_data(8)
    config = FineTuneConfig("full")
    model = build_model(encoder, config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _one_step(model, ids, y, config)
    after = dict(model.named_parameters())
    assert not torch.equal(before["encoder.encoder.layer.0.attention.self.query.weight"],
                           after["encoder.encoder.layer.0.attention.self.query.weight"])
    assert torch.equal(before["encoder.pooler.dense.weight"], after["encoder.pooler.dense.weight"])


# ---------------------------------------------------------------- train_method: end to end and cached

def _toy_texts(n=24):
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(n):
        word = "".join(rng.choice(list("abcdefghijklmn"), size=5))
        texts.append(word + ("+" if i % 2 else ""))
        labels.append(i % 2)
    return texts, np.array(labels)


@pytest.mark.parametrize("method", ["top", "full"])
def test_train_method_caches_its_result(tmp_cache, monkeypatch, method):
    texts, y = _toy_texts()
    pair = (_ToyTokenizer(), _tiny_encoder())
    config = FineTuneConfig(method, epochs=6, batch_size=8, lr=3e-3, head_lr=1e-2)
    first = ft.train_method(method, texts, y, texts[:10], config=config, encoder_pair=pair, cache_prefix="toy")
    assert first["trainable"] == trainable_parameters(build_model(pair[1], config))
    assert first["predictions"].shape == (10,) and set(first["predictions"].tolist()) <= {0, 1}
    assert first["loss_history"][-1] < first["loss_history"][0]
    assert first["seconds"] > 0 and first["peak_extra_mib"] >= 0
    assert len(list(tmp_cache.glob(f"*/toy/{method}-n24-*/weights.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(ft, "_train", fail)
    second = ft.train_method(method, texts, y, texts[:10], config=config, encoder_pair=pair, cache_prefix="toy")
    np.testing.assert_array_equal(first["predictions"], second["predictions"])
    assert first["loss_history"] == second["loss_history"]


def test_train_method_frozen_fits_logistic_regression(tmp_cache):
    texts, y = _toy_texts(40)
    pair = (_ToyTokenizer(), _tiny_encoder())
    result = ft.train_method("frozen", texts, y, texts[:10], encoder_pair=pair, cache_prefix="toy")
    assert result["trainable"] == 16 + 1  # logistic regression on 16-d vectors
    assert result["loss_history"] == []


def test_peak_memory_sees_an_allocation():
    import mmap

    with ft.PeakMemory(interval=0.001) as memory:
        # 64 MiB of fresh pages, touched: np.ones could reuse heap memory this long-lived test
        # process has already freed but still holds (then no peak exists to be seen)
        pages = mmap.mmap(-1, 64 * 2**20)
        block = np.frombuffer(pages, dtype=np.uint8)
        block[:] = 1
        del block
        pages.close()
    assert memory.extra_mib > 40


# ---------------------------------------------------------------- bad input

def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        FineTuneConfig("adapter")
    with pytest.raises(ValueError, match="'prefix'"):
        ft.train_method("prefix", ["a"], [1], ["b"])
    with pytest.raises(ValueError, match="method must be one of"):
        expected_trainable_parameters("bitfit")
    with pytest.raises(ValueError, match="config is for method"):
        ft.train_method("full", ["a"], [1], ["b"], config=FineTuneConfig("lora"))


@pytest.mark.parametrize("r", [0, -2, 1.5, True])
def test_bad_rank_is_rejected(r):
    with pytest.raises(ValueError, match="r must be a positive integer"):
        LoRALinear(torch.nn.Linear(3, 3), r=r, alpha=1.0)
    with pytest.raises(ValueError, match="lora_r must be a positive integer"):
        FineTuneConfig("lora", lora_r=r)
    with pytest.raises(ValueError, match="r must be a positive integer"):
        expected_trainable_parameters("lora", r=r)


def test_other_bad_config_values():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        FineTuneConfig("full", epochs=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        FineTuneConfig("full", lr=-1e-4)
    with pytest.raises(ValueError, match="top_layers must be at most 6"):
        FineTuneConfig("top", top_layers=7)
    with pytest.raises(TypeError, match="torch.nn.Linear"):
        LoRALinear(torch.nn.Conv1d(3, 3, 1), r=2, alpha=1.0)
    with pytest.raises(ValueError, match="alpha must be positive"):
        LoRALinear(torch.nn.Linear(3, 3), r=2, alpha=0)


def test_subset_larger_than_training_set_is_rejected():
    frame = pd.DataFrame({"text": list("abcde"), "label": [0, 1, 0, 1, 0]})
    with pytest.raises(ValueError, match="from 1 to the number of rows, 5, got 6"):
        fixed_subset(frame, 6)
    with pytest.raises(ValueError, match="got 0"):
        fixed_subset(frame, 0)
    subset = fixed_subset(frame, 3)
    assert len(subset) == 3 and subset["text"].is_monotonic_increasing


def test_empty_or_wrong_texts_are_rejected():
    with pytest.raises(ValueError, match="train_texts is empty"):
        ft.train_method("full", [], [], ["b"])
    with pytest.raises(ValueError, match="test_texts is empty"):
        ft.train_method("full", ["a"], [1], [])
    with pytest.raises(TypeError, match="list of strings"):
        ft.train_method("full", "a text", [1], ["b"])
    with pytest.raises(TypeError, match="item 1 is int"):
        ft.tokenize_texts(_ToyTokenizer(), ["a", 3])
    with pytest.raises(ValueError, match="labels must be 0"):
        ft.train_method("full", ["a", "b"], [1, 2], ["b"])
    with pytest.raises(ValueError, match="one label per text"):
        ft.train_method("full", ["a", "b"], [1], ["b"])
    with pytest.raises(ValueError, match="inputs is empty"):
        ft.train_classifier(build_model(_tiny_encoder(), FineTuneConfig("full")), [], [], FineTuneConfig("full"))
    with pytest.raises(ValueError, match="frozen"):
        build_model(_tiny_encoder(), FineTuneConfig("frozen"))
    with pytest.raises(ValueError, match="n_layers must be an integer from 0 to 2"):
        lower_layer_states(_tiny_encoder(), [[1, 2]], 3)


def test_validation_subset_is_disjoint_from_the_training_subset():
    frame = pd.DataFrame({"text": [f"snippet {i}" for i in range(1000)], "label": [i % 2 for i in range(1000)]})
    train = ft.fixed_subset(frame, ft.TRAIN_SIZE)
    val = ft.validation_subset(frame, 300)
    assert len(val) == 300 and val["text"].is_unique
    assert not set(val["text"]) & set(train["text"])
    assert val.equals(ft.validation_subset(frame, 300))  # fixed seed
    with pytest.raises(ValueError, match="size must be an integer from 1 to 800"):
        ft.validation_subset(frame, 801)


def test_default_configs_give_every_trained_method_the_same_budget():
    trained = [ft.DEFAULT_CONFIGS[m] for m in ("top", "lora", "full")]
    assert len({(c.epochs, c.batch_size, c.head_lr, c.max_length, c.seed) for c in trained}) == 1
    for config in trained:
        assert config.lr in ft.LR_GRID[config.method]
