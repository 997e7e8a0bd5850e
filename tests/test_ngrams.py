from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from companion.ngrams import NgramTable, check_ngram_range, ngram_vocabulary_growth, ngrams


def random_docs(seed, n_docs=25, words=("a", "b", "c", "d", "e"), max_len=15):
    rng = np.random.default_rng(seed)
    docs = [list(rng.choice(words, size=rng.integers(0, max_len))) for _ in range(n_docs)]
    return docs + [[]]


def test_ngrams_by_hand():
    assert ngrams(["man", "bites", "dog"], 1) == ["man", "bites", "dog"]
    assert ngrams(["man", "bites", "dog"], 2) == ["man bites", "bites dog"]
    assert ngrams(["man", "bites", "dog"], 3) == ["man bites dog"]
    assert ngrams(["man", "bites", "dog"], 4) == []
    assert ngrams(["dog", "bites", "man"], 1, 2) == ["dog", "bites", "man", "dog bites", "bites man"]
    assert ngrams([], 1, 3) == []


def test_bags_of_words_equal_bags_of_bigrams_differ():
    a, b = ["dog", "bites", "man"], ["man", "bites", "dog"]
    assert Counter(ngrams(a, 1)) == Counter(ngrams(b, 1))
    assert Counter(ngrams(a, 2)) != Counter(ngrams(b, 2))


@pytest.mark.parametrize("bad", [(2, 1), (0, 1), (1,), (1, 2, 3), "12", (1.0, 2), (True, 2), None, (1, -1)])
def test_check_ngram_range_names_the_bad_value(bad):
    with pytest.raises(ValueError, match=r"invalid ngram_range=" + __import__("re").escape(repr(bad))):
        check_ngram_range(bad)


def test_check_ngram_range_accepts_valid_ranges():
    assert check_ngram_range((1, 1)) == (1, 1)
    assert check_ngram_range([2, 3]) == (2, 3)
    assert check_ngram_range((np.int64(1), 2)) == (1, 2)


def test_ngrams_rejects_a_string():
    with pytest.raises(TypeError, match="call companion.text.tokenize"):
        ngrams("man bites dog", 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_min, n_max", [(1, 1), (1, 3), (2, 2), (2, 4)])
def test_table_counts_agree_with_scikit_learn(seed, n_min, n_max):
    docs = random_docs(seed)
    table = NgramTable.build(docs, max_n=n_max)
    found = table.find(docs, n_min, n_max)
    ours = [Counter() for _ in docs]
    for n, occ in found.items():
        for row, name in zip(occ.rows.tolist(), table.strings(n, occ.ids)):
            ours[row][name] += 1
    cv = CountVectorizer(analyzer="word", tokenizer=lambda d: d, preprocessor=lambda d: d,
                         lowercase=False, token_pattern=None, ngram_range=(n_min, n_max))
    counts = cv.fit_transform(docs).toarray()
    names = cv.get_feature_names_out()
    theirs = [Counter({names[j]: int(c) for j, c in enumerate(row) if c}) for row in counts]
    assert ours == theirs


def test_table_sizes_and_ids_by_hand():
    docs = [["a", "b", "a"], ["b", "a"]]
    table = NgramTable.build(docs, max_n=3)
    # unigrams a, b; bigrams "a b", "b a"; trigram "a b a"
    assert [table.size(n) for n in (1, 2, 3)] == [2, 2, 1]
    assert sorted(table.strings(2, range(2))) == ["a b", "b a"]
    assert table.strings(3, [0]) == ["a b a"]
    assert table.strings(2, []) == []


def test_ngrams_do_not_cross_document_boundaries():
    docs = [["a"], ["b"]]
    table = NgramTable.build(docs, max_n=2)
    assert table.size(2) == 0
    assert len(table.find([["a", "b"]], 2, 2)[2].ids) == 0


def test_find_skips_unseen_tokens_and_ngrams():
    table = NgramTable.build([["the", "cat", "sat"]], max_n=2)
    found = table.find([["the", "dog", "sat"], ["cat", "sat", "the"]], 1, 2)
    unigrams = table.strings(1, found[1].ids)
    assert list(zip(found[1].rows.tolist(), unigrams)) == [(0, "the"), (0, "sat"), (1, "cat"), (1, "sat"), (1, "the")]
    assert list(zip(found[2].rows.tolist(), table.strings(2, found[2].ids))) == [(1, "cat sat")]
    assert found[2].ends.tolist() == [5]


def test_unk_token_is_reserved():
    table = NgramTable.build([["a", "<unk>", "b"]], max_n=2)
    assert table.size(1) == 2 and table.size(2) == 0


def test_table_bad_input():
    table = NgramTable.build([["a", "b"]], max_n=2)
    with pytest.raises(ValueError, match=r"n=3 is outside this table, which holds n-grams of size 1..2"):
        table.size(3)
    with pytest.raises(IndexError, match=r"ids must lie in 0..0"):
        table.strings(2, [1])
    with pytest.raises(TypeError, match="document 0 is a str"):
        NgramTable.build(["a b"], max_n=1)
    with pytest.raises(TypeError, match="got a single str"):
        NgramTable.build("a b", max_n=1)
    with pytest.raises(TypeError, match="found a missing value"):
        NgramTable.build([["a", None]], max_n=1)
    with pytest.raises(ValueError, match=r"invalid ngram_range=\(1, 0\)"):
        NgramTable.build([["a"]], max_n=0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_vocabulary_growth_agrees_with_a_naive_count(n):
    docs = random_docs(3, n_docs=12)
    sizes = list(range(0, sum(map(len, docs)) + 1, 3))
    expected = []
    for size in sizes:
        seen, read = set(), 0
        for doc in docs:
            for i in range(len(doc) - n + 1):
                if read + i + n <= size:
                    seen.add(tuple(doc[i : i + n]))
            read += len(doc)
        expected.append(len(seen))
    occurrences = NgramTable.build(docs, max_n=n).find(docs, n, n)[n]
    assert ngram_vocabulary_growth(occurrences, sizes).tolist() == expected


def test_vocabulary_growth_rejects_negative_sizes():
    with pytest.raises(ValueError, match="non-negative token counts, got -1"):
        ngram_vocabulary_growth(NgramTable.build([["a"]], max_n=1).find([["a"]], 1, 1)[1], [-1, 2])
