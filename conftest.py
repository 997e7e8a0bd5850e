"""Settings for every pytest run of the project, unit tests (``tests/``) and chapters (nbval on ``book/``).

This file sits at the root so that pytest loads it for both; ``tests/conftest.py``
adds the unit tests' fixtures. Setting the variables here, at import, means every
process the tests start inherits them: the nbval kernels of the chapters, the
data-parallel workers and the command-line tools.

- ``COMPANION_BLOCK_NETWORK=1``: ``import companion`` switches on the guard of
  :mod:`companion.offline`, so code that opens a non-loopback connection fails.
- ``COMPANION_CACHE``: the tests build their artifacts in a cache of their own,
  ``COMPANION_TEST_CACHE`` if set (``.ci/run`` points it at an empty temporary
  folder), else ``~/.cache/word-embeddings-book-tests``. The reader's cache
  (``~/.cache/word-embeddings-book``) is never read or written by ``make test``.
  Artifacts are keyed by the code that made them (:mod:`companion.cache`), so a
  test cache kept between runs cannot go stale.
"""

import os
from pathlib import Path

os.environ["COMPANION_BLOCK_NETWORK"] = "1"
os.environ["COMPANION_CACHE"] = os.environ.get("COMPANION_TEST_CACHE") or str(
    Path.home() / ".cache" / "word-embeddings-book-tests")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
