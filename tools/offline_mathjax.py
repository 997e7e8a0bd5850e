"""MathJax 3, served from the website itself, so that equations render with no internet.

Sphinx loads MathJax from a CDN by default. This module fetches the npm package
``mathjax@3.2.2`` once, at set-up time (`make install`, or run this file), checks
it against the registry's sha512 integrity, and unpacks the part the website
needs (the ``tex-mml-chtml`` component, its fonts and the extensions it may
load on demand) into ``<venv>/share/mathjax-3.2.2``. The files are not committed.

As a Sphinx extension (registered in ``_config.yml`` under ``sphinx:
local_extensions``) it adds that folder to ``html_static_path``, so the build
copies it to ``_build/html/_static/mathjax/``, where ``mathjax_path`` in
``_config.yml`` points. A build without the files fails with a message that
says how to fetch them, rather than quietly falling back to the CDN.

    python tools/offline_mathjax.py   # fetch (a no-op when already there)
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
# `npm view mathjax@3.2.2 dist.integrity`
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
COMPONENT = "tex-mml-chtml.js"
# What tex-mml-chtml.js may load at run time (TeX extensions, CHTML fonts, the
# menu and its accessibility tools); the other combined components are left out.
KEEP = [COMPONENT, "a11y", "adaptors", "input", "output/chtml", "ui", "sre"]


def static_root(prefix: str | Path | None = None) -> Path:
    """The folder added to html_static_path; its ``mathjax/`` holds the files."""
    return Path(prefix or sys.prefix) / "share" / f"mathjax-{VERSION}"


def installed(prefix: str | Path | None = None) -> bool:
    return (static_root(prefix) / "mathjax" / COMPONENT).is_file()


def _check_integrity(tarball: Path) -> None:
    algorithm, expected = INTEGRITY.split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise RuntimeError(f"{tarball.name}: {algorithm} is {digest}, expected {expected}")


def fetch(prefix: str | Path | None = None) -> Path:
    """Fetch mathjax@VERSION with `npm pack` and unpack the needed files; return the folder."""
    root = static_root(prefix)
    if installed(prefix):
        return root
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch MathJax (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"mathjax@{VERSION}", "--pack-destination", tmp, "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
        tarball = Path(tmp) / f"mathjax-{VERSION}.tgz"
        _check_integrity(tarball)
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        staging = Path(tmp) / "mathjax"
        for item in KEEP:
            source = package / "es5" / item
            target = staging / item
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        shutil.copy2(package / "LICENSE", staging / "LICENSE")
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        shutil.move(str(staging), root / "mathjax")
    return root


def _add_static_path(app, config) -> None:
    from sphinx.errors import ExtensionError

    if not installed():
        raise ExtensionError(
            f"MathJax {VERSION} is not in {static_root()}: run `make install` "
            f"(or `{sys.executable} tools/offline_mathjax.py`) to fetch it"
        )
    if not str(config.mathjax_path).startswith("mathjax/"):
        raise ExtensionError(f"mathjax_path is {config.mathjax_path!r}; set it to 'mathjax/{COMPONENT}' in _config.yml")
    config.html_static_path = [*config.html_static_path, str(static_root())]


def setup(app):
    app.connect("config-inited", _add_static_path)
    return {"version": VERSION, "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    print(f"MathJax {VERSION}: {fetch() / 'mathjax'}")
