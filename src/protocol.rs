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
    /// A GPT-BigCode safetensors model comes as three files: the weights at `url`, and the `config_url`
    /// and `tokenizer_url` given with them (both present, or both absent for a GGUF file). Each is
    /// downloaded with progress and cached under its own address; the cache lists them as one model,
    /// under the weights' address, and deleting that deletes all three.
    ///
    /// On the JavaScript side the request may also carry `file`, a `File`/`Blob` chosen or dropped by the
    /// user: the worker reads it instead of downloading `url`, and never caches it. A local safetensors
    /// model also carries `config_file` and `tokenizer_file`. A `File` has no serde form, so these are
    /// not fields here (serde ignores them).
    Load {
        /// The request id, echoed by every event that answers it.
        id: u32,
        /// Where the model file is served: the GGUF file, or a safetensors model's weights (absolute;
        /// empty for a local `file`).
        url: String,
        /// A safetensors model's `config.json` (absolute; empty for a local `config_file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config_url: Option<String>,
        /// A safetensors model's `tokenizer.json` (absolute; empty for a local `tokenizer_file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokenizer_url: Option<String>,
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
    /// Read `code` while the person chooses a line, as the prompt of its last line with code (see
    /// [`crate::engine::Engine::read_ahead`]): the `complete` that follows for any line above continues
    /// from what was read, with the same result. Answered by [`Event::ReadAhead`] after each piece; it
    /// stops by itself before the prompt's last piece, and at once (keeping what it read) when any other
    /// request arrives. Replaces the running completion, as a `complete` does.
    ReadAhead {
        /// The request id.
        id: u32,
        /// The whole Python source, as for `complete`.
        code: String,
        /// The settings the next `complete` will use (they decide the prompt: its layout, its context).
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
    /// Stop the running completion within one decoding step, or the download of a `load` (its id): the
    /// download is aborted, nothing of it is stored, and the load is answered by an [`Event::Error`]
    /// saying the user stopped it, then the model still in memory's [`Event::Loaded`], if any. A load
    /// whose bytes are already being read into the engine finishes.
    Cancel {
        /// The id of the completion or load to stop.
        id: u32,
    },
    /// Self-test: the engine panics on purpose, exactly as a bug would. The worker answers with a fatal
    /// [`Event::Error`] carrying the panic message; the page then restarts the worker, which loads the
    /// model again, and tells the user. The browser tests use it to prove that path on a real Rust
    /// panic. It ends only this tab's engine, so it is harmless in production.
    Panic {
        /// The request id.
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
    /// Turn Python files into masked-line tasks with the dataset code of `infill dataset`, so the same
    /// files and settings give byte-identical tasks. Answered at once by [`Event::Dataset`] (no model
    /// needed).
    Dataset {
        /// The request id.
        id: u32,
        /// The files, each with its path relative to the chosen folder (`/`-separated, as the CLI
        /// writes it). Ignored when `builtin` is set.
        #[serde(default)]
        files: Vec<SourceFile>,
        /// A built-in dataset instead of `files`: `"easy40"` (its fixed tasks; the options below are
        /// ignored).
        #[serde(default)]
        builtin: Option<String>,
        /// Tasks already made, as JSON Lines (what `infill dataset` writes, or any file with its
        /// fields), instead of `files`: read with `dataset::tasks_from_jsonl`, the same reader and
        /// the same tasks `infill eval --data` runs. The options below are ignored.
        #[serde(default)]
        jsonl: Option<String>,
        /// Seed of the line draw (`infill dataset --seed`).
        #[serde(default)]
        seed: u64,
        /// One random line per function, or every line (`--every-line`).
        #[serde(default)]
        mode: crate::dataset::MaskMode,
        /// The code around the hidden line (`--context`).
        #[serde(default)]
        context: crate::dataset::Context,
        /// Files over this many bytes are skipped (`--max-file-bytes`); absent means the CLI's default.
        #[serde(default)]
        max_file_bytes: Option<usize>,
    },
    /// Summarise scored results as `infill eval` and `infill merge` do (mean with 95% bootstrap
    /// interval per metric, corpus chrF/BLEU), once per group. Answered at once by [`Event::Summary`].
    Summarize {
        /// The request id.
        id: u32,
        /// The groups to summarise (for example the whole run, then each file). Scores are recomputed
        /// from each pair, as `infill merge` does.
        groups: Vec<SummaryGroup>,
        /// Seed of the bootstrap; the CLI uses 0.
        #[serde(default)]
        seed: u64,
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
///
/// Every field has a default (the notebook's: 5 beams, no sampling), so a request may carry any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Number of beams; 1 means greedy decoding (or one sample when `sample` is on).
    pub beams: usize,
    /// Upper bound on generated tokens.
    pub max_new_tokens: usize,
    /// `"single"` stops at the end of the line; `"multi"` lets the model write several lines.
    pub mode: String,
    /// Sample instead of searching (`do_sample=True`); uses `temperature`, `top_k`, `top_p`, `seed`.
    pub sample: bool,
    /// Sampling temperature (> 0).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens when sampling; 0 keeps all.
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p` (0 < p ≤ 1).
    pub top_p: f64,
    /// Seed of the sampler: the same seed, prompt and settings give the same completion.
    pub seed: u64,
    /// Prompt layout: `"auto"` (from the tokenizer's special tokens), `"psm"`, `"spm"`, `"none"`
    /// (prefix only) or `"fence"` (prefix only, after a ```` ```python ```` code-fence opening).
    pub format: String,
    /// Token healing where the prompt ends inside a token.
    pub heal: bool,
    /// Reject a first line that is blank, a comment, or indented less than the hole's function body,
    /// when the hidden line is code (see `generation::LineConstraint`).
    pub constrain: bool,
    /// Rerank the finished beams by log p(candidate + the first `rerank` suffix lines | prefix); 0 is off.
    /// Meant for models without FIM tokens, which otherwise never see the suffix. Default 1: with 5 beams,
    /// the best measured setting for the offline default model (docs/quality.md).
    pub rerank: usize,
    /// Compute the cosine similarity of hidden states (two extra short forward passes).
    pub cosine: bool,
    /// The code the model sees: `"file"` (all of it, as an editor has it) or `"function"` (only the
    /// innermost function around the hidden line, as in the notebook; the whole file when the line
    /// is in no function).
    pub context: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            beams: 5,
            max_new_tokens: 48,
            mode: "single".to_string(),
            sample: false,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            format: "auto".to_string(),
            heal: true,
            constrain: true,
            rerank: 1,
            cosine: true,
            context: "file".to_string(),
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
        /// Something the user should know about the code, e.g. that it is not valid Python 3 (the model
        /// then reads it as it is).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// One decoding step: every live beam's text so far.
    Beams {
        /// The `Complete` request this belongs to.
        id: u32,
        /// Number of tokens generated so far.
        step: usize,
        /// Prompt tokens run through the model so far, out of the `started` event's `prompt_tokens`: a
        /// long prompt is read a piece per step (with no beams yet), and the page shows how far it got.
        read: usize,
        /// Live beams, best first.
        beams: Vec<BeamView>,
    },
    /// How far a `read_ahead` got.
    ReadAhead {
        /// The `ReadAhead` request this belongs to.
        id: u32,
        /// Prompt tokens read so far (those already read for an earlier prompt included).
        read: usize,
        /// The prompt's length in tokens.
        total: usize,
        /// True when it stopped: what it could read is read, another request arrived, or there is nothing
        /// to read (code with nothing above its last line, bad settings: the next `complete` says why).
        done: bool,
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
    /// The answer to [`Request::Dataset`]: the tasks, and what the files held.
    Dataset {
        /// The `Dataset` request this answers.
        id: u32,
        /// The tasks, in the order `infill dataset` writes them.
        tasks: Vec<crate::dataset::Task>,
        /// The files that gave no tasks, by path, with the reason shown to users.
        skipped: Vec<SkippedView>,
        /// How many files were parsed (skipped files not included).
        files_read: usize,
        /// How many functions those files hold.
        functions: usize,
        /// The settings the tasks were built with (Easy 40's own for the built-in set).
        config: crate::dataset::DatasetConfig,
    },
    /// The answer to [`Request::Summarize`]: one summary per group, in order.
    Summary {
        /// The `Summarize` request this answers.
        id: u32,
        /// One entry per group.
        summaries: Vec<NamedSummary>,
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
    /// With suffix reranking: log p(beam text + the first suffix lines | prefix). Beams are then
    /// ordered by it, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f64>,
    /// The beam's generated token ids (healing prefix included; final beams only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<u32>,
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
    /// Prompt tokens whose keys and values were reused from the previous prompt (shared prefix).
    #[serde(default)]
    pub cached_tokens: usize,
    /// Lines cut from the top of the prefix and the bottom of the suffix to fit the model's context.
    #[serde(default)]
    pub trimmed_lines: usize,
}

/// A file handed to the worker: its path and its raw bytes (a `Uint8Array` in the browser, an array of
/// numbers in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// The path relative to the chosen folder, `/`-separated.
    pub path: String,
    /// The file's contents, undecoded.
    pub bytes: FileBytes,
}

/// Raw file bytes that serialise as bytes (a `Uint8Array` through `serde_wasm_bindgen`, copied once)
/// and also read from a JSON array of numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileBytes(pub Vec<u8>);

impl Serialize for FileBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for FileBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FileBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the bytes of a file")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<FileBytes, E> {
                Ok(FileBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<FileBytes, E> {
                Ok(FileBytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FileBytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(FileBytes(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// A skipped file as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedView {
    /// The file's path, as given.
    pub path: String,
    /// Why it gave no tasks (the text `infill dataset` prints).
    pub reason: String,
}

/// Hypothesis/reference pairs summarised together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryGroup {
    /// What the group is (for example `all` or a file's path); echoed in the answer.
    pub name: String,
    /// The model's texts and the hidden lines.
    pub pairs: Vec<ScorePair>,
}

/// The summary of one [`SummaryGroup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedSummary {
    /// The group's name.
    pub name: String,
    /// Means with 95% bootstrap intervals, and corpus chrF/BLEU.
    pub summary: crate::report::Summary,
}
