# The two commands a newcomer needs:
#   make run   installs what is missing and serves the page on http://127.0.0.1:8080
#   make test  installs what is missing and runs every test: native, wasm32 build, headless Chromium
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: run test setup build native-test browser-test lint fuzz bench

run:
	scripts/setup.sh tools model
	cargo fetch --locked --target wasm32-unknown-unknown
	trunk serve --release

test: lint native-test build browser-test

setup:
	scripts/setup.sh tools model browser humaneval

lint: setup
	cargo fmt --all -- --check
	cargo clippy --locked --release --all-targets -- -D warnings
	cargo clippy --locked --release --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings

native-test: setup
	cargo test --locked --release

build: setup
	cargo fetch --locked --target wasm32-unknown-unknown
	trunk build --release

# The browser tests compare the page with `target/release/infill`. `cargo test --no-run` builds it as the native
# tests do (with the test build's features), so after native-test it is a no-op instead of a second build of
# every dependency with other features.
browser-test: build
	cargo test --locked --release --no-run
	node tests/browser/run.mjs

# bench/native has its own Cargo.lock (the crates.io unicode_names2) and so its own target folder: built into
# target/ it replaced the main build's `infill` library with one linked against other candle artifacts, and the
# next `cargo test` failed with "expected QTensor, found a different QTensor".
# Speed: the page's engine in headless Chromium against wllama (llama.cpp in wasm) on the same model file,
# and the same core natively; writes bench/results.md. Takes about 6 minutes of both cores.
bench: build
	cargo build --locked --release --bin infill
	cd bench/native && CARGO_TARGET_DIR=../../target/bench-native cargo build --locked --release
	npm ci --prefix bench --no-audit --no-fund
	node bench/run.mjs

# Not part of `make test`: runs each cargo-fuzz target (fuzz/) for FUZZ_SECONDS (default 240) on a nightly
# toolchain, stopping at the first crash. `make fuzz FUZZ_SECONDS=60` for a short run.
fuzz:
	fuzz/run.sh
