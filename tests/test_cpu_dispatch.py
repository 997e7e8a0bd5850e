"""The pinned CPU dispatch is in force where the book computes its outputs.

Each test starts its process from an environment *without* the pinned variables,
as a reader's shell has, and asks the libraries which kernels they chose.
"""

import json
import os
import subprocess
import sys
import warnings

import nbformat
import pytest

from companion import cpu_dispatch
from companion.cpu_dispatch import KERNEL_NAME, PINNED
from companion.kernel import kernel_spec
from companion.profiling import execute_notebook, toc_notebooks

needs_avx2 = pytest.mark.skipif(not cpu_dispatch.supported(), reason="the pins apply to x86-64 with AVX2 only")

# what a process reports about the kernels its libraries chose
REPORT = (
    "import json, os, torch, scipy.linalg, threadpoolctl, numba, numpy as np\n"
    "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
    "@numba.njit(fastmath=True)\n"
    "def dot(a, b):\n"
    "    s = np.float32(0.0)\n"
    "    for i in range(a.shape[0]):\n"
    "        s += a[i] * b[i]\n"
    "    return s\n"
    "dot(np.ones(64, np.float32), np.ones(64, np.float32))\n"
    "asm = ''.join(dot.inspect_asm().values())\n"
    "print(json.dumps({'torch': torch.backends.cpu.get_cpu_capability(),\n"
    "  'openblas': sorted({i.get('architecture') for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'}),\n"
    "  'n_openblas': sum(i['internal_api'] == 'openblas' for i in threadpoolctl.threadpool_info()),\n"
    "  'numpy_wider_than_avx2': [t for t in ('X86_V4', 'AVX512_ICL', 'AVX512_SPR') if f.get(t)],\n"
    "  'numba_registers': {r: r in asm for r in ('ymm', 'zmm')},\n"
    "  'env': {k: os.environ.get(k) for k in %r}}))\n" % sorted(PINNED)
)


def _unpinned_environ():
    return {k: v for k, v in os.environ.items() if k not in PINNED}


def _assert_pinned(report):
    assert report["torch"] == "AVX2"
    assert report["openblas"] == ["Haswell"] and report["n_openblas"] == 2  # NumPy's and SciPy's
    assert report["numpy_wider_than_avx2"] == []
    assert report["numba_registers"] == {"ymm": True, "zmm": False}  # numba's code: AVX2, never AVX-512
    assert report["env"] == dict(sorted(PINNED.items()))


def test_missing_names_each_variable_that_differs():
    assert cpu_dispatch.missing(dict(PINNED)) == {}
    env = {**PINNED, "OPENBLAS_CORETYPE": "SkylakeX"}
    del env["ATEN_CPU_CAPABILITY"]
    assert cpu_dispatch.missing(env) == {"ATEN_CPU_CAPABILITY": None, "OPENBLAS_CORETYPE": "SkylakeX"}


@needs_avx2
def test_unpinned_libraries_choose_other_kernels_on_this_machine():
    """The control: without the pins (NumPy loaded before the companion), the check reports it."""
    code = ("import numpy, torch, companion, warnings\n"
            "from companion.cpu_dispatch import problems\n"
            "print(len(problems()))\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    companion.setup()\n"
            "print(sum(issubclass(x.category, companion.reproducibility.NumericEnvironmentWarning) for x in w))\n")
    env = {**_unpinned_environ(), "ATEN_CPU_CAPABILITY": "default"}  # differs from the pin on every machine
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    n_problems, n_warnings = map(int, out.split())
    assert n_problems >= 2  # the variable and PyTorch's capability
    assert n_warnings == 1


@needs_avx2
def test_import_companion_pins_a_fresh_process():
    """Command-line tools, test processes and data-parallel workers import the companion first."""
    code = "import companion\n" + REPORT
    out = subprocess.run([sys.executable, "-c", code], env=_unpinned_environ(),
                         capture_output=True, text=True, check=True).stdout
    _assert_pinned(json.loads(out))


@needs_avx2
def test_the_test_process_itself_is_pinned():
    assert cpu_dispatch.problems() == []


def test_every_chapter_names_the_book_kernel():
    for path in toc_notebooks():
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == KERNEL_NAME, path.name


def test_the_installed_kernel_is_this_python_with_the_pins():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)  # what nbval and nbclient look up
    assert spec.argv == kernel_spec()["argv"]
    assert os.path.samefile(spec.argv[0], sys.executable)
    if cpu_dispatch.supported():
        assert spec.env == PINNED


@needs_avx2
@pytest.mark.slow
def test_the_book_kernel_runs_pinned_even_when_it_imports_numpy_first():
    """nbval and JupyterLab start this kernel by name; its env pins the libraries before any import."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, env=_unpinned_environ())
    try:
        chunks = []
        kc.execute_interactive(REPORT, timeout=120,
                               output_hook=lambda m: chunks.append(m["content"].get("text", ""))
                               if m["msg_type"] == "stream" else None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    _assert_pinned(json.loads("".join(chunks)))


@needs_avx2
@pytest.mark.slow
def test_make_execute_runs_pinned(tmp_path, monkeypatch):
    """`make execute` and `make profile` run chapters through execute_notebook."""
    for name in PINNED:
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REPORT)])
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": "book", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    execute_notebook(path, write=True)
    out = nbformat.read(path, as_version=4).cells[0].outputs[0]["text"]
    _assert_pinned(json.loads(out))


def test_setup_is_silent_when_pinned():
    import companion

    with warnings.catch_warnings():
        warnings.simplefilter("error", companion.reproducibility.NumericEnvironmentWarning)
        companion.setup()
