//! A loaded model and its completions: the one entry point the CLI and the browser worker share.
//!
//! Bytes in, model out: [`Engine::from_gguf_bytes`] takes the file's bytes, so the page, the CLI and the
//! tests all use the same loading code. A [`Completion`] is one run; [`Engine::step`] advances it by one
//! decoding step, so the caller decides when to yield, stream or cancel.

use std::io::Cursor;

use candle_core::quantized::gguf_file;

use crate::error::{InfillError, Result};
use crate::generation::{BeamSearch, GenerationConfig, LanguageModel, TokenText};
use crate::metrics;
use crate::model::{cosine, KvCache, Llama, LoadOptions};
use crate::prompt::{build_prompt, mask_line, FimFormat, MaskedLine};
use crate::protocol::{BeamView, CompletionReport, ModelInfo, RunStats};
use crate::tokenizer::TextTokenizer;

/// A model ready to complete code.
pub struct Engine {
    model: Llama,
    tokenizer: TextTokenizer,
    format: FimFormat,
    info: ModelInfo,
}

/// One completion in progress.
pub struct Completion {
    search: BeamSearch,
    cache: KvCache,
    masked: MaskedLine,
    /// The exact prompt text.
    pub prompt_text: String,
    /// The prompt's length in tokens.
    pub prompt_tokens: usize,
    started_ms: f64,
    first_token_ms: Option<f64>,
}

impl Completion {
    /// Decoding steps taken so far.
    pub fn steps(&self) -> usize {
        self.search.steps()
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
    model: &'a Llama,
    cache: &'a mut KvCache,
}

impl LanguageModel for Runner<'_> {
    fn prefill(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
        let mut rows = self.model.logits(&[prompt.to_vec()], self.cache)?;
        rows.pop()
            .ok_or_else(|| InfillError::Input("empty prompt".into()))
    }
    fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        self.cache.select_rows(rows)
    }
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let batch: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
        self.model.logits(&batch, self.cache)
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
        if bytes.len() < 8 || &bytes[..4] != b"GGUF" {
            return Err(InfillError::Model(format!(
                "`{name}` is not a GGUF file (it does not start with the GGUF magic bytes)"
            )));
        }
        let mut reader = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| InfillError::Model(format!("`{name}`: {e}")))?;
        let tokenizer = TextTokenizer::from_gguf(&content)?;
        let model = Llama::from_gguf(&content, &mut reader, options)?;
        let format = FimFormat::detect(&tokenizer);
        let info = ModelInfo {
            name: name.to_string(),
            architecture: model.config.architecture.clone(),
            vocab_size: tokenizer.vocab_size(),
            file_bytes: bytes.len(),
            fim_format: format.name().to_string(),
            requantized: options.requantize_q8,
        };
        Ok(Self {
            model,
            tokenizer,
            format,
            info,
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
    pub fn model(&self) -> &Llama {
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
        let masked = mask_line(code, line)?;
        if masked.middle.trim().is_empty() {
            return Err(InfillError::Input(format!(
                "line {line} is blank: choose a line with code on it"
            )));
        }
        let prompt = build_prompt(&self.tokenizer, self.format, &masked, config.heal)?;
        if prompt.ids.is_empty() {
            return Err(InfillError::Input(
                "there is no code before the hidden line, and this model only reads the code above it"
                    .into(),
            ));
        }
        let mut cache = self.model.new_cache();
        let search = BeamSearch::start(
            &mut Runner {
                model: &self.model,
                cache: &mut cache,
            },
            &prompt.ids,
            prompt.healed.clone(),
            config,
        )?;
        Ok(Completion {
            search,
            cache,
            masked,
            prompt_tokens: prompt.ids.len(),
            prompt_text: prompt.text,
            started_ms: now_ms,
            first_token_ms: None,
        })
    }

    /// Advances `run` by one decoding step.
    ///
    /// The returned beams are the live ones, best first, followed by any already finished.
    pub fn step(&self, run: &mut Completion, now_ms: f64) -> Result<StepOutcome> {
        let done = run.search.step(
            &mut Runner {
                model: &self.model,
                cache: &mut run.cache,
            },
            &self.tokenizer,
        )?;
        if run.first_token_ms.is_none() {
            run.first_token_ms = Some(now_ms - run.started_ms);
        }
        if !done {
            return Ok(StepOutcome::Running(run.search.view()));
        }
        let beams = run.search.view();
        let completion = run
            .search
            .results()
            .first()
            .map(|h| h.text.clone())
            .unwrap_or_default();
        let target = run.masked.middle.clone();
        let scores = metrics::score(&completion, &target);
        let cosine = self.similarity(&completion, &target)?;
        let total_ms = now_ms - run.started_ms;
        let first = run.first_token_ms.unwrap_or(total_ms);
        let steps = run.search.steps();
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
            },
        })))
    }

    /// Cosine similarity of the mean-pooled last hidden states of two texts, each run on its own.
    /// `None` when either text is blank.
    pub fn similarity(&self, a: &str, b: &str) -> Result<Option<f64>> {
        if a.trim().is_empty() || b.trim().is_empty() {
            return Ok(None);
        }
        let ea = self.model.mean_hidden(&self.tokenizer.encode(a)?)?;
        let eb = self.model.mean_hidden(&self.tokenizer.encode(b)?)?;
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
