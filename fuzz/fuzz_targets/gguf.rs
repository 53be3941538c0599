//! Model files from bytes: `Engine::from_gguf_bytes_with` (as the page calls it, re-encoding to
//! Q8_0) on mutated GGUF files, and when a file loads, a short beam-search completion on it, so a
//! header whose shapes disagree with its tensors is caught where it would hurt. Any panic, abort,
//! out-of-memory or timeout is a crash: in the browser each would kill the engine. Seeds:
//! `fuzz/seeds/gguf` (tiny complete models from `fuzz/make_gguf_seeds.py`).
#![no_main]

use infill::engine::Engine;
use infill::generation::GenerationConfig;
use infill::model::LoadOptions;
use infill::protocol::Settings;
use libfuzzer_sys::fuzz_target;

const CODE: &str = "def add(a, b):\n    total = a + b\n    return total\n";

fuzz_target!(|data: &[u8]| {
    let options = LoadOptions {
        requantize_q8: true,
        ..LoadOptions::default()
    };
    let Ok(engine) = Engine::from_gguf_bytes_with(data, "fuzz.gguf", options) else {
        return;
    };
    let settings = Settings {
        beams: 2,
        max_new_tokens: 3,
        ..Settings::default()
    };
    let Ok(config) = GenerationConfig::from_settings(&settings) else {
        return;
    };
    // Errors are fine (a clear message for the user); panics are not.
    let _ = engine.complete(CODE, 2, config, &|| 0.0);
});
