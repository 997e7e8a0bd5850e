"""Attention and the Transformer encoder, from scratch in PyTorch.

Self-attention replaces each token's vector by a weighted average of the
(projected) vectors of all the tokens it may see; the weights come from a
softmax over scaled dot products of *queries* with *keys*:

    ``Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V``

Everything here works on batched tensors laid out as ``(batch, heads, seq, d)``
(or ``(batch, seq, d_model)`` before the heads are split):

- :func:`scaled_dot_product_attention`: the formula above, with an optional
  boolean mask and a causal option; returns the output *and* the weights;
- :func:`causal_mask` and :func:`padding_mask`: the two masks a Transformer
  uses (no peeking at later tokens; no attending to padding);
- :func:`split_heads` and :func:`merge_heads`: ``(batch, seq, d_model)`` to
  ``(batch, heads, seq, d_model / heads)`` and back;
- :class:`MultiHeadAttention`: the four projections (query, key, value,
  output) around :func:`scaled_dot_product_attention`; it copies its weights
  from a ``torch.nn.MultiheadAttention`` (:meth:`MultiHeadAttention.from_torch`)
  or from a BERT self-attention layer (:meth:`MultiHeadAttention.from_bert`);
- :func:`sinusoidal_positional_encoding` (Vaswani et al. 2017) and
  :class:`LearnedPositionalEmbedding`;
- :class:`TransformerEncoderBlock`: attention + residual + LayerNorm +
  feed-forward, post-norm (Vaswani et al., BERT) or pre-norm; it copies its
  weights from ``torch.nn.TransformerEncoderLayer``
  (:meth:`TransformerEncoderBlock.from_torch`) or a BERT layer
  (:meth:`TransformerEncoderBlock.from_bert`).

Mask convention: a boolean mask is ``True`` where a query **may** attend to a
key, as in ``torch.nn.functional.scaled_dot_product_attention``. (PyTorch's
``nn.MultiheadAttention`` uses the opposite convention for its
``key_padding_mask``: ``True`` there means *ignore*.)

Explained in the chapter "Attention and the Transformer"
(``book/attention-and-transformers.ipynb``).

Examples
--------
Three tokens with 2-d vectors, used as queries, keys and values at once. The
first token's scaled scores are ``[1, 0, 1] / sqrt(2)``; ``e^0.707 = 2.028``, so
its weights are ``[2.028, 1, 2.028] / 5.056``:

>>> import torch
>>> from companion.attention import scaled_dot_product_attention
>>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
>>> output, weights = scaled_dot_product_attention(x, x, x)
>>> weights[0, 0].round(decimals=3)
tensor([0.4010, 0.1980, 0.4010])
>>> output[0, 0].round(decimals=3)  # 0.401 * [1, 0] + 0.198 * [0, 1] + 0.401 * [1, 1]
tensor([0.8020, 0.5990])
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
    "sinusoidal_positional_encoding",
    "LearnedPositionalEmbedding",
    "TransformerEncoderBlock",
]


def _check_tensor(name: str, x, min_dim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions (..., seq, d), got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def causal_mask(seq_len: int, device=None) -> torch.Tensor:
    """Boolean ``(seq_len, seq_len)`` mask, ``True`` on and below the diagonal: token i sees tokens 0..i.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Turn a tokenizer's ``(batch, seq)`` 0/1 ``attention_mask`` into a ``(batch, 1, 1, seq)`` boolean mask.

    The result broadcasts over heads and queries: every query may attend to
    the real tokens (1) of its own sequence and to none of the padding (0).

    >>> padding_mask(torch.tensor([[1, 1, 0]])).int()
    tensor([[[[1, 1, 0]]]], dtype=torch.int32)
    """
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 2:
        shape = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__
        raise ValueError(f"attention_mask must be a (batch, seq) tensor of 0/1, got {shape}")
    values = torch.unique(attention_mask).tolist()
    if not set(values) <= {0, 1}:
        raise ValueError(f"attention_mask must contain only 0 (padding) and 1 (token), got values {values}")
    return attention_mask.bool()[:, None, None, :]


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d_k)) V`` and the attention weights.

    Parameters
    ----------
    query : tensor ``(..., L, d_k)``
    key : tensor ``(..., S, d_k)``
    value : tensor ``(..., S, d_v)``
    mask : boolean tensor broadcastable to ``(..., L, S)``, optional
        ``True`` where query i may attend to key j.
    causal : bool
        Also forbid attending to later positions (requires ``L == S``).
    scale : float, optional
        The factor applied to the dot products; ``1 / sqrt(d_k)`` by default.

    Returns
    -------
    output : tensor ``(..., L, d_v)``
    weights : tensor ``(..., L, S)``; each row sums to 1 over the allowed keys.

    Raises
    ------
    ValueError
        If the shapes disagree, or if a query row is left with no key to attend to
        (its softmax would be 0/0).
    """
    for name, x in (("query", query), ("key", key), ("value", value)):
        _check_tensor(name, x, 2)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query and key must share the last dimension d_k, got {query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same sequence length, got {key.shape[-2]} and {value.shape[-2]}")
    d_k = query.shape[-1]
    scale = 1.0 / math.sqrt(d_k) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    allowed = None
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise TypeError(f"mask must be a boolean tensor (True = may attend), got {got}")
        try:
            torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape {tuple(scores.shape)} (..., L, S)"
            ) from None
        allowed = mask
    if causal:
        if query.shape[-2] != key.shape[-2]:
            raise ValueError(f"causal attention needs as many queries as keys, got {query.shape[-2]} and {key.shape[-2]}")
        tri = causal_mask(query.shape[-2], device=query.device)
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None:
        if not allowed.expand(scores.shape).any(dim=-1).all():
            raise ValueError("a query has no key it may attend to (a mask row is all False); its weights would be 0/0")
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(batch, seq, d_model)`` to ``(batch, num_heads, seq, d_model // num_heads)``.

    >>> split_heads(torch.zeros(2, 5, 12), num_heads=3).shape
    torch.Size([2, 3, 5, 4])
    """
    _check_tensor("x", x, 3)
    batch, seq, d_model = x.shape
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    return x.view(batch, seq, num_heads, d_model // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, heads, seq, d_head)`` back to ``(batch, seq, heads * d_head)``: the inverse of :func:`split_heads`."""
    _check_tensor("x", x, 4)
    batch, heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, heads * d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: ``num_heads`` attentions of width ``d_model / num_heads`` side by side.

    ``output = W_O [head_1; ...; head_h]`` with
    ``head_i = Attention(X W_Q^i, X W_K^i, X W_V^i)``; the per-head
    projections are the slices of one ``d_model x d_model`` matrix each.

    Parameters
    ----------
    d_model : int
        Width of the token vectors.
    num_heads : int
        Number of heads; must divide ``d_model``.
    bias : bool
        Whether the four projections have a bias (PyTorch's and BERT's do).

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> output, weights = mha(torch.randn(1, 5, 8))
    >>> output.shape, weights.shape
    (torch.Size([1, 5, 8]), torch.Size([1, 2, 5, 5]))
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"d_model must be a positive integer, got {d_model!r}")
        if not isinstance(num_heads, int) or num_heads < 1 or d_model % num_heads:
            raise ValueError(f"num_heads must be a positive integer dividing d_model={d_model}, got {num_heads!r}")
        self.d_model, self.num_heads = d_model, num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key=None, value=None, mask=None, causal=False):
        """Attend from ``query`` ``(batch, L, d_model)`` to ``key``/``value`` (default: ``query``, i.e. self-attention).

        ``mask`` is boolean, broadcastable to ``(batch, heads, L, S)``, ``True``
        where attending is allowed (e.g. :func:`padding_mask`). Returns the
        output ``(batch, L, d_model)`` and the weights ``(batch, heads, L, S)``.
        """
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            _check_tensor(name, x, 3)
            if x.dim() != 3 or x.shape[-1] != self.d_model:
                raise ValueError(f"{name} must have shape (batch, seq, {self.d_model}), got {tuple(x.shape)}")
        q = split_heads(self.q_proj(query), self.num_heads)
        k = split_heads(self.k_proj(key), self.num_heads)
        v = split_heads(self.v_proj(value), self.num_heads)
        context, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
        return self.out_proj(merge_heads(context)), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of a ``torch.nn.MultiheadAttention``'s weights (its packed ``in_proj`` split in three)."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"expected torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha._qkv_same_embed_dim:
            raise ValueError("only MultiheadAttention with kdim == vdim == embed_dim is supported")
        ours = cls(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None)
        with torch.no_grad():
            for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
                proj.weight.copy_(mha.in_proj_weight[i * mha.embed_dim : (i + 1) * mha.embed_dim])
                if mha.in_proj_bias is not None:
                    proj.bias.copy_(mha.in_proj_bias[i * mha.embed_dim : (i + 1) * mha.embed_dim])
            ours.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.out_proj.bias is not None:
                ours.out_proj.bias.copy_(mha.out_proj.bias)
        return ours

    @classmethod
    def from_bert(cls, attention: nn.Module, num_heads: int) -> "MultiHeadAttention":
        """A copy of a transformers ``BertAttention`` (``layer.attention``): its query/key/value and output dense."""
        try:
            q, k, v = attention.self.query, attention.self.key, attention.self.value
            o = attention.output.dense
        except AttributeError:
            raise TypeError(
                f"expected a BertAttention module (model.encoder.layer[i].attention), got {type(attention).__name__}"
            ) from None
        ours = cls(q.in_features, num_heads, bias=True)
        with torch.no_grad():
            for mine, theirs in ((ours.q_proj, q), (ours.k_proj, k), (ours.v_proj, v), (ours.out_proj, o)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        return ours


def sinusoidal_positional_encoding(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed positional encodings of Vaswani et al. (2017), ``(max_len, d_model)``.

    ``PE[pos, 2i] = sin(pos / base^(2i / d_model))`` and
    ``PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))``: each pair of columns
    is a clock hand turning at its own speed.

    >>> sinusoidal_positional_encoding(2, 4).round(decimals=4)  # sin 1, cos 1, sin 0.01, cos 0.01
    tensor([[0.0000, 1.0000, 0.0000, 1.0000],
            [0.8415, 0.5403, 0.0100, 1.0000]])
    """
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    if not isinstance(d_model, int) or d_model < 2 or d_model % 2:
        raise ValueError(f"d_model must be a positive even integer, got {d_model!r}")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    frequency = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe.float()


class LearnedPositionalEmbedding(nn.Module):
    """One trainable vector per position (as in BERT and GPT-2), added to the token vectors.

    >>> pos = LearnedPositionalEmbedding(max_len=4, d_model=3)
    >>> pos(torch.zeros(2, 4, 3)).shape
    torch.Size([2, 4, 3])
    """

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + P[:seq]`` for ``x`` of shape ``(batch, seq, d_model)``."""
        _check_tensor("x", x, 3)
        seq = x.shape[1]
        if seq > self.max_len:
            raise ValueError(f"sequence length {seq} exceeds max_len={self.max_len}; learned positions cannot extrapolate")
        return x + self.embedding(torch.arange(seq, device=x.device))


_ACTIVATIONS = {"relu": nn.functional.relu, "gelu": nn.functional.gelu}


class TransformerEncoderBlock(nn.Module):
    """One Transformer encoder layer: self-attention and a feed-forward network, each with residual + LayerNorm.

    Post-norm (``norm_first=False``; Vaswani et al. 2017, BERT)::

        x = LayerNorm(x + MultiHeadAttention(x))
        x = LayerNorm(x + FFN(x))

    Pre-norm (``norm_first=True``; GPT-2 and most recent models)::

        x = x + MultiHeadAttention(LayerNorm(x))
        x = x + FFN(LayerNorm(x))

    with ``FFN(x) = W_2 activation(W_1 x + b_1) + b_2``. No dropout: this is
    the block as it runs at inference time.

    Examples
    --------
    >>> block = TransformerEncoderBlock(d_model=8, num_heads=2, d_ff=16)
    >>> block(torch.randn(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, norm_first: bool = False,
                 activation: str = "relu", layer_norm_eps: float = 1e-5):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.norm_first, self.activation = norm_first, activation
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The position-wise network ``W_2 activation(W_1 x + b_1) + b_2``."""
        return self.linear2(_ACTIVATIONS[self.activation](self.linear1(x)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        """``x`` of shape ``(batch, seq, d_model)``; ``mask`` as in :class:`MultiHeadAttention`."""
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.attention(h, mask=mask, causal=causal)[0]
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + self.attention(x, mask=mask, causal=causal)[0])
        return self.norm2(x + self.feed_forward(x))

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "TransformerEncoderBlock":
        """A copy of a ``torch.nn.TransformerEncoderLayer`` (``batch_first`` or not; relu or gelu)."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"expected torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        activation = {nn.functional.relu: "relu", nn.functional.gelu: "gelu"}.get(layer.activation)
        if activation is None:
            raise ValueError(f"unsupported activation {layer.activation!r}; use relu or gelu")
        mha = layer.self_attn
        ours = cls(mha.embed_dim, mha.num_heads, layer.linear1.out_features, norm_first=layer.norm_first,
                   activation=activation, layer_norm_eps=layer.norm1.eps)
        ours.attention = MultiHeadAttention.from_torch(mha)
        with torch.no_grad():
            for name in ("linear1", "linear2", "norm1", "norm2"):
                getattr(ours, name).load_state_dict(getattr(layer, name).state_dict())
        return ours

    @classmethod
    def from_bert(cls, layer: nn.Module, num_heads: int) -> "TransformerEncoderBlock":
        """A copy of a transformers ``BertLayer`` (post-norm, exact GELU, LayerNorm eps taken from the layer)."""
        try:
            attention, intermediate, output = layer.attention, layer.intermediate.dense, layer.output
        except AttributeError:
            raise TypeError(f"expected a BertLayer (model.encoder.layer[i]), got {type(layer).__name__}") from None
        ours = cls(intermediate.in_features, num_heads, intermediate.out_features, norm_first=False,
                   activation="gelu", layer_norm_eps=output.LayerNorm.eps)
        ours.attention = MultiHeadAttention.from_bert(attention, num_heads)
        with torch.no_grad():
            ours.linear1.load_state_dict(intermediate.state_dict())
            ours.linear2.load_state_dict(output.dense.state_dict())
            ours.norm1.load_state_dict(attention.output.LayerNorm.state_dict())
            ours.norm2.load_state_dict(output.LayerNorm.state_dict())
        return ours
