import multiprocessing
import os
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
    assert first == second == tmp_cache / "a" / "b.txt"
    assert first.read_text() == "v1"
    assert len(calls) == 1


def test_crash_leaves_nothing_trusted(tmp_cache):
    def build(path):
        path.write_text("half of it")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        cache.cached_file("model.bin", build)
    assert not (tmp_cache / "model.bin").exists()
    assert not list(tmp_cache.glob("*.partial"))
    # the next call builds for real
    path = cache.cached_file("model.bin", lambda p: p.write_text("whole"))
    assert path.read_text() == "whole"


def test_crash_in_folder_artifact_leaves_nothing(tmp_cache):
    def build(folder):
        (folder / "weights").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_dir("models/m", build)
    assert not (tmp_cache / "models" / "m").exists()
    assert not list((tmp_cache / "models").glob("*.partial"))


def test_empty_build_is_an_error(tmp_cache):
    with pytest.raises(RuntimeError, match="wrote nothing"):
        cache.cached_file("empty.txt", lambda p: None)
    assert not (tmp_cache / "empty.txt").exists()


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
