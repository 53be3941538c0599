//! Step-wise decoding: greedy and beam search with the semantics of Hugging Face transformers'
//! `generate(num_beams=K, do_sample=False)`, plus Infill's stop rules.
//!
//! The search never sees a model: it asks a [`LanguageModel`] for the next-token logits of every live
//! beam. One call to [`BeamSearch::step`] is one decoding step, so callers can stream, yield to an event
//! loop or cancel between steps.
//!
//! **Stop rules.** A beam ends at a stop token (end of text), at `max_new_tokens`, or, in single-line
//! mode, at the first newline that follows a non-blank line; newlines before any text are skipped, as
//! the HumanEval-FIM harness does. The finished text is cut at that newline.

use serde::{Deserialize, Serialize};

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
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self::from_settings(&Settings::default()).unwrap_or(Self {
            num_beams: 5,
            max_new_tokens: 48,
            mode: LineMode::Single,
            length_penalty: 1.0,
            heal: true,
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
        Ok(Self {
            num_beams: s.beams,
            max_new_tokens: s.max_new_tokens,
            mode,
            length_penalty: 1.0,
            heal: true,
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
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let lse = max + sum.ln();
    logits.iter().map(|&l| l as f64 - lse).collect()
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
fn completion_text(bytes: &[u8], healed: &[u8], mode: LineMode) -> (String, bool) {
    let body = bytes.strip_prefix(healed).unwrap_or(bytes);
    match mode {
        LineMode::Multi => (String::from_utf8_lossy(body).into_owned(), false),
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
        Ok(Self {
            config,
            healed,
            live: vec![Hypothesis {
                tokens: Vec::new(),
                logprob: 0.0,
                score: 0.0,
                text: String::new(),
            }],
            finished: Vec::new(),
            logits: vec![logits],
            steps: 0,
            done: false,
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
            })
            .collect();
        out.extend(self.live.iter().map(|h| BeamView {
            text: h.text.clone(),
            score: h.logprob,
            finished: false,
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

    /// Takes one decoding step. Returns true when the search is done.
    pub fn step(&mut self, model: &mut impl LanguageModel, text: &impl TokenText) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let k = self.config.num_beams;
        // Candidates: (score, row, token), the best 2k over all rows, as transformers takes them.
        let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(2 * k * self.live.len());
        for (row, (h, logits)) in self.live.iter().zip(&self.logits).enumerate() {
            let lp = log_softmax(logits);
            let need = self.pending_heal(h, text);
            let allowed = |t: u32| match &need {
                None => true,
                Some(need) => {
                    let b = text.bytes(t);
                    let n = need.len().min(b.len());
                    !b.is_empty() && !text.is_stop(t) && b[..n] == need[..n]
                }
            };
            let mut row_best: Vec<(f64, usize, u32)> = lp
                .iter()
                .enumerate()
                .filter(|&(t, l)| l.is_finite() && allowed(t as u32))
                .map(|(t, &l)| (h.logprob + l, row, t as u32))
                .collect();
            let take = (2 * k).min(row_best.len());
            if take == 0 {
                continue;
            }
            row_best.select_nth_unstable_by(take - 1, |a, b| b.0.total_cmp(&a.0));
            row_best.truncate(take);
            candidates.extend(row_best);
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        candidates.truncate(2 * k);

        let mut next: Vec<Hypothesis> = Vec::with_capacity(k);
        let mut parents = Vec::with_capacity(k);
        let mut next_tokens = Vec::with_capacity(k);
        for (rank, &(score, row, tok)) in candidates.iter().enumerate() {
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
            let (line, line_ended) = completion_text(&bytes, &self.healed, self.config.mode);
            if stop || line_ended {
                // transformers ignores an end chosen below the top k.
                if rank >= k {
                    continue;
                }
                let len = parent.tokens.len() + 1;
                self.finished.push(Hypothesis {
                    tokens,
                    logprob: score,
                    score: self.length_score(score, len),
                    text: line,
                });
            } else {
                next.push(Hypothesis {
                    tokens,
                    logprob: score,
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
        self.finished.truncate(k);

        // transformers' default (early_stopping=False): stop once no live beam can beat the worst kept.
        let saturated = self.finished.len() >= k
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
            length_penalty: 1.0,
            heal: true,
        }
    }

    #[test]
    fn single_line_stops_at_the_first_newline_after_text() {
        assert_eq!(
            completion_text(b"\n  x = 1\n  y", b"\n", LineMode::Single),
            ("  x = 1".into(), true)
        );
        assert_eq!(
            completion_text(b"\n\n  x", b"", LineMode::Single),
            ("  x".into(), false)
        );
        assert_eq!(
            completion_text(b"x\r\ny", b"", LineMode::Single),
            ("x".into(), true)
        );
        assert_eq!(
            completion_text(b"x\ny", b"", LineMode::Multi),
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
        let mut m = Table {
            rows: vec![],
            table: t,
        };
        let v = vocab();
        let mut s =
            BeamSearch::start(&mut m, &[0], Vec::new(), config(3, LineMode::Single)).unwrap();
        while !s.step(&mut m, &v).unwrap() {}
        let r = s.results();
        assert_eq!(r.len(), 3);
        for w in r.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
        let texts: Vec<&str> = r.iter().map(|h| h.text.as_str()).collect();
        assert!(texts.contains(&"a") && texts.contains(&"b"), "{texts:?}");
    }
}
