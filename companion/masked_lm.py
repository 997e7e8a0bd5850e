"""Masked language modelling: BERT's masking, a small BERT trained from scratch, and its relatives.

BERT (Devlin et al. 2019) learns by filling in blanks. Of the tokens of a
sequence, a fraction ``mlm_probability`` (15%) is *selected*; the model must
predict the original token at each selected position. Of the selected tokens,
80% are replaced by ``[MASK]``, 10% by a random token and 10% are left
unchanged, so that the model cannot learn that only ``[MASK]`` positions matter.
Special tokens (``[CLS]``, ``[SEP]``, padding) are never selected.

- :func:`mask_tokens`: the 80/10/10 masking (the same rule as transformers'
  ``DataCollatorForLanguageModeling``), returning the corrupted inputs and the
  labels (``-100`` where there is nothing to predict);
- :func:`pack_blocks`: a corpus cut into fixed-length ``[CLS] ... [SEP]`` blocks;
- :func:`small_bert_config`: a small ``BertConfig`` (random initialisation, no download);
- :func:`masked_lm_loss`: the MLM loss with the output layer applied only at the
  selected positions (equal to the library's loss, several times cheaper);
- :func:`train_masked_lm`: the training loop (dynamic masking), with
  :func:`held_out_perplexity` and the top predictions for probe sentences at checkpoints;
- :func:`top_predictions`: the model's best guesses for each ``[MASK]``;
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

import json
import math
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
    "train_masked_lm",
    "masked_lm_loss",
    "held_out_perplexity",
    "top_predictions",
    "small_news_bert",
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: select ``mlm_probability`` of the tokens; 80% ``[MASK]``, 10% random, 10% kept.

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
    to_mask = selected & (fate < 0.8)
    to_random = selected & (fate >= 0.8) & (fate < 0.9)
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
    stream = np.fromiter((i for ids in pieces for i in ids), dtype=np.int64)
    inner = block_size - 2
    n_blocks = len(stream) // inner
    body = torch.from_numpy(stream[: n_blocks * inner].reshape(n_blocks, inner))
    cls = torch.full((n_blocks, 1), tokenizer.cls_token_id)
    sep = torch.full((n_blocks, 1), tokenizer.sep_token_id)
    return torch.cat([cls, body, sep], dim=1)


def small_bert_config(vocab_size: int, hidden_size: int = 128, num_layers: int = 2, num_heads: int = 4,
                      max_length: int = 64, dropout: float = 0.1):
    """A small ``BertConfig``: feed-forward 4x wider than ``hidden_size``; dropout 0.1 as in BERT by default."""
    from transformers import BertConfig

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                      num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
                      max_position_embeddings=max_length, type_vocab_size=2,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def _special_mask(blocks: torch.Tensor, tokenizer) -> torch.Tensor:
    special_ids = torch.tensor(sorted(tokenizer.all_special_ids))
    return torch.isin(blocks, special_ids)


def masked_lm_loss(model, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the selected positions of a ``BertForMaskedLM``.

    Equal to ``model(input_ids=inputs, labels=labels).loss``, but the output layer (hidden
    size x vocabulary, the largest matrix product of a small BERT) is applied only at the
    selected positions, about 15% of them, which makes a training step several times faster.
    """
    hidden = model.bert(input_ids=inputs).last_hidden_state
    selected = labels != IGNORE_INDEX
    logits = model.cls(hidden[selected])
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
        logits = model(**batch).logits
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
                    seed: int = 0) -> dict:
    """Train ``model`` (a ``BertForMaskedLM``) with dynamic masking: a fresh mask for every batch.

    AdamW with linear warm-up for ``warmup`` steps, then linear decay to 0 at ``steps``.
    The held-out blocks are masked once, with a fixed seed, so every evaluation scores the
    same positions.

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
    held_inputs, held_labels = mask_tokens(
        held_out_blocks, _special_mask(held_out_blocks, tokenizer), tokenizer.mask_token_id,
        len(tokenizer), mlm_probability, generator=torch.Generator().manual_seed(seed + 1))
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
                                     len(tokenizer), mlm_probability, generator=generator)
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


def _unigram_perplexity(train_blocks, held_blocks, tokenizer, mlm_probability=0.15, seed=0) -> float:
    """Held-out perplexity of predicting every masked token by its training frequency (add-one smoothed)."""
    counts = torch.bincount(train_blocks[~_special_mask(train_blocks, tokenizer)], minlength=len(tokenizer)).double() + 1
    log_p = torch.log(counts / counts.sum())
    # the same positions as train_masked_lm's held-out set (same seed)
    _, labels = mask_tokens(held_blocks, _special_mask(held_blocks, tokenizer), tokenizer.mask_token_id,
                            len(tokenizer), mlm_probability, generator=torch.Generator().manual_seed(seed + 1))
    targets = labels[labels != IGNORE_INDEX]
    return math.exp(-log_p[targets].mean().item())


def small_news_bert(steps: int = 300, hidden_size: int = 128, num_layers: int = 2,
                    block_size: int = 32, lr: float = 1e-3, dropout: float = 0.0, batch_size: int = 32,
                    held_out_fraction: float = 0.05):
    """The chapter's small BERT, trained with MLM on the news corpus; cached after the first call.

    The tokenizer is MiniLM's WordPiece (30,522 tokens, lower-cased); the model is initialised
    at random. The last ``held_out_fraction`` of the articles (by ``article_id``) are held out
    for perplexity.
    Returns ``(tokenizer, model, history)`` where ``history`` is :func:`train_masked_lm`'s
    dict (checkpoint keys as ints) plus the data sizes and ``unigram_perplexity``: the
    held-out perplexity of the best context-free guess (the training tokens' frequencies),
    scored on the same masked positions. Dropout is off by default: in a few hundred steps
    the model sees a fraction of the corpus once and cannot overfit it. A warm call loads the stored model and
    history, so it returns exactly what the cold call stored.
    """
    from transformers import AutoTokenizer, BertForMaskedLM, BertTokenizerFast

    from .assets import asset_path
    from .cache import cached_dir
    from .datasets import news_articles

    def build(folder: Path) -> None:
        df = news_articles()
        texts = [f"{title}\n{text}" for title, text in zip(df["title"], df["text"])]
        n_held = round(held_out_fraction * len(texts))
        train_texts, held_texts = texts[:-n_held], texts[-n_held:]
        tokenizer = AutoTokenizer.from_pretrained(str(asset_path("minilm-l6")), local_files_only=True)
        train_blocks = pack_blocks(train_texts, tokenizer, block_size)
        held_blocks = pack_blocks(held_texts, tokenizer, block_size)[:256]
        torch.manual_seed(0)
        model = BertForMaskedLM(small_bert_config(len(tokenizer), hidden_size, num_layers, max_length=block_size,
                                                   dropout=dropout))
        checkpoints = [0, steps // 3, 2 * steps // 3, steps]
        with torch_threads(1):  # see torch_threads: small model, busy machines, same weights everywhere
            history = train_masked_lm(model, tokenizer, train_blocks, held_blocks, steps, batch_size=batch_size, lr=lr,
                                      probes=PROBE_SENTENCES, checkpoints=checkpoints)
        history.update(unigram_perplexity=_unigram_perplexity(train_blocks, held_blocks, tokenizer),
                       batch_size=batch_size, train_blocks=len(train_blocks), held_out_blocks=len(held_blocks),
                       train_articles=len(train_texts), held_out_articles=len(held_texts))
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "tokenizer")
        (folder / "history.json").write_text(json.dumps(history))

    name = (f"models/small-news-bert-{hidden_size}-{num_layers}-{block_size}-{steps}-{lr:g}"
            f"-{dropout:g}-{batch_size}")
    folder = cached_dir(name, build)
    tokenizer = BertTokenizerFast.from_pretrained(str(folder / "tokenizer"))
    model = BertForMaskedLM.from_pretrained(str(folder / "model"))
    model.eval()
    history = json.loads((folder / "history.json").read_text())
    history["predictions"] = {int(k): v for k, v in history["predictions"].items()}
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
