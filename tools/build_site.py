"""Build the website into _build/html.

    python tools/build_site.py            # render the stored outputs (`make book`, `make test`)
    python tools/build_site.py --execute  # execute changed chapters with jupyter-cache (`make book-execute`)

`make test` first proves with nbval (strict) that every stored output equals a
fresh run, so its site build renders the stored outputs instead of executing
every chapter a second time. Both modes fail on any Sphinx warning (broken
cross-references included, -W -n) and on any chapter whose stored or fresh
outputs contain an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.profiling import toc_notebooks  # noqa: E402


def stored_errors() -> list[str]:
    """Chapters (from _toc.yml) whose stored outputs contain an error or an unexecuted cell."""
    problems = []
    for path in toc_notebooks():
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if cell.execution_count is None:
                problems.append(f"{path.relative_to(ROOT)}: code cell {index} was never executed")
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    problems.append(f"{path.relative_to(ROOT)}: code cell {index} stored an error: {out.get('ename')}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true", help="execute chapters (jupyter-cache) instead of rendering stored outputs")
    args = parser.parse_args()

    problems = stored_errors()
    if problems and not args.execute:
        print("\n".join(problems), file=sys.stderr)
        return 1

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if not args.execute:
        config["execute"]["execute_notebooks"] = "off"
    # Jupyter Book resolves local_extensions against the config file's folder,
    # and the generated config lives in _build/: make those paths absolute.
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str((ROOT / path).resolve())
    build = ROOT / "_build"
    build.mkdir(exist_ok=True)
    config_path = build / "_config.generated.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
        "--config", str(config_path), "--path-output", str(ROOT),
        "-W", "-n", "--keep-going",
    ]
    print(" ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        return result.returncode
    index = build / "html" / "index.html"
    if not index.is_file():
        print(f"the build reported success but {index} is missing", file=sys.stderr)
        return 1
    print(f"website: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
