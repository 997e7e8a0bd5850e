import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group

from companion.alignment import procrustes, shared_words, translation_accuracy
from companion.vectors import keyed_vectors


def test_procrustes_agrees_with_scipy():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    ours = procrustes(X, Y)
    theirs, _ = orthogonal_procrustes(X, Y)
    assert np.allclose(ours, theirs, atol=1e-10)
    assert np.allclose(ours.T @ ours, np.eye(8), atol=1e-10)


def test_procrustes_recovers_a_planted_rotation_and_maps_held_out_words():
    rng = np.random.default_rng(1)
    R = ortho_group.rvs(10, random_state=2)
    words = [f"w{i}" for i in range(300)]
    src = rng.normal(size=(300, 10))
    tgt = src @ R + 0.01 * rng.normal(size=(300, 10))
    source, target = keyed_vectors(words, src), keyed_vectors(words, tgt)
    W = procrustes(source[words[:200]], target[words[:200]])
    assert np.allclose(W, R, atol=0.01)
    held_out = words[200:]
    assert translation_accuracy(source, target, held_out, W)["p@1"] == 1.0
    assert translation_accuracy(source, target, held_out)["p@1"] < 0.1  # unaligned: about chance


def test_procrustes_from_a_larger_space():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 4))
    W = procrustes(X, Y)
    assert W.shape == (6, 4)
    assert np.allclose(W.T @ W, np.eye(4), atol=1e-10)
    # no other map with orthonormal columns fits better than W (random trials)
    best = np.linalg.norm(X @ W - Y)
    for seed in range(20):
        Q = ortho_group.rvs(6, random_state=seed)[:, :4]
        assert np.linalg.norm(X @ Q - Y) >= best - 1e-9


@pytest.mark.parametrize(
    "X, Y, message",
    [
        (np.ones((3, 2)), np.ones((4, 2)), "3 rows vs 4 rows"),
        (np.ones((3, 2)), np.ones((3, 5)), "fewer dimensions"),
        (np.ones((0, 2)), np.ones((0, 2)), "no anchor words"),
        (np.ones(3), np.ones((3, 1)), "must be 2-D"),
    ],
)
def test_procrustes_bad_input(X, Y, message):
    with pytest.raises(ValueError, match=message):
        procrustes(X, Y)


def test_translation_accuracy_bad_input_and_shared_words():
    a = keyed_vectors(["x", "y", "z"], np.eye(3))
    b = keyed_vectors(["y", "z"], np.eye(2))
    assert shared_words(a, b) == ["y", "z"]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        translation_accuracy(a, b, ["x"], W=np.eye(3)[:, :2])
    with pytest.raises(ValueError, match="pass W"):
        translation_accuracy(a, b, ["y", "z"])
    with pytest.raises(ValueError, match="no words"):
        translation_accuracy(a, b, [])
