"""One cache directory for every derived artifact of the book.

A *derived artifact* is anything the book computes once and reuses: a tokenized
corpus, a trained model, a converted checkpoint. Each lives under
:func:`cache_dir` (``~/.cache/word-embeddings-book`` unless the environment
variable ``COMPANION_CACHE`` names another folder).

Writes are atomic: an artifact is built into a temporary name in the same
folder and moved into place with :func:`os.replace`, so a crash never leaves a
half-written file that a later run would trust. A per-artifact lock file makes
two processes that want the same artifact at once (two pytest-xdist workers,
two notebooks) build it only once; the second waits and then loads.

Explained in the chapter "A first tour of the book" (``book/tour.ipynb``).

Examples
--------
>>> import tempfile, os
>>> from companion.cache import cached_file
>>> os.environ["COMPANION_CACHE"] = tempfile.mkdtemp()
>>> def build(tmp_path):
...     tmp_path.write_text("hello")
>>> path = cached_file("greeting.txt", build)
>>> path.read_text()
'hello'
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["cache_dir", "cached_file", "cached_dir", "cached_pickle", "artifact_lock"]

CACHE_ENV = "COMPANION_CACHE"
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def cache_dir() -> Path:
    """Return the cache folder, creating it if needed.

    ``COMPANION_CACHE`` overrides the default ``~/.cache/word-embeddings-book``.
    """
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "word-embeddings-book")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _artifact_path(name: str) -> Path:
    if not isinstance(name, str) or not _VALID_NAME.match(name) or ".." in name.split("/"):
        raise ValueError(
            f"invalid artifact name {name!r}: use letters, digits, '.', '_', '-' "
            "and '/' between parts, e.g. 'news/tokens-v1.pkl'"
        )
    return cache_dir() / name


@contextmanager
def artifact_lock(name: str) -> Iterator[Path]:
    """Hold an exclusive lock for artifact ``name``; yield its final path."""
    target = _artifact_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield target
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_file(name: str, build: Callable[[Path], Any]) -> Path:
    """Return the path of cached file ``name``, calling ``build(tmp_path)`` if absent.

    ``build`` must write the artifact to the path it is given. The file is only
    moved to its final name after ``build`` returns without error.
    """
    with artifact_lock(name) as target:
        if target.is_file():
            return target
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            build(tmp_path)
            if not tmp_path.is_file() or tmp_path.stat().st_size == 0:
                raise RuntimeError(f"building artifact {name!r} wrote nothing to {tmp_path}")
            os.replace(tmp_path, target)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
        return target


def cached_dir(name: str, build: Callable[[Path], Any]) -> Path:
    """Like :func:`cached_file` for an artifact that is a folder of files."""
    with artifact_lock(name) as target:
        if target.is_dir():
            return target
        tmp_path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        try:
            build(tmp_path)
            if not any(tmp_path.iterdir()):
                raise RuntimeError(f"building artifact {name!r} wrote nothing to {tmp_path}")
            os.replace(tmp_path, target)
        finally:
            if tmp_path.exists():
                shutil.rmtree(tmp_path)
        return target


def cached_pickle(name: str, compute: Callable[[], Any]) -> Any:
    """Return ``compute()``, pickled in the cache under ``name`` after the first call."""

    def build(tmp_path: Path) -> None:
        with open(tmp_path, "wb") as handle:
            pickle.dump(compute(), handle, protocol=pickle.HIGHEST_PROTOCOL)

    path = cached_file(name, build)
    with open(path, "rb") as handle:
        return pickle.load(handle)
