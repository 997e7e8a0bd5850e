"""Tests for companion.translation: translation matrix, Procrustes maps, precision@k, prompts, chrF."""

import random
from collections import Counter

import numpy as np
import pytest
import torch

from companion.alignment import procrustes
from companion.translation import (
    LANGUAGES,
    bilingual_spaces,
    cached_translations,
    chrf,
    few_shot_prompt,
    gemma_word_vectors,
    load_dictionary,
    load_few_shot,
    load_sentences,
    nearest_targets,
    orthogonal_map,
    pair_matrices,
    translate_sentences,
    translation_matrix,
    word_translation_precision,
)
from companion.vectors import keyed_vectors


# --------------------------------------------------------------------------- translation matrix


def test_translation_matrix_recovers_a_known_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    W = rng.normal(size=(4, 3))
    assert np.allclose(translation_matrix(X, X @ W), W)


def test_translation_matrix_is_least_squares_and_minimum_norm():
    rng = np.random.default_rng(1)
    for n, d in ((40, 5), (5, 12)):  # over- and under-determined
        X, Z = rng.normal(size=(n, d)), rng.normal(size=(n, 3))
        W = translation_matrix(X, Z)
        assert np.allclose(W, np.linalg.lstsq(X, Z, rcond=None)[0])
        assert np.allclose(W, np.linalg.pinv(X) @ Z)
    # under-determined: the pairs are fitted exactly
    assert np.allclose(X @ W, Z)


def test_translation_matrix_agrees_with_gensim_on_the_toy_data():
    from gensim.models import KeyedVectors, TranslationMatrix
    from gensim.test.utils import datapath

    en = KeyedVectors.load_word2vec_format(datapath("EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt"))
    it = KeyedVectors.load_word2vec_format(datapath("IT.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt"))
    with open(datapath("OPUS_en_it_europarl_train_one2ten.txt"), encoding="utf-8") as handle:
        pairs = [tuple(line.split()) for line in handle if line.strip()]
    assert len(pairs) == 20
    train = pairs[::2] + pairs[1:8:2]  # 14 pairs, not the full list
    X, Z = pair_matrices(en, it, train)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    ours = translation_matrix(X, Z)
    theirs = TranslationMatrix(en, it, word_pairs=train).translation_matrix
    assert ours.shape == theirs.shape == (300, 300)
    assert np.allclose(ours, theirs, atol=1e-6)  # gensim returns float32


@pytest.mark.parametrize("X, Z, message", [
    (np.zeros((0, 3)), np.zeros((0, 2)), "empty"),
    (np.ones((3, 2)), np.ones((4, 2)), "one row per pair"),
    (np.ones(3), np.ones((3, 2)), "2-D"),
])
def test_translation_matrix_bad_input(X, Z, message):
    with pytest.raises(ValueError, match=message):
        translation_matrix(X, Z)


# --------------------------------------------------------------------------- Procrustes


def test_orthogonal_map_equals_procrustes_when_source_is_larger():
    rng = np.random.default_rng(2)
    X, Z = rng.normal(size=(20, 6)), rng.normal(size=(20, 4))
    assert np.allclose(orthogonal_map(X, Z), procrustes(X, Z))


def test_orthogonal_map_into_a_larger_space_recovers_an_isometric_embedding():
    rng = np.random.default_rng(3)
    Q = np.linalg.qr(rng.normal(size=(5, 3)))[0].T  # 3 x 5, orthonormal rows
    X = rng.normal(size=(25, 3))
    W = orthogonal_map(X, X @ Q)
    assert W.shape == (3, 5)
    assert np.allclose(W @ W.T, np.eye(3))
    assert np.allclose(W, Q)


def test_orthogonal_map_equals_scipy_when_the_pairs_fix_the_rotation():
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(4)
    X, Z = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    assert np.allclose(orthogonal_map(X, Z), orthogonal_procrustes(X, Z)[0])


def test_orthogonal_map_with_fewer_pairs_than_dimensions_is_the_best_fit_closest_to_the_identity():
    """15 pairs in 40 dimensions fix the rotation on at most 15 directions; the SVD's choice of the
    rest is rounding. The map returned is a best fit (the same objective as scipy's), orthogonal,
    the identity on directions orthogonal to every pair, and the same whatever the order of the pairs."""
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(5)
    n, d = 15, 40
    X, Z = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    W = orthogonal_map(X, Z)
    scipy_W = orthogonal_procrustes(X, Z)[0]
    assert np.allclose(W @ W.T, np.eye(d))
    assert np.isclose(np.trace(W.T @ X.T @ Z), np.trace(scipy_W.T @ X.T @ Z))
    assert np.trace(W) > np.trace(scipy_W) + 1.0  # scipy fills the free directions arbitrarily
    basis = np.linalg.qr(np.vstack([X, Z]).T, mode="complete")[0][:, 2 * n:]  # orthogonal to all pairs
    assert np.allclose(basis.T @ W, basis.T)
    order = rng.permutation(n)
    assert np.allclose(orthogonal_map(X[order], Z[order]), W, atol=1e-12)
    # the identity, when the pairs already agree, whatever the number of pairs
    assert np.allclose(orthogonal_map(X, X), np.eye(d))


def test_orthogonal_map_bad_input():
    with pytest.raises(ValueError, match="empty"):
        orthogonal_map(np.zeros((0, 2)), np.zeros((0, 3)))


# --------------------------------------------------------------------------- precision@k


@pytest.fixture
def toy_spaces():
    # English "a", "b", "c" point along x, y, -x; their "French" translations A, B, C too,
    # rotated by 90 degrees: the rotation maps each source word onto its translation.
    source = keyed_vectors(["a", "b", "c"], np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.1]]))
    target = keyed_vectors(["A", "B", "C"], np.array([[0.0, 1.0], [-1.0, 0.0], [-0.1, -1.0]]))
    pairs = [("a", "A"), ("b", "B"), ("c", "C")]
    rotation = np.array([[0.0, 1.0], [-1.0, 0.0]])
    return source, target, pairs, rotation


def test_word_translation_precision_hand_case(toy_spaces):
    source, target, pairs, rotation = toy_spaces
    assert word_translation_precision(source, target, pairs, pairs, rotation, k=(1, 3)) == {"p@1": 1.0, "p@3": 1.0}
    # Without the map: a=(1,0) has cosines 0, -1, -0.0995 with A, B, C, so A wins;
    # b=(0,1) -> A (cosine 1); c=(-1,0.1) -> B (cosine 0.995). Only a is right.
    assert word_translation_precision(source, target, pairs, pairs, None, k=(1,)) == {"p@1": pytest.approx(1 / 3)}
    assert nearest_targets(source, target, ["a", "b", "c"], pairs, None) == [["A"], ["A"], ["B"]]
    # b maps to (-1, 0): cosine 1 with B, 0.0995 with C, 0 with A
    assert nearest_targets(source, target, ["b"], pairs, rotation, k=2) == [["B", "C"]]


def test_word_translation_precision_bad_input(toy_spaces):
    source, target, pairs, rotation = toy_spaces
    with pytest.raises(ValueError, match="larger than the candidate set"):
        word_translation_precision(source, target, pairs[:1], pairs, rotation, k=(1, 5))
    with pytest.raises(ValueError, match="empty"):
        word_translation_precision(source, target, [], pairs, rotation)
    with pytest.raises(ValueError, match="not among the candidates"):
        word_translation_precision(source, target, pairs, pairs[:2], rotation)
    with pytest.raises(KeyError, match="'zebra'"):
        word_translation_precision(source, target, [("zebra", "A")], [("zebra", "A")], rotation, k=(1,))
    with pytest.raises(KeyError, match="'ZEBRE'"):
        word_translation_precision(source, target, [("a", "ZEBRE")], [("a", "ZEBRE")], rotation, k=(1,))
    with pytest.raises(ValueError, match="positive integers"):
        word_translation_precision(source, target, pairs, pairs, rotation, k=(0,))
    with pytest.raises(ValueError, match="k must be an integer from 1"):
        nearest_targets(source, target, ["a"], pairs, rotation, k=4)
    with pytest.raises(KeyError, match="'zebra'"):
        nearest_targets(source, target, ["zebra"], pairs, rotation)


def test_bilingual_spaces_keys_and_duplicates(toy_spaces):
    source, target, pairs, _ = toy_spaces
    src, tgt = bilingual_spaces(source, target, pairs)
    assert src.index_to_key == tgt.index_to_key == ["a", "b", "c"]
    assert np.allclose(tgt["b"], target["B"])
    with pytest.raises(ValueError, match="repeated"):
        bilingual_spaces(source, target, [("a", "A"), ("b", "A")])


# --------------------------------------------------------------------------- Gemma rows


class _FakeVocabTokenizer:
    def get_vocab(self):
        return {"\u2581chat": 0, "chat": 1, "\u2581chien": 2, "maison": 3}


def test_gemma_word_vectors_selects_single_token_rows():
    embedding = torch.arange(8, dtype=torch.bfloat16).reshape(4, 2)
    kv, missing = gemma_word_vectors(_FakeVocabTokenizer(), embedding, ["chat", "chien", "maison"])
    assert kv.index_to_key == ["chat", "chien"] and missing == ["maison"]
    assert kv["chien"].tolist() == [4.0, 5.0]
    kv, missing = gemma_word_vectors(_FakeVocabTokenizer(), embedding, ["chat", "chien", "maison"], leading_space=False)
    assert kv.index_to_key == ["chat", "maison"] and missing == ["chien"]
    assert kv["chat"].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="no words"):
        gemma_word_vectors(_FakeVocabTokenizer(), embedding, [])
    with pytest.raises(KeyError, match="single Gemma token"):
        gemma_word_vectors(_FakeVocabTokenizer(), embedding, ["zèbre"])


# --------------------------------------------------------------------------- data


def test_dictionary_rules():
    pairs = load_dictionary("en-fr")
    assert len(pairs) >= 300
    for side in (0, 1):
        words = [p[side] for p in pairs]
        assert len(set(words)) == len(words), Counter(words).most_common(3)
    assert all(en != fr and en and fr and " " not in fr for en, fr in pairs)
    assert ("dog", "chien") in pairs
    with pytest.raises(ValueError, match="unknown dictionary 'en-xx'"):
        load_dictionary("en-xx")


def test_sentences_and_shots():
    for language in LANGUAGES:
        data = load_sentences(language)
        assert len(data) == 24 and all(en.strip() and ref.strip() for en, ref in data)
        shots = load_few_shot(language)
        assert len(shots) == 3
        assert not {en for en, _ in shots} & {en for en, _ in data}  # the examples are not test sentences
    assert load_sentences("fr")[0][0] == load_sentences("de")[0][0]
    with pytest.raises(ValueError, match="unknown language code 'it'"):
        load_sentences("it")
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        load_few_shot("xx")


def test_few_shot_prompt_format_and_bad_input():
    prompt = few_shot_prompt("Good night.", "de", [("Hello.", "Hallo.")])
    assert prompt == "English: Hello.\nGerman: Hallo.\n\nEnglish: Good night.\nGerman:"
    with pytest.raises(ValueError, match="unknown language code 'klingon'"):
        few_shot_prompt("Hi.", "klingon", [])
    with pytest.raises(ValueError, match="non-empty"):
        few_shot_prompt("  ", "fr", [])
    with pytest.raises(ValueError, match="newline"):
        few_shot_prompt("Hi.\nYou.", "fr", [])


# --------------------------------------------------------------------------- batched generation (a stub model)


class _StubTokenizer:
    """Characters are tokens: id = ord(c); 0 is padding, 1 end of sequence, 10 the newline."""

    eos_token_id, pad_token_id = 1, 0

    def __init__(self):
        self.padding_side = "right"

    def get_vocab(self):
        return {"<pad>": 0, "<eos>": 1, "\n": 10, "\n\n": 11, "a": 97}

    def __call__(self, texts, return_tensors, padding):
        width = max(len(t) for t in texts)
        rows = [[ord(c) for c in t] for t in texts]
        assert self.padding_side == "left"
        return {"input_ids": torch.tensor([[0] * (width - len(r)) + r for r in rows])}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids if i > 1)


class _StubModel:
    """Answers with the prompt's length as digits, then a double newline, then junk."""

    def __init__(self):
        self.calls = 0

    def generate(self, input_ids, max_new_tokens, do_sample, eos_token_id, pad_token_id):
        self.calls += 1
        assert not do_sample and 11 in eos_token_id and 10 in eos_token_id
        new = []
        for row in input_ids.tolist():
            answer = [ord(c) for c in f" {sum(t > 0 for t in row)}"] + [11] + [ord("x")] * 5
            new.append(answer[:max_new_tokens])
        width = max(len(r) for r in new)
        new = torch.tensor([r + [pad_token_id] * (width - len(r)) for r in new])
        return torch.cat([input_ids, new], dim=1)


def test_translate_sentences_batches_and_stops_at_the_newline():
    tokenizer, model = _StubTokenizer(), _StubModel()
    sources = ["One.", "Three words here."]
    out = translate_sentences(model, tokenizer, sources, "fr", [], batch_size=1)
    expected = [str(len(few_shot_prompt(s, "fr", []))) for s in sources]
    assert out == expected and model.calls == 2
    assert translate_sentences(model, tokenizer, sources, "fr", [], batch_size=8) == expected
    assert tokenizer.padding_side == "right"  # restored
    with pytest.raises(ValueError, match="no sentences"):
        translate_sentences(model, tokenizer, [], "fr", [])
    with pytest.raises(ValueError, match="batch_size"):
        translate_sentences(model, tokenizer, sources, "fr", [], batch_size=0)
    with pytest.raises(ValueError, match="unknown language code 'pt'"):
        translate_sentences(model, tokenizer, sources, "pt", [])


def test_cached_translations_builds_once(tmp_cache):
    model = _StubModel()
    loads = []

    def load():
        loads.append(1)
        return _StubTokenizer(), model

    first = cached_translations("stub", load, ["Hi."], "es", [("Yes.", "Sí.")])
    again = cached_translations("stub", load, ["Hi."], "es", [("Yes.", "Sí.")])
    other = cached_translations("stub", load, ["Hi."], "es", [("No.", "No.")])  # another prompt, another entry
    assert first == again and len(loads) == 2 and other != first
    with pytest.raises(ValueError, match="no sentences"):
        cached_translations("stub", load, [], "es", [])


# --------------------------------------------------------------------------- chrF


def test_chrf_hand_cases():
    assert chrf(["ab"], ["ac"], char_order=2) == pytest.approx(25.0)  # P = R = (1/2 + 0) / 2
    assert chrf(["le chat"], ["le chat"]) == pytest.approx(100.0)
    assert chrf(["xyz"], ["abc"]) == 0.0
    assert chrf(["lechat"], ["le chat"]) == pytest.approx(100.0)  # whitespace is ignored


def test_chrf_agrees_with_sacrebleu():
    import sacrebleu

    rng = random.Random(0)
    alphabet = "abcdé fgh"
    for _ in range(20):
        n = rng.randint(1, 6)
        hyps = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(n)]
        refs = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))) for _ in range(n)]
        assert chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    hyps = [e for e, _ in load_sentences("fr")]  # the copy floor of the chapter
    refs = [r for _, r in load_sentences("fr")]
    assert chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


def test_chrf_bad_input():
    with pytest.raises(ValueError, match="empty"):
        chrf([], [])
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        chrf(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="char_order"):
        chrf(["a"], ["a"], char_order=0)
