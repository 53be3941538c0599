//! The browser boundary: the only module that touches `wasm_bindgen`, `js_sys` or `web_sys`.
//!
//! `www/worker.js` owns the message loop (fetching, caching, yielding between steps); it hands every
//! request to [`WorkerEngine`] and posts back the [`Event`] each call returns. Events are converted to
//! plain JS objects here, once, with `serde_wasm_bindgen`.

use wasm_bindgen::prelude::*;

mod batch;

use crate::engine::{Completion, Engine, StepOutcome};
use crate::generation::GenerationConfig;
use crate::metrics;
use crate::model::LoadOptions;
use crate::protocol::{CorpusScores, Event, Request};

/// The message of the last Rust panic, kept for the worker: after a panic the module traps
/// (`RuntimeError: unreachable`) and the panic's own words would otherwise reach only the console.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Installs (once) a panic hook that records the message for [`take_panic_message`] and logs it to
/// the console with its stack, as `console_error_panic_hook` does.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(info.to_string());
            }
            console_error_panic_hook::hook(info);
        }));
    });
}

/// The message of the last panic (`panicked at FILE:LINE:COL: MESSAGE`), once; `undefined` if none.
/// Safe to call after the trap: it touches no engine state.
#[wasm_bindgen(js_name = takePanicMessage)]
pub fn take_panic_message() -> Option<String> {
    LAST_PANIC.lock().ok().and_then(|mut last| last.take())
}

fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global()
        .dyn_into::<web_sys::WorkerGlobalScope>()
        .ok()
        .and_then(|g| g.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

fn to_js(event: &Event) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(event, &serializer).unwrap_or_else(|e| {
        JsValue::from_str(&format!("the worker could not encode an event: {e}"))
    })
}

fn error(id: Option<u32>, message: impl ToString) -> JsValue {
    to_js(&Event::Error {
        id,
        message: message.to_string(),
    })
}

/// A file held by JS (a `Uint8Array`), read piece by piece into wasm memory.
struct JsBytes {
    bytes: js_sys::Uint8Array,
    pos: u64,
}

impl std::io::Read for JsBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = self.bytes.length() as u64;
        let start = self.pos.min(len);
        let n = (buf.len() as u64).min(len - start);
        if n > 0 {
            self.bytes
                .subarray(start as u32, (start + n) as u32)
                .copy_to(&mut buf[..n as usize]);
        }
        self.pos = start + n;
        Ok(n as usize)
    }
}

impl std::io::Seek for JsBytes {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let len = self.bytes.length() as i128;
        let pos = match to {
            std::io::SeekFrom::Start(p) => p as i128,
            std::io::SeekFrom::End(d) => len + d as i128,
            std::io::SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if pos < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a seek before the start of the file",
            ));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}

/// The engine behind the worker: at most one model and one running completion.
#[wasm_bindgen]
pub struct WorkerEngine {
    engine: Option<Engine>,
    /// Size of the files the engine in use was built from.
    engine_bytes: usize,
    run: Option<(u32, Completion)>,
}

/// While a new model loads, the one in use is kept (so a file the engine refuses costs nothing) as long as
/// both files together stay under this size; beyond it the old model is freed first, so that two large
/// models never need wasm32's 4 GiB at once.
const KEEP_OLD_MODEL_BYTES: usize = 1 << 30;

impl WorkerEngine {
    /// Ends the running completion, if any, leaving the engine what it read of its prompt
    /// ([`Engine::stop`]).
    fn stop_run(&mut self) {
        if let (Some(engine), Some((_, run))) = (&self.engine, self.run.take()) {
            engine.stop(run);
        }
    }

    /// Ends any run, and frees the model in use when keeping it while `incoming` bytes load would be
    /// too much memory (see [`KEEP_OLD_MODEL_BYTES`]).
    fn make_room(&mut self, incoming: usize) {
        self.run = None;
        if self.engine_bytes.saturating_add(incoming) > KEEP_OLD_MODEL_BYTES {
            self.engine = None;
            self.engine_bytes = 0;
        }
    }

    /// A `loaded` event for a built engine (which replaces the one in use), or an `error` event (the
    /// one in use, if kept, stays).
    fn finish_load(&mut self, id: u32, built: crate::Result<Engine>, size: usize) -> JsValue {
        match built {
            Ok(engine) => {
                let model = engine.info().clone();
                self.engine = Some(engine);
                self.engine_bytes = size;
                to_js(&Event::Loaded { id, model })
            }
            Err(e) => error(Some(id), e),
        }
    }
}

impl Default for WorkerEngine {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl WorkerEngine {
    /// Creates an engine with no model.
    #[wasm_bindgen(constructor)]
    pub fn new() -> WorkerEngine {
        install_panic_hook();
        WorkerEngine {
            engine: None,
            engine_bytes: 0,
            run: None,
        }
    }

    /// Loads a GGUF model from its bytes, read where the worker holds them (a `Uint8Array`): only the
    /// metadata and one tensor at a time are copied into wasm memory, never the whole file. Returns a
    /// `loaded` or an `error` event.
    pub fn load(
        &mut self,
        id: u32,
        bytes: js_sys::Uint8Array,
        name: &str,
        requantize: bool,
    ) -> JsValue {
        let len = bytes.length() as usize;
        self.make_room(len);
        let options = LoadOptions {
            requantize_q8: requantize,
        };
        // Buffered: the metadata is read in many small pieces (one per token of the vocabulary), and each
        // read of the array crosses into JS.
        let reader = std::io::BufReader::with_capacity(1 << 16, JsBytes { bytes, pos: 0 });
        let built = Engine::from_gguf_reader(reader, len, name, options);
        self.finish_load(id, built, len)
    }

    /// True while a model is loaded (after a failed load: whether the previous one was kept).
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self) -> bool {
        self.engine.is_some()
    }

    /// Loads a GPT-BigCode model (StarCoder family) from its safetensors weights, `config.json` and
    /// `tokenizer.json`. Returns a `loaded` or an `error` event.
    #[wasm_bindgen(js_name = loadSafetensors)]
    pub fn load_safetensors(
        &mut self,
        id: u32,
        weights: &[u8],
        config: &[u8],
        tokenizer: &[u8],
        name: &str,
    ) -> JsValue {
        let size = weights.len() + config.len() + tokenizer.len();
        self.make_room(size);
        let built = Engine::from_safetensors_bytes(weights, config, tokenizer, name);
        self.finish_load(id, built, size)
    }

    /// Starts a `complete` request. Returns a `started` or an `error` event.
    pub fn start(&mut self, request: JsValue) -> JsValue {
        let request: Request = match serde_wasm_bindgen::from_value(request) {
            Ok(r) => r,
            Err(e) => return error(None, format!("malformed request: {e}")),
        };
        let Request::Complete {
            id,
            code,
            line,
            settings,
        } = request
        else {
            return error(None, "start expects a `complete` request");
        };
        // A new completion replaces the running one: ended first, so that its cache is freed (and the
        // engine's cached prompt is no longer shared with it) before the new prompt is read. A prompt it
        // was still reading is left to the engine, for the new prompt to continue if it begins the same.
        self.stop_run();
        let Some(engine) = &self.engine else {
            return error(Some(id), "no model is loaded yet");
        };
        let config = match GenerationConfig::from_settings(&settings) {
            Ok(c) => c,
            Err(e) => return error(Some(id), e),
        };
        match engine.start(&code, line, config, now_ms()) {
            Ok(run) => {
                let event = Event::Started {
                    id,
                    prompt: run.prompt_text.clone(),
                    prompt_tokens: run.prompt_tokens,
                    note: run.code_note.clone(),
                };
                self.run = Some((id, run));
                to_js(&event)
            }
            Err(e) => error(Some(id), e),
        }
    }

    /// Starts a `read_ahead` request: the code's reading begins, as the running run (replacing any).
    /// Returns a `read_ahead` event; `done` when there is nothing (more) to read ahead.
    #[wasm_bindgen(js_name = readAhead)]
    pub fn read_ahead(&mut self, request: JsValue) -> JsValue {
        self.stop_run();
        let Ok(Request::ReadAhead { id, code, settings }) = serde_wasm_bindgen::from_value(request)
        else {
            return error(None, "readAhead expects a `read_ahead` request");
        };
        let nothing = to_js(&Event::ReadAhead {
            id,
            read: 0,
            total: 0,
            done: true,
        });
        let Some(engine) = &self.engine else {
            return nothing;
        };
        // Bad settings or code with nothing to read: the `complete` that follows says why.
        let Ok(config) = GenerationConfig::from_settings(&settings) else {
            return nothing;
        };
        match engine.read_ahead(&code, config, now_ms()) {
            Ok(run) => {
                self.run = Some((id, run));
                self.read_ahead_event(false)
            }
            Err(_) => nothing,
        }
    }

    /// Reads the next piece of the running `read_ahead`. Returns a `read_ahead` event, `done` (and the
    /// run ended, its reading kept) when only the prompt's last piece is left.
    #[wasm_bindgen(js_name = readAheadStep)]
    pub fn read_ahead_step(&mut self) -> JsValue {
        let (Some(engine), Some((_, run))) = (&self.engine, &mut self.run) else {
            return error(None, "nothing is being read ahead");
        };
        match engine.read_ahead_step(run) {
            Ok(more) => self.read_ahead_event(!more),
            Err(e) => {
                let id = self.run.take().map(|(id, _)| id);
                error(id, e)
            }
        }
    }

    /// The running read-ahead's progress; when `done`, the run is ended first (its reading kept).
    fn read_ahead_event(&mut self, done: bool) -> JsValue {
        let Some((id, run)) = &self.run else {
            return error(None, "nothing is being read ahead");
        };
        let event = Event::ReadAhead {
            id: *id,
            read: run.prompt_tokens_read(),
            total: run.prompt_tokens,
            done,
        };
        if done {
            self.stop_run();
        }
        to_js(&event)
    }

    /// Takes one decoding step of the running completion. Returns `beams`, `done` or `error`.
    pub fn step(&mut self) -> JsValue {
        let (Some(engine), Some((id, run))) = (&self.engine, &mut self.run) else {
            return error(None, "no completion is running");
        };
        let id = *id;
        match engine.step(run, now_ms()) {
            Ok(StepOutcome::Running(beams)) => to_js(&Event::Beams {
                id,
                step: run_steps(run),
                read: run.prompt_tokens_read(),
                beams,
            }),
            Ok(StepOutcome::Done(result)) => {
                self.run = None;
                to_js(&Event::Done {
                    id,
                    result: *result,
                })
            }
            Err(e) => {
                self.run = None;
                error(Some(id), e)
            }
        }
    }

    /// Answers a `score` request: every metric for each pair, corpus scores for each corpus.
    pub fn score(&self, request: JsValue) -> JsValue {
        match serde_wasm_bindgen::from_value(request) {
            Ok(Request::Score { id, pairs, corpora }) => to_js(&Event::Scored {
                id,
                scores: pairs
                    .iter()
                    .map(|p| metrics::score(&p.hypothesis, &p.reference))
                    .collect(),
                corpora: corpora
                    .iter()
                    .map(|c| {
                        let h: Vec<&str> = c.hypotheses.iter().map(String::as_str).collect();
                        let r: Vec<&str> = c.references.iter().map(String::as_str).collect();
                        CorpusScores {
                            corpus_chrf: metrics::corpus_chrf(&h, &r),
                            corpus_bleu: metrics::corpus_bleu(&h, &r),
                        }
                    })
                    .collect(),
            }),
            Ok(_) => error(None, "score expects a `score` request"),
            Err(e) => error(None, format!("malformed request: {e}")),
        }
    }

    /// Answers a `panic` request (a self-test, see [`Request::Panic`]): panics on purpose, with the
    /// engine borrowed as during a real step, so the page's crash handling is tested on a real panic.
    pub fn panic(&mut self, id: u32) -> JsValue {
        self.run = None;
        panic!("self-test: a deliberate panic (request {id})");
    }

    /// Ends the running completion (what it read of its prompt stays for the next). Returns a `cancelled`
    /// event.
    pub fn cancel(&mut self, id: u32) -> JsValue {
        if matches!(&self.run, Some((running, _)) if *running == id) {
            self.stop_run();
        }
        to_js(&Event::Cancelled { id })
    }
}

fn run_steps(run: &Completion) -> usize {
    run.steps()
}

/// Bytes of wasm linear memory the engine holds. Wasm memory never shrinks, so this is also the peak.
/// Read by the benchmark (`bench/`, through the worker's global `wasm_bindgen`); the page never calls it.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}
