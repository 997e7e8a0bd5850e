"""Facts the website's prose reads from the sources instead of typing them: MyST substitutions.

A Sphinx extension, registered in ``_config.yml`` under ``sphinx: local_extensions``.
When Sphinx reads its configuration it adds to ``myst_substitutions``:

- ``repo_url``, ``repo_branch``, ``repo_name``: ``repository: url`` and ``branch`` of
  ``_config.yml`` (which Jupyter Book hands to Sphinx as the theme's
  ``repository_url`` and ``repository_branch``), the one place the repository is
  typed; the launch buttons and the repository button read the same two values;
  ``repo_name`` is the folder ``git clone`` makes;
- ``binder_url``: the Binder launch link of the repository (``launch_buttons:
  binderhub_url`` of ``_config.yml``), on JupyterLab;
- ``budget_seconds``, ``budget_mib``, ``budget_gib``: a chapter's budget,
  ``BUDGET_SECONDS`` and ``BUDGET_MIB`` of ``companion/profiling.py`` (read from
  the source file, so the build imports nothing of the companion);
- ``profile_chapters``, ``profile_within_budget``, ``profile_peak_mib``: the latest ``make profile`` (``reports/chapters.csv``)
  against that budget.

Prose writes ``{{ repo_url }}``. MyST does not substitute inside code blocks, so a
``{code-block}`` given ``:class: substitutions`` gets the same ``{{ name }}``
replaced here (the preface's ``git clone`` command); other code blocks are left
alone. The README cannot be templated: ``tests/test_repository_url.py`` fails when
its Binder badge or a GitHub address in it differs from ``_config.yml``.
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes

ROOT = Path(__file__).resolve().parent.parent
PROFILING = ROOT / "companion" / "profiling.py"
PROFILE_CSV = ROOT / "reports" / "chapters.csv"
CODE_CLASS = "substitutions"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Literal values assigned at the top level of a Python file, without importing it.

    >>> module_constants(PROFILING, ("BUDGET_SECONDS",))["BUDGET_SECONDS"] > 0
    True
    """
    found = {}
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id in names:
                found[target.id] = ast.literal_eval(statement.value)
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError(f"{path} assigns no literal {', '.join(missing)} at its top level")
    return found


def repository_substitutions(repo_url: str, branch: str, binderhub_url: str) -> dict[str, str]:
    """Substitutions that name the repository.

    >>> subs = repository_substitutions("https://github.com/org/book", "main", "https://mybinder.org/")
    >>> subs["repo_name"], subs["binder_url"]
    ('book', 'https://mybinder.org/v2/gh/org/book/main?urlpath=lab')
    """
    parts = urlsplit(repo_url)
    path = parts.path.strip("/")
    if parts.scheme != "https" or parts.netloc != "github.com" or path.count("/") != 1:
        raise ValueError(f"repository url {repo_url!r}: expected https://github.com/<owner>/<name>")
    name = path.split("/")[1].removesuffix(".git")
    binder = f"{binderhub_url.rstrip('/')}/v2/gh/{path}/{branch}?urlpath=lab"
    return {"repo_url": repo_url, "repo_branch": branch, "repo_name": name, "binder_url": binder}


def budget_substitutions(budget_seconds: float, budget_mib: float,
                         profile: dict[str, tuple[float, float]]) -> dict[str, str]:
    """Substitutions that state the per-chapter budget and how the latest profile met it.

    >>> subs = budget_substitutions(120, 1536, {"book/a.ipynb": (30.0, 1000.4), "book/b.ipynb": (130.0, 1600.0)})
    >>> subs["budget_gib"], subs["profile_within_budget"], subs["profile_peak_mib"]
    ('1.5', '1', '1600')
    """
    subs = {"budget_seconds": f"{budget_seconds:g}", "budget_mib": f"{budget_mib:g}",
            "budget_gib": f"{budget_mib / 1024:g}", "profile_chapters": str(len(profile))}
    within = [name for name, (wall, peak) in profile.items() if wall <= budget_seconds and peak <= budget_mib]
    subs["profile_within_budget"] = str(len(within))
    if profile:
        subs["profile_peak_mib"] = f"{round(max(peak for _, peak in profile.values()))}"
    return subs


def read_profile(path: Path = PROFILE_CSV) -> dict[str, tuple[float, float]]:
    """Chapter -> (wall seconds, peak RSS MiB) from ``reports/chapters.csv``; empty if there is none."""
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {row["chapter"]: (float(row["wall_seconds"]), float(row["peak_rss_mib"]))
                for row in csv.DictReader(handle)}


def substitute(text: str, substitutions: dict[str, str], where: str = "") -> str:
    """Replace every ``{{ name }}`` in ``text``; an unknown name is an error.

    >>> substitute("git clone {{ repo_url }}", {"repo_url": "https://github.com/org/book"})
    'git clone https://github.com/org/book'
    """
    def replace(match):
        name = match[1]
        if name not in substitutions:
            raise ValueError(f"{where}: no substitution named {name!r} (known: {', '.join(sorted(substitutions))})")
        return str(substitutions[name])

    return PLACEHOLDER.sub(replace, text)


def _add_substitutions(app, config) -> None:
    theme = config.html_theme_options or {}
    repo_url = theme.get("repository_url")
    if not repo_url:
        raise ValueError("_config.yml has no repository: url; the preface and the launch buttons need it")
    binderhub = (theme.get("launch_buttons") or {}).get("binderhub_url") or "https://mybinder.org"
    computed = repository_substitutions(repo_url, theme.get("repository_branch") or "main", binderhub)
    budget = module_constants(PROFILING, ("BUDGET_SECONDS", "BUDGET_MIB"))
    computed |= budget_substitutions(budget["BUDGET_SECONDS"], budget["BUDGET_MIB"], read_profile())
    config.myst_substitutions = {**computed, **(config.myst_substitutions or {})}


def _substitute_in_code_blocks(app, doctree) -> None:
    # a change of the values changes the configuration, which makes Sphinx read every page again
    substitutions = app.config.myst_substitutions
    for block in doctree.findall(nodes.literal_block):
        if CODE_CLASS in block.get("classes", []):
            text = substitute(block.astext(), substitutions, where=app.env.docname)
            block.rawsource = text  # Sphinx highlights a block only while rawsource equals its text
            block.children = []
            block += nodes.Text(text)
            block["classes"].remove(CODE_CLASS)


def setup(app):
    app.connect("config-inited", _add_substitutions)
    app.connect("doctree-read", _substitute_in_code_blocks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
