"""T5's text-to-text framework: span corruption, task prefixes, a small T5 trained from scratch.

T5 (Raffel et al. 2020) casts every task as text in, text out: an
encoder-decoder Transformer reads ``"sentiment: a gorgeous, witty film"`` and
writes ``"fresh"``; it reads ``"outlet: <the start of an article>"`` and
writes the outlet's name, ``"deutsche welle"``. The same model, loss (cross-entropy of the target tokens) and
decoding serve every task; only the *task prefix* of the input tells them apart.
Its pre-training objective is **span corruption**: drop random spans of the
input, put a numbered *sentinel* token (``<extra_id_0>``, ``<extra_id_1>``,
...) in place of each, and ask the decoder to write the dropped spans, each
after its sentinel.

- :func:`random_spans_noise_mask`: T5's random choice of which tokens to drop
  (a fraction ``noise_density`` = 0.15 of them, in spans of mean length 3);
- :func:`corrupt_spans` and :func:`span_corruption`: the input and target of
  span corruption for a given mask, or a random one;
- :func:`train_text_to_text_tokenizer`: a BPE tokenizer with T5's special
  tokens (``<pad>``, ``</s>``, ``<unk>``, sentinels), as a transformers
  ``PreTrainedTokenizerFast``;
- :func:`task_input`, :func:`first_tokens`, :func:`sentiment_examples`,
  :func:`outlet_examples`: the text-to-text dataset builder of the chapter's two
  tasks; builders of harder tasks: :func:`fill_examples` (span corruption as a
  task; :func:`strip_sentinels` reads its answers) and :func:`keyword_examples`
  (:func:`keywords_of`: content words), used in the exercises, and
  :func:`headline_examples` (an article's title from its start);
- :func:`small_t5_config`, :func:`train_text_to_text`: a small ``T5Config``
  and the training loop (teacher forcing, AdamW);
- :func:`check_task_inputs`, :func:`generate_text`, :func:`label_scores`:
  validated prediction, free (greedy) or by comparing the scores of the allowed
  labels;
- :func:`cross_attention_by_hand`: one cross-attention of a T5 decoder layer
  recomputed from its weights, beside the module's own output;
- :func:`news_rt_t5`: the chapter's small T5, trained on sentiment and news-outlet
  tasks, cached with its tokenizer and training history.

Inputs longer than the model's maximum (``tokenizer.model_max_length``) are
**refused** with a ``ValueError`` rather than truncated silently; cut an article
with :func:`first_tokens` first, as :func:`headline_examples` does.

Explained in the chapter "T5: every task as text-to-text" (``book/t5.ipynb``).

Examples
--------
The example of Raffel et al. (2020, figure 2): drop "for inviting" and "last".

>>> from companion.text_to_text import corrupt_spans
>>> words = "Thank you for inviting me to your party last week .".split()
>>> mask = [w in ("for", "inviting", "last") for w in words]
>>> inputs, targets = corrupt_spans(words, mask)
>>> " ".join(inputs)
'Thank you <extra_id_0> me to your party <extra_id_1> week .'
>>> " ".join(targets)
'<extra_id_0> for inviting <extra_id_1> last <extra_id_2>'
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .reproducibility import torch_threads

__all__ = [
    "TASKS",
    "LABEL_WORDS",
    "NUM_SENTINELS",
    "MAX_INPUT_TOKENS",
    "MAX_TARGET_TOKENS",
    "IGNORE_INDEX",
    "sentinel",
    "random_spans_noise_mask",
    "corrupt_spans",
    "span_corruption",
    "train_text_to_text_tokenizer",
    "task_input",
    "first_tokens",
    "sentiment_examples",
    "headline_examples",
    "OUTLET_NAMES",
    "outlet_examples",
    "keywords_of",
    "keyword_examples",
    "fill_examples",
    "strip_sentinels",
    "small_t5_config",
    "encode_pairs",
    "train_text_to_text",
    "check_task_inputs",
    "generate_text",
    "label_scores",
    "cross_attention_by_hand",
    "news_rt_t5",
]

#: The task prefixes the chapter's model knows; an input starts with ``"<task>: "``.
TASKS = ("sentiment", "outlet", "fill", "keywords", "headline")  # the chapter's model: the first two
#: The news outlets of the corpus, by web domain, and the name the ``outlet:`` task writes.
OUTLET_NAMES = {"aljazeera.com": "al jazeera", "tass.com": "tass", "abcnews.go.com": "abc news", "rte.ie": "rte",
                "huffingtonpost.com": "huffington post", "dw.com": "deutsche welle",
                "europe.chinadaily.com.cn": "china daily", "bbc.co.uk": "bbc", "cnn.com": "cnn"}
#: The target words of the sentiment task, by label (1 = fresh, 0 = rotten).
LABEL_WORDS = {1: "fresh", 0: "rotten"}
#: How many sentinel tokens ``<extra_id_0>`` ... the tokenizer reserves (T5 has 100).
NUM_SENTINELS = 32
#: Longest input, in tokens including ``</s>``, that the chapter's model accepts.
MAX_INPUT_TOKENS = 64
#: Longest target, in tokens including ``</s>``, used in training.
MAX_TARGET_TOKENS = 24
#: The label value that the loss ignores (padding of the targets).
IGNORE_INDEX = -100

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def sentinel(i: int) -> str:
    """The ``i``-th sentinel token, ``<extra_id_i>``, as T5 spells it.

    >>> sentinel(0), sentinel(11)
    ('<extra_id_0>', '<extra_id_11>')
    """
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise ValueError(f"a sentinel number must be a non-negative integer, got {i!r}")
    return f"<extra_id_{int(i)}>"


# --------------------------------------------------------------------------- span corruption


def _check_density(noise_density, mean_span_length) -> None:
    if not isinstance(noise_density, (int, float)) or not 0 < noise_density < 1:
        raise ValueError(f"noise_density must be a number strictly between 0 and 1, got {noise_density!r}")
    if not isinstance(mean_span_length, (int, float)) or mean_span_length < 1:
        raise ValueError(f"mean_span_length must be a number >= 1, got {mean_span_length!r}")


def _random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Lengths of ``num_segments`` non-empty consecutive segments of ``num_items`` items, uniformly at random."""
    cuts = np.sort(rng.choice(np.arange(1, num_items), size=num_segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [num_items]]))


def random_spans_noise_mask(length: int, noise_density: float = 0.15, mean_span_length: float = 3.0,
                            seed: int | np.random.Generator = 0) -> np.ndarray:
    """Which of ``length`` tokens span corruption drops: T5's ``random_spans_noise_mask``.

    The number of dropped (noise) tokens is ``round(length * noise_density)``,
    kept between 1 and ``length - 1``; they form
    ``round(num_noise / mean_span_length)`` spans (at least 1). The noise tokens
    and the kept tokens are each cut into that many non-empty runs at random,
    and the runs alternate, kept first, as in T5's code (so the last token is
    always dropped; T5 offers a random rotation of the mask, not used here).
    ``seed`` is an int or a numpy ``Generator``. Returns a boolean array,
    ``True`` = dropped.

    >>> random_spans_noise_mask(20, seed=0).astype(int)
    array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(f"length must be an integer >= 2 (at least one kept and one dropped token), got {length!r}")
    _check_density(noise_density, mean_span_length)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = max(round(num_noise / mean_span_length), 1)
    num_nonnoise = length - num_noise
    num_spans = min(num_spans, num_noise, num_nonnoise)
    noise_lengths = _random_segmentation(num_noise, num_spans, rng)
    kept_lengths = _random_segmentation(num_nonnoise, num_spans, rng)
    mask = np.zeros(length, dtype=bool)
    position = 0
    for kept, noise in zip(kept_lengths, noise_lengths):
        position += kept
        mask[position:position + noise] = True
        position += noise
    return mask


def corrupt_spans(tokens: Sequence, noise_mask: Sequence[bool], sentinels: Sequence | None = None) -> tuple[list, list]:
    """Span corruption of ``tokens`` for a given ``noise_mask`` (``True`` = dropped).

    Each maximal run of dropped tokens becomes one sentinel in the input, numbered
    0, 1, ... from left to right; the target lists each sentinel followed by the
    tokens it replaced, and ends with one more sentinel that closes the last span
    (as in the T5 paper's figure 2 and Hugging Face's T5 documentation).
    ``sentinels`` gives the sentinel items (e.g. token ids); by default the
    strings ``<extra_id_0>``, ``<extra_id_1>``, ... Works on any items: words,
    subword strings or ids.

    >>> corrupt_spans(list("abcdef"), [0, 1, 1, 0, 0, 1])
    (['a', '<extra_id_0>', 'd', 'e', '<extra_id_1>'], ['<extra_id_0>', 'b', 'c', '<extra_id_1>', 'f', '<extra_id_2>'])
    """
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of tokens, not a str (split it first)")
    tokens = list(tokens)
    mask = [bool(m) for m in noise_mask]
    if len(mask) != len(tokens):
        raise ValueError(f"noise_mask has {len(mask)} entries but there are {len(tokens)} tokens; they must match")
    if not tokens:
        raise ValueError("tokens is empty: there is nothing to corrupt")
    num_spans = sum(1 for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1]))
    if sentinels is None:
        sentinels = [sentinel(i) for i in range(num_spans + 1)]
    elif len(sentinels) < num_spans + 1:
        raise ValueError(f"the mask has {num_spans} spans, which needs {num_spans + 1} sentinels; got {len(sentinels)}")
    inputs, targets, span = [], [], -1
    for i, (token, dropped) in enumerate(zip(tokens, mask)):
        if dropped:
            if i == 0 or not mask[i - 1]:
                span += 1
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            targets.append(token)
        else:
            inputs.append(token)
    targets.append(sentinels[span + 1])
    return inputs, targets


def span_corruption(tokens: Sequence, noise_density: float = 0.15, mean_span_length: float = 3.0,
                    seed: int | np.random.Generator = 0, sentinels: Sequence | None = None) -> tuple[list, list]:
    """Span corruption with a random mask: :func:`random_spans_noise_mask` then :func:`corrupt_spans`.

    >>> words = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat".split()
    >>> inputs, targets = span_corruption(words, noise_density=0.3, seed=0)
    >>> " ".join(inputs)
    'the quick brown fox jumps over the lazy <extra_id_0> sleeps on the warm <extra_id_1>'
    >>> " ".join(targets)
    '<extra_id_0> dog while the cat <extra_id_1> mat <extra_id_2>'
    """
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of tokens, not a str (split it first)")
    tokens = list(tokens)
    mask = random_spans_noise_mask(len(tokens), noise_density, mean_span_length, seed)
    return corrupt_spans(tokens, mask, sentinels)


# --------------------------------------------------------------------------- tokenizer and data


def train_text_to_text_tokenizer(texts: Sequence[str], vocab_size: int = 4000, num_sentinels: int = NUM_SENTINELS,
                                 model_max_length: int = MAX_INPUT_TOKENS):
    """A lower-cased BPE tokenizer trained on ``texts``, with T5's special tokens, as a ``PreTrainedTokenizerFast``.

    Ids 0, 1, 2 are ``<pad>``, ``</s>``, ``<unk>`` (as in T5), then the sentinels
    ``<extra_id_0>`` ... ``<extra_id_{num_sentinels-1}>`` (T5 puts them at the end
    of its vocabulary; where they sit does not matter). Words are marked with a
    leading ``▁`` (SentencePiece's convention, :class:`tokenizers.pre_tokenizers.Metaspace`)
    and punctuation is split off, so decoding restores the spaces. Every encoding
    ends with ``</s>``, as T5's.

    >>> tok = train_text_to_text_tokenizer(["a fresh film.", "a rotten film!"] * 5, vocab_size=60, num_sentinels=2)
    >>> tok.convert_ids_to_tokens(tok("A fresh, rotten film.")["input_ids"])  # "," was never seen
    ['▁a', '▁fresh', '<unk>', '▁rotten', '▁film', '.', '</s>']
    >>> tok.decode(tok("A film. <extra_id_1> film")["input_ids"])
    'a film. <extra_id_1> film</s>'
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings (documents), got a single str")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty sequence of strings")
    if isinstance(num_sentinels, bool) or not isinstance(num_sentinels, int) or num_sentinels < 1:
        raise ValueError(f"num_sentinels must be a positive integer, got {num_sentinels!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 3 + num_sentinels + 2:
        raise ValueError(f"vocab_size must be an integer > 3 + num_sentinels = {3 + num_sentinels}, got {vocab_size!r}")
    sentinels = [sentinel(i) for i in range(num_sentinels)]
    special = [PAD, EOS, UNK] + sentinels
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}",
                                                             special_tokens=[(EOS, tokenizer.token_to_id(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   extra_special_tokens=sentinels, model_max_length=model_max_length)


def _check_text(text, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise ValueError(f"{what} is empty (or only whitespace): {text!r}; there is nothing to read")
    return text.strip()


def task_input(task: str, text: str) -> str:
    """The model's input for ``text`` under ``task``: ``"<task>: <text>"``.

    >>> task_input("sentiment", "A gorgeous, witty film.")
    'sentiment: A gorgeous, witty film.'
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; the known task prefixes are {TASKS}")
    return f"{task}: {_check_text(text)}"


def first_tokens(texts, tokenizer, n: int):
    """The beginning of each text that ``tokenizer`` cuts into at most ``n`` tokens (``</s>`` not counted).

    ``texts`` is one string (returns one string) or a list of them (returns a
    list). The cut falls at the end of the ``n``-th token, in the original string
    (its case kept). Only the first ``24 * n`` characters are tokenized, which
    keeps long articles cheap (no piece of our tokenizers is that long).
    """
    single = isinstance(texts, str)
    items = [_check_text(t) for t in ([texts] if single else list(texts))]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    heads = [t[:24 * n] for t in items]
    offsets = tokenizer(heads, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    cut = []
    for text, head, spans in zip(items, heads, offsets):
        if len(spans) > n:
            cut.append(text[:spans[n - 1][1]].rstrip())
        elif len(head) == len(text):
            cut.append(text)
        else:  # the head has at most n tokens: drop its last, possibly torn, word
            cut.append(head.rsplit(None, 1)[0] if len(head.split()) > 1 else head)
    # A word cut in the middle can come out in more pieces than it had inside the
    # whole word (BPE of a prefix is not the prefix of the BPE): back off a token.
    for i, piece in enumerate(cut):
        budget = n
        while len(tokenizer(piece, add_special_tokens=False)["input_ids"]) > n and budget > 1:
            budget -= 1
            spans = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            piece = piece[:spans[budget - 1][1]].rstrip()
        cut[i] = piece
    return cut[0] if single else cut


def _prefix_length(task: str, tokenizer) -> int:
    """Tokens taken by ``"<task>: "`` and the closing ``</s>``."""
    return len(tokenizer(task_input(task, "x"))["input_ids"]) - 1


def sentiment_examples(reviews, tokenizer, max_input_tokens: int = MAX_INPUT_TOKENS) -> list[tuple[str, str]]:
    """``("sentiment: <snippet>", "fresh" | "rotten")`` pairs from a frame with columns ``text``, ``label``.

    A snippet too long for ``max_input_tokens`` (prefix and ``</s>`` included) is
    cut with :func:`first_tokens`; empty snippets are skipped.
    """
    missing = {"text", "label"} - set(reviews.columns)
    if missing:
        raise ValueError(f"reviews lacks the column(s) {sorted(missing)}; it needs 'text' and 'label'")
    bad = sorted(set(reviews["label"]) - set(LABEL_WORDS))
    if bad:
        raise ValueError(f"labels must be 0 (rotten) or 1 (fresh), got {bad}")
    keep = [isinstance(t, str) and bool(t.strip()) for t in reviews["text"]]
    texts = _cut_for(list(reviews["text"][keep]), "sentiment", tokenizer, max_input_tokens)
    return [(task_input("sentiment", text), LABEL_WORDS[int(label)]) for text, label in zip(texts, reviews["label"][keep])]


def headline_examples(articles, tokenizer, max_input_tokens: int = MAX_INPUT_TOKENS) -> list[tuple[str, str]]:
    """``("headline: <start of the article>", title)`` pairs from a frame with columns ``title``, ``text``.

    The article is cut with :func:`first_tokens` so that the whole input,
    prefix and ``</s>`` included, has at most ``max_input_tokens`` tokens.
    Articles without a title or a text are skipped.
    """
    missing = {"title", "text"} - set(articles.columns)
    if missing:
        raise ValueError(f"articles lacks the column(s) {sorted(missing)}; it needs 'title' and 'text'")
    budget = max_input_tokens - _prefix_length("headline", tokenizer)
    if budget < 1:
        raise ValueError(f"max_input_tokens={max_input_tokens} leaves no room for the article after the prefix")
    keep = [isinstance(title, str) and bool(title.strip()) and isinstance(text, str) and bool(text.strip())
            for title, text in zip(articles["title"], articles["text"])]
    texts = first_tokens(list(articles["text"][keep]), tokenizer, budget)
    return [(task_input("headline", text), title.strip()) for text, title in zip(texts, articles["title"][keep])]


def _stop_words() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


_WORD = re.compile(r"[^\W_]+")


def keywords_of(text: str) -> str:
    """The ``keywords:`` answer for ``text``: its content words, lower-cased, in order.

    A word is a run of letters or digits (punctuation splits words, as the
    tokenizer does); it is kept unless it is one of scikit-learn's 318 English
    stop words or a single character. The answer may be empty (a text of stop
    words only).

    >>> keywords_of("A three-hour cinema master class.")
    'hour cinema master class'
    >>> keywords_of("It's one of the best films of the year!")
    'best films year'
    """
    stop = _stop_words()
    return " ".join(w for w in _WORD.findall(_check_text(text).lower()) if len(w) > 1 and w not in stop)


def keyword_examples(texts: Sequence[str], tokenizer, max_input_tokens: int = MAX_INPUT_TOKENS) -> list[tuple[str, str]]:
    """``("keywords: <text>", keywords_of(<text>))`` pairs; texts cut to fit, those without a content word skipped."""
    texts = _cut_for(texts, "keywords", tokenizer, max_input_tokens)
    return [(task_input("keywords", t), k) for t in texts if (k := keywords_of(t))]


def outlet_examples(articles, tokenizer, max_input_tokens: int = 40) -> list[tuple[str, str]]:
    """``("outlet: <start of the article>", <outlet name>)`` pairs from a frame with columns ``outlet``, ``text``.

    The outlet's web domain (``"dw.com"``) is written as its name (``"deutsche
    welle"``, :data:`OUTLET_NAMES`); the article is cut with :func:`first_tokens`
    to fit ``max_input_tokens``. Articles without a text are skipped; an outlet
    missing from :data:`OUTLET_NAMES` raises.
    """
    missing = {"outlet", "text"} - set(articles.columns)
    if missing:
        raise ValueError(f"articles lacks the column(s) {sorted(missing)}; it needs 'outlet' and 'text'")
    unknown = sorted(set(articles["outlet"]) - set(OUTLET_NAMES))
    if unknown:
        raise ValueError(f"unknown outlet(s) {unknown}; the known ones are {sorted(OUTLET_NAMES)}")
    keep = [isinstance(t, str) and bool(t.strip()) for t in articles["text"]]
    texts = _cut_for(list(articles["text"][keep]), "outlet", tokenizer, max_input_tokens)
    return [(task_input("outlet", t), OUTLET_NAMES[o]) for t, o in zip(texts, articles["outlet"][keep])]


def strip_sentinels(text: str) -> str:
    """``text`` without sentinel tokens, spaces collapsed: the words of a ``fill:`` answer.

    >>> strip_sentinels("<extra_id_0> for inviting <extra_id_1> last <extra_id_2>")
    'for inviting last'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return " ".join(re.sub(r"<extra_id_\d+>", " ", text).split())


def fill_examples(texts: Sequence[str], tokenizer, seed: int = 0, noise_density: float = 0.15,
                  mean_span_length: float = 3.0, max_input_tokens: int = MAX_INPUT_TOKENS) -> list[tuple[str, str]]:
    """Span corruption as a task: ``("fill: <text with sentinels>", "<extra_id_0> <dropped words> ...")``.

    Each text (cut to fit ``max_input_tokens``) is split on whitespace and
    corrupted by :func:`span_corruption` with its own mask, drawn in order from
    one generator seeded with ``seed``; texts of fewer than 4 words are skipped.
    """
    _check_density(noise_density, mean_span_length)
    texts = _cut_for(texts, "fill", tokenizer, max_input_tokens)
    rng = np.random.default_rng(seed)
    pairs = []
    for text in texts:
        words = text.split()
        if len(words) < 4:
            continue
        inputs, targets = span_corruption(words, noise_density, mean_span_length, seed=rng)
        pairs.append((task_input("fill", " ".join(inputs)), " ".join(targets)))
    return pairs


def _cut_for(texts, task: str, tokenizer, max_input_tokens: int) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str; wrap it in a list")
    budget = max_input_tokens - _prefix_length(task, tokenizer)
    if budget < 1:
        raise ValueError(f"max_input_tokens={max_input_tokens} leaves no room for the text after the prefix {task!r}")
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"every text must be a str, got {type(t).__name__}: {t!r:.80}")
    texts = [t for t in texts if t.strip()]
    return first_tokens(texts, tokenizer, budget) if texts else []


# --------------------------------------------------------------------------- model and training


def small_t5_config(vocab_size: int, d_model: int = 128, num_layers: int = 2, num_heads: int = 4,
                    d_ff: int = 512, dropout: float = 0.0):
    """A small ``T5Config`` (T5 v1.0 style: ReLU feed-forward, tied embeddings), random initialisation.

    ``num_layers`` encoder layers and as many decoder layers; ``<pad>`` (id 0) is
    also the decoder's start token, ``</s>`` (id 1) its end, as in T5.
    """
    from transformers import T5Config

    for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("num_layers", num_layers),
                        ("num_heads", num_heads), ("d_ff", d_ff)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} must be a multiple of num_heads={num_heads}")
    return T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // num_heads, d_ff=d_ff,
                    num_layers=num_layers, num_decoder_layers=num_layers, num_heads=num_heads,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    dropout_rate=dropout, feed_forward_proj="relu", tie_word_embeddings=True,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def encode_pairs(pairs: Sequence[tuple[str, str]], tokenizer, max_input_tokens: int = MAX_INPUT_TOKENS,
                 max_target_tokens: int = MAX_TARGET_TOKENS) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of the inputs and targets of ``(input, target)`` pairs, each ending in ``</s>``.

    Inputs longer than ``max_input_tokens`` raise (build them with
    :func:`headline_examples`, which cuts articles); targets are cut to
    ``max_target_tokens`` (keeping the final ``</s>``), since a title's tail
    is what a small model would learn least anyway.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("no (input, target) pairs to encode")
    inputs = tokenizer([p[0] for p in pairs])["input_ids"]
    targets = tokenizer([p[1] for p in pairs])["input_ids"]
    too_long = [(p[0], len(ids)) for p, ids in zip(pairs, inputs) if len(ids) > max_input_tokens]
    if too_long:
        text, n = too_long[0]
        raise ValueError(f"{len(too_long)} inputs are longer than max_input_tokens={max_input_tokens}, "
                         f"e.g. {text[:60]!r}... with {n} tokens; cut them with first_tokens()")
    targets = [ids if len(ids) <= max_target_tokens else ids[:max_target_tokens - 1] + [tokenizer.eos_token_id]
               for ids in targets]
    return inputs, targets


def _pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def _batch(inputs, targets, rows, pad_id):
    x = _pad([inputs[i] for i in rows], pad_id)
    y = _pad([targets[i] for i in rows], IGNORE_INDEX)
    return x, (x != pad_id).long(), y


def _task_of(text: str) -> str:
    task, colon, _ = text.partition(":")
    return task.strip() if colon and task.strip() in TASKS else "(no prefix)"


def train_text_to_text(model, tokenizer, pairs: Sequence[tuple[str, str]], steps: int, batch_size: int = 32,
                       lr: float = 2e-3, warmup: int = 50, seed: int = 0,
                       max_input_tokens: int = MAX_INPUT_TOKENS, max_target_tokens: int = MAX_TARGET_TOKENS) -> dict:
    """Train a ``T5ForConditionalGeneration`` on ``(input, target)`` text pairs with teacher forcing.

    Each step draws one pair at random (seeded); its task (the input's prefix, or
    ``"(no prefix)"``) decides the batch, whose ``batch_size`` pairs are drawn from
    that task only: tasks are mixed in proportion to their sizes ("examples-
    proportional mixing", Raffel et al. 2020), and a batch of short snippets is
    not padded to the length of articles. The batch is padded to its longest
    pair; the loss is the mean cross-entropy of the target tokens given the input
    and the target's earlier tokens (the library shifts the target right behind
    ``<pad>`` to make the decoder's input). AdamW, with linear warm-up for
    ``warmup`` steps and linear decay to 0 at ``steps``.

    Returns the history: ``train_loss`` and ``task`` (the batch's task), one entry per step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pairs = list(pairs)
    inputs, targets = encode_pairs(pairs, tokenizer, max_input_tokens, max_target_tokens)
    tasks = [_task_of(p[0]) for p in pairs]
    by_task = {task: [i for i, t in enumerate(tasks) if t == task] for task in sorted(set(tasks))}
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    history = {"train_loss": [], "task": []}
    model.train()
    for _ in range(steps):
        task = tasks[int(torch.randint(len(pairs), (1,), generator=generator))]
        pool = by_task[task]
        rows = [pool[i] for i in torch.randint(len(pool), (batch_size,), generator=generator).tolist()]
        x, attention, y = _batch(inputs, targets, rows, tokenizer.pad_token_id)
        loss = model(input_ids=x, attention_mask=attention, labels=y).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history["train_loss"].append(loss.item())
        history["task"].append(task)
    model.eval()
    return history


# --------------------------------------------------------------------------- prediction


def check_task_inputs(texts: Sequence[str], tokenizer) -> list[str]:
    """Validate model inputs: non-empty strings that start with a known task prefix and fit the model.

    Raises ``ValueError`` naming the first bad input: an empty text, an unknown
    prefix (the known ones are :data:`TASKS`), or an input longer than
    ``tokenizer.model_max_length`` tokens (``</s>`` included). Long inputs are
    refused, not truncated: cut them with :func:`first_tokens`.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str; wrap it in a list")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: nothing to predict")
    for text in texts:
        _check_text(text, "an input text")
        task, colon, rest = text.partition(":")
        if not colon or task.strip() not in TASKS:
            raise ValueError(f"input {text[:60]!r} does not start with a known task prefix; "
                             f"write '<task>: <text>' with task one of {TASKS}")
        if not rest.strip():
            raise ValueError(f"input {text!r} has a task prefix but no text after it")
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    for text, n in zip(texts, lengths):
        if n > tokenizer.model_max_length:
            raise ValueError(f"input {text[:60]!r}... has {n} tokens, more than the model's maximum of "
                             f"{tokenizer.model_max_length}; cut it with first_tokens() (inputs are not truncated)")
    return texts


@torch.no_grad()
def generate_text(model, tokenizer, texts: Sequence[str], max_new_tokens: int = MAX_TARGET_TOKENS,
                  batch_size: int = 64) -> list[str]:
    """Greedy decoding of the model's output for each input text (validated by :func:`check_task_inputs`).

    Runs on one torch thread (:func:`~companion.reproducibility.torch_threads`):
    for a model this small a second thread mostly waits, and on a busy machine
    two threads are many times slower than one.
    """
    texts = check_task_inputs(texts, tokenizer)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    model.eval()
    outputs = []
    with torch_threads(1):
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True)
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            outputs += [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return outputs


@torch.no_grad()
def label_scores(model, tokenizer, texts: Sequence[str], labels: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """Log-probability of each candidate output, ``(len(texts), len(labels))``.

    The score of label ``l`` for input ``x`` is ``log p(l </s> | x)``, the sum
    over the label's tokens and the closing ``</s>``. Taking the best label of
    each row is *constrained* decoding: the model can only answer one of ``labels``.
    Runs on one torch thread, as :func:`generate_text`.
    """
    texts = check_task_inputs(texts, tokenizer)
    if isinstance(labels, str) or not labels:
        raise ValueError(f"labels must be a non-empty sequence of strings, got {labels!r}")
    labels = [_check_text(label, "a label") for label in labels]
    model.eval()
    scores = np.zeros((len(texts), len(labels)))
    label_ids = tokenizer(labels)["input_ids"]
    with torch_threads(1):
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True)
            encoder_outputs = model.get_encoder()(**batch)
            n = batch["input_ids"].shape[0]
            for j, ids in enumerate(label_ids):
                y = torch.tensor([ids] * n)
                logits = model(encoder_outputs=encoder_outputs, attention_mask=batch["attention_mask"], labels=y).logits
                log_p = torch.log_softmax(logits, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
                scores[start:start + n, j] = log_p.sum(dim=1).numpy()
    return scores


@torch.no_grad()
def cross_attention_by_hand(model, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor, layer: int = 0) -> dict:
    """Recompute the cross-attention of decoder layer ``layer`` from its weights, and return the library's too.

    Runs the model once with a hook on the layer's ``EncDecAttention`` to capture
    its input (the decoder states after self-attention, RMS-normalised) and its
    output; then, by hand: queries from the decoder states, keys and values from
    the encoder's output, ``softmax(Q K^T)`` (T5 does **not** divide by
    ``sqrt(d_k)``; its initialisation absorbs the factor), weighted sum of the
    values, output projection. Returns a dict of tensors (batch of one):
    ``decoder_states`` (T, d_model), ``encoder_states`` (S, d_model),
    ``queries`` (heads, T, d_kv), ``keys`` and ``values`` (heads, S, d_kv),
    ``weights`` (heads, T, S), ``output`` (T, d_model) and ``library_output``.
    """
    from .attention import merge_heads, scaled_dot_product_attention, split_heads

    if not (isinstance(input_ids, torch.Tensor) and input_ids.dim() == 2 and input_ids.shape[0] == 1):
        raise ValueError("input_ids must be a LongTensor of shape (1, S): one input sequence")
    if not (isinstance(decoder_input_ids, torch.Tensor) and decoder_input_ids.dim() == 2
            and decoder_input_ids.shape[0] == 1):
        raise ValueError("decoder_input_ids must be a LongTensor of shape (1, T): one target prefix")
    n_layers = len(model.decoder.block)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
        raise ValueError(f"layer must be an integer in 0..{n_layers - 1}, got {layer!r}")
    attention = model.decoder.block[layer].layer[1].EncDecAttention
    captured = {}

    def hook(module, args, kwargs, output):
        captured["decoder_states"] = args[0] if args else kwargs["hidden_states"]
        captured["library_output"] = output[0]

    handle = attention.register_forward_hook(hook, with_kwargs=True)
    try:
        model.eval()
        out = model(input_ids=input_ids, decoder_input_ids=decoder_input_ids)
    finally:
        handle.remove()
    encoder_states = out.encoder_last_hidden_state
    decoder_states = captured["decoder_states"]
    heads = model.config.num_heads
    q = split_heads(attention.q(decoder_states), heads)
    k = split_heads(attention.k(encoder_states), heads)
    v = split_heads(attention.v(encoder_states), heads)
    context, weights = scaled_dot_product_attention(q, k, v, scale=1.0)
    output = attention.o(merge_heads(context))
    return {"decoder_states": decoder_states[0], "encoder_states": encoder_states[0], "queries": q[0], "keys": k[0],
            "values": v[0], "weights": weights[0], "output": output[0], "library_output": captured["library_output"][0]}


# --------------------------------------------------------------------------- the chapter's model


def _news_split(held_out_articles: int):
    from .datasets import news_articles

    articles = news_articles()
    usable = articles[(articles["title"].str.strip() != "") & (articles["text"].str.strip() != "")]
    return usable.iloc[:-held_out_articles], usable.iloc[-held_out_articles:]


def _train_news_rt_t5(steps, batch_size, lr, vocab_size, d_model, num_layers, num_heads, d_ff,
                      held_out_articles, input_tokens, seed):
    """Train the chapter's tokenizer and model in memory: ``(model, tokenizer, history)``; see :func:`news_rt_t5`."""
    from transformers import T5ForConditionalGeneration

    from .datasets import rotten_tomatoes_split

    reviews, _ = rotten_tomatoes_split()
    news_train, _ = _news_split(held_out_articles)
    # the tokenizer sees what the model will see: snippets, the starts of articles, the answers
    corpus = reviews["text"].tolist() + news_train["text"].str[:1500].tolist()
    corpus += [f"{task}: " for task in TASKS] + list(LABEL_WORDS.values()) + list(OUTLET_NAMES.values())
    tokenizer = train_text_to_text_tokenizer(corpus, vocab_size=vocab_size, model_max_length=input_tokens)
    pairs = (sentiment_examples(reviews, tokenizer, input_tokens)
             + outlet_examples(news_train, tokenizer, input_tokens))
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(small_t5_config(len(tokenizer), d_model, num_layers, num_heads, d_ff))
    cpu = time.process_time()
    with torch_threads(1):
        history = train_text_to_text(model, tokenizer, pairs, steps, batch_size=batch_size, lr=lr, seed=seed,
                                     max_input_tokens=input_tokens)
    history.update(training_cpu_seconds=time.process_time() - cpu, batch_size=batch_size, steps=steps, lr=lr,
                   pairs={task: sum(p[0].startswith(f"{task}:") for p in pairs) for task in ("sentiment", "outlet")},
                   held_out_articles=held_out_articles, input_tokens=input_tokens)
    return model, tokenizer, history


def news_rt_t5(steps: int = 450, batch_size: int = 32, lr: float = 2e-3, vocab_size: int = 4000,
               d_model: int = 128, num_layers: int = 2, num_heads: int = 4, d_ff: int = 512,
               held_out_articles: int = 200, input_tokens: int = 40, seed: int = 0):
    """The chapter's small T5, trained on a sentiment + outlet mix; cached after the first call.

    Data: every snippet of the Rotten Tomatoes training split as
    ``"sentiment: <snippet>" -> "fresh" | "rotten"``, and every news article but
    the last ``held_out_articles`` (by ``article_id``, among those with a title
    and a text) as ``"outlet: <first tokens>" -> <outlet name>`` (a name of one or
    two words, :data:`OUTLET_NAMES`), each input cut to ``input_tokens`` tokens
    (prefix and ``</s>`` included), mixed in proportion to their sizes. The
    tokenizer (:func:`train_text_to_text_tokenizer`, ``model_max_length =
    input_tokens``) is trained on the training text only. Training runs on one thread.

    Returns ``(model, tokenizer, history)``, loaded from the cache; ``history``
    holds ``train_loss`` and ``task`` per step, the sizes of the mix
    (``pairs``), ``training_cpu_seconds`` (not stable between runs: do not print
    it where outputs are compared) and the settings.
    """
    from transformers import PreTrainedTokenizerFast, T5ForConditionalGeneration

    from .cache import cached_dir

    settings = (steps, batch_size, lr, vocab_size, d_model, num_layers, num_heads, d_ff, held_out_articles,
                input_tokens, seed)

    def build(folder: Path) -> None:
        model, tokenizer, history = _train_news_rt_t5(*settings)
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "tokenizer")
        (folder / "history.json").write_text(json.dumps(history))

    name = (f"t5/news-rt-outlet-{steps}-{batch_size}-{lr:g}-{vocab_size}-{d_model}-{num_layers}-{num_heads}-{d_ff}"
            f"-{held_out_articles}-{input_tokens}-{seed}")
    folder = cached_dir(name, build)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder / "tokenizer"))
    model = T5ForConditionalGeneration.from_pretrained(str(folder / "model"))
    model.eval()
    history = json.loads((folder / "history.json").read_text())
    return model, tokenizer, history
