//! `--micro`: the operations of one decoding step of SmolLM2-135M, one by one, at the model's shapes
//! (hidden 576, FFN 1536, 9 query heads and 3 key/value heads of 64, vocabulary 49152, 30 layers), for one
//! row (greedy) and five rows (5 beams), with `positions` cached. Each figure is the median over
//! `iterations` calls, multiplied by the number of such calls in one step.

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use serde_json::{json, Value};

const LAYERS: f64 = 30.0;

fn time(
    iterations: usize,
    mut f: impl FnMut() -> candle_core::Result<()>,
) -> candle_core::Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn qmatmul(out: usize, inp: usize, dev: &Device) -> candle_core::Result<QMatMul> {
    let w = Tensor::randn(0f32, 0.02, (out, inp), dev)?;
    QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)
}

/// Milliseconds per step spent in each kind of operation, for `rows` rows.
fn step_parts(rows: usize, positions: usize, iterations: usize) -> candle_core::Result<Value> {
    let dev = Device::Cpu;
    let (hidden, ffn, heads, kv_heads, d, vocab) = (576, 1536, 9, 3, 64, 49152);
    let n_rep = heads / kv_heads;
    // Weights: (out, in) per matrix of one layer; the output projection once per step.
    let layer = [
        (hidden, hidden),
        (kv_heads * d, hidden),
        (kv_heads * d, hidden),
        (hidden, hidden),
        (ffn, hidden),
        (ffn, hidden),
        (hidden, ffn),
    ];
    let mut matmul_layer = 0.0;
    for (out, inp) in layer {
        let w = qmatmul(out, inp, &dev)?;
        let x = Tensor::randn(0f32, 1.0, (rows, 1, inp), &dev)?;
        matmul_layer += time(iterations, || w.forward(&x).map(|_| ()))?;
    }
    let out = qmatmul(vocab, hidden, &dev)?;
    let x = Tensor::randn(0f32, 1.0, (rows, hidden), &dev)?;
    let output = time(iterations.min(20), || out.forward(&x).map(|_| ()))?;

    // Key/value cache work of one layer, for K and V alike (hence the factor 2 below).
    let cache = Tensor::randn(0f32, 1.0, (rows, kv_heads, positions, d), &dev)?;
    let new = Tensor::randn(0f32, 1.0, (rows, kv_heads, 1, d), &dev)?;
    let cat = time(iterations, || Tensor::cat(&[&cache, &new], 2).map(|_| ()))?;
    let full = Tensor::cat(&[&cache, &new], 2)?;
    let repeat = time(iterations, || {
        candle_transformers::utils::repeat_kv(full.clone(), n_rep).map(|_| ())
    })?;
    let idx = Tensor::new(&[0u32, 0, 1, 2, 3][..rows.min(5)], &dev)?;
    let select = if rows > 1 {
        time(iterations, || cache.index_select(&idx, 0).map(|_| ()))?
    } else {
        0.0
    };
    // Attention as the model runs it (keys repeated to 9 heads) and grouped by key/value head.
    let q = Tensor::randn(0f32, 1.0, (rows, heads, 1, d), &dev)?;
    let k = candle_transformers::utils::repeat_kv(full.clone(), n_rep)?;
    let v = k.clone();
    let attention = time(iterations, || {
        let att = q.matmul(&k.t()?)?;
        let att = candle_core::Tensor::exp(&att)?;
        att.matmul(&v.contiguous()?).map(|_| ())
    })?;
    let qg = q.reshape((rows, kv_heads, n_rep, d))?;
    let grouped = time(iterations, || {
        let att = qg.matmul(&full.t()?)?;
        let att = candle_core::Tensor::exp(&att)?;
        att.matmul(&full).map(|_| ())
    })?;
    let kv_copy = LAYERS * (2.0 * (cat + repeat + select));
    Ok(json!({
        "rows": rows,
        "positions": positions,
        "quantized_matmul_ms": LAYERS * matmul_layer + output,
        "of_which_output_projection_ms": output,
        "kv_cat_ms": LAYERS * 2.0 * cat,
        "kv_repeat_kv_ms": LAYERS * 2.0 * repeat,
        "kv_index_select_ms": LAYERS * 2.0 * select,
        "kv_copies_ms": kv_copy,
        "attention_repeated_ms": LAYERS * attention,
        "attention_grouped_no_repeat_ms": LAYERS * grouped,
    }))
}

/// The parts of a greedy step and of a 5-beam step.
pub fn run(positions: usize, iterations: usize) -> Result<Value, String> {
    let one = step_parts(1, positions, iterations).map_err(|e| e.to_string())?;
    let five = step_parts(5, positions, iterations).map_err(|e| e.to_string())?;
    Ok(json!({ "threads": std::env::var("RAYON_NUM_THREADS").ok(), "greedy": one, "beams5": five }))
}
