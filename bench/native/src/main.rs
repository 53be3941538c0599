//! `infill-bench`: times the engine natively with exactly the calls the browser worker makes
//! (`Engine::from_gguf_bytes_with`, `Engine::start`, then one `Engine::step` per decoding step), so its
//! figures and the page's share definitions:
//!
//! - load: bytes in memory to a ready engine;
//! - prefill: `start` (prompt built, tokenized and run through the model);
//! - a step: one `step` call (one forward pass over every live beam, plus the search's bookkeeping).
//!
//! Each run loads a fresh engine, so no prompt is reused from an earlier run. The last step of a search
//! is excluded from the step figures (it builds the final report). Allocations are counted per step.
//!
//! Usage: `infill-bench --model M.gguf --file F.py --line N [--runs R] [--greedy-tokens 128]
//! [--beam-tokens 32] [--keep-quantization]`, `infill-bench --micro` (see `micro.rs`), or
//! `infill-bench --compare M.gguf F.py [DECODE]` (see `compare.rs`). Prints one JSON
//! object. Threads: `RAYON_NUM_THREADS`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use infill::engine::{Engine, StepOutcome};
use infill::generation::GenerationConfig;
use infill::model::LoadOptions;
use infill::protocol::Settings;
use serde_json::{json, Value};

mod compare;
mod micro;

/// The system allocator, counting allocations and allocated bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed, and the most there ever were since the last [`reset_peak`].
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grow(by: u64) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Starts a new peak from the bytes live now; returns the old peak.
fn reset_peak() -> u64 {
    PEAK.swap(LIVE.load(Ordering::Relaxed), Ordering::Relaxed)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        grow(layout.size() as u64);
        // SAFETY: same layout, as the caller promised.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // Counted as the new block allocated before the old one is freed (a moving realloc's worst case).
        grow(new_size as u64);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Args {
    model: String,
    file: String,
    line: usize,
    runs: usize,
    greedy_tokens: usize,
    beam_tokens: usize,
    requantize: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: String::new(),
        file: String::new(),
        line: 0,
        runs: 1,
        greedy_tokens: 128,
        beam_tokens: 32,
        requantize: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep-quantization" {
            args.requantize = false;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} takes a number, not `{value}`"))
        };
        match flag.as_str() {
            "--model" => args.model = value.clone(),
            "--file" => args.file = value.clone(),
            "--line" => args.line = number()?,
            "--runs" => args.runs = number()?.max(1),
            "--greedy-tokens" => args.greedy_tokens = number()?,
            "--beam-tokens" => args.beam_tokens = number()?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.model.is_empty() || args.file.is_empty() || args.line == 0 {
        return Err("usage: infill-bench --model M.gguf --file F.py --line N [--runs R] [--greedy-tokens N] [--beam-tokens N] [--keep-quantization]".into());
    }
    Ok(args)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Peak resident memory of this process in bytes (`VmHWM`), when Linux says.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One search from `start` to the end; its prefill time and the time and allocations of every step.
fn search(
    engine: &Engine,
    code: &str,
    line: usize,
    beams: usize,
    tokens: usize,
) -> Result<Value, String> {
    let settings = Settings {
        beams,
        max_new_tokens: tokens,
        mode: "multi".into(),
        ..Settings::default()
    };
    let config = GenerationConfig::from_settings(&settings).map_err(|e| e.to_string())?;
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64() * 1000.0;
    reset_peak();
    let mut prefill_peak = None;
    let t = Instant::now();
    let mut run = engine
        .start(code, line, config, now())
        .map_err(|e| e.to_string())?;
    // `start` only prepares the prompt; the engine reads it in pieces of `PROMPT_CHUNK` tokens, one per
    // `step` (steps with no beams yet), the last piece together with the first decoding step.
    let mut prefill_ms = ms(t);
    let prompt_tokens = run.prompt_tokens;
    let (mut step_ms, mut allocs, mut alloc_bytes) = (Vec::new(), Vec::new(), Vec::new());
    let mut step_peak = Vec::new();
    loop {
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        let peak_before = PEAK.load(Ordering::Relaxed);
        let live_before = LIVE.load(Ordering::Relaxed);
        PEAK.store(live_before, Ordering::Relaxed);
        let t = Instant::now();
        let outcome = engine.step(&mut run, now()).map_err(|e| e.to_string())?;
        let this_peak = PEAK.load(Ordering::Relaxed);
        step_peak.push((this_peak - live_before, LIVE.load(Ordering::Relaxed) as i64 - live_before as i64));
        PEAK.fetch_max(peak_before, Ordering::Relaxed);
        let elapsed = ms(t);
        if matches!(&outcome, StepOutcome::Running(b) if b.is_empty()) && run.steps() == 0 {
            prefill_ms += elapsed;
            continue;
        }
        if prefill_peak.is_none() {
            // The first decoding step ran with the prompt's last piece; its peak counts for both.
            prefill_peak = Some(PEAK.load(Ordering::Relaxed));
        }
        if let StepOutcome::Done(report) = outcome {
            return Ok(json!({
                "beams": beams,
                "prompt_tokens": prompt_tokens,
                "prefill_ms": prefill_ms,
                "steps": report.stats.generated_tokens,
                "last_step_ms": elapsed,
                "step_ms": step_ms,
                "step_allocs": allocs,
                "step_alloc_bytes": alloc_bytes,
                "peak_heap_prefill_bytes": prefill_peak,
                "step_peak_and_growth_bytes": step_peak,
                "peak_heap_bytes": reset_peak(),
                "completion": report.completion,
            }));
        }
        step_ms.push(elapsed);
        allocs.push(ALLOCS.load(Ordering::Relaxed) - a0);
        alloc_bytes.push(BYTES.load(Ordering::Relaxed) - b0);
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("infill-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Value, String> {
    if std::env::args().nth(1).as_deref() == Some("--micro") {
        return micro::run(540, 30);
    }
    if std::env::args().nth(1).as_deref() == Some("--compare") {
        let a: Vec<String> = std::env::args().skip(2).collect();
        let (Some(model), Some(file)) = (a.first(), a.get(1)) else {
            return Err("usage: infill-bench --compare M.gguf F.py [DECODE]".into());
        };
        let decode = match a.get(2) {
            Some(n) => n
                .parse()
                .map_err(|_| format!("DECODE must be a number, not `{n}`"))?,
            None => 64,
        };
        return compare::run(model, file, decode);
    }
    let args = parse_args()?;
    let bytes = std::fs::read(&args.model).map_err(|e| format!("{}: {e}", args.model))?;
    let code = std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file))?;
    let mut runs = Vec::new();
    for _ in 0..args.runs {
        reset_peak();
        let t = Instant::now();
        let options = LoadOptions {
            requantize_q8: args.requantize,
        };
        let engine = Engine::from_gguf_bytes_with(&bytes, &args.model, options)
            .map_err(|e| e.to_string())?;
        let load_ms = ms(t);
        let (heap_after_load, heap_load_peak) = (LIVE.load(Ordering::Relaxed), reset_peak());
        let greedy = search(&engine, &code, args.line, 1, args.greedy_tokens)?;
        let beams = search(&engine, &code, args.line, 5, args.beam_tokens)?;
        runs.push(json!({
            "load_ms": load_ms,
            "heap_after_load_bytes": heap_after_load,
            "peak_heap_load_bytes": heap_load_peak,
            "greedy": greedy,
            "beams": beams,
        }));
    }
    Ok(json!({
        "model": args.model,
        "file_bytes": bytes.len(),
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "peak_rss_bytes": peak_rss(),
        "runs": runs,
    }))
}
