"""Machine translation with embeddings: word translation by mapping spaces, and an LLM for sentences.

Word level (Mikolov, Le & Sutskever 2013): given the vectors ``X`` of source words
and ``Z`` of their translations for a seed dictionary, learn a linear map ``W``
with ``X W ≈ Z``, then translate a new word by mapping its vector and taking the
nearest target vector by cosine.

- :func:`translation_matrix`: the least-squares ``W`` minimising ``||X W - Z||_F^2``,
  from scratch through the SVD (the minimum-norm solution when the system is
  under-determined). gensim's ``TranslationMatrix`` computes the same matrix
  after normalising the rows; the test suite checks that they agree.
- :func:`orthogonal_map`: orthogonal Procrustes (``companion.alignment.procrustes``,
  Xing et al. 2015) in either direction of dimensions: from a smaller space into
  a larger one it returns the map with orthonormal *rows*.
- :func:`bilingual_spaces`, :func:`word_translation_precision`: precision@k of a map on
  held-out pairs over a stated candidate set, with ``companion.alignment.translation_accuracy``.
- :func:`gemma_word_vectors`: rows of Gemma 3's multilingual input embedding for words
  that are one token, selected without copying the whole matrix.

Sentence level: :func:`few_shot_prompt` and :func:`translate_sentences` (batched
greedy decoding with a causal LM, left padding, stop at the newline),
:func:`cached_translations`, and :func:`chrf`, corpus chrF (Popović 2015) from
scratch, which agrees with ``sacrebleu.corpus_chrf``.

The hand-written data (``companion/data/translation/``, see its README) load
with :func:`load_dictionary`, :func:`load_sentences` and :func:`load_few_shot`.

Explained in the chapter "Machine translation" (``book/machine-translation.ipynb``).

Examples
--------
A map that swaps two coordinates is recovered exactly from three pairs, and
chrF of a perfect hypothesis is 100:

>>> import numpy as np
>>> from companion.translation import translation_matrix, chrf
>>> X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
>>> translation_matrix(X, X[:, ::-1]).round(6).tolist()
[[0.0, 1.0], [1.0, 0.0]]
>>> chrf(["le chat dort"], ["le chat dort"])
100.0
>>> round(chrf(["le chien dort"], ["le chat dort"]), 2)
36.7
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .alignment import procrustes, translation_accuracy
from .cache import cached_pickle
from .vectors import KeyedVectors, keyed_vectors

__all__ = [
    "LANGUAGES",
    "load_dictionary",
    "load_sentences",
    "load_few_shot",
    "translation_matrix",
    "orthogonal_map",
    "pair_matrices",
    "bilingual_spaces",
    "word_translation_precision",
    "nearest_targets",
    "gemma_word_vectors",
    "few_shot_prompt",
    "translate_sentences",
    "cached_translations",
    "chrf",
]

DATA_DIR = Path(__file__).parent / "data" / "translation"
#: Language codes of the sentence set and the names used in the prompts.
LANGUAGES = {"fr": "French", "es": "Spanish", "de": "German"}
_DICTIONARIES = {"en-fr": "en-fr-words.tsv"}
SPACE_MARKER = "\u2581"  # SentencePiece's "starts with a space" mark, "▁"


# --------------------------------------------------------------------------- data


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language code {language!r}; valid codes: {sorted(LANGUAGES)}")
    return LANGUAGES[language]


def _read_tsv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load_dictionary(name: str = "en-fr") -> list[tuple[str, str]]:
    """The hand-written bilingual dictionary ``name`` as ``[(english, translation)]``, file order."""
    if name not in _DICTIONARIES:
        raise ValueError(f"unknown dictionary {name!r}; available: {sorted(_DICTIONARIES)}")
    return [(row["english"], row["french"]) for row in _read_tsv(_DICTIONARIES[name])]


def load_sentences(language: str) -> list[tuple[str, str]]:
    """The chapter's test sentences as ``[(english, reference translation)]`` for ``language``."""
    column = _check_language(language).lower()
    return [(row["english"], row[column]) for row in _read_tsv("sentences.tsv")]


def load_few_shot(language: str) -> list[tuple[str, str]]:
    """The few-shot examples of the prompt, ``[(english, translation)]``, for ``language``."""
    column = _check_language(language).lower()
    return [(row["english"], row[column]) for row in _read_tsv("few-shot.tsv")]


# --------------------------------------------------------------------------- word level


def _as_matrix(name: str, A) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (one row per word), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} has no rows: the dictionary is empty")
    return A


def translation_matrix(X, Z) -> np.ndarray:
    """The least-squares translation matrix ``W`` minimising ``||X W - Z||_F^2`` (Mikolov et al. 2013).

    ``X`` is ``(n, d_source)``, ``Z`` is ``(n, d_target)``, one row per dictionary pair.
    Solved from the SVD ``X = U S V^T`` as ``W = V S^+ U^T Z`` (``S^+`` inverts the
    singular values above numpy's ``lstsq`` cut-off): when there are fewer pairs than
    source dimensions, infinitely many ``W`` fit exactly and this is the one of
    smallest norm, the answer of ``numpy.linalg.lstsq``.
    """
    X, Z = _as_matrix("X", X), _as_matrix("Z", Z)
    if X.shape[0] != Z.shape[0]:
        raise ValueError(f"X and Z need one row per pair each: {X.shape[0]} rows vs {Z.shape[0]} rows")
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    cutoff = np.finfo(np.float64).eps * max(X.shape) * (s[0] if s.size else 0.0)
    inverse = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    return Vt.T @ (inverse[:, None] * (U.T @ Z))


def orthogonal_map(X, Z) -> np.ndarray:
    """Orthogonal Procrustes ``W`` maximising ``trace(W^T X^T Z)`` with orthonormal rows or columns.

    With ``d_source >= d_target`` this is ``companion.alignment.procrustes(X, Z)``
    (orthonormal columns). From a smaller space into a larger one (e.g. GloVe's 50
    dimensions into Gemma's 640) the same SVD formula gives ``W`` with orthonormal
    *rows*: an isometric embedding of the source into a subspace of the target. It is
    the transpose of the map in the other direction, ``procrustes(Z, X).T``, since
    ``Z^T X`` is the transpose of ``X^T Z``.

    **Fewer pairs than dimensions.** When both spaces have ``d`` dimensions and
    ``M = X^T Z`` has rank ``r < d`` (for instance ``n < d`` pairs), the pairs fix
    the rotation only on ``r`` directions: ``W = U V^T`` holds for *any* choice of
    the last ``d - r`` singular vectors, and the SVD picks them by rounding, so
    two processors return different maps. This function then returns, among the
    maximisers, the one closest to the identity (largest trace, i.e. smallest
    ``||W - I||_F``): ``U_r V_r^T`` on the determined part, completed by the
    rotation ``U_0 R V_0^T`` whose ``R`` is the polar factor of ``V_0^T U_0``. A
    direction the pairs say nothing about is left where it is.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3, 5)); Z = X @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    >>> W = orthogonal_map(X, Z)
    >>> bool(np.allclose(W @ W.T, np.eye(5)) and np.allclose(X @ W, Z))
    True
    """
    X, Z = _as_matrix("X", X), _as_matrix("Z", Z)
    if X.shape[1] > Z.shape[1]:
        return procrustes(X, Z)
    if X.shape[1] < Z.shape[1]:
        return procrustes(Z, X).T
    d = X.shape[1]
    U, s, Vt = np.linalg.svd(X.T @ Z)
    rank = int(np.sum(s > np.finfo(np.float64).eps * d * (s[0] if s.size else 0.0)))
    if rank == d:
        return U @ Vt
    U_r, U_0, V_r, V_0 = U[:, :rank], U[:, rank:], Vt[:rank].T, Vt[rank:].T
    P, _, Qt = np.linalg.svd(V_0.T @ U_0)  # V_0^T U_0 = P S Q^T; trace(U_0 R V_0^T) is largest at R = Q P^T
    return U_r @ V_r.T + U_0 @ (Qt.T @ P.T) @ V_0.T


def pair_matrices(source: KeyedVectors, target: KeyedVectors, pairs: Sequence[tuple[str, str]]):
    """``(X, Z)``: the source vectors of the pairs' first words and the target vectors of their second words.

    Raises ``ValueError`` for an empty list and ``KeyError`` naming the first word
    missing from its space.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("no word pairs: the dictionary is empty")
    for side, space, index in (("source", source, 0), ("target", target, 1)):
        for pair in pairs:
            if pair[index] not in space.key_to_index:
                raise KeyError(f"{side} word {pair[index]!r} (pair {pair!r}) is not in the {side} vocabulary")
    X = np.asarray(source[[p[0] for p in pairs]], dtype=np.float64)
    Z = np.asarray(target[[p[1] for p in pairs]], dtype=np.float64)
    return X, Z


def bilingual_spaces(source: KeyedVectors, target: KeyedVectors, pairs: Sequence[tuple[str, str]]):
    """Two KeyedVectors keyed by the *source* word: its source vector, and its translation's target vector.

    Keying both by the source word lets ``companion.alignment.translation_accuracy``
    score a bilingual dictionary: a hit means the mapped vector of ``dog`` is
    nearest to the target vector stored under ``dog``, that of ``chien``.
    Both words of every pair must be unique across the pairs.
    """
    pairs = list(pairs)
    X, Z = pair_matrices(source, target, pairs)
    for index, side in ((0, "source"), (1, "target")):
        repeated = sorted(w for w, c in Counter(p[index] for p in pairs).items() if c > 1)
        if repeated:
            raise ValueError(f"{side} words must be unique across the pairs; repeated: {repeated[:5]}")
    keys = [p[0] for p in pairs]
    return keyed_vectors(keys, X.astype(np.float32)), keyed_vectors(keys, Z.astype(np.float32))


def word_translation_precision(
    source: KeyedVectors, target: KeyedVectors, test_pairs: Sequence[tuple[str, str]],
    candidate_pairs: Sequence[tuple[str, str]], W=None, k: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """Precision@k of translating ``test_pairs`` with map ``W`` (or none), among ``candidate_pairs``' targets.

    For each test pair ``(s, t)``, the source vector of ``s`` (times ``W``) is
    compared by cosine with the target vectors of every candidate pair's second
    word; a hit at ``k`` means ``t`` is among the ``k`` nearest. The test pairs
    must be among the candidate pairs, and every ``k`` at most the number of candidates.
    """
    test_pairs, candidate_pairs = list(test_pairs), list(candidate_pairs)
    if not test_pairs:
        raise ValueError("no test pairs: the dictionary is empty")
    outside = [p for p in test_pairs if p not in set(candidate_pairs)]
    if outside:
        raise ValueError(f"test pairs must be candidates too; not among the candidates: {outside[:5]}")
    for kk in k:
        if isinstance(kk, bool) or not isinstance(kk, (int, np.integer)) or kk < 1:
            raise ValueError(f"k must be positive integers, got {kk!r}")
        if kk > len(candidate_pairs):
            raise ValueError(f"k={kk} is larger than the candidate set ({len(candidate_pairs)} words)")
    src, tgt = bilingual_spaces(source, target, candidate_pairs)
    return translation_accuracy(src, tgt, [p[0] for p in test_pairs], W=W,
                                candidates=[p[0] for p in candidate_pairs], k=tuple(k))


def nearest_targets(
    source: KeyedVectors, target: KeyedVectors, words: Sequence[str],
    candidate_pairs: Sequence[tuple[str, str]], W=None, k: int = 1,
) -> list[list[str]]:
    """For each source word, its ``k`` nearest candidate translations (cosine, after ``W``), best first."""
    from .vectors import cosine_similarity_matrix

    words, candidate_pairs = list(words), list(candidate_pairs)
    if not words:
        raise ValueError("no words to translate")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(candidate_pairs):
        raise ValueError(f"k must be an integer from 1 to the number of candidates ({len(candidate_pairs)}), got {k!r}")
    missing = [w for w in words if w not in source.key_to_index]
    if missing:
        raise KeyError(f"source word {missing[0]!r} is not in the source vocabulary")
    X = np.asarray(source[words], dtype=np.float64)
    if W is not None:
        X = X @ np.asarray(W, dtype=np.float64)
    _, Z = pair_matrices(target, target, [(t, t) for _, t in candidate_pairs])
    order = np.argsort(-cosine_similarity_matrix(X, Z), axis=1, kind="stable")[:, :k]
    return [[candidate_pairs[j][1] for j in row] for row in order]


def gemma_word_vectors(tokenizer: Any, embedding, words: Sequence[str], leading_space: bool = True):
    """``(KeyedVectors, missing)``: Gemma input-embedding rows of the ``words`` that are one token.

    A word is looked up as the single token ``"▁" + word`` (``leading_space=True``,
    the form it takes inside a sentence) or ``word`` (the form at the start of a
    text or inside another word). Words that are not one token are returned in
    ``missing``, in the input order. Only the selected rows are converted to
    float32: the 262,144 x 640 matrix itself stays in bfloat16.
    """
    words = list(dict.fromkeys(words))
    if not words:
        raise ValueError("no words given")
    vocab = tokenizer.get_vocab()
    found, ids, missing = [], [], []
    for word in words:
        piece = (SPACE_MARKER + word) if leading_space else word
        if piece in vocab:
            found.append(word)
            ids.append(vocab[piece])
        else:
            missing.append(word)
    if not found:
        raise KeyError(f"none of the {len(words)} words is a single Gemma token, e.g. {words[:3]}")
    rows = embedding[ids].float().numpy() if hasattr(embedding, "float") else np.asarray(embedding)[ids]
    return keyed_vectors(found, np.asarray(rows, dtype=np.float32)), missing


# --------------------------------------------------------------------------- sentence level


def few_shot_prompt(source: str, language: str, shots: Sequence[tuple[str, str]]) -> str:
    """A few-shot translation prompt: each example as ``English: ...`` / ``<Language>: ...``, then the source.

    The model is meant to continue after ``"<Language>:"`` and stop at the newline.
    """
    name = _check_language(language)
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty sentence, got {source!r}")
    if any("\n" in text for pair in shots for text in pair) or "\n" in source:
        raise ValueError("sentences must not contain newlines: the newline ends a translation")
    examples = "".join(f"English: {en}\n{name}: {tr}\n\n" for en, tr in shots)
    return f"{examples}English: {source}\n{name}:"


def translate_sentences(
    model: Any, tokenizer: Any, sources: Sequence[str], language: str,
    shots: Sequence[tuple[str, str]], batch_size: int = 8, max_new_tokens: int = 40,
) -> list[str]:
    """Translate ``sources`` with a causal LM: few-shot prompt, greedy decoding, stop at the newline.

    Prompts are batched with left padding (so every prompt ends where generation
    starts) and generation for a sentence stops at its first newline token or after
    ``max_new_tokens``; the output is stripped of surrounding spaces.
    """
    import torch

    sources = list(sources)
    if not sources:
        raise ValueError("no sentences to translate")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    prompts = [few_shot_prompt(s, language, shots) for s in sources]
    newline_ids = [i for t, i in tokenizer.get_vocab().items() if set(t) == {"\n"}]
    stop_ids = sorted({tokenizer.eos_token_id, *newline_ids})
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outputs: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                           eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id)
            for row in generated[:, batch["input_ids"].shape[1]:].tolist():
                cut = next((i for i, t in enumerate(row) if t in stop_ids), len(row))
                outputs.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = old_side
    return outputs


def cached_translations(
    model_name: str, load_model, sources: Sequence[str], language: str,
    shots: Sequence[tuple[str, str]], batch_size: int = 8, max_new_tokens: int = 40,
) -> list[str]:
    """:func:`translate_sentences`, cached under a name that fingerprints every prompt and setting.

    ``load_model()`` returns ``(tokenizer, model)`` and is called only on a cache
    miss. Greedy decoding is deterministic, so a fresh run prints what a cached one does.
    """
    prompts = [few_shot_prompt(s, language, shots) for s in sources]
    if not prompts:
        raise ValueError("no sentences to translate")
    key = json.dumps({"model": model_name, "prompts": prompts, "batch_size": batch_size,
                      "max_new_tokens": max_new_tokens}, ensure_ascii=False)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def build() -> list[str]:
        tokenizer, model = load_model()
        return translate_sentences(model, tokenizer, sources, language, shots, batch_size, max_new_tokens)

    return cached_pickle(f"translation/{language}-{digest}.pkl", build)


def _char_ngrams(text: str, order: int) -> list[Counter]:
    text = "".join(text.split())  # chrF ignores whitespace
    return [Counter(text[i:i + n] for i in range(len(text) - n + 1)) for n in range(1, order + 1)]


def chrf(hypotheses: Sequence[str], references: Sequence[str], char_order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (Popović 2015) in [0, 100], as ``sacrebleu.corpus_chrf`` computes it.

    Character n-grams of orders 1..``char_order`` (whitespace removed); their
    matched, hypothesis and reference counts are summed over the corpus, order by
    order. Precision and recall are averaged over the orders that occur in both
    hypothesis and reference, and combined into ``F_beta`` (``beta = 2`` weighs
    recall twice as much as precision).
    """
    hypotheses, references = list(hypotheses), list(references)
    if not hypotheses:
        raise ValueError("no sentences: hypotheses and references are empty")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if isinstance(char_order, bool) or not isinstance(char_order, int) or char_order < 1:
        raise ValueError(f"char_order must be a positive integer, got {char_order!r}")
    n_hyp = np.zeros(char_order)
    n_ref = np.zeros(char_order)
    n_match = np.zeros(char_order)
    for hyp, ref in zip(hypotheses, references):
        for n, (h, r) in enumerate(zip(_char_ngrams(hyp, char_order), _char_ngrams(ref, char_order))):
            n_hyp[n] += sum(h.values()) if r else 0  # as sacrebleu: no reference n-grams, no hypothesis count
            n_ref[n] += sum(r.values())
            n_match[n] += sum(min(c, r[g]) for g, c in h.items() if g in r)
    present = (n_hyp > 0) & (n_ref > 0)
    if not present.any():
        return 0.0
    precision = float(np.mean(n_match[present] / n_hyp[present]))
    recall = float(np.mean(n_match[present] / n_ref[present]))
    if precision + recall == 0:
        return 0.0
    factor = beta ** 2
    return 100 * (1 + factor) * precision * recall / (factor * precision + recall)
