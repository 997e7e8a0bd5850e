"""Subwords: fastText's character n-grams and byte-pair encoding (BPE), from scratch.

A word-level vocabulary has nothing to say about a word it never saw. Two ideas
fix that by cutting words into pieces that *are* in the vocabulary:

- **fastText** (Bojanowski et al. 2017) represents a word by the sum of the
  vectors of its character n-grams. :func:`char_ngrams` lists them, with the
  boundary markers ``<`` and ``>`` so that a prefix (``<un``) differs from the
  same letters inside a word; :func:`ngram_bucket` is the hash that maps each
  n-gram to one of a fixed number of rows (fastText's FNV-1a variant), so that
  the table of n-gram vectors has a fixed size; :func:`fasttext_word_vector`
  composes a word's vector from those rows, seen word or not, exactly as
  gensim's ``FastTextKeyedVectors`` does; :func:`news_fasttext` is gensim's
  ``FastText`` trained on the news corpus, cached so later chapters load it.
- **Byte-pair encoding** (Sennrich et al. 2016) starts from single characters and
  repeatedly merges the most frequent adjacent pair of symbols into a new
  symbol. :func:`learn_bpe` learns the list of merges from word counts,
  :func:`bpe_merge_table` shows it step by step, and :func:`apply_bpe` cuts a
  word, seen or unseen, into pieces with those merges.
- :func:`train_subword_tokenizer` trains the Hugging Face ``tokenizers`` BPE or
  WordPiece model on raw text, reproducibly.

Ties. When two pairs are equally frequent, :func:`learn_bpe` takes the pair
whose left symbol is older, then whose right symbol is older. Single
characters are the oldest symbols, in code-point order (characters that carry
the end-of-word marker come after every plain character); merged symbols are
younger, in the order they were made. This is the rule of the Hugging Face
``tokenizers`` BPE trainer (it orders pairs by the ids of their symbols), which
is what lets the tests compare the two merge lists one for one.

Explained in the chapter "Subword embeddings" (``book/subword-embeddings.ipynb``).

Examples
--------
>>> from companion.subwords import char_ngrams, learn_bpe, apply_bpe
>>> char_ngrams("where", min_n=3, max_n=3)
['<wh', 'whe', 'her', 'ere', 're>']
>>> merges = learn_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, num_merges=4)
>>> merges
[('e', 's'), ('es', 't</w>'), ('l', 'o'), ('e', 'w')]
>>> apply_bpe("lowest", merges)
['lo', 'w', 'est</w>']
"""

from __future__ import annotations

import heapq
import json
import time
from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .cache import cached_dir

__all__ = [
    "char_ngrams",
    "ngram_bucket",
    "fasttext_word_vector",
    "news_fasttext",
    "news_fasttext_training_seconds",
    "FASTTEXT_PARAMS",
    "learn_bpe",
    "bpe_merge_table",
    "apply_bpe",
    "word_counts_of",
    "train_subword_tokenizer",
    "END_OF_WORD",
    "FASTTEXT_BUCKETS",
]

#: The marker :func:`learn_bpe` glues to the last character of every word (as subword-nmt does).
END_OF_WORD = "</w>"
#: fastText's default number of hash buckets for n-gram vectors.
FASTTEXT_BUCKETS = 2_000_000

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


# --------------------------------------------------------------------------- fastText


def _check_word(word, what: str = "word") -> None:
    if not isinstance(word, str):
        raise TypeError(f"{what} must be a str, got {type(word).__name__}: {word!r:.80}")
    if not word:
        raise ValueError(f"{what} must be a non-empty string, got {word!r}")


def char_ngrams(word: str, min_n: int = 3, max_n: int = 6) -> list[str]:
    """The character n-grams of ``word`` that fastText uses, ``min_n <= n <= max_n``.

    The word is wrapped in the boundary markers ``<`` and ``>`` first, so
    ``"where"`` becomes ``"<where>"`` and its 3-grams are ``<wh, whe, her, ere,
    re>``. The n-grams come in order of length, then of position, as in
    gensim's ``compute_ngrams``. The wrapped word itself is one of them only if
    it is at most ``max_n`` characters long (fastText gives the word its own
    vector besides, when it is in the vocabulary). With ``min_n=1`` the lone
    markers ``<`` and ``>`` are left out, as fastText leaves them out.

    Examples
    --------
    >>> char_ngrams("her", min_n=3, max_n=6)
    ['<he', 'her', 'er>', '<her', 'her>', '<her>']
    """
    _check_word(word)
    if not (isinstance(min_n, int) and isinstance(max_n, int)) or min_n < 1 or max_n < min_n:
        raise ValueError(f"need integers 1 <= min_n <= max_n, got min_n={min_n!r}, max_n={max_n!r}")
    wrapped = f"<{word}>"
    return [
        wrapped[start : start + n]
        for n in range(min_n, min(len(wrapped), max_n) + 1)
        for start in range(len(wrapped) - n + 1)
        if not (n == 1 and wrapped[start] in "<>" and start in (0, len(wrapped) - 1))  # a lone marker is no n-gram
    ]


def ngram_bucket(ngram: str, num_buckets: int = FASTTEXT_BUCKETS) -> int:
    """The row of fastText's n-gram table that ``ngram`` shares with every n-gram of the same hash.

    fastText hashes the UTF-8 bytes of the n-gram with 32-bit FNV-1a, except
    that each byte is read as a *signed* char (so bytes >= 128 are sign-extended
    before the XOR, a quirk gensim reproduces), and takes the result modulo
    ``num_buckets``.

    Examples
    --------
    >>> ngram_bucket("<wh", num_buckets=2_000_000)
    167652
    """
    _check_word(ngram, "ngram")
    if not isinstance(num_buckets, int) or num_buckets < 1:
        raise ValueError(f"num_buckets must be a positive integer, got {num_buckets!r}")
    h = _FNV_OFFSET
    for byte in ngram.encode("utf-8"):
        signed = byte - 256 if byte >= 128 else byte
        h = ((h ^ (signed & 0xFFFFFFFF)) * _FNV_PRIME) & 0xFFFFFFFF
    return h % num_buckets


def fasttext_word_vector(wv, word: str) -> np.ndarray:
    """The vector fastText gives ``word``, composed from scratch from its n-gram rows.

    ``wv`` is a gensim ``FastTextKeyedVectors`` (``model.wv``). A word outside
    the vocabulary gets the mean of the rows of its n-grams,
    ``vectors_ngrams[ngram_bucket(g)]`` for ``g`` in :func:`char_ngrams`; a word
    in the vocabulary also has a whole-word vector (``vectors_vocab``), which
    joins the n-gram rows in the mean. This is what ``wv[word]`` returns; the
    function spells it out.
    """
    _check_word(word)
    for name in ("vectors_ngrams", "vectors_vocab", "min_n", "max_n", "bucket", "key_to_index"):
        if not hasattr(wv, name):
            raise TypeError(f"wv must be a gensim FastTextKeyedVectors (model.wv), got {type(wv).__name__} without {name!r}")
    if wv.bucket == 0:
        raise ValueError("this FastText model has no n-gram buckets (bucket=0), so it composes no vectors")
    rows = [ngram_bucket(g, wv.bucket) for g in char_ngrams(word, wv.min_n, wv.max_n)]
    parts = [wv.vectors_ngrams[rows]]
    if word in wv.key_to_index:
        parts.insert(0, wv.vectors_vocab[wv.key_to_index[word]][None, :])
    stacked = np.concatenate(parts).astype(np.float64)
    return (stacked.sum(axis=0) / len(stacked)).astype(np.float32)


#: The settings of :func:`news_fasttext` (CBOW, small and quick; one worker and a seed, so deterministic).
FASTTEXT_PARAMS = {
    "vector_size": 100, "window": 5, "min_count": 5, "epochs": 3, "sg": 0,
    "min_n": 3, "max_n": 6, "bucket": 200_000, "workers": 1, "seed": 0,
}
FASTTEXT_ARTIFACT = "models/news-fasttext"


def _fasttext_folder():
    from gensim.models import FastText

    from .datasets import news_tokens

    def build(tmp) -> None:
        docs = news_tokens()
        start = time.perf_counter()
        model = FastText(sentences=docs, **FASTTEXT_PARAMS)
        seconds = time.perf_counter() - start
        model.save(str(tmp / "fasttext.model"))
        (tmp / "training.json").write_text(json.dumps({"seconds": round(seconds, 1), "params": FASTTEXT_PARAMS}, indent=2))

    return cached_dir(FASTTEXT_ARTIFACT, build)


def news_fasttext():
    """gensim ``FastText`` trained on the news corpus with :data:`FASTTEXT_PARAMS`, cached.

    The first call trains it (about half a minute on one core) and saves it
    with ``model.save`` in the companion cache; later calls load it in about a
    second. Training is deterministic (one worker thread, a fixed seed), so a
    fresh model equals the cached one.

    Examples
    --------
    >>> ft = news_fasttext()  # doctest: +SKIP
    >>> "goverment" in ft.wv.key_to_index, ft.wv["goverment"].shape  # doctest: +SKIP
    (False, (100,))
    """
    from gensim.models import FastText

    return FastText.load(str(_fasttext_folder() / "fasttext.model"))


def news_fasttext_training_seconds() -> float:
    """Wall seconds :func:`news_fasttext`'s training took when the cached model was built."""
    return json.loads((_fasttext_folder() / "training.json").read_text())["seconds"]


# --------------------------------------------------------------------------- byte-pair encoding


def _symbols(word: str, end_of_word: str) -> tuple[str, ...]:
    """``"low"`` -> ``("l", "o", "w</w>")``: characters, the last one carrying the marker."""
    chars = list(word)
    chars[-1] = chars[-1] + end_of_word
    return tuple(chars)


def _check_word_counts(word_counts) -> dict[str, int]:
    if not isinstance(word_counts, Mapping):
        raise TypeError(
            f"word_counts must be a mapping word -> count (e.g. a collections.Counter), "
            f"got {type(word_counts).__name__}"
        )
    if len(word_counts) == 0:
        raise ValueError("word_counts is empty: BPE needs at least one word with a positive count to learn from")
    for word, count in word_counts.items():
        _check_word(word, "every word in word_counts")
        if any(c.isspace() for c in word):
            raise ValueError(f"word {word!r} contains whitespace; split the text into words first")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"the count of {word!r} must be a positive integer, got {count!r}")
    return dict(word_counts)


def _merge_pair(symbols: tuple[str, ...], pair: tuple[str, str], new: str) -> tuple[str, ...]:
    """Replace every occurrence of ``pair`` in ``symbols``, left to right, without overlaps."""
    out = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def _bpe_steps(word_counts, num_merges: int, end_of_word: str):
    """Yield ``(pair, count, words, counts)`` after each merge of BPE training.

    Pair counts are kept up to date incrementally: a merge only touches the
    words that contain the pair (found through an index pair -> words), and a
    heap gives the next most frequent pair, stale heap entries being skipped.
    """
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative integer, got {num_merges!r}")
    if not isinstance(end_of_word, str):
        raise TypeError(f"end_of_word must be a str ('' for none), got {type(end_of_word).__name__}")
    counts_by_word = _check_word_counts(word_counts)
    items = sorted(counts_by_word.items())
    words = [_symbols(w, end_of_word) for w, _ in items]
    counts = [c for _, c in items]

    # Age of each symbol, for breaking ties: plain characters in code-point
    # order, then characters carrying the end-of-word marker, then merges.
    alphabet = {s for word in words for s in word}
    plain = sorted(s for s in alphabet if len(s) == 1)
    marked = sorted(s for s in alphabet if len(s) != 1)
    age = {s: i for i, s in enumerate(plain + marked)}

    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, (word, count) in enumerate(zip(words, counts)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += count
            where[pair].add(i)

    def entry(pair):
        return (-pair_counts[pair], age[pair[0]], age[pair[1]], pair)

    heap = [entry(pair) for pair in pair_counts]
    heapq.heapify(heap)
    for _ in range(num_merges):
        while heap:
            neg_count, _, _, pair = heap[0]
            if pair_counts.get(pair, 0) == -neg_count and neg_count < 0:
                break
            heapq.heappop(heap)  # stale: the pair's count changed since it was pushed
        if not heap:
            return  # every word is a single symbol: nothing left to merge
        neg_count, _, _, pair = heapq.heappop(heap)
        new = pair[0] + pair[1]
        age.setdefault(new, len(age))
        touched = set()
        for i in sorted(where.pop(pair, ())):
            word, count = words[i], counts[i]
            if pair not in zip(word, word[1:]):
                continue
            for old in zip(word, word[1:]):
                pair_counts[old] -= count
                touched.add(old)
            merged = _merge_pair(word, pair, new)
            for fresh in zip(merged, merged[1:]):
                pair_counts[fresh] += count
                where[fresh].add(i)
                touched.add(fresh)
            words[i] = merged
        for changed in touched:
            if pair_counts[changed] > 0:
                heapq.heappush(heap, entry(changed))
            else:
                pair_counts.pop(changed, None)
        yield pair, -neg_count, words, counts


def learn_bpe(word_counts: Mapping[str, int], num_merges: int, end_of_word: str = END_OF_WORD) -> list[tuple[str, str]]:
    """Learn up to ``num_merges`` BPE merges from ``word_counts`` (word -> count).

    Every word starts as its characters, the last one carrying ``end_of_word``
    (so ``est</w>`` at the end of a word is a different symbol from ``est``
    inside one; pass ``""`` for no marker). Each step merges the most frequent
    adjacent pair of symbols, counted over all words weighted by their counts;
    ties are broken as the module docstring says. Training stops early when no
    pair is left (every word has become one symbol).

    Returns the merges in the order they were learned, as ``(left, right)`` pairs.

    Raises
    ------
    ValueError
        if ``num_merges`` is negative or ``word_counts`` is empty or holds a
        non-positive count.

    Examples
    --------
    >>> learn_bpe({"aaab": 2, "ab": 1}, num_merges=2, end_of_word="")
    [('a', 'a'), ('a', 'b')]
    """
    return [pair for pair, _, _, _ in _bpe_steps(word_counts, num_merges, end_of_word)]


def bpe_merge_table(word_counts: Mapping[str, int], num_merges: int, end_of_word: str = END_OF_WORD) -> pd.DataFrame:
    """The merges of :func:`learn_bpe`, one row per step, with the corpus after each merge.

    Columns: ``step`` (1, 2, ...), ``merge`` (``"e + s"``), ``new symbol``,
    ``count`` (the pair's frequency when it was merged) and ``corpus after``
    (every word, in alphabetical order, cut into its current symbols and
    followed by ``x count``).

    Examples
    --------
    >>> bpe_merge_table({"aab": 2}, num_merges=1, end_of_word="").to_dict("records")
    [{'step': 1, 'merge': 'a + a', 'new symbol': 'aa', 'count': 2, 'corpus after': 'aa b x2'}]
    """
    rows = []
    for step, (pair, count, words, counts) in enumerate(_bpe_steps(word_counts, num_merges, end_of_word), start=1):
        corpus = ", ".join(f"{' '.join(word)} x{c}" for word, c in zip(words, counts))
        rows.append({"step": step, "merge": f"{pair[0]} + {pair[1]}", "new symbol": pair[0] + pair[1],
                     "count": count, "corpus after": corpus})
    return pd.DataFrame(rows, columns=["step", "merge", "new symbol", "count", "corpus after"])


def apply_bpe(word: str, merges: Sequence[tuple[str, str]], end_of_word: str = END_OF_WORD) -> list[str]:
    """Cut ``word`` into BPE pieces with ``merges`` (the output of :func:`learn_bpe`).

    Start from the characters (the last one carrying ``end_of_word``, as in
    training) and, while some adjacent pair of pieces is in ``merges``, merge the
    pair that was learned *first*, at its leftmost position. A word never seen in
    training still gets pieces: in the worst case, its single characters.

    Examples
    --------
    >>> apply_bpe("lowest", [("l", "o"), ("lo", "w"), ("e", "s"), ("es", "t")], end_of_word="")
    ['low', 'est']
    """
    _check_word(word)
    if any(c.isspace() for c in word):
        raise ValueError(f"apply_bpe cuts one word; {word!r} contains whitespace, split it into words first")
    rank = {}
    for i, pair in enumerate(merges):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise TypeError(f"merges must be (left, right) pairs of strings, as learn_bpe returns; item {i} is {pair!r}")
        rank.setdefault(pair, i)
    pieces = list(_symbols(word, end_of_word))
    while len(pieces) > 1:
        best = min(range(len(pieces) - 1), key=lambda j: (rank.get((pieces[j], pieces[j + 1]), len(rank)), j))
        if (pieces[best], pieces[best + 1]) not in rank:
            break
        pieces[best : best + 2] = [pieces[best] + pieces[best + 1]]
    return pieces


def word_counts_of(documents: Iterable[Sequence[str]]) -> Counter:
    """Count the words of tokenized ``documents`` (the input :func:`learn_bpe` expects)."""
    counts: Counter = Counter()
    for doc in documents:
        if isinstance(doc, str):
            raise TypeError("word_counts_of expects tokenized documents (lists of words), got a str")
        counts.update(doc)
    return counts


def train_subword_tokenizer(texts: Sequence[str], kind: str, vocab_size: int = 8000, unk_token: str = "[UNK]"):
    """A Hugging Face ``tokenizers.Tokenizer`` of ``kind`` ``"bpe"`` or ``"wordpiece"`` trained on ``texts``.

    The pipeline is lower-casing, then the ``Whitespace`` pre-tokenizer (runs of
    word characters, or of punctuation), then the subword model, whose
    vocabulary holds ``vocab_size`` entries including ``unk_token`` (the piece
    for a character never seen in training).

    ``tokenizers`` trains WordPiece with the BPE trainer (the most frequent pair
    wins; Google's WordPiece scored pairs by likelihood instead), gluing the
    prefix ``##`` to every non-initial character. Those ``##`` symbols get their
    ids in the iteration order of a Rust hash map, which changes from run to
    run, and ids break ties between equally frequent pairs: so two runs can
    learn slightly different vocabularies. Listing the ``##`` twin of every
    character of ``texts``, sorted, as a special token fixes their ids, and so
    the result; the model is then rebuilt from the learned vocabulary, so the
    twins are ordinary pieces. (The BPE trainer without a prefix needs no such
    care: its symbols get ids in code-point order.)

    Examples
    --------
    >>> tok = train_subword_tokenizer(["low lower newest widest"] * 3, "wordpiece", vocab_size=30)
    >>> tok.encode("Lowest").tokens
    ['low', '##est']
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if kind not in ("bpe", "wordpiece"):
        raise ValueError(f"kind must be 'bpe' or 'wordpiece', got {kind!r}")
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings (documents), got a single str")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty sequence of strings")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")

    def pipeline(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        return tokenizer

    if kind == "bpe":
        tokenizer = pipeline(models.BPE(unk_token=unk_token))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[unk_token], show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        return tokenizer

    # A ## twin for every character of the training text, sorted, as a special
    # token: this fixes their ids. (The plain trainer only creates the twins of
    # characters seen inside a word; BERT's vocabulary, too, has one for every
    # character. The few extra twins take the place of as many merges.)
    alphabet = sorted({ch for text in texts for ch in text.lower() if not ch.isspace()})
    continuing = [f"##{ch}" for ch in alphabet]
    scaffold = pipeline(models.WordPiece(unk_token=unk_token))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=[unk_token] + continuing, show_progress=False)
    scaffold.train_from_iterator(texts, trainer)
    # Rebuild from the learned vocabulary, so that the ## twins are ordinary pieces again.
    return pipeline(models.WordPiece(scaffold.get_vocab(), unk_token=unk_token))
