"""Tests of companion.glove: the weighting, the objective and its gradients, AdaGrad, and the trainer."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from companion.glove import (
    adagrad_update,
    glove_loss_and_gradients,
    glove_objective,
    glove_weight,
    nonzero_cells,
    train_glove,
)


# --------------------------------------------------------------------------- the weighting function


def test_weighting_matches_the_formula_below_x_max():
    x = np.array([1.0, 3.0, 10.0, 42.0, 99.0])
    np.testing.assert_allclose(glove_weight(x, x_max=100.0, alpha=0.75), (x / 100.0) ** 0.75, rtol=1e-12)
    np.testing.assert_allclose(glove_weight([4.0], x_max=16.0, alpha=0.5), [0.5])  # sqrt(4/16)


def test_weighting_properties():
    assert glove_weight([0.0])[0] == 0.0
    assert glove_weight([100.0], x_max=100.0)[0] == 1.0
    assert glove_weight([7.0], x_max=7.0, alpha=2.0)[0] == 1.0
    above = glove_weight([100.5, 1e3, 1e9], x_max=100.0)
    np.testing.assert_array_equal(above, [1.0, 1.0, 1.0])  # capped at 1
    grid = np.linspace(0, 200, 401)
    values = glove_weight(grid)
    assert np.all(np.diff(values) >= 0) and values.max() == 1.0  # non-decreasing, never above 1


@pytest.mark.parametrize("x_max", [0, -1.0, float("nan")])
def test_weighting_rejects_bad_x_max(x_max):
    with pytest.raises(ValueError, match="x_max"):
        glove_weight([1.0], x_max=x_max)


def test_weighting_rejects_bad_alpha_and_negative_counts():
    with pytest.raises(ValueError, match="alpha=0"):
        glove_weight([1.0], alpha=0)
    with pytest.raises(ValueError, match="-2.0"):
        glove_weight([1.0, -2.0])


# --------------------------------------------------------------------------- the objective and its gradient


def _tiny_problem(seed=0, n=6, dim=3):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 150, size=(n, n)).astype(float)
    counts[rng.random((n, n)) < 0.3] = 0.0  # some pairs never co-occur
    params = (rng.normal(size=(n, dim)), rng.normal(size=(n, dim)), rng.normal(size=n), rng.normal(size=n))
    return counts, params


def test_objective_by_hand():
    counts = np.array([[0.0, 50.0], [200.0, 0.0]])
    w = np.array([[1.0, 2.0], [0.5, 0.0]])
    w_ctx = np.array([[2.0, 0.0], [1.0, 1.0]])
    b, b_ctx = np.array([0.1, -0.2]), np.array([0.3, 0.4])
    # cell (0, 1): w0.c1 = 3, diff = 3 + 0.1 + 0.4 - ln 50, weight (0.5)^0.75
    # cell (1, 0): w1.c0 = 1, diff = 1 - 0.2 + 0.3 - ln 200, weight 1 (capped)
    expected = 0.5**0.75 * (3.5 - np.log(50)) ** 2 + (1.1 - np.log(200)) ** 2
    assert glove_objective(w, w_ctx, b, b_ctx, counts) == pytest.approx(expected, rel=1e-12)
    assert glove_objective(w, w_ctx, b, b_ctx, sp.csr_matrix(counts)) == pytest.approx(expected, rel=1e-12)


def test_objective_and_summed_gradients_match_autograd():
    counts, params = _tiny_problem()
    w, w_ctx, b, b_ctx = (torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params)
    # Reference: J written cell by cell, differentiated by autograd.
    reference = 0.0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            x = counts[i, j]
            if x > 0:
                weight = min(1.0, (x / 100.0) ** 0.75)
                reference = reference + weight * (w[i] @ w_ctx[j] + b[i] + b_ctx[j] - np.log(x)) ** 2
    auto = torch.autograd.grad(reference, (w, w_ctx, b, b_ctx))
    assert glove_objective(*params, counts) == pytest.approx(reference.item(), rel=1e-10)

    rows, cols, values = nonzero_cells(counts)
    r, c = torch.from_numpy(rows), torch.from_numpy(cols)
    loss, grad_w, grad_ctx, grad_b = glove_loss_and_gradients(
        w.detach()[r], w_ctx.detach()[c], b.detach()[r], b_ctx.detach()[c],
        torch.from_numpy(np.log(values)), torch.from_numpy(glove_weight(values)),
    )
    assert loss.sum().item() == pytest.approx(reference.item(), rel=1e-10)
    summed = (
        torch.zeros_like(w).index_add_(0, r, grad_w),
        torch.zeros_like(w_ctx).index_add_(0, c, grad_ctx),
        torch.zeros_like(b).index_add_(0, r, grad_b),
        torch.zeros_like(b_ctx).index_add_(0, c, grad_b),
    )
    for ours, theirs in zip(summed, auto):
        torch.testing.assert_close(ours, theirs)


def test_gradient_matches_finite_differences():
    counts, params = _tiny_problem(seed=3, n=4, dim=2)
    rows, cols, values = nonzero_cells(counts)
    w, w_ctx, b, b_ctx = (torch.tensor(p) for p in params)
    _, grad_w, _, _ = glove_loss_and_gradients(
        w[rows], w_ctx[cols], b[rows], b_ctx[cols], torch.tensor(np.log(values)), torch.tensor(glove_weight(values))
    )
    grad = torch.zeros_like(w).index_add_(0, torch.from_numpy(rows), grad_w).numpy()
    h = 1e-6
    for i, k in [(0, 0), (1, 1), (3, 0)]:
        plus, minus = params[0].copy(), params[0].copy()
        plus[i, k] += h
        minus[i, k] -= h
        numeric = (glove_objective(plus, *params[1:], counts) - glove_objective(minus, *params[1:], counts)) / (2 * h)
        assert grad[i, k] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------- AdaGrad


@pytest.mark.parametrize("initial", [0.0, 1.0])
def test_adagrad_matches_torch_optim(initial):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(5, 3, generator=gen)
    ours, state = start.clone(), torch.full_like(start, initial)
    theirs = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.Adagrad([theirs], lr=0.3, initial_accumulator_value=initial)
    for step in range(6):
        grad = torch.randn(5, 3, generator=gen)
        grad[step % 5] = 0.0  # a row absent from this batch
        adagrad_update(ours, grad, state, lr=0.3)
        theirs.grad = grad.clone()
        optimizer.step()
        torch.testing.assert_close(ours, theirs.detach())
    torch.testing.assert_close(state, optimizer.state[theirs]["sum"])


def test_full_batch_training_equals_autograd_with_torch_adagrad():
    counts, params = _tiny_problem(seed=5, n=5, dim=2)
    init = tuple(p.astype(np.float32) for p in params)
    fit = train_glove(counts, list("abcde"), dim=2, epochs=4, lr=0.1, batch_size=10_000, init=init,
                      initial_accumulator=1.0)

    tensors = [torch.nn.Parameter(torch.tensor(p)) for p in init]
    optimizer = torch.optim.Adagrad(tensors, lr=0.1, initial_accumulator_value=1.0)
    rows, cols, values = nonzero_cells(counts)
    log_x = torch.tensor(np.log(values), dtype=torch.float32)
    weight = torch.tensor(glove_weight(values), dtype=torch.float32)
    losses = []
    for _ in range(4):
        w, w_ctx, b, b_ctx = tensors
        diff = (w[rows] * w_ctx[cols]).sum(-1) + b[rows] + b_ctx[cols] - log_x
        loss = (weight * diff**2).sum()
        losses.append(loss.item() / len(values))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for ours, theirs in zip((fit.w, fit.w_ctx, fit.b, fit.b_ctx), tensors):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.history["loss"], losses, rtol=1e-4)


# --------------------------------------------------------------------------- the trainer


def test_trainer_recovers_a_low_rank_log_structure():
    rng = np.random.default_rng(7)
    n, rank = 40, 3
    true_w, true_ctx = rng.normal(scale=0.7, size=(n, rank)), rng.normal(scale=0.7, size=(n, rank))
    true_b, true_ctx_b = rng.normal(1.5, 0.3, size=n), rng.normal(1.5, 0.3, size=n)
    log_counts = true_w @ true_ctx.T + true_b[:, None] + true_ctx_b[None, :]
    counts = np.exp(log_counts)  # every cell > 0, and log X has rank <= rank + 2 exactly
    counts[rng.random((n, n)) < 0.2] = 0.0  # GloVe ignores missing cells
    fit = train_glove(counts, [f"w{i}" for i in range(n)], dim=rank, epochs=300, lr=0.2,
                      batch_size=256, initial_accumulator=0.0, seed=1)
    loss = fit.history["loss"].to_numpy()
    assert loss[-1] < 0.01 * loss[0]  # the optimum is J = 0: the model can fit log X exactly
    rows, cols = np.nonzero(counts)
    correlation = np.corrcoef(fit.log_counts(rows, cols), log_counts[rows, cols])[0, 1]
    assert correlation > 0.95


def test_training_is_repeatable_and_vectors_are_the_sum():
    counts, _ = _tiny_problem(seed=2, n=6)
    first = train_glove(counts, list("abcdef"), dim=3, epochs=3, batch_size=4, seed=4)
    second = train_glove(counts, list("abcdef"), dim=3, epochs=3, batch_size=4, seed=4)
    np.testing.assert_array_equal(first.w, second.w)
    kv = first.vectors()
    np.testing.assert_allclose(kv["c"], first.w[2] + first.w_ctx[2], rtol=1e-6)
    np.testing.assert_allclose(first.vectors("word")["c"], first.w[2])
    with pytest.raises(ValueError, match="'both'"):
        first.vectors("both")


# --------------------------------------------------------------------------- bad input


def test_bad_counts_raise_value_error_naming_the_value():
    words = ["a", "b"]
    with pytest.raises(ValueError, match="-3.0"):
        train_glove(np.array([[0.0, -3.0], [1.0, 0.0]]), words)
    with pytest.raises(ValueError, match="-3.0"):
        nonzero_cells(sp.csr_matrix(np.array([[0.0, -3.0], [1.0, 0.0]])))
    with pytest.raises(ValueError, match="inf"):
        nonzero_cells(np.array([[0.0, np.inf], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="no non-zero cell"):
        train_glove(np.zeros((2, 2)), words)
    with pytest.raises(ValueError, match="no non-zero cell"):
        train_glove(sp.csr_matrix((0, 0)), [])
    with pytest.raises(ValueError, match="square"):
        train_glove(np.ones((2, 3)), words)
    with pytest.raises(ValueError, match="3 words"):
        train_glove(np.ones((2, 2)), ["a", "b", "c"])


@pytest.mark.parametrize(
    "option, value",
    [("dim", 0), ("dim", -2), ("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("x_max", 0), ("x_max", -5.0),
     ("alpha", -1.0), ("initial_accumulator", -1.0)],
)
def test_bad_settings_raise_value_error_naming_them(option, value):
    with pytest.raises(ValueError, match=f"{option}={value!r}"):
        train_glove(np.ones((2, 2)), ["a", "b"], **{option: value})


def test_bad_init_shapes():
    with pytest.raises(ValueError, match="init must be"):
        train_glove(np.ones((2, 2)), ["a", "b"], dim=2, init=(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros(2), np.zeros(2)))
