import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.attention import (
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    TransformerEncoderBlock,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
    split_heads,
)

ATOL = 1e-6


def qkv(seed, batch=2, heads=3, L=5, S=5, d=4, dv=6):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, heads, L, d, generator=g), torch.randn(batch, heads, S, d, generator=g),
            torch.randn(batch, heads, S, dv, generator=g))


def random_bool_mask(seed, shape):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=g) > 0.5
    mask[..., 0] = True  # every query keeps at least one key
    return mask


# ---------------------------------------------------------------- scaled dot-product attention


def test_hand_example():
    # d_k = 1: scores are 0 and ln 3, softmax = [1/4, 3/4], output = 4/4 + 3*8/4 = 7.
    q = torch.tensor([[1.0]])
    k = torch.tensor([[0.0], [math.log(3.0)]])
    v = torch.tensor([[4.0], [8.0]])
    out, w = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(w, torch.tensor([[0.25, 0.75]]))
    assert torch.allclose(out, torch.tensor([[7.0]]))


@pytest.mark.parametrize("L, S", [(5, 5), (3, 7)])
def test_agrees_with_torch_sdpa_without_mask(L, S):
    q, k, v = qkv(0, L=L, S=S)
    ours, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v), atol=ATOL)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, L))


def test_agrees_with_torch_sdpa_with_boolean_mask():
    q, k, v = qkv(1, L=4, S=6)
    mask = random_bool_mask(2, (2, 3, 4, 6))
    ours, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=ATOL)
    assert (weights[~mask] == 0).all()


def test_agrees_with_torch_sdpa_causal():
    q, k, v = qkv(3)
    ours, weights = scaled_dot_product_attention(q, k, v, causal=True)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=ATOL)
    assert (weights.triu(diagonal=1) == 0).all()
    assert torch.equal(weights[..., 0, :], F.one_hot(torch.tensor(0), 5).float().expand(2, 3, 5))


def test_agrees_with_torch_sdpa_padding_and_causal():
    q, k, v = qkv(4)
    keep = padding_mask(torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    combined = keep & torch.ones(5, 5, dtype=torch.bool).tril()
    ours, _ = scaled_dot_product_attention(q, k, v, mask=keep, causal=True)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=combined), atol=ATOL)


def test_padding_values_do_not_leak():
    q, k, v = qkv(5)
    keep = padding_mask(torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]))
    out1, w = scaled_dot_product_attention(q, k, v, mask=keep)
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 3:], v2[0, :, 3:] = 100.0, -100.0
    out2, _ = scaled_dot_product_attention(q, k2, v2, mask=keep)
    assert torch.equal(out1, out2)
    assert (w[0, :, :, 3:] == 0).all() and (w[1, :, :, 4] == 0).all()


def test_custom_scale():
    q, k, v = qkv(6)
    ours, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, scale=1.0), atol=ATOL)


def test_causal_and_padding_mask_shapes():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert padding_mask(torch.tensor([[1, 0], [1, 1]])).shape == (2, 1, 1, 2)


def test_split_and_merge_heads_are_inverse():
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[1, 2, 4], x[1, 4, 8:12])  # head 2 = columns 8..11
    assert torch.equal(merge_heads(heads), x)


# ---------------------------------------------------------------- multi-head attention


def torch_mha(seed, d_model=16, num_heads=4):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(d_model, num_heads, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases, so that copying them is tested too
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


def test_multihead_agrees_with_torch_self_attention():
    mha = torch_mha(0)
    ours = MultiHeadAttention.from_torch(mha)
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, w = ours(x)
        ref, ref_w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    assert w.shape == (3, 4, 7, 7)
    assert torch.allclose(out, ref, atol=ATOL)
    assert torch.allclose(w, ref_w, atol=ATOL)


def test_multihead_agrees_with_torch_with_padding_and_causal_masks():
    mha = torch_mha(2)
    ours = MultiHeadAttention.from_torch(mha)
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(3))
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        out, w = ours(x, mask=padding_mask(attention_mask), causal=True)
        # torch's masks say True = *ignore*.
        ref, ref_w = mha(x, x, x, key_padding_mask=attention_mask == 0, attn_mask=~causal_mask(6),
                         need_weights=True, average_attn_weights=False)
    assert torch.allclose(out, ref, atol=ATOL)
    assert torch.allclose(w, ref_w, atol=ATOL)


def test_multihead_cross_attention_agrees_with_torch():
    mha = torch_mha(4)
    ours = MultiHeadAttention.from_torch(mha)
    g = torch.Generator().manual_seed(5)
    query, memory = torch.randn(2, 3, 16, generator=g), torch.randn(2, 8, 16, generator=g)
    with torch.no_grad():
        out, w = ours(query, memory)
        ref, ref_w = mha(query, memory, memory, need_weights=True, average_attn_weights=False)
    assert torch.allclose(out, ref, atol=ATOL) and torch.allclose(w, ref_w, atol=ATOL)


def test_self_attention_is_permutation_equivariant_and_positions_break_it():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(1, 6, 16)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        assert torch.allclose(mha(x[:, perm])[0], mha(x)[0][:, perm], atol=1e-6)
        pe = sinusoidal_positional_encoding(6, 16)
        moved = mha(x[:, perm] + pe)[0]
        assert not torch.allclose(moved, mha(x + pe)[0][:, perm], atol=1e-2)


# ---------------------------------------------------------------- positions


def test_sinusoidal_matches_the_formula():
    pe = sinusoidal_positional_encoding(50, 8)
    for pos in (0, 1, 7, 49):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoidal_dot_product_depends_only_on_offset():
    # sum_i sin(a w_i) sin(b w_i) + cos(a w_i) cos(b w_i) = sum_i cos((a - b) w_i)
    pe = sinusoidal_positional_encoding(100, 32).double()
    assert pe[10] @ pe[15] == pytest.approx((pe[60] @ pe[65]).item(), abs=1e-5)
    assert pe[3] @ pe[3] == pytest.approx(16.0, abs=1e-5)  # d_model / 2 pairs of sin^2 + cos^2


def test_learned_positions_add_one_row_per_position():
    pos = LearnedPositionalEmbedding(max_len=5, d_model=3)
    x = torch.zeros(2, 4, 3)
    assert torch.equal(pos(x)[1], pos.embedding.weight[:4])


# ---------------------------------------------------------------- encoder block


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_agrees_with_torch(norm_first, activation):
    torch.manual_seed(7)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=norm_first).eval()
    with torch.no_grad():
        for norm in (layer.norm1, layer.norm2):
            norm.weight.normal_()
            norm.bias.normal_()
    ours = TransformerEncoderBlock.from_torch(layer)
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(8))
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    with torch.no_grad():
        assert torch.allclose(ours(x), layer(x), atol=1e-5)
        out = ours(x, mask=padding_mask(attention_mask))
        ref = layer(x, src_key_padding_mask=attention_mask == 0)
    real = attention_mask.bool()  # torch's fast path may zero the padded positions
    assert torch.allclose(out[real], ref[real], atol=1e-5)


# ---------------------------------------------------------------- the real MiniLM


@pytest.fixture(scope="module")
def minilm():
    from companion.models import load_minilm_encoder

    return load_minilm_encoder(attn_implementation="eager")


def test_reproduces_minilm_layer_0(minilm):
    tokenizer, model = minilm
    batch = tokenizer(["The animal didn't cross the street because it was too tired.", "A short one."],
                      return_tensors="pt", padding=True)
    captured = {}
    hook = model.encoder.layer[0].attention.output.dense.register_forward_hook(
        lambda module, inputs, output: captured.setdefault("attention", output))
    with torch.no_grad():
        result = model(**batch, output_attentions=True, output_hidden_states=True)
    hook.remove()
    heads = model.config.num_attention_heads
    x, mask = result.hidden_states[0], padding_mask(batch["attention_mask"])
    with torch.no_grad():
        out, weights = MultiHeadAttention.from_bert(model.encoder.layer[0].attention, heads)(x, mask=mask)
        block = TransformerEncoderBlock.from_bert(model.encoder.layer[0], heads)(x, mask=mask)
    assert torch.allclose(out, captured["attention"], atol=1e-5)
    assert torch.allclose(weights, result.attentions[0], atol=1e-6)
    real = batch["attention_mask"].bool()
    assert torch.allclose(block[real], result.hidden_states[1][real], atol=1e-5)


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    q, k, v = qkv(9)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no key"):
        scaled_dot_product_attention(q, k, v, mask=torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="causal"):
        scaled_dot_product_attention(q[..., :2, :], k, v, causal=True)
    with pytest.raises(TypeError, match="torch.Tensor"):
        scaled_dot_product_attention(np.zeros((2, 2)), k, v)
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"\(batch, seq, 8\)"):
        MultiHeadAttention(8, 2)(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match="only 0"):
        padding_mask(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="max_len=4"):
        LearnedPositionalEmbedding(4, 2)(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positional_encoding(3, 5)
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderBlock(8, 2, 16, activation="tanh")
    with pytest.raises(TypeError, match="MultiheadAttention"):
        MultiHeadAttention.from_torch(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="BertAttention"):
        MultiHeadAttention.from_bert(nn.Linear(2, 2), 2)
