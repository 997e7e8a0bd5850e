"""Decoding strategies: how a language model's next-token scores become text.

A causal language model (GPT, Gemma) gives, at each step, one score (*logit*) per
token of its vocabulary. Decoding turns that vector into the next token:

- :func:`greedy_token`: the token of highest logit (deterministic);
- :func:`apply_temperature`: divide the logits by ``T`` before the softmax;
  ``T < 1`` sharpens the distribution, ``T > 1`` flattens it, ``T -> 0`` is greedy;
- :func:`top_k_filter`: keep the ``k`` tokens of highest logit, set the rest to ``-inf``;
- :func:`top_p_filter` (nucleus sampling, Holtzman et al. 2020): keep the smallest set
  of most probable tokens whose probability mass reaches ``p``;
- :func:`filtered_probabilities`: temperature, then top-k, then top-p, then softmax
  (the order of transformers' ``generate``);
- :func:`sample_token`: one draw from that distribution, with a seeded ``torch.Generator``;
- :func:`generate`: a from-scratch generation loop around any transformers causal LM.

The filters agree with transformers' ``TemperatureLogitsWarper``,
``TopKLogitsWarper`` and ``TopPLogitsWarper`` (the test suite checks it).

Explained in the chapter "The GPT family: decoders and the embedding matrix of an LLM"
(``book/gpt-family.ipynb``).

Examples
--------
Four tokens with probabilities 0.5, 0.3, 0.15 and 0.05: top-2 keeps the first two;
top-p with ``p = 0.7`` keeps the first two too (0.5 < 0.7 <= 0.5 + 0.3):

>>> import torch
>>> from companion.decoding import top_k_filter, top_p_filter, greedy_token
>>> logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
>>> top_k_filter(logits, 2).isfinite().tolist()
[True, True, False, False]
>>> top_p_filter(logits, 0.7).isfinite().tolist()
[True, True, False, False]
>>> top_p_filter(logits, 0.9).isfinite().tolist()
[True, True, True, False]
>>> int(greedy_token(logits))
0
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = [
    "greedy_token",
    "apply_temperature",
    "top_k_filter",
    "top_p_filter",
    "filtered_probabilities",
    "sample_token",
    "generate",
    "training_compute",
]


def _check_logits(logits: torch.Tensor) -> torch.Tensor:
    logits = torch.as_tensor(logits)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (vocab,) or (batch, vocab), got {tuple(logits.shape)}")
    return logits.float()


def greedy_token(logits: torch.Tensor) -> torch.Tensor:
    """The id of the highest logit (along the last axis): greedy decoding."""
    return _check_logits(logits).argmax(dim=-1)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``; ``temperature`` must be a positive number.

    Greedy decoding is the limit ``temperature -> 0``; ask for it with
    :func:`greedy_token` (or ``strategy="greedy"``) rather than ``temperature=0``.
    """
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature!r}; "
            "for greedy decoding (the limit temperature -> 0) use greedy_token"
        )
    return _check_logits(logits) / float(temperature)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits (ties with the k-th are kept too), set the others to ``-inf``.

    ``k`` larger than the vocabulary keeps everything.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    logits = _check_logits(logits)
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose probability sum is >= ``p``.

    Tokens are taken in decreasing order of probability; a token is kept when the
    mass of the tokens before it is still below ``p``. So the most probable token is
    always kept, and ``p = 1`` keeps every token of non-zero probability.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    logits = _check_logits(logits)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = sorted_logits.softmax(dim=-1)
    mass_before = probabilities.cumsum(dim=-1) - probabilities
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def filtered_probabilities(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The sampling distribution: temperature, then top-k, then top-p, then softmax.

    That is the order in which transformers' ``generate`` applies its warpers.
    """
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits.softmax(dim=-1)


def sample_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id drawn from :func:`filtered_probabilities` (one per row for 2-D logits).

    Pass a seeded ``torch.Generator`` for a repeatable draw.
    """
    probabilities = filtered_probabilities(logits, temperature, top_k, top_p)
    flat = probabilities.reshape(-1, probabilities.shape[-1])
    draw = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return draw.reshape(probabilities.shape[:-1])


_STRATEGIES = ("greedy", "sample")


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int = 20,
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
) -> str:
    """Continue ``prompt`` with a causal LM, one token at a time, and return the new text.

    ``strategy="greedy"`` takes :func:`greedy_token` at every step;
    ``strategy="sample"`` draws with :func:`sample_token` (``temperature``, ``top_k``,
    ``top_p``) from a ``torch.Generator`` seeded with ``seed``. The loop reuses the
    model's key/value cache, so each step feeds only the newest token. Stops early at
    the tokenizer's end-of-sequence token.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    generator = torch.Generator().manual_seed(seed)
    input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    new_ids: list[int] = []
    past = None
    step_input = input_ids
    for _ in range(max_new_tokens):
        output = model(input_ids=step_input, cache=past, use_cache=True)
        past = output.past_key_values
        logits = output.logits[0, -1]
        if strategy == "greedy":
            token = greedy_token(logits)
        else:
            token = sample_token(logits, temperature, top_k, top_p, generator=generator)
        token_id = int(token)
        if token_id == tokenizer.eos_token_id:
            break
        new_ids.append(token_id)
        step_input = torch.tensor([[token_id]])
    return tokenizer.decode(new_ids, skip_special_tokens=True)


def training_compute(n_parameters: float, n_tokens: float) -> float:
    """Training compute in FLOPs, ``C = 6 N D`` (Kaplan et al. 2020).

    About 2 FLOPs per parameter per token for the forward pass and 4 for the
    backward pass.

    >>> f"{training_compute(175e9, 300e9):.2e}"  # GPT-3
    '3.15e+23'
    """
    if n_parameters <= 0 or n_tokens <= 0:
        raise ValueError(f"n_parameters and n_tokens must be > 0, got {n_parameters!r} and {n_tokens!r}")
    return 6.0 * float(n_parameters) * float(n_tokens)
