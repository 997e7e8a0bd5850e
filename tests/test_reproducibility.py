import random

import numpy as np
import pytest
import torch

from companion import setup


def _draws():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_setup_makes_draws_repeatable():
    setup(seed=3)
    first = _draws()
    setup(seed=3)
    assert _draws() == first
    setup(seed=4)
    assert _draws() != first


def test_setup_fixes_threads_and_quiets_progress_bars():
    import os

    setup(threads=1)
    assert torch.get_num_threads() == 1
    assert os.environ["TQDM_DISABLE"] == "1"
    setup(threads=2)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("kwargs, message", [({"seed": -1}, "seed must be"), ({"threads": 0}, "threads must be")])
def test_setup_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        setup(**kwargs)


def test_torch_threads_restores_the_count_and_rejects_bad_values():
    import torch

    from companion.reproducibility import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("the count is restored even when the block fails")
    assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            with torch_threads(bad):
                pass
