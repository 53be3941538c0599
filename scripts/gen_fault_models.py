"""Writes the broken model files of the page's fault tests (tests/fixtures/faults/), from the tiny
llama model of the fuzz seed corpus (fuzz/make_gguf_seeds.py, tested with the `gguf` package 0.19.0):

- wrong_arch.gguf: a complete model whose architecture is `mamba`, which the engine does not run;
- vocab_mismatch.gguf: a llama model whose tokenizer has 266 tokens but whose embedding has 200 rows.

Run from the repository root: `python3 scripts/gen_fault_models.py`. The files are committed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import numpy as np  # noqa: E402
import gguf  # noqa: E402
import make_gguf_seeds as seeds  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faults"


def write(name, arch, rows=None):
    rng = np.random.default_rng(7)
    chat = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = seeds.byte_tokens() + ["".join(m) for m in seeds.MERGES] + chat
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(chat)) + [gguf.TokenType.CONTROL] * len(chat)
    h, ffn, kv = seeds.HIDDEN, seeds.FFN, seeds.KV_HEADS * seeds.HEAD_DIM
    w = gguf.GGUFWriter(str(OUT / name), arch)
    w.add_block_count(1)
    w.add_context_length(seeds.CONTEXT)
    w.add_embedding_length(h)
    w.add_feed_forward_length(ffn)
    w.add_head_count(seeds.HEADS)
    w.add_head_count_kv(seeds.KV_HEADS)
    w.add_rope_dimension_count(seeds.HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in seeds.MERGES])
    w.add_eos_token_id(len(tokens) - len(chat))
    shapes = {
        "token_embd.weight": (rows or len(tokens), h), "output_norm.weight": (h,),
        "blk.0.attn_norm.weight": (h,), "blk.0.ffn_norm.weight": (h,), "blk.0.attn_q.weight": (h, h),
        "blk.0.attn_k.weight": (kv, h), "blk.0.attn_v.weight": (kv, h), "blk.0.attn_output.weight": (h, h),
        "blk.0.ffn_gate.weight": (ffn, h), "blk.0.ffn_up.weight": (ffn, h), "blk.0.ffn_down.weight": (h, ffn),
    }
    for tname, shape in shapes.items():
        w.add_tensor(tname, (rng.standard_normal(shape) * 0.2).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write("wrong_arch.gguf", "mamba")
    write("vocab_mismatch.gguf", "llama", rows=200)
    for f in sorted(OUT.iterdir()):
        print(f.name, f.stat().st_size)
