"""One numeric environment on every x86-64 machine: the CPU dispatch the book's outputs assume.

NumPy, OpenBLAS (inside NumPy and, separately, inside SciPy, which gensim and
scikit-learn call), PyTorch's ATen, MKL and oneDNN each look at the processor
when they load and pick the widest SIMD kernels it supports: AVX-512 on one
machine, AVX2 on another. The kernels add and multiply in different orders, so
the last bits of a sum differ; a model trained for thousands of steps then ends
somewhere else, and a printed count (analogies solved, say) can flip. A book
whose every output is checked against a fresh run (nbval) needs the same
kernels everywhere, so the book pins them to the AVX2 level, which every x86-64
processor made since 2013 supports:

===========================  ===========  =====================================================
variable                     value        library it pins
===========================  ===========  =====================================================
``ATEN_CPU_CAPABILITY``      ``avx2``     PyTorch's own vectorised operators
``MKL_CBWR``                 ``AVX2``     MKL (matrix products inside PyTorch)
``ONEDNN_MAX_CPU_ISA``       ``AVX2``     oneDNN (linear layers inside PyTorch)
``OPENBLAS_CORETYPE``        ``Haswell``  OpenBLAS in NumPy and in SciPy (gensim, scikit-learn)
``NPY_ENABLE_CPU_FEATURES``  ``X86_V3``   NumPy's own ufunc loops (baseline + AVX2 only)
``NUMBA_CPU_NAME``           ``haswell``  the code numba compiles (the skip-gram trainer)
``NUMBA_CPU_FEATURES``       AVX2's set   the same; without it numba keeps the host's AVX-512
===========================  ===========  =====================================================

spaCy's matrix library, BLIS, picks its kernels from the processor too and
reads no variable (this build has no ``BLIS_ARCH_TYPE``).
:func:`companion.models.load_spacy_md` makes spaCy's layers multiply through
NumPy (``NumpyOps(use_blis=False)``), which is pinned; one step of the parser
and the entity recognizer still calls BLIS directly and cannot be pinned. Its
rounding reaches only the scores, not the decisions: the chapters' tags and
entities were the same on the processors measured (AVX-512 and AVX2).

The libraries read these variables once, when they load, so they must be in the
process environment before the first ``import numpy`` or ``import torch``.
Three places make sure of it, and this module is the only one that lists them:

- the Jupyter kernel ``word-embeddings-book`` (``python -m companion.kernel
  --install``, run by ``make`` and by Binder's ``postBuild``) carries them
  in its ``env``; every chapter names that kernel in its metadata, so nbval,
  ``make execute``, ``make book`` and JupyterLab all start it;
- ``import companion`` sets them (:func:`pin`) when NumPy and PyTorch are not
  loaded yet: the command-line tools (``python -m companion.bench`` and the
  others), the test processes and the data-parallel workers all import the
  companion first;
- :func:`companion.setup` checks the loaded libraries (:func:`problems`) and
  warns when they run other kernels than the book's, so a chapter run in some
  other kernel says so instead of silently printing other digits.

On a processor without AVX2 and FMA, or not x86-64, nothing is pinned (the
settings would fail there) and the last digits of some outputs may differ
from the book's.

Explained in the preface, "The same numbers on every machine" (``book/preface.md``).

Examples
--------
>>> from companion import cpu_dispatch
>>> sorted(cpu_dispatch.PINNED)[:2]
['ATEN_CPU_CAPABILITY', 'MKL_CBWR']
>>> cpu_dispatch.KERNEL_NAME
'word-embeddings-book'
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

__all__ = ["PINNED", "KERNEL_NAME", "KERNEL_DISPLAY_NAME", "supported", "pin", "missing", "problems", "status"]

#: The variables and values that fix every library's CPU dispatch (see the table above).
PINNED: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_ENABLE_CPU_FEATURES": "X86_V3",
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+lzcnt,+movbe,+popcnt,"
                          "+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f",
}

#: The Jupyter kernel every chapter names in its metadata.
KERNEL_NAME = "word-embeddings-book"
KERNEL_DISPLAY_NAME = "Python 3.11 (word-embeddings-book)"


def _cpu_flags() -> set[str] | None:
    """The processor's feature flags from /proc/cpuinfo, or None where there is no such file."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def supported() -> bool:
    """True on an x86-64 processor with AVX2 and FMA, where the pinned settings apply."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = _cpu_flags()
    if flags is None:  # no /proc (macOS on Intel): every Intel Mac since 2013 has AVX2
        return True
    return {"avx2", "fma"} <= flags


def missing(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The pinned variables that ``environ`` (default ``os.environ``) lacks or sets otherwise.

    >>> missing({**PINNED, "MKL_CBWR": "AUTO"})
    {'MKL_CBWR': 'AUTO'}
    """
    environ = os.environ if environ is None else environ
    return {name: environ.get(name) for name, value in PINNED.items() if environ.get(name) != value}


def pin() -> list[str]:
    """Set the pinned variables in ``os.environ`` while no library that reads them is loaded.

    Returns the names it set. Called by ``import companion``. It sets nothing on a
    processor where the settings do not apply (:func:`supported`), nor once NumPy
    or PyTorch is loaded (they have read their dispatch already; :func:`problems`
    then tells whether the process runs the book's kernels). A variable the user
    set to another value is left alone.
    """
    if not supported() or any(name in sys.modules for name in ("numpy", "torch", "numba")):
        return []
    done = []
    for name, value in PINNED.items():
        if name not in os.environ:
            os.environ[name] = value
            done.append(name)
    return done


def problems() -> list[str]:
    """What in this process differs from the book's numeric environment (empty when all is pinned).

    Checks the variables and, for each library already loaded, the kernels it
    chose: PyTorch's CPU capability, the OpenBLAS core type of every OpenBLAS
    loaded (threadpoolctl), NumPy's dispatch targets above AVX2 and the CPU
    numba compiles for.
    """
    if not supported():
        return []
    found = [f"{name}={value!r} (the book's: {PINNED[name]!r})" for name, value in missing().items()]
    if "torch" in sys.modules:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
        if capability != "AVX2":
            found.append(f"PyTorch dispatches to {capability} kernels (the book's: AVX2)")
    if "numpy" in sys.modules:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        wider = [t for t in __cpu_dispatch__ if t != "X86_V3" and __cpu_features__.get(t)]
        if wider:
            found.append(f"NumPy dispatches to {', '.join(wider)} loops (the book's: X86_V3, i.e. AVX2)")
        try:
            from threadpoolctl import threadpool_info
        except ImportError:  # pragma: no cover - threadpoolctl is a pinned dependency
            threadpool_info = list
        for lib in threadpool_info():
            if lib.get("internal_api") == "openblas" and lib.get("architecture") != "Haswell":
                found.append(f"OpenBLAS {Path(lib['filepath']).name} uses {lib.get('architecture')} kernels "
                             "(the book's: Haswell)")
    if "numba" in sys.modules:
        from numba.core import config

        if (config.CPU_NAME, config.CPU_FEATURES) != (PINNED["NUMBA_CPU_NAME"], PINNED["NUMBA_CPU_FEATURES"]):
            found.append(f"numba compiles for {config.CPU_NAME or 'this CPU'} (the book's: haswell, AVX2)")
    return found


def status() -> dict:
    """The numeric environment of this process, for a report or a test: variables and loaded kernels."""
    info = {"machine": platform.machine(), "supported": supported(),
            "variables": {name: os.environ.get(name) for name in PINNED}}
    if "torch" in sys.modules:
        import torch

        info["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_info

        info["openblas"] = sorted({lib.get("architecture") for lib in threadpool_info()
                                   if lib.get("internal_api") == "openblas"})
    info["problems"] = problems()
    return info
