//! Heap use of the engine on the real default model, counted by this test binary's own allocator: the
//! weights at load, and what a 512-token prompt with five beams adds. The page's wasm memory only grows, so
//! what the engine holds at its peak is what a user's tab keeps (bench/results.md has the page's figures).
//! One test function, so that no other test allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use infill::engine::Engine;
use infill::generation::GenerationConfig;
use infill::model::LoadOptions;
use infill::protocol::Settings;

struct Counting;

/// Bytes allocated and not yet freed, and the most there were since the last [`reset_peak`].
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grow(by: usize) {
    let now = LIVE.fetch_add(by as u64, Ordering::Relaxed) + by as u64;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn live() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same layout, as the caller promised.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block allocated before the old one is freed (a moving realloc's worst case).
        grow(new_size);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MB: u64 = 1_000_000;

fn settings(beams: usize, max_new_tokens: usize) -> GenerationConfig {
    GenerationConfig::from_settings(&Settings {
        beams,
        max_new_tokens,
        mode: "multi".to_string(),
        cosine: false,
        ..Settings::default()
    })
    .expect("valid settings")
}

#[test]
fn the_weights_prompt_and_beams_fit_in_what_the_page_promises() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `scripts/setup.sh model` first",
            path.display()
        )
    });
    let len = file.metadata().expect("metadata").len() as usize;
    let start = live();
    // Read through a buffer, as the page reads the worker's bytes: the file is never held whole.
    let engine = Engine::from_gguf_reader(
        std::io::BufReader::with_capacity(1 << 16, file),
        len,
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        LoadOptions {
            requantize_q8: true,
        },
    )
    .expect("model loads");
    let loaded = live() - start;
    // 134.5 M weights at 34 bytes per 32 (Q8_0 with f16 scales) are 143 MB; the tokenizer and the rotary
    // tables about 9 MB more. f32 scales (+8 MB), the file's embedding kept to the end of the load
    // (+18 MB) or the GGUF vocabulary kept beside the tokenizer would each break this.
    println!("after load: {:.1} MB", loaded as f64 / 1e6);
    assert!(loaded < 155 * MB, "the loaded model holds {loaded} bytes");

    // The benchmark's prompt: 512 tokens. A greedy run first (its prompt stays cached in the engine)...
    let code = include_str!("../bench/heapq_merge.py");
    let clock = || 0.0;
    let (run, greedy) = engine
        .complete(code, 48, settings(1, 16), &clock)
        .expect("greedy runs");
    drop(run);
    assert_eq!(greedy.stats.prompt_tokens, 512);
    let cached = live();
    // ... holds the prompt's keys and values: 30 layers × 2 × 192 floats × 512 positions = 23.6 MB.
    let kv = (cached - start - loaded) as f64 / 1e6;
    println!("the cached prompt: {kv:.1} MB");
    assert!(
        (23.0..26.0).contains(&kv),
        "the cached prompt holds {kv} MB"
    );

    // ... then five beams on the same code reuse it: their own positions (5 × 32 × 46 KB = 7.4 MB) and
    // one step's work on top of it, never a second copy of the prompt (+23.6 MB).
    reset_peak();
    let (run, beams) = engine
        .complete(code, 48, settings(5, 32), &clock)
        .expect("beams run");
    drop(run);
    assert_eq!(beams.stats.cached_tokens, 511);
    let extra = (PEAK.load(Ordering::Relaxed) - cached) as f64 / 1e6;
    println!("five beams on the cached prompt: peak {extra:.1} MB above it");
    assert!(
        extra < 15.0,
        "five beams took {extra} MB above the cached prompt"
    );
}
