"""Causal language models: a tiny GPT trained from scratch, perplexity, and looking inside an LLM.

- :func:`token_neighbours`: top-k cosine neighbours of some rows of a (possibly huge,
  bfloat16) embedding matrix, one chunk of rows at a time, so that a 262,144-row matrix
  never becomes one float32 copy;
- :func:`train_byte_bpe`: a byte-level BPE tokenizer (GPT-2's scheme: lossless, case kept,
  spaces kept) trained on raw text, with one special token ``<|endoftext|>``;
- :func:`train_tiny_gpt`: a transformers ``GPT2LMHeadModel`` from random initialisation,
  trained on blocks of text with AdamW, seeded, for a fixed number of steps;
- :func:`news_tiny_gpt`: that model trained on the news corpus, cached (with its tokenizer
  and loss history) under ``gpt/news-tiny-gpt``; :func:`news_split` gives the
  train / held-out articles and :func:`text_passages` cuts held-out text into passages;
- :func:`text_log_likelihood` and :func:`perplexity`: the log-likelihood of texts under any
  transformers causal LM, in chunks of positions (Gemma's 262,144 logits per position stay
  small); :func:`unigram_log_likelihood` is the baseline that ignores context;
- :func:`layer_cosines` and :func:`logit_lens`: how a token's hidden state moves away from its
  input embedding through the layers, and what each layer would predict if it were the last
  (nostalgebraist 2020).

Lengths. A model has at most ``n_positions`` (GPT-2) or ``max_position_embeddings``
(Gemma) positions; :func:`text_log_likelihood` raises a ``ValueError`` for a text longer
than that rather than silently truncating it (cut long texts with :func:`text_passages`).

Explained in the chapter "The GPT family: decoders and the embedding matrix of an LLM"
(``book/gpt-family.ipynb``); bits per character across tokenizers is in the chapter
"Text generation" (``book/text-generation.ipynb``).

Examples
--------
Row 1 is row 0 scaled (cosine 1); row 2 is orthogonal to row 0:

>>> import torch
>>> from companion.causal_lm import token_neighbours
>>> matrix = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> scores, ids = token_neighbours(matrix, [0], k=2, chunk=2)
>>> ids.tolist(), [round(s, 3) for s in scores[0].tolist()]
([[1, 3]], [1.0, 0.707])
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

from .cache import cached_dir
from .reproducibility import torch_threads

__all__ = [
    "token_neighbours",
    "END_OF_TEXT",
    "NEWS_GPT_ARTIFACT",
    "train_byte_bpe",
    "token_blocks",
    "train_tiny_gpt",
    "news_split",
    "cached_tiny_gpt",
    "news_tiny_gpt",
    "NEWS_GPT_STEPS",
    "NEWS_GPT_ARTICLES",
    "text_passages",
    "max_positions",
    "text_log_likelihood",
    "perplexity",
    "unigram_log_likelihood",
    "layer_cosines",
    "logit_lens",
]

END_OF_TEXT = "<|endoftext|>"
#: Cache name of the tiny GPT trained on the news corpus. Bump the version if training changes.
NEWS_GPT_ARTIFACT = "gpt/news-tiny-gpt"
#: Training steps of the news GPT (16 blocks of 64 tokens each).
NEWS_GPT_STEPS = 400
#: The news GPT's tokenizer and training blocks come from the first this many training articles.
NEWS_GPT_ARTICLES = 400


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_texts(texts, name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a sequence of strings, got a single str")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError(f"{name} must be a non-empty sequence of non-empty strings")
    return texts


# --------------------------------------------------------------------------- neighbours


def token_neighbours(matrix: torch.Tensor, query_ids: Sequence[int], k: int = 8, chunk: int = 8_192):
    """Top-``k`` cosine neighbours of the rows ``query_ids`` of ``matrix``, excluding each row itself.

    Works through ``matrix`` ``chunk`` rows at a time: each chunk is copied to
    float32 and normalised in place, and only its scores against the queries are kept,
    so the extra memory is ``len(query_ids) x n_rows`` floats plus one float32 chunk
    (20 MiB for Gemma's 640 columns).

    Returns ``(scores, ids)``, two tensors of shape ``(len(query_ids), k)``, best first
    (the values and indices of ``torch.topk``).
    """
    matrix = torch.as_tensor(matrix)
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise ValueError(f"matrix must be 2-D with at least 2 rows, got shape {tuple(matrix.shape)}")
    query_ids = [int(i) for i in query_ids]
    if not query_ids:
        raise ValueError("query_ids must name at least one row")
    bad = [i for i in query_ids if not 0 <= i < matrix.shape[0]]
    if bad:
        raise ValueError(f"query_ids {bad} are outside the matrix's rows 0..{matrix.shape[0] - 1}")
    _check_positive_int(k, "k")
    _check_positive_int(chunk, "chunk")
    if k > matrix.shape[0] - 1:
        raise ValueError(f"k must be at most n_rows - 1 = {matrix.shape[0] - 1}, got {k}")
    def normalized(rows: torch.Tensor) -> torch.Tensor:  # torch.nn.functional.normalize, in place on a float32 copy
        rows = rows.to(torch.float32, copy=True)
        return rows.div_(rows.norm(dim=1, keepdim=True).clamp_min(1e-12))

    with torch.no_grad():
        queries = normalized(matrix[query_ids])
        scores = torch.empty(len(query_ids), matrix.shape[0])
        for start in range(0, matrix.shape[0], chunk):
            scores[:, start : start + chunk] = queries @ normalized(matrix[start : start + chunk]).T
        scores[torch.arange(len(query_ids)), query_ids] = -2.0  # a row is not its own neighbour
        return scores.topk(k, dim=1)


# --------------------------------------------------------------------------- tokenizer and data


def train_byte_bpe(texts: Sequence[str], vocab_size: int = 4096):
    """A byte-level BPE tokenizer (Radford et al. 2019) trained on ``texts``, as a ``PreTrainedTokenizerFast``.

    Text is first mapped to bytes, so every string can be encoded (no unknown token)
    and decoding gives the text back exactly: case, spaces and punctuation included,
    which a generator needs. ``tokenizer(text)`` puts ``<|endoftext|>`` first, as the
    start of a document (the way Gemma's tokenizer puts ``<bos>``). The vocabulary holds ``<|endoftext|>`` (id 0, also used as
    the padding token), the 256 bytes and ``vocab_size - 257`` merges. The BPE trainer
    is deterministic: same texts, same tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = _check_texts(texts)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 258:
        raise ValueError(f"vocab_size must be an integer >= 258 (1 special token + 256 bytes + merges), got {vocab_size!r}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    # Like Gemma's <bos>: tokenizer(text) starts with <|endoftext|> (add_special_tokens=False omits it).
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{END_OF_TEXT} $A", special_tokens=[(END_OF_TEXT, tokenizer.token_to_id(END_OF_TEXT))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, pad_token=END_OF_TEXT
    )


def token_blocks(tokenizer, texts: Sequence[str], block_size: int) -> torch.Tensor:
    """Concatenate ``texts``, each preceded by ``<|endoftext|>``, and cut into rows of ``block_size`` ids.

    The last incomplete block is dropped. Returns a ``(n_blocks, block_size)`` long tensor.
    """
    texts = _check_texts(texts)
    _check_positive_int(block_size, "block_size")
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids: list[int] = []
    for ids_of_text in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.append(eos)
        ids.extend(ids_of_text)
    n_blocks = len(ids) // block_size
    if n_blocks == 0:
        raise ValueError(f"the texts hold {len(ids)} tokens, fewer than one block of {block_size}")
    return torch.tensor(ids[: n_blocks * block_size]).view(n_blocks, block_size)


# --------------------------------------------------------------------------- training


def train_tiny_gpt(
    texts: Sequence[str],
    vocab_size: int = 4096,
    n_embd: int = 128,
    n_layer: int = 2,
    n_head: int = 4,
    n_positions: int = 128,
    block_size: int = 64,
    batch_size: int = 16,
    steps: int = 100,
    lr: float = 3e-3,
    seed: int = 0,
    tokenizer=None,
):
    """Train a small GPT-2 (random initialisation) on ``texts``; return ``(model, tokenizer, history)``.

    The tokenizer is :func:`train_byte_bpe` on ``texts`` unless one is given. The texts
    become blocks of ``block_size`` ids (:func:`token_blocks`); each of ``steps`` AdamW
    steps takes ``batch_size`` blocks drawn from a generator seeded with ``seed``
    (without replacement until every block was used), with a linear warm-up over the
    first 10% of steps and a cosine decay after. Dropout is off. ``history`` holds the
    training loss of every step, the numbers of parameters and of training tokens, and
    the CPU seconds the training took (not a deterministic number: do not print it
    where outputs are compared).
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    texts = _check_texts(texts)
    for name, value in [("n_embd", n_embd), ("n_layer", n_layer), ("n_head", n_head), ("n_positions", n_positions),
                        ("block_size", block_size), ("batch_size", batch_size), ("steps", steps)]:
        _check_positive_int(value, name)
    if n_embd % n_head:
        raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
    if block_size > n_positions:
        raise ValueError(f"block_size ({block_size}) must be <= n_positions ({n_positions})")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")

    cpu_start = time.process_time()
    if tokenizer is None:
        tokenizer = train_byte_bpe(texts, vocab_size)
    blocks = token_blocks(tokenizer, texts, block_size)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=n_embd, n_layer=n_layer, n_head=n_head, n_positions=n_positions,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
        tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(blocks), generator=generator)
    cursor = 0
    losses = []
    model.train()
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(blocks), generator=generator), 0
        batch = blocks[order[cursor : cursor + batch_size]]
        cursor += batch_size
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    history = {
        "train_loss": losses,
        "n_parameters": int(model.num_parameters()),
        "n_training_tokens": int(steps * batch_size * block_size),
        "n_corpus_tokens": int(blocks.numel()),
        "block_size": block_size,
        "batch_size": batch_size,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    return model, tokenizer, history


def news_split(heldout_every: int = 20) -> tuple[list[str], list[str]]:
    """``(train_texts, heldout_texts)`` of the news corpus: title and text of each article.

    Articles whose ``article_id`` is a multiple of ``heldout_every`` are held out
    (5% with the default); the rest, in ``article_id`` order, are for training.
    """
    from .datasets import news_articles

    _check_positive_int(heldout_every, "heldout_every")
    if heldout_every < 2:
        raise ValueError(f"heldout_every must be >= 2 (1 would hold out everything), got {heldout_every}")
    df = news_articles()
    texts = (df["title"] + "\n" + df["text"]).str.strip()
    keep = texts.str.len() > 0
    heldout = (df["article_id"] % heldout_every == 0) & keep
    train = (~heldout) & keep
    return texts[train].tolist(), texts[heldout].tolist()


def cached_tiny_gpt(name: str, texts: Sequence[str], **training):
    """:func:`train_tiny_gpt` on ``texts`` with ``training`` options, cached as the folder ``name``.

    Returns ``(model, tokenizer, history)``. The first call trains and saves the model,
    the tokenizer and ``history.json`` (atomically, via :func:`companion.cache.cached_dir`);
    later calls load them, and the loaded model gives the same logits as the trained one.
    The name, not the arguments, identifies the artifact: give a new name (a new
    version) when you change ``texts`` or ``training``.
    """
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    def build(folder: Path) -> None:
        model, tokenizer, history = train_tiny_gpt(texts, **training)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "history.json").write_text(json.dumps(history) + "\n")

    folder = cached_dir(name, build)
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    history = json.loads((folder / "history.json").read_text())
    return model, tokenizer, history


def news_tiny_gpt():
    """The tiny GPT of the chapter, trained on the training articles of :func:`news_split`.

    ``(model, tokenizer, history)``. The first call trains it (byte-level BPE with
    4,096 tokens; GPT-2 with 2 layers, 4 heads, 128 dimensions, 128 positions;
    ``NEWS_GPT_STEPS`` steps of 16 blocks of 64 tokens; seed 0; on one torch thread,
    see :func:`companion.reproducibility.torch_threads`) and caches it under
    :data:`NEWS_GPT_ARTIFACT`; later calls load it. Tokenizer and blocks come from
    the first ``NEWS_GPT_ARTICLES`` training articles (about 370,000 tokens, about
    one pass of the training steps); training takes about a minute of CPU.
    """
    train_texts, _ = news_split()
    with torch_threads(1):
        return cached_tiny_gpt(NEWS_GPT_ARTIFACT, train_texts[:NEWS_GPT_ARTICLES], steps=NEWS_GPT_STEPS, seed=0)


def text_passages(texts: Sequence[str], n_chars: int = 400, max_passages: int | None = None) -> list[str]:
    """Cut ``texts`` into passages of at most ``n_chars`` characters, at spaces; in order.

    Each text's whitespace is collapsed to single spaces; a passage is the longest run
    of whole words that fits (a word longer than ``n_chars`` is cut). Passages shorter
    than half of ``n_chars`` (the tail of a text) are dropped, so all passages are
    comparable in length.
    """
    texts = _check_texts(texts)
    _check_positive_int(n_chars, "n_chars")
    if max_passages is not None:
        _check_positive_int(max_passages, "max_passages")
    passages = []
    for text in texts:
        current = ""
        for word in text.split():
            word = word[:n_chars]
            candidate = f"{current} {word}" if current else word
            if len(candidate) > n_chars:
                if len(current) >= n_chars // 2:
                    passages.append(current)
                current = word
            else:
                current = candidate
        if len(current) >= n_chars // 2:
            passages.append(current)
        if max_passages is not None and len(passages) >= max_passages:
            return passages[:max_passages]
    return passages


# --------------------------------------------------------------------------- likelihood


def max_positions(model) -> int | None:
    """The longest input a model accepts: ``n_positions`` (GPT-2) or ``max_position_embeddings``."""
    config = model.config
    for attribute in ("n_positions", "max_position_embeddings"):
        value = getattr(config, attribute, None)
        if isinstance(value, int):
            return value
    return None


def _output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from final (already normalised) hidden states: output matrix, then soft-capping if any."""
    logits = model.get_output_embeddings()(hidden).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


@torch.no_grad()
def text_log_likelihood(model, tokenizer, texts: Sequence[str], chunk: int = 16) -> dict[str, float]:
    """Total log-likelihood (nats) of ``texts`` under a causal LM, with the counts to normalise it.

    Each text is scored on its own, from a start-of-text token: ``<|endoftext|>`` for a
    GPT-2 style tokenizer, ``<bos>`` for Gemma (whatever ``tokenizer.bos_token`` is), so
    that every token of the text is predicted, the first one included. The logits are
    computed ``chunk`` positions at a time from the final hidden states, so memory stays
    small even for a 262,144-token vocabulary (16 positions of Gemma's float32 logits
    and their log-softmax are 32 MiB; 64 positions added 0.09 GB to the peak of
    "Text generation").

    Returns ``{"nll": total negative log-likelihood in nats, "tokens": predicted tokens,
    "characters": characters, "words": whitespace-separated words}``. A text longer than
    the model's positions raises ``ValueError`` (cut it with :func:`text_passages`).
    """
    texts = _check_texts(texts)
    _check_positive_int(chunk, "chunk")
    if tokenizer.bos_token_id is None:
        raise ValueError("the tokenizer has no bos_token to start a text with")
    limit = max_positions(model)
    base = model.base_model
    total = 0.0
    n_tokens = 0
    for text in texts:
        ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
        if limit is not None and len(ids) > limit:
            raise ValueError(f"a text of {len(ids)} tokens (with the start token) exceeds the model's {limit} positions: "
                             "cut it into passages with text_passages")
        input_ids = torch.tensor([ids])
        hidden = base(input_ids=input_ids).last_hidden_state[0]
        for start in range(0, len(ids) - 1, chunk):
            logits = _output_logits(model, hidden[start : min(start + chunk, len(ids) - 1)])
            targets = input_ids[0, start + 1 : start + 1 + len(logits)]
            total -= float(logits.log_softmax(dim=-1).gather(1, targets[:, None]).sum())
        n_tokens += len(ids) - 1
    return {
        "nll": total,
        "tokens": n_tokens,
        "characters": sum(len(t) for t in texts),
        "words": sum(len(t.split()) for t in texts),
    }


def perplexity(model, tokenizer, texts: Sequence[str]) -> float:
    """Per-token perplexity ``exp(total nll / tokens)`` of ``texts`` (see :func:`text_log_likelihood`)."""
    scores = text_log_likelihood(model, tokenizer, texts)
    return math.exp(scores["nll"] / scores["tokens"])


def unigram_log_likelihood(tokenizer, train_texts: Sequence[str], texts: Sequence[str]) -> dict[str, float]:
    """Like :func:`text_log_likelihood` for a unigram model of the tokenizer's tokens.

    Token probabilities are counted on ``train_texts`` (each preceded by the start
    token, so it has a probability too) with add-one smoothing over the whole
    vocabulary: the model that knows which tokens are frequent but ignores context.
    """
    train_texts, texts = _check_texts(train_texts, "train_texts"), _check_texts(texts)
    counts = Counter()
    for ids in tokenizer(train_texts, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    counts[tokenizer.bos_token_id] += len(train_texts)
    denominator = sum(counts.values()) + len(tokenizer)
    total, n_tokens = 0.0, 0
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        total -= sum(math.log((counts[i] + 1) / denominator) for i in ids)
        n_tokens += len(ids)
    return {
        "nll": total,
        "tokens": n_tokens,
        "characters": sum(len(t) for t in texts),
        "words": sum(len(t.split()) for t in texts),
    }


# --------------------------------------------------------------------------- inside the layers


def layer_cosines(hidden_states: Sequence[torch.Tensor]) -> torch.Tensor:
    """Cosine of every layer's hidden state of every token with the token's input embedding.

    ``hidden_states`` is the tuple a transformers model returns with
    ``output_hidden_states=True`` for one text (each ``(1, n_tokens, d)``; entry 0 is the
    input embedding). Returns a ``(n_layers + 1, n_tokens)`` float tensor; row 0 is all ones.
    """
    if not hidden_states:
        raise ValueError("hidden_states is empty: call the model with output_hidden_states=True")
    first = hidden_states[0]
    if first.ndim != 3 or first.shape[0] != 1:
        raise ValueError(f"expected hidden states of shape (1, n_tokens, d), got {tuple(first.shape)}")
    embedding = first[0].float()
    return torch.stack(
        [torch.nn.functional.cosine_similarity(h[0].float(), embedding, dim=-1) for h in hidden_states]
    )


def _final_norm(model):
    base = model.base_model
    for attribute in ("norm", "ln_f", "final_layernorm"):
        if hasattr(base, attribute):
            return getattr(base, attribute)
    raise ValueError(f"cannot find the final normalisation layer of {type(model).__name__}")


@torch.no_grad()
def logit_lens(model, input_ids: torch.Tensor, hidden_states: Sequence[torch.Tensor] | None = None):
    """What each layer would predict if it were the last (the *logit lens*).

    Every layer's hidden state goes through the model's final normalisation and its
    output matrix (for Gemma, the tied input embedding). The model's own last hidden
    state is already normalised (transformers applies the norm before returning it), so
    it only goes through the output matrix. Works one layer at a time in the model's
    dtype (bfloat16 for Gemma): no float32 copy of the output matrix.

    Returns ``(top_ids, target_probability)``: ``top_ids[l, i]`` is layer ``l``'s most
    probable next token after position ``i``; ``target_probability[l, i]`` is the
    probability layer ``l`` gives to the token that actually comes next (``nan`` at the
    last position). Both have shape ``(n_layers + 1, n_tokens)``.
    """
    input_ids = torch.as_tensor(input_ids)
    if input_ids.ndim != 2 or input_ids.shape[0] != 1 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must have shape (1, n_tokens) with n_tokens >= 1, got {tuple(input_ids.shape)}")
    if hidden_states is None:
        hidden_states = model(input_ids=input_ids, output_hidden_states=True).hidden_states
    norm = _final_norm(model)
    n_tokens = input_ids.shape[1]
    top_ids, target_probability = [], []
    for layer, hidden in enumerate(hidden_states):
        state = hidden[0] if layer == len(hidden_states) - 1 else norm(hidden[0])
        probabilities = _output_logits(model, state).softmax(dim=-1)
        top_ids.append(probabilities.argmax(dim=-1))
        target = torch.full((n_tokens,), float("nan"))
        target[:-1] = probabilities[torch.arange(n_tokens - 1), input_ids[0, 1:]]
        target_probability.append(target)
    return torch.stack(top_ids), torch.stack(target_probability)

