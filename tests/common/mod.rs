//! Helpers shared by the integration tests: the real default model, loaded once per test binary.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use infill::engine::Engine;
use infill::model::LoadOptions;

/// Where `scripts/setup.sh model` puts the default model.
pub fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn load(requantize_q8: bool) -> Engine {
    let path = model_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `scripts/setup.sh model` first",
            path.display()
        )
    });
    Engine::from_gguf_bytes_with(
        &bytes,
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        LoadOptions { requantize_q8 },
    )
    .expect("model loads")
}

/// The default model as the page and the CLI run it (Q4_1 re-encoded to Q8_0 at load), loaded once.
/// Panics with a pointer to the setup command when the file is missing.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| load(true))
}

/// A new engine for the default model (Q8_0), for a test that needs the engine's cached prompt to itself:
/// [`engine`] is shared by every test of the binary, and they run at the same time.
pub fn own_engine() -> Engine {
    load(true)
}

/// The default model with its weights as stored (Q4_1), loaded once.
pub fn engine_as_stored() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| load(false))
}

/// A millisecond clock for the engine.
pub fn clock() -> impl Fn() -> f64 {
    let t0 = std::time::Instant::now();
    move || t0.elapsed().as_secs_f64() * 1000.0
}
