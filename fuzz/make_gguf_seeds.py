"""Writes the GGUF seed corpus of the `gguf` fuzz target: tiny but complete models (a byte-level BPE
vocabulary of 256 byte tokens plus a few merges and special tokens, one transformer layer of width 32)
that `Engine::from_gguf_bytes` loads and can run, in the tensor types and architectures the engine
supports. The fuzzer mutates these, so every part of the loader is reachable from the start.

Run from the repository root: `python3 fuzz/make_gguf_seeds.py` (needs the `gguf` package from PyPI,
tested with 0.19.0). The files are committed, so fuzzing itself needs no Python.
"""

from pathlib import Path

import numpy as np
import gguf

OUT = Path(__file__).resolve().parent / "seeds" / "gguf"
HIDDEN, HEADS, KV_HEADS, FFN, CONTEXT = 32, 2, 1, 64, 64
HEAD_DIM = HIDDEN // HEADS


def byte_tokens():
    """GPT-2's printable character for each byte, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


MERGES = [("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"), ("r", "e"), ("re", "t"), ("d", "e"), ("de", "f"), ("Ċ", "ĠĠĠĠ")]


def write(name, arch, qtype, specials, pre, bias=False, seed=0):
    rng = np.random.default_rng(seed)
    tokens = byte_tokens() + ["".join(m) for m in MERGES] + specials
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(specials)) + [gguf.TokenType.CONTROL] * len(specials)
    w = gguf.GGUFWriter(str(OUT / name), arch)
    w.add_block_count(1)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in MERGES])
    w.add_eos_token_id(len(tokens) - len(specials))

    def tensor(tname, shape, quantize=True):
        data = (rng.standard_normal(shape) * 0.2).astype(np.float32)
        if len(shape) == 2 and quantize and qtype not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            w.add_tensor(tname, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        elif len(shape) == 2 and qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(tname, data.astype(np.float16))
        else:
            w.add_tensor(tname, data)

    tensor("token_embd.weight", (len(tokens), HIDDEN))
    tensor("output_norm.weight", (HIDDEN,))
    tensor("blk.0.attn_norm.weight", (HIDDEN,))
    tensor("blk.0.ffn_norm.weight", (HIDDEN,))
    tensor("blk.0.attn_q.weight", (HIDDEN, HIDDEN))
    tensor("blk.0.attn_k.weight", (KV_HEADS * HEAD_DIM, HIDDEN))
    tensor("blk.0.attn_v.weight", (KV_HEADS * HEAD_DIM, HIDDEN))
    tensor("blk.0.attn_output.weight", (HIDDEN, HIDDEN))
    tensor("blk.0.ffn_gate.weight", (FFN, HIDDEN))
    tensor("blk.0.ffn_up.weight", (FFN, HIDDEN))
    tensor("blk.0.ffn_down.weight", (HIDDEN, FFN))
    if bias:
        tensor("blk.0.attn_q.bias", (HIDDEN,))
        tensor("blk.0.attn_k.bias", (KV_HEADS * HEAD_DIM,))
        tensor("blk.0.attn_v.bias", (KV_HEADS * HEAD_DIM,))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    chat = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    q = gguf.GGMLQuantizationType
    write("llama_q4_1.gguf", "llama", q.Q4_1, chat, "smollm", seed=1)
    write("llama_q8_0.gguf", "llama", q.Q8_0, chat, "smollm", seed=2)
    write("llama_f16.gguf", "llama", q.F16, chat, "default", seed=3)
    fim = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>"]
    write("llama_starcoder_fim_q8_0.gguf", "llama", q.Q8_0, fim, "default", seed=4)
    qwen = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>"]
    write("qwen2_fim_q8_0.gguf", "qwen2", q.Q8_0, qwen, "qwen2", bias=True, seed=5)
    for f in sorted(OUT.iterdir()):
        print(f.name, f.stat().st_size)


if __name__ == "__main__":
    main()
