"""The unit tests' fixtures: no network for the whole session, and an empty cache per test on demand.

The environment (no network in any child process, the tests' own cache) is set
by the ``conftest.py`` at the root of the repository, which pytest loads for
the chapters' nbval runs too.
"""

import pytest

from companion import assets
from companion.offline import block_network


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
