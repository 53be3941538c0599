#!/usr/bin/env python3
"""Builds the ablation table of docs/quality.md from `infill eval` outputs.

Usage: scripts/quality_table.py DIR NAME:LABEL [NAME:LABEL ...]
For each NAME it reads DIR/NAME.he.jsonl (HumanEval single-line, 1033 tasks) and DIR/NAME.easy40.jsonl
(Easy 40) and prints one markdown row per setting: exact match (after stripping surrounding
whitespace, as the HumanEval-FIM harness compares), mean edit similarity, mean chrF and generated
tokens per task. Nothing is computed here that `infill eval` did not write.
"""
import json
import sys
from pathlib import Path


def stats(path):
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    ok = [r for r in rows if "completion" in r]
    n = len(ok)
    if n == 0:
        return None
    mean = lambda k: sum(r[k] for r in ok) / n
    return {
        "n": n,
        "errors": len(rows) - n,
        "exact": 100 * mean("exact_stripped"),
        "edit_sim": mean("edit_sim"),
        "chrf": mean("chrf"),
        "tokens": mean("generated_tokens"),
    }


def main():
    d = Path(sys.argv[1])
    print("| setting | HumanEval exact % | edit sim | chrF | tokens/task | Easy 40 exact % | edit sim | chrF | tokens/task |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[2:]:
        name, label = arg.split(":", 1)
        cells = [label]
        for ds, expect in (("he", 1033), ("easy40", 40)):
            p = d / f"{name}.{ds}.jsonl"
            s = stats(p) if p.exists() else None
            if s is None:
                cells += ["not run"] * 4
                continue
            note = "" if s["n"] == expect else f" (n={s['n']})"
            cells += [f"{s['exact']:.1f}{note}", f"{s['edit_sim']:.3f}", f"{s['chrf']:.1f}", f"{s['tokens']:.1f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
