"""Test-suite-wide settings: no network, ever.

Setting COMPANION_BLOCK_NETWORK here, at import, means every notebook kernel
that nbval starts inherits it, and `companion.setup()` in the chapter's first
cell turns the guard on inside the kernel too. For the unit tests the guard is
switched on for the whole session below.
"""

import os

os.environ["COMPANION_BLOCK_NETWORK"] = "1"
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
