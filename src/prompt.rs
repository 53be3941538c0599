//! Masking a line of code and turning the rest into a prompt.
//!
//! **The split.** Masking line `n` (1-based) of `code` gives three strings with
//! `prefix + middle + suffix == code`, byte for byte:
//! - `prefix`: every line before line `n`, each with its line terminator;
//! - `middle`: line `n` itself, indentation included, *without* its terminator;
//! - `suffix`: line `n`'s terminator (if any) followed by every later line.
//!
//! **Formats.** A model with FIM tokens gets `prefix` and `suffix` around its sentinel tokens (PSM order).
//! A model without them (SmolLM2) sees only `prefix`. Then the prompt ends in a newline, which is the
//! middle of a token: the model has almost always seen "newline + indentation" as one token. Token healing
//! removes the trailing newline from the prompt and makes the first generated token start with it.

use serde::{Deserialize, Serialize};

use crate::error::{InfillError, Result};
use crate::tokenizer::TextTokenizer;

/// A line hidden from a piece of code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedLine {
    /// Everything before the hidden line.
    pub prefix: String,
    /// The hidden line, without its line terminator.
    pub middle: String,
    /// The hidden line's terminator and everything after it.
    pub suffix: String,
}

/// Hides line `line` (1-based) of `code`. Fails on a line number past the end.
pub fn mask_line(code: &str, line: usize) -> Result<MaskedLine> {
    if line == 0 {
        return Err(InfillError::Input("line numbers start at 1".into()));
    }
    let mut start = 0;
    for _ in 1..line {
        match code[start..].find('\n') {
            Some(i) => start += i + 1,
            None => {
                return Err(InfillError::Input(format!(
                    "line {line} does not exist: the code has {} lines",
                    code.lines().count()
                )))
            }
        }
    }
    if start >= code.len() && line > 1 {
        return Err(InfillError::Input(format!(
            "line {line} does not exist: the code has {} lines",
            code.lines().count()
        )));
    }
    let rest = &code[start..];
    let mut end = start + rest.find('\n').unwrap_or(rest.len());
    if end > start && code.as_bytes()[end - 1] == b'\r' && end < code.len() {
        end -= 1;
    }
    Ok(MaskedLine {
        prefix: code[..start].to_string(),
        middle: code[start..end].to_string(),
        suffix: code[end..].to_string(),
    })
}

/// How the prompt is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FimFormat {
    /// No FIM tokens: the prompt is the prefix alone.
    None,
    /// StarCoder: `<fim_prefix>…<fim_suffix>…<fim_middle>`.
    StarCoder,
    /// SantaCoder: `<fim-prefix>…<fim-suffix>…<fim-middle>`.
    SantaCoder,
    /// Qwen2.5-Coder: `<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`.
    Qwen,
}

impl FimFormat {
    /// The sentinel tokens (prefix, suffix, middle) of this format.
    fn sentinels(self) -> Option<[&'static str; 3]> {
        match self {
            FimFormat::None => None,
            FimFormat::StarCoder => Some(["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]),
            FimFormat::SantaCoder => Some(["<fim-prefix>", "<fim-suffix>", "<fim-middle>"]),
            FimFormat::Qwen => Some(["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]),
        }
    }

    /// The format a tokenizer supports, from its special tokens.
    pub fn detect(tokenizer: &TextTokenizer) -> Self {
        [FimFormat::Qwen, FimFormat::StarCoder, FimFormat::SantaCoder]
            .into_iter()
            .find(|f| {
                f.sentinels()
                    .is_some_and(|s| s.iter().all(|t| tokenizer.special_id(t).is_some()))
            })
            .unwrap_or(FimFormat::None)
    }

    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            FimFormat::None => "none",
            FimFormat::StarCoder => "starcoder",
            FimFormat::SantaCoder => "santacoder",
            FimFormat::Qwen => "qwen",
        }
    }
}

/// A prompt ready for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt text, special tokens written out.
    pub text: String,
    /// The prompt's token ids.
    pub ids: Vec<u32>,
    /// Bytes removed from the end of the prompt by token healing; the completion must start with them,
    /// and they are not part of the completion shown to the user.
    pub healed: Vec<u8>,
}

/// Builds the prompt for a masked line.
pub fn build_prompt(
    tokenizer: &TextTokenizer,
    format: FimFormat,
    masked: &MaskedLine,
    heal: bool,
) -> Result<Prompt> {
    match format.sentinels() {
        Some([p, s, m]) => {
            let text = format!("{p}{}{s}{}{m}", masked.prefix, masked.suffix);
            let ids = tokenizer.encode(&text)?;
            Ok(Prompt {
                text,
                ids,
                healed: Vec::new(),
            })
        }
        None => {
            let mut text = masked.prefix.clone();
            let mut healed = Vec::new();
            if heal && text.ends_with('\n') {
                text.pop();
                healed.push(b'\n');
                if text.ends_with('\r') {
                    text.pop();
                    healed.insert(0, b'\r');
                }
            }
            let ids = tokenizer.encode(&text)?;
            Ok(Prompt { text, ids, healed })
        }
    }
}
