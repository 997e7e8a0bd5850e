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
- :func:`generate`: a from-scratch generation loop around any transformers causal LM;
  :func:`generate_batch` runs it on several prompts at once, padded on the left;
- :func:`distinct_n` (Li et al. 2016) and :func:`repetition_rate` (Welleck et al. 2020):
  how varied a set of generated texts is, and how much each repeats itself.

The filters agree with transformers' ``TemperatureLogitsWarper``,
``TopKLogitsWarper`` and ``TopPLogitsWarper`` (the test suite checks it).

Explained in the chapter "The GPT family: decoders and the embedding matrix of an LLM"
(``book/gpt-family.ipynb``); :func:`generate_batch`, :func:`distinct_n` and
:func:`repetition_rate` are used to compare decoding strategies in the chapter "Text generation"
(``book/text-generation.ipynb``).

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

Distinct-2 of two texts: 5 bigrams, 3 different ("the cat" three times); the second text
repeats one of its 3 bigrams:

>>> from companion.decoding import distinct_n, repetition_rate
>>> distinct_n(["the cat sat", "the cat the cat"], 2)
0.6
>>> round(repetition_rate(["the cat the cat"], 2), 3)
0.333
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
    "generate_batch",
    "distinct_n",
    "repetition_rate",
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


def _check_generation(model: Any, prompt_lengths: list[int], strategy: str, max_new_tokens: int) -> None:
    """Shared checks of :func:`generate` and :func:`generate_batch`."""
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    if min(prompt_lengths) == 0:
        raise ValueError("a prompt has no tokens: give a non-empty prompt")
    config = getattr(model, "config", None)
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and max(prompt_lengths) + max_new_tokens > limit:
        raise ValueError(
            f"prompt ({max(prompt_lengths)} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
            f"{limit} positions; shorten the prompt or ask for fewer tokens"
        )


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

    Raises ``ValueError`` for an unknown ``strategy``, an empty prompt, or a prompt plus
    ``max_new_tokens`` longer than the model's positions (``n_positions`` or
    ``max_position_embeddings``): nothing is truncated silently.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    generator = torch.Generator().manual_seed(seed)
    input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    _check_generation(model, [input_ids.shape[1]], strategy, max_new_tokens)
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


@torch.no_grad()
def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int = 20,
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
) -> list[str]:
    """:func:`generate` for several prompts in one batch; returns one continuation per prompt.

    The prompts are padded on the *left* (with the tokenizer's pad token, or its
    end-of-sequence token if it has none), so that every row's last prompt token sits
    in the last column and the new tokens line up; the attention mask hides the
    padding, and the position ids count only real tokens, so each row sees what it
    would see alone. A row that reaches the end-of-sequence token stops (its later
    tokens are discarded). Sampling draws all rows from one generator seeded with
    ``seed``: the draws of a row depend on the whole batch, so a batched sample is
    repeatable but differs from the same prompt's :func:`generate` sample. Only the last
    position's logits are computed (``logits_to_keep=1``), so a long prompt does not pay
    for a full vocabulary of logits at every position. Same errors as :func:`generate`.
    """
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ValueError(f"prompts must be a non-empty list of non-empty strings, got {prompts!r}")
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    _check_generation(model, [len(ids) for ids in encoded], strategy, max_new_tokens)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
    attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    generator = torch.Generator().manual_seed(seed)
    new_ids = torch.empty(len(prompts), 0, dtype=torch.long)
    finished = torch.zeros(len(prompts), dtype=torch.bool)
    past = None
    step_input = input_ids
    for _ in range(max_new_tokens):
        # logits_to_keep=1: only the last position's logits are used, so the model computes only
        # those (on the prompt step a 262,144-token vocabulary would cost prompt length x that).
        output = model(input_ids=step_input, attention_mask=attention, position_ids=positions, cache=past,
                       use_cache=True, logits_to_keep=1)
        past = output.past_key_values
        logits = output.logits[:, -1]
        if strategy == "greedy":
            tokens = greedy_token(logits)
        else:
            tokens = sample_token(logits, temperature, top_k, top_p, generator=generator)
        tokens = tokens.masked_fill(finished, pad)
        new_ids = torch.cat([new_ids, tokens[:, None]], dim=1)
        if tokenizer.eos_token_id is not None:
            finished |= tokens == tokenizer.eos_token_id
        if finished.all():
            break
        step_input = tokens[:, None]
        attention = torch.cat([attention, torch.ones(len(prompts), 1, dtype=attention.dtype)], dim=1)
        positions = positions[:, -1:] + 1
    texts = []
    for row in new_ids.tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return texts


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _check_texts_and_n(texts: Any, n: Any) -> list[list[str]]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return [t.split() for t in texts]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): different n-grams / all n-grams, pooled over ``texts``.

    Words are whitespace-separated; an n-gram does not cross from one text into the
    next. 1.0 means no n-gram occurs twice anywhere in the set; a small value means
    the texts repeat each other or themselves. Raises ``ValueError`` if the texts hold
    no n-gram at all (the ratio would be 0 / 0).
    """
    grams = [g for words in _check_texts_and_n(texts, n) for g in _ngrams(words, n)]
    if not grams:
        raise ValueError(f"the texts contain no {n}-gram (every text is shorter than {n} words)")
    return len(set(grams)) / len(grams)


def repetition_rate(texts: list[str], n: int = 4) -> float:
    """Mean over texts of the share of a text's n-grams that repeat an earlier n-gram *of the same text*.

    This is ``seq-rep-n`` of Welleck et al. (2020), ``1 - distinct / total`` within each
    text: 0 for a text without repeated n-grams, close to 1 for a loop. Texts with no
    n-gram are skipped; ``ValueError`` if no text has one.
    """
    rates = []
    for words in _check_texts_and_n(texts, n):
        grams = _ngrams(words, n)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    if not rates:
        raise ValueError(f"no text contains a {n}-gram (every text is shorter than {n} words)")
    return sum(rates) / len(rates)


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
