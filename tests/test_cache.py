import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion import cache


def test_cache_dir_follows_environment_variable(tmp_cache):
    assert cache.cache_dir() == tmp_cache
    assert tmp_cache.is_dir()


def test_cached_file_builds_once(tmp_cache):
    calls = []

    def build(path):
        calls.append(path)
        path.write_text("v1")

    first = cache.cached_file("a/b.txt", build)
    second = cache.cached_file("a/b.txt", build)
    assert first == second == tmp_cache / cache.fingerprint("cache") / "a" / "b.txt"
    assert first.read_text() == "v1"
    assert len(calls) == 1


def test_crash_leaves_nothing_trusted(tmp_cache):
    def build(path):
        path.write_text("half of it")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        cache.cached_file("model.bin", build)
    assert not cache.artifact_path("model.bin").exists()
    assert not list(tmp_cache.rglob("*.partial"))
    # the next call builds for real
    path = cache.cached_file("model.bin", lambda p: p.write_text("whole"))
    assert path.read_text() == "whole"


def test_crash_in_folder_artifact_leaves_nothing(tmp_cache):
    def build(folder):
        (folder / "weights").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_dir("models/m", build)
    assert not cache.artifact_path("models/m").exists()
    assert not list(tmp_cache.rglob("*.partial"))


def test_empty_build_is_an_error(tmp_cache):
    with pytest.raises(RuntimeError, match="wrote nothing"):
        cache.cached_file("empty.txt", lambda p: None)
    assert not cache.artifact_path("empty.txt").exists()


@pytest.mark.parametrize("name", ["", "../escape", "a/../../b", "/abs", "a b", None])
def test_invalid_names_are_rejected(tmp_cache, name):
    with pytest.raises(ValueError, match="invalid artifact name"):
        cache.cached_file(name, lambda p: p.write_text("x"))


def test_cached_pickle_round_trip(tmp_cache):
    assert cache.cached_pickle("obj.pkl", lambda: {"a": [1, 2]}) == {"a": [1, 2]}
    assert cache.cached_pickle("obj.pkl", lambda: pytest.fail("recomputed")) == {"a": [1, 2]}


def _slow_builder(cache_root: str, log: str) -> None:
    os.environ["COMPANION_CACHE"] = cache_root

    def build(path: Path) -> None:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        path.write_text("shared")

    assert cache.cached_file("shared.txt", build).read_text() == "shared"


def test_two_processes_build_the_same_artifact_once(tmp_cache, tmp_path):
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_slow_builder, args=(str(tmp_cache), str(log))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert log.read_text().count("built") == 1


# --- keys: an artifact is found only by the code, libraries and numbers that made it ---


def test_the_key_follows_the_producing_code_and_its_imports():
    assert cache.fingerprint("word2vec") != cache.fingerprint("glove")
    # word2vec imports datasets, which imports text: all three are part of its key
    closure = cache._module_closure("word2vec")
    assert {"word2vec", "datasets", "text", "assets"} <= set(closure)
    assert "glove" not in closure


def test_the_key_changes_when_the_code_changes(monkeypatch, tmp_path):
    package = tmp_path / "companion"
    package.mkdir()
    for name in ("__init__", "cache", "cpu_dispatch"):
        (package / f"{name}.py").write_text(f"# {name}\n")
    (package / "trainer.py").write_text("from .helper import step\n")
    (package / "helper.py").write_text("def step(): return 1\n")
    (package / "other.py").write_text("x = 1\n")
    monkeypatch.setattr(cache, "PACKAGE", package)
    cache._fingerprint.cache_clear()
    before = cache.fingerprint("trainer")
    other_before = cache.fingerprint("other")
    (package / "helper.py").write_text("def step(): return 2\n")  # a helper the trainer calls
    cache._fingerprint.cache_clear()
    assert cache.fingerprint("trainer") != before
    assert cache.fingerprint("other") == other_before  # an unrelated module keeps its artifacts
    cache._fingerprint.cache_clear()


def test_the_key_changes_with_a_library_version_and_the_numeric_environment(monkeypatch):
    before = cache.fingerprint("word2vec")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert cache.fingerprint("word2vec") != before  # trained with other SIMD kernels: another artifact
    monkeypatch.undo()
    assert cache.fingerprint("word2vec") == before
    versions = cache._library_versions()
    monkeypatch.setattr(cache, "_library_versions", lambda: {**versions, "torch": "99.0"})
    cache._fingerprint.cache_clear()
    assert cache.fingerprint("word2vec") != before
    monkeypatch.undo()
    cache._fingerprint.cache_clear()


def test_a_damaged_artifact_is_rebuilt_with_a_warning(tmp_cache):
    calls = []

    def build(folder):
        calls.append(1)
        (folder / "weights.bin").write_bytes(b"x" * 100)
        (folder / "config.json").write_text("{}")

    folder = cache.cached_dir("models/m", build)
    with open(folder / "weights.bin", "r+b") as handle:  # truncated, as a full disk would leave it
        handle.truncate(10)
    with pytest.warns(cache.CacheRebuildWarning, match="models/m is damaged"):
        again = cache.cached_dir("models/m", build)
    assert again == folder and (folder / "weights.bin").stat().st_size == 100 and len(calls) == 2


def test_a_pickle_that_no_longer_loads_is_rebuilt(tmp_cache):
    def compute():
        return {"a": 1}

    assert cache.cached_pickle("obj.pkl", compute) == {"a": 1}
    path = cache.artifact_path("obj.pkl", compute)
    path.write_bytes(pickle.dumps({"a": 1})[:5])  # same damage, manifest rewritten to match
    cache._write_manifest(path)
    with pytest.warns(cache.CacheRebuildWarning, match="does not load"):
        assert cache.cached_pickle("obj.pkl", compute) == {"a": 1}


_KILLED_WRITER = """
import os, sys, time
os.environ["COMPANION_CACHE"] = sys.argv[1]
from companion import cache
def build(path):
    with open(path, "wb") as handle:
        handle.write(b"half of the weights")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)
        handle.write(b" and the other half")
cache.cached_file("model.bin", build)
"""


def test_a_writer_killed_midway_leaves_no_file_that_is_ever_read(tmp_cache):
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_cache)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    target = cache.artifact_path("model.bin")
    assert not target.exists()
    assert [p.name for p in target.parent.glob(".model.bin.*.partial")]  # the half-file, under a temporary name
    # the lock died with the process: the next reader builds the artifact whole
    assert cache.cached_file("model.bin", lambda p: p.write_bytes(b"whole")).read_bytes() == b"whole"
    assert not list(target.parent.glob(".model.bin.*.partial"))  # and clears the dead writer's leftovers


def test_prune_deletes_only_folders_no_current_code_reads(tmp_cache):
    kept = cache.cached_file("a.txt", lambda p: p.write_text("a"))
    stale = tmp_cache / ("0" * 16)
    (stale / "old").mkdir(parents=True)
    unrelated = tmp_cache / "verified"
    unrelated.mkdir()
    assert cache.prune(dry_run=True) == [stale] and stale.exists()
    assert cache.prune() == [stale]
    assert not stale.exists() and kept.exists() and unrelated.exists()
