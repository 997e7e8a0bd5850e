"""companion.memory: freed heap memory goes back to the operating system."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from companion import memory

glibc = pytest.mark.skipif(memory._malloc_trim() is None, reason="needs glibc's malloc_trim")


@glibc
def test_release_returns_freed_heap_memory_to_the_os():
    """Blocks of a few kB (above Python's small-object allocator) live in glibc's heap,
    which keeps their space after they are freed while a later block stays alive;
    the release gives it back (the resident size drops by most of what was freed)."""
    script = textwrap.dedent(
        """
        import gc
        from companion.memory import release_freed_memory

        def rss_mib():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        before = rss_mib()
        blocks = [bytes(4000) + str(i).encode() for i in range(100_000)]  # 0.4 GB of malloc blocks (> 512 B)
        keep = blocks[-1]
        grown = rss_mib() - before
        del blocks
        gc.collect()
        held = rss_mib() - before
        assert release_freed_memory() is True
        released = rss_mib() - before
        print(round(grown), round(held), round(released), len(keep))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    grown, held, released, _ = map(int, out.split())
    assert grown > 250, out
    assert released < held - 150, f"grew {grown} MiB, held {held} MiB after del, {released} MiB after the release"


def test_release_after_each_cell_registers_one_hook_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        registered = memory.release_after_each_cell()
        assert registered is (memory._malloc_trim() is not None)
        memory.release_after_each_cell()  # a second setup() in the same kernel
        hooks = [f for f in shell.events.callbacks["post_run_cell"] if f is memory._after_cell]
        assert len(hooks) == (1 if registered else 0)
        shell.run_cell("x = [bytes(100) for _ in range(1000)]; del x")  # the hook runs without error
    finally:
        if memory._after_cell in shell.events.callbacks["post_run_cell"]:
            shell.events.unregister("post_run_cell", memory._after_cell)
        InteractiveShell.clear_instance()


def test_outside_ipython_nothing_is_registered():
    assert memory.release_after_each_cell() is False


def test_without_glibc_nothing_happens(monkeypatch):
    memory._glibc.cache_clear()
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    try:
        assert memory.release_freed_memory() is False
        assert memory.release_after_each_cell() is False
        assert memory.map_large_blocks() is False
    finally:
        memory._glibc.cache_clear()


@glibc
def test_large_blocks_freed_inside_a_cell_leave_no_trace_with_the_map_threshold():
    """After glibc has freed one big block, it serves 8 MiB blocks from the heap and keeps the space of the
    freed ones while a later block stays alive; with the threshold fixed at 1 MiB they are mapped and returned."""
    script = textwrap.dedent(
        """
        import sys
        from companion.memory import map_large_blocks

        if sys.argv[1] == "fixed":
            assert map_large_blocks() is True

        def rss_mib():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        big = bytearray(16 * 2**20); del big  # freeing a mapped 16 MiB block raises glibc's threshold to 16 MiB
        before = rss_mib()
        blocks = []
        for _ in range(30):
            blocks.append(bytearray(8 * 2**20))  # 8 MiB each, touched
            blocks.append(bytearray(4000))  # a small live block after each
        del blocks[::2]  # free the big ones, keep the small ones
        print(round(rss_mib() - before))
        """
    )
    held = {mode: int(subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                                     check=True).stdout) for mode in ("default", "fixed")}
    assert held["default"] > 150, held  # glibc's own policy kept most of the 240 MiB
    assert held["fixed"] < 20, held


def test_map_large_blocks_rejects_bad_thresholds():
    for bad in (0, 100, 64 * 2**20, 1.5, True, "1MiB"):
        with pytest.raises(ValueError, match=r"threshold must be an integer number of bytes from 4096 to 32 MiB, got"):
            memory.map_large_blocks(bad)
