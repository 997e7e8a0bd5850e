"""ELMo: a bidirectional LSTM language model and the mixed layer vectors it gives each token.

ELMo (Peters et al. 2018) trains two language models on raw text: a *forward*
LSTM that predicts each token from the tokens on its left, and a *backward*
LSTM that predicts it from the tokens on its right. The two share the token
embedding (the input) and the softmax (the output), and keep separate LSTMs.
After training, each token of a sentence gets ``L + 1`` vectors:

- layer 0: the token embedding, the same vector in every context (a static
  word vector), written twice, ``[x; x]``, so that every layer has width ``2d``;
- layer ``j = 1..L``: the forward LSTM's state at that token concatenated with
  the backward LSTM's state there, ``[h_fwd_j; h_bwd_j]``.

A downstream task uses a learned **scalar mix** of the layers,
``gamma * sum_j softmax(s)_j h_j`` (:class:`ScalarMix`).

This module implements

- :func:`lstm_cell_step` and :class:`ScratchLSTM`: one LSTM layer written out
  gate by gate, with ``torch.nn.LSTM``'s parameter layout (gates i, f, g, o),
  for teaching; the tests check it against ``torch.nn.LSTM``. Training uses
  ``torch.nn.LSTM``, which computes the same thing faster;
- :class:`BiLM`: the biLM (word embedding, ``L`` forward and ``L`` backward
  LSTM layers with a residual connection from the second layer on, shared
  softmax), its loss :meth:`BiLM.loss` and its layers :meth:`BiLM.layers`;
- :func:`make_blocks`, :func:`train_bilm` (Adam on random blocks, held-out
  perplexity of each direction at checkpoints), :func:`unigram_perplexity`
  (the context-free baseline) and :func:`news_bilm`, the chapter's biLM trained
  on the news corpus and cached with its history;
- :class:`ScalarMix` and :func:`fit_scalar_mix_classifier` (the mix learned
  together with a logistic regression on a downstream task);
- :func:`elmo_vectors`: the vectors of the tokens of some sentences at one
  layer, all layers or a scalar mix, and :func:`pooled_layers`, their mean over
  each sentence; :func:`occurrences` finds a word's occurrences in a corpus with
  a window of context around each.

Explained in the chapter "ELMo: embeddings from a bidirectional language model"
(``book/elmo.ipynb``).

Examples
--------
With all parameters zero, every gate of an LSTM cell is sigmoid(0) = 0.5 and the
candidate is tanh(0) = 0, so the cell keeps half its memory,
``c = 0.5 * c_prev``, and outputs ``h = 0.5 * tanh(c)``:

>>> import torch
>>> from companion.elmo import ScalarMix, lstm_cell_step
>>> z = torch.zeros
>>> h, c = lstm_cell_step(z(1, 3), z(1, 2), torch.tensor([[2.0, -4.0]]), z(8, 3), z(8, 2), z(8), z(8))
>>> c.tolist(), [round(v, 4) for v in h[0].tolist()]
([[1.0, -2.0]], [0.3808, -0.482])

A fresh scalar mix weights the layers equally (softmax of zeros) with ``gamma = 1``:

>>> mix = ScalarMix(3)
>>> layers = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 0.0]]])  # (3 layers, 1 token, 2 dims)
>>> mix(layers).tolist()
[[3.0, 2.0]]
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .contextual import check_layer
from .reproducibility import torch_threads
from .text import Vocabulary, tokenize

__all__ = [
    "lstm_cell_step",
    "ScratchLSTM",
    "BiLM",
    "ScalarMix",
    "make_blocks",
    "train_bilm",
    "held_out_perplexity",
    "unigram_perplexity",
    "news_bilm",
    "elmo_vectors",
    "pooled_layers",
    "fit_scalar_mix_classifier",
    "occurrences",
    "MAX_LENGTH",
]

#: Longest sentence (in tokens) that :func:`elmo_vectors` accepts unless told to truncate.
MAX_LENGTH = 128


# --------------------------------------------------------------------------- the LSTM, from scratch


def lstm_cell_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One time step of an LSTM cell; returns the new ``(h, c)``.

    With ``z = x W_ih^T + b_ih + h W_hh^T + b_hh`` cut into four blocks ``(i, f, g, o)``
    (``torch.nn.LSTM``'s order): input gate ``i = sigmoid``, forget gate
    ``f = sigmoid``, candidate ``g = tanh``, output gate ``o = sigmoid``; then
    ``c' = f * c + i * g`` and ``h' = o * tanh(c')``. Shapes: ``x (batch, input)``,
    ``h, c (batch, hidden)``, ``weight_ih (4 hidden, input)``, ``weight_hh (4 hidden, hidden)``.
    """
    z = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = z.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new


class ScratchLSTM(nn.Module):
    """One LSTM layer, a Python loop over :func:`lstm_cell_step` (batch first).

    Same parameters, initialisation and outputs as ``torch.nn.LSTM(input_size,
    hidden_size, batch_first=True)``; :meth:`from_torch` copies the weights of one.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> "ScratchLSTM":
        """A copy of the first layer of ``lstm`` (a one-directional ``torch.nn.LSTM`` with biases)."""
        if lstm.bidirectional or not lstm.bias or lstm.proj_size:
            raise ValueError("from_torch copies a one-directional nn.LSTM with biases and no projection")
        layer = cls(lstm.input_size, lstm.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer, name).copy_(getattr(lstm, f"{name}_l0"))
        return layer

    def forward(self, x: torch.Tensor, state=None):
        """``x (batch, seq, input)`` -> ``(output (batch, seq, hidden), (h_n, c_n))`` with ``h_n, c_n (1, batch, hidden)``."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (batch, seq, {self.input_size}), got {tuple(x.shape)}")
        batch = x.shape[0]
        if state is None:
            h = x.new_zeros(batch, self.hidden_size)
            c = x.new_zeros(batch, self.hidden_size)
        else:
            h, c = state[0][0], state[1][0]
        outputs = []
        for t in range(x.shape[1]):
            h, c = lstm_cell_step(x[:, t], h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))


# --------------------------------------------------------------------------- the biLM


class BiLM(nn.Module):
    """A bidirectional LSTM language model in the style of ELMo (Peters et al. 2018), word input.

    ``embedding`` (vocabulary x ``dim``) and ``softmax`` (``dim`` -> vocabulary) are
    shared by the two directions. The softmax is a full one, or with ``cutoffs`` an
    *adaptive* softmax (Grave et al. 2017; ``torch.nn.AdaptiveLogSoftmaxWithLoss``): the
    most frequent ``cutoffs[0]`` words get their own logits, rarer words are reached
    through cluster logits and smaller projections, an exact distribution that is several
    times cheaper for a large vocabulary; ``forward_lstms`` and ``backward_lstms`` are
    ``num_layers`` one-layer ``torch.nn.LSTM`` each (hidden size ``dim``). From the
    second layer on, each LSTM layer adds its input to its output (a residual
    connection, as in ELMo). The backward LSTMs read the sentence reversed.
    """

    def __init__(self, vocab_size: int, dim: int = 128, num_layers: int = 2, cutoffs: Sequence[int] = ()):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("dim", dim), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        cutoffs = [int(c) for c in cutoffs]
        if cutoffs and (cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size - 1):
            raise ValueError(f"cutoffs must be increasing integers in 1..{vocab_size - 2}, got {cutoffs}")
        self.vocab_size, self.dim, self.num_layers, self.cutoffs = vocab_size, dim, num_layers, cutoffs
        self.embedding = nn.Embedding(vocab_size, dim)
        self.forward_lstms = nn.ModuleList(nn.LSTM(dim, dim, batch_first=True) for _ in range(num_layers))
        self.backward_lstms = nn.ModuleList(nn.LSTM(dim, dim, batch_first=True) for _ in range(num_layers))
        if cutoffs:
            self.softmax = nn.AdaptiveLogSoftmaxWithLoss(dim, vocab_size, cutoffs=cutoffs, div_value=4.0)
        else:
            self.softmax = nn.Linear(dim, vocab_size)

    def config(self) -> dict:
        return {"vocab_size": self.vocab_size, "dim": self.dim, "num_layers": self.num_layers, "cutoffs": self.cutoffs}

    def log_probs(self, states: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every token given top states ``(..., dim)``: ``(..., vocab_size)``."""
        flat = states.reshape(-1, self.dim)
        out = self.softmax.log_prob(flat) if self.cutoffs else torch.log_softmax(self.softmax(flat), dim=-1)
        return out.reshape(*states.shape[:-1], self.vocab_size)

    def _nll(self, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        flat, flat_targets = states.reshape(-1, self.dim), targets.reshape(-1)
        if self.cutoffs:
            return -self.softmax(flat, flat_targets).output.mean()
        return nn.functional.cross_entropy(self.softmax(flat), flat_targets)

    def _check_ids(self, ids: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(ids) or ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"ids must be an integer tensor of shape (batch, seq), got {ids!r:.80}")
        if ids.shape[1] == 0:
            raise ValueError("ids has no tokens (sequence length 0)")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in 0..{self.vocab_size - 1}, got values {int(ids.min())}..{int(ids.max())}")
        return ids.long()

    def directions(self, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Token embeddings ``(batch, seq, dim)`` and, per layer, the forward and backward states.

        Both lists hold ``num_layers`` tensors ``(batch, seq, dim)`` in the sentence's
        order: the backward state at position ``t`` has read tokens ``t..end``.
        """
        ids = self._check_ids(ids)
        x = self.embedding(ids)
        forward_states, backward_states = [], []
        f, b = x, torch.flip(x, dims=[1])
        for j, (lstm_f, lstm_b) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            new_f, _ = lstm_f(f)
            new_b, _ = lstm_b(b)
            if j > 0:  # residual connection
                new_f, new_b = new_f + f, new_b + b
            f, b = new_f, new_b
            forward_states.append(f)
            backward_states.append(torch.flip(b, dims=[1]))
        return x, forward_states, backward_states

    def layers(self, ids: torch.Tensor) -> torch.Tensor:
        """ELMo's layers for ``ids (batch, seq)``: a tensor ``(num_layers + 1, batch, seq, 2 dim)``.

        Layer 0 is ``[x; x]`` (the token embedding twice), layer ``j`` is ``[forward_j; backward_j]``.
        """
        x, forward_states, backward_states = self.directions(ids)
        out = [torch.cat([x, x], dim=-1)]
        out += [torch.cat([f, b], dim=-1) for f, b in zip(forward_states, backward_states)]
        return torch.stack(out)

    def loss(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy (nats per token) of the forward and of the backward LM on ``ids (batch, seq)``.

        The forward LM predicts token ``t + 1`` from its top state at ``t``; the backward
        LM predicts token ``t - 1`` from its top state at ``t``. Each has ``seq - 1``
        predictions per row.
        """
        ids = self._check_ids(ids)
        if ids.shape[1] < 2:
            raise ValueError(f"need at least 2 tokens per row to predict one from another, got {ids.shape[1]}")
        _, forward_states, backward_states = self.directions(ids)
        top_f, top_b = forward_states[-1][:, :-1], backward_states[-1][:, 1:]
        return self._nll(top_f, ids[:, 1:]), self._nll(top_b, ids[:, :-1])


class ScalarMix(nn.Module):
    """ELMo's task-specific combination of layers: ``gamma * sum_j softmax(s)_j h_j``.

    ``s`` (one scalar per layer) starts at 0, so the layers start equally weighted,
    and ``gamma`` at 1; both are learned with the downstream model.
    """

    def __init__(self, num_layers: int):
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.num_layers = num_layers
        self.scalars = nn.Parameter(torch.zeros(num_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def weights(self) -> np.ndarray:
        """The layer weights ``softmax(s)`` as a numpy array (they sum to 1)."""
        return torch.softmax(self.scalars.detach(), dim=0).numpy()

    def forward(self, layers) -> torch.Tensor:
        """Mix ``layers``, a tensor whose first axis has ``num_layers`` entries (or a list of equal-shape tensors)."""
        if not torch.is_tensor(layers):
            layers = torch.stack(list(layers))
        if layers.shape[0] != self.num_layers:
            raise ValueError(f"this ScalarMix mixes {self.num_layers} layers, got {layers.shape[0]}")
        w = torch.softmax(self.scalars, dim=0).to(layers.dtype)
        return self.gamma * torch.tensordot(w, layers, dims=([0], [0]))


# --------------------------------------------------------------------------- training


def make_blocks(docs: Sequence[Sequence[str]], vocab: Vocabulary, block_size: int) -> torch.Tensor:
    """Concatenate the tokenized ``docs`` and cut the id stream into rows of ``block_size``: ``(n_blocks, block_size)``.

    The last incomplete block is dropped. Blocks may cross document boundaries.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}")
    ids = np.fromiter((vocab[t] for doc in docs for t in doc), dtype=np.int64)
    n = len(ids) // block_size
    if n == 0:
        raise ValueError(f"the documents hold {len(ids)} tokens, fewer than one block of {block_size}")
    return torch.from_numpy(ids[: n * block_size].reshape(n, block_size).copy())


def held_out_perplexity(model: BiLM, blocks: torch.Tensor, batch_size: int = 64) -> tuple[float, float]:
    """Perplexity ``exp(mean cross-entropy)`` of the forward and of the backward LM on ``blocks``."""
    model.eval()
    totals = np.zeros(2)
    with torch.no_grad():
        for start in range(0, len(blocks), batch_size):
            batch = blocks[start:start + batch_size]
            loss_f, loss_b = model.loss(batch)
            totals += np.array([loss_f.item(), loss_b.item()]) * len(batch)
    model.train()
    return tuple(float(v) for v in np.exp(totals / len(blocks)))


def unigram_perplexity(train_blocks: torch.Tensor, held_blocks: torch.Tensor, vocab_size: int) -> float:
    """Held-out perplexity of the best context-free guess: each token's training frequency (add-one smoothed).

    Scored on the targets the LMs predict (all tokens of each block but the first;
    the backward LM's targets, all but the last, give the same value up to rounding).
    """
    counts = np.bincount(train_blocks.flatten().numpy(), minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    targets = held_blocks[:, 1:].flatten().numpy()
    return float(np.exp(-log_p[targets].mean()))


def train_bilm(model: BiLM, train_blocks: torch.Tensor, held_blocks: torch.Tensor, steps: int, batch_size: int = 32,
               lr: float = 3e-3, eval_every: int = 50, seed: int = 0, clip: float = 1.0) -> dict:
    """Train ``model`` with Adam on random batches of ``train_blocks``; return the history.

    Each step draws ``batch_size`` blocks (seeded) and minimises the mean of the forward
    and backward losses (gradient norm clipped at ``clip``). Every ``eval_every`` steps
    (and at step 0) it records the held-out perplexity of each direction. Runs on one
    thread (a model this small gains nothing from more, and the result then does not
    depend on the machine's number of cores). The history
    holds ``train_loss`` (one value per step), ``eval_steps``, ``forward_perplexity``
    and ``backward_perplexity``.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"train_loss": [], "eval_steps": [], "forward_perplexity": [], "backward_perplexity": []}

    def evaluate(step):
        ppl_f, ppl_b = held_out_perplexity(model, held_blocks)
        history["eval_steps"].append(step)
        history["forward_perplexity"].append(ppl_f)
        history["backward_perplexity"].append(ppl_b)

    with torch_threads(1):
        _train_steps(model, train_blocks, steps, batch_size, generator, optimizer, clip, eval_every, evaluate, history)
    model.eval()
    return history


def _train_steps(model, train_blocks, steps, batch_size, generator, optimizer, clip, eval_every, evaluate, history):
    evaluate(0)
    model.train()
    for step in range(1, steps + 1):
        rows = torch.randint(len(train_blocks), (batch_size,), generator=generator)
        loss_f, loss_b = model.loss(train_blocks[rows])
        loss = (loss_f + loss_b) / 2
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        history["train_loss"].append(float(loss.item()))
        if step % eval_every == 0 or step == steps:
            evaluate(step)


def news_bilm(dim: int = 128, num_layers: int = 2, vocab_size: int = 10_000, cutoffs=(1000, 3000), block_size: int = 32,
              steps: int = 300, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
              held_out_fraction: float = 0.05, held_out_blocks: int = 200, docs=None, name: str | None = None):
    """The chapter's biLM trained on the news corpus; cached (model, vocabulary, history) after the first call.

    The last ``held_out_fraction`` of the articles are held out; the vocabulary is the
    ``vocab_size`` most frequent words of the training articles plus ``<unk>``.
    Returns ``(model, vocab, history)``; ``history`` is
    :func:`train_bilm`'s plus ``unigram_perplexity``, the data sizes and
    ``train_seconds`` (CPU seconds of the training loop, not to be printed as a result:
    it varies). A warm call loads what the cold call stored. ``docs`` (tokenized
    documents) and ``name`` replace the news corpus and the cache name (for tests).
    """
    from .cache import cached_dir

    if name is None:
        name = (f"elmo/news-bilm-d{dim}-l{num_layers}-v{vocab_size}-c{'-'.join(map(str, cutoffs)) or 'full'}-b{block_size}-s{steps}-bs{batch_size}"
                f"-lr{lr:g}-seed{seed}")

    def build(folder: Path) -> None:
        import time

        from .datasets import news_tokens

        corpus = news_tokens() if docs is None else docs
        n_held = max(1, round(held_out_fraction * len(corpus)))
        train_docs, held_docs = corpus[:-n_held], corpus[-n_held:]
        vocab = Vocabulary.build(train_docs, max_size=vocab_size)
        train_blocks = make_blocks(train_docs, vocab, block_size)
        held_blocks = make_blocks(held_docs, vocab, block_size)[:held_out_blocks]
        torch.manual_seed(seed)
        model = BiLM(len(vocab), dim=dim, num_layers=num_layers, cutoffs=cutoffs)
        start = time.process_time()
        history = train_bilm(model, train_blocks, held_blocks, steps, batch_size=batch_size, lr=lr,
                             eval_every=max(1, steps // 12), seed=seed)
        history.update(train_seconds=time.process_time() - start,
                       unigram_perplexity=unigram_perplexity(train_blocks, held_blocks, len(vocab)),
                       train_articles=len(train_docs), held_out_articles=len(held_docs),
                       train_blocks=len(train_blocks), held_out_blocks=len(held_blocks),
                       block_size=block_size, batch_size=batch_size,
                       unk_share_held_out=float((held_blocks == 0).float().mean()))
        torch.save(model.state_dict(), folder / "model.pt")
        (folder / "config.json").write_text(json.dumps(model.config()))
        (folder / "vocab.json").write_text(json.dumps({"tokens": vocab.tokens,
                                                       "counts": [vocab.counts[t] for t in vocab.tokens]}))
        (folder / "history.json").write_text(json.dumps(history))

    folder = cached_dir(name, build)
    model = BiLM(**json.loads((folder / "config.json").read_text()))
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    model.eval()
    stored = json.loads((folder / "vocab.json").read_text())
    vocab = Vocabulary(dict(zip(stored["tokens"][1:], stored["counts"][1:])))
    if vocab.tokens != stored["tokens"]:  # pragma: no cover - Vocabulary's ordering is deterministic
        raise RuntimeError(f"the vocabulary stored in {folder} could not be rebuilt in the same order")
    history = json.loads((folder / "history.json").read_text())
    return model, vocab, history


# --------------------------------------------------------------------------- using the vectors


def _token_lists(sentences, max_length: int | None, truncate: bool) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of texts (or of token lists), not one string; wrap it: [text]")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences is empty: pass at least one text")
    limit = MAX_LENGTH if max_length is None else max_length
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    out = []
    for i, sentence in enumerate(sentences):
        tokens = tokenize(sentence) if isinstance(sentence, str) else list(sentence)
        if not tokens:
            raise ValueError(f"sentence {i} ({sentence!r:.60}) has no tokens: the biLM needs at least one word")
        if not all(isinstance(t, str) for t in tokens):
            raise TypeError(f"sentence {i} must be a str or a list of str tokens, got {sentence!r:.60}")
        if len(tokens) > limit:
            if not truncate:
                raise ValueError(f"sentence {i} has {len(tokens)} tokens, more than max_length={limit}; "
                                 "shorten it, raise max_length, or pass truncate=True to keep the first tokens")
            warnings.warn(f"sentence {i} truncated from {len(tokens)} to {limit} tokens", stacklevel=3)
            tokens = tokens[:limit]
        out.append(tokens)
    return out


def _all_layers(model: BiLM, vocab: Vocabulary, token_lists: list[list[str]], batch_size: int = 256) -> list[np.ndarray]:
    """Layers ``(L + 1, n_tokens, 2 dim)`` of each sentence; sentences of equal length are run together (no padding)."""
    by_length: dict[int, list[int]] = {}
    for i, tokens in enumerate(token_lists):
        by_length.setdefault(len(tokens), []).append(i)
    out: list[np.ndarray | None] = [None] * len(token_lists)
    model.eval()
    with torch.no_grad():
        for length in sorted(by_length):
            members = by_length[length]
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                ids = torch.tensor([vocab.encode(token_lists[i]) for i in chunk])
                states = model.layers(ids).numpy()
                for k, i in enumerate(chunk):
                    out[i] = states[:, k]
    return out


def elmo_vectors(model: BiLM, vocab: Vocabulary, sentences, layer="all", max_length: int | None = None,
                 truncate: bool = False) -> list[np.ndarray]:
    """The biLM's vectors of every token of each sentence.

    Parameters
    ----------
    sentences : a list of texts (tokenized with :func:`companion.text.tokenize`) or of token lists.
        Each sentence is read on its own: the LSTMs start from zero state at its first token.
    layer : ``"all"`` (arrays ``(L + 1, n_tokens, 2 dim)``), an integer ``0..L``
        (arrays ``(n_tokens, 2 dim)``), or a :class:`ScalarMix` over the ``L + 1`` layers.
    max_length : longest accepted sentence in tokens (default :data:`MAX_LENGTH`). A longer
        sentence raises ValueError, unless ``truncate=True``: then it keeps its first
        ``max_length`` tokens and a warning says so.

    Raises ValueError for an empty list, a sentence without tokens, a too-long sentence,
    or a layer that is not one of the above.

    >>> import torch
    >>> from companion.text import Vocabulary
    >>> vocab = Vocabulary.build([["the", "cat", "sat"]])
    >>> _ = torch.manual_seed(0)
    >>> model = BiLM(len(vocab), dim=4, num_layers=2)
    >>> [v.shape for v in elmo_vectors(model, vocab, ["The cat sat.", "cat"], layer=2)]
    [(3, 8), (1, 8)]
    >>> elmo_vectors(model, vocab, ["The cat"], layer=3)
    Traceback (most recent call last):
    ...
    ValueError: layer must be an integer in 0..2 (0 = embedding output, 2 = last layer), got 3
    """
    if isinstance(layer, ScalarMix):
        if layer.num_layers != model.num_layers + 1:
            raise ValueError(f"the ScalarMix mixes {layer.num_layers} layers but this biLM has "
                             f"{model.num_layers + 1} (layer 0 and {model.num_layers} LSTM layers)")
    elif not (isinstance(layer, str) and layer == "all"):
        if isinstance(layer, str):
            raise ValueError(f"layer must be 'all', an integer in 0..{model.num_layers} or a ScalarMix, got {layer!r}")
        layer = check_layer(layer, model.num_layers)
    states = _all_layers(model, vocab, _token_lists(sentences, max_length, truncate))
    if isinstance(layer, ScalarMix):
        with torch.no_grad():
            return [layer(torch.from_numpy(s)).numpy() for s in states]
    if layer == "all":
        return states
    return [s[layer] for s in states]


def pooled_layers(model: BiLM, vocab: Vocabulary, texts, max_length: int | None = None,
                  truncate: bool = True) -> np.ndarray:
    """Mean over each text's tokens of every layer: ``(n_texts, L + 1, 2 dim)``.

    Unlike :func:`elmo_vectors`, long texts are truncated by default (with a warning).
    A text without any token raises ValueError (see :func:`elmo_vectors`).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        states = elmo_vectors(model, vocab, texts, layer="all", max_length=max_length, truncate=truncate)
    if caught:
        warnings.warn(f"{len(caught)} texts were truncated to {max_length or MAX_LENGTH} tokens", stacklevel=2)
    return np.stack([s.mean(axis=1) for s in states])


def fit_scalar_mix_classifier(features, labels, epochs: int = 300, lr: float = 0.05, weight_decay: float = 1e-3,
                              seed: int = 0):
    """Learn a :class:`ScalarMix` and a logistic regression together on pooled layer features.

    ``features (n, L + 1, d)`` (e.g. :func:`pooled_layers`) are standardised per column
    with their own mean and standard deviation (pass training data only), mixed by a
    ``ScalarMix`` and fed to a linear layer; all parameters are trained with full-batch
    Adam on the cross-entropy (``weight_decay`` on the linear layer's weights only).
    Mean pooling and the mix are both linear, so mixing pooled layers equals pooling the
    mixed token vectors. Returns ``(predict, mix)``: a function from features to labels
    (0..k-1) and the trained mix (:meth:`ScalarMix.weights`, ``mix.gamma``).
    """
    x = torch.tensor(np.asarray(features, dtype=np.float32))
    y_np = np.asarray(labels)
    if x.dim() != 3:
        raise ValueError(f"features must have shape (n, layers, d), got {tuple(x.shape)}")
    if y_np.ndim != 1 or len(y_np) != len(x):
        raise ValueError(f"labels must be 1-D with one label per row of features ({len(x)}), got shape {y_np.shape}")
    classes = np.unique(y_np)
    if len(classes) < 2 or not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"labels must be the integers 0..k-1 with k >= 2, got {classes.tolist()[:10]}")
    y = torch.tensor(y_np.astype(np.int64))
    mean, std = x.mean(dim=0), x.std(dim=0).clamp(min=1e-6)
    torch.manual_seed(seed)
    mix = ScalarMix(x.shape[1])
    linear = nn.Linear(x.shape[2], len(classes))
    optimizer = torch.optim.Adam([{"params": [linear.weight], "weight_decay": weight_decay},
                                  {"params": [linear.bias, *mix.parameters()], "weight_decay": 0.0}], lr=lr)
    z = (x - mean) / std
    with torch_threads(1):
        for _ in range(epochs):
            loss = nn.functional.cross_entropy(linear(mix(z.transpose(0, 1))), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    mix.eval()

    def predict(new_features) -> np.ndarray:
        new = torch.tensor(np.asarray(new_features, dtype=np.float32))
        if new.dim() != 3 or new.shape[1:] != x.shape[1:]:
            raise ValueError(f"features must have shape (n, {x.shape[1]}, {x.shape[2]}), got {tuple(new.shape)}")
        with torch.no_grad():
            return linear(mix(((new - mean) / std).transpose(0, 1))).argmax(dim=1).numpy()

    return predict, mix


def occurrences(docs: Sequence[Sequence[str]], word: str, window: int = 12) -> pd.DataFrame:
    """Every occurrence of ``word`` in the tokenized ``docs``, with up to ``window`` tokens of context each side.

    Returns a DataFrame with columns ``doc``, ``position`` (in the document), ``tokens``
    (the context window, a list), ``index`` (where ``word`` is in ``tokens``) and
    ``text`` (the window joined by spaces), in corpus order.

    >>> occurrences([["a", "b", "c", "b"]], "b", window=1)[["doc", "position", "index", "text"]]
       doc  position  index   text
    0    0         1      1  a b c
    1    0         3      1    c b
    """
    if not isinstance(word, str) or not word:
        raise ValueError(f"word must be a non-empty string, got {word!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be a non-negative integer, got {window!r}")
    rows = []
    for d, doc in enumerate(docs):
        for p, token in enumerate(doc):
            if token == word:
                start = max(0, p - window)
                tokens = list(doc[start:p + window + 1])
                rows.append({"doc": d, "position": p, "tokens": tokens, "index": p - start, "text": " ".join(tokens)})
    if not rows:
        raise ValueError(f"word {word!r} does not occur in the documents")
    return pd.DataFrame(rows)
