"""Test-suite-wide settings: no network, ever, and never the reader's own cache.

Setting COMPANION_BLOCK_NETWORK here, at import, means every process the tests
start inherits it (notebook kernels, data-parallel workers, command-line tools),
and `import companion` there turns the guard on (companion.offline). For the
unit tests the guard is switched on for the whole session below.

The tests build their artifacts in a cache of their own: COMPANION_TEST_CACHE
if set (`.ci/run` points it at an empty temporary folder), else
~/.cache/word-embeddings-book-tests. The reader's cache (COMPANION_CACHE, or
~/.cache/word-embeddings-book) is never read or written by `make test`; the
nbval kernels inherit the test cache too. Artifacts are keyed by the code that
made them (companion.cache), so a test cache kept between runs cannot go stale.
"""

import os
from pathlib import Path

os.environ["COMPANION_BLOCK_NETWORK"] = "1"
os.environ["COMPANION_CACHE"] = os.environ.get("COMPANION_TEST_CACHE") or str(
    Path.home() / ".cache" / "word-embeddings-book-tests")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from companion import assets  # noqa: E402
from companion.offline import block_network  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    block_network(True)
    yield
    block_network(False)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty companion cache for one test (COMPANION_CACHE points at it)."""
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "cache"))
    assets._verified.cache_clear()
    yield tmp_path / "cache"
    assets._verified.cache_clear()
