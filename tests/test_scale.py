"""Training compute and memory by hand; the data-parallel run against a single process."""

import numpy as np
import pytest
import torch

from companion import scale


def test_training_memory_is_16_bytes_per_parameter_with_adam():
    mixed = scale.training_memory(1e9)
    assert (mixed["weights"], mixed["gradients"], mixed["optimizer"]) == (2e9, 2e9, 12e9)
    assert mixed["total"] == 16e9 == scale.training_memory(1e9, "fp32")["total"]
    assert scale.training_memory(270e6, "bf16-inference")["total"] == 540e6


@pytest.mark.parametrize("bad", [0, -5, "7B", True, float("nan")])
def test_training_memory_rejects_bad_parameter_counts(bad):
    with pytest.raises(ValueError, match="n_parameters must be a positive number"):
        scale.training_memory(bad)


def test_training_memory_names_the_valid_precisions():
    with pytest.raises(ValueError, match="valid values are: mixed, fp32, bf16-inference"):
        scale.training_memory(1e6, "fp8")


def test_gpt3_compute_matches_the_paper():
    # Brown et al. 2020 report 3.14e23 FLOPs for 175B parameters and 300B tokens
    assert scale.training_compute(175e9, 300e9) == pytest.approx(3.14e23, rel=0.01)


def _data(n=256, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return X, y


def test_one_process_run_learns_and_is_deterministic():
    X, y = _data()
    a = scale.train_data_parallel(X, y, world_size=1, hidden=16, epochs=5, batch_size=32)
    b = scale.train_data_parallel(X, y, world_size=1, hidden=16, epochs=5, batch_size=32)
    assert a.losses == b.losses
    assert np.mean(a.losses[-8:]) < 0.5 * a.losses[0]
    assert len(a.losses) == 5 * (256 // 32)


@pytest.mark.slow
def test_two_processes_match_one_process_accumulating_the_same_shards_bit_for_bit():
    X, y = _data()
    full = scale.train_data_parallel(X, y, world_size=1, hidden=16, epochs=2, batch_size=32)
    accumulated = scale.train_data_parallel(X, y, world_size=1, hidden=16, epochs=2, batch_size=32,
                                            accumulation_steps=2)
    two = scale.train_data_parallel(X, y, world_size=2, hidden=16, epochs=2, batch_size=32)
    assert two.world_size == 2 and len(two.losses) == len(full.losses) == 16
    assert two.losses == accumulated.losses
    for name, tensor in accumulated.state_dict.items():
        assert torch.equal(two.state_dict[name], tensor), name
    # the plain full-batch run sums in another order: equal up to rounding
    np.testing.assert_allclose(two.losses, full.losses, rtol=1e-5, atol=1e-6)
    for name, tensor in full.state_dict.items():
        torch.testing.assert_close(two.state_dict[name], tensor, rtol=1e-5, atol=1e-6)
    # and training changed the weights (the agreement is not that of two untouched copies)
    start = scale.make_classifier(8, 16, 2, seed=0).state_dict()
    assert not torch.allclose(start["0.weight"], full.state_dict["0.weight"])


def test_bad_input_is_refused_with_the_reason():
    X, y = _data(n=64)
    with pytest.raises(ValueError, match=r"batch_size \(63\) must be divisible by world_size \(2\)"):
        scale.train_data_parallel(X, y, world_size=2, batch_size=63)
    with pytest.raises(ValueError, match="larger than the data"):
        scale.train_data_parallel(X, y, world_size=1, batch_size=128)
    with pytest.raises(ValueError, match="one label per row"):
        scale.train_data_parallel(X, y[:10], world_size=1, batch_size=16)
    with pytest.raises(ValueError, match="world_size must be a positive integer"):
        scale.train_data_parallel(X, y, world_size=0, batch_size=16)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        scale.train_data_parallel(np.zeros((0, 3)), np.zeros(0), world_size=1)
