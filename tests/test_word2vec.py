"""Tests of companion.word2vec: SGNS pieces by hand, and agreement with gensim's Word2Vec."""

import numpy as np
import pytest
import torch
from scipy import stats

from companion.word2vec import (
    cumulative_table,
    encode_corpus,
    gensim_skipgram,
    keep_probabilities,
    noise_distribution,
    sample_negatives,
    sgns_loss_and_gradients,
    skipgram_pairs,
    train_skipgram,
)
from companion.word2vec import _search, _sgns_pass


# --------------------------------------------------------------------------- the loss


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_loss_and_gradients_by_hand_on_a_tiny_example():
    v = np.array([0.5, -1.0])
    u_c = np.array([1.0, 0.5])
    u_n = np.array([[2.0, 1.0], [-1.0, 0.0]])
    # v.u_c = 0, v.u_n = (0, -0.5)
    expected_loss = -np.log(_sigmoid(0.0)) - np.log(_sigmoid(-0.0)) - np.log(_sigmoid(0.5))
    expected_grad_v = (0.5 - 1.0) * u_c + 0.5 * u_n[0] + _sigmoid(-0.5) * u_n[1]
    loss, grad_centre, grad_outputs = sgns_loss_and_gradients(
        torch.from_numpy(v[None]), torch.from_numpy(np.vstack([u_c, u_n])[None])
    )
    assert loss.item() == pytest.approx(expected_loss, abs=1e-12)
    np.testing.assert_allclose(grad_centre[0].numpy(), expected_grad_v, atol=1e-12)
    np.testing.assert_allclose(grad_outputs[0, 0].numpy(), -0.5 * v, atol=1e-12)
    np.testing.assert_allclose(grad_outputs[0, 2].numpy(), _sigmoid(-0.5) * v, atol=1e-12)


def test_gradients_match_autograd():
    gen = torch.Generator().manual_seed(1)
    centre = torch.randn(7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    outputs = torch.randn(7, 6, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    loss, grad_centre, grad_outputs = sgns_loss_and_gradients(centre, outputs)
    # Reference loss written independently with plain sigmoid/log.
    reference = -torch.log(torch.sigmoid((centre * outputs[:, 0]).sum(-1))) - torch.log(
        torch.sigmoid(-(outputs[:, 1:] * centre[:, None]).sum(-1))
    ).sum(-1)
    torch.testing.assert_close(loss, reference)
    auto_centre, auto_outputs = torch.autograd.grad(reference.sum(), (centre, outputs))
    torch.testing.assert_close(grad_centre, auto_centre)
    torch.testing.assert_close(grad_outputs, auto_outputs)


# --------------------------------------------------------------------------- the compiled trainer


def test_the_trainers_steps_are_sgd_on_the_hand_written_gradients():
    # Document [0, 1], window 1, no subsampling, one noise word that is always word 2:
    # the pass trains the pair (0 -> 1) and then (1 -> 0), each one SGD step.
    rng = np.random.default_rng(0)
    w_in = rng.normal(size=(3, 4)).astype(np.float32)
    w_out = rng.normal(size=(3, 4)).astype(np.float32)
    lr = 0.1
    expected_in, expected_out = w_in.astype(np.float64), w_out.astype(np.float64)
    expected_loss = 0.0
    for centre, context in ((0, 1), (1, 0)):
        v = torch.from_numpy(expected_in[centre][None])
        outputs = torch.from_numpy(expected_out[[context, 2]][None])
        loss, grad_centre, grad_outputs = sgns_loss_and_gradients(v, outputs)
        expected_loss += loss.item()
        expected_in[centre] -= lr * grad_centre[0].numpy()
        expected_out[[context, 2]] -= lr * grad_outputs[0].numpy()
    progress = np.array([0, 2], dtype=np.int64)
    always_word_2 = cumulative_table([0.0, 0.0, 1.0])
    pairs, total_loss, loss_pairs = _sgns_pass(np.array([0, 1], dtype=np.int32), np.array([0, 2], dtype=np.int64),
                                               np.ones(3), always_word_2, w_in, w_out, 1, 1, lr, lr,
                                               progress, np.zeros(1, dtype=np.uint64), 1)
    assert pairs == loss_pairs == 2 and progress[0] == 2
    assert total_loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, expected_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, expected_out, rtol=1e-5, atol=1e-6)


def test_the_trainer_draws_windows_and_subsamples_as_word2vec():
    # One long document of distinct-enough tokens: with a random window 1..5 a centre far
    # from the ends has 2 * mean(1..5) = 6 contexts; with subsampling, about sum(keep) centres.
    rng = np.random.default_rng(1)
    docs = [[f"w{i}" for i in rng.zipf(1.5, size=200_000) % 500]]
    _, history = train_skipgram(docs, dim=4, window=5, negative=1, epochs=1, min_count=1, sample=0)
    assert history["pairs"].iloc[-1] / 200_000 == pytest.approx(6.0, rel=0.01)
    corpus = encode_corpus(docs, min_count=1)
    expected_kept = keep_probabilities(corpus.counts, sample=1e-3)[corpus.ids].sum()
    _, history = train_skipgram(docs, dim=4, window=5, negative=1, epochs=1, min_count=1, sample=1e-3)
    assert history["pairs"].iloc[-1] / expected_kept == pytest.approx(6.0, rel=0.01)


def test_cumulative_table_and_the_trainers_search_draw_each_word_with_its_probability():
    cum = cumulative_table([1, 2, 0, 5], domain=80)
    assert cum.tolist() == [10, 30, 30, 80]
    draws = [_search(cum, np.uint64(r)) for r in range(80)]  # every r once: exact frequencies
    assert np.bincount(draws, minlength=4).tolist() == [10, 20, 0, 50]
    r = np.random.default_rng(0).integers(0, 80, size=500, dtype=np.uint64)
    assert [_search(cum, x) for x in r] == np.searchsorted(cum, r, side="right").tolist()
    with pytest.raises(ValueError, match="non-negative"):
        cumulative_table([1, -1])


# --------------------------------------------------------------------------- noise and subsampling


def test_negative_sampler_matches_unigram_to_the_three_quarters():
    counts = np.array([1000, 400, 81, 16, 1, 0])
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(noise_distribution(counts), expected)
    draws = sample_negatives(noise_distribution(counts), 2_000_000, np.random.default_rng(0))
    observed = np.bincount(draws, minlength=len(counts)) / len(draws)
    assert np.abs(observed - expected).max() < 2e-3
    assert observed[-1] == 0  # a word with count 0 is never drawn
    nonzero = counts > 0
    test = stats.chisquare(np.bincount(draws, minlength=len(counts))[nonzero], expected[nonzero] * len(draws))
    assert test.pvalue > 1e-3


def test_keep_probabilities_follow_the_formulas():
    counts = np.array([500, 300, 150, 40, 10])
    t = 0.05
    f = counts / counts.sum()
    np.testing.assert_allclose(keep_probabilities(counts, t), np.minimum(np.sqrt(t / f) + t / f, 1.0))
    np.testing.assert_allclose(keep_probabilities(counts, t, variant="paper"), np.minimum(np.sqrt(t / f), 1.0))
    assert keep_probabilities(counts, 0).tolist() == [1.0] * 5
    # word 0: f = 0.5, sqrt(0.1) + 0.1
    assert keep_probabilities(counts, t)[0] == pytest.approx(0.41623, abs=1e-5)


def test_keep_probabilities_equal_gensims():
    from gensim.models import Word2Vec

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    weights = 1.0 / np.arange(1, 51)
    docs = [list(rng.choice(words, size=30, p=weights / weights.sum())) for _ in range(300)]
    model = Word2Vec(sg=1, sample=1e-2, min_count=1, workers=1)
    model.build_vocab(docs)
    corpus = encode_corpus(docs, min_count=1)
    ours = keep_probabilities(corpus.counts, 1e-2)
    theirs = np.array([model.wv.get_vecattr(w, "sample_int") / (2**32 - 1) for w in corpus.words])
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert (ours < 1).sum() >= 3  # the test says something: several words are subsampled


# --------------------------------------------------------------------------- pairs


def _pairs_by_loop(ids, doc_ids, window):
    out = []
    for i in range(len(ids)):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            if j != i and doc_ids[i] == doc_ids[j]:
                out.append((ids[i], ids[j]))
    return sorted(out)


def test_skipgram_pairs_equal_a_loop_and_respect_documents():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 20, size=60)
    doc_ids = np.repeat([0, 1, 2, 3], [10, 1, 30, 19])
    for window in (1, 2, 5):
        centres, contexts = skipgram_pairs(ids, doc_ids, window)
        assert sorted(zip(centres.tolist(), contexts.tolist())) == _pairs_by_loop(ids.tolist(), doc_ids.tolist(), window)


def test_random_window_uses_distance_d_with_probability_window_minus_d_plus_one_over_window():
    n, window = 200_000, 4
    positions = np.arange(n)
    centres, contexts = skipgram_pairs(positions, np.zeros(n, dtype=int), window, np.random.default_rng(0))
    distance = np.abs(contexts - centres)
    share = np.bincount(distance, minlength=window + 1)[1:] / (2 * n)
    expected = (window - np.arange(1, window + 1) + 1) / window  # P(reach >= d)
    np.testing.assert_allclose(share, expected, atol=5e-3)


# --------------------------------------------------------------------------- training


def _two_topic_corpus(seed=0):
    rng = np.random.default_rng(seed)
    topics = [[f"sport{i}" for i in range(8)], [f"money{i}" for i in range(8)]]
    docs = [list(rng.choice(topics[d % 2], size=25)) for d in range(400)]
    return docs, topics


def _within_minus_across(kv, topics):
    unit = {w: kv[w] / np.linalg.norm(kv[w]) for t in topics for w in t}
    within = [unit[a] @ unit[b] for t in topics for a in t for b in t if a < b]
    across = [unit[a] @ unit[b] for a in topics[0] for b in topics[1]]
    return float(np.mean(within) - np.mean(across))


def test_ours_and_gensim_both_separate_planted_topics():
    docs, topics = _two_topic_corpus()
    settings = dict(dim=16, window=3, negative=5, epochs=5, min_count=1, sample=0, seed=0)
    ours, history = train_skipgram(docs, **settings)
    theirs = gensim_skipgram(docs, **settings)
    assert _within_minus_across(ours, topics) > 0.5
    assert _within_minus_across(theirs, topics) > 0.5
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_training_is_repeatable():
    docs, _ = _two_topic_corpus()
    a, history_a = train_skipgram(docs, dim=8, epochs=1, min_count=1, seed=5)
    b, history_b = train_skipgram(docs, dim=8, epochs=1, min_count=1, seed=5)
    c, _ = train_skipgram(docs, dim=8, epochs=1, min_count=1, seed=6)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert history_a.equals(history_b)
    assert not np.array_equal(a.vectors, c.vectors)


def test_the_sum_of_input_and_output_vectors_comes_from_the_same_run():
    docs, _ = _two_topic_corpus()
    settings = dict(dim=8, epochs=1, min_count=1, seed=3)
    (v, _), (u, _), (both, _) = (train_skipgram(docs, vectors=choice, **settings) for choice in ("input", "output", "sum"))
    assert not np.allclose(u.vectors, 0)  # output vectors start at zero and must have been trained
    np.testing.assert_array_equal(both.vectors, v.vectors + u.vectors)
    with pytest.raises(ValueError, match=r"vectors must be one of 'input', 'output', 'sum', got 'both'"):
        train_skipgram(docs, vectors="both", **settings)


def test_words_below_min_count_are_dropped_and_windows_reach_over_them():
    corpus = encode_corpus([["a", "rare", "b", "a", "b"]], min_count=2)
    assert corpus.words == ["a", "b"]
    assert corpus.ids.tolist() == [0, 1, 0, 1]


@pytest.mark.slow
def test_news_corpus_ours_and_gensim_agree_on_wordsim353():
    from companion.datasets import news_tokens, wordsim353
    from companion.evaluation import word_similarity

    docs = news_tokens()
    settings = dict(dim=50, window=5, negative=5, epochs=1, min_count=10, sample=1e-4, seed=0)
    ours, _ = train_skipgram(docs, **settings)
    theirs = gensim_skipgram(docs, **settings)
    rho_ours = word_similarity(ours, wordsim353())["spearman"]
    rho_theirs = word_similarity(theirs, wordsim353())["spearman"]
    assert rho_theirs > 0.1  # gensim learnt something, so the comparison means something
    assert abs(rho_ours - rho_theirs) < 0.1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(window=0), r"window=0"),
        (dict(negative=0), r"negative=0"),
        (dict(dim=0), r"dim=0"),
        (dict(epochs=-1), r"epochs=-1"),
        (dict(sample=1.5), r"sample=1.5"),
        (dict(min_count=100), r"min_count=100.*'a'.*occurs 3 times"),
    ],
)
def test_bad_settings_raise_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_skipgram([["a", "b", "a", "a"]], **{"min_count": 1, **kwargs})


def test_empty_corpus_raises():
    with pytest.raises(ValueError, match="corpus is empty"):
        train_skipgram([[], []])
    with pytest.raises(ValueError, match="corpus is empty"):
        train_skipgram([])


def test_untokenized_text_raises():
    with pytest.raises(TypeError, match="tokenize"):
        train_skipgram(["a whole sentence as a string"])


def test_a_planted_synonym_pair_ends_up_closer_than_random_pairs():
    # 20 target words, each seen only with its own 4 context words; "car" and
    # "automobile" share one target's contexts (used interchangeably, never together).
    rng = np.random.default_rng(2)
    docs = []
    for _ in range(3000):
        i = int(rng.integers(20))
        target = ("car" if rng.random() < 0.5 else "automobile") if i == 0 else f"t{i}"
        a, b = rng.choice(4, size=2, replace=False)
        docs.append([f"c{i}_{a}", target, f"c{i}_{b}"])
    targets = [f"t{i}" for i in range(1, 20)]
    settings = dict(dim=16, window=1, negative=5, epochs=5, min_count=1, sample=0, seed=0)
    for kv in (train_skipgram(docs, **settings)[0], gensim_skipgram(docs, **settings)):
        random_pairs = [kv.similarity(a, b) for i, a in enumerate(targets) for b in targets[i + 1:]]
        assert kv.similarity("car", "automobile") > max(random_pairs)
