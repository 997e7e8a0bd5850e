"""Frozen embeddings, top-layer fine-tuning, LoRA and full fine-tuning of MiniLM for sentiment.

Four ways to turn the MiniLM-L6 encoder (:func:`companion.models.load_minilm_encoder`)
into a sentiment classifier for Rotten Tomatoes snippets, trained on the same
snippets and scored on the same test snippets:

- ``"frozen"``: the encoder is not touched. Each snippet becomes one vector (the
  mean of its last-layer token vectors, scaled to length 1, as
  all-MiniLM-L6-v2 does), and a logistic regression
  (:func:`companion.sentiment.make_embedding_classifier`) is fitted on them.
- ``"top"``: the top layer(s) of the encoder plus a linear head on the mean-pooled
  token vectors are trained; the lower layers are frozen. Their output does
  not change during training, so :func:`lower_layer_states` computes it once
  and training runs the top layers only.
- ``"lora"``: LoRA (Hu et al., 2021) on the query and value projections of every
  attention layer, via the ``peft`` library, plus the head. Each adapted weight
  ``W`` (out x in) becomes ``W + (alpha / r) B A`` with trainable ``A`` (r x in)
  and ``B`` (out x r, zero at the start); ``W`` stays frozen.
  :class:`LoRALinear` is the same layer written from scratch (the tests check
  it against ``peft``'s).
- ``"full"``: every weight of the encoder (word-embedding table included; not the
  unused ``[CLS]`` pooler) plus the head.

:func:`train_method` trains one of them with fixed seeds, measures training wall and
CPU seconds and the peak extra memory (resident set size sampled every few
milliseconds during training, minus the size when training starts), predicts
the test snippets, and caches everything under a versioned name, so a re-run
loads the result instead of training again. :func:`trainable_parameters` and
:func:`expected_trainable_parameters` count the trained weights, from the model
and by hand from the configuration.

Explained in the chapter "Embeddings versus fine-tuning" (``book/fine-tuning.ipynb``).

Examples
--------
>>> import torch
>>> from companion.finetuning import LoRALinear, expected_trainable_parameters
>>> _ = torch.manual_seed(0)
>>> layer = LoRALinear(torch.nn.Linear(4, 3), r=2, alpha=4)
>>> x = torch.randn(5, 4)
>>> bool(torch.allclose(layer(x), layer.base(x)))  # B starts at zero: no change yet
True
>>> layer.scaling, sum(p.numel() for p in layer.parameters() if p.requires_grad)  # 2*4 + 3*2
(2.0, 14)
>>> expected_trainable_parameters("lora", r=8)  # 6 layers x 2 matrices x 8 x (384 + 384), plus 385 for the head
74113
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import pickle
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from .profiling import PeakMemory

__all__ = [
    "METHODS",
    "MAX_LENGTH",
    "TRAIN_SIZE",
    "TEST_SIZE",
    "FineTuneConfig",
    "LoRALinear",
    "SentenceClassifier",
    "TopLayersClassifier",
    "mean_pool",
    "fixed_subset",
    "tokenize_texts",
    "lower_layer_states",
    "cached_lower_layer_states",
    "frozen_features",
    "predict_logits",
    "DEFAULT_CONFIGS",
    "LR_GRID",
    "VALIDATION_SIZE",
    "validation_subset",
    "build_model",
    "trainable_parameters",
    "expected_trainable_parameters",
    "train_classifier",
    "train_method",
    "PeakMemory",
]

#: The four methods, from least to most trained.
METHODS = ("frozen", "top", "lora", "full")
#: Longest tokenized snippet (in WordPiece tokens, [CLS] and [SEP] included); longer ones are cut.
MAX_LENGTH = 40
#: Training snippets of every method in the chapter's table.
TRAIN_SIZE = 200
#: Test snippets every method is scored on (a fixed random subset of the test split).
TEST_SIZE = 400
#: MiniLM-L6's shape, for hand counts of parameters.
MINILM_LAYERS, MINILM_HIDDEN, MINILM_INTERMEDIATE = 6, 384, 1536


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyperparameters of one training run (fixed in advance, not tuned on the test set)."""

    method: str
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    top_layers: int = 1
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("query", "value")
    max_length: int = MAX_LENGTH
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("epochs", "batch_size", "top_layers", "lora_r", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "head_lr", "lora_alpha"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if self.top_layers > MINILM_LAYERS:
            raise ValueError(f"top_layers must be at most {MINILM_LAYERS} (MiniLM's layers), got {self.top_layers!r}")


#: The chapter's settings of each method. Every trained method gets the same budget: 3 epochs
#: over the same training snippets (39 optimizer steps of 16), AdamW, head learning rate 1e-3.
#: Only the body's learning rate differs, chosen per method from a grid by accuracy on
#: :data:`VALIDATION_SIZE` validation snippets of the training split (disjoint from the training
#: and the test subsets; :func:`validation_subset`), never on the test snippets:
#: top {1e-4, 3e-4, 1e-3} -> 3e-4; LoRA {1e-3, 3e-3, 5e-3} -> 3e-3; full {3e-5, 1e-4, 3e-4} -> 1e-4.
#: LoRA's small matrices start at zero and need larger steps, the full model's pretrained weights
#: smaller ones. The frozen method's ``C`` is chosen by cross-validation on the training snippets.
DEFAULT_CONFIGS = {
    "frozen": FineTuneConfig("frozen"),
    "top": FineTuneConfig("top", lr=3e-4, epochs=3),
    "lora": FineTuneConfig("lora", lr=3e-3, epochs=3),
    "full": FineTuneConfig("full", lr=1e-4, epochs=3),
}
#: Learning rates tried for each trained method in the validation sweep behind :data:`DEFAULT_CONFIGS`.
LR_GRID = {"top": (1e-4, 3e-4, 1e-3), "lora": (1e-3, 3e-3, 5e-3), "full": (3e-5, 1e-4, 3e-4)}
#: Validation snippets of the learning-rate sweep.
VALIDATION_SIZE = 300


def validation_subset(train_frame, size: int = VALIDATION_SIZE, seed: int = 123):
    """``size`` rows of the training split outside :func:`fixed_subset` ``(train_frame, TRAIN_SIZE)``, index reset.

    The learning rates of :data:`DEFAULT_CONFIGS` were chosen on these rows (grid
    :data:`LR_GRID`), so neither the training nor the test snippets chose them.
    """
    from .sentence_vectors import _sample_rows

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(train_frame) - TRAIN_SIZE:
        raise ValueError(f"size must be an integer from 1 to {len(train_frame) - TRAIN_SIZE:,}, got {size!r}")
    used = _sample_rows(len(train_frame), TRAIN_SIZE, seed=0)  # the rows of fixed_subset(train_frame, TRAIN_SIZE)
    rest = np.setdiff1d(np.arange(len(train_frame)), used)
    rows = np.sort(np.random.default_rng(seed).choice(rest, size=size, replace=False))
    return train_frame.iloc[rows].reset_index(drop=True)


def _torch():
    import torch

    return torch


def _lora_linear_class():
    torch = _torch()
    nn = torch.nn

    class LoRALinear(nn.Module):
        """``base(x) + (alpha / r) * x A^T B^T``: a frozen linear layer plus a trainable low-rank update.

        ``A`` (r x in) starts like a linear layer's weight (Kaiming-uniform, as in
        ``peft``), ``B`` (out x r) at zero, so the layer first computes exactly
        ``base(x)``. :meth:`merged_weight` is ``W + (alpha / r) B A``: after
        training, the update can be folded into ``W`` and costs nothing at
        inference.
        """

        def __init__(self, base, r: int, alpha: float):
            super().__init__()
            if not isinstance(base, nn.Linear):
                raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
            if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r <= 0:
                raise ValueError(f"r must be a positive integer, got {r!r}")
            if not alpha > 0:
                raise ValueError(f"alpha must be positive, got {alpha!r}")
            self.base = base
            for p in self.base.parameters():
                p.requires_grad_(False)
            self.r, self.alpha, self.scaling = int(r), float(alpha), float(alpha) / int(r)
            self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

        def forward(self, x):
            return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

        def merged_weight(self):
            return self.base.weight + self.scaling * (self.lora_B @ self.lora_A)

    return LoRALinear


def __getattr__(name):  # the torch classes are built on first use, so importing this module stays cheap
    if name in _LAZY:
        if _LAZY[name] is None:
            _LAZY[name] = _BUILDERS[name]()
        return _LAZY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mean_pool(hidden, attention_mask):
    """Mean of the token vectors of each text, padding excluded: (batch, seq, dim) -> (batch, dim)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _sentence_classifier_class():
    torch = _torch()
    nn = torch.nn

    class SentenceClassifier(nn.Module):
        """Encoder -> mean of the last layer's token vectors -> one logit (fresh if > 0)."""

        def __init__(self, encoder, seed: int = 0):
            super().__init__()
            self.encoder = encoder
            torch.manual_seed(seed)
            self.head = nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.head(mean_pool(hidden, attention_mask)).squeeze(-1)

    return SentenceClassifier


def _top_layers_class():
    torch = _torch()
    nn = torch.nn

    class TopLayersClassifier(nn.Module):
        """The top ``k`` encoder layers (copied, trainable) + mean pooling + one logit.

        Its input is the output of the layers below (:func:`lower_layer_states`),
        padded, with the attention mask.
        """

        def __init__(self, encoder, k: int, seed: int = 0):
            super().__init__()
            self.config = encoder.config
            self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in encoder.encoder.layer[-k:])
            torch.manual_seed(seed)
            self.head = nn.Linear(encoder.config.hidden_size, 1)

        def pooled(self, hidden, attention_mask):
            from transformers.masking_utils import create_bidirectional_mask

            mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
            for layer in self.layers:
                hidden = layer(hidden, attention_mask=mask)
                if isinstance(hidden, tuple):  # older transformers return a tuple
                    hidden = hidden[0]
            return mean_pool(hidden, attention_mask)

        def forward(self, hidden, attention_mask):
            return self.head(self.pooled(hidden, attention_mask)).squeeze(-1)

    return TopLayersClassifier


_BUILDERS = {"LoRALinear": _lora_linear_class, "SentenceClassifier": _sentence_classifier_class,
             "TopLayersClassifier": _top_layers_class}
_LAZY = dict.fromkeys(_BUILDERS)


def _check_texts(texts, name="texts") -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{name} is empty: there is nothing to train on or predict")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name} must all be strings; item {i} is {type(text).__name__}: {text!r:.60}")
    return texts


def _check_labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must be 1-D with one label per text ({n}), got shape {y.shape}")
    if not np.isin(y, [0, 1]).all():
        raise ValueError(f"labels must be 0 (rotten) or 1 (fresh), got values {np.unique(y)[:5]}")
    return y.astype(np.int64)


def fixed_subset(frame, size: int, seed: int = 0):
    """``size`` rows of ``frame`` drawn at random with ``seed``, kept in their original order, index reset.

    The same rows as :func:`companion.sentence_vectors.minilm_training_sample` with the same
    size and seed. Nested sizes are not nested subsets; slice one subset for that.
    """
    from .sentence_vectors import minilm_training_sample

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(frame):
        raise ValueError(f"size must be an integer from 1 to the number of rows, {len(frame):,}, got {size!r}")
    return minilm_training_sample(frame, size=size, seed=seed)


def tokenize_texts(tokenizer, texts: Sequence[str], max_length: int = MAX_LENGTH) -> list[list[int]]:
    """WordPiece ids of each text ([CLS] ... [SEP]), cut at ``max_length`` tokens, unpadded."""
    texts = _check_texts(texts)
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def _pad(id_lists):
    torch = _torch()
    width = max(len(ids) for ids in id_lists)
    input_ids = torch.zeros(len(id_lists), width, dtype=torch.long)
    mask = torch.zeros(len(id_lists), width, dtype=torch.long)
    for i, ids in enumerate(id_lists):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
    return input_ids, mask


def _pad_states(states):
    torch = _torch()
    width = max(len(s) for s in states)
    hidden = torch.zeros(len(states), width, states[0].shape[1])
    mask = torch.zeros(len(states), width, dtype=torch.long)
    for i, s in enumerate(states):
        hidden[i, : len(s)] = torch.as_tensor(s)
        mask[i, : len(s)] = 1
    return hidden, mask


def _length_sorted_batches(lengths, batch_size: int):
    order = np.argsort(lengths, kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def lower_layer_states(encoder, id_lists, n_layers: int, batch_size: int = 64) -> list[np.ndarray]:
    """Output of the embeddings and the first ``n_layers`` encoder layers for each text (len_i x hidden, float32).

    Computed without gradients in batches of texts of similar length; padding
    positions are dropped, so each array has one row per token of its text.
    """
    torch = _torch()
    from transformers.masking_utils import create_bidirectional_mask

    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or not 0 <= n_layers <= len(encoder.encoder.layer):
        raise ValueError(f"n_layers must be an integer from 0 to {len(encoder.encoder.layer)}, got {n_layers!r}")
    if not id_lists:
        raise ValueError("id_lists is empty: no texts to encode")
    states = [None] * len(id_lists)
    encoder.eval()
    with torch.no_grad():
        for batch in _length_sorted_batches([len(ids) for ids in id_lists], batch_size):
            input_ids, mask = _pad([id_lists[i] for i in batch])
            hidden = encoder.embeddings(input_ids=input_ids)
            mask4 = create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=mask)
            for layer in encoder.encoder.layer[:n_layers]:
                hidden = layer(hidden, attention_mask=mask4)
                if isinstance(hidden, tuple):
                    hidden = hidden[0]
            for row, i in enumerate(batch):
                states[i] = hidden[row, : len(id_lists[i])].numpy().copy()
    return states


def cached_lower_layer_states(encoder_pair, texts: Sequence[str], n_layers: int = MINILM_LAYERS - 1,
                              max_length: int = MAX_LENGTH) -> dict:
    """:func:`lower_layer_states` of ``texts``, cached; also the wall and CPU seconds it took to compute them.

    Returns ``{"states": [...], "seconds": ..., "cpu_seconds": ...}`` (the times of the run that computed them).
    """
    texts = _check_texts(texts)
    from .cache import cached_pickle
    from .sentence_vectors import texts_fingerprint

    def compute():
        tokenizer, encoder = encoder_pair
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        states = lower_layer_states(encoder, tokenize_texts(tokenizer, texts, max_length), n_layers)
        return {"states": states, "seconds": time.perf_counter() - start_wall,
                "cpu_seconds": time.process_time() - start_cpu}

    name = f"fine-tuning/lower-states-{texts_fingerprint(texts)}-n{len(texts)}-k{n_layers}-L{max_length}.pkl"
    return cached_pickle(name, compute)


def build_model(encoder, config: FineTuneConfig):
    """The trainable model of ``config.method`` ("top", "lora" or "full"), with the right weights frozen.

    ``"top"`` returns a :class:`TopLayersClassifier` (copies of the top layers; the
    encoder itself is left untouched); ``"lora"`` and ``"full"`` a
    :class:`SentenceClassifier` around a deep copy of ``encoder`` (LoRA adapters
    injected by ``peft``), so the encoder passed in is never modified.
    """
    if not isinstance(config, FineTuneConfig):
        raise TypeError(f"config must be a FineTuneConfig, got {type(config).__name__}")
    if config.method == "frozen":
        raise ValueError("method 'frozen' trains no network: use train_method('frozen', ...) (logistic regression)")
    torch = _torch()
    if config.method == "top":
        model = __getattr__("TopLayersClassifier")(encoder, config.top_layers, seed=config.seed)
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    body = copy.deepcopy(encoder)
    if config.method == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        torch.manual_seed(config.seed)
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=list(config.lora_targets),
                          lora_dropout=0.0, bias="none")
        body = inject_adapter_in_model(lora, body)
        for name, p in body.named_parameters():
            p.requires_grad_("lora_" in name)
    else:
        for name, p in body.named_parameters():
            p.requires_grad_(not name.startswith("pooler."))  # the [CLS] pooler is unused by mean pooling
    return __getattr__("SentenceClassifier")(body, seed=config.seed)


def trainable_parameters(model) -> int:
    """Number of weights of ``model`` that training updates (``requires_grad``)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def expected_trainable_parameters(method: str, *, top_layers: int = 1, r: int = 8, n_targets: int = 2,
                                  vocab_size: int = 30522, max_positions: int = 512) -> int:
    """The trainable-parameter count of ``method`` on MiniLM-L6, from its shape alone.

    The head (one logit from 384 numbers) has 384 + 1 weights for every method; for
    ``"frozen"`` it is the logistic regression. A transformer layer has four
    384 x 384 attention projections, a 384 -> 1536 -> 384 feed-forward block (all
    with biases) and two layer norms (scale and shift). LoRA adds ``r x (in +
    out)`` per adapted 384 x 384 matrix, ``n_targets`` per layer.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r <= 0:
        raise ValueError(f"r must be a positive integer, got {r!r}")
    h, f, n = MINILM_HIDDEN, MINILM_INTERMEDIATE, MINILM_LAYERS
    head = h + 1
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * (2 * h)
    if method == "frozen":
        return head
    if method == "top":
        return top_layers * layer + head
    if method == "lora":
        return n * n_targets * r * (h + h) + head
    embeddings = (vocab_size + max_positions + 2) * h + 2 * h  # words, positions, 2 segment types, layer norm
    return embeddings + n * layer + head


def _epoch_batches(lengths, batch_size: int, rng) -> list[np.ndarray]:
    """Shuffle, group each run of 8 batches' worth of texts by length (less padding), shuffle the batches."""
    order = rng.permutation(len(lengths))
    batches = []
    chunk = 8 * batch_size
    for start in range(0, len(order), chunk):
        part = order[start: start + chunk]
        part = part[np.argsort(np.asarray(lengths)[part], kind="stable")]
        batches += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_classifier(model, inputs, labels, config: FineTuneConfig, eval_inputs=None) -> dict:
    """Train ``model`` (from :func:`build_model`) with AdamW and binary cross-entropy; predict ``eval_inputs``.

    ``inputs`` are token-id lists (methods "lora", "full") or lower-layer states
    (method "top"), one per text. Data order comes from ``config.seed``, so two
    runs give the same weights. Returns ``loss_history`` (mean training loss of
    each epoch), ``step_losses``, and, if ``eval_inputs`` is given,
    ``eval_logits``.
    """
    torch = _torch()
    if len(inputs) == 0:
        raise ValueError("inputs is empty: nothing to train on")
    y = _check_labels(labels, len(inputs))
    pad = _pad_states if config.method == "top" else _pad
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("head.") and p.requires_grad]
    groups = [{"params": head, "lr": config.head_lr}] + ([{"params": body, "lr": config.lr}] if body else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)  # dropout masks
    lengths = [len(x) for x in inputs]
    history, step_losses = [], []
    model.train()
    for _ in range(config.epochs):
        total = 0.0
        for batch in _epoch_batches(lengths, config.batch_size, rng):
            x, mask = pad([inputs[i] for i in batch])
            loss = loss_fn(model(x, mask), torch.as_tensor(y[batch], dtype=torch.float32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_losses.append(loss.item())
            total += loss.item() * len(batch)
        history.append(total / len(inputs))
    result = {"loss_history": history, "step_losses": step_losses}
    if eval_inputs is not None:
        result["eval_logits"] = predict_logits(model, eval_inputs, config)
    return result


def predict_logits(model, inputs, config: FineTuneConfig, batch_size: int = 64) -> np.ndarray:
    """Logits of ``model`` for each input (dropout off), in batches of similar length."""
    torch = _torch()
    if len(inputs) == 0:
        raise ValueError("inputs is empty: nothing to predict")
    pad = _pad_states if config.method == "top" else _pad
    logits = np.zeros(len(inputs), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for batch in _length_sorted_batches([len(x) for x in inputs], batch_size):
            x, mask = pad([inputs[i] for i in batch])
            logits[batch] = model(x, mask).numpy()
    return logits


def frozen_features(encoder, states_top_input) -> np.ndarray:
    """Sentence vectors of the frozen encoder from the input of its last layer: mean-pooled, length 1."""
    torch = _torch()
    top = __getattr__("TopLayersClassifier")(encoder, 1)
    feats = []
    top.eval()
    with torch.no_grad():
        for batch in _length_sorted_batches([len(s) for s in states_top_input], 64):
            x, mask = _pad_states([states_top_input[i] for i in batch])
            feats.append((batch, top.pooled(x, mask).numpy()))
    out = np.zeros((len(states_top_input), encoder.config.hidden_size), dtype=np.float32)
    for batch, f in feats:
        out[batch] = f
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    return digest[:12]


def train_method(method: str, train_texts, train_labels, test_texts, *, config: FineTuneConfig | None = None,
                 encoder_pair=None, lower_states=None, cache_prefix: str = "fine-tuning") -> dict:
    """Train ``method`` on the training texts, predict the test texts; cached.

    ``method`` is one of :data:`METHODS`. ``config`` defaults to the chapter's
    settings for the method. ``encoder_pair`` is ``(tokenizer, encoder)`` from
    :func:`companion.models.load_minilm_encoder` (loaded if omitted).
    ``lower_states``, for "frozen" and "top", may pass precomputed
    ``(train_states, test_states)`` from :func:`lower_layer_states` with
    ``6 - top_layers`` layers (5 for "frozen"); they are computed if omitted.

    Returns a dict: ``method``, ``config`` (as a dict), ``predictions`` (0/1 per
    test text), ``scores`` (logits, or for "frozen" the logistic regression's
    probability of *fresh*), ``loss_history``, ``trainable`` (parameter count),
    ``seconds`` and ``cpu_seconds`` (training only), ``peak_extra_mib``. The
    result (and the trained weights, ``weights.pt``) is cached under
    ``<cache_prefix>/<method>-<hash of data and config>`` (keyed by the code too, :mod:`companion.cache`); the measured times and
    memory are those of the run that trained it.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    config = config or DEFAULT_CONFIGS[method]
    if config.method != method:
        raise ValueError(f"config is for method {config.method!r}, not {method!r}")
    train_texts = _check_texts(train_texts, "train_texts")
    test_texts = _check_texts(test_texts, "test_texts")
    y = _check_labels(train_labels, len(train_texts))
    from .cache import cached_dir

    key = _fingerprint(train_texts, y.tolist(), test_texts, sorted(asdict(config).items()))
    name = f"{cache_prefix}/{method}-n{len(train_texts)}-{key}"

    def build(tmp_path):
        result, weights = _train(method, train_texts, y, test_texts, config, encoder_pair, lower_states)
        if weights is not None:
            _torch().save(weights, tmp_path / "weights.pt")
        with open(tmp_path / "result.pkl", "wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)

    folder = cached_dir(name, build)
    with open(folder / "result.pkl", "rb") as handle:
        return pickle.load(handle)


def _train(method, train_texts, y, test_texts, config, encoder_pair, lower_states):
    torch = _torch()
    if encoder_pair is None:
        from .models import load_minilm_encoder

        encoder_pair = load_minilm_encoder()
    tokenizer, encoder = encoder_pair
    n_lower = len(encoder.encoder.layer) - (1 if method == "frozen" else config.top_layers)
    if n_lower < 0:
        raise ValueError(f"top_layers must be at most the encoder's {len(encoder.encoder.layer)} layers, got {config.top_layers!r}")
    if method in ("frozen", "top"):
        if lower_states is None:
            lower_states = tuple(lower_layer_states(encoder, tokenize_texts(tokenizer, t, config.max_length), n_lower)
                                 for t in (train_texts, test_texts))
        train_inputs, test_inputs = lower_states
        if len(train_inputs) != len(train_texts) or len(test_inputs) != len(test_texts):
            raise ValueError("lower_states must hold one array per training text and one per test text")
    else:
        train_inputs = tokenize_texts(tokenizer, train_texts, config.max_length)
        test_inputs = tokenize_texts(tokenizer, test_texts, config.max_length)
    torch.manual_seed(config.seed)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    weights = None
    with PeakMemory() as memory:
        if method == "frozen":
            from .sentiment import make_embedding_classifier

            X_train, X_test = frozen_features(encoder, train_inputs), frozen_features(encoder, test_inputs)
            start_wall, start_cpu = time.perf_counter(), time.process_time()  # time the fit, not the features
            lr = make_embedding_classifier().fit(X_train, y)
            scores = lr.predict_proba(X_test)[:, 1]
            predictions = lr.predict(X_test)
            history, trainable = [], int(lr.best_estimator_["logreg"].coef_.size + lr.best_estimator_["logreg"].intercept_.size)
            extra = {"C": float(lr.best_params_["logreg__C"])}
        else:
            model = build_model(encoder, config)
            trainable = trainable_parameters(model)
            out = train_classifier(model, train_inputs, y, config)
            seconds, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
            scores = predict_logits(model, test_inputs, config)
            predictions = (scores > 0).astype(np.int64)
            history = out["loss_history"]
            extra = {"step_losses": out["step_losses"]}
            weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    if method == "frozen":
        seconds, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    result = {"method": method, "config": asdict(config), "predictions": np.asarray(predictions, dtype=np.int64),
              "scores": np.asarray(scores, dtype=np.float32), "loss_history": history, "trainable": trainable,
              "seconds": seconds, "cpu_seconds": cpu, "peak_extra_mib": memory.extra_mib, **extra}
    return result, weights
