from collections import Counter

import pytest

from companion.text import UNK, Vocabulary, tokenize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", ["hello", "world"]),
        ("don't stop", ["don't", "stop"]),
        ("it’s curly", ["it's", "curly"]),
        ("state-of-the-art", ["state-of-the-art"]),
        ("-- dashes --", ["dashes"]),
        ("$3.5bn in 2017", ["3", "5bn", "in", "2017"]),
        ("", []),
        ("Ünïcode café in São Paulo", ["ünïcode", "café", "in", "são", "paulo"]),
        ("snake_case", ["snake", "case"]),
    ],
)
def test_tokenize(text, expected):
    assert tokenize(text) == expected


def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError, match="expects a str, got list"):
        tokenize(["a", "b"])


def test_vocabulary_orders_by_count_then_alphabet():
    vocab = Vocabulary(Counter({"b": 2, "a": 2, "c": 5, "d": 1}))
    assert vocab.tokens == [UNK, "c", "a", "b", "d"]
    assert vocab["c"] == 1 and vocab["zzz"] == 0


def test_vocabulary_min_count_and_max_size():
    docs = [["a"] * 5 + ["b"] * 3 + ["c"]]
    assert Vocabulary.build(docs, min_count=2).tokens == [UNK, "a", "b"]
    assert Vocabulary.build(docs, max_size=1).tokens == [UNK, "a"]
    vocab = Vocabulary.build(docs, min_count=2)
    assert vocab.frequencies() == [1, 5, 3]
    assert sum(vocab.frequencies()) == 9


def test_vocabulary_round_trip_and_errors():
    vocab = Vocabulary.build([["x", "y", "x"]])
    ids = vocab.encode(["x", "y", "q"])
    assert ids == [1, 2, 0]
    assert vocab.decode(ids) == ["x", "y", UNK]
    with pytest.raises(IndexError, match="valid ids: 0..2"):
        vocab.decode([3])
    with pytest.raises(ValueError, match="min_count must be a positive integer, got 0"):
        Vocabulary.build([["x"]], min_count=0)
    with pytest.raises(TypeError, match="call tokenize"):
        Vocabulary.build(["not tokenized"])


def test_vocabulary_agrees_with_scikit_learn_counts():
    from sklearn.feature_extraction.text import CountVectorizer

    texts = ["The cat sat on the mat.", "The dog ate the cat's food!", "A mat, a cat."]
    docs = [tokenize(t) for t in texts]
    ours = Vocabulary.build(docs).counts
    cv = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    totals = cv.fit_transform(texts).sum(axis=0).A1
    theirs = dict(zip(cv.get_feature_names_out(), totals.tolist()))
    assert dict(ours) == theirs
