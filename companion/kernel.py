"""The book's Jupyter kernel, ``word-embeddings-book``: this Python, with the pinned CPU dispatch.

Every chapter names this kernel in its metadata, so JupyterLab (``make lab``,
Binder), nbval (``make test``), ``make execute`` and ``make book`` all start it,
and its ``env`` sets the variables of :mod:`companion.cpu_dispatch` before the
kernel loads NumPy or PyTorch.

``python -m companion.kernel --install`` writes it into the current environment
(``make`` and Binder's ``postBuild`` do); ``python -m companion.kernel`` loads
NumPy and PyTorch and prints which kernels they chose (exit status 1 when they
are not the book's).

Explained in the preface, "The same numbers on every machine" (``book/preface.md``).

Examples
--------
>>> from companion.kernel import kernel_spec
>>> kernel_spec()["argv"][1:3]
['-m', 'ipykernel_launcher']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .cpu_dispatch import KERNEL_DISPLAY_NAME, KERNEL_NAME, PINNED, status, supported

__all__ = ["kernel_spec", "install_kernel", "main"]


def kernel_spec() -> dict:
    """The ``kernel.json`` of the book's kernel: this Python, with the pinned variables."""
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }
    if supported():
        spec["env"] = dict(PINNED)
    return spec


def install_kernel(prefix: str | Path | None = None) -> Path:
    """Write the book's kernel into ``{prefix}/share/jupyter/kernels/`` (default: this environment).

    Returns the kernel's folder. Written atomically, so a Jupyter server that
    lists kernels meanwhile never reads half a file.
    """
    prefix = Path(sys.prefix if prefix is None else prefix)
    folder = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "kernel.json.tmp"
    tmp.write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    os.replace(tmp, folder / "kernel.json")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the book's Jupyter kernel, or report this process's CPU dispatch.")
    parser.add_argument("--install", action="store_true",
                        help=f"install the Jupyter kernel {KERNEL_NAME!r} into this environment (sys.prefix)")
    parser.add_argument("--prefix", default=None, help="install under this prefix instead of sys.prefix")
    args = parser.parse_args(argv)
    if args.install:
        folder = install_kernel(args.prefix)
        print(f"installed kernel {KERNEL_NAME!r} in {folder}")
        return 0
    import numpy  # noqa: F401  (load the libraries, then report what they chose)
    import torch  # noqa: F401

    info = status()
    print(json.dumps(info, indent=1))
    return 1 if info["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
