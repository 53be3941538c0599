#!/usr/bin/env python3
"""Regenerates tests/fixtures/pyfolder_functions.jsonl: every function CPython's `ast` finds in
tests/fixtures/pyfolder/, the reference `tests/dataset.rs` compares `infill::dataset` with.

One JSON object a line, sorted by path then start line:
- a function: {"path", "name", "start_line", "end_line"} with `start_line` = the node's `lineno`
  (the `def` line, not a decorator's) and `end_line` = its `end_lineno`;
- a file `ast` cannot parse: {"path", "error"}.

Paths are relative to the folder, with `/` separators. Each file is parsed from its bytes, as
`import` would read it (byte order mark and coding declarations honoured). The answer depends on the
Python version (3.12 syntax is an error for 3.11): the committed fixture was made with CPython 3.11.7,
and `tests/dataset.rs` accepts the 3.11 and the 3.12+ answer for `edge/py312_syntax.py`.

Usage: python3 scripts/gen_functions_fixture.py [FOLDER] [OUTPUT]
"""
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "fixtures" / "pyfolder"
OUTPUT = ROOT / "tests" / "fixtures" / "pyfolder_functions.jsonl"


def records(folder):
    """Yields the fixture's records for every *.py file under `folder`, in path order."""
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if p.is_file())
    for rel in paths:
        data = (folder / rel).read_bytes()
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError, UnicodeDecodeError, MemoryError, RecursionError) as e:
            yield {"path": rel, "error": f"{type(e).__name__}: {e}"}
            continue
        functions = [
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        functions.sort(key=lambda n: (n.lineno, n.end_lineno, n.name))
        for node in functions:
            yield {
                "path": rel,
                "name": node.name,
                "start_line": node.lineno,
                "end_line": node.end_lineno,
            }


def main():
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else OUTPUT
    rows = list(records(folder))
    with open(output, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    functions = sum(1 for r in rows if "name" in r)
    errors = sum(1 for r in rows if "error" in r)
    print(
        f"Python {sys.version.split()[0]}: {functions} functions, {errors} files ast cannot parse"
        f" -> {output}"
    )


if __name__ == "__main__":
    main()
