//! Helpers shared by the integration tests: the real default model, loaded once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use infill::engine::Engine;

/// Where `scripts/setup.sh model` puts the default model.
pub fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The default model, loaded once. Panics with a pointer to the setup command when it is missing.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let path = model_path();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `scripts/setup.sh model` first",
                path.display()
            )
        });
        Engine::from_gguf_bytes(&bytes, "SmolLM2-135M-Instruct.Q4_1.gguf").expect("model loads")
    })
}

/// A millisecond clock for the engine.
pub fn clock() -> impl Fn() -> f64 {
    let t0 = std::time::Instant::now();
    move || t0.elapsed().as_secs_f64() * 1000.0
}
