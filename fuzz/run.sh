#!/usr/bin/env bash
# Runs the cargo-fuzz targets one after another, each for FUZZ_SECONDS (default 240), and stops at the
# first crash (libFuzzer writes the input to fuzz/artifacts/TARGET/). Usage: fuzz/run.sh [TARGET...]
# FUZZ_ARGS adds libFuzzer options, e.g. FUZZ_ARGS="-fork=1 -ignore_crashes=1 -ignore_ooms=1" to go on
# after a crash and collect every distinct one.
# Targets: gguf (model loading), safetensors (safetensors models: file, header, config.json),
# functions (Python extraction and datasets), metrics.
# Needs a nightly toolchain and cargo-fuzz; both are installed when missing.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-240}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf safetensors functions metrics)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || (cd /tmp && cargo install cargo-fuzz --locked --version 0.13.2)

for target in "${targets[@]}"; do
  case "$target" in
    gguf) seeds=(seeds/gguf); options=(-max_len=65536) ;;
    safetensors) seeds=(seeds/safetensors); options=(-max_len=16384) ;;
    functions) seeds=(../tests/fixtures/pyfolder); options=(-dict=python.dict -max_len=16384) ;;
    metrics) seeds=(seeds/metrics); options=(-max_len=4096) ;;
    *) echo "unknown fuzz target $target (gguf, safetensors, functions, metrics)" >&2; exit 2 ;;
  esac
  mkdir -p "corpus/$target"
  echo "== fuzzing $target for $seconds s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: over 2 GB (or one malloc that large)
  # is an out-of-memory crash, as it would be in the browser.
  cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${options[@]}" ${FUZZ_ARGS:-}
done
