//! Parity with Hugging Face transformers: the fixtures in `tests/fixtures/parity/` hold what transformers
//! computes (`scripts/gen_parity.py` regenerates them); the engine must compute the same.
//!
//! - SmolLM2-135M-Instruct (the default model): with the weights dequantized to float32, as transformers
//!   loads them, the prompt ids are equal, the top-5 next-token logits agree within 1e-3, greedy and
//!   5-beam continuations are token-identical and beam scores agree within 1e-3. Quantized matrix
//!   products (Q4_1 as stored, and re-encoded to Q8_0) quantize the activations too, which moves the
//!   logits by up to about 0.5 (Q4_1) and 1 (Q8_0) here: a greedy continuation may then part from the
//!   reference only for a token among its five best that the measured error can explain (see
//!   [`Strictness::Quantized`]); the figures and agreeing beam lists are printed. Skipped, with a
//!   message, only when the model file is absent.
//! - A tiny random-weight Qwen2 written as GGUF (llama.cpp's qwen2 layout, its own byte-level BPE in the
//!   metadata): prompt ids equal, logits within 1e-4, greedy and 4-beam continuations identical.
//! - A tiny random-weight GPT-BigCode with multi-query attention, saved with `save_pretrained`, loaded
//!   with `Engine::from_safetensors_bytes`: the same checks on code and FIM prompts, and float16 and
//!   bfloat16 copies of its weights give transformers' logits for those weights.

use std::io::Cursor;

use candle_core::quantized::gguf_file;
use infill::engine::Engine;
use infill::generation::{BeamSearch, GenerationConfig, Hypothesis, LanguageModel, LineMode};
use infill::model::{KvCache, Llama, LoadOptions, Model};
use infill::tokenizer::TextTokenizer;
use serde_json::Value;

/// Where `scripts/setup.sh model` puts the default model.
fn smollm2_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Two logits closer than this are a close call: rounding may pick either.
const CLOSE_CALL: f64 = 0.05;

fn fixture(name: &str) -> Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/gen_parity.py", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array of ids")
        .iter()
        .map(|i| i.as_u64().expect("id") as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A GGUF model with its tokenizer, the way the engine loads it.
fn load_gguf(bytes: &[u8], options: LoadOptions, f32_matmuls: bool) -> (Model, TextTokenizer) {
    let mut reader = Cursor::new(bytes);
    let content = gguf_file::Content::read(&mut reader).expect("GGUF parses");
    let tokenizer = TextTokenizer::from_gguf(&content).expect("tokenizer builds");
    let mut model = Llama::from_gguf(&content, &mut reader, options).expect("model loads");
    if f32_matmuls {
        model.dequantize_matmuls().expect("dequantizes");
    }
    (Model::Llama(model), tokenizer)
}

/// The model as beam search sees it: one cache, rows reordered between steps.
struct Runner<'a> {
    model: &'a Model,
    cache: KvCache,
}

impl LanguageModel for Runner<'_> {
    fn prefill(&mut self, prompt: &[u32]) -> infill::Result<Vec<f32>> {
        Ok(self
            .model
            .logits(&[prompt.to_vec()], &mut self.cache)?
            .remove(0))
    }
    fn select_rows(&mut self, rows: &[usize]) -> infill::Result<()> {
        self.cache.select_rows(rows)
    }
    fn step(&mut self, tokens: &[u32]) -> infill::Result<Vec<Vec<f32>>> {
        let batch: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
        self.model.logits(&batch, &mut self.cache)
    }
}

/// Greedy (one beam) or beam search over `prompt` with transformers' settings: no stop rule but the stop
/// tokens and `max_new_tokens`, no token healing, `length_penalty = 1`.
fn generate(
    model: &Model,
    tokenizer: &TextTokenizer,
    prompt: &[u32],
    beams: usize,
    max_new_tokens: usize,
) -> Vec<Hypothesis> {
    let config = GenerationConfig {
        num_beams: beams,
        max_new_tokens,
        mode: LineMode::Multi,
        length_penalty: 1.0,
        heal: false,
        ..GenerationConfig::default()
    };
    let mut runner = Runner {
        model,
        cache: model.new_cache(),
    };
    let mut search =
        BeamSearch::start(&mut runner, prompt, Vec::new(), config).expect("search starts");
    while !search.step(&mut runner, tokenizer).expect("step runs") {}
    search.results().to_vec()
}

fn next_logits(model: &Model, prompt: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache();
    model
        .logits(&[prompt.to_vec()], &mut cache)
        .expect("forward pass")
        .remove(0)
}

/// What one comparison of a model with the SmolLM2 fixture found.
#[derive(Default)]
struct Findings {
    max_logit_diff: f64,
    max_score_diff: f64,
    close_calls: Vec<String>,
    mismatches: Vec<String>,
}

/// The reference's greedy continuation against ours. At the first token where they part, ours must be
/// among the reference's five best there, less than `close_call` below its best (a close call); the rest
/// of the continuation depends on that choice and is not compared.
fn compare_greedy(
    source: &str,
    want: &Value,
    got: &Hypothesis,
    max_new: usize,
    close_call: f64,
    f: &mut Findings,
) {
    let want_tokens = ids(&want["tokens"]);
    let steps = want["steps"].as_array().expect("steps");
    let got_stopped = got.tokens.len() < max_new;
    for (i, &w) in want_tokens.iter().enumerate() {
        match got.tokens.get(i) {
            Some(&g) if g == w => continue,
            other => {
                let top = ids(&steps[i]["ids"]);
                let l = floats(&steps[i]["logits"]);
                let gap = other
                    .and_then(|g| top.iter().position(|t| t == g))
                    .map(|rank| l[0] - l[rank]);
                let msg = format!(
                    "{source}: greedy token {i} is {other:?}, transformers chose {w} (its top 5: {top:?} {l:?})"
                );
                match gap {
                    Some(gap) if gap < close_call => {
                        f.close_calls.push(format!("{msg}, gap {gap:.4}"))
                    }
                    _ => f.mismatches.push(msg),
                }
                return;
            }
        }
    }
    if got.tokens.len() != want_tokens.len()
        || got_stopped != want["stopped"].as_bool().unwrap_or(false)
    {
        f.mismatches.push(format!(
            "{source}: greedy has {} tokens (stopped: {got_stopped}), transformers {} ({})",
            got.tokens.len(),
            want_tokens.len(),
            want["stopped"]
        ));
    }
}

/// The reference's beams against ours, in order: tokens identical, scores within `score_tol`.
/// Returns false on the first difference (the caller decides whether it is a close call).
fn beams_equal(want: &[Value], got: &[Hypothesis], score_tol: f64, f: &mut Findings) -> bool {
    if want.len() != got.len() {
        return false;
    }
    for (w, g) in want.iter().zip(got) {
        if ids(&w["tokens"]) != g.tokens {
            return false;
        }
        let diff = (w["score"].as_f64().expect("score") - g.score).abs();
        f.max_score_diff = f.max_score_diff.max(diff);
        if diff > score_tol {
            return false;
        }
    }
    true
}

/// How strictly a load of SmolLM2 must follow transformers in float32.
#[derive(Clone, Copy, PartialEq)]
enum Strictness {
    /// Float32 weights: logits and scores within 1e-3, identical tokens.
    Exact,
    /// Quantized matrix products (which quantize the activations too): a greedy continuation may part
    /// from the reference only for a token among its five best, less than twice the largest top-5
    /// logit error this load makes on the prompts (and at least [`CLOSE_CALL`]) below its best; beam
    /// lists are compared and counted.
    Quantized,
}

/// The top-5 logits of `case` against `logits`: the largest difference.
fn top5_diff(case: &Value, logits: &[f32]) -> f64 {
    ids(&case["top"]["ids"])
        .iter()
        .zip(&floats(&case["top"]["logits"]))
        .map(|(&id, &want)| (logits[id as usize] as f64 - want).abs())
        .fold(0f64, f64::max)
}

/// Runs every SmolLM2 case of `smollm2.json` on one load of the model.
fn check_smollm2(model: &Model, tok: &TextTokenizer, label: &str, mode: Strictness) -> Findings {
    let fx = fixture("smollm2.json");
    assert_eq!(
        tok.stop_ids(),
        ids(&fx["stop_ids"]).as_slice(),
        "the fixture was generated with other stop tokens"
    );
    let max_new = fx["max_new_tokens"].as_u64().expect("max_new_tokens") as usize;
    let beams = fx["num_beams"].as_u64().expect("num_beams") as usize;
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10, "only {} prompts", cases.len());
    let exact = mode == Strictness::Exact;
    let mut f = Findings::default();
    for case in cases {
        let source = case["source"].as_str().expect("source");
        let prompt = ids(&case["ids"]);
        let got_ids = tok
            .encode(case["text"].as_str().expect("text"))
            .expect("encodes");
        assert_eq!(got_ids, prompt, "{source}: prompt token ids differ");
        let diff = top5_diff(case, &next_logits(model, &prompt));
        f.max_logit_diff = f.max_logit_diff.max(diff);
        if exact && diff > 1e-3 {
            f.mismatches
                .push(format!("{source}: top-5 logits differ by {diff:.3e}"));
        }
    }
    // A departure needs a gap the numerical error can bridge: none at all with float32 weights.
    let (close_call, score_tol) = if exact {
        (0.0, 1e-3)
    } else {
        (CLOSE_CALL.max(2.0 * f.max_logit_diff), f64::INFINITY)
    };
    let mut beams_identical = 0;
    for case in cases {
        let source = case["source"].as_str().expect("source");
        let prompt = ids(&case["ids"]);
        let greedy = generate(model, tok, &prompt, 1, max_new);
        compare_greedy(
            source,
            &case["greedy"],
            &greedy[0],
            max_new,
            close_call,
            &mut f,
        );
        let want_beams = case["beams"].as_array().expect("beams");
        let got_beams = generate(model, tok, &prompt, beams, max_new);
        if beams_equal(want_beams, &got_beams, score_tol, &mut f) {
            beams_identical += 1;
        } else if exact {
            let got: Vec<(Vec<u32>, f64)> = got_beams
                .iter()
                .map(|h| (h.tokens.clone(), h.score))
                .collect();
            let want: Vec<(Vec<u32>, f64)> = want_beams
                .iter()
                .map(|w| (ids(&w["tokens"]), w["score"].as_f64().unwrap_or(f64::NAN)))
                .collect();
            f.mismatches.push(format!(
                "{source}: {beams}-beam results differ\n  ours:         {got:?}\n  transformers: {want:?}"
            ));
        }
    }
    println!(
        "{label}: {} prompts, largest top-5 logit difference {:.3e}, largest beam score difference \
         {:.3e} (over identical beam lists), greedy departures {} (allowed below a gap of \
         {close_call:.3}), identical {beams}-beam lists {beams_identical}/{}, mismatches {}",
        cases.len(),
        f.max_logit_diff,
        f.max_score_diff,
        f.close_calls.len(),
        cases.len(),
        f.mismatches.len()
    );
    for c in &f.close_calls {
        println!("  departure: {c}");
    }
    f
}

/// The default model's bytes, or `None` (with the reason printed) when it has not been downloaded.
fn smollm2_bytes() -> Option<Vec<u8>> {
    let path = smollm2_path();
    if !path.exists() {
        eprintln!(
            "skipped: {} is absent; run `scripts/setup.sh model` to check parity with the default model",
            path.display()
        );
        return None;
    }
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn smollm2_with_f32_weights_matches_transformers() {
    let Some(bytes) = smollm2_bytes() else {
        return;
    };
    let (model, tok) = load_gguf(&bytes, LoadOptions::default(), true);
    let f = check_smollm2(&model, &tok, "SmolLM2 float32", Strictness::Exact);
    assert!(f.mismatches.is_empty(), "{}", f.mismatches.join("\n"));
    assert!(f.max_logit_diff <= 1e-3);
}

#[test]
fn smollm2_with_quantized_matmuls_parts_from_float32_only_within_its_error() {
    let Some(bytes) = smollm2_bytes() else {
        return;
    };
    for requantize_q8 in [false, true] {
        let (model, tok) = load_gguf(&bytes, LoadOptions { requantize_q8 }, false);
        let label = if requantize_q8 {
            "SmolLM2 Q4_1 re-encoded to Q8_0"
        } else {
            "SmolLM2 Q4_1 as stored"
        };
        let f = check_smollm2(&model, &tok, label, Strictness::Quantized);
        assert!(
            f.mismatches.is_empty(),
            "{label}:\n{}",
            f.mismatches.join("\n")
        );
    }
}

/// Tolerance for the tiny float32 models: both sides compute in float32.
const TINY_TOL: f64 = 1e-4;

/// Checks a tiny model against its fixture: prompt ids, every next-token logit, greedy and beam
/// continuations (tokens identical, scores within [`TINY_TOL`]). Returns the largest logit difference.
fn check_tiny(model: &Model, tok: &TextTokenizer, fixture_name: &str) -> f64 {
    let fx = fixture(fixture_name);
    assert_eq!(
        tok.stop_ids(),
        ids(&fx["stop_ids"]).as_slice(),
        "stop tokens differ"
    );
    let max_new = fx["max_new_tokens"].as_u64().expect("max_new_tokens") as usize;
    let beams = fx["num_beams"].as_u64().expect("num_beams") as usize;
    let mut max_diff = 0f64;
    let mut f = Findings::default();
    for case in fx["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let prompt = ids(&case["ids"]);
        assert_eq!(
            tok.encode(text).expect("encodes"),
            prompt,
            "ids differ for {text:?}"
        );
        let want = floats(&case["logits"]);
        let got = next_logits(model, &prompt);
        assert_eq!(got.len(), want.len(), "vocabulary sizes differ");
        for (g, w) in got.iter().zip(&want) {
            max_diff = max_diff.max((*g as f64 - w).abs());
        }
        let greedy = generate(model, tok, &prompt, 1, max_new);
        compare_greedy(text, &case["greedy"], &greedy[0], max_new, 0.0, &mut f);
        let want_beams = case["beams"].as_array().expect("beams");
        let got_beams = generate(model, tok, &prompt, beams, max_new);
        if !beams_equal(want_beams, &got_beams, TINY_TOL, &mut f) {
            let got: Vec<(Vec<u32>, f64)> = got_beams
                .iter()
                .map(|h| (h.tokens.clone(), h.score))
                .collect();
            f.mismatches.push(format!(
                "{text:?}: {beams}-beam results differ\n  ours: {got:?}\n  transformers: {}",
                case["beams"]
            ));
        }
    }
    println!(
        "{fixture_name}: largest logit difference {max_diff:.3e}, largest beam score difference {:.3e}",
        f.max_score_diff
    );
    assert!(max_diff <= TINY_TOL, "logits differ by {max_diff:.3e}");
    assert!(f.mismatches.is_empty(), "{}", f.mismatches.join("\n"));
    max_diff
}

fn tiny_file(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn tiny_qwen2_gguf_matches_transformers() {
    let (model, tok) = load_gguf(&tiny_file("qwen2_tiny.gguf"), LoadOptions::default(), false);
    assert_eq!(model.architecture(), "qwen2");
    check_tiny(&model, &tok, "qwen2_tiny.json");
}

fn tiny_bigcode(weights: &str) -> Engine {
    Engine::from_safetensors_bytes(
        &tiny_file(&format!("bigcode_tiny/{weights}")),
        &tiny_file("bigcode_tiny/config.json"),
        &tiny_file("bigcode_tiny/tokenizer.json"),
        weights,
    )
    .expect("the tiny GPT-BigCode loads")
}

#[test]
fn tiny_gpt_bigcode_safetensors_matches_transformers() {
    let engine = tiny_bigcode("model.safetensors");
    assert_eq!(engine.info().architecture, "gpt_bigcode");
    assert_eq!(engine.info().fim_format, "starcoder");
    check_tiny(engine.model(), engine.tokenizer(), "bigcode_tiny.json");
}

#[test]
fn tiny_gpt_bigcode_half_precision_weights_give_their_reference_logits() {
    let fx = fixture("bigcode_tiny.json");
    for label in ["f16", "bf16"] {
        let engine = tiny_bigcode(&format!("model_{label}.safetensors"));
        let case = &fx["half_precision"][label];
        let got = next_logits(engine.model(), &ids(&case["ids"]));
        let want = floats(&case["logits"]);
        assert_eq!(got.len(), want.len());
        let diff = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0f64, f64::max);
        println!("GPT-BigCode {label} weights: largest logit difference {diff:.3e}");
        assert!(diff <= TINY_TOL, "{label}: logits differ by {diff:.3e}");
    }
}

#[test]
fn bad_safetensors_inputs_are_errors_not_panics() {
    let config = tiny_file("bigcode_tiny/config.json");
    let tokenizer = tiny_file("bigcode_tiny/tokenizer.json");
    let weights = tiny_file("bigcode_tiny/model.safetensors");
    let err = |r: infill::Result<Engine>| match r {
        Ok(_) => panic!("bad input was accepted"),
        Err(e) => e.to_string(),
    };
    let msg = err(Engine::from_safetensors_bytes(
        b"not safetensors",
        &config,
        &tokenizer,
        "x",
    ));
    assert!(msg.contains("safetensors"), "{msg}");
    let msg = err(Engine::from_safetensors_bytes(
        &weights, b"{}", &tokenizer, "x",
    ));
    assert!(msg.contains("config.json"), "{msg}");
    let llama = br#"{"model_type": "llama", "vocab_size": 10, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2}"#;
    let msg = err(Engine::from_safetensors_bytes(
        &weights, llama, &tokenizer, "x",
    ));
    assert!(msg.contains("llama"), "{msg}");
    let msg = err(Engine::from_safetensors_bytes(
        &weights, &config, b"[1, 2]", "x",
    ));
    assert!(msg.contains("tokenizer"), "{msg}");
    // A config that does not fit the weights names the tensor.
    let wide = String::from_utf8(config.clone())
        .expect("utf-8")
        .replace("\"n_embd\": 64", "\"n_embd\": 32");
    let msg = err(Engine::from_safetensors_bytes(
        &weights,
        wide.as_bytes(),
        &tokenizer,
        "x",
    ));
    assert!(msg.contains("tensor"), "{msg}");
}
