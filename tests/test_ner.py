"""Tests for companion.ner: BIO spans, entity scores (against seqeval), data, features, probe."""

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from companion import ner


# --- BIO tags and spans -------------------------------------------------------------------------

def test_bio_spans_hand_case():
    tags = ["B-PERSON", "I-PERSON", "O", "B-GPE", "B-GPE", "I-ORG", "I-ORG", "O", "I-PERSON"]
    # I-ORG after a GPE and I-PERSON after O each start a new entity (CoNLL rule).
    assert ner.bio_spans(tags) == [("PERSON", 0, 2), ("GPE", 3, 4), ("GPE", 4, 5), ("ORG", 5, 7), ("PERSON", 8, 9)]


def test_spans_to_bio_round_trip():
    spans = [("ORG", 4, 7), ("PERSON", 0, 2), ("GPE", 7, 8)]
    tags = ner.spans_to_bio(spans, 9)
    assert tags == ["B-PERSON", "I-PERSON", "O", "O", "B-ORG", "I-ORG", "I-ORG", "B-GPE", "O"]
    assert ner.bio_spans(tags) == sorted(spans, key=lambda s: s[1])


def test_types_to_bio_and_back():
    labels = ["PERSON", "PERSON", "O", "GPE", "ORG", "ORG"]
    tags = ner.types_to_bio(labels)
    assert tags == ["B-PERSON", "I-PERSON", "O", "B-GPE", "B-ORG", "I-ORG"]
    assert ner.tags_to_types(tags) == labels


@pytest.mark.parametrize("tags, message", [
    ([], "empty sentence"),
    (["O", "X-PERSON"], "not a BIO tag"),
    (["B-"], "not a BIO tag"),
    (["B-LOC"], "unknown"),
    (["o"], "not a BIO tag"),
])
def test_check_tags_rejects_bad_tags(tags, message):
    with pytest.raises(ValueError, match=message):
        ner.check_tags(tags)


def test_check_tags_rejects_string():
    with pytest.raises(TypeError):
        ner.check_tags("B-PERSON")


@pytest.mark.parametrize("spans, length", [
    ([("PERSON", 0, 3)], 2), ([("PERSON", 1, 1)], 3), ([("PERSON", 0, 2), ("ORG", 1, 3)], 4),
    ([("LOC", 0, 1)], 2), ([], 0)])
def test_spans_to_bio_rejects_bad_spans(spans, length):
    with pytest.raises(ValueError):
        ner.spans_to_bio(spans, length)


def test_types_to_bio_rejects_unknown_label_and_empty():
    with pytest.raises(ValueError, match="'LOC'"):
        ner.types_to_bio(["O", "LOC"])
    with pytest.raises(ValueError, match="empty"):
        ner.types_to_bio([])


# --- entity scores ------------------------------------------------------------------------------

def test_entity_scores_hand_computed():
    gold = [["B-PERSON", "I-PERSON", "O", "B-GPE", "O", "B-ORG", "I-ORG", "O", "O"]]
    pred = [["B-PERSON", "O", "O", "B-GPE", "O", "B-ORG", "I-ORG", "O", "B-ORG"]]
    scores = ner.entity_scores(gold, pred)
    # gold 3, predicted 4, correct 2 (GPE, ORG): P = 1/2, R = 2/3, F1 = 4/7.
    assert (scores["gold"], scores["predicted"], scores["correct"]) == (3, 4, 2)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(4 / 7)


def test_entity_scores_no_predictions_is_zero():
    scores = ner.entity_scores([["B-GPE", "O"]], [["O", "O"]])
    assert scores["precision"] == 0 and scores["recall"] == 0 and scores["f1"] == 0


def _random_tags(rng, n):
    choices = ["O", "O", "O", "B-PERSON", "I-PERSON", "B-ORG", "I-ORG", "B-GPE", "I-GPE"]
    return [choices[i] for i in rng.integers(0, len(choices), size=n)]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_entity_scores_agree_with_seqeval():
    rng = np.random.default_rng(0)
    for _ in range(300):
        lengths = rng.integers(1, 12, size=rng.integers(1, 6))
        gold = [_random_tags(rng, n) for n in lengths]
        pred = [_random_tags(rng, n) for n in lengths]
        ours = ner.entity_scores(gold, pred)
        assert ours["precision"] == pytest.approx(precision_score(gold, pred))
        assert ours["recall"] == pytest.approx(recall_score(gold, pred))
        assert ours["f1"] == pytest.approx(f1_score(gold, pred))


def test_entity_report_per_type_agrees_with_seqeval():
    from seqeval.metrics import classification_report

    rng = np.random.default_rng(1)
    gold = [_random_tags(rng, 15) for _ in range(40)]
    pred = [_random_tags(rng, 15) for _ in range(40)]
    report = ner.entity_report(gold, pred)
    theirs = classification_report(gold, pred, output_dict=True)
    for kind in ner.ENTITY_TYPES:
        assert report.loc[kind, "f1"] == pytest.approx(theirs[kind]["f1-score"])
        assert report.loc[kind, "gold"] == theirs[kind]["support"]
    assert report.loc["all", "f1"] == pytest.approx(theirs["micro avg"]["f1-score"])


@pytest.mark.parametrize("gold, pred, error", [
    ([["O", "B-GPE"]], [["O"]], ValueError),          # token/tag lengths differ
    ([["O"]], [["O"], ["O"]], ValueError),            # sentence counts differ
    ([[]], [[]], ValueError),                         # empty sentence
    ([], [], ValueError),                             # nothing to evaluate
    ([["X-PER"]], [["O"]], ValueError),               # invalid BIO tag
    ([["B-MISC"]], [["O"]], ValueError),              # unknown type
    (["B-GPE O"], [["O"]], TypeError),
])
def test_entity_scores_rejects_bad_input(gold, pred, error):
    with pytest.raises(error):
        ner.entity_scores(gold, pred)


# --- labels and data ----------------------------------------------------------------------------

def test_map_label():
    assert ner.map_label("PERSON") == "PERSON"
    assert ner.map_label("NORP") == "O"
    assert ner.map_label("LOC", types=("LOC",)) == "LOC"
    with pytest.raises(ValueError, match="'PER'"):
        ner.map_label("PER")


def test_load_gold():
    gold = ner.load_gold()
    assert len(gold) == 40
    assert all(len(tokens) == len(tags) > 0 for tokens, tags in gold)
    counts = {kind: sum(s[0] == kind for _, tags in gold for s in ner.bio_spans(tags)) for kind in ner.ENTITY_TYPES}
    assert counts == {"PERSON": 30, "ORG": 33, "GPE": 35}
    first_tokens, first_tags = gold[0]
    assert first_tokens[:2] == ["Angela", "Merkel"] and first_tags[:2] == ["B-PERSON", "I-PERSON"]


def test_load_gold_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("Paris\tB-GPE\nis\tO\textra\n")
    with pytest.raises(ValueError, match="line 2"):
        ner.load_gold(bad)
    bad.write_text("Paris\tX-GPE\n")
    with pytest.raises(ValueError, match="X-GPE"):
        ner.load_gold(bad)
    bad.write_text("# only a comment\n\n")
    with pytest.raises(ValueError, match="no sentences"):
        ner.load_gold(bad)


# --- features -----------------------------------------------------------------------------------

def test_static_vectors_unknown_words_are_zero():
    from companion.vectors import keyed_vectors

    kv = keyed_vectors(["paris", "is"], [[1.0, 2.0], [3.0, 4.0]])
    X, known = ner.static_vectors([["Paris", "is"], ["zzz"]], kv)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [0, 0]])
    assert known.tolist() == [True, True, False]
    _, known_cased = ner.static_vectors([["Paris"]], kv, lowercase=False)
    assert known_cased.tolist() == [False]
    with pytest.raises(ValueError, match="sentence 1"):
        ner.static_vectors([["a"], []], kv)
    with pytest.raises(TypeError):
        ner.static_vectors("Paris is", kv)


class _FakeTokenizerOutput(dict):
    def __init__(self, data, word_ids):
        super().__init__(data)
        self._word_ids = word_ids

    def word_ids(self, b):
        return self._word_ids[b]


def test_minilm_word_vectors_alignment_with_a_fake_encoder():
    """Word pieces are pooled per word: mean or first piece, in the original sentence order."""
    import torch
    from types import SimpleNamespace

    # Sentence A: words "Merkel" -> pieces at positions 1, 2; "spoke" -> 3. Sentence B: "Hi" -> 1.
    pieces = {("Merkel", "spoke"): [None, 0, 0, 1, None], ("Hi",): [None, 0, None]}

    def tokenizer(chunk, **kwargs):
        width = max(len(pieces[tuple(s)]) for s in chunk)
        ids = torch.tensor([[10 + i for i in range(width)] for _ in chunk])
        return _FakeTokenizerOutput({"input_ids": ids}, [pieces[tuple(s)] + [None] * (width - len(pieces[tuple(s)]))
                                                        for s in chunk])

    class Model:
        config = SimpleNamespace(num_hidden_layers=1, max_position_embeddings=512)

        def __call__(self, input_ids, output_hidden_states):
            h0 = input_ids.unsqueeze(-1).float().repeat(1, 1, 2)   # vector of position p is (10 + p, 10 + p)
            return SimpleNamespace(hidden_states=(h0, -h0))

    sentences = [["Merkel", "spoke"], ["Hi"]]
    mean = ner.minilm_word_vectors(sentences, tokenizer, Model(), layers=(0, 1), pool="mean")
    np.testing.assert_allclose(mean[0], [[11.5, 11.5], [13, 13], [11, 11]])
    np.testing.assert_allclose(mean[1], -mean[0])
    first = ner.minilm_word_vectors(sentences, tokenizer, Model(), layers=(0,), pool="first")
    np.testing.assert_allclose(first[0], [[11, 11], [13, 13], [11, 11]])
    with pytest.raises(ValueError, match="pool"):
        ner.minilm_word_vectors(sentences, tokenizer, Model(), pool="max")
    with pytest.raises(ValueError, match="layer"):
        ner.minilm_word_vectors(sentences, tokenizer, Model(), layers=(2,))
    with pytest.raises(ValueError, match="sentence 0"):
        ner.minilm_word_vectors([[]], tokenizer, Model())


def test_fit_probe_learns_a_separable_toy_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-3, 1, size=(50, 2)), rng.normal(3, 1, size=(50, 2))])
    y = np.array(["O"] * 50 + ["PERSON"] * 50)
    assert (ner.fit_probe(X, y).predict(X) == y).mean() > 0.95
    with pytest.raises(ValueError, match="two labels"):
        ner.fit_probe(X, np.array(["O"] * 100))
    with pytest.raises(ValueError, match="one label per row"):
        ner.fit_probe(X, y[:10])
    with pytest.raises(ValueError, match="C must be positive"):
        ner.fit_probe(X, y, C=0)


def test_news_sample_bad_input():
    with pytest.raises(ValueError, match="n_articles"):
        ner.news_sample(1)
    with pytest.raises(ValueError, match="min_chars"):
        ner.news_sample(10, min_chars=500, max_chars=100)


# --- spaCy --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nlp():
    from companion.models import load_spacy_md

    return load_spacy_md()


def test_spacy_tags_align_and_map_labels(nlp):
    tokens = ["Angela", "Merkel", "visited", "Paris", "on", "Tuesday", "."]
    (tags,) = ner.spacy_tags(nlp, [tokens])
    assert len(tags) == len(tokens)
    assert tags[:2] == ["B-PERSON", "I-PERSON"] and tags[3] == "B-GPE"
    assert tags[5] == "O"  # DATE is mapped to O
    with pytest.raises(ValueError, match="sentence 0"):
        ner.spacy_tags(nlp, [[]])


def test_silver_sentences(nlp):
    texts = ["Angela Merkel met Emmanuel Macron in Paris.  It rained.\n\nThen they left for Berlin."]
    frame = ner.silver_sentences(nlp, texts, ids=["a"], max_tokens=4)
    assert set(frame["doc"]) == {"a"}
    assert all(0 < len(t) <= 4 and len(t) == len(g) == len(lab)
               for t, g, lab in zip(frame["tokens"], frame["tags"], frame["labels"]))
    assert not any(token.isspace() for tokens in frame["tokens"] for token in tokens)
    spans = {(kind, " ".join(tokens[s:e])) for tokens, tags in zip(frame["tokens"], frame["tags"])
             for kind, s, e in ner.bio_spans(tags)}
    assert ("PERSON", "Angela Merkel") in spans and ("GPE", "Berlin") in spans
    with pytest.raises(ValueError, match="ids"):
        ner.silver_sentences(nlp, texts, ids=[1, 2])
    with pytest.raises(ValueError, match="max_tokens"):
        ner.silver_sentences(nlp, texts, max_tokens=0)


def test_spacy_vectors_lookup(nlp):
    X, known = ner.spacy_vectors([["London", "qzxqzxqzx"]], nlp.vocab)
    np.testing.assert_allclose(X[0], nlp.vocab["London"].vector)
    assert known.tolist() == [True, False] and not X[1].any()
