//! A loaded model and its completions: the one entry point the CLI and the browser worker share.
//!
//! Bytes in, model out: [`Engine::from_gguf_bytes`] takes the file's bytes, so the page, the CLI and the
//! tests all use the same loading code. A [`Completion`] is one run; [`Engine::step`] advances it by one
//! decoding step, so the caller decides when to yield, stream or cancel.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::sync::Mutex;

use candle_core::quantized::gguf_file;

use crate::bigcode::{BigCode, BigCodeConfig};
use crate::dataset::SkipReason;
use crate::error::{InfillError, Result};
use crate::generation::{
    BeamSearch, GenerationConfig, Hypothesis, LanguageModel, LineMode, TokenText,
};
use crate::metrics;
use crate::model::{cosine, Known, KvCache, Llama, LoadOptions, Model};
use crate::prompt::{
    build_prompt_within, choose_layout, line_constraint, mask_line, FimFormat, MaskedLine,
};
use crate::protocol::{BeamView, CompletionReport, ModelInfo, RunStats};
use crate::tokenizer::TextTokenizer;

/// Whether a prompt may be cut to fit the model's context (lines far from the hole left out).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whole {
    Cut,
    /// Refuse the prompt instead.
    Required,
}

/// A model ready to complete code.
pub struct Engine {
    model: Model,
    tokenizer: TextTokenizer,
    format: FimFormat,
    info: ModelInfo,
    /// The last prompt's ids and its one-row cache: the next prompt reuses their common prefix.
    prompt_cache: Mutex<Option<(Vec<u32>, KvCache)>>,
}

/// Prompts are run through the model at most this many tokens at a time. A longer prompt is read one
/// piece per [`Engine::step`] call, so a caller can cancel while it is read, and attention never holds a
/// whole prompt × prompt matrix. 128 rather than 256: a piece's activations are 2 MB smaller at the
/// peak of the page's memory, the reading is as fast (the matrix kernels take activation rows four at a
/// time), and Cancel lands sooner.
pub const PROMPT_CHUNK: usize = 128;

/// The part of a long prompt not yet run through the model.
struct Reading {
    rest: Vec<u32>,
    ids: Vec<u32>,
    healed: Vec<u8>,
    config: GenerationConfig,
}

/// One completion in progress.
pub struct Completion {
    /// `None` while the prompt is still being read (see [`PROMPT_CHUNK`]).
    search: Option<BeamSearch>,
    reading: Option<Reading>,
    cache: KvCache,
    masked: MaskedLine,
    /// The cache right after the prompt (one row), for reranking.
    prompt_cache: KvCache,
    /// Finished beams and their cache rows, kept while the search runs when reranking will score them.
    kept: KeptRows,
    last_prompt_token: u32,
    healed: String,
    layout: FimFormat,
    rerank_lines: usize,
    want_cosine: bool,
    cached_tokens: usize,
    trimmed_lines: usize,
    /// The exact prompt text.
    pub prompt_text: String,
    /// Something the user should know about the code: it is not valid Python 3 (a syntax error, Python 2),
    /// so the model reads it as it is and "function only" falls back to the whole file.
    pub code_note: Option<String>,
    /// The prompt's length in tokens.
    pub prompt_tokens: usize,
    started_ms: f64,
    first_token_ms: Option<f64>,
}

impl Completion {
    /// Decoding steps taken so far.
    pub fn steps(&self) -> usize {
        self.search.as_ref().map_or(0, BeamSearch::steps)
    }

    /// Prompt tokens run through the model so far (the reused cache included), out of `prompt_tokens`.
    pub fn prompt_tokens_read(&self) -> usize {
        self.prompt_tokens - self.reading.as_ref().map_or(0, |r| r.rest.len())
    }

    /// Prompt positions whose keys and values are stored once for every beam (see
    /// [`KvCache::shared_positions`]); after the prompt is read, all of them for the llama models.
    pub fn shared_prompt_positions(&self) -> usize {
        self.cache.shared_positions()
    }
}

/// What one step produced.
pub enum StepOutcome {
    /// Still running: every live beam so far.
    Running(Vec<BeamView>),
    /// Finished.
    Done(Box<CompletionReport>),
}

struct Runner<'a> {
    model: &'a Model,
    cache: &'a mut KvCache,
    /// Where finished hypotheses' rows are kept for reranking, if they are.
    kept: Option<&'a mut KeptRows>,
}

/// The longest beam row kept for reranking (longer lines, in multi-line mode, are scored from the prompt).
const KEEP_POSITIONS: usize = 64;

/// Finished hypotheses with their cache rows, so that reranking scores each one from where the search
/// left it instead of running its tokens again. At most `limit` (the number of beams: the search keeps
/// as many), the best by score, and only rows of at most [`KEEP_POSITIONS`] positions past the prompt,
/// so that the copies stay small next to the search's own rows (SmolLM2: 46 kB a position).
#[derive(Default)]
struct KeptRows {
    limit: usize,
    rows: Vec<(Hypothesis, KvCache)>,
}

impl LanguageModel for Runner<'_> {
    fn prefill(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
        let mut last = None;
        for piece in prompt.chunks(PROMPT_CHUNK) {
            last = self.model.logits(&[piece.to_vec()], self.cache)?.pop();
        }
        last.ok_or_else(|| InfillError::Input("empty prompt".into()))
    }
    fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        self.cache.select_rows(rows)
    }
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let batch: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
        self.model.logits(&batch, self.cache)
    }
    fn finished(&mut self, row: usize, h: &Hypothesis) -> Result<()> {
        let Some(kept) = self.kept.as_deref_mut() else {
            return Ok(());
        };
        if kept.limit == 0
            || self
                .cache
                .len()
                .saturating_sub(self.cache.shared_positions())
                > KEEP_POSITIONS
        {
            return Ok(());
        }
        kept.rows.push((h.clone(), self.cache.row(row)?));
        if kept.rows.len() > kept.limit {
            // The worst by score goes (the later of equals): the search keeps the best too.
            let worst = (0..kept.rows.len())
                .rev()
                .min_by(|&a, &b| kept.rows[a].0.score.total_cmp(&kept.rows[b].0.score))
                .unwrap_or(0);
            kept.rows.remove(worst);
        }
        Ok(())
    }
}

impl TokenText for TextTokenizer {
    fn bytes(&self, id: u32) -> &[u8] {
        self.token_bytes(id)
    }
    fn is_stop(&self, id: u32) -> bool {
        self.stop_ids().contains(&id)
    }
    fn vocab_size(&self) -> usize {
        TextTokenizer::vocab_size(self)
    }
}

impl Engine {
    /// Loads a GGUF model (weights and tokenizer) from its bytes, as stored.
    pub fn from_gguf_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        Self::from_gguf_bytes_with(bytes, name, LoadOptions::default())
    }

    /// Loads a GGUF model from its bytes with load options (for example re-encoding to Q8_0).
    pub fn from_gguf_bytes_with(bytes: &[u8], name: &str, options: LoadOptions) -> Result<Self> {
        Self::from_gguf_reader(Cursor::new(bytes), bytes.len(), name, options)
    }

    /// Loads a GGUF model from a reader over its `len` bytes. The page reads the file where the browser
    /// holds it, so its bytes are never copied into wasm memory as a whole: only the metadata and one
    /// tensor at a time are.
    pub fn from_gguf_reader<R: Read + Seek>(
        mut reader: R,
        len: usize,
        name: &str,
        options: LoadOptions,
    ) -> Result<Self> {
        let mut magic = [0u8; 4];
        if len < 8 || reader.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
            return Err(InfillError::Model(format!(
                "`{name}` is not a GGUF file (it does not start with the GGUF magic bytes)"
            )));
        }
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| InfillError::Model(format!("`{name}`: {e}")))?;
        let mut content = gguf_file::Content::read(&mut reader)
            .map_err(|e| InfillError::Model(format!("`{name}`: {e}")))?;
        let tokenizer = TextTokenizer::from_gguf(&content)?;
        // The vocabulary and merges, as metadata values, are about 10 MB of small strings that the
        // tokenizer now holds in its own form: freed before the weights are read, so that the load's peak
        // (every weight plus whatever is still alive) does not include them.
        content
            .metadata
            .retain(|key, _| !key.starts_with("tokenizer.ggml."));
        // Every token must have a row in the embedding (and a logit): a tokenizer from another model
        // would otherwise index past the weights.
        if let Some(rows) = content
            .tensor_infos
            .get("token_embd.weight")
            .and_then(|t| t.shape.dims().first().copied())
        {
            if tokenizer.vocab_size() > rows {
                return Err(InfillError::Model(format!(
                    "`{name}`: the tokenizer has {} tokens but the model's embedding has only {rows} rows: \
                     the tokenizer does not belong to these weights",
                    tokenizer.vocab_size()
                )));
            }
        }
        let model = Model::Llama(Llama::from_gguf(&content, &mut reader, options)?);
        let format = FimFormat::detect(&tokenizer);
        let info = ModelInfo {
            name: name.to_string(),
            architecture: model.architecture().to_string(),
            vocab_size: tokenizer.vocab_size(),
            file_bytes: len,
            fim_format: format.name().to_string(),
            requantized: options.requantize_q8,
        };
        Ok(Self {
            model,
            tokenizer,
            format,
            info,
            prompt_cache: Mutex::new(None),
        })
    }

    /// Loads a GPT-BigCode model (StarCoder family) from its safetensors weights (float32, float16 or
    /// bfloat16), its `config.json` and its `tokenizer.json`.
    pub fn from_safetensors_bytes(
        model: &[u8],
        config_json: &[u8],
        tokenizer_json: &[u8],
        name: &str,
    ) -> Result<Self> {
        let config = BigCodeConfig::from_json(config_json)?;
        let tokenizer = TextTokenizer::from_tokenizer_json(
            tokenizer_json,
            config.eos_token_id,
            config.vocab_size,
        )?;
        let weights = Model::BigCode(BigCode::from_safetensors(model, config)?);
        let format = FimFormat::detect(&tokenizer);
        let info = ModelInfo {
            name: name.to_string(),
            architecture: weights.architecture().to_string(),
            vocab_size: tokenizer.vocab_size(),
            file_bytes: model.len(),
            fim_format: format.name().to_string(),
            requantized: false,
        };
        Ok(Self {
            model: weights,
            tokenizer,
            format,
            info,
            prompt_cache: Mutex::new(None),
        })
    }

    /// What was loaded.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The weights.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Starts completing line `line` (1-based) of `code`. `now_ms` is the caller's clock.
    pub fn start(
        &self,
        code: &str,
        line: usize,
        config: GenerationConfig,
        now_ms: f64,
    ) -> Result<Completion> {
        self.start_with(code, line, config, now_ms, Whole::Cut)
    }

    fn start_with(
        &self,
        code: &str,
        line: usize,
        config: GenerationConfig,
        now_ms: f64,
        whole: Whole,
    ) -> Result<Completion> {
        let masked = mask_line(code, line)?;
        if masked.middle.trim().is_empty() {
            return Err(InfillError::Input(format!(
                "line {line} is blank: choose a line with code on it"
            )));
        }
        // Parsed for the function around the line, or (up to a size that parses in a moment) only to
        // tell the user when the code is not valid Python.
        let parsed = (config.function_context || code.len() <= NOTE_PARSE_BYTES)
            .then(|| crate::dataset::extract_functions("<playground>", code.as_bytes()));
        let invalid = match &parsed {
            Some(Err(reason @ SkipReason::Syntax { .. })) => Some(reason.to_string()),
            Some(Err(SkipReason::Binary { offset })) => {
                Some(format!("a NUL character at byte offset {offset}"))
            }
            Some(Err(reason @ SkipReason::TooDeep { .. })) => {
                Some(format!("nested deeper than the parser allows, {reason}"))
            }
            _ => None,
        };
        let code_note = invalid.map(|why| {
            format!(
                "This code is not valid Python 3 ({why}). The model reads it as it is{}.",
                if config.function_context {
                    ", and sees the whole file: the function around the hidden line cannot be found"
                } else {
                    ""
                }
            )
        });
        let function = match (&parsed, config.function_context) {
            (Some(Ok(spans)), true) => function_around(spans, line),
            _ => None,
        };
        let masked = match function {
            Some((first, last)) => {
                let lines: Vec<&str> = code.split_inclusive('\n').collect();
                // The function's lines, the last one's terminator included, as the datasets cut them.
                let part = lines[first - 1..last.min(lines.len())].concat();
                mask_line(&part, line + 1 - first)?
            }
            None => masked,
        };
        let mut run = self.start_masked_with(masked, config, now_ms, whole)?;
        run.code_note = code_note;
        Ok(run)
    }

    /// Starts completing an already split task (prefix, hidden middle, suffix).
    pub fn start_masked(
        &self,
        masked: MaskedLine,
        config: GenerationConfig,
        now_ms: f64,
    ) -> Result<Completion> {
        self.start_masked_with(masked, config, now_ms, Whole::Cut)
    }

    fn start_masked_with(
        &self,
        masked: MaskedLine,
        mut config: GenerationConfig,
        now_ms: f64,
        whole: Whole,
    ) -> Result<Completion> {
        if masked.middle.trim().is_empty() {
            return Err(InfillError::Input(
                "the hidden line is blank: choose a line with code on it".into(),
            ));
        }
        let (layout, order) = choose_layout(&config.format, self.format)?;
        if config.constrain {
            let is_comment = masked.middle.trim_start().starts_with('#');
            config.constraint = line_constraint(&masked, is_comment);
        }
        if config.mode == LineMode::Multi {
            config.stop_line = masked
                .suffix
                .split('\n')
                .skip(1)
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string);
        }
        let budget = self
            .model
            .context_length()
            .saturating_sub(config.max_new_tokens + 1);
        let prompt =
            build_prompt_within(&self.tokenizer, layout, order, &masked, config.heal, budget)?;
        if whole == Whole::Required && prompt.trimmed_lines > 0 {
            // Refused before the engine's cached prompt is taken (`reusable_cache`): it stays for the next.
            return Err(InfillError::Input(
                "the code is longer than the model's context: each line's prompt begins elsewhere"
                    .into(),
            ));
        }
        if prompt.ids.is_empty() {
            return Err(InfillError::Input(
                "there is no code before the hidden line, and this model only reads the code above it"
                    .into(),
            ));
        }
        let (mut cache, cached_tokens) = self.reusable_cache(&prompt.ids)?;
        cache.reserve_prompt(prompt.ids.len() - cached_tokens);
        let rerank_lines = config.rerank_lines;
        let want_cosine = config.cosine;
        let keep_limit = if rerank_lines > 0 && layout.prefix_only() && config.num_beams > 1 {
            config.num_beams
        } else {
            0
        };
        let mut run = Completion {
            search: None,
            reading: Some(Reading {
                rest: prompt.ids[cached_tokens..].to_vec(),
                ids: prompt.ids.clone(),
                healed: prompt.healed.clone(),
                config,
            }),
            // Set when the prompt has been read; a clone now would make the prompt's positions private
            // to the run's row (see `KvCache::reserve_prompt`).
            prompt_cache: KvCache::default(),
            kept: KeptRows {
                limit: keep_limit,
                rows: Vec::new(),
            },
            cache,
            masked,
            last_prompt_token: prompt.ids[prompt.ids.len() - 1],
            healed: String::from_utf8_lossy(&prompt.healed).into_owned(),
            layout,
            rerank_lines,
            want_cosine,
            cached_tokens,
            trimmed_lines: prompt.trimmed_lines,
            prompt_tokens: prompt.ids.len(),
            prompt_text: prompt.text,
            code_note: None,
            started_ms: now_ms,
            first_token_ms: None,
        };
        // A short prompt is read at once; a long one one piece per `step`.
        if run
            .reading
            .as_ref()
            .is_some_and(|r| r.rest.len() <= PROMPT_CHUNK)
        {
            self.read_prompt(&mut run)?;
        }
        Ok(run)
    }

    /// Runs the next piece of a prompt still being read; the last piece starts the search.
    fn read_prompt(&self, run: &mut Completion) -> Result<()> {
        let Some(reading) = run.reading.as_mut() else {
            return Ok(());
        };
        if reading.rest.len() > PROMPT_CHUNK {
            let piece: Vec<u32> = reading.rest.drain(..PROMPT_CHUNK).collect();
            self.model.logits(&[piece], &mut run.cache)?;
            return Ok(());
        }
        let Some(reading) = run.reading.take() else {
            return Ok(());
        };
        let tail_room = reading
            .config
            .max_new_tokens
            .min(160 / reading.config.num_beams.max(1));
        let search = BeamSearch::start(
            &mut Runner {
                model: &self.model,
                cache: &mut run.cache,
                kept: None,
            },
            &reading.rest,
            reading.healed,
            reading.config,
        )?;
        run.search = Some(search);
        run.prompt_cache = run.cache.clone();
        if let Ok(mut slot) = self.prompt_cache.lock() {
            *slot = Some((reading.ids, run.cache.clone()));
        }
        // Each beam's own positions, sized once for the search (at most 160 positions in all, 7 MB for
        // SmolLM2; a longer search grows them).
        run.cache.reserve_tails(tail_room);
        Ok(())
    }

    /// Starts reading `code` before anyone asks for a line, as the prompt of its last line with code: every
    /// line above it then has a prompt that begins the same way, so when the person picks one, its reading
    /// continues from what was read ahead (see [`Engine::stop`]), with the same bits as reading it then.
    /// Step it with [`Engine::read_ahead_step`] while that returns true, then [`Engine::stop`] it. (Its
    /// last piece of at most [`PROMPT_CHUNK`] tokens is left for the real request: it would start a search.)
    pub fn read_ahead(
        &self,
        code: &str,
        config: GenerationConfig,
        now_ms: f64,
    ) -> Result<Completion> {
        let last = code
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .last()
            .map(|(i, _)| i + 1)
            .ok_or_else(|| InfillError::Input("there is no code to read".into()))?;
        // Code longer than the context is refused: each line's prompt would begin at another line, and
        // none would continue this one.
        self.start_with(code, last, config, now_ms, Whole::Required)
    }

    /// Reads the next piece of a prompt started with [`Engine::read_ahead`]; false (and nothing read) once
    /// only its last piece is left.
    pub fn read_ahead_step(&self, run: &mut Completion) -> Result<bool> {
        if run
            .reading
            .as_ref()
            .is_none_or(|r| r.rest.len() <= PROMPT_CHUNK)
        {
            return Ok(false);
        }
        self.read_prompt(run)?;
        Ok(true)
    }

    /// Ends `run` before it is done: the person stopped it, or asked for another line. A prompt still
    /// being read leaves the part it read for the next prompt, as a prompt read to its end does, so a
    /// second click in the same long file continues the reading instead of starting it again. (Merely
    /// dropping a run loses it: the run holds the engine's cached prompt while it reads.)
    pub fn stop(&self, run: Completion) {
        let Some(reading) = run.reading else {
            return;
        };
        let read = run.cache.len().min(reading.ids.len());
        if read == 0 {
            return;
        }
        if let Ok(mut slot) = self.prompt_cache.lock() {
            *slot = Some((reading.ids[..read].to_vec(), run.cache));
        }
    }

    /// A cache holding the longest prefix `ids` shares with the previous prompt (never all of `ids`:
    /// the last token must run to give the next-token logits), and that prefix's length.
    ///
    /// The previous prompt's cache is taken out of the engine, not cloned: the new prompt's positions
    /// are then appended to the same vectors. A clone would share them, and the new run's first write
    /// would copy every cached position (24 MB for a 512-token prompt, alive beside the original). The
    /// engine gets a cache back once the new prompt is read, or the part read so far when the run is
    /// ended with [`Engine::stop`]; a run merely dropped before that leaves it none, and the next prompt
    /// is read whole (with the same result).
    fn reusable_cache(&self, ids: &[u32]) -> Result<(KvCache, usize)> {
        let previous = self.prompt_cache.lock().ok().and_then(|mut s| s.take());
        if let Some((prev, mut cache)) = previous {
            let common = prev
                .iter()
                .zip(ids)
                .take_while(|(a, b)| a == b)
                .count()
                .min(ids.len().saturating_sub(1));
            if common > 0 {
                cache.truncate(common)?;
                return Ok((cache, common));
            }
        }
        Ok((self.model.new_cache(), 0))
    }

    /// Reorders the finished beams by log p(beam + the first suffix lines | prefix), best first.
    fn rerank(&self, run: &mut Completion, beams: &mut [BeamView]) -> Result<()> {
        let suffix: String = run
            .masked
            .suffix
            .split_inclusive('\n')
            .take(run.rerank_lines + 1)
            .collect();
        let seqs = beams
            .iter()
            .map(|b| {
                self.tokenizer
                    .encode(&format!("{}{}{}", run.healed, b.text, suffix))
            })
            .collect::<Result<Vec<_>>>()?;
        // What the search already scored of each line: the tokens it chose that the line's own
        // tokenization begins with, from the row it left them in.
        let kept = std::mem::take(&mut run.kept.rows);
        let prompt_len = run.prompt_cache.len();
        let mut known = Vec::with_capacity(beams.len());
        for (b, seq) in beams.iter().zip(&seqs) {
            let found = kept.iter().find(|(h, _)| h.tokens == b.tokens);
            let Some((h, row)) = found else {
                known.push(None);
                continue;
            };
            let same = seq
                .iter()
                .zip(&h.tokens)
                .take_while(|(a, b)| a == b)
                .count();
            // The row holds the tokens the search ran: all but the one it ended on.
            let ran = row.len().saturating_sub(prompt_len);
            let depth = same.min(ran + 1).min(h.token_logprobs.len());
            if depth == 0 {
                known.push(None);
                continue;
            }
            let mut cache = row.clone();
            cache.truncate(prompt_len + depth - 1)?;
            known.push(Some(Known {
                logprobs: h.token_logprobs[..depth].to_vec(),
                cache,
            }));
        }
        drop(kept);
        let scores = self.model.continuation_logprobs(
            &run.prompt_cache,
            run.last_prompt_token,
            &seqs,
            known,
        )?;
        for (b, score) in beams.iter_mut().zip(scores) {
            b.rerank = Some(score);
        }
        beams.sort_by(|a, b| {
            b.rerank
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.rerank.unwrap_or(f64::NEG_INFINITY))
        });
        Ok(())
    }

    /// Advances `run` by one decoding step, or, while a long prompt is still being read, by one piece
    /// of the prompt (then the beams are empty and [`Completion::steps`] stays 0).
    ///
    /// The returned beams are the live ones, best first, followed by any already finished.
    pub fn step(&self, run: &mut Completion, now_ms: f64) -> Result<StepOutcome> {
        if run.reading.is_some() {
            self.read_prompt(run)?;
            return Ok(StepOutcome::Running(Vec::new()));
        }
        let Some(search) = run.search.as_mut() else {
            return Err(InfillError::Input("the completion has no search".into()));
        };
        let done = search.step(
            &mut Runner {
                model: &self.model,
                cache: &mut run.cache,
                kept: Some(&mut run.kept),
            },
            &self.tokenizer,
        )?;
        if run.first_token_ms.is_none() {
            run.first_token_ms = Some(now_ms - run.started_ms);
        }
        if !done {
            return Ok(StepOutcome::Running(search.view()));
        }
        // The beams' own positions are no longer needed (reranking reads the prompt's cache): freed
        // before reranking runs, not after.
        run.cache = KvCache::default();
        let mut beams: Vec<BeamView> = search
            .results()
            .iter()
            .map(|h| BeamView {
                text: h.text.clone(),
                score: h.score,
                finished: true,
                rerank: None,
                tokens: h.tokens.clone(),
            })
            .collect();
        if run.rerank_lines > 0 && run.layout.prefix_only() && beams.len() > 1 {
            self.rerank(run, &mut beams)?;
        }
        let completion = beams.first().map(|b| b.text.clone()).unwrap_or_default();
        let target = run.masked.middle.clone();
        let scores = metrics::score(&completion, &target);
        let cosine = if run.want_cosine {
            self.similarity(&completion, &target)?
        } else {
            None
        };
        let total_ms = now_ms - run.started_ms;
        let first = run.first_token_ms.unwrap_or(total_ms);
        let steps = run.steps();
        let tokens_per_second = if steps > 1 && total_ms > first {
            (steps - 1) as f64 / ((total_ms - first) / 1000.0)
        } else {
            0.0
        };
        Ok(StepOutcome::Done(Box::new(CompletionReport {
            completion,
            target,
            beams,
            scores,
            cosine,
            stats: RunStats {
                prompt_tokens: run.prompt_tokens,
                generated_tokens: steps,
                first_token_ms: first,
                total_ms,
                tokens_per_second,
                cached_tokens: run.cached_tokens,
                trimmed_lines: run.trimmed_lines,
            },
        })))
    }

    /// Cosine similarity of the mean-pooled last hidden states of two texts, each run on its own.
    /// `None` when either text is blank.
    pub fn similarity(&self, a: &str, b: &str) -> Result<Option<f64>> {
        if a.trim().is_empty() || b.trim().is_empty() {
            return Ok(None);
        }
        let (ea, eb) = self
            .model
            .mean_hidden_pair(&self.tokenizer.encode(a)?, &self.tokenizer.encode(b)?)?;
        Ok(cosine(&ea, &eb))
    }

    /// Runs a completion to the end.
    pub fn complete(
        &self,
        code: &str,
        line: usize,
        config: GenerationConfig,
        clock: &dyn Fn() -> f64,
    ) -> Result<(Completion, CompletionReport)> {
        let mut run = self.start(code, line, config, clock())?;
        loop {
            if let StepOutcome::Done(report) = self.step(&mut run, clock())? {
                return Ok((run, *report));
            }
        }
    }
}

/// Code up to this size is parsed even in whole-file context, to say when it is not valid Python (a
/// megabyte parses in well under a second in the page).
const NOTE_PARSE_BYTES: usize = 1 << 20;

/// The lines (first, last; 1-based, inclusive) of the innermost function whose body holds `line`, if
/// the code has one.
fn function_around(spans: &[crate::dataset::FunctionSpan], line: usize) -> Option<(usize, usize)> {
    spans
        .iter()
        .filter(|f| f.start_line < line && line <= f.end_line)
        .min_by_key(|f| f.end_line - f.start_line)
        .map(|f| (f.start_line, f.end_line))
}
