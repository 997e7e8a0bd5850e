"""Contextual token vectors: one vector per token per layer, pooling, and anisotropy.

A BERT-style encoder returns, for every token of a sentence, one vector after
the embedding layer (layer 0) and one after each Transformer layer
(``model(..., output_hidden_states=True).hidden_states``). This module reads
them out and measures them:

- :func:`hidden_states`: all layers for a batch of sentences, as one tensor
  ``(layers + 1, batch, seq, d)``, with the tokenizer's batch;
- :func:`word_vectors`: the vectors of one word of a sentence at every layer
  (the mean of its WordPiece tokens), with a clear error if the word is absent;
- :func:`mean_pooling` and :func:`cls_pooling`, and :func:`sentence_vectors`
  that applies either to a list of sentences (mean pooling + L2 norm is what
  sentence-transformers does for all-MiniLM-L6-v2);
- :func:`token_vectors`: the vectors of all real (non-special) tokens of some
  sentences, at one layer;
- :func:`average_cosine`: the mean cosine over all pairs of distinct vectors,
  the usual measure of *anisotropy* (Ethayarajh 2019), and :func:`centre`, its
  simplest fix (subtract the mean vector; optionally divide by the standard deviation);
- :func:`sense_similarity`: mean cosine within and between the senses of a word, by layer.

Explained in the chapter "The BERT family: BERT, RoBERTa, XLNet, MiniLM"
(``book/bert-family.ipynb``).

Examples
--------
The average cosine of three vectors is the mean of the three pairwise cosines:
here 1 (the first two), 0 and 0, so 1/3. Four vectors around the point (2, 2) all
point roughly the same way (pairwise cosines 7/sqrt(65), 12/13, 8/sqrt(65), 8/sqrt(65),
4/5, 7/sqrt(65); mean 0.907); centred they are +-e1 and +-e2, whose six cosines are
-1, -1 and four 0s, mean -1/3:

>>> import numpy as np
>>> from companion.contextual import average_cosine, centre
>>> x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
>>> round(average_cosine(x), 3)
0.333
>>> y = np.array([[3.0, 2.0], [1.0, 2.0], [2.0, 3.0], [2.0, 1.0]])
>>> round(average_cosine(y), 3), round(average_cosine(centre(y)), 3)
(0.907, -0.333)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

__all__ = [
    "check_layer",
    "hidden_states",
    "word_vectors",
    "mean_pooling",
    "cls_pooling",
    "sentence_vectors",
    "token_vectors",
    "average_cosine",
    "centre",
    "sense_similarity",
]


def check_layer(layer: int, num_layers: int) -> int:
    """Return ``layer`` if it is a valid index into ``num_layers + 1`` hidden states, else raise ValueError."""
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer <= num_layers:
        raise ValueError(
            f"layer must be an integer in 0..{num_layers} (0 = embedding output, {num_layers} = last layer), "
            f"got {layer!r}"
        )
    return int(layer)


def hidden_states(sentences: Sequence[str], tokenizer, model, max_length: int = 256):
    """Run ``model`` on ``sentences``; return ``(states, batch)``.

    ``states`` has shape ``(num_layers + 1, batch, seq, d)``: index 0 is the embedding
    output, index ``k`` the output of layer ``k``. ``batch`` is the tokenizer's output
    (``input_ids``, ``attention_mask``, ...), padded to the longest sentence.
    """
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of strings, not one string")
    batch = tokenizer(list(sentences), return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
    return torch.stack(output.hidden_states), batch


def word_vectors(sentence: str, word: str, tokenizer, model) -> np.ndarray:
    """Vectors of the first occurrence of ``word`` in ``sentence`` at every layer: ``(num_layers + 1, d)``.

    A word split into several WordPiece tokens gets the mean of their vectors.
    Raises ValueError naming the word and the sentence's tokens if ``word`` does not occur.
    """
    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    states, batch = hidden_states([sentence], tokenizer, model)
    ids = batch["input_ids"][0].tolist()
    n = len(pieces)
    starts = [i for i in range(len(ids) - n + 1) if n and ids[i:i + n] == pieces]
    if not starts:
        tokens = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(f"word {word!r} (tokens {tokenizer.convert_ids_to_tokens(pieces)}) not found in the "
                         f"sentence {sentence!r}, whose tokens are {tokens}")
    start = starts[0]
    return states[:, 0, start:start + n].mean(dim=1).numpy()


def mean_pooling(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors of each sentence, padding excluded: ``(..., batch, seq, d)`` to ``(..., batch, d)``."""
    mask = attention_mask.to(states.dtype).unsqueeze(-1)
    return (states * mask).sum(dim=-2) / mask.sum(dim=-2).clamp(min=1e-9)


def cls_pooling(states: torch.Tensor) -> torch.Tensor:
    """The vector of the first token, ``[CLS]``: ``(..., batch, seq, d)`` to ``(..., batch, d)``."""
    return states[..., 0, :]


def sentence_vectors(sentences: Sequence[str], tokenizer, model, pooling: str = "mean", layer: int | None = None,
                     normalize: bool = True, batch_size: int = 16, max_length: int = 256) -> np.ndarray:
    """One vector per sentence: ``pooling`` ("mean" or "cls") of layer ``layer`` (default: the last).

    With the defaults this reproduces ``SentenceTransformer.encode`` for all-MiniLM-L6-v2
    (mean pooling, then L2 normalisation, inputs truncated to 256 tokens).
    """
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    num_layers = model.config.num_hidden_layers
    layer = num_layers if layer is None else check_layer(layer, num_layers)
    parts = []
    for start in range(0, len(sentences), batch_size):
        states, batch = hidden_states(sentences[start:start + batch_size], tokenizer, model, max_length)
        chosen = states[layer]
        pooled = mean_pooling(chosen, batch["attention_mask"]) if pooling == "mean" else cls_pooling(chosen)
        parts.append(pooled)
    vectors = torch.cat(parts)
    if normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    return vectors.numpy()


def token_vectors(sentences: Sequence[str], tokenizer, model, layer: int, max_length: int = 128) -> np.ndarray:
    """Vectors of every real token (no ``[CLS]``, ``[SEP]``, padding) of ``sentences`` at ``layer``: ``(n_tokens, d)``."""
    layer = check_layer(layer, model.config.num_hidden_layers)
    states, batch = hidden_states(sentences, tokenizer, model, max_length)
    special = torch.isin(batch["input_ids"], torch.tensor(tokenizer.all_special_ids))
    real = batch["attention_mask"].bool() & ~special
    return states[layer][real].numpy()


def average_cosine(vectors) -> float:
    """Mean cosine similarity over all pairs of distinct rows of ``vectors``.

    Computed without the ``n x n`` matrix: with unit rows :math:`\\hat u_i`,
    :math:`\\sum_{i \\ne j} \\hat u_i \\cdot \\hat u_j = \\lVert \\sum_i \\hat u_i \\rVert^2 - n`.
    1 when all rows point the same way, 0 for orthogonal rows.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need a 2-d array with at least 2 rows, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise ValueError(f"rows {np.flatnonzero(norms == 0).tolist()} are zero vectors: cosine is undefined")
    unit = x / norms[:, None]
    n = len(unit)
    total = unit.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def centre(vectors, mean=None, standardise: bool = False) -> np.ndarray:
    """Subtract the mean vector (by default of ``vectors`` themselves); optionally divide each dimension by its std."""
    x = np.asarray(vectors, dtype=np.float64)
    mu = x.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    out = x - mu
    if standardise:
        std = x.std(axis=0)
        out = out / np.where(std == 0, 1.0, std)
    return out


def sense_similarity(vectors, senses: Sequence[str]) -> pd.DataFrame:
    """Mean cosine of pairs of occurrences of one word, within a sense and between senses, at each layer.

    Parameters
    ----------
    vectors : array ``(n_occurrences, n_layers, d)`` (e.g. stacked :func:`word_vectors`)
    senses : a sense label per occurrence (at least two labels)

    Returns a DataFrame indexed by layer with columns ``within``, ``between`` and
    ``gap`` (within minus between).
    """
    x = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(senses)
    if x.ndim != 3 or len(labels) != len(x):
        raise ValueError(f"vectors must be (occurrences, layers, d) with one sense per occurrence; "
                         f"got shape {x.shape} and {len(labels)} senses")
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"need at least two senses, got {sorted(set(labels.tolist()))}")
    unit = x / np.linalg.norm(x, axis=2, keepdims=True)
    cos = np.einsum("ild,jld->lij", unit, unit)  # (layers, n, n)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    within = cos[:, same & off_diagonal].mean(axis=1)
    between = cos[:, ~same].mean(axis=1)
    frame = pd.DataFrame({"within": within, "between": between, "gap": within - between})
    frame.index.name = "layer"
    return frame
