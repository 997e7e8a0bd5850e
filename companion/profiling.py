"""Execute chapters in a fresh kernel, measure them, and (optionally) store their outputs.

``python -m companion.profiling`` runs every chapter listed in ``_toc.yml`` in
a fresh kernel, one after the other, and writes ``reports/chapters.csv`` and
``reports/chapters.md``: wall-clock seconds and the peak resident memory (RSS)
of the kernel and its child processes, sampled with psutil (:class:`PeakMemory`;
Linux, macOS and Windows alike), or the kernel's own high-water mark
(``getrusage``) where that is higher, since sampling can miss a short peak. The budget for each chapter is :data:`BUDGET_SECONDS`
and :data:`BUDGET_MIB` on a 2-core machine (mybinder.org caps the memory of
the whole container, the Jupyter server included, at 2 GB). This is a benchmark, not a timed test.

``python -m companion.profiling --write book/tour.ipynb`` also stores the fresh
outputs in the notebook, which is how a maintainer refreshes a chapter after
editing it (the test suite then checks the stored outputs with nbval).

Explained in the preface (``book/preface.md``), section "For maintainers".
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cpu_dispatch import KERNEL_NAME

__all__ = ["ChapterRun", "PeakMemory", "execute_notebook", "toc_notebooks", "main", "BUDGET_SECONDS", "BUDGET_MIB"]

BUDGET_SECONDS = 120
BUDGET_MIB = 2048
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ChapterRun:
    chapter: str
    wall_seconds: float
    peak_rss_mib: float

    @property
    def within_budget(self) -> bool:
        return self.wall_seconds <= BUDGET_SECONDS and self.peak_rss_mib <= BUDGET_MIB


class PeakMemory:
    """Context manager: the peak resident memory (RSS) of a process and its children, in MiB.

    A background thread samples the resident set size of process ``pid``
    (default: this one) and of all its descendants every ``interval`` seconds
    with psutil, and keeps the largest total. PyTorch releases the interpreter
    lock inside its kernels, so the thread keeps sampling during training; but
    code that holds the lock (a NumPy allocation, say) keeps the thread from
    sampling, and a peak shorter than ``interval`` can be missed. So when the
    process measured is this one, on Linux, the kernel's own high-water mark
    (``VmHWM``) is reset on entry and read on exit as well: the peak of this
    process is then exact, that of its children sampled, and the total is at
    least the mark plus the least the children held at any sample (a worker
    pool left running must not hide a short peak of the process itself). (A ``PeakMemory`` of
    this process inside another one resets the outer one's mark; the outer
    keeps only what it sampled before.) After the ``with`` block,
    ``peak_mib`` holds the peak and ``extra_mib`` the peak above the level at
    entry (what the block itself added). The chapter "Embeddings versus
    fine-tuning" measures each method's training with it, ``make profile``
    each chapter's kernel.

    >>> import numpy as np
    >>> with PeakMemory(interval=0.001) as memory:
    ...     block = np.ones(2**20)  # 8 MiB, which the allocator may take from memory already resident
    >>> memory.peak_mib >= memory.extra_mib >= 0
    True
    """

    def __init__(self, pid: int | None = None, interval: float = 0.005):
        if not (isinstance(interval, (int, float)) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        import psutil

        self._process = psutil.Process(pid)
        self._own = self._process.pid == os.getpid()
        self.interval = interval
        self.peak_mib = self.extra_mib = None

    def _rss_bytes(self) -> int:
        """Resident bytes of the process and its descendants, summed (sampled)."""
        import psutil

        total = children = 0
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return 0
        for i, proc in enumerate(processes):
            try:
                rss = proc.memory_info().rss
            except psutil.Error:  # a child that ended between the two calls
                continue
            total += rss
            children += rss if i else 0
            if not i:
                self._own_last = rss
        # the least the descendants held at any sample: added to this process's own
        # high-water mark on exit, it bounds the total from below
        self._children_min = min(self._children_min, children)
        return total

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._rss_bytes())

    def __enter__(self):
        import threading

        self._children_min = float("inf")
        self._own_last = 0
        self._start = self._peak = self._rss_bytes()
        self._own_start = self._own_last
        self._high_water = self._own and _reset_high_water_mark()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss_bytes())
        extra = self._peak - self._start
        if self._high_water:  # this process alone reached its high-water mark during the block,
            # while its descendants (a worker pool left running, say) held at least _children_min
            own_peak = _high_water_mark()
            self._peak = max(self._peak, own_peak + int(self._children_min))
            # what the block added: in total, or in this process alone (a child that ended
            # during the block must not hide a peak of the process itself)
            extra = max(self._peak - self._start, own_peak - self._own_start)
        self.peak_mib = self._peak / 2**20
        self.extra_mib = extra / 2**20
        return False


def _reset_high_water_mark() -> bool:
    """Reset this process's peak resident set size (Linux 4.0+); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _high_water_mark() > 0
    except OSError:
        return False


def _high_water_mark() -> int:
    """This process's peak resident set size since start or the last reset, in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


# run in the kernel after the chapter: its peak resident memory in bytes (ru_maxrss is KiB on
# Linux, bytes on macOS; no `resource` module on Windows, where only the sampled peak counts)
_KERNEL_PEAK = """\
try:
    import resource as _r, sys as _s
    print(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss * (1 if _s.platform == "darwin" else 1024))
except ImportError:
    pass"""


def execute_notebook(path: Path, write: bool = False, timeout: int = 600) -> ChapterRun:
    """Run notebook ``path`` top to bottom in a fresh kernel; return its wall time and peak RSS.

    The kernel is the one the notebook names in its metadata (every chapter names
    the book's kernel, :data:`companion.cpu_dispatch.KERNEL_NAME`, whose
    environment pins the CPU dispatch).

    With ``write=True`` the executed notebook (fresh outputs, execution counts
    1..n) replaces the file, written atomically. A cell error raises
    ``nbclient.exceptions.CellExecutionError`` and nothing is written.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", KERNEL_NAME),
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        with PeakMemory(pid, interval=0.02) as memory:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        wall = time.perf_counter() - start
        # sampling can miss a short peak; the kernel's own high-water mark cannot (POSIX only)
        probe = nbformat.v4.new_code_cell(_KERNEL_PEAK)
        nb.cells.append(probe)
        try:
            client.execute_cell(probe, len(nb.cells) - 1)
        finally:
            nb.cells.pop()
        texts = [out.get("text", "") for out in probe.outputs if out.get("output_type") == "stream"]
        kernel_peak = float(texts[0]) / 2**20 if texts and texts[0].strip() else 0.0
        peak = max(memory.peak_mib, kernel_peak)
    if write:
        for cell in nb.cells:  # execution timestamps would make every re-run a diff
            cell.metadata.pop("execution", None)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    return ChapterRun(str(path.relative_to(ROOT) if path.is_absolute() and ROOT in path.parents else path), round(wall, 1), round(peak, 1))


def toc_notebooks(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in book order."""
    import yaml

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    data = yaml.safe_load(toc.read_text())
    files = [data["root"], *walk(data.get("parts", data.get("chapters", [])))]
    out = []
    for name in files:
        candidate = toc.parent / f"{name}.ipynb"
        if candidate.is_file() and candidate not in out:
            out.append(candidate)
    return out


def write_reports(runs: list[ChapterRun], out_dir: Path, fresh_cache: bool = False) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "chapters.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["chapter", "wall_seconds", "peak_rss_mib", "within_budget"])
        for run in runs:
            writer.writerow([run.chapter, run.wall_seconds, run.peak_rss_mib, run.within_budget])
    cpus = os.cpu_count()
    lines = [
        f"Measured on {platform.machine()}, {cpus} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; budget {BUDGET_SECONDS} s and {BUDGET_MIB} MiB per chapter"
        + ("; chapters run in book order starting from an empty cache, as a reader's first pass does." if fresh_cache else "."),
        "",
        "| chapter | wall (s) | peak RSS (MiB) | within budget |",
        "|---|---:|---:|:---:|",
    ]
    for run in runs:
        lines.append(f"| {run.chapter} | {run.wall_seconds:.1f} | {run.peak_rss_mib:.0f} | {'yes' if run.within_budget else 'NO'} |")
    (out_dir / "chapters.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every chapter in _toc.yml)")
    parser.add_argument("--write", action="store_true", help="store the fresh outputs in the notebooks")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="folder for chapters.csv and chapters.md")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="start from an empty companion cache (a temporary folder), as a reader's first run does")
    args = parser.parse_args(argv)
    if args.fresh_cache:
        import tempfile

        os.environ["COMPANION_CACHE"] = tempfile.mkdtemp(prefix="companion-profile-")
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    for nb in notebooks:
        if not nb.is_file():
            parser.error(f"no such notebook: {nb}")
    runs = []
    for nb in notebooks:
        run = execute_notebook(nb, write=args.write)
        print(f"{run.chapter}: {run.wall_seconds:.1f} s, {run.peak_rss_mib:.0f} MiB peak RSS", flush=True)
        runs.append(run)
    if not args.notebooks and not args.write:
        write_reports(runs, args.out, fresh_cache=args.fresh_cache)
        print((args.out / "chapters.md").read_text())
    if args.write:  # storing outputs: the budget is `make profile`'s business, on a quiet machine
        return 0
    return 0 if all(r.within_budget for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
