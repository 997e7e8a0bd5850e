"""Numbers written in a chapter's prose that appear in none of its code or outputs.

The book's rule is that a number in the prose is computed by a cell of the same
chapter or cited to a source. This tool finds the numbers of the markdown cells
(math, inline code and link targets left out; integers below 100 and years left
out, as counts of things and dates) that no code cell and no output of the chapter
contains, also after rounding a longer computed value to the digits written
(``0.71`` is found if an output says ``0.7108``). ``30_000`` and ``1e-3`` in code
count as ``30000`` and ``0.001``; ``30,000`` in prose as ``30000``.

What it flags is a place to look: a paper's figure (cite it), a definition, or a
result typed by hand (compute it). ``tests/test_prose_numbers.py`` runs it on every
chapter and compares with ``tests/prose_numbers_allowed.toml``, where each number
that is fine has a reason; a new number typed into a chapter fails that test until
it is computed, cited or listed.

Usage: ``python tools/prose_numbers.py [notebooks...]`` (default: ``book/*.ipynb``).

>>> cells = [{"cell_type": "code", "source": "x = 30_000", "outputs": [{"text": "0.7108 1431296"}]},
...          {"cell_type": "markdown", "source": "On 30,000 words, 1.4 million weights score 0.71, not 0.75."}]
>>> flagged({"cells": cells})
[(1, '0.75')]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+)(?:\s?%)?(?!\w)")
SCALED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) (million|billion)\b")
SCALES = {"million": 10**6, "billion": 10**9}
CODE_NUMBER = re.compile(r"(?<![\w.])(\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w)")


def _joined(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def prose_numbers(text: str) -> set[str]:
    """The numbers written in ``text`` (``30,000`` as ``30000``)."""
    return {m.group(1).replace(",", "") for m in NUMBER.finditer(text)}


def code_numbers(text: str) -> set[str]:
    """The numbers in code or output ``text``, with ``30_000`` as ``30000`` and ``1e-3`` also as ``0.001``."""
    found = prose_numbers(text)
    for m in CODE_NUMBER.finditer(text):
        token = m.group(1).replace("_", "")
        found.add(token)
        if re.fullmatch(r"\d+\.0+", token):  # 6838.0 in a DataFrame is 6838 in prose
            found.add(token.split(".")[0])
        if "e" in token.lower():
            try:
                value = float(token)
            except ValueError:
                continue
            found.add(f"{value:f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value)))
    return found


# An output's embedded program (a <script>, or a whole page in an iframe's srcdoc, as the interactive
# word map of companion.word_map) is a library's code and data, not a result: its numbers do not count.
EMBEDDED = re.compile(r"<script\b.*?</script>|\bsrcdoc=\"[^\"]*\"", re.S | re.I)


def _outputs(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(_joined(output["text"]))
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append(EMBEDDED.sub(" ", _joined(value)) if kind == "text/html" else _joined(value))
    return "\n".join(parts)


def flagged(notebook: dict) -> list[tuple[int, str]]:
    """``(cell index, number)`` for every prose number found in no code or output of ``notebook``."""
    computed: set[str] = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            computed |= code_numbers(_joined(cell["source"])) | code_numbers(_outputs(cell))
    decimals = [c for c in computed if "." in c]
    integers = [int(c) for c in computed if c.isdigit()]

    def found(number: str) -> bool:
        if number in computed:
            return True
        if "." not in number:
            return False
        digits = len(number.split(".")[1])
        for c in decimals:
            if len(c.split(".")[1]) > digits:
                try:
                    if f"{float(c):.{digits}f}" == number:
                        return True
                except ValueError:
                    continue
        return False

    missing = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _joined(cell["source"])
        text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)  # math: definitions
        text = re.sub(r"\]\([^)]*\)|`[^`]*`|\{[a-z:]+\}`[^`]*`", " ", text)  # links, code, roles
        scaled = {}  # "1.4 million" is found if a computed integer rounds to it (1,431,296)
        for m in SCALED.finditer(text):
            scaled[m.group(1)] = SCALES[m.group(2)]
        for number in sorted(prose_numbers(text)):
            if number in scaled and _rounds_to(number, scaled[number], integers):
                continue
            if "." not in number and int(number) < 100:
                continue
            if re.fullmatch(r"(19|20)\d\d", number):
                continue
            if not found(number):
                missing.append((index, number))
    return missing


def _rounds_to(number: str, scale: int, integers: list[int]) -> bool:
    digits = len(number.split(".")[1]) if "." in number else 0
    return any(f"{c / scale:.{digits}f}" == number for c in integers if c >= scale // 10)


def main(argv: list[str] | None = None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or sorted(str(p) for p in Path("book").glob("*.ipynb"))
    total = 0
    for path in paths:
        found = flagged(json.loads(Path(path).read_text(encoding="utf-8")))
        total += len(found)
        if found:
            print(f"{Path(path).name}: " + ", ".join(f"[{i}] {n}" for i, n in found))
    print(f"{total} numbers in prose found in no code or output of their chapter")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
