//! The one message protocol between the page (`www/app.js`) and the worker (`www/worker.js` plus the
//! wasm engine in `src/web/`).
//!
//! Every message is a JSON-like object with a `kind` tag and, where it answers a request, the request's
//! `id`. `www/protocol.js` mirrors these shapes for the JavaScript side; keep the two in step.
//!
//! Architecture invariant: this module is plain serde. It knows nothing about the browser, so the CLI and
//! the tests use the same types.

use serde::{Deserialize, Serialize};

use crate::metrics::Scores;

/// A request from the page to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Fetch a model file from `url` (the worker streams it and reports progress) and load it, replacing
    /// the model in memory.
    ///
    /// A downloaded file is kept in the browser's Cache API (so the next visit needs no network) and a
    /// download that breaks off is resumed with an HTTP `Range` request (up to three tries). A `load` that
    /// arrives while another is still downloading cancels that download; the cancelled load gets no answer.
    /// If a load fails and the previous model is still in memory, the worker re-sends that model's
    /// [`Event::Loaded`] (with its original id) right after the [`Event::Error`].
    ///
    /// On the JavaScript side the request may also carry `file`, a `File`/`Blob` chosen or dropped by the
    /// user: the worker reads it instead of downloading `url`, and never caches it. A `File` has no serde
    /// form, so it is not a field here (serde ignores it).
    Load {
        /// The request id, echoed by every event that answers it.
        id: u32,
        /// Where the GGUF file is served (absolute; empty for a local `file`).
        url: String,
        /// The name shown to the user.
        name: String,
        /// Re-encode weights without a fast kernel (Q4_1) to Q8_0 at load: faster decoding for about a
        /// second of loading. On unless the page says otherwise.
        #[serde(default = "default_true")]
        requantize: bool,
    },
    /// Complete the masked line `line` (1-based) of `code`.
    Complete {
        /// The request id.
        id: u32,
        /// The whole Python source as the user typed or pasted it.
        code: String,
        /// The 1-based line number of the line to hide and complete.
        line: usize,
        /// Generation settings, validated by [`crate::generation::GenerationConfig::from_settings`].
        settings: Settings,
    },
    /// Score pairs of strings with every metric (no model needed), and optionally a corpus.
    Score {
        /// The request id.
        id: u32,
        /// Hypothesis/reference pairs to score one by one.
        pairs: Vec<ScorePair>,
        /// Groups to score at corpus level (sacrebleu `corpus_score` semantics).
        #[serde(default)]
        corpora: Vec<Corpus>,
    },
    /// Stop the running completion within one decoding step.
    Cancel {
        /// The id of the completion to cancel.
        id: u32,
    },
    /// List the model files stored in the browser's Cache API. Answered by [`Event::Cache`] at once, even
    /// while a completion runs.
    CacheList {
        /// The request id.
        id: u32,
    },
    /// Delete one stored model file. Answered by a fresh [`Event::Cache`]. A loaded model stays in memory.
    CacheDelete {
        /// The request id.
        id: u32,
        /// The stored file's address, as listed in a [`CacheEntry`].
        url: String,
    },
}

fn default_true() -> bool {
    true
}

/// One hypothesis and its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePair {
    /// The model's text.
    pub hypothesis: String,
    /// The text it is compared with.
    pub reference: String,
}

/// Hypotheses and references scored together at corpus level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Corpus {
    /// The model's texts.
    pub hypotheses: Vec<String>,
    /// The texts they are compared with, in the same order.
    pub references: Vec<String>,
}

/// Corpus-level scores of one [`Corpus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusScores {
    /// sacrebleu `CHRF().corpus_score`.
    pub corpus_chrf: f64,
    /// sacrebleu `BLEU().corpus_score`.
    pub corpus_bleu: f64,
}

/// Generation settings as they arrive from the page or the command line, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Number of beams; 1 means greedy decoding.
    pub beams: usize,
    /// Upper bound on generated tokens.
    pub max_new_tokens: usize,
    /// `"single"` stops at the end of the line; `"multi"` lets the model write several lines.
    pub mode: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            beams: 5,
            max_new_tokens: 48,
            mode: "single".to_string(),
        }
    }
}

/// An event from the worker to the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The worker has started and its wasm module is initialised. Sent once, before anything else.
    Ready,
    /// Download progress of a model file.
    Progress {
        /// The `Load` request this belongs to.
        id: u32,
        /// Bytes received so far.
        loaded: f64,
        /// Bytes expected, or 0 when the server did not say.
        total: f64,
        /// Something to tell the user about the download: found in the browser's storage, the connection
        /// dropped and the download resumes, reading a local file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The model is loaded and ready to complete.
    Loaded {
        /// The `Load` request this answers.
        id: u32,
        /// What was loaded.
        model: ModelInfo,
    },
    /// A completion has started: the prompt has been built and encoded.
    Started {
        /// The `Complete` request this answers.
        id: u32,
        /// The exact prompt text given to the model, special tokens included.
        prompt: String,
        /// The prompt's length in tokens.
        prompt_tokens: usize,
    },
    /// One decoding step: every live beam's text so far.
    Beams {
        /// The `Complete` request this belongs to.
        id: u32,
        /// Number of tokens generated so far.
        step: usize,
        /// Live beams, best first.
        beams: Vec<BeamView>,
    },
    /// The completion is finished.
    Done {
        /// The `Complete` request this answers.
        id: u32,
        /// The result.
        result: CompletionReport,
    },
    /// The answer to a `Score` request.
    Scored {
        /// The `Score` request this answers.
        id: u32,
        /// One entry per pair, in order.
        scores: Vec<Scores>,
        /// One entry per corpus, in order.
        corpora: Vec<CorpusScores>,
    },
    /// The completion was cancelled at the user's request.
    Cancelled {
        /// The `Complete` request this answers.
        id: u32,
    },
    /// The model files stored in the browser: the answer to [`Request::CacheList`] and
    /// [`Request::CacheDelete`].
    Cache {
        /// The request this answers.
        id: u32,
        /// One entry per stored file.
        entries: Vec<CacheEntry>,
        /// The bytes the browser lets the page store (`navigator.storage.estimate()`), when it says.
        #[serde(default)]
        quota: Option<f64>,
    },
    /// Something failed. The page shows `message` and stays usable.
    Error {
        /// The request that failed, if the failure belongs to one.
        id: Option<u32>,
        /// A message for the user.
        message: String,
    },
}

/// One model file stored in the browser's Cache API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The address it was downloaded from (the cache key).
    pub url: String,
    /// The name the user knows it by.
    pub name: String,
    /// Its size in bytes.
    pub bytes: f64,
}

/// What the page shows about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The name the user knows it by.
    pub name: String,
    /// The architecture from the file (for example `llama`).
    pub architecture: String,
    /// Tokenizer vocabulary size.
    pub vocab_size: usize,
    /// The file's size in bytes.
    pub file_bytes: usize,
    /// The FIM format that will be used (`none` for a model without FIM tokens).
    pub fim_format: String,
    /// True when slow quantized types were re-encoded to Q8_0 at load.
    pub requantized: bool,
}

/// One beam as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeamView {
    /// The completion text of this beam so far.
    pub text: String,
    /// The beam's score: the sum of token log-probabilities, divided by the length for finished beams.
    pub score: f64,
    /// True when this beam has ended (end of line, end of text).
    pub finished: bool,
}

/// Everything the page shows when a completion is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionReport {
    /// The best completion.
    pub completion: String,
    /// The hidden line it is compared with.
    pub target: String,
    /// The returned beams, best first.
    pub beams: Vec<BeamView>,
    /// Scores of `completion` against `target`.
    pub scores: Scores,
    /// Cosine similarity of the model's mean-pooled last hidden states for completion and target.
    pub cosine: Option<f64>,
    /// Timing and size figures.
    pub stats: RunStats,
}

/// Timing and size figures of one completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Tokens generated (decoding steps).
    pub generated_tokens: usize,
    /// Milliseconds from the request to the first generated token.
    pub first_token_ms: f64,
    /// Milliseconds for the whole completion.
    pub total_ms: f64,
    /// Decoding steps per second after the first token.
    pub tokens_per_second: f64,
}
