"""The repository's address is typed in one place, ``_config.yml``, and everything else follows it.

The website reads it from there (Jupyter Book's launch and repository buttons; the
preface's clone command through ``tools/site_substitutions.py``, checked on the built
site by ``tests/browser/test_site.py``). The README is plain Markdown on GitHub and
cannot be templated, so its copies are checked here instead; and no other file may
type the address at all.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
BRANCH = CONFIG["repository"].get("branch", "main")
OWNER_NAME = urlsplit(REPO_URL).path.strip("/")
BINDERHUB = CONFIG["launch_buttons"]["binderhub_url"].rstrip("/")


def _substitutions_module():
    spec = importlib.util.spec_from_file_location("site_substitutions", ROOT / "tools" / "site_substitutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_names_one_github_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL), REPO_URL
    assert BINDERHUB.startswith("https://")


def test_readme_binder_badge_and_github_links_point_to_the_configured_repository():
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"\]\((https?://[^)\s]*/v2/gh/[^)\s]+)\)", readme)
    assert badges, "the README has no Binder badge"
    for url in badges:
        assert url.startswith(f"{BINDERHUB}/v2/gh/{OWNER_NAME}/{BRANCH}?"), (
            f"README Binder link {url} does not launch {OWNER_NAME} at {BRANCH} on {BINDERHUB} (_config.yml)")
    github = re.findall(r"https?://github\.com/[\w.-]+/[\w.-]+", readme)
    wrong = [url for url in github if url.removesuffix(".git") != REPO_URL]
    assert not wrong, f"README links to {wrong}; _config.yml says {REPO_URL}"
    clones = re.findall(r"git clone\s+(\S+)", readme)
    assert all(url.removesuffix(".git") == REPO_URL for url in clones), clones


def test_no_other_file_types_the_repository_address():
    # the preface writes {{ repo_url }}; a copy anywhere else would go stale unseen
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    allowed = {"_config.yml", "README.md", "tests/test_repository_url.py"}
    typed = []
    for name in tracked:
        path = ROOT / name
        if name in allowed or not path.is_file() or path.suffix in {".png", ".svg", ".ipynb"}:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if OWNER_NAME in text:
            typed.append(name)
    assert not typed, f"{typed} type {OWNER_NAME}: read it from _config.yml instead ({{{{ repo_url }}}} in the book)"


def test_notebooks_do_not_type_the_repository_address():
    # notebooks are JSON; checked apart so that the message names the chapter
    typed = [path.name for path in sorted((ROOT / "book").glob("*.ipynb")) if OWNER_NAME in path.read_text()]
    assert not typed, typed


def test_preface_clone_command_is_a_substituted_code_block():
    preface = (ROOT / "book" / "preface.md").read_text()
    block = re.search(r"```\{code-block\} bash\n:class: substitutions\n(.*?)```", preface, re.S)
    assert block, "the preface's clone command must be a {code-block} with :class: substitutions"
    assert "git clone {{ repo_url }}" in block[1] and "cd {{ repo_name }}" in block[1]


def test_substitutions_follow_the_config_and_the_budget():
    module = _substitutions_module()
    subs = module.repository_substitutions(REPO_URL, BRANCH, BINDERHUB)
    assert subs["repo_url"] == REPO_URL
    assert f"{REPO_URL}".endswith("/" + subs["repo_name"])
    assert subs["binder_url"] == f"{BINDERHUB}/v2/gh/{OWNER_NAME}/{BRANCH}?urlpath=lab"
    # the budget is read from the source of companion/profiling.py; compare with the imported module
    from companion import profiling

    constants = module.module_constants(module.PROFILING, ("BUDGET_SECONDS", "BUDGET_MIB"))
    assert constants == {"BUDGET_SECONDS": profiling.BUDGET_SECONDS, "BUDGET_MIB": profiling.BUDGET_MIB}
    budget = module.budget_substitutions(profiling.BUDGET_SECONDS, profiling.BUDGET_MIB, {})
    assert float(budget["budget_gib"]) * 1024 == profiling.BUDGET_MIB


def test_profile_substitutions_count_chapters_over_either_limit():
    module = _substitutions_module()
    profile = {"a": (120.0, 1536.0), "b": (120.5, 100.0), "c": (10.0, 1536.4), "d": (1.0, 2.0)}
    subs = module.budget_substitutions(120, 1536, profile)
    assert (subs["profile_chapters"], subs["profile_within_budget"], subs["profile_peak_mib"]) == ("4", "2", "1536")


@pytest.mark.parametrize("url", ["http://github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a",
                                 "https://github.com/a/b/c"])
def test_a_repository_url_that_is_not_github_owner_name_is_refused(url):
    module = _substitutions_module()
    with pytest.raises(ValueError, match=re.escape(repr(url))):
        module.repository_substitutions(url, "main", BINDERHUB)


def test_unknown_substitution_and_missing_constant_are_errors(tmp_path):
    module = _substitutions_module()
    with pytest.raises(ValueError, match="no substitution named 'repo_ur'.*repo_url"):
        module.substitute("git clone {{ repo_ur }}", {"repo_url": REPO_URL}, where="book/preface")
    source = tmp_path / "profiling.py"
    source.write_text("BUDGET_SECONDS = 120\n")
    with pytest.raises(ValueError, match="BUDGET_MIB"):
        module.module_constants(source, ("BUDGET_SECONDS", "BUDGET_MIB"))
    assert ast.literal_eval(module.substitute("'{{x}}'", {"x": "1"})) == "1"
