"""Extractive and abstractive summarization of news articles, and ROUGE to score them.

- :func:`split_sentences` / :func:`sentence_spans`: a rule-based sentence splitter
  (a regular expression for candidate boundaries, then a list of abbreviations,
  initials, dotted acronyms such as *U.S.* and party-state labels such as *D-Mass.*
  that veto a boundary). A text with no sentence in it (empty or only
  whitespace) gives ``[]``.
- :func:`boundary_agreement`: precision and recall of one splitter's boundaries
  against another's (the chapter compares ours with spaCy's).
- :func:`pagerank`: PageRank by power iteration on a weighted graph, the engine of
  TextRank (Mihalcea & Tarau 2004); the tests check it against ``networkx.pagerank``.
- :func:`centroid_scores`, :func:`textrank_scores`, :func:`extract_summary`:
  pick ``k`` sentences by closeness to the article's mean sentence embedding,
  by PageRank over the cosine-similarity graph of the sentences, by position
  (lead-k) or at random; the chosen sentences come back in document order.
- :func:`rouge_tokenize`, :func:`rouge`: ROUGE-1, ROUGE-2 and ROUGE-L (Lin 2004)
  with the tokenisation of Google's ``rouge-score`` package without stemming
  (lower-case, every run of characters outside ``[a-z0-9]`` is a separator); the
  tests check the scores against ``rouge_score.rouge_scorer``.
- :func:`novel_word_share`: the share of a summary's words that never occur in
  the article (a cheap symptom of invented content).
- :func:`bootstrap_mean_interval`: a percentile bootstrap interval for a mean score.
- :func:`summary_sample`, :func:`summary_filter_counts`, :func:`reference_summaries`: the chapter's fixed
  evaluation sample (news articles whose subtitle is a substantive summary) and
  the summaries written for the chapter (``companion/data/summaries``).
- :func:`summary_prompt`, :func:`clean_generation`: the prompt given to a language
  model ("TL;DR:") and the cut of its continuation down to a summary.

Explained in the chapter "Summarization" (``book/summarization.ipynb``).

Examples
--------
>>> from companion.summarization import split_sentences, rouge
>>> split_sentences('Sen. Warren (D-Mass.) spoke at 3.5 p.m. on Monday. "It is late," she said. Was it?')
['Sen. Warren (D-Mass.) spoke at 3.5 p.m. on Monday.', '"It is late," she said.', 'Was it?']
>>> scores = rouge("the cat sat on the mat", "the cat lay on the mat")
>>> round(scores["rouge1"].fmeasure, 3), round(scores["rouge2"].fmeasure, 3), round(scores["rougeL"].fmeasure, 3)
(0.833, 0.6, 0.833)
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from .uncertainty import bootstrap_interval

__all__ = [
    "ABBREVIATIONS",
    "METHODS",
    "split_sentences",
    "sentence_spans",
    "boundary_agreement",
    "pagerank",
    "cosine_graph",
    "centroid_scores",
    "textrank_scores",
    "extract_summary",
    "Score",
    "rouge_tokenize",
    "rouge_n",
    "rouge_l",
    "rouge",
    "novel_word_share",
    "bootstrap_mean_interval",
    "summary_sample",
    "summary_filter_counts",
    "reference_summaries",
    "summary_prompt",
    "clean_generation",
    "DATA_DIR",
]

DATA_DIR = Path(__file__).parent / "data" / "summaries"

# --------------------------------------------------------------------------- sentence splitting

#: Words that end with a period without ending a sentence (case matters: "No." is an abbreviation, "no." is not).
ABBREVIATIONS = frozenset(
    # titles and ranks
    "Mr Mrs Ms Dr Prof Sen Sens Rep Reps Gov Gen Lt Col Maj Capt Cmdr Sgt Adm Pres Rev Fr St Jr Sr Hon Amb Supt Insp"
    # companies and Latin
    " Inc Corp Co Ltd Bros Dept Univ vs etc No Nos Vol Fig approx est"
    # months
    " Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
    # US states as they appear in party labels such as D-Mass. or R-Fla.
    " Ala Ariz Ark Calif Colo Conn Del Fla Ga Ill Ind Kan Kans Ky La Md Mass Mich Minn Miss Mo Mont Neb Nev"
    " Okla Ore Pa Tenn Tex Va Vt Wash Wis Wyo".split()
)

# A candidate boundary: terminal punctuation, any closing quotes or brackets, then
# whitespace, then something that can start a sentence (an opening quote or
# bracket, a capital letter or a digit). "3.5" and the corpus's `"?` artefacts
# have no whitespace after the mark, so they are never candidates.
_CANDIDATE = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_DOTTED = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # U.S, D.C, p.m (the final period is the candidate)


def _vetoed(text: str, mark_start: int) -> bool:
    """True when the period at ``mark_start`` ends an abbreviation, an initial or a dotted acronym."""
    if text[mark_start] != "." or (mark_start + 1 < len(text) and text[mark_start + 1] == "."):
        return False  # "!", "?" and an ellipsis always end a sentence
    word = text[:mark_start].rsplit(None, 1)[-1] if text[:mark_start].strip() else ""
    word = word.lstrip("\"'(\u201c\u2018[")
    last_part = word.rsplit("-", 1)[-1]  # D-Mass -> Mass
    return (
        word in ABBREVIATIONS
        or last_part in ABBREVIATIONS
        or (len(word) == 1 and word.isupper())  # an initial: Donald J. Trump
        or bool(_DOTTED.match(word))
    )


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the sentences of ``text``, without surrounding whitespace.

    Rules: a sentence ends at ``.``, ``!`` or ``?`` (and any closing quotes or
    brackets after it) when whitespace and then a capital letter, a digit or an
    opening quote follow, unless the period ends a word of :data:`ABBREVIATIONS`
    (also after a hyphen, as in *D-Mass.*), a single capital (an initial) or a
    dotted acronym (*U.S.*, *p.m.*). So "in the U.S. The next day" stays one
    sentence: a known, documented error. A text with no non-space character
    gives ``[]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r:.60}")
    spans = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        if _vetoed(text, match.start()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    stripped = []
    for begin, end in spans:
        piece = text[begin:end]
        if piece.strip():
            begin += len(piece) - len(piece.lstrip())
            end -= len(piece) - len(piece.rstrip())
            stripped.append((begin, end))
    return stripped


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans` for the rules); ``[]`` for an empty text."""
    return [text[begin:end] for begin, end in sentence_spans(text)]


def boundary_agreement(reference_spans: Sequence[tuple[int, int]],
                       predicted_spans: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Compare two segmentations of the same text by their inner boundaries.

    A boundary is the end offset of every sentence but the last. Returns the
    counts (``reference``, ``predicted``, ``shared``) and ``precision`` (shared /
    predicted) and ``recall`` (shared / reference), 1.0 when the denominator is 0.
    """
    ref = {end for _, end in list(reference_spans)[:-1]}
    pred = {end for _, end in list(predicted_spans)[:-1]}
    shared = len(ref & pred)
    return {
        "reference": len(ref),
        "predicted": len(pred),
        "shared": shared,
        "precision": shared / len(pred) if pred else 1.0,
        "recall": shared / len(ref) if ref else 1.0,
    }


# --------------------------------------------------------------------------- extractive summaries

#: The extractive methods of :func:`extract_summary`.
METHODS = ("lead", "random", "centroid", "textrank")


def _check_embeddings(embeddings) -> np.ndarray:
    X = np.asarray(embeddings, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-d array (sentences x dimensions), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or infinite values")
    return X


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def cosine_graph(embeddings) -> np.ndarray:
    """TextRank's weighted graph: cosine similarities between sentences, negatives set to 0, zero diagonal."""
    X = _unit_rows(_check_embeddings(embeddings))
    weights = np.clip(X @ X.T, 0.0, None)
    np.fill_diagonal(weights, 0.0)
    return weights


def pagerank(weights, damping: float = 0.85, tol: float = 1e-10, max_iter: int = 1000) -> np.ndarray:
    """PageRank of a weighted directed graph by power iteration; the scores sum to 1.

    ``weights[i, j] >= 0`` is the weight of the edge from node ``i`` to node ``j``.
    A random surfer at ``i`` follows an edge with probability proportional to its
    weight, or, with probability ``1 - damping``, jumps to a node chosen uniformly;
    from a node without out-edges (a *dangling* node) it always jumps uniformly.
    Iterates ``p <- (1 - damping) / n + damping * (P^T p + dangling mass / n)``
    until the L1 change is below ``n * tol`` (the rule and defaults of
    ``networkx.pagerank``, which gives the same scores).
    """
    W = np.asarray(weights, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"weights must be a non-empty square matrix, got shape {W.shape}")
    if not np.isfinite(W).all() or (W < 0).any():
        raise ValueError("weights must be finite and non-negative")
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    n = W.shape[0]
    out_weight = W.sum(axis=1)
    dangling = out_weight == 0
    P = W / np.where(dangling, 1.0, out_weight)[:, None]  # row-stochastic, except dangling rows of zeros
    p = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        new = (1 - damping) / n + damping * (P.T @ p + p[dangling].sum() / n)
        if np.abs(new - p).sum() < n * tol:
            return new
        p = new
    raise RuntimeError(f"pagerank did not converge in {max_iter} iterations (tol={tol})")


def centroid_scores(embeddings) -> np.ndarray:
    """Cosine similarity of each sentence embedding to the mean of the article's (unit-length) sentence embeddings."""
    X = _unit_rows(_check_embeddings(embeddings))
    centroid = X.mean(axis=0)
    norm = np.linalg.norm(centroid)
    return X @ (centroid / norm) if norm > 0 else np.zeros(len(X))


def textrank_scores(embeddings, damping: float = 0.85) -> np.ndarray:
    """TextRank with sentence embeddings: PageRank over :func:`cosine_graph` of the sentences."""
    return pagerank(cosine_graph(embeddings), damping=damping)


def extract_summary(sentences: Sequence[str], k: int, method: str = "lead", embeddings=None,
                    seed: int = 0) -> list[int]:
    """Indices of the ``k`` sentences an extractive method picks, in document order.

    ``method`` is one of :data:`METHODS`: ``"lead"`` (the first ``k``),
    ``"random"`` (``k`` drawn without replacement with ``numpy.random.default_rng(seed)``),
    ``"centroid"`` (highest :func:`centroid_scores`) or ``"textrank"`` (highest
    :func:`textrank_scores`); the last two need ``embeddings``, one row per
    sentence. Ties go to the earlier sentence. If ``k`` is at least the number
    of sentences, every sentence is returned.
    """
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"sentences must be a list of strings (see split_sentences), got {type(sentences).__name__}")
    n = len(sentences)
    if n == 0:
        raise ValueError("sentences is empty: an article with no sentence has no summary")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if k >= n:
        return list(range(n))
    if method == "lead":
        return list(range(k))
    if method == "random":
        return sorted(int(i) for i in np.random.default_rng(seed).choice(n, size=k, replace=False))
    if embeddings is None:
        raise ValueError(f"method {method!r} needs embeddings, one row per sentence")
    X = _check_embeddings(embeddings)
    if len(X) != n:
        raise ValueError(f"embeddings has {len(X)} rows but there are {n} sentences")
    scores = centroid_scores(X) if method == "centroid" else textrank_scores(X)
    order = np.lexsort((np.arange(n), -scores))  # by score, descending; ties by position
    return sorted(int(i) for i in order[:k])


# --------------------------------------------------------------------------- ROUGE


class Score(NamedTuple):
    """Precision, recall and F1 of one ROUGE variant (the fields of ``rouge_score.scoring.Score``)."""

    precision: float
    recall: float
    fmeasure: float


def rouge_tokenize(text: str) -> list[str]:
    """rouge-score's default tokens, no stemming: lower-case, split at every run of characters outside [a-z0-9]."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r:.60}")
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _score(overlap: int, n_candidate: int, n_reference: int) -> Score:
    precision = overlap / n_candidate if n_candidate else 0.0
    recall = overlap / n_reference if n_reference else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Score(precision, recall, f)


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(candidate_tokens: Sequence[str], reference_tokens: Sequence[str], n: int) -> Score:
    """ROUGE-N: overlap of n-gram counts (each n-gram counted at most as often as in the other text)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    cand, ref = _ngrams(candidate_tokens, n), _ngrams(reference_tokens, n)
    overlap = sum((cand & ref).values())
    return _score(overlap, sum(cand.values()), sum(ref.values()))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate_tokens: Sequence[str], reference_tokens: Sequence[str]) -> Score:
    """ROUGE-L: precision and recall of the longest common subsequence of the two token lists."""
    lcs = _lcs_length(candidate_tokens, reference_tokens)
    return _score(lcs, len(candidate_tokens), len(reference_tokens))


def rouge(candidate: str, reference: str) -> dict[str, Score]:
    """ROUGE-1, ROUGE-2 and ROUGE-L of a candidate summary against one reference, as ``{"rouge1": Score, ...}``.

    Both texts are tokenised by :func:`rouge_tokenize`, as ``rouge_scorer.RougeScorer(
    ["rouge1", "rouge2", "rougeL"], use_stemmer=False)`` does. A reference with no
    token raises ``ValueError`` (recall would be undefined); an empty candidate
    scores 0.
    """
    ref = rouge_tokenize(reference)
    if not ref:
        raise ValueError(f"reference has no words to compare with: {reference!r:.60}")
    cand = rouge_tokenize(candidate)
    return {"rouge1": rouge_n(cand, ref, 1), "rouge2": rouge_n(cand, ref, 2), "rougeL": rouge_l(cand, ref)}


def novel_word_share(summary: str, article: str) -> float:
    """Share of the summary's tokens (:func:`rouge_tokenize`) that never occur in the article; 0.0 for an empty summary."""
    words = rouge_tokenize(summary)
    if not words:
        return 0.0
    seen = set(rouge_tokenize(article))
    return sum(word not in seen for word in words) / len(words)


def bootstrap_mean_interval(values, n_resamples: int = 2000, confidence: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and a percentile bootstrap interval for it.

    A tuple-returning shorthand for :func:`companion.uncertainty.bootstrap_interval`.
    """
    result = bootstrap_interval(values, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return result["estimate"], result["low"], result["high"]


# --------------------------------------------------------------------------- data


def _eligible(articles: pd.DataFrame, min_subtitle_words: int, min_sentences: int,
              max_sentences: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """The articles :func:`summary_sample` draws from, and how many pass each filter in turn."""
    missing = {"article_id", "subtitle", "text"} - set(articles.columns)
    if missing:
        raise ValueError(f"articles needs the columns article_id, subtitle and text; missing {sorted(missing)}")
    subtitle = articles["subtitle"].fillna("").str.strip()
    counts = {"articles": len(articles), "non-empty subtitle": int((subtitle != "").sum())}
    keep = [i for i, s in zip(articles.index, subtitle) if len(s.split()) >= min_subtitle_words]
    counts[f"subtitle of {min_subtitle_words}+ words"] = len(keep)
    text = articles.loc[keep, "text"].fillna("")
    # the copy test ignores case and punctuation, so the corpus's quote artefacts do not hide a copy
    keep = [i for i in keep if " ".join(rouge_tokenize(subtitle[i])) not in " ".join(rouge_tokenize(text[i]))]
    counts["subtitle not copied from the text"] = len(keep)
    sentences = text[keep].map(split_sentences)
    keep = [i for i in keep if min_sentences <= len(sentences[i]) <= max_sentences]
    counts[f"text of {min_sentences}-{max_sentences} sentences"] = len(keep)
    pool = articles.loc[keep].assign(sentences=sentences[keep], subtitle=subtitle[keep])
    return pool.reset_index(drop=True), counts


def summary_filter_counts(articles: pd.DataFrame, min_subtitle_words: int = 10, min_sentences: int = 6,
                          max_sentences: int = 30) -> dict[str, int]:
    """How many articles pass each filter of :func:`summary_sample`, in the order they are applied."""
    return _eligible(articles, min_subtitle_words, min_sentences, max_sentences)[1]


def summary_sample(articles: pd.DataFrame, n: int | None = 150, seed: int = 0, min_subtitle_words: int = 10,
                   min_sentences: int = 6, max_sentences: int = 30) -> pd.DataFrame:
    """The chapter's evaluation sample: ``n`` articles whose subtitle can serve as a reference summary.

    Kept: articles whose subtitle has at least ``min_subtitle_words`` words and
    does not occur word for word in the text (some outlets copy the first
    sentence into the subtitle, which would make lead-1 a perfect summary), and
    whose text has ``min_sentences`` to ``max_sentences`` sentences by
    :func:`split_sentences`. From those, ``n`` rows are drawn with
    ``numpy.random.default_rng(seed)`` and returned in corpus order, index reset,
    with the stripped ``subtitle`` and a ``sentences`` column (lists of str).
    ``n=None`` returns every eligible article.
    """
    pool, _ = _eligible(articles, min_subtitle_words, min_sentences, max_sentences)
    if n is None:
        return pool
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(pool):
        raise ValueError(f"n must be an integer from 1 to the {len(pool)} eligible articles (or None), got {n!r}")
    rows = np.sort(np.random.default_rng(seed).choice(len(pool), size=n, replace=False))
    return pool.iloc[rows].reset_index(drop=True)


def reference_summaries() -> pd.DataFrame:
    """The summaries written for the chapter: columns ``article_id``, ``summary`` (see the README beside the file)."""
    return pd.read_csv(DATA_DIR / "references.csv")


# --------------------------------------------------------------------------- prompting a language model


def summary_prompt(article: str, cue: str = "TL;DR:", max_words: int = 250) -> str:
    """The article (cut to its first ``max_words`` words), a blank line, and the cue a base model continues."""
    if not isinstance(article, str) or not article.strip():
        raise ValueError(f"article must be a non-empty string, got {article!r:.60}")
    if isinstance(max_words, bool) or not isinstance(max_words, (int, np.integer)) or max_words < 1:
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    return " ".join(article.split()[:max_words]) + "\n\n" + cue


def clean_generation(continuation: str, max_sentences: int = 3) -> str:
    """A model's continuation cut to a summary: up to the first blank line, at most ``max_sentences`` sentences.

    An unfinished last sentence (no final ``.``, ``!`` or ``?``) is dropped when
    there is a finished one before it.
    """
    if not isinstance(continuation, str):
        raise TypeError(f"continuation must be a string, got {type(continuation).__name__}")
    if isinstance(max_sentences, bool) or not isinstance(max_sentences, (int, np.integer)) or max_sentences < 1:
        raise ValueError(f"max_sentences must be a positive integer, got {max_sentences!r}")
    first_block = re.split(r"\n\s*\n", continuation.strip(), maxsplit=1)[0]
    sentences = split_sentences(" ".join(first_block.split()))
    if len(sentences) > 1 and not re.search(r"[.!?][\"'\u201d\u2019)\]]*$", sentences[-1]):
        sentences = sentences[:-1]
    return " ".join(sentences[:max_sentences])
