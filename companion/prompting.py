"""Few-shot classification with a causal language model: prompts, label scores, accuracy.

In-context learning (Brown et al., 2020) classifies without training: the
prompt holds ``k`` labelled examples (the *demonstrations*) and then the item
to classify, and the model's next token is read as its answer. Here the answer
is never generated: :func:`label_log_probs` compares the model's next-token
log-probabilities of the label words (``" negative"`` and ``" positive"``,
each a single token) right after the prompt, and the larger one is the
prediction. So every prediction is one of the labels, and one forward pass per
prompt gives it.

- :func:`few_shot_prompt` writes the prompt from a fixed template, and
  :func:`few_shot_prefix` the part of it that all items share;
- :func:`balanced_demonstrations` draws demonstrations from a training set,
  seeded and balanced between the classes;
- :func:`label_log_probs` scores the label words after each prompt, in
  batches, computing the output layer only at the last position;
- :func:`cached_label_log_probs` does the same through the book's cache,
  under a name that fingerprints every prompt;
- :func:`few_shot_accuracy` turns the scores into right/wrong flags.

Explained in the chapter "Text generation" (``book/text-generation.ipynb``),
section "In-context learning: few-shot classification".

Examples
--------
>>> from companion.prompting import few_shot_prompt
>>> print(few_shot_prompt("A triumph.", [("Dull and far too long.", 0)]))
Is each movie review positive or negative?
<BLANKLINE>
Review: Dull and far too long.
Sentiment: negative
<BLANKLINE>
Review: A triumph.
Sentiment:
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Sequence

import numpy as np
import torch

from .cache import cached_pickle

__all__ = [
    "LABEL_WORDS",
    "INSTRUCTION",
    "MAX_WORDS",
    "truncate_words",
    "few_shot_prefix",
    "few_shot_prompt",
    "balanced_demonstrations",
    "label_token_ids",
    "label_log_probs",
    "cached_label_log_probs",
    "few_shot_accuracy",
]

#: The label words, indexed by label: 0 (rotten) -> " negative", 1 (fresh) -> " positive".
LABEL_WORDS = (" negative", " positive")
#: The first line of every prompt.
INSTRUCTION = "Is each movie review positive or negative?"
#: Snippets longer than this many words are cut to their first MAX_WORDS words.
MAX_WORDS = 40


def truncate_words(text: str, max_words: int = MAX_WORDS) -> str:
    """``text`` with its whitespace normalised, cut to its first ``max_words`` words.

    >>> truncate_words("one  two three four", 2)
    'one two'
    """
    _check_count(max_words, "max_words", minimum=1)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    return " ".join(text.split()[:max_words])


def _check_count(value: Any, name: str, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_label_words(label_words: Sequence[str]) -> tuple[str, ...]:
    if isinstance(label_words, str) or len(label_words) < 2:
        raise ValueError(f"label_words must be a sequence of at least two words, got {label_words!r}")
    words = tuple(label_words)
    if not all(isinstance(w, str) and w.strip() for w in words):
        raise ValueError(f"every label word must be a non-empty string, got {words!r}")
    if len(set(words)) != len(words):
        raise ValueError(f"label words must be distinct, got {words!r}")
    return words


def few_shot_prefix(demonstrations: Sequence[tuple[str, int]] = (), label_words: Sequence[str] = LABEL_WORDS,
                    instruction: str = INSTRUCTION, max_words: int = MAX_WORDS) -> str:
    """The part of a few-shot prompt before the item: the instruction and the demonstrations.

    Every prompt of :func:`few_shot_prompt` with the same demonstrations starts
    with it, so :func:`label_log_probs` can read it once (its ``prefix``). It
    ends with a blank line (or is empty, with no instruction and no demonstrations).

    >>> few_shot_prefix([("Dull.", 0)], instruction="")
    'Review: Dull.\\nSentiment: negative\\n\\n'
    """
    words = _check_label_words(label_words)
    if not isinstance(instruction, str):
        raise ValueError(f"instruction must be a string, got {instruction!r}")
    blocks = [instruction] if instruction else []
    for item in demonstrations:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"each demonstration must be a (text, label) pair, got {item!r}")
        demo_text, label = item
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(words):
            raise ValueError(f"a demonstration's label must be an integer index into label_words "
                             f"(0 to {len(words) - 1}), got {label!r}")
        blocks.append(f"Review: {truncate_words(demo_text, max_words)}\nSentiment: {words[label].strip()}")
    return "".join(block + "\n\n" for block in blocks)


def few_shot_prompt(text: str, demonstrations: Sequence[tuple[str, int]] = (),
                    label_words: Sequence[str] = LABEL_WORDS, instruction: str = INSTRUCTION,
                    max_words: int = MAX_WORDS) -> str:
    """The prompt for classifying ``text`` after ``demonstrations``, a list of ``(text, label)``.

    The template, fixed once: the ``instruction`` line, then for each
    demonstration a block ``Review: <text>`` / ``Sentiment: <label word>``,
    blocks separated by a blank line, and last the block of ``text`` with
    its label left out, so that the prompt ends with ``"Sentiment:"`` and the
    model's next token is the answer. ``label_words[label]`` is written for a
    demonstration's ``label`` (without its leading space: the template puts one
    after the colon). Every text is cut to ``max_words`` words
    (:func:`truncate_words`). With no demonstrations the prompt is zero-shot.
    The prompt is :func:`few_shot_prefix` followed by the item's block.

    >>> few_shot_prompt("Fine.").splitlines()
    ['Is each movie review positive or negative?', '', 'Review: Fine.', 'Sentiment:']
    """
    prefix = few_shot_prefix(demonstrations, label_words, instruction, max_words)
    return f"{prefix}Review: {truncate_words(text, max_words)}\nSentiment:"


def balanced_demonstrations(texts: Sequence[str], labels: Sequence[int], k: int,
                            seed: int = 0) -> list[tuple[str, int]]:
    """``k`` demonstrations ``(text, label)`` drawn without replacement, seeded, balanced in pairs.

    Labels must be 0 and 1. The list is built from pairs, one example of each
    label in a random order within the pair, so every *even-length prefix* is
    balanced, and the draw does not depend on ``k``: with the same seed,
    ``balanced_demonstrations(..., 8)[:4] == balanced_demonstrations(..., 4)``,
    so a k-shot prompt adds demonstrations to the smaller prompts rather than
    replacing them. An odd ``k`` ends with the first item of one more pair.

    >>> texts, labels = ["good", "bad", "great", "awful"], [1, 0, 1, 0]
    >>> balanced_demonstrations(texts, labels, 4, seed=0)
    [('good', 1), ('bad', 0), ('awful', 0), ('great', 1)]
    >>> balanced_demonstrations(texts, labels, 2, seed=0)
    [('good', 1), ('bad', 0)]
    """
    _check_count(k, "k")
    _check_count(seed, "seed")
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels must have the same length, got {len(texts)} and {len(labels)}")
    if not np.isin(labels, [0, 1]).all():
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels)[:5]}")
    n_pairs = (k + 1) // 2
    by_label = [np.flatnonzero(labels == c) for c in (0, 1)]
    for c, idx in enumerate(by_label):
        if len(idx) < n_pairs:
            raise ValueError(f"k={k} needs {n_pairs} examples of label {c}, but only {len(idx)} are available")
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(idx)[:n_pairs] for idx in by_label]  # the same order whatever k
    order = []
    for i in range(n_pairs):
        first = int(rng.integers(0, 2))
        order += [picked[first][i], picked[1 - first][i]]
    return [(texts[i], int(labels[i])) for i in order[:k]]


def label_token_ids(tokenizer, label_words: Sequence[str] = LABEL_WORDS) -> list[int]:
    """The token id of each label word; ``ValueError`` unless each is exactly one token.

    The words are tokenized as they follow the prompt, leading space included
    and without special tokens.
    """
    words = _check_label_words(label_words)
    ids = []
    for word in words:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise ValueError(f"label word {word!r} is {len(pieces)} tokens of this tokenizer "
                             f"({tokenizer.convert_ids_to_tokens(pieces)}); choose words that are one token each")
        ids.append(int(pieces[0]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"label words {words!r} map to the same token ids {ids}")
    return ids


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str) or not len(prompts) or not all(isinstance(p, str) and p for p in prompts):
        raise ValueError(f"prompts must be a non-empty list of non-empty strings, got {prompts!r}")
    return list(prompts)


def _split_at_prefix(tokenizer, prompts: list[str], prefix: str | None) -> tuple[list[int], list[list[int]]]:
    """Token ids of the shared prefix and of each prompt's remainder; together, the prompt's own tokenization."""
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    if prefix is None:
        return [], encoded
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string or None, got {prefix!r}")
    prefix_ids = tokenizer(prefix)["input_ids"]
    rests = []
    for prompt, ids in zip(prompts, encoded):
        if not prompt.startswith(prefix) or len(prompt) == len(prefix):
            raise ValueError(f"every prompt must start with the prefix and continue after it; {prompt!r} does not")
        if ids[: len(prefix_ids)] != prefix_ids:
            raise ValueError("a prompt's tokens do not begin with the prefix's tokens (a token spans the end of "
                             f"the prefix); end the prefix where a token ends, e.g. at a line break: {prompt!r}")
        rests.append(ids[len(prefix_ids):])
    return prefix_ids, rests


def _log_softmax_at(model, hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of tokens ``ids`` from final hidden states ``(rows, dim)``, in float32.

    The normaliser (log-sum-exp over the vocabulary) comes from the model's own
    output layer, in its own precision (Gemma's is bfloat16, whose logits carry
    about three significant digits); the logits of the ``ids`` themselves are
    recomputed in float32 from the same weights, so that two label words
    whose bfloat16 logits round to the same number are still told apart.
    """
    head = model.get_output_embeddings()
    bias = getattr(head, "bias", None)
    cap = getattr(model.config, "final_logit_softcapping", None)

    def capped(logits: torch.Tensor) -> torch.Tensor:
        return torch.tanh(logits / cap) * cap if cap else logits

    norm = capped(head(hidden).float()).logsumexp(dim=-1, keepdim=True)
    chosen = hidden.float() @ head.weight[ids].float().T
    if bias is not None:
        chosen = chosen + bias[ids].float()
    return capped(chosen) - norm


@torch.no_grad()
def label_log_probs(model, tokenizer, prompts: Sequence[str], label_words: Sequence[str] = LABEL_WORDS,
                    batch_size: int = 8, prefix: str | None = None) -> np.ndarray:
    """Next-token log-probabilities (nats) of each label word after each prompt: ``(n_prompts, n_labels)``.

    Each prompt is tokenized as the tokenizer does by default (Gemma's adds
    ``<bos>``). Prompts go through the model ``batch_size`` at a time, sorted by
    length so that a batch pads little; a batch is padded on the *right*, so
    that no real token attends to padding (a causal model looks only left,
    and a sliding attention window sees no gaps), and each row is read at its
    own last token: every row sees what it would see alone. The output layer
    is applied only at that position (a 262,144-token vocabulary at every
    position would take gigabytes), and the label words' logits are computed
    in float32 (:func:`_log_softmax_at`). The log-softmax is over the whole
    vocabulary, so a row's values are the model's real probabilities of
    the label words, which need not sum to 1.

    ``prefix``: a text that every prompt starts with, such as the instruction
    and the demonstrations of a few-shot prompt (:func:`few_shot_prefix`).
    The model then reads it once, and every prompt continues from its cached
    keys and values, which gives the same numbers (within float rounding) for
    a fraction of the work. The prompt's tokens must begin with the prefix's
    tokens (end the prefix at a line break).
    """
    prompts = _check_prompts(prompts)
    _check_count(batch_size, "batch_size", minimum=1)
    ids = torch.tensor(label_token_ids(tokenizer, label_words))
    prefix_ids, rests = _split_at_prefix(tokenizer, prompts, prefix)
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    longest = len(prefix_ids) + max(len(r) for r in rests)
    if limit is not None and longest > limit:
        raise ValueError(f"a prompt of {longest} tokens exceeds the model's {limit} positions")
    base = model.base_model
    prefix_cache = None
    if prefix_ids:
        prefix_cache = base(input_ids=torch.tensor([prefix_ids]), use_cache=True).cache
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(rests)), key=lambda i: len(rests[i]))
    out = np.empty((len(prompts), len(ids)), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(rests[i]) for i in rows)
        input_ids = torch.tensor([rests[i] + [pad] * (width - len(rests[i])) for i in rows])
        mask = torch.tensor([[1] * len(rests[i]) + [0] * (width - len(rests[i])) for i in rows])
        attention = torch.cat([torch.ones(len(rows), len(prefix_ids), dtype=mask.dtype), mask], dim=1)
        positions = torch.arange(len(prefix_ids), len(prefix_ids) + width).expand(len(rows), -1)
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(rows))
        states = base(input_ids=input_ids, attention_mask=attention, position_ids=positions, cache=cache,
                      use_cache=cache is not None).last_hidden_state
        del cache
        hidden = states[torch.arange(len(rows)), mask.sum(dim=1) - 1]  # each row's last real token
        out[rows] = _log_softmax_at(model, hidden, ids).double().numpy()
    return out


def cached_label_log_probs(model_name: str, model, tokenizer, prompts: Sequence[str],
                           label_words: Sequence[str] = LABEL_WORDS, batch_size: int = 8,
                           prefix: str | None = None) -> np.ndarray:
    """:func:`label_log_probs`, cached under a name that fingerprints the model name, prompts and settings.

    ``model_name`` names the model in the key (the cache cannot hash the
    weights); use a new name for other weights or another precision.
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    key = json.dumps({"model": model_name, "prompts": list(prompts), "label_words": list(label_words),
                      "batch_size": batch_size, "prefix": prefix}, ensure_ascii=False)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return cached_pickle(f"prompting/{model_name}-{digest}.pkl",
                         lambda: label_log_probs(model, tokenizer, prompts, label_words, batch_size, prefix))


def few_shot_accuracy(log_probs, labels) -> tuple[np.ndarray, float]:
    """``(correct, accuracy)``: was the highest-scoring label word the item's label, and the mean.

    >>> correct, accuracy = few_shot_accuracy([[-1.0, -2.0], [-3.0, -0.5]], [0, 0])
    >>> correct.tolist(), accuracy
    ([True, False], 0.5)
    """
    scores = np.asarray(log_probs, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"log_probs must be an (items, labels) array with at least two labels, got shape {scores.shape}")
    if labels.shape != (scores.shape[0],):
        raise ValueError(f"labels must hold one label per row of log_probs ({scores.shape[0]}), got shape {labels.shape}")
    if not np.isin(labels, np.arange(scores.shape[1])).all():
        raise ValueError(f"labels must be indices 0 to {scores.shape[1] - 1}, got values {np.unique(labels)[:5]}")
    correct = scores.argmax(axis=1) == labels
    return correct, float(correct.mean())
