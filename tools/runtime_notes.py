"""A note under each chapter's title: how long it runs and how much memory it needs.

A Sphinx extension, registered in ``_config.yml`` under ``sphinx: local_extensions``.
It reads ``reports/chapters.csv`` (written by `make profile`: columns chapter,
wall_seconds, peak_rss_mib, within_budget) and puts, right after the title of each
chapter listed there, the note

    This chapter runs in about 9 s and 1066 MiB on a 2-core laptop CPU.

A page missing from the csv gets no note. The csv is a dependency of every page,
so an incremental build refreshes the notes when `make profile` rewrites it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from docutils import nodes

CSV = Path(__file__).resolve().parent.parent / "reports" / "chapters.csv"
CLASS = "runtime-note"


def read_profile(path: Path = CSV) -> dict[str, tuple[float, float]]:
    """Chapter path (as in the csv, e.g. ``book/tour.ipynb``) -> (wall seconds, peak RSS MiB)."""
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    profile = {}
    for row in rows:
        try:
            profile[row["chapter"]] = (float(row["wall_seconds"]), float(row["peak_rss_mib"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: bad row {row!r} (expected chapter, wall_seconds, peak_rss_mib)") from error
    return profile


def sentence(wall_seconds: float, peak_rss_mib: float) -> str:
    """The note's text.

    >>> sentence(9.4, 1066.5)
    'This chapter runs in about 9 s and 1066 MiB on a 2-core laptop CPU.'
    """
    return (f"This chapter runs in about {max(1, round(wall_seconds))} s and "
            f"{round(peak_rss_mib)} MiB on a 2-core laptop CPU.")


def _add_note(app, doctree) -> None:
    env = app.env
    env.note_dependency(str(CSV))
    chapter = Path(env.doc2path(env.docname, False)).as_posix()
    profile = read_profile()
    if chapter not in profile:
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section[0], nodes.title):
        return
    note = nodes.admonition("", nodes.title(text="Run time"), nodes.paragraph(text=sentence(*profile[chapter])),
                            classes=["note", CLASS])
    section.insert(1, note)


def setup(app):
    app.connect("doctree-read", _add_note)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
