//! `--compare M.gguf F.py [DECODE]`: our `Llama` against candle-transformers' own `quantized_llama` on the
//! same GGUF file and the same prompt (the whole of F.py, tokenized by our tokenizer), model calls only
//! (no beam search, no engine): prefill time, then DECODE greedy steps (default 64) each way, the median
//! step, and a 5-row step of our model over the 1-row prompt cache (the beams' first steps, then steps
//! with the rows reordered as beam search does). Both runs use the weights as stored (no re-encoding), so
//! pass a file whose matrices have a fast kernel (the Q8_0 copy that `make bench` writes).

use std::io::Cursor;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, IndexOp, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use infill::model::{Llama, LoadOptions};
use infill::tokenizer::TextTokenizer;
use serde_json::{json, Value};

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn argmax(v: &[f32]) -> u32 {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(model: &str, file: &str, decode: usize) -> Result<Value, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let bytes = std::fs::read(model).map_err(|x| format!("{model}: {x}"))?;
    let code = std::fs::read_to_string(file).map_err(|x| format!("{file}: {x}"))?;
    let mut reader = Cursor::new(&bytes[..]);
    let content = gguf_file::Content::read(&mut reader).map_err(|x| e(&x))?;
    let tokenizer = TextTokenizer::from_gguf(&content).map_err(|x| e(&x))?;
    let prompt = tokenizer.encode(&code).map_err(|x| e(&x))?;

    // Ours.
    let ours =
        Llama::from_gguf(&content, &mut reader, LoadOptions::default()).map_err(|x| e(&x))?;
    let mut cache = ours.new_cache();
    let t = Instant::now();
    let mut logits = ours
        .logits(std::slice::from_ref(&prompt), &mut cache)
        .map_err(|x| e(&x))?;
    let ours_prefill = ms(t);
    let prompt_cache = cache.clone();
    let mut ours_tokens = Vec::new();
    let mut ours_steps = Vec::new();
    for _ in 0..decode {
        let next = argmax(&logits[0]);
        ours_tokens.push(next);
        let t = Instant::now();
        logits = ours.logits(&[vec![next]], &mut cache).map_err(|x| e(&x))?;
        ours_steps.push(ms(t));
    }
    // Five rows over the one-row prompt cache, as beam search runs them: the first step takes all five
    // from row 0, later steps reorder the rows (identity, one parent dropped, a permutation).
    let mut cache5 = prompt_cache.clone();
    let mut beam_steps = Vec::new();
    let orders: [&[usize]; 4] = [
        &[0, 0, 0, 0, 0],
        &[0, 1, 2, 3, 4],
        &[0, 0, 1, 2, 3],
        &[1, 0, 2, 4, 3],
    ];
    for step in 0..decode.min(32) {
        let t = Instant::now();
        let order = if step == 0 {
            orders[0]
        } else {
            orders[1 + step % 3]
        };
        cache5.select_rows(order).map_err(|x| e(&x))?;
        let toks: Vec<Vec<u32>> = (0..5).map(|r| vec![ours_tokens[step] + r]).collect();
        ours.logits(&toks, &mut cache5).map_err(|x| e(&x))?;
        beam_steps.push(ms(t));
    }
    drop(ours);

    // candle-transformers' quantized_llama on the same bytes.
    let mut reader = Cursor::new(&bytes[..]);
    let content = gguf_file::Content::read(&mut reader).map_err(|x| e(&x))?;
    let mut reference =
        ModelWeights::from_gguf(content, &mut reader, &Device::Cpu).map_err(|x| e(&x))?;
    let ids = Tensor::new(prompt.as_slice(), &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .map_err(|x| e(&x))?;
    let t = Instant::now();
    let mut out = reference.forward(&ids, 0).map_err(|x| e(&x))?;
    let ref_prefill = ms(t);
    let mut ref_tokens = Vec::new();
    let mut ref_steps = Vec::new();
    for i in 0..decode {
        let v: Vec<f32> = out.i(0).and_then(|t| t.to_vec1()).map_err(|x| e(&x))?;
        let next = argmax(&v);
        ref_tokens.push(next);
        let t = Instant::now();
        let input = Tensor::new(&[[next]], &Device::Cpu).map_err(|x| e(&x))?;
        out = reference
            .forward(&input, prompt.len() + i)
            .map_err(|x| e(&x))?;
        ref_steps.push(ms(t));
    }
    let same = ours_tokens
        .iter()
        .zip(&ref_tokens)
        .take_while(|(a, b)| a == b)
        .count();
    let ours_step = median(ours_steps.clone());
    let ref_step = median(ref_steps.clone());
    let beam_step = median(beam_steps[1..].to_vec());
    Ok(json!({
        "model": model,
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "prompt_tokens": prompt.len(),
        "decode_tokens": decode,
        "ours": {
            "prefill_ms": ours_prefill,
            "step_ms_median": ours_step,
            "tokens_per_s": 1000.0 / ours_step,
            "beam5_first_step_ms": beam_steps.first(),
            "beam5_step_ms_median": beam_step,
            "beam5_over_greedy": beam_step / ours_step,
        },
        "quantized_llama": {
            "prefill_ms": ref_prefill,
            "step_ms_median": ref_step,
            "tokens_per_s": 1000.0 / ref_step,
        },
        "greedy_tokens_equal_for": same,
    }))
}
