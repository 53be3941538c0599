#!/usr/bin/env python3
"""Generate tests/fixtures/metric_vectors.jsonl: expected metric values from the reference libraries.

Every record is one JSON object per line:

* ``{"kind": "pair", "id", "category", "hypothesis", "reference", "exact", "exact_stripped",
  "chrf", "chrf_pp", "bleu", "wer", "iou", "edit_sim", "bits"}``: one (completion, target) pair
  with the value of every field of ``infill::metrics::Scores``.
* ``{"kind": "corpus", "id", "category", "hypotheses", "references", "corpus_chrf",
  "corpus_bleu", "bits"}``: a group of pairs scored at corpus level.

``bits`` repeats every expected value as the 16 hex digits of its IEEE-754 double, so the Rust test
compares against the exact Python float (serde_json's default float parser may be 1 ulp off).

Values come from sacrebleu (chrF, chrF++, BLEU) and jiwer (WER); exact match, IoU and edit
similarity are computed here with plain, obviously-correct Python. ``tests/metrics.rs`` checks the
Rust implementation against every value to 1e-9.

The pairs look like real code completions: lines of CPython's own standard library (posixpath,
textwrap, json.decoder, shlex, string, functools), mutated with a seeded ``random.Random``
(dropped / replaced / renamed tokens, truncation, re-indentation, over-generation that appends the
following lines, ...), plus hand-written edge cases (empty and whitespace-only strings, tabs,
Unicode, 500-character lines, punctuation-heavy code, 13a tokenizer quirks).

The output is deterministic for a given Python version (the stdlib sources are part of the input);
the committed fixture was generated with Python 3.11.7, sacrebleu 2.6.0 and jiwer 4.0.0:

    python3 scripts/gen_metric_vectors.py            # writes tests/fixtures/metric_vectors.jsonl
    python3 scripts/gen_metric_vectors.py --check    # regenerates in memory, diffs against the file
"""

import argparse
import inspect
import json
import os
import random
import re
import struct
import sys

import jiwer
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

SEED = 20240611
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "metric_vectors.jsonl")

CHRF_METRIC = CHRF()
CHRF_PP_METRIC = CHRF(word_order=2)


# ----------------------------------------------------------------------------------------------
# Expected values
# ----------------------------------------------------------------------------------------------

def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j - 1] + (x != y), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[-1]


def iou(h, r):
    a, b = set(h.split()), set(r.split())
    union = a | b
    if not union:
        return 1.0
    return len(a & b) / len(union)


def edit_sim(h, r):
    longest = max(len(h), len(r))
    if longest == 0:
        return 1.0
    return 1 - levenshtein(h, r) / longest


def bits(x):
    """IEEE-754 bits of a float as 16 hex digits: exact, whatever the JSON reader's float parsing."""
    return format(struct.unpack("<Q", struct.pack("<d", float(x)))[0], "016x")


def with_bits(record, fields):
    record["bits"] = {f: bits(record[f]) for f in fields}
    return record


PAIR_FIELDS = ["exact", "exact_stripped", "chrf", "chrf_pp", "bleu", "wer", "iou", "edit_sim"]
CORPUS_FIELDS = ["corpus_chrf", "corpus_bleu"]


def pair_record(h, r, category):
    return with_bits({
        "kind": "pair",
        "category": category,
        "hypothesis": h,
        "reference": r,
        "exact": 1.0 if h == r else 0.0,
        "exact_stripped": 1.0 if h.strip() == r.strip() else 0.0,
        "chrf": CHRF_METRIC.sentence_score(h, [r]).score,
        "chrf_pp": CHRF_PP_METRIC.sentence_score(h, [r]).score,
        "bleu": sacrebleu.sentence_bleu(h, [r]).score,
        # jiwer 4 returns the insertion count (an int) for an empty reference.
        "wer": float(jiwer.wer(reference=r, hypothesis=h)),
        "iou": iou(h, r),
        "edit_sim": edit_sim(h, r),
    }, PAIR_FIELDS)


def corpus_record(hyps, refs, category):
    return with_bits({
        "kind": "corpus",
        "category": category,
        "hypotheses": hyps,
        "references": refs,
        "corpus_chrf": CHRF().corpus_score(hyps, [refs]).score,
        "corpus_bleu": BLEU().corpus_score(hyps, [refs]).score,
    }, CORPUS_FIELDS)


# ----------------------------------------------------------------------------------------------
# Source lines
# ----------------------------------------------------------------------------------------------

def stdlib_lines():
    import functools
    import json.decoder
    import posixpath
    import shlex
    import string
    import textwrap

    files = []
    for module in (posixpath, textwrap, json.decoder, shlex, string, functools):
        lines = inspect.getsource(module).splitlines()
        # Keep code lines: not blank, not inside long docstrings' prose-only stretches.
        files.append([ln for ln in lines if ln.strip()])
    return files


TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]")
WORD_RE = re.compile(r"^[A-Za-z_]\w*$")
OPERATOR_SWAPS = [("==", "!="), ("!=", "=="), ("<=", ">="), (" + ", " - "), (" - ", " + "),
                  (" and ", " or "), (" or ", " and "), ("is not", "is"), (" in ", " not in "),
                  ("True", "False"), ("None", "0"), ("self.", ""), ("'", '"'), ("(", "[")]
UNICODE_BITS = ["名前", "値", "データ", "变量", "🎉", "🐍", "👍🏽", "e\u0301", "n\u0303o",
                "café", "Ünïcödé", "ß", "Ω", "→", "\u00a0", "\u3000", "💡 idea", "한국어"]
FILLER_NAMES = ["result", "value", "tmp", "idx", "data", "node", "path", "chunk", "buf",
                "item", "key", "obj", "n", "i", "self", "other", "cls", "args", "kwargs"]


def tokens(line):
    return TOKEN_RE.findall(line)


def mutate(rng, line, next_lines, vocab):
    """Return (hypothesis, category) for the reference `line`."""
    toks = tokens(line)
    word_idx = [i for i, t in enumerate(toks) if not t.isspace()]
    kind = rng.choice([
        "identical", "reindent", "trailing_ws", "drop_token", "replace_token", "rename",
        "truncate", "overgenerate", "overgenerate", "insert_token", "swap_tokens", "unrelated",
        "char_noise", "operator", "number", "tabs", "prefix_only", "strip_indent",
    ])
    h = line
    if kind == "identical":
        h = line
    elif kind == "reindent":
        h = " " * rng.choice([0, 2, 4, 8, 12]) + line.lstrip()
    elif kind == "trailing_ws":
        h = line + rng.choice([" ", "  ", "\t", "\n", " \n", "\r\n"])
    elif kind == "drop_token" and word_idx:
        for _ in range(rng.randint(1, 3)):
            if not word_idx:
                break
            toks[word_idx.pop(rng.randrange(len(word_idx)))] = ""
        h = "".join(toks)
    elif kind == "replace_token" and word_idx:
        for _ in range(rng.randint(1, 2)):
            toks[rng.choice(word_idx)] = rng.choice(vocab)
        h = "".join(toks)
    elif kind == "rename":
        names = [i for i in word_idx if WORD_RE.match(toks[i])]
        if names:
            old = toks[rng.choice(names)]
            new = rng.choice([old + "_", old.upper(), "_" + old, old[:1], rng.choice(FILLER_NAMES)])
            h = "".join(new if t == old else t for t in toks)
    elif kind == "truncate" and len(line) > 1:
        h = line[:rng.randrange(1, len(line))]
    elif kind == "overgenerate":
        extra = next_lines[:rng.randint(1, 4)]
        h = "\n".join([line] + extra)
        if rng.random() < 0.3:
            h += "\n"
    elif kind == "insert_token":
        pos = rng.randrange(len(toks) + 1)
        toks.insert(pos, rng.choice([" ", ""]) + rng.choice(vocab) + rng.choice([" ", ""]))
        h = "".join(toks)
    elif kind == "swap_tokens" and len(word_idx) >= 2:
        i, j = rng.sample(word_idx, 2)
        toks[i], toks[j] = toks[j], toks[i]
        h = "".join(toks)
    elif kind == "unrelated":
        h = rng.choice(next_lines) if next_lines else ""
    elif kind == "char_noise" and line:
        chars = list(line)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            pos = rng.randrange(len(chars)) if chars else 0
            c = rng.choice("abcxyz_.,:()[]=+- '\"#0123456789")
            if op == 0 or not chars:
                chars.insert(pos, c)
            elif op == 1:
                del chars[pos]
            else:
                chars[pos] = c
        h = "".join(chars)
    elif kind == "operator":
        swaps = [(a, b) for a, b in OPERATOR_SWAPS if a in line]
        if swaps:
            a, b = rng.choice(swaps)
            h = line.replace(a, b, 1)
        else:
            h = line + rng.choice([" + 1", " or None", "  # TODO", ".copy()"])
    elif kind == "number":
        h = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), line) \
            if re.search(r"\d", line) else line + " " + str(rng.randint(0, 1000))
    elif kind == "tabs":
        stripped = line.lstrip(" ")
        h = "\t" * ((len(line) - len(stripped)) // 4) + stripped
    elif kind == "prefix_only":
        h = line[:len(line) - len(line.lstrip())]
    elif kind == "strip_indent":
        h = line.strip()
    return h, kind


HAND_PAIRS = [
    # Empty and whitespace-only.
    ("", ""), ("", "x"), ("x", ""), ("", "    return x"), ("    return x", ""),
    (" ", ""), ("", " "), (" ", " "), ("    ", ""), ("", "    "), ("\t", " "), ("\n", ""),
    ("\n", "\n"), ("  \t\n ", "\r\n"), ("\u3000", ""), ("\u00a0", " "), ("   ", "x"),
    ("x", "   "), (" \t ", "a b c"), ("a b c", " \t "), ("\x1c", ""), ("\x1f a", "a"),
    ("\u2028", "\u2029"), ("\x0b\x0c", " "), (" x ", "x"), ("x", " x "), ("x\n", "x"),
    # Tabs and indentation.
    ("\treturn x", "    return x"), ("\t\treturn x", "        return x"),
    ("a\tb", "a b"), ("a\t\tb", "a b"), ("a \tb", "a b"), ("if x:\n\tpass", "if x:\n    pass"),
    ("x\t=\t1", "x = 1"), ("\tx = 1\t# c", "\tx = 1  # c"),
    # Unicode.
    ("名前 = '値'", "名前 = '値'"), ("名前 = '値'", "名前 = \"値\""), ("print('🎉')", "print('🎉🎉')"),
    ("café = 1", "cafe\u0301 = 1"), ("cafe\u0301 = 1", "cafe\u0301 = 2"), ("# 한국어 주석", "# 한국어"),
    ("x = '👍🏽'", "x = '👍'"), ("变量 = 数据[0]", "变量 = 数据[1]"), ("s = 'Ω→ß'", "s = 'Ω->ss'"),
    ("日本語のテキスト", "日本語テキスト"), ("🐍", "🐍"), ("🐍", "🐢"), ("e\u0301", "é"),
    ("x\u00a0=\u00a01", "x = 1"), ("x\u3000=\u30001", "x = 1"), ("a\x1cb", "a b"), ("a\x1c\x1db", "a b"),
    # Punctuation-heavy code.
    ("x[i]:=f(*a,**k)", "x[i] := f(*a, **k)"), ("a!=b>=c", "a != b >= c"), ("a!=b>=c", "a==b<=c"),
    ("if (n:=len(a))>10:", "if (n := len(a)) > 10:"), ("d = {'a': [1, 2], \"b\": (3,)}", "d = {'a': [1, 2], 'b': (3,)}"),
    ("s = 'it\\'s'", "s = \"it's\""), ("f'{x!r:>{w}}'", "f'{x!r:<{w}}'"), ("x = y  # comment", "x = y"),
    ("# just a comment", "# just another comment"), ("lambda *a, **k: (a, k)", "lambda *args, **kw: (args, kw)"),
    ("return (a, b)", "return a, b"), ("x = [1,2,3]", "x = [1, 2, 3]"), ("x = {**a, **b}", "x = a | b"),
    ("@functools.wraps(fn)", "@wraps(fn)"), ("a[::2], b[1:-1]", "a[::-2], b[1:]"), ("x->y", "x - > y"),
    ("a ~ b ^ c | d & e", "a ^ b ~ c & d | e"), ("`a` $b %c", "`a` $b %d"), ("...", "pass"),
    ("x = 1.5", "x = 1,5"), ("x = 3.14159", "x = 3.1416"), ("1,000,000", "1000000"), ("v = 1-2", "v = 1 - 2"),
    ("a.b.c(d,e)", "a . b . c ( d , e )"), ("end.", "end ."), (".5 + 5.", "0.5 + 5.0"), ("a,b", "a , b"),
    ("x=-1", "x = -1"), ("2-x", "2 - x"), ("x-2", "x - 2"), ("1--2", "1 - -2"), ("a.,b", "a., b"),
    # 13a tokenizer quirks: entities, <skipped>, hyphenated line breaks.
    ("a &amp; b", "a & b"), ("&quot;x&quot;", "\"x\""), ("&lt;tag&gt;", "<tag>"), ("&amp;lt;", "<"),
    ("x<skipped>y", "xy"), ("foo-\nbar", "foobar"), ("foo-\nbar", "foo-bar"), ("a\nb", "a b"),
    ("a-\n", "a-"), ("x = a-\n    b", "x = ab"), ("&amp", "&"), ("&&&", "& & &"),
    # Over-generation of whole blocks.
    ("return x\n\ndef g():\n    pass", "return x"), ("    if x:\n        return 1\n    return 2", "    if x:"),
    # Repetition (a degenerate model).
    ("x = x = x = x = x", "x = x"), ("a a a a a a a a", "a"), ("a", "a a a a a a a a"),
    ("the the the", "the cat"), ("))))", "))"), ("pass\npass\npass\npass", "pass"),
]


def long_lines(rng, files):
    """500-character lines and their mutations."""
    out = []
    flat = [ln.strip() for f in files for ln in f]
    for k in range(12):
        parts = []
        while sum(len(p) + 1 for p in parts) < 500:
            parts.append(rng.choice(flat))
        ref = " ".join(parts)[:500]
        if k % 3 == 0:
            hyp = ref
        elif k % 3 == 1:
            hyp, _ = mutate(rng, ref, [], FILLER_NAMES)
        else:
            hyp = ref[: rng.randrange(100, 500)] + rng.choice(flat)
        out.append((hyp, ref, "long_line"))
    out.append(("x" * 500, "x" * 500, "long_line"))
    out.append(("x" * 500, "x" * 499 + "y", "long_line"))
    out.append(("a " * 250, "a " * 249 + "b ", "long_line"))
    out.append(("=" * 500, "-" * 500, "long_line"))
    return out


def build(rng):
    files = stdlib_lines()
    vocab = sorted({t for f in files for ln in f for t in tokens(ln) if WORD_RE.match(t)})
    vocab = [v for v in vocab if len(v) < 20]
    pairs = [(h, r, "hand") for h, r in HAND_PAIRS]

    # Mutated stdlib lines: the bulk of the vectors.
    for _ in range(560):
        f = rng.choice(files)
        i = rng.randrange(len(f) - 5)
        ref = f[i]
        hyp, kind = mutate(rng, ref, f[i + 1:i + 6], vocab)
        pairs.append((hyp, ref, "stdlib_" + kind))

    # Multi-line references (the reference itself spans lines).
    for _ in range(30):
        f = rng.choice(files)
        i = rng.randrange(len(f) - 6)
        ref = "\n".join(f[i:i + rng.randint(2, 3)])
        hyp, kind = mutate(rng, ref, f[i + 3:i + 6], vocab)
        pairs.append((hyp, ref, "multiline_" + kind))

    # Unicode injected into real lines.
    for _ in range(30):
        f = rng.choice(files)
        ref = f[rng.randrange(len(f))]
        toks = tokens(ref)
        toks.insert(rng.randrange(len(toks) + 1), rng.choice(UNICODE_BITS))
        ref = "".join(toks)
        hyp, kind = mutate(rng, ref, [rng.choice(f)], vocab + UNICODE_BITS)
        pairs.append((hyp, ref, "unicode_" + kind))

    pairs += long_lines(rng, files)

    records = [pair_record(h, r, c) for h, r, c in pairs]

    # Corpus-level groups over the pairs above.
    corpus = []
    for k in range(24):
        size = rng.choice([1, 2, 3, 5, 8, 13, 21, 40])
        group = rng.sample(pairs, size)
        corpus.append(corpus_record([g[0] for g in group], [g[1] for g in group], "random_group"))
    corpus.append(corpus_record(["x"], ["x"], "single_token"))
    corpus.append(corpus_record(["a b c d e"], ["a b c d e"], "perfect"))
    corpus.append(corpus_record(["", ""], ["", ""], "all_empty"))
    corpus.append(corpus_record(["", "x = 1"], ["y = 2", ""], "half_empty"))
    corpus.append(corpus_record(["a b", "c d"], ["a b", "c d"], "short_perfect"))
    corpus.append(corpus_record(["return x", "pass", "x = 1"], ["return x", "pass"], "more_hyps_than_refs"))
    corpus.append(corpus_record(["return x"], ["return x", "pass"], "more_refs_than_hyps"))
    records += corpus

    for i, rec in enumerate(records):
        rec["id"] = i
    return records


def serialise(records):
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()

    text = serialise(build(random.Random(SEED)))
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print("up to date" if same else "DIFFERS from " + args.out)
        sys.exit(0 if same else 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    n_pairs = text.count('"kind": "pair"')
    print(f"wrote {args.out}: {n_pairs} pairs, {text.count(chr(10)) - n_pairs} corpus groups, "
          f"{len(text.encode('utf-8'))} bytes")


if __name__ == "__main__":
    main()
