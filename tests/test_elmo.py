"""Tests of companion.elmo: the LSTM from scratch against torch.nn.LSTM, the scalar mix by hand,
the directions of the biLM, the vectors' bad inputs, and the cached training."""

import math
import warnings

import numpy as np
import pytest
import torch

from companion import cache
from companion.elmo import (BiLM, ScalarMix, ScratchLSTM, elmo_vectors, fit_scalar_mix_classifier, lstm_cell_step,
                            make_blocks, news_bilm, occurrences, pooled_layers, train_bilm, unigram_perplexity)
from companion.text import Vocabulary


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


# ----------------------------------------------------------------------------- the LSTM from scratch


def test_lstm_cell_step_by_hand():
    # one input, one hidden unit: z = w_ih * x + w_hh * h + biases, gates (i, f, g, o)
    w_ih = torch.tensor([[1.0], [2.0], [0.5], [-1.0]])
    w_hh = torch.tensor([[0.5], [0.0], [1.0], [2.0]])
    b_ih = torch.tensor([0.1, 0.0, 0.0, 0.2])
    b_hh = torch.tensor([0.0, -1.0, 0.3, 0.0])
    x, h, c = torch.tensor([[2.0]]), torch.tensor([[1.0]]), torch.tensor([[0.5]])
    h_new, c_new = lstm_cell_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    i, f, g, o = _sigmoid(2 + 0.5 + 0.1), _sigmoid(4 - 1), math.tanh(1 + 1 + 0.3), _sigmoid(-2 + 2 + 0.2)
    c_hand = f * 0.5 + i * g
    assert c_new.item() == pytest.approx(c_hand, rel=1e-6)
    assert h_new.item() == pytest.approx(o * math.tanh(c_hand), rel=1e-6)


@pytest.mark.parametrize("with_state", [False, True])
def test_scratch_lstm_matches_torch(with_state):
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 7, batch_first=True)
    ours = ScratchLSTM.from_torch(reference)
    x = torch.randn(3, 6, 5)
    state = (torch.randn(1, 3, 7), torch.randn(1, 3, 7)) if with_state else None
    out_ref, (h_ref, c_ref) = reference(x, state)
    out, (h, c) = ours(x, state)
    torch.testing.assert_close(out, out_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, h_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, c_ref, atol=1e-6, rtol=1e-5)
    # the gradients agree too
    out.sum().backward()
    out_ref.sum().backward()
    torch.testing.assert_close(ours.weight_hh.grad, reference.weight_hh_l0.grad, atol=1e-5, rtol=1e-4)


def test_scratch_lstm_has_torchs_parameter_shapes_and_bad_input():
    ours, reference = ScratchLSTM(4, 3), torch.nn.LSTM(4, 3)
    assert [p.shape for p in ours.parameters()] == [p.shape for p in reference.parameters()]
    with pytest.raises(ValueError, match="hidden_size"):
        ScratchLSTM(4, 0)
    with pytest.raises(ValueError, match=r"\(batch, seq, 4\)"):
        ours(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="one-directional"):
        ScratchLSTM.from_torch(torch.nn.LSTM(4, 3, bidirectional=True))


# ----------------------------------------------------------------------------- the scalar mix


def test_scalar_mix_by_hand():
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.scalars.copy_(torch.tensor([0.0, math.log(2.0), math.log(5.0)]))  # softmax = (1, 2, 5) / 8
        mix.gamma.fill_(2.0)
    layers = torch.tensor([[[8.0, 0.0]], [[0.0, 8.0]], [[8.0, 8.0]]])  # (3, 1, 2)
    # 2 * (1/8 * (8, 0) + 2/8 * (0, 8) + 5/8 * (8, 8)) = 2 * (6, 7)
    assert mix(layers)[0].tolist() == pytest.approx([12.0, 14.0])
    assert mix(list(layers))[0].tolist() == pytest.approx([12.0, 14.0])
    assert mix.weights().tolist() == pytest.approx([1 / 8, 2 / 8, 5 / 8])
    with pytest.raises(ValueError, match="mixes 3 layers, got 2"):
        mix(layers[:2])
    with pytest.raises(ValueError, match="num_layers"):
        ScalarMix(0)


# ----------------------------------------------------------------------------- the biLM


def _model(vocab_size=20, dim=6, num_layers=2, cutoffs=()):
    torch.manual_seed(0)
    return BiLM(vocab_size, dim=dim, num_layers=num_layers, cutoffs=cutoffs)


def test_layers_shapes_and_layer_zero_is_the_embedding_twice():
    model = _model()
    ids = torch.tensor([[1, 2, 3, 4]])
    layers = model.layers(ids)
    assert layers.shape == (3, 1, 4, 12)
    emb = model.embedding(ids)
    torch.testing.assert_close(layers[0], torch.cat([emb, emb], dim=-1))


def test_forward_reads_left_to_right_and_backward_right_to_left():
    model = _model()
    a = torch.tensor([[1, 2, 3, 4, 5, 6]])
    b = a.clone()
    b[0, 3] = 9  # change the token at position 3
    with torch.no_grad():
        _, fa, ba = model.directions(a)
        _, fb, bb = model.directions(b)
    for layer in range(2):
        same_f = (fa[layer] - fb[layer]).abs().amax(dim=-1)[0]
        same_b = (ba[layer] - bb[layer]).abs().amax(dim=-1)[0]
        # forward states before position 3 cannot know about it; from 3 on they do
        assert same_f[:3].max() == 0 and (same_f[3:] > 0).all()
        # backward states after position 3 cannot know about it; up to 3 they do
        assert same_b[4:].max() == 0 and (same_b[:4] > 0).all()


def test_backward_direction_is_a_forward_lstm_on_the_reversed_sentence():
    model = _model(num_layers=1)
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        _, _, backward = model.directions(ids)
        reversed_out, _ = model.backward_lstms[0](model.embedding(ids.flip(1)))
    torch.testing.assert_close(backward[0], reversed_out.flip(1))


@pytest.mark.parametrize("cutoffs", [(), (5, 10)])
def test_loss_is_the_mean_negative_log_probability_of_each_direction(cutoffs):
    model = _model(dim=16, cutoffs=cutoffs)
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 19]])
    with torch.no_grad():
        loss_f, loss_b = model.loss(ids)
        _, forward, backward = model.directions(ids)
        logp_f = model.log_probs(forward[-1])
        logp_b = model.log_probs(backward[-1])
    # the distribution sums to one
    torch.testing.assert_close(logp_f.exp().sum(-1), torch.ones(2, 4))
    hand_f = -np.mean([logp_f[r, t, ids[r, t + 1]].item() for r in range(2) for t in range(3)])
    hand_b = -np.mean([logp_b[r, t, ids[r, t - 1]].item() for r in range(2) for t in range(1, 4)])
    assert loss_f.item() == pytest.approx(hand_f, rel=1e-5)
    assert loss_b.item() == pytest.approx(hand_b, rel=1e-5)


def test_bilm_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        BiLM(10, dim=0)
    with pytest.raises(ValueError, match="cutoffs"):
        BiLM(10, cutoffs=(5, 3))
    model = _model()
    with pytest.raises(ValueError, match=r"0\.\.19"):
        model.layers(torch.tensor([[1, 20]]))
    with pytest.raises(ValueError, match="at least 2 tokens"):
        model.loss(torch.tensor([[1]]))
    with pytest.raises(ValueError, match="integer tensor"):
        model.layers(torch.tensor([1.0, 2.0]))


def test_training_learns_a_deterministic_sequence():
    # the stream 1 2 3 4 1 2 3 4 ...: both directions can become nearly certain
    blocks = torch.tensor([[1, 2, 3, 4, 1, 2, 3, 4]] * 4 + [[3, 4, 1, 2, 3, 4, 1, 2]] * 4)
    model = _model(vocab_size=5, dim=8)
    history = train_bilm(model, blocks, blocks[:2], steps=150, batch_size=4, lr=0.02, eval_every=50)
    assert history["eval_steps"] == [0, 50, 100, 150]
    assert history["forward_perplexity"][0] > 3 and history["forward_perplexity"][-1] < 1.2
    assert history["backward_perplexity"][-1] < 1.2
    assert len(history["train_loss"]) == 150


def test_make_blocks_and_unigram_perplexity():
    vocab = Vocabulary.build([["a", "b"]])
    blocks = make_blocks([["a", "b", "a"], ["b", "zz", "a", "b"]], vocab, 3)
    assert blocks.tolist() == [[1, 2, 1], [2, 0, 1]]  # the 7th token is dropped, zz is <unk>
    with pytest.raises(ValueError, match="fewer than one block"):
        make_blocks([["a"]], vocab, 3)
    with pytest.raises(ValueError, match="block_size"):
        make_blocks([["a"]], vocab, 1)
    # add-one counts of ids 0, 1, 2 in the training blocks: 1+1, 3+1, 2+1 -> p = 2/9, 4/9, 3/9
    held = torch.tensor([[0, 1, 2]])  # the targets are ids 1 and 2 (the first token is never predicted)
    assert unigram_perplexity(blocks, held, 3) == pytest.approx(math.sqrt(9 / 4 * 9 / 3))


# ----------------------------------------------------------------------------- vectors and their errors


@pytest.fixture
def tiny():
    vocab = Vocabulary.build([["the", "cat", "sat", "on", "mat"]])
    return _model(vocab_size=len(vocab)), vocab


def test_elmo_vectors_layers_and_mix(tiny):
    model, vocab = tiny
    all_layers = elmo_vectors(model, vocab, ["The cat sat.", ["the", "mat"]])
    assert [a.shape for a in all_layers] == [(3, 3, 12), (3, 2, 12)]
    one = elmo_vectors(model, vocab, ["The cat sat."], layer=1)[0]
    np.testing.assert_array_equal(one, all_layers[0][1])
    mix = ScalarMix(3)
    mixed = elmo_vectors(model, vocab, ["The cat sat."], layer=mix)[0]
    np.testing.assert_allclose(mixed, all_layers[0].mean(axis=0), rtol=1e-5, atol=1e-6)
    # a batch of different lengths gives what each sentence alone gives (no padding effects)
    alone = elmo_vectors(model, vocab, [["the", "mat"]])[0]
    np.testing.assert_allclose(all_layers[1], alone, rtol=1e-5, atol=1e-6)
    # the same word gets the same layer-0 vector everywhere and a different layer-2 vector
    a, b = elmo_vectors(model, vocab, ["the cat sat", "on the mat"])
    np.testing.assert_array_equal(a[0, 0], b[0, 1])
    assert np.abs(a[2, 0] - b[2, 1]).max() > 1e-4
    pooled = pooled_layers(model, vocab, ["the cat sat", "on the mat"])
    np.testing.assert_allclose(pooled[1], b.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_elmo_vectors_bad_inputs(tiny):
    model, vocab = tiny
    with pytest.raises(TypeError, match="not one string"):
        elmo_vectors(model, vocab, "the cat")
    with pytest.raises(ValueError, match="empty"):
        elmo_vectors(model, vocab, [])
    with pytest.raises(ValueError, match="sentence 1 .* no tokens"):
        elmo_vectors(model, vocab, ["the cat", "?!"])
    with pytest.raises(ValueError, match="layer must be an integer in 0..2"):
        elmo_vectors(model, vocab, ["the cat"], layer=3)
    with pytest.raises(ValueError, match="layer must be an integer in 0..2"):
        elmo_vectors(model, vocab, ["the cat"], layer=-1)
    with pytest.raises(ValueError, match="'all'"):
        elmo_vectors(model, vocab, ["the cat"], layer="top")
    with pytest.raises(ValueError, match="mixes 2 layers but this biLM has 3"):
        elmo_vectors(model, vocab, ["the cat"], layer=ScalarMix(2))
    with pytest.raises(ValueError, match="5 tokens, more than max_length=3"):
        elmo_vectors(model, vocab, ["the cat sat on the"], max_length=3)
    with pytest.warns(UserWarning, match="truncated from 5 to 3"):
        out = elmo_vectors(model, vocab, ["the cat sat on the"], max_length=3, truncate=True)
    assert out[0].shape == (3, 3, 12)
    with pytest.warns(UserWarning, match="1 texts were truncated"):
        pooled_layers(model, vocab, ["the cat sat on the"], max_length=3)


def test_default_max_length_raises_beyond_128_tokens(tiny):
    model, vocab = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert elmo_vectors(model, vocab, [["cat"] * 128], layer=0)[0].shape == (128, 12)
    with pytest.raises(ValueError, match="129 tokens, more than max_length=128"):
        elmo_vectors(model, vocab, [["cat"] * 129])


def test_fit_scalar_mix_classifier_finds_the_informative_layer():
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 3, 4))
    features[:, 2, 0] += 3.0 * (2 * labels - 1)  # only layer 2 carries the label
    predict, mix = fit_scalar_mix_classifier(features, labels, epochs=200)
    assert (predict(features) == labels).mean() > 0.95
    assert mix.weights().argmax() == 2
    with pytest.raises(ValueError, match="shape \\(n, layers, d\\)"):
        fit_scalar_mix_classifier(features[:, 0], labels)
    with pytest.raises(ValueError, match="one label per row"):
        fit_scalar_mix_classifier(features, labels[:-1])
    with pytest.raises(ValueError, match="0..k-1"):
        fit_scalar_mix_classifier(features, labels + 1)
    with pytest.raises(ValueError, match=r"shape \(n, 3, 4\)"):
        predict(features[:, :2])


def test_occurrences():
    docs = [["x", "race", "y"], ["race"]]
    found = occurrences(docs, "race", window=5)
    assert found[["doc", "position", "index"]].values.tolist() == [[0, 1, 1], [1, 0, 0]]
    assert found["tokens"].tolist() == [["x", "race", "y"], ["race"]]
    with pytest.raises(ValueError, match="does not occur"):
        occurrences(docs, "bank")
    with pytest.raises(ValueError, match="window"):
        occurrences(docs, "race", window=-1)


# ----------------------------------------------------------------------------- caching


def test_news_bilm_is_cached_and_reloads_identically(tmp_cache):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    docs = [[words[j] for j in rng.integers(0, 30, 200)] for _ in range(20)]
    settings = dict(dim=8, num_layers=2, vocab_size=25, cutoffs=(10,), block_size=8, steps=12, batch_size=4,
                    docs=docs, name="elmo/test-bilm")
    model, vocab, history = news_bilm(**settings)
    assert cache.artifact_path("elmo/test-bilm", "elmo").joinpath("model.pt").is_file()
    assert len(vocab) == 26 and history["eval_steps"][0] == 0 and len(history["train_loss"]) == 12
    again, vocab2, history2 = news_bilm(**settings)
    assert vocab2.tokens == vocab.tokens and history2 == history
    sentences = [["w1", "w2", "w3"], ["w4", "unknown"]]
    for a, b in zip(elmo_vectors(model, vocab, sentences), elmo_vectors(again, vocab2, sentences)):
        np.testing.assert_array_equal(a, b)
