"""Writes the seed corpus of the `safetensors` fuzz target (fuzz/fuzz_targets/safetensors.rs) from the
tiny GPT-BigCode fixture: per mode byte, 0 = a whole file (the float16 one, and its first 4 KiB),
1 = the JSON header of each of the float32, float16 and bfloat16 files, 2 = config.json.
Run from the repository root: `python3 fuzz/make_safetensors_seeds.py` (standard library only).
"""

import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "parity" / "bigcode_tiny"
OUT = Path(__file__).resolve().parent / "seeds" / "safetensors"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    f16 = (TINY / "model_f16.safetensors").read_bytes()
    (OUT / "raw_f16_first_4k").write_bytes(b"\x00" + f16[:4096])
    for name in ["model", "model_f16", "model_bf16"]:
        file = (TINY / f"{name}.safetensors").read_bytes()
        (n,) = struct.unpack("<Q", file[:8])
        (OUT / f"header_{name}").write_bytes(b"\x01" + file[8 : 8 + n])
    (OUT / "config").write_bytes(b"\x02" + (TINY / "config.json").read_bytes())
    for f in sorted(OUT.iterdir()):
        print(f.name, f.stat().st_size)


if __name__ == "__main__":
    main()
