"""One cache directory for every derived artifact of the book, keyed so that it cannot go stale.

A *derived artifact* is anything the book computes once and reuses: a tokenized
corpus, a trained model, a converted checkpoint. Each lives under
:func:`cache_dir` (``~/.cache/word-embeddings-book`` unless the environment
variable ``COMPANION_CACHE`` names another folder).

**Keys.** The caller names an artifact by what it is and the arguments that
shaped it (``"word2vec/news-sgns-d100-w5-..."``). The cache files it under a
*fingerprint* of everything else that could change it (:func:`fingerprint`):

- the source of the companion module that builds it and of every companion
  module that one imports, directly or not (the asset registry, with the
  SHA-256 of every data file, among them);
- the versions of Python and of the libraries that shape numbers (NumPy, SciPy,
  PyTorch, gensim, transformers, ...);
- the numeric environment (:mod:`companion.cpu_dispatch`): an artifact trained
  with other SIMD kernels is another artifact.

So editing the code, upgrading a library or running unpinned never reads an
old artifact: it builds a new one beside it, in another fingerprint folder
(``<cache>/<fingerprint>/<name>``). ``python -m companion.cache --prune``
deletes the folders no current code would read. (``joblib.Memory`` hashes a
function's own source and its arguments, but not the helpers it calls, which
is where this book's changes usually are; hence this module.)

**Writes are atomic:** an artifact is built into a temporary name in the same
folder and moved into place with :func:`os.replace`, so a crash or a killed
process never leaves a half-written file under the final name. Beside each
artifact a small manifest records the size of every file written; an artifact
whose files no longer match it (truncated, partly deleted) and a pickle that no
longer loads are rebuilt, with a warning naming the file. A per-artifact lock
file makes two processes that want the same artifact at once (two pytest-xdist
workers, two notebooks) build it only once; the second waits and then loads.

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
>>> path.parent.parent == cache_dir()  # <cache>/<fingerprint>/greeting.txt
True
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import hashlib
import json
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["cache_dir", "cached_file", "cached_dir", "cached_pickle", "artifact_lock", "artifact_path",
           "fingerprint", "prune", "CacheRebuildWarning"]

#: Distributions whose version can change a derived artifact's numbers or format.
LIBRARIES = ("numpy", "scipy", "torch", "scikit-learn", "gensim", "transformers", "tokenizers",
             "sentence-transformers", "safetensors", "peft", "gguf", "spacy", "thinc", "pandas", "rank-bm25")
PACKAGE = Path(__file__).resolve().parent

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


class CacheRebuildWarning(UserWarning):
    """A cached artifact was damaged and is being rebuilt."""


def _companion_imports(path: Path) -> set[str]:
    """Names of the companion modules that module file ``path`` imports (at any depth of its code)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x, y
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.split(".")[0] == "companion":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "companion" and len(parts) > 1:
                    found.add(parts[1])
    return {name for name in found if (PACKAGE / f"{name}.py").is_file()}


def _module_closure(module: str) -> list[str]:
    """``module`` and every companion module it imports, directly or not, sorted."""
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name in seen or not (PACKAGE / f"{name}.py").is_file():
            continue
        seen.add(name)
        todo.extend(_companion_imports(PACKAGE / f"{name}.py") - seen)
    return sorted(seen | {"__init__", "cache"})


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=None)
def _fingerprint(module: str, numeric: tuple) -> str:
    digest = hashlib.sha256()
    for name in _module_closure(module):
        digest.update(f"{name}\0".encode())
        digest.update((PACKAGE / f"{name}.py").read_bytes())
    digest.update(json.dumps(_library_versions(), sort_keys=True).encode())
    digest.update(repr(numeric).encode())
    return digest.hexdigest()[:16]


def _numeric_environment() -> tuple:
    from .cpu_dispatch import PINNED

    return tuple((name, os.environ.get(name)) for name in sorted(PINNED))


def _producer_module(producer: Any) -> str:
    """The companion module (short name) behind ``producer``: a module name or a callable."""
    if isinstance(producer, str):
        name = producer
    else:
        name = getattr(producer, "__module__", None) or getattr(getattr(producer, "func", None), "__module__", None) or ""
    if name.startswith("companion."):
        return name.split(".")[1]
    return name if (PACKAGE / f"{name}.py").is_file() else "cache"


def fingerprint(producer: Any = "cache") -> str:
    """The key of everything but the arguments that shapes an artifact built by ``producer``.

    ``producer`` is a companion module (``"word2vec"``, ``"companion.word2vec"``)
    or the function that builds the artifact (its module is used). Code outside
    the companion counts only through the libraries' versions and the numeric
    environment.

    >>> fingerprint("word2vec") == fingerprint("companion.word2vec") != fingerprint("glove")
    True
    """
    return _fingerprint(_producer_module(producer), _numeric_environment())


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _VALID_NAME.match(name) or ".." in name.split("/"):
        raise ValueError(
            f"invalid artifact name {name!r}: use letters, digits, '.', '_', '-' "
            "and '/' between parts, e.g. 'news/tokens-v1.pkl'"
        )


def artifact_path(name: str, producer: Any = "cache") -> Path:
    """Where artifact ``name`` built by ``producer`` lives: ``<cache>/<fingerprint>/<name>``."""
    _check_name(name)
    return cache_dir() / fingerprint(producer) / name


def _manifest_path(target: Path) -> Path:
    return target.parent / f".{target.name}.manifest.json"


def _sizes(target: Path) -> dict[str, int]:
    if target.is_file():
        return {".": target.stat().st_size}
    return {str(p.relative_to(target)): p.stat().st_size for p in sorted(target.rglob("*")) if p.is_file()}


def _write_manifest(target: Path) -> None:
    manifest = _manifest_path(target)
    tmp = manifest.with_name(manifest.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_sizes(target), sort_keys=True))
    os.replace(tmp, manifest)


def _intact(target: Path, kind: str) -> bool:
    """True when ``target`` exists as a ``kind`` ("file" or "dir") and matches its manifest."""
    if not (target.is_file() if kind == "file" else target.is_dir()):
        return False
    try:
        expected = json.loads(_manifest_path(target).read_text())
    except (OSError, ValueError):
        expected = None
    if expected is not None and expected == _sizes(target):
        return True
    warnings.warn(f"cached artifact {target} is damaged (its files differ from the manifest written with it); "
                  "rebuilding it", CacheRebuildWarning, stacklevel=3)
    _remove(target)
    return False


def _remove_leftovers(target: Path) -> None:
    """Delete the temporary files of writers that died (call with the artifact's lock held)."""
    for leftover in target.parent.glob(f".{target.name}.*.partial"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _remove(target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    _manifest_path(target).unlink(missing_ok=True)


@contextmanager
def artifact_lock(name: str, producer: Any = "cache") -> Iterator[Path]:
    """Hold an exclusive lock for artifact ``name`` of ``producer``; yield its final path."""
    target = artifact_path(name, producer)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield target
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_file(name: str, build: Callable[[Path], Any], producer: Any = None) -> Path:
    """Return the path of cached file ``name``, calling ``build(tmp_path)`` if absent.

    ``build`` must write the artifact to the path it is given. The file is only
    moved to its final name after ``build`` returns without error. The key's
    code part comes from ``producer`` (default: ``build``'s module; see
    :func:`fingerprint`).
    """
    with artifact_lock(name, build if producer is None else producer) as target:
        if _intact(target, "file"):
            return target
        _remove_leftovers(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            build(tmp_path)
            if not tmp_path.is_file() or tmp_path.stat().st_size == 0:
                raise RuntimeError(f"building artifact {name!r} wrote nothing to {tmp_path}")
            os.replace(tmp_path, target)
            _write_manifest(target)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
        return target


def cached_dir(name: str, build: Callable[[Path], Any], producer: Any = None) -> Path:
    """Like :func:`cached_file` for an artifact that is a folder of files."""
    with artifact_lock(name, build if producer is None else producer) as target:
        if _intact(target, "dir"):
            return target
        _remove_leftovers(target)
        tmp_path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        try:
            build(tmp_path)
            if not any(tmp_path.iterdir()):
                raise RuntimeError(f"building artifact {name!r} wrote nothing to {tmp_path}")
            os.replace(tmp_path, target)
            _write_manifest(target)
        finally:
            if tmp_path.exists():
                shutil.rmtree(tmp_path)
        return target


def cached_pickle(name: str, compute: Callable[[], Any], producer: Any = None) -> Any:
    """Return ``compute()``, pickled in the cache under ``name`` after the first call.

    A cached pickle that no longer loads is rebuilt once, with a warning naming it.
    """

    def build(tmp_path: Path) -> None:
        with open(tmp_path, "wb") as handle:
            pickle.dump(compute(), handle, protocol=pickle.HIGHEST_PROTOCOL)

    producer = compute if producer is None else producer
    path = cached_file(name, build, producer)
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, ValueError) as exc:
        warnings.warn(f"cached artifact {path} does not load ({exc.__class__.__name__}: {exc}); rebuilding it",
                      CacheRebuildWarning, stacklevel=2)
        with artifact_lock(name, producer) as target:
            _remove(target)
        path = cached_file(name, build, producer)
        with open(path, "rb") as handle:
            return pickle.load(handle)


def _current_fingerprints() -> set[str]:
    numeric = _numeric_environment()
    return {_fingerprint(path.stem, numeric) for path in PACKAGE.glob("*.py")}


def prune(dry_run: bool = False) -> list[Path]:
    """Delete the fingerprint folders of the cache that no current code would read; return them.

    Artifacts built in another numeric environment count as stale here.
    """
    keep = _current_fingerprints()
    stale = [p for p in sorted(cache_dir().iterdir())
             if p.is_dir() and re.fullmatch(r"[0-9a-f]{16}", p.name) and p.name not in keep]
    if not dry_run:
        for folder in stale:
            shutil.rmtree(folder)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The book's cache of derived artifacts.")
    parser.add_argument("--prune", action="store_true", help="delete artifacts no current code would read")
    parser.add_argument("--dry-run", action="store_true", help="with --prune: only list them")
    args = parser.parse_args(argv)
    print(f"cache: {cache_dir()}")
    if args.prune:
        for folder in prune(dry_run=args.dry_run):
            print(("would delete " if args.dry_run else "deleted ") + str(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
