"""Give freed memory back to the operating system, so a chapter fits a Binder kernel.

A Python process that frees a large object (spaCy's pipeline, a model, a
batch of Gemma's logits) often keeps the space: glibc's allocator, the one
Linux distributions use, holds freed heap memory for reuse, and the kernel's
resident size stays where its peak was. On mybinder.org, where the whole
container may use 2 GB, that held space is what pushes a chapter over.
Two glibc settings fix it, and neither changes a number a cell computes:

- :func:`map_large_blocks`: every block of at least 1 MiB gets its own memory
  map, which goes back to the system the moment it is freed. glibc does that
  by default only up to a threshold that it raises each time a large block is
  freed (loading a model frees many), after which blocks of up to 32 MiB
  (Gemma's logits for a few positions, say) are carved from the heap and
  their space stays after they are freed.
- :func:`release_freed_memory`: return the free space of the heap
  (``malloc_trim``); :func:`release_after_each_cell` makes the notebook
  kernel do it after every cell.

:func:`companion.setup` turns both on, so chapters need not think about it.
On other C libraries (macOS, Windows, musl) they do nothing and say so.

Measured in the book's kernel: in "The GPT family" (``book/gpt-family.ipynb``)
the peak fell from 1.57 to 1.36 GB with the map threshold (the logit lens
no longer leaves its freed logits in the heap); in "Summarization", after
``del nlp`` the kernel kept 0.16 GB of spaCy's freed memory until a trim.
The book's profile (``python -m companion.profiling``, preface) reports each
chapter's peak.

Examples
--------
>>> from companion.memory import release_freed_memory
>>> release_freed_memory() in (True, False)  # True on glibc
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["release_freed_memory", "map_large_blocks", "release_after_each_cell", "MMAP_THRESHOLD"]

#: Blocks of at least this many bytes get their own memory map (glibc's ``M_MMAP_THRESHOLD``).
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # from <malloc.h>


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc, or None where the C library is another (no ``malloc_trim``/``mallopt``)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):  # musl and other C libraries have neither
        return None
    return libc


def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    libc = _glibc()
    return None if libc is None else libc.malloc_trim


def map_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Give every allocation of at least ``threshold`` bytes its own memory map, from now on.

    A fixed threshold also stops glibc from raising it (see the module
    docstring). Returns True where glibc accepted it, False elsewhere.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 4096 <= threshold <= 32 * 2**20:
        raise ValueError(f"threshold must be an integer number of bytes from 4096 to 32 MiB, got {threshold!r}")
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold) == 1


def release_freed_memory() -> bool:
    """Return the heap memory this process has freed to the operating system.

    Returns True where glibc's ``malloc_trim`` ran, False where the C library
    has no such call (then nothing happens). Objects still referenced are not
    touched: drop them first (``del model``; ``gc.collect()`` for cycles).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def _after_cell(*_args) -> None:
    release_freed_memory()


def release_after_each_cell() -> bool:
    """In an IPython kernel, call :func:`release_freed_memory` after every cell.

    Returns True if the hook is in place (registering twice keeps one hook),
    False outside IPython or where the C library cannot trim. A trim takes a
    few milliseconds.
    """
    if _malloc_trim() is None:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    shell = get_ipython()
    if shell is None:
        return False
    callbacks = shell.events.callbacks["post_run_cell"]
    if _after_cell not in callbacks:
        shell.events.register("post_run_cell", _after_cell)
    return True
