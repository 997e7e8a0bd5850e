"""Each page lists every script once.

A Sphinx extension, registered in ``_config.yml`` under ``sphinx: local_extensions``.
With Jupyter Book 1.0.4 (Sphinx 7.4, sphinx-thebe 0.3.1, sphinx-togglebutton 0.4.5)
the inline scripts those extensions add after the builder has started appear twice
in every page's <head>. The second copy of sphinx-thebe's
``const THEBE_JS_URL = ...`` is a JavaScript error ("Identifier 'THEBE_JS_URL'
has already been declared") on every page, which the browser tests
(tests/browser/) refuse. This drops exact repeats, keeping the first copy and
the order. (Sphinx itself misses these repeats: one copy has the file name
None, the other "".)
"""

from __future__ import annotations


def _key(script) -> tuple:
    filename = getattr(script, "filename", script) or ""  # an inline script: None or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def unique(scripts: list) -> list:
    """``scripts`` without repeats (same file or body and attributes), first copy kept.

    >>> unique(["a.js", "b.js", "a.js"])
    ['a.js', 'b.js']
    """
    seen, out = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            out.append(script)
    return out


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = unique(list(context["script_files"]))


def setup(app):
    app.connect("html-page-context", _dedupe)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
