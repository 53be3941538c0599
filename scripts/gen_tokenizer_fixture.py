#!/usr/bin/env python3
"""Regenerates tests/fixtures/tokenizer_smollm2.jsonl: token ids of real Python under the SmolLM2 tokenizer.

The reference reads the vocabulary, merges and token types with llama.cpp's own GGUF reader (the `gguf`
package), and assembles them with the Python `tokenizers` package the way SmolLM2's original
tokenizer.json does (transformers' GGUF conversion drops the Digits step): it pre-tokenizes with Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False,
trim_offsets=True, use_regex=True)] (llama.cpp's `smollm` pre-tokenizer).

Usage: python3 scripts/gen_tokenizer_fixture.py models/SmolLM2-135M-Instruct.Q4_1.gguf
Needs: pip install gguf tokenizers
"""
import json
import os
import sys
import sysconfig

from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers


def field(reader, key):
    f = reader.fields[key]
    return [f.parts[i].tobytes().decode("utf-8") if f.types[-1].name == "STRING" else int(f.parts[i][0])
            for i in f.data]


reader = GGUFReader(sys.argv[1])
tokens = field(reader, "tokenizer.ggml.tokens")
types = field(reader, "tokenizer.ggml.token_type")
merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
backend.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty != 1])
backend.decoder = decoders.ByteLevel()
backend.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
])

stdlib = sysconfig.get_paths()["stdlib"]
files = ["textwrap.py", "heapq.py", "bisect.py", "json/decoder.py", "fractions.py", "statistics.py",
         "string.py", "colorsys.py", "shlex.py", "glob.py", "fnmatch.py", "calendar.py"]
out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tokenizer_smollm2.jsonl")
with open(out, "w", encoding="utf-8") as f:
    extra = ["    1", "x = 12345 + 0.5e10", "\tif a!=b:\n\t\treturn [i**2 for i in range(10)]",
             "s = '日本語 🎉 café'", "<|endoftext|>def f():\n    pass", "   \n\n  \r\n"]
    texts = [("extra", t) for t in extra]
    for name in files:
        with open(os.path.join(stdlib, name), encoding="utf-8") as src:
            texts.append((name, src.read()[:6000]))
    for name, text in texts:
        ids = backend.encode(text, add_special_tokens=False).ids
        f.write(json.dumps({"source": name, "text": text, "ids": ids}, ensure_ascii=False) + "\n")
print(f"wrote {len(texts)} texts to {out}")
