//! Safetensors models from bytes: `Engine::from_safetensors_bytes` (as the page and the CLI call it),
//! and when a model loads, a short beam-search completion on it. The first input byte picks what is
//! mutated, the rest comes from the tiny GPT-BigCode fixture (`tests/fixtures/parity/bigcode_tiny`):
//! - 0: the whole `model.safetensors` file (truncations, garbage, any header length);
//! - 1: the JSON header only (tensor names, dtypes, shapes, data offsets), followed by the fixture's
//!   float32 tensor data, so mutations land on the header the parser reads;
//! - 2: `config.json` (sizes, activation, model type), with the fixture's float16 weights.
//!
//! Any panic, abort, out-of-memory or timeout is a crash: in the browser each would kill the engine.
//! Seeds: `fuzz/seeds/safetensors` (written by `fuzz/make_safetensors_seeds.py`).
#![no_main]

use infill::engine::Engine;
use infill::generation::GenerationConfig;
use infill::protocol::Settings;
use libfuzzer_sys::fuzz_target;

const F32: &[u8] = include_bytes!("../../tests/fixtures/parity/bigcode_tiny/model.safetensors");
const F16: &[u8] = include_bytes!("../../tests/fixtures/parity/bigcode_tiny/model_f16.safetensors");
const CONFIG: &[u8] = include_bytes!("../../tests/fixtures/parity/bigcode_tiny/config.json");
const TOKENIZER: &[u8] = include_bytes!("../../tests/fixtures/parity/bigcode_tiny/tokenizer.json");
const CODE: &str = "def add(a, b):\n    total = a + b\n    return total\n";

/// The tensor data of a well-formed safetensors file (what follows its header).
fn data_of(file: &[u8]) -> &[u8] {
    let n = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    &file[8 + n..]
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (model, config): (Vec<u8>, &[u8]) = match mode % 3 {
        0 => (rest.to_vec(), CONFIG),
        1 => {
            let mut file = (rest.len() as u64).to_le_bytes().to_vec();
            file.extend_from_slice(rest);
            file.extend_from_slice(data_of(F32));
            (file, CONFIG)
        }
        _ => (F16.to_vec(), rest),
    };
    let Ok(engine) = Engine::from_safetensors_bytes(&model, config, TOKENIZER, "fuzz.safetensors")
    else {
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
