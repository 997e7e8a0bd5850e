"""Masked language modelling: BERT's masking, a small BERT trained from scratch, and its relatives.

BERT (Devlin et al. 2019) learns by filling in blanks. Each ordinary token of a
sequence is *selected* with probability ``mlm_probability`` (15% in BERT; Wettig
et al. 2023 found higher rates, such as 40%, as good or better); the model must
predict the original token at each selected position. (BERT's own data script
selected a fixed number per sequence, ``round(0.15 n)``; this per-token rule is
transformers' collator's.) Of the selected tokens,
80% are replaced by ``[MASK]``, 10% by a random token and 10% are left
unchanged, so that the model cannot learn that only ``[MASK]`` positions matter.
Special tokens (``[CLS]``, ``[SEP]``, padding) are never selected.

- :func:`mask_tokens`: the 80/10/10 masking (the same rule as transformers'
  ``DataCollatorForLanguageModeling``), returning the corrupted inputs and the
  labels (``-100`` where there is nothing to predict);
- :func:`pack_blocks`: a corpus cut into fixed-length ``[CLS] ... [SEP]`` blocks;
- :func:`small_bert_config`: a small ``BertConfig`` (random initialisation, no download);
- :func:`small_modernbert_config`: a small ``ModernBertConfig`` (rotary positions, Warner
  et al. 2024), the encoder of the chapter's small model;
- :func:`masked_lm_loss`: the MLM loss with the output layer applied only at the
  selected positions (equal to the library's loss, several times cheaper);
- :func:`train_masked_lm`: the training loop (dynamic masking), with
  :func:`held_out_perplexity` and the top predictions for probe sentences at checkpoints;
- :func:`top_predictions`: the model's best guesses for each ``[MASK]``;
- :func:`wordpiece_bert_tokenizer`: a BERT tokenizer (``[CLS]``, ``[SEP]``, segment
  ids) over a WordPiece vocabulary learned from the news;
- :func:`fixed_mask`, :func:`masked_token_scores` and :func:`unigram_log_probs`: a
  held-out evaluation on fixed masked positions, per position, against the best
  guess that ignores context (the training frequencies);
- :func:`whole_word_positions` and :func:`context_ablation`: one blank per held-out
  block, predicted from both sides, from one side only, or from neither;
- :func:`small_news_bert`: the chapter's small BERT trained on the news corpus,
  cached with its training history;
- :func:`permutation_attention_mask`: which tokens each position may see under
  one factorisation order of XLNet's permutation language model (Yang et al. 2019);
- :func:`bert_parameter_count`: the number of parameters of a ``BertModel``
  computed from its configuration.

Explained in the chapter "The BERT family: BERT, RoBERTa, XLNet, MiniLM"
(``book/bert-family.ipynb``).

Examples
--------
Masking 15% of 10,000 ordinary tokens selects about 1,500 of them; the special
tokens at both ends are never selected:

>>> import torch
>>> from companion.masked_lm import mask_tokens
>>> ids = torch.full((1, 10_002), 7)
>>> special = torch.zeros_like(ids, dtype=torch.bool)
>>> special[0, [0, -1]] = True
>>> inputs, labels = mask_tokens(ids, special, mask_token_id=4, vocab_size=100,
...                              generator=torch.Generator().manual_seed(0))
>>> selected = labels != -100
>>> 1400 < int(selected.sum()) < 1600, bool(selected[0, 0] | selected[0, -1])
(True, False)
>>> bool((inputs[~selected] == 7).all())  # unselected tokens are untouched
True
"""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .reproducibility import torch_threads

__all__ = [
    "IGNORE_INDEX",
    "mask_tokens",
    "pack_blocks",
    "small_bert_config",
    "small_modernbert_config",
    "train_masked_lm",
    "masked_lm_loss",
    "held_out_perplexity",
    "top_predictions",
    "small_news_bert",
    "wordpiece_bert_tokenizer",
    "fixed_mask",
    "unigram_log_probs",
    "masked_token_scores",
    "whole_word_positions",
    "context_ablation",
    "CONTEXTS",
    "permutation_attention_mask",
    "bert_parameter_count",
    "PROBE_SENTENCES",
]

#: The label that PyTorch's cross-entropy (and transformers) ignores.
IGNORE_INDEX = -100

#: The chapter's probe sentences: one ``[MASK]`` each, in the style of the news corpus.
PROBE_SENTENCES = [
    "president donald [MASK] said on twitter that he would sign the bill.",
    "the white [MASK] said in a statement on monday.",
    "the united [MASK] and china agreed to talks.",
    "prime [MASK] theresa may called an early election.",
    "the police said the man was [MASK] on friday night.",
]


def mask_tokens(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    mask_share: float = 0.8,
    random_share: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: select ``mlm_probability`` of the tokens; 80% ``[MASK]``, 10% random, 10% kept.

    ``mask_share`` and ``random_share`` change the 80/10/10 split (the rest is kept):
    ``mask_share=1, random_share=0`` replaces every selected token by ``[MASK]``, as a
    held-out evaluation of the blanks should, since a kept token is trivial to predict.

    Parameters
    ----------
    input_ids : LongTensor of shape ``(batch, seq)``
    special_tokens_mask : bool tensor of the same shape, ``True`` at ``[CLS]``,
        ``[SEP]``, padding: these are never selected.
    mask_token_id, vocab_size : int
        The id of ``[MASK]``; random replacements are drawn from ``range(vocab_size)``.
    mlm_probability : float in (0, 1)
    generator : torch.Generator, optional
        For repeatable masks.

    Returns
    -------
    inputs : the corrupted copy of ``input_ids`` that the model reads.
    labels : the original id at selected positions, :data:`IGNORE_INDEX` elsewhere.
    """
    if not 0 < float(mlm_probability) < 1:
        raise ValueError(f"mlm_probability must be strictly between 0 and 1, got {mlm_probability!r}")
    if not (0 <= mask_share and 0 <= random_share and mask_share + random_share <= 1):
        raise ValueError(f"mask_share and random_share must be >= 0 with a sum <= 1, got {mask_share!r} and {random_share!r}")
    input_ids = torch.as_tensor(input_ids)
    special = torch.as_tensor(special_tokens_mask, dtype=torch.bool)
    if special.shape != input_ids.shape:
        raise ValueError(f"special_tokens_mask has shape {tuple(special.shape)}, input_ids {tuple(input_ids.shape)}")
    probability = torch.full(input_ids.shape, float(mlm_probability))
    probability[special] = 0.0
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    inputs = input_ids.clone()
    # One uniform draw per token decides its fate: < 0.8 -> [MASK], 0.8-0.9 -> random, >= 0.9 -> kept.
    fate = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (fate < mask_share)
    to_random = selected & (fate >= mask_share) & (fate < mask_share + random_share)
    inputs[to_mask] = mask_token_id
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


def pack_blocks(texts: Sequence[str], tokenizer, block_size: int = 64) -> torch.Tensor:
    """Tokenize ``texts``, join them into one stream and cut it into ``[CLS] ... [SEP]`` blocks.

    Returns a LongTensor of shape ``(n_blocks, block_size)``; the tail that does not fill a
    block is dropped, so no block needs padding.
    """
    if block_size < 3:
        raise ValueError(f"block_size must be at least 3 ([CLS], one token, [SEP]), got {block_size}")
    pieces = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    stream = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int64, count=sum(map(len, pieces)))
    inner = block_size - 2
    n_blocks = len(stream) // inner
    body = torch.from_numpy(stream[: n_blocks * inner].reshape(n_blocks, inner))
    cls = torch.full((n_blocks, 1), tokenizer.cls_token_id)
    sep = torch.full((n_blocks, 1), tokenizer.sep_token_id)
    return torch.cat([cls, body, sep], dim=1)


def small_bert_config(vocab_size: int, hidden_size: int = 128, num_layers: int = 2, num_heads: int = 4,
                      max_length: int = 64, dropout: float = 0.1, pad_token_id: int = 0):
    """A small ``BertConfig``: feed-forward 4x wider than ``hidden_size``; dropout 0.1 as in BERT by default.

    ``pad_token_id`` is the row of the embedding table that stays zero (BERT's
    ``[PAD]`` is id 0; a tokenizer that puts ``[PAD]`` elsewhere must say where).
    """
    from transformers import BertConfig

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    if not 0 <= pad_token_id < vocab_size:
        raise ValueError(f"pad_token_id must be a token id in 0..{vocab_size - 1}, got {pad_token_id}")
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                      num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
                      max_position_embeddings=max_length, type_vocab_size=2, pad_token_id=pad_token_id,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def small_modernbert_config(tokenizer, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2,
                            max_length: int = 64):
    """A small ``ModernBertConfig`` (Warner et al. 2024) for ``tokenizer``: BERT's objective, a newer encoder.

    The differences from BERT that matter here: rotary position embeddings (Su et al.
    2024), which make "the token two to my left" the same question at every position,
    instead of BERT's learned absolute positions; LayerNorm before each sub-layer instead
    of after it; no segment embeddings. Every layer attends globally (no local window),
    without dropout; feed-forward 4x wider than ``hidden_size``.
    """
    from transformers import ModernBertConfig

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    return ModernBertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
                            num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
                            max_position_embeddings=max_length, local_attention=max_length, global_attn_every_n_layers=1,
                            pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id,
                            cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                            embedding_dropout=0.0, mlp_dropout=0.0, attention_dropout=0.0)


def _special_mask(blocks: torch.Tensor, tokenizer) -> torch.Tensor:
    special_ids = torch.tensor(sorted(tokenizer.all_special_ids))
    return torch.isin(blocks, special_ids)


def _encode(model, inputs: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The last layer's vectors of a ``BertForMaskedLM`` or a ``ModernBertForMaskedLM``."""
    if hasattr(model, "bert"):
        return model.bert(input_ids=inputs, attention_mask=attention_mask).last_hidden_state
    if hasattr(model, "model") and hasattr(model, "decoder"):
        return model.model(input_ids=inputs, attention_mask=attention_mask).last_hidden_state
    raise TypeError(f"expected a BertForMaskedLM or a ModernBertForMaskedLM, got {type(model).__name__}")


def _output_layer(model, hidden: torch.Tensor) -> torch.Tensor:
    """The MLM head: vectors -> logits over the vocabulary."""
    return model.cls(hidden) if hasattr(model, "bert") else model.decoder(model.head(hidden))


def masked_lm_loss(model, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the selected positions of a ``BertForMaskedLM`` (or ``ModernBertForMaskedLM``).

    Equal to ``model(input_ids=inputs, labels=labels).loss``, but the output layer (hidden
    size x vocabulary, the largest matrix product of a small BERT) is applied only at the
    selected positions (a fraction ``mlm_probability`` of them), which makes a training step faster.
    """
    hidden = _encode(model, inputs)
    selected = labels != IGNORE_INDEX
    logits = _output_layer(model, hidden[selected])
    return torch.nn.functional.cross_entropy(logits, labels[selected])


def top_predictions(model, tokenizer, sentences: Sequence[str], k: int = 3) -> list[list[str]]:
    """The ``k`` most probable tokens at the (first) ``[MASK]`` of each sentence."""
    batch = tokenizer(list(sentences), return_tensors="pt", padding=True)
    is_mask = batch["input_ids"] == tokenizer.mask_token_id
    missing = [s for s, row in zip(sentences, is_mask) if not row.any()]
    if missing:
        raise ValueError(f"no {tokenizer.mask_token} token in: {missing}")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.train(was_training)
    position = is_mask.int().argmax(dim=1)
    best = logits[torch.arange(len(sentences)), position].topk(k, dim=-1).indices
    return [tokenizer.convert_ids_to_tokens(row.tolist()) for row in best]


def held_out_perplexity(model, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 64) -> float:
    """``exp`` of the mean cross-entropy over the selected (labelled) positions of a fixed masked set."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x, y = inputs[start:start + batch_size], labels[start:start + batch_size]
            n = int((y != IGNORE_INDEX).sum())
            total += masked_lm_loss(model, x, y).item() * n
            count += n
    model.train(was_training)
    return math.exp(total / count)


def train_masked_lm(model, tokenizer, train_blocks: torch.Tensor, held_out_blocks: torch.Tensor, steps: int,
                    batch_size: int = 32, lr: float = 1e-3, warmup: int = 50, mlm_probability: float = 0.15,
                    probes: Sequence[str] = (), checkpoints: Sequence[int] = (), eval_every: int = 50,
                    seed: int = 0, eval_probability: float | None = None, mask_share: float = 0.8,
                    random_share: float = 0.1) -> dict:
    """Train ``model`` (a ``BertForMaskedLM``) with dynamic masking: a fresh mask for every batch.

    AdamW with linear warm-up for ``warmup`` steps, then linear decay to 0 at ``steps``.
    The held-out blocks are masked once (:func:`fixed_mask` with seed ``seed + 1``, at
    ``eval_probability``, by default the training rate ``mlm_probability``), so every
    evaluation scores the same positions. ``mask_share`` and ``random_share`` are the
    training masks' split (:func:`mask_tokens`); held-out targets are always ``[MASK]``.

    Returns a dict with ``train_loss`` (one value per step), ``eval_steps`` and
    ``held_out_perplexity``, and ``predictions``: ``{step: top-3 tokens per probe}`` for
    each step in ``checkpoints`` (0 = before training).
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    bad = [c for c in checkpoints if not 0 <= c <= steps]
    if bad:
        raise ValueError(f"checkpoints must lie in 0..{steps}, got {bad}")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    held_inputs, held_labels = fixed_mask(held_out_blocks, tokenizer,
                                          mlm_probability if eval_probability is None else eval_probability,
                                          seed=seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    history = {"train_loss": [], "eval_steps": [], "held_out_perplexity": [], "predictions": {}}

    def record(step):
        if step in checkpoints and probes:
            history["predictions"][step] = top_predictions(model, tokenizer, probes)
        if step % eval_every == 0 or step == steps:
            history["eval_steps"].append(step)
            history["held_out_perplexity"].append(held_out_perplexity(model, held_inputs, held_labels))

    model.train()
    record(0)
    for step in range(1, steps + 1):
        rows = torch.randint(len(train_blocks), (batch_size,), generator=generator)
        blocks = train_blocks[rows]
        inputs, labels = mask_tokens(blocks, _special_mask(blocks, tokenizer), tokenizer.mask_token_id,
                                     len(tokenizer), mlm_probability, generator=generator, mask_share=mask_share,
                                     random_share=random_share)
        loss = masked_lm_loss(model, inputs, labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history["train_loss"].append(loss.item())
        record(step)
    model.eval()
    return history


def fixed_mask(blocks: torch.Tensor, tokenizer, mlm_probability: float = 0.15, seed: int = 1):
    """Select ``mlm_probability`` of the tokens of ``blocks`` and replace every one by ``[MASK]``, seeded.

    Held-out evaluation needs this: two models, or one model at two checkpoints, scored on
    the very same blanks. Unlike training's 80/10/10, every target is a ``[MASK]``: a
    target left in place would be predicted by copying it, not from its context.
    """
    return mask_tokens(blocks, _special_mask(blocks, tokenizer), tokenizer.mask_token_id, len(tokenizer),
                       mlm_probability, generator=torch.Generator().manual_seed(seed), mask_share=1.0, random_share=0.0)


def unigram_log_probs(blocks: torch.Tensor, tokenizer) -> torch.Tensor:
    """Log-probabilities of the best guess that ignores context: each token's frequency in ``blocks``.

    Counts the ordinary tokens of ``blocks`` (special tokens left out), adds one to every
    ordinary token of the vocabulary (so a token never seen in training is not impossible)
    and normalises. Special tokens, which are never a target, get probability 0 (``-inf``).
    Returns a float64 tensor with one entry per token id.
    """
    special = _special_mask(blocks, tokenizer)
    counts = torch.bincount(blocks[~special].flatten(), minlength=len(tokenizer)).double()
    ordinary = torch.ones(len(tokenizer), dtype=torch.bool)
    ordinary[sorted(tokenizer.all_special_ids)] = False
    counts = torch.where(ordinary, counts + 1, torch.zeros_like(counts))
    return torch.log(counts / counts.sum())


def masked_token_scores(model, inputs: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None,
                        batch_size: int = 64, k: int = 3) -> dict[str, np.ndarray]:
    """Per masked position of a ``BertForMaskedLM``: the cross-entropy (nats) and the ``k`` best guesses.

    Returns a dict of arrays, one entry per labelled position, in row-major order:
    ``row`` and ``position`` (where), ``target`` (the original id), ``loss`` (``-log p`` of
    the target), ``top`` (shape ``(n, k)``: the ``k`` most probable ids, best first) and
    ``correct`` (the best guess is the target). ``exp(loss.mean())`` is the perplexity of
    :func:`held_out_perplexity`. ``attention_mask`` (1 = visible) hides tokens from every
    position, as padding is hidden.
    """
    if inputs.shape != labels.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and labels {tuple(labels.shape)} must have the same shape")
    if attention_mask is not None and attention_mask.shape != inputs.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, inputs {tuple(inputs.shape)}")
    was_training = model.training
    model.eval()
    parts = {"row": [], "position": [], "target": [], "loss": [], "top": []}
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x, y = inputs[start:start + batch_size], labels[start:start + batch_size]
            mask = None if attention_mask is None else attention_mask[start:start + batch_size]
            hidden = _encode(model, x, mask)
            selected = y != IGNORE_INDEX
            logits = _output_layer(model, hidden[selected]).double()
            rows, positions = selected.nonzero(as_tuple=True)
            parts["row"].append(rows + start)
            parts["position"].append(positions)
            parts["target"].append(y[selected])
            parts["loss"].append(torch.nn.functional.cross_entropy(logits, y[selected], reduction="none"))
            parts["top"].append(logits.topk(k, dim=-1).indices)
    model.train(was_training)
    scores = {name: torch.cat(values).numpy() for name, values in parts.items()}
    scores["correct"] = scores["top"][:, 0] == scores["target"]
    return scores


def whole_word_positions(blocks: torch.Tensor, tokenizer, margin: int = 8, seed: int = 0) -> np.ndarray:
    """One position per block, drawn at random (seeded) among its whole words of letters.

    A position qualifies if its token is a word of letters that WordPiece did not cut (it
    does not start with ``##`` and the next token does not either) and at least ``margin``
    tokens lie on each side of it. Returns one position per block; a block with none raises.
    """
    tokens = np.array(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))), dtype=object)
    alphabetic = torch.tensor([t.isalpha() for t in tokens])
    continuing = torch.tensor([t.startswith("##") for t in tokens])
    ok = alphabetic[blocks] & ~torch.roll(continuing[blocks], -1, dims=1)
    ok[:, :margin + 1] = False  # [CLS] and the margin on the left
    ok[:, blocks.shape[1] - margin - 1:] = False  # the margin and [SEP] on the right
    if not ok.any(dim=1).all():
        raise ValueError(f"blocks {ok.any(dim=1).logical_not().nonzero().flatten().tolist()[:5]} have no whole word "
                         f"with {margin} tokens on each side")
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(row.nonzero().flatten().numpy()) for row in ok])


#: The four views of :func:`context_ablation`: which side of the blank the model may read.
CONTEXTS = ("both sides", "left only", "right only", "neither")


def context_ablation(model, tokenizer, blocks: torch.Tensor, positions: Sequence[int], k: int = 3,
                     batch_size: int = 64):
    """Predict one blanked token per block from both sides, one side, or neither, by hiding the rest.

    In each block the token at ``positions[i]`` is replaced by ``[MASK]``, and the model
    reads the block four times (:data:`CONTEXTS`): everything; only ``[CLS]``, the tokens to
    the left of the blank, the blank and ``[SEP]`` (the right side is hidden with the
    attention mask, as padding is); only the tokens to the right (and ``[CLS]``); neither
    side (``[CLS]``, the blank, ``[SEP]``). Returns a long DataFrame with one row per block
    and view: ``item``, ``context``, ``target`` (id), ``loss`` (nats), ``correct`` and
    ``top`` (the ``k`` best ids, best first).
    """
    import pandas as pd

    positions = torch.as_tensor(np.asarray(positions), dtype=torch.long)
    n, length = blocks.shape
    if positions.shape != (n,) or not ((positions > 0) & (positions < length - 1)).all():
        raise ValueError(f"positions must give one position in 1..{length - 2} for each of the {n} blocks")
    rows = torch.arange(n)
    inputs, labels = blocks.clone(), torch.full_like(blocks, IGNORE_INDEX)
    labels[rows, positions] = blocks[rows, positions]
    inputs[rows, positions] = tokenizer.mask_token_id
    index = torch.arange(length)[None, :]
    left = index < positions[:, None]
    right = index > positions[:, None]
    frame = (index == 0) | (index == length - 1) | (index == positions[:, None])  # [CLS], [SEP], the blank
    views = {"both sides": torch.ones_like(blocks), "left only": (frame | left).long(),
             "right only": (frame | right).long(), "neither": frame.long()}
    parts = []
    for context in CONTEXTS:
        scores = masked_token_scores(model, inputs, labels, views[context], batch_size=batch_size, k=k)
        parts.append(pd.DataFrame({"item": scores["row"], "context": context, "target": scores["target"],
                                   "loss": scores["loss"], "correct": scores["correct"], "top": list(scores["top"])}))
    return pd.concat(parts, ignore_index=True)


def wordpiece_bert_tokenizer(texts: Sequence[str], vocab_size: int = 4000):
    """A BERT-style tokenizer (transformers' fast tokenizer) whose WordPiece vocabulary is learned from ``texts``.

    The pieces come from :func:`companion.subwords.train_subword_tokenizer` (lower-casing,
    the ``Whitespace`` pre-tokenizer, ``vocab_size`` WordPiece pieces including ``[UNK]``),
    the tokenizer of the chapter "Subword embeddings". BERT's four other special tokens
    ``[PAD]``, ``[CLS]``, ``[SEP]`` and ``[MASK]`` follow them (ids ``vocab_size`` to
    ``vocab_size + 3``), and inputs are framed as BERT frames them: ``[CLS] A [SEP]``, or
    ``[CLS] A [SEP] B [SEP]`` with segment ids (``token_type_ids``) 0 for A and 1 for B.

    >>> tok = wordpiece_bert_tokenizer(["the lower lowest low!"] * 3, vocab_size=40)
    >>> pair = tok("Lowest!", "low")
    >>> tok.convert_ids_to_tokens(pair["input_ids"]), pair["token_type_ids"]
    (['[CLS]', 'lowest', '!', '[SEP]', 'low', '[SEP]'], [0, 0, 0, 0, 1, 1])
    """
    from tokenizers import decoders, processors
    from transformers import PreTrainedTokenizerFast

    from .subwords import train_subword_tokenizer

    tokenizer = train_subword_tokenizer(texts, "wordpiece", vocab_size=vocab_size)
    tokenizer.add_special_tokens(["[PAD]", "[CLS]", "[SEP]", "[MASK]"])
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"],
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def small_news_bert(steps: int = 1000, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2,
                    block_size: int = 64, lr: float = 2e-3, batch_size: int = 16,
                    held_out_fraction: float = 0.05, vocab_size: int = 4000, mlm_probability: float = 0.25,
                    eval_probability: float = 0.15, held_out_scored: int = 512):
    """The chapter's small BERT, trained with MLM on the news corpus; cached after the first call.

    The tokenizer is a WordPiece of ``vocab_size`` pieces learned from the training
    articles (:func:`wordpiece_bert_tokenizer`); the model, a small ModernBERT
    (:func:`small_modernbert_config`), is initialised at random and trained with
    :func:`train_masked_lm`, replacing ``mlm_probability`` of the tokens of each batch by
    ``[MASK]`` (no random or kept tokens, which Wettig et al. 2023 found unnecessary). The last ``held_out_fraction`` of the articles (by ``article_id``) are held out;
    their first ``held_out_scored`` blocks are scored with a fixed mask at ``eval_probability``.
    Returns ``(tokenizer, model, history)`` where ``history`` is :func:`train_masked_lm`'s
    dict (checkpoint keys as ints) plus the data sizes, ``unigram_perplexity`` (the
    held-out perplexity of the training tokens' frequencies, :func:`unigram_log_probs`, on
    the same masked positions), ``train_seconds`` (CPU seconds of the training thread,
    measured when the model was trained: it varies between runs, do not print it where
    outputs are compared), ``held_out_ids`` (the scored blocks) and ``unigram_log_probs``
    (both tensors). There is no dropout: the model sees a fraction of the corpus once and
    cannot overfit it. A warm call loads the stored model
    and history, so it returns exactly what the cold call stored.
    """
    from transformers import ModernBertForMaskedLM, PreTrainedTokenizerFast

    from .cache import cached_dir
    from .datasets import news_articles

    def build(folder: Path) -> None:
        df = news_articles()
        texts = [f"{title}\n{text}" for title, text in zip(df["title"], df["text"])]
        n_held = round(held_out_fraction * len(texts))
        train_texts, held_texts = texts[:-n_held], texts[-n_held:]
        tokenizer = wordpiece_bert_tokenizer(train_texts, vocab_size)
        train_blocks = pack_blocks(train_texts, tokenizer, block_size)
        held_blocks = pack_blocks(held_texts, tokenizer, block_size)[:held_out_scored]
        torch.manual_seed(0)
        model = ModernBertForMaskedLM(small_modernbert_config(tokenizer, hidden_size, num_layers, num_heads,
                                                              max_length=block_size))
        checkpoints = [0, steps // 3, 2 * steps // 3, steps]
        start = time.thread_time()  # CPU seconds of this thread: the training loop with its evaluations
        with torch_threads(1):  # see torch_threads: small model, busy machines, same weights everywhere
            history = train_masked_lm(model, tokenizer, train_blocks, held_blocks, steps, batch_size=batch_size, lr=lr,
                                      mlm_probability=mlm_probability, eval_probability=eval_probability,
                                      mask_share=1.0, random_share=0.0,
                                      probes=PROBE_SENTENCES, checkpoints=checkpoints, eval_every=max(1, steps // 5))
        train_seconds = time.thread_time() - start
        log_p = unigram_log_probs(train_blocks, tokenizer)
        _, labels = fixed_mask(held_blocks, tokenizer, eval_probability, seed=1)  # train_masked_lm's held-out mask
        unigram = math.exp(-log_p[labels[labels != IGNORE_INDEX]].mean().item())
        history.update(unigram_perplexity=unigram, train_seconds=train_seconds, batch_size=batch_size, mlm_probability=mlm_probability,
                       eval_probability=eval_probability, train_blocks=len(train_blocks),
                       held_out_blocks=len(held_blocks), train_articles=len(train_texts),
                       held_out_articles=len(held_texts), train_tokens=int((~_special_mask(train_blocks, tokenizer)).sum()))
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "tokenizer")
        torch.save({"held_out_ids": held_blocks, "unigram_log_probs": log_p}, folder / "data.pt")
        (folder / "history.json").write_text(json.dumps(history))

    name = (f"models/small-news-modernbert-v{vocab_size}-{hidden_size}-{num_layers}-{num_heads}-{block_size}-{steps}"
            f"-{lr:g}-{batch_size}-{mlm_probability:g}-{eval_probability:g}-{held_out_fraction:g}"
            f"-{held_out_scored}")
    folder = cached_dir(name, build)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder / "tokenizer"))
    model = ModernBertForMaskedLM.from_pretrained(str(folder / "model"))
    model.eval()
    history = json.loads((folder / "history.json").read_text())
    history["predictions"] = {int(k): v for k, v in history["predictions"].items()}
    history.update(torch.load(folder / "data.pt"))
    return tokenizer, model, history


def permutation_attention_mask(order: Sequence[int]) -> np.ndarray:
    """XLNet's content mask for one factorisation order: ``mask[i, j]`` is True if position ``i`` may see ``j``.

    ``order`` lists the positions ``0..n-1`` in the order in which they are predicted. When
    predicting position ``i`` the model sees the positions that come *before* ``i`` in the
    order (the query stream; the content stream of ``i`` also sees ``i`` itself, which is
    the diagonal we leave out here). Word order itself is kept through the positional
    encodings: only the order of prediction is permuted.

    >>> permutation_attention_mask([2, 0, 1]).astype(int)
    array([[0, 0, 1],
           [1, 0, 1],
           [0, 0, 0]])
    """
    order = list(order)
    n = len(order)
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order}")
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    return rank[None, :] < rank[:, None]


def bert_parameter_count(config) -> int:
    """Parameters of a ``BertModel`` (with pooler, without an MLM head), from its configuration.

    Embeddings: ``(V + P + T) d + 2d`` (word, position, token-type tables and a LayerNorm);
    each layer: ``4 (d^2 + d)`` for Q, K, V, O, ``2 d f + f + d`` for the feed-forward,
    ``4 d`` for two LayerNorms; the pooler: ``d^2 + d``.

    >>> from transformers import BertConfig
    >>> bert_parameter_count(BertConfig())  # BERT-base
    109482240
    """
    d, f = config.hidden_size, config.intermediate_size
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * d + 2 * d
    layer = 4 * (d * d + d) + 2 * d * f + f + d + 4 * d
    pooler = d * d + d
    return embeddings + config.num_hidden_layers * layer + pooler
