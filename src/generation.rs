//! Step-wise decoding: greedy and beam search with the semantics of Hugging Face transformers'
//! `generate(num_beams=K, do_sample=False)`, plus Infill's stop rules.
//!
//! The search never sees a model: it asks a [`LanguageModel`] for the next-token logits of every live
//! beam. One call to [`BeamSearch::step`] is one decoding step, so callers can stream, yield to an event
//! loop or cancel between steps.
//!
//! **Stop rules.** A beam ends at a stop token (end of text), at `max_new_tokens`, or, in single-line
//! mode, at the first newline that follows a non-blank line; newlines before any text are skipped, as
//! the HumanEval-FIM harness does. The finished text is cut at that newline. In multi-line mode a beam
//! ends when it writes a line equal to the suffix's first non-blank line (it has started repeating the
//! code after the hole), and the text is cut before that line.
//!
//! **Line constraint.** A [`LineConstraint`] (built by the engine from the code around the hole) removes
//! tokens that would make the first line blank, a comment, or indented outside what Python allows there,
//! before the candidates are ranked.
//!
//! **Sampling.** With [`Sampling`], each of the `num_beams` rows draws its own tokens (temperature, top-k,
//! top-p) from a seeded generator instead of competing in a beam search: the same seed gives the same
//! samples everywhere.

use serde::{Deserialize, Serialize};

use crate::dataset::SplitMix64;
use crate::error::{InfillError, Result};
use crate::protocol::{BeamView, Settings};

/// The model as beam search sees it.
pub trait LanguageModel {
    /// Runs the prompt for one sequence and returns the next-token logits.
    fn prefill(&mut self, prompt: &[u32]) -> Result<Vec<f32>>;
    /// Rearranges the cached sequences: new row `i` continues old row `rows[i]`.
    fn select_rows(&mut self, rows: &[usize]) -> Result<()>;
    /// Appends one token to each row and returns each row's next-token logits.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;
    /// Told when a hypothesis finishes as the continuation of row `row`, which holds every token of
    /// `h` but the last (none is missing when it ended on a stop token). A model may keep that row to
    /// score the hypothesis further without running its tokens again; the default keeps nothing.
    fn finished(&mut self, _row: usize, _h: &Hypothesis) -> Result<()> {
        Ok(())
    }
}

/// Single-line or multi-line completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineMode {
    /// Stop at the end of the first non-blank line.
    Single,
    /// Let the model write several lines.
    Multi,
}

/// Validated generation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Beams; 1 is greedy decoding.
    pub num_beams: usize,
    /// Upper bound on generated tokens.
    pub max_new_tokens: usize,
    /// Single-line or multi-line.
    pub mode: LineMode,
    /// Exponent on the length when ranking finished beams (transformers' `length_penalty`).
    pub length_penalty: f64,
    /// Apply token healing where the prompt ends inside a token.
    pub heal: bool,
    /// Draw samples instead of searching; `None` is beam search (greedy with one beam).
    pub sampling: Option<Sampling>,
    /// What the first line may look like.
    pub constraint: LineConstraint,
    /// Multi-line mode: the suffix's first non-blank line, trimmed. A beam that writes it has started
    /// repeating the code after the hole and ends before it.
    pub stop_line: Option<String>,
    /// Suffix lines used to rerank finished beams (0: off). Applied by the engine.
    pub rerank_lines: usize,
    /// Compute the cosine similarity of hidden states when done. Applied by the engine.
    pub cosine: bool,
    /// Prompt layout requested: `auto`, `psm`, `spm` or `none`. Applied by the engine.
    pub format: String,
    /// Apply a [`LineConstraint`] built from the code around the hole. Applied by the engine.
    pub constrain: bool,
    /// Show the model only the innermost function around the hole. Applied by the engine.
    pub function_context: bool,
}

/// Sampling parameters (transformers' `do_sample=True`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Logits are divided by it (> 0).
    pub temperature: f64,
    /// Keep the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`.
    pub top_p: f64,
    /// Seed of the generator.
    pub seed: u64,
}

/// What Python allows the first line of the hole to look like, from the code around it.
///
/// Indentation is counted in bytes of leading spaces and tabs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineConstraint {
    /// The line holds code: no blank line, no end of text before the first non-blank character.
    pub not_blank: bool,
    /// The first non-blank character may not be `#`.
    pub not_comment: bool,
    /// Fewest leading spaces/tabs allowed.
    pub min_indent: usize,
    /// The only indentations allowed, if known (levels already open in the code above).
    pub indents: Option<Vec<usize>>,
}

/// Whether a line start satisfies a [`LineConstraint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Satisfied, whatever follows.
    Settled,
    /// Only whitespace so far, within bounds.
    Pending,
    /// Violated.
    Reject,
}

impl LineConstraint {
    /// True when the constraint removes anything.
    pub fn is_active(&self) -> bool {
        self.not_blank || self.not_comment || self.min_indent > 0 || self.indents.is_some()
    }

    /// Judges the completion bytes written so far (healing prefix removed). `ended` says the text ends
    /// here (a stop token follows).
    fn judge(&self, body: &[u8], ended: bool) -> Verdict {
        let body = if self.not_blank {
            body
        } else {
            let lead = body
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            &body[lead..]
        };
        let indent = body
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let fits =
            |i: usize| i >= self.min_indent && self.indents.as_ref().is_none_or(|s| s.contains(&i));
        if let Some(set) = &self.indents {
            if set.iter().all(|&l| indent > l) {
                return Verdict::Reject;
            }
        }
        match body.get(indent) {
            None if ended && self.not_blank => Verdict::Reject,
            None => Verdict::Pending,
            Some(b'\n' | b'\r') if self.not_blank => Verdict::Reject,
            Some(b'\n' | b'\r') => Verdict::Settled,
            Some(b'#') if self.not_comment => Verdict::Reject,
            Some(_) if !fits(indent) => Verdict::Reject,
            Some(_) => Verdict::Settled,
        }
    }
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self::from_settings(&Settings::default()).unwrap_or(Self {
            num_beams: 5,
            max_new_tokens: 48,
            mode: LineMode::Single,
            length_penalty: 1.0,
            heal: true,
            sampling: None,
            constraint: LineConstraint::default(),
            stop_line: None,
            rerank_lines: 0,
            cosine: true,
            format: "auto".into(),
            constrain: true,
            function_context: false,
        })
    }
}

impl GenerationConfig {
    /// Validates raw settings from the page or the command line.
    pub fn from_settings(s: &Settings) -> Result<Self> {
        if !(1..=16).contains(&s.beams) {
            return Err(InfillError::Settings(format!(
                "beams must be between 1 and 16, not {}",
                s.beams
            )));
        }
        if !(1..=512).contains(&s.max_new_tokens) {
            return Err(InfillError::Settings(format!(
                "max new tokens must be between 1 and 512, not {}",
                s.max_new_tokens
            )));
        }
        let mode = match s.mode.as_str() {
            "single" => LineMode::Single,
            "multi" => LineMode::Multi,
            other => {
                return Err(InfillError::Settings(format!(
                    "mode must be `single` or `multi`, not `{other}`"
                )))
            }
        };
        let sampling = if s.sample {
            if !(s.temperature.is_finite() && s.temperature > 0.0 && s.temperature <= 100.0) {
                return Err(InfillError::Settings(format!(
                    "temperature must be above 0 and at most 100, not {}",
                    s.temperature
                )));
            }
            if !(s.top_p > 0.0 && s.top_p <= 1.0) {
                return Err(InfillError::Settings(format!(
                    "top-p must be above 0 and at most 1, not {}",
                    s.top_p
                )));
            }
            Some(Sampling {
                temperature: s.temperature,
                top_k: s.top_k,
                top_p: s.top_p,
                seed: s.seed,
            })
        } else {
            None
        };
        if !["auto", "psm", "spm", "none", "fence"].contains(&s.format.as_str()) {
            return Err(InfillError::Settings(format!(
                "format must be `auto`, `psm`, `spm`, `none` or `fence`, not `{}`",
                s.format
            )));
        }
        let function_context = match s.context.as_str() {
            "file" => false,
            "function" => true,
            other => {
                return Err(InfillError::Settings(format!(
                    "context must be `file` or `function`, not `{other}`"
                )))
            }
        };
        if s.rerank > 50 {
            return Err(InfillError::Settings(format!(
                "rerank uses at most 50 suffix lines, not {}",
                s.rerank
            )));
        }
        Ok(Self {
            num_beams: s.beams,
            max_new_tokens: s.max_new_tokens,
            mode,
            length_penalty: 1.0,
            heal: s.heal,
            sampling,
            constraint: LineConstraint::default(),
            stop_line: None,
            rerank_lines: s.rerank,
            cosine: s.cosine,
            format: s.format.clone(),
            constrain: s.constrain,
            function_context,
        })
    }
}

/// What the search needs to know about tokens.
pub trait TokenText {
    /// The bytes a token stands for.
    fn bytes(&self, id: u32) -> &[u8];
    /// True for tokens that end generation.
    fn is_stop(&self, id: u32) -> bool;
    /// Number of tokens.
    fn vocab_size(&self) -> usize;
}

/// One sequence under construction or finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated token ids (healing prefix included, stop token excluded).
    pub tokens: Vec<u32>,
    /// Sum of the tokens' log-probabilities, the stop token's included.
    pub logprob: f64,
    /// Each token's log-probability, in order (the stop token's last, when it ended on one): their sum,
    /// from the first, is `logprob`.
    pub token_logprobs: Vec<f64>,
    /// The ranking score: `logprob / length^length_penalty` for finished hypotheses.
    pub score: f64,
    /// The completion text, cut by the stop rules, healing prefix removed.
    pub text: String,
}

/// The state of one beam search (greedy is the one-beam case).
pub struct BeamSearch {
    config: GenerationConfig,
    healed: Vec<u8>,
    live: Vec<Hypothesis>,
    finished: Vec<Hypothesis>,
    logits: Vec<Vec<f32>>,
    steps: usize,
    done: bool,
    rng: SplitMix64,
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    // This crate's own exp and ln: the same scores in the page (wasm) and the CLI.
    crate::kernels::log_softmax(logits)
}

/// Draws a token from `lp` (log-probabilities) restricted to `allowed`, with temperature, top-k and
/// top-p (transformers' order: temperature, then top-k, then top-p). `None` if nothing is allowed.
fn sample(
    lp: &[f64],
    allowed: &dyn Fn(usize) -> bool,
    s: &Sampling,
    rng: &mut SplitMix64,
) -> Option<usize> {
    let mut cands: Vec<(usize, f64)> = lp
        .iter()
        .enumerate()
        .filter(|&(t, l)| l.is_finite() && allowed(t))
        .map(|(t, &l)| (t, l / s.temperature))
        .collect();
    if cands.is_empty() {
        return None;
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if s.top_k > 0 {
        cands.truncate(s.top_k);
    }
    let max = cands[0].1;
    let mut probs: Vec<f64> = cands
        .iter()
        .map(|&(_, l)| crate::kernels::exp(l - max))
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if s.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                acc += p;
                acc >= s.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        cands.truncate(keep);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    // 53 random bits give a uniform draw in [0, 1).
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return Some(cands[i].0);
        }
    }
    cands.last().map(|c| c.0)
}

/// Where the completion text ends under the single-line rule, if it has ended.
fn single_line_end(text: &[u8]) -> Option<usize> {
    let start = text.iter().position(|&b| b != b'\n' && b != b'\r')?;
    let mut seen_text = false;
    for (i, &b) in text.iter().enumerate().skip(start) {
        if b == b'\n' {
            if seen_text {
                return Some(i);
            }
        } else if !b.is_ascii_whitespace() {
            seen_text = true;
        }
    }
    None
}

/// Turns generated bytes into the completion text: healing prefix removed, leading newlines skipped in
/// single-line mode, cut at the end of the line, trailing `\r` dropped.
fn completion_text(
    bytes: &[u8],
    healed: &[u8],
    mode: LineMode,
    stop_line: Option<&str>,
) -> (String, bool) {
    let body = bytes.strip_prefix(healed).unwrap_or(bytes);
    match mode {
        LineMode::Multi => {
            let text = String::from_utf8_lossy(body);
            if let Some(stop) = stop_line.filter(|l| !l.is_empty()) {
                // Only whole lines (followed by a newline) can repeat the suffix's first line.
                let mut start = 0;
                while let Some(nl) = text[start..].find('\n') {
                    if text[start..start + nl].trim() == stop {
                        return (text[..start].to_string(), true);
                    }
                    start += nl + 1;
                }
            }
            (text.into_owned(), false)
        }
        LineMode::Single => {
            let lead = body
                .iter()
                .position(|&b| b != b'\n' && b != b'\r')
                .unwrap_or(body.len());
            let (line, ended) = match single_line_end(body) {
                Some(end) => (&body[lead..end], true),
                None => (&body[lead..], false),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (String::from_utf8_lossy(line).into_owned(), ended)
        }
    }
}

impl BeamSearch {
    /// Starts a search: runs the prompt through `model`.
    pub fn start(
        model: &mut impl LanguageModel,
        prompt: &[u32],
        healed: Vec<u8>,
        config: GenerationConfig,
    ) -> Result<Self> {
        if prompt.is_empty() {
            return Err(InfillError::Input(
                "the prompt is empty: there is no code before the hidden line".into(),
            ));
        }
        let logits = model.prefill(prompt)?;
        let config_seed = config.sampling.as_ref().map_or(0, |s| s.seed);
        Ok(Self {
            config,
            healed,
            live: vec![Hypothesis {
                tokens: Vec::new(),
                logprob: 0.0,
                token_logprobs: Vec::new(),
                score: 0.0,
                text: String::new(),
            }],
            finished: Vec::new(),
            logits: vec![logits],
            steps: 0,
            done: false,
            rng: SplitMix64::new(config_seed),
        })
    }

    /// True when the search has finished.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Number of decoding steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The live beams (best first) and the finished ones, for display.
    pub fn view(&self) -> Vec<BeamView> {
        let mut out: Vec<BeamView> = self
            .finished
            .iter()
            .map(|h| BeamView {
                text: h.text.clone(),
                score: h.score,
                finished: true,
                rerank: None,
                tokens: Vec::new(),
            })
            .collect();
        out.extend(self.live.iter().map(|h| BeamView {
            text: h.text.clone(),
            score: h.logprob,
            finished: false,
            rerank: None,
            tokens: Vec::new(),
        }));
        out.truncate(self.config.num_beams.max(1) * 2);
        out
    }

    /// The healed bytes `h` still has to produce, if any: its next token must agree with them.
    fn pending_heal(&self, h: &Hypothesis, text: &impl TokenText) -> Option<Vec<u8>> {
        let have = h.tokens.iter().map(|&t| text.bytes(t).len()).sum::<usize>();
        (have < self.healed.len()).then(|| self.healed[have..].to_vec())
    }

    fn length_score(&self, logprob: f64, len: usize) -> f64 {
        logprob / (len.max(1) as f64).powf(self.config.length_penalty)
    }

    /// The bytes `h` has generated.
    fn generated(h: &Hypothesis, text: &impl TokenText) -> Vec<u8> {
        h.tokens
            .iter()
            .flat_map(|&t| text.bytes(t).iter().copied())
            .collect()
    }

    /// The tokens row `h` may take next, as a filter: healing agreement and the line constraint.
    /// `None` means every token is allowed.
    fn filter_for(&self, h: &Hypothesis, text: &impl TokenText) -> Option<Vec<bool>> {
        let need = self.pending_heal(h, text);
        let cons = &self.config.constraint;
        let have = Self::generated(h, text);
        let judge_line = cons.is_active() && {
            let body = have.get(self.healed.len()..).unwrap_or(&[]);
            have.len() < self.healed.len() || cons.judge(body, false) == Verdict::Pending
        };
        if need.is_none() && !judge_line {
            return None;
        }
        let mut buf = have.clone();
        Some(
            (0..text.vocab_size() as u32)
                .map(|t| {
                    let b = text.bytes(t);
                    let stop = text.is_stop(t);
                    if let Some(need) = &need {
                        let n = need.len().min(b.len());
                        if b.is_empty() || stop || b[..n] != need[..n] {
                            return false;
                        }
                    }
                    if !judge_line {
                        return true;
                    }
                    buf.truncate(have.len());
                    buf.extend_from_slice(b);
                    match buf.get(self.healed.len()..) {
                        None => true,
                        Some(body) => cons.judge(body, stop) != Verdict::Reject,
                    }
                })
                .collect(),
        )
    }

    /// Takes one decoding step. Returns true when the search is done.
    pub fn step(&mut self, model: &mut impl LanguageModel, text: &impl TokenText) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let k = self.config.num_beams;
        // Candidates: (score, row, token, the token's own log-probability). Beam search takes the best
        // 2k over all rows, as transformers does; sampling draws one token per row (k rows from the
        // single prompt row at the first step).
        let mut candidates: Vec<(f64, usize, u32, f64)> =
            Vec::with_capacity(2 * k * self.live.len());
        for (row, (h, logits)) in self.live.iter().zip(&self.logits).enumerate() {
            let filter = self.filter_for(h, text);
            let allowed = |t: usize| filter.as_ref().is_none_or(|f| f[t]);
            if let Some(sampling) = self.config.sampling.clone() {
                let lp = log_softmax(logits);
                let draws = if self.steps == 0 { k } else { 1 };
                for _ in 0..draws {
                    if let Some(t) = sample(&lp, &allowed, &sampling, &mut self.rng) {
                        candidates.push((h.logprob + lp[t], row, t as u32, lp[t]));
                    }
                }
                continue;
            }
            // The row's best 2k by score (ties: the lower token first), in one pass over the vocabulary
            // with each log-probability computed as `log_softmax` would give it.
            let lse = crate::kernels::log_sum_exp(logits);
            let mut best: Vec<(f64, u32, f64)> = Vec::with_capacity(2 * k + 1);
            // A stretch whose largest logit cannot beat the 2k-th best is passed over whole: a logit's
            // score only grows with it (each step rounds monotonically), so none of the stretch could.
            const STRETCH: usize = 64;
            for (c, stretch) in logits.chunks(STRETCH).enumerate() {
                if let Some(w) = best.last().filter(|_| best.len() == 2 * k) {
                    let top = crate::kernels::max_of(stretch);
                    if h.logprob + (top as f64 - lse) <= w.0 {
                        continue;
                    }
                }
                for (i, &l) in stretch.iter().enumerate() {
                    let t = c * STRETCH + i;
                    let lp = l as f64 - lse;
                    if !lp.is_finite() || !allowed(t) {
                        continue;
                    }
                    let score = h.logprob + lp;
                    if best.len() == 2 * k && best.last().is_none_or(|w| score <= w.0) {
                        continue;
                    }
                    let at = best.partition_point(|b| b.0 >= score);
                    best.insert(at, (score, t as u32, lp));
                    best.truncate(2 * k);
                }
            }
            candidates.extend(best.into_iter().map(|(score, t, lp)| (score, row, t, lp)));
        }
        let sampling = self.config.sampling.is_some();
        if !sampling {
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            candidates.truncate(2 * k);
        }

        let mut next: Vec<Hypothesis> = Vec::with_capacity(k);
        let mut parents = Vec::with_capacity(k);
        let mut next_tokens = Vec::with_capacity(k);
        for (rank, &(score, row, tok, lp)) in candidates.iter().enumerate() {
            let parent = &self.live[row];
            let mut tokens = parent.tokens.clone();
            let stop = text.is_stop(tok);
            if !stop {
                tokens.push(tok);
            }
            let bytes: Vec<u8> = tokens
                .iter()
                .flat_map(|&t| text.bytes(t).to_vec())
                .collect();
            let (line, line_ended) = completion_text(
                &bytes,
                &self.healed,
                self.config.mode,
                self.config.stop_line.as_deref(),
            );
            if stop || line_ended {
                // transformers ignores an end chosen below the top k.
                if rank >= k && !sampling {
                    continue;
                }
                let len = parent.tokens.len() + 1;
                let mut token_logprobs = parent.token_logprobs.clone();
                token_logprobs.push(lp);
                let h = Hypothesis {
                    tokens,
                    logprob: score,
                    token_logprobs,
                    score: self.length_score(score, len),
                    text: line,
                };
                model.finished(row, &h)?;
                self.finished.push(h);
            } else {
                let mut token_logprobs = parent.token_logprobs.clone();
                token_logprobs.push(lp);
                next.push(Hypothesis {
                    tokens,
                    logprob: score,
                    token_logprobs,
                    score,
                    text: line,
                });
                parents.push(row);
                next_tokens.push(tok);
            }
            if next.len() == k {
                break;
            }
        }
        self.steps += 1;
        self.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        if !sampling {
            self.finished.truncate(k);
        }

        // transformers' default (early_stopping=False): stop once no live beam can beat the worst kept.
        let saturated = !sampling
            && self.finished.len() >= k
            && next.first().is_none_or(|best| {
                let worst = self.finished.last().map_or(f64::NEG_INFINITY, |h| h.score);
                self.length_score(best.logprob, self.steps) <= worst
            });
        if next.is_empty() || saturated || self.steps >= self.config.max_new_tokens {
            self.live = next;
            self.finish();
            return Ok(true);
        }
        model.select_rows(&parents)?;
        self.logits = model.step(&next_tokens)?;
        self.live = next;
        Ok(false)
    }

    fn finish(&mut self) {
        let k = self.config.num_beams;
        for h in std::mem::take(&mut self.live) {
            let score = self.length_score(h.logprob, h.tokens.len());
            self.finished.push(Hypothesis { score, ..h });
        }
        self.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.finished.truncate(k);
        self.done = true;
    }

    /// The finished hypotheses, best first (available once [`BeamSearch::is_done`]).
    pub fn results(&self) -> &[Hypothesis] {
        &self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of single characters; token 0 is the stop token.
    struct Chars(Vec<Vec<u8>>);
    impl TokenText for Chars {
        fn bytes(&self, id: u32) -> &[u8] {
            &self.0[id as usize]
        }
        fn is_stop(&self, id: u32) -> bool {
            id == 0
        }
        fn vocab_size(&self) -> usize {
            self.0.len()
        }
    }

    /// A fake model whose next-token distribution depends only on the last token: a fixed table.
    struct Table {
        rows: Vec<u32>,
        table: Vec<Vec<f32>>,
    }

    /// [`Table`], noting for each finished hypothesis the last token its row had been given.
    struct Noting {
        m: Table,
        finished: Vec<(Hypothesis, u32)>,
    }
    impl LanguageModel for Noting {
        fn prefill(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
            self.m.prefill(prompt)
        }
        fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
            self.m.select_rows(rows)
        }
        fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
            self.m.step(tokens)
        }
        fn finished(&mut self, row: usize, h: &Hypothesis) -> Result<()> {
            self.finished.push((h.clone(), self.m.rows[row]));
            Ok(())
        }
    }
    impl LanguageModel for Table {
        fn prefill(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
            self.rows = vec![*prompt.last().unwrap_or(&0)];
            Ok(self.table[self.rows[0] as usize].clone())
        }
        fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
            self.rows = rows.iter().map(|&r| self.rows[r]).collect();
            Ok(())
        }
        fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
            self.rows = tokens.to_vec();
            Ok(tokens
                .iter()
                .map(|&t| self.table[t as usize].clone())
                .collect())
        }
    }

    fn vocab() -> Chars {
        Chars(vec![
            b"</s>".to_vec(),
            b"a".to_vec(),
            b"b".to_vec(),
            b"\n".to_vec(),
            b"\n  ".to_vec(),
        ])
    }

    fn config(beams: usize, mode: LineMode) -> GenerationConfig {
        GenerationConfig {
            num_beams: beams,
            max_new_tokens: 10,
            mode,
            ..GenerationConfig::default()
        }
    }

    #[test]
    fn single_line_stops_at_the_first_newline_after_text() {
        assert_eq!(
            completion_text(b"\n  x = 1\n  y", b"\n", LineMode::Single, None),
            ("  x = 1".into(), true)
        );
        assert_eq!(
            completion_text(b"\n\n  x", b"", LineMode::Single, None),
            ("  x".into(), false)
        );
        assert_eq!(
            completion_text(b"x\r\ny", b"", LineMode::Single, None),
            ("x".into(), true)
        );
        assert_eq!(
            completion_text(b"x\ny", b"", LineMode::Multi, None),
            ("x\ny".into(), false)
        );
    }

    #[test]
    fn greedy_follows_the_most_likely_token_and_stops_at_newline() {
        // After any token: "a" likely, then "\n" (from "a"), i.e. "a\n" ends the line.
        let t = vec![
            vec![0.0, 5.0, 0.0, 0.0, 0.0], // after stop/start
            vec![0.0, 0.0, 1.0, 6.0, 0.0], // after a: newline
            vec![0.0, 0.0, 0.0, 0.0, 0.0],
            vec![0.0, 5.0, 0.0, 0.0, 0.0],
            vec![0.0, 5.0, 0.0, 0.0, 0.0],
        ];
        let mut m = Table {
            rows: vec![],
            table: t,
        };
        let v = vocab();
        let mut s =
            BeamSearch::start(&mut m, &[0], Vec::new(), config(1, LineMode::Single)).unwrap();
        while !s.step(&mut m, &v).unwrap() {}
        assert_eq!(s.results()[0].text, "a");
    }

    #[test]
    fn healing_forces_the_first_token_to_start_with_the_removed_text() {
        let t = vec![
            vec![0.0, 9.0, 0.0, 0.0, 1.0], // "a" is best, but healing needs "\n…"
            vec![0.0, 0.0, 0.0, 6.0, 0.0],
            vec![0.0; 5],
            vec![0.0, 5.0, 0.0, 0.0, 0.0],
            vec![0.0, 5.0, 0.0, 0.0, 0.0], // after "\n  ": "a"
        ];
        let mut m = Table {
            rows: vec![],
            table: t,
        };
        let v = vocab();
        let mut s =
            BeamSearch::start(&mut m, &[0], b"\n".to_vec(), config(1, LineMode::Single)).unwrap();
        while !s.step(&mut m, &v).unwrap() {}
        assert_eq!(s.results()[0].text, "  a");
    }

    #[test]
    fn beams_keep_k_hypotheses_and_rank_by_length_normalised_score() {
        let t = vec![
            vec![0.0, 2.0, 1.9, 0.0, 0.0],
            vec![3.0, 0.0, 0.0, 0.0, 0.0], // after a: stop
            vec![0.0, 0.0, 0.0, 4.0, 0.0], // after b: newline
            vec![0.0; 5],
            vec![0.0; 5],
        ];
        let mut m = Noting {
            m: Table {
                rows: vec![],
                table: t,
            },
            finished: Vec::new(),
        };
        let v = vocab();
        let mut s =
            BeamSearch::start(&mut m, &[0], Vec::new(), config(3, LineMode::Single)).unwrap();
        while !s.step(&mut m, &v).unwrap() {}
        let r = s.results();
        assert_eq!(r.len(), 3);
        for h in r {
            // The tokens' own log-probabilities, summed from the first, give the hypothesis's.
            let sum = h.token_logprobs.iter().fold(0.0, |a, b| a + b);
            assert_eq!(sum.to_bits(), h.logprob.to_bits(), "{h:?}");
            assert!(h.token_logprobs.len() >= h.tokens.len(), "{h:?}");
        }
        // The model is told of each end, with the row that holds the hypothesis but its last token
        // (all of it, after a stop token): here, the row's last token.
        assert!(!m.finished.is_empty());
        for (h, row_last) in &m.finished {
            let stopped = h.token_logprobs.len() > h.tokens.len();
            let held = if stopped {
                h.tokens.len()
            } else {
                h.tokens.len() - 1
            };
            let expect = if held == 0 { 0 } else { h.tokens[held - 1] };
            assert_eq!(*row_last, expect, "{h:?}");
        }
        for w in r.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
        let texts: Vec<&str> = r.iter().map(|h| h.text.as_str()).collect();
        assert!(texts.contains(&"a") && texts.contains(&"b"), "{texts:?}");
    }

    #[test]
    fn multi_line_ends_where_the_suffix_starts_repeating() {
        assert_eq!(
            completion_text(
                b"  x = 1\n  return x\n  y",
                b"",
                LineMode::Multi,
                Some("return x")
            ),
            ("  x = 1\n".into(), true)
        );
        // A partial line is not judged yet.
        assert_eq!(
            completion_text(
                b"  x = 1\n  return x",
                b"",
                LineMode::Multi,
                Some("return x")
            ),
            ("  x = 1\n  return x".into(), false)
        );
    }

    #[test]
    fn line_constraint_judges_blank_comment_and_indentation() {
        let c = LineConstraint {
            not_blank: true,
            not_comment: true,
            min_indent: 4,
            indents: Some(vec![4, 8]),
        };
        assert_eq!(c.judge(b"    ", false), Verdict::Pending);
        assert_eq!(c.judge(b"    ", true), Verdict::Reject);
        assert_eq!(c.judge(b"    \n", false), Verdict::Reject);
        assert_eq!(c.judge(b"    # note", false), Verdict::Reject);
        assert_eq!(c.judge(b"  x", false), Verdict::Reject);
        assert_eq!(c.judge(b"            x", false), Verdict::Reject);
        assert_eq!(c.judge(b"        x", false), Verdict::Settled);
        assert_eq!(c.judge(b"      x", false), Verdict::Reject);
        assert_eq!(c.judge(b"    x\n\n", false), Verdict::Settled);
    }

    #[test]
    fn the_constraint_turns_a_blank_line_into_code() {
        // Unconstrained, the best path is "\n" then a blank line ("\n" again): an empty completion.
        let t = vec![
            vec![0.0, 0.0, 0.0, 0.0, 0.0],
            vec![0.0, 0.0, 0.0, 6.0, 0.0], // after a: newline
            vec![0.0; 5],
            vec![0.0, 1.0, 0.0, 5.0, 0.0], // after "\n": another newline beats "a"
            vec![0.0, 5.0, 0.0, 0.0, 0.0],
        ];
        let v = vocab();
        let run = |constraint: LineConstraint| {
            let mut m = Table {
                rows: vec![],
                table: t.clone(),
            };
            let cfg = GenerationConfig {
                constraint,
                ..config(1, LineMode::Single)
            };
            let mut s = BeamSearch::start(&mut m, &[3], Vec::new(), cfg).unwrap();
            while !s.step(&mut m, &v).unwrap() {}
            s.results()[0].text.clone()
        };
        let free = run(LineConstraint::default());
        let held = run(LineConstraint {
            not_blank: true,
            ..LineConstraint::default()
        });
        assert_eq!(held, "a");
        assert_ne!(free, held);
    }

    #[test]
    fn sampling_is_reproducible_from_its_seed_and_respects_top_k() {
        let t = vec![
            vec![0.0, 1.0, 1.0, 0.5, 0.5],
            vec![0.5, 1.0, 1.0, 0.5, 0.5],
            vec![0.5, 1.0, 1.0, 0.5, 0.5],
            vec![0.5, 1.0, 1.0, 0.5, 0.5],
            vec![0.5, 1.0, 1.0, 0.5, 0.5],
        ];
        let v = vocab();
        let run = |seed: u64, top_k: usize| {
            let mut m = Table {
                rows: vec![],
                table: t.clone(),
            };
            let cfg = GenerationConfig {
                sampling: Some(Sampling {
                    temperature: 1.0,
                    top_k,
                    top_p: 1.0,
                    seed,
                }),
                mode: LineMode::Multi,
                ..config(3, LineMode::Multi)
            };
            let mut s = BeamSearch::start(&mut m, &[1], Vec::new(), cfg).unwrap();
            while !s.step(&mut m, &v).unwrap() {}
            s.results()
                .iter()
                .map(|h| h.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7, 0), run(7, 0));
        let seeds: Vec<Vec<String>> = (0..8).map(|s| run(s, 0)).collect();
        assert!(seeds.windows(2).any(|w| w[0] != w[1]), "{seeds:?}");
        // top_k = 2 keeps only "a" and "b": no newline, no stop, so every sample runs to the limit.
        for texts in (0..8).map(|s| run(s, 2)) {
            assert_eq!(texts.len(), 3);
            assert!(
                texts
                    .iter()
                    .all(|x| x.len() == 10 && x.chars().all(|c| c == 'a' || c == 'b')),
                "{texts:?}"
            );
        }
    }
}
