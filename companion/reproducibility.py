"""One call at the top of every chapter: seeds, threads, quiet libraries, one figure style.

:func:`setup` makes a chapter's outputs repeatable, which is what lets the test
suite (nbval) compare every stored output with a fresh run:

- seeds Python's ``random``, NumPy's global generator and PyTorch;
- fixes the number of threads (PyTorch intra-op and the BLAS/OpenMP pools)
  to ``threads`` (default 2), since float sums can differ with thread count;
- turns off progress bars (tqdm, transformers, huggingface_hub) and the
  library warnings that vary from run to run;
- sets the one seaborn theme every figure in the book uses;
- checks that NumPy, OpenBLAS and PyTorch run the book's pinned SIMD kernels
  (:mod:`companion.cpu_dispatch`) and warns if not, since the last digits of
  some outputs then differ from the book's;
- with ``COMPANION_BLOCK_NETWORK=1`` in the environment (the test suite sets
  it), refuses any connection outside loopback.

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``).

Examples
--------
>>> import numpy as np
>>> from companion.reproducibility import setup
>>> setup(seed=0)
>>> a = np.random.rand()
>>> setup(seed=0)
>>> a == np.random.rand()
True
"""

from __future__ import annotations

import logging
import os
import random
import warnings
from contextlib import contextmanager

import numpy as np

from .cpu_dispatch import KERNEL_NAME, problems
from .offline import block_network_if_asked

__all__ = ["setup", "torch_threads", "FIGURE_STYLE", "NumericEnvironmentWarning"]


class NumericEnvironmentWarning(UserWarning):
    """The process runs other SIMD kernels than the book's (see :mod:`companion.cpu_dispatch`)."""

#: The seaborn theme every figure of the book uses.
FIGURE_STYLE = {"style": "whitegrid", "context": "notebook", "palette": "colorblind"}


def _quiet_libraries() -> None:
    # Filters first: importing transformers below imports tqdm.auto, which warns
    # when ipywidgets is missing.
    warnings.filterwarnings("ignore", message=r"IProgress not found")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r".*was trained with spaCy v3\.7.*")
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a hard dependency
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
    for name in ("gensim", "sentence_transformers", "transformers", "spacy", "matplotlib", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _fix_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


@contextmanager
def torch_threads(threads: int):
    """Run the ``with`` block on ``threads`` torch threads, then restore the previous count.

    The book's trainers of small models (ELMo, the small BERT, the tiny GPT, the
    small T5) train on one thread: a model this small gains little from a second
    one, two threads that wait for each other are many times slower on a busy
    machine (two notebooks tested at once, say), and the trained weights then do
    not depend on how many cores the reader's machine has.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def setup(seed: int = 0, threads: int = 2, quiet: bool = True) -> None:
    """Seed every generator, fix thread counts, quiet libraries and set the figure style.

    It also makes freed memory go back to the operating system: large blocks
    at once (:func:`companion.memory.map_large_blocks`) and, in a notebook
    kernel, the rest after every cell (:func:`companion.memory.release_after_each_cell`).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    block_network_if_asked()
    if quiet:
        _quiet_libraries()
    _fix_threads(threads)
    from .memory import map_large_blocks, release_after_each_cell

    map_large_blocks()
    release_after_each_cell()
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
    try:
        import matplotlib
        import seaborn as sns

        sns.set_theme(**FIGURE_STYLE)
        matplotlib.rcParams["figure.dpi"] = 100
        matplotlib.rcParams["savefig.dpi"] = 100
        matplotlib.rcParams["figure.figsize"] = (6.4, 4.0)
    except ImportError:  # pragma: no cover
        pass
    found = problems()
    if found:
        warnings.warn(
            "this kernel does not run the book's pinned CPU kernels, so some outputs may differ from the "
            f"book's in their last digits: {'; '.join(found)}. Choose the kernel {KERNEL_NAME!r} "
            "(Kernel > Change Kernel) and restart it, or import companion before numpy and torch.",
            NumericEnvironmentWarning, stacklevel=2)
