"""Tests of companion.subwords: fastText n-grams against gensim, BPE against Hugging Face tokenizers."""

import json
from collections import Counter

import numpy as np
import pytest

from companion.subwords import (
    apply_bpe,
    bpe_merge_table,
    char_ngrams,
    fasttext_word_vector,
    learn_bpe,
    ngram_bucket,
    word_counts_of,
)

TOY = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al. (2016)
WORDS = ["where", "a", "ab", "her", "government", "goverment", "unpresidential", "aaaa", "café", "naïve", "são", "x-ray", "don't"]


# --------------------------------------------------------------------------- fastText n-grams


def test_char_ngrams_of_where_as_in_the_fasttext_paper():
    # Bojanowski et al. (2017), section 3.2: the 3-grams of "where".
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]


def test_char_ngrams_counts_by_hand():
    # "<where>" has 7 characters: 5 trigrams, 4 four-grams, 3 five-grams, 2 six-grams.
    assert len(char_ngrams("where", 3, 6)) == 5 + 4 + 3 + 2
    assert "<where>" not in char_ngrams("where", 3, 6)  # 7 characters > max_n
    assert char_ngrams("a", 3, 6) == ["<a>"]


@pytest.mark.parametrize("min_n,max_n", [(3, 6), (1, 3), (2, 2), (3, 10)])
def test_char_ngrams_equal_gensims(min_n, max_n):
    from gensim.models.fasttext_inner import compute_ngrams, compute_ngrams_bytes

    for word in WORDS:
        if min_n > 1:  # gensim's str version keeps the lone markers '<', '>' as 1-grams; fastText does not
            assert char_ngrams(word, min_n, max_n) == compute_ngrams(word, min_n, max_n), word
        # The byte-level version (used for hashing) lists the same n-grams in another order.
        as_bytes = [g.decode("utf-8") for g in compute_ngrams_bytes(word, min_n, max_n)]
        assert sorted(char_ngrams(word, min_n, max_n)) == sorted(as_bytes), word


def test_ngram_bucket_equals_gensims_hash():
    from gensim.models.fasttext import ft_ngram_hashes
    from gensim.models.fasttext_inner import ft_hash_bytes

    for word in WORDS:
        for gram in char_ngrams(word, 1, 6):
            assert ngram_bucket(gram, 2**32) == ft_hash_bytes(gram.encode("utf-8")), gram
        ours = sorted(ngram_bucket(g, 2_000_000) for g in char_ngrams(word, 3, 6))
        assert ours == sorted(ft_ngram_hashes(word, 3, 6, 2_000_000)), word


def test_ngram_bucket_of_empty_string_is_the_fnv_offset():
    # FNV-1a of no bytes is its offset basis, 2166136261 (that is why empty input is refused).
    with pytest.raises(ValueError, match="non-empty"):
        ngram_bucket("")
    assert ngram_bucket("a", 2**32) == ((2166136261 ^ ord("a")) * 16777619) % 2**32


@pytest.fixture(scope="module")
def tiny_fasttext():
    from gensim.models import FastText

    sentences = [["the", "government", "said", "the", "president", "spoke"]] * 20 + [["governments", "presidents", "spoke"]] * 5
    return FastText(sentences=sentences, vector_size=16, min_count=1, epochs=2, workers=1, seed=0, bucket=5000)


@pytest.mark.parametrize("word", ["government", "the", "goverment", "presidentt", "zqxj", "a"])
def test_fasttext_word_vector_equals_gensims(tiny_fasttext, word):
    wv = tiny_fasttext.wv
    np.testing.assert_allclose(fasttext_word_vector(wv, word), wv[word], rtol=1e-5, atol=1e-6)


def test_fasttext_word_vector_refuses_plain_keyed_vectors():
    from companion.vectors import keyed_vectors

    kv = keyed_vectors(["a", "b"], np.eye(2))
    with pytest.raises(TypeError, match="FastTextKeyedVectors"):
        fasttext_word_vector(kv, "a")


@pytest.mark.parametrize("bad", [dict(min_n=0, max_n=3), dict(min_n=4, max_n=3), dict(min_n=3.0, max_n=6)])
def test_char_ngrams_bad_sizes(bad):
    with pytest.raises(ValueError, match="min_n"):
        char_ngrams("word", **bad)


def test_char_ngrams_bad_word():
    with pytest.raises(ValueError, match="non-empty"):
        char_ngrams("")
    with pytest.raises(TypeError, match="str"):
        char_ngrams(["word"])


# --------------------------------------------------------------------------- BPE against tokenizers


def _tokenizers_bpe(word_counts, num_merges, suffix=None):
    """Train Hugging Face's BPE on the same word counts; return (tokenizer, merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    kwargs = {"end_of_word_suffix": suffix} if suffix else {}
    tokenizer = Tokenizer(models.BPE(**kwargs))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    alphabet = {ch for word in word_counts for ch in word}
    marked = {word[-1] + suffix for word in word_counts} if suffix else set()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + len(marked) + num_merges, show_progress=False, **kwargs)
    text = " ".join(word for word, count in sorted(word_counts.items()) for _ in range(count))
    tokenizer.train_from_iterator([text], trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return tokenizer, [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]


def test_toy_merges_by_hand():
    # Pair counts at the start: e+s = s+t</w> = 6 (newest) + 3 (widest) = 9, the most.
    # The tie goes to e+s ('e' is older than 's'); then es+t</w> (9); then l+o (5 + 2 = 7);
    # then three pairs of count 6 (n+e, e+w, w+est</w>, all from "newest"): e+w has the oldest left symbol.
    table = bpe_merge_table(TOY, 4)
    assert table["merge"].tolist() == ["e + s", "es + t</w>", "l + o", "e + w"]
    assert table["count"].tolist() == [9, 9, 7, 6]
    assert table["corpus after"].iloc[-1] == "lo w</w> x5, lo w e r</w> x2, n ew est</w> x6, w i d est</w> x3"


@pytest.mark.parametrize("suffix", [None, "</w>"])
def test_toy_merges_equal_tokenizers(suffix):
    # 15 merges exhaust the toy corpus (every word becomes one symbol); ties occur at several steps.
    _, theirs = _tokenizers_bpe(TOY, 15, suffix)
    assert learn_bpe(TOY, 15, suffix or "") == theirs


@pytest.fixture(scope="module")
def news_word_counts():
    from companion.datasets import news_tokens

    return word_counts_of(news_tokens()[:200])


@pytest.mark.parametrize("suffix", [None, "</w>"])
def test_news_merges_and_segmentations_equal_tokenizers(news_word_counts, suffix):
    tokenizer, theirs = _tokenizers_bpe(news_word_counts, 300, suffix)
    ours = learn_bpe(news_word_counts, 300, suffix or "")
    assert len(ours) == 300 and ours == theirs
    from companion.datasets import news_tokens

    alphabet = {ch for word in news_word_counts for ch in word}
    unseen = sorted({w for doc in news_tokens()[200:230] for w in doc if set(w) <= alphabet})
    assert len(unseen) > 1000
    for word in unseen:
        assert apply_bpe(word, ours, suffix or "") == tokenizer.encode(word).tokens, word


def test_learning_stops_when_every_word_is_one_symbol():
    # "ab" x1 has one pair; after merging it nothing is left, whatever num_merges asks.
    assert learn_bpe({"ab": 1}, 5, end_of_word="") == [("a", "b")]
    assert learn_bpe({"ab": 1}, 0) == []
    assert learn_bpe({"a": 3}, 2) == []


def test_overlapping_pairs_merge_left_to_right():
    # "aaa" has two overlapping a+a pairs, counted 2; merging left to right gives aa a.
    assert learn_bpe({"aaa": 1}, 1, end_of_word="") == [("a", "a")]
    assert apply_bpe("aaa", [("a", "a")], end_of_word="") == ["aa", "a"]
    assert apply_bpe("aaaa", [("a", "a"), ("aa", "aa")], end_of_word="") == ["aaaa"]


def test_apply_bpe_uses_merge_order_not_position():
    # b+c was learned first, so "abc" becomes a bc even though a+b comes first in the word.
    assert apply_bpe("abc", [("b", "c"), ("a", "b")], end_of_word="") == ["a", "bc"]
    assert apply_bpe("abc", [("a", "b"), ("b", "c")], end_of_word="") == ["ab", "c"]
    assert apply_bpe("xyz", [("a", "b")]) == ["x", "y", "z</w>"]


@pytest.mark.parametrize("num_merges", [-1, 2.5, "3", True])
def test_bad_num_merges(num_merges):
    with pytest.raises(ValueError, match="num_merges must be a non-negative integer"):
        learn_bpe(TOY, num_merges)


@pytest.mark.parametrize(
    "corpus,message",
    [({}, "word_counts is empty"), (Counter(), "word_counts is empty"), ({"low": 0}, "count of 'low'"),
     ({"low": -2}, "count of 'low'"), ({"low": 1.5}, "count of 'low'"), ({"new york": 2}, "whitespace"),
     ({"": 2}, "non-empty")],
)
def test_bad_corpus(corpus, message):
    with pytest.raises(ValueError, match=message):
        learn_bpe(corpus, 3)


def test_corpus_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        learn_bpe(["low", "lower"], 3)
    with pytest.raises(TypeError, match="tokenized"):
        word_counts_of("low lower")


def test_apply_bpe_bad_input():
    with pytest.raises(ValueError, match="whitespace"):
        apply_bpe("new york", [])
    with pytest.raises(TypeError, match="pairs"):
        apply_bpe("low", ["lo"])


# --------------------------------------------------------------------------- tokenizers on raw text

_TRAIN_SCRIPT = """
import json, sys
from companion.datasets import news_articles
from companion.subwords import train_subword_tokenizer
texts = news_articles()["text"].iloc[:300].tolist()
print(json.dumps(sorted(train_subword_tokenizer(texts, sys.argv[1], vocab_size=2000).get_vocab().items())))
"""


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_train_subword_tokenizer_is_reproducible_across_processes(kind):
    # The plain WordPieceTrainer's vocabulary changes between processes (hash-map order); ours must not.
    import subprocess
    import sys

    runs = {
        subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, kind], capture_output=True, text=True, check=True,
                       env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in (1, 2)
    }
    assert len(runs) == 1


def test_train_subword_tokenizer_pieces():
    from companion.datasets import news_articles
    from companion.subwords import train_subword_tokenizer

    texts = news_articles()["text"].iloc[:300].tolist()
    wordpiece = train_subword_tokenizer(texts, "wordpiece", vocab_size=2000)
    vocab = wordpiece.get_vocab()
    assert len(vocab) == 2000 and "[UNK]" in vocab
    alphabet = {ch for text in texts for ch in text.lower() if not ch.isspace()}
    assert {f"##{ch}" for ch in alphabet} <= set(vocab)
    pieces = wordpiece.encode("Unpresidential").tokens
    assert "".join(p.removeprefix("##") for p in pieces) == "unpresidential"
    assert pieces[0][:2] != "##" and all(p.startswith("##") for p in pieces[1:])
    bpe = train_subword_tokenizer(texts, "bpe", vocab_size=2000)
    assert len(bpe.get_vocab()) == 2000
    assert "".join(bpe.encode("Unpresidential").tokens) == "unpresidential"
    assert bpe.encode("ꙮ").tokens == ["[UNK]"]  # a character never seen in training


@pytest.mark.parametrize(
    "texts,kind,vocab_size,error,message",
    [(["a b"], "unigram", 100, ValueError, "kind must be"), (["a b"], "bpe", 0, ValueError, "vocab_size"),
     ([], "bpe", 100, ValueError, "non-empty"), ("a b", "bpe", 100, TypeError, "single str")],
)
def test_train_subword_tokenizer_bad_input(texts, kind, vocab_size, error, message):
    from companion.subwords import train_subword_tokenizer

    with pytest.raises(error, match=message):
        train_subword_tokenizer(texts, kind, vocab_size)
