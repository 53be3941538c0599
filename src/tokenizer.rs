//! Tokenizers built from a GGUF file's own vocabulary, merges and pre-tokenizer name, or from a
//! `tokenizer.json` (safetensors models).
//!
//! SmolLM2's original tokenizer (llama.cpp calls its pre-tokenizer `smollm`) splits every digit on its
//! own before byte-level BPE. candle's and transformers' GGUF conversions drop that step, so `"    1"`
//! tokenizes wrongly there; this module follows the original.

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{InfillError, Result};

/// GGUF `token_type` of an ordinary token; every other type is special (control, user-defined, …).
const TOKEN_TYPE_NORMAL: i32 = 1;

/// Qwen2's pre-tokenizer regex (llama.cpp `qwen2`), applied before byte-level BPE.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer plus what generation needs to know about its tokens.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// The raw bytes each token id stands for (special tokens: their text).
    token_bytes: Vec<Vec<u8>>,
    /// Ids that end generation (end of text and the family's stop tokens).
    stop_ids: Vec<u32>,
    /// Ids of special tokens, by their text.
    special: HashMap<String, u32>,
}

fn tok_err(e: impl std::fmt::Display) -> InfillError {
    InfillError::Tokenizer(e.to_string())
}

/// GPT-2's map from a byte to the printable character byte-level BPE writes for it, inverted.
fn byte_level_decode_map() -> HashMap<char, u8> {
    let mut bytes: Vec<u8> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = bytes.iter().map(|&b| b as u32).collect();
    let mut n = 0;
    for b in 0..=255u8 {
        if !bytes.contains(&b) {
            bytes.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    bytes
        .into_iter()
        .zip(chars)
        .filter_map(|(b, c)| char::from_u32(c).map(|c| (c, b)))
        .collect()
}

/// The ids that end generation: the model's end of sequence, then the family's stop tokens the
/// vocabulary has.
fn stop_ids(eos: Option<u32>, special: &HashMap<String, u32>) -> Vec<u32> {
    let mut ids: Vec<u32> = eos.into_iter().collect();
    for name in [
        "<|endoftext|>",
        "<|im_end|>",
        "<|file_sep|>",
        "<|fim_pad|>",
        "<file_sep>",
    ] {
        if let Some(&id) = special.get(name) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// How a `tokenizer.json` vocabulary spells bytes.
#[derive(Clone, Copy, PartialEq)]
enum Spelling {
    /// GPT-2 byte-level BPE: every byte is one printable character.
    ByteLevel,
    /// SentencePiece-style: `▁` for a space, `<0xNN>` for a byte without a token of its own.
    SentencePiece,
}

/// The bytes a vocabulary entry stands for.
fn spelled_bytes(token: &str, spelling: Spelling, map: &HashMap<char, u8>) -> Vec<u8> {
    match spelling {
        Spelling::ByteLevel => {
            let mut out = Vec::with_capacity(token.len());
            for c in token.chars() {
                match map.get(&c) {
                    Some(&b) => out.push(b),
                    None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            out
        }
        Spelling::SentencePiece => {
            let hex = token
                .strip_prefix("<0x")
                .and_then(|t| t.strip_suffix('>'))
                .filter(|h| h.len() == 2);
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => vec![b],
                None => token.replace('\u{2581}', " ").into_bytes(),
            }
        }
    }
}

impl TextTokenizer {
    /// Builds the tokenizer of a `tokenizer.json` (the Hugging Face tokenizers format), as shipped with
    /// safetensors models. `eos` is the model's end-of-text id (from `config.json`) when it has one;
    /// `vocab_size` is the model's, which may exceed the tokenizer's (ids past it stand for no text).
    /// Byte-level BPE and SentencePiece-style (`▁`, byte fallback) vocabularies are supported.
    pub fn from_tokenizer_json(bytes: &[u8], eos: Option<u32>, vocab_size: usize) -> Result<Self> {
        let spec: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| tok_err(format!("tokenizer.json is not JSON: {e}")))?;
        let decoder = spec
            .get("decoder")
            .map(|d| d.to_string())
            .unwrap_or_default();
        let spelling = if decoder.contains("\"ByteLevel\"") {
            Spelling::ByteLevel
        } else if decoder.contains("ByteFallback") || decoder.contains("Metaspace") {
            Spelling::SentencePiece
        } else {
            return Err(tok_err(
                "tokenizer.json has neither a byte-level nor a SentencePiece-style decoder",
            ));
        };
        let inner = Tokenizer::from_bytes(bytes).map_err(tok_err)?;
        let added = inner.get_added_tokens_decoder();
        let special: HashMap<String, u32> = added
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(&id, t)| (t.content.clone(), id))
            .collect();
        let map = byte_level_decode_map();
        let n = inner.get_vocab_size(true).max(vocab_size);
        let token_bytes = (0..n as u32)
            .map(|id| match (added.get(&id), inner.id_to_token(id)) {
                (Some(t), _) => t.content.as_bytes().to_vec(),
                (None, Some(t)) => spelled_bytes(&t, spelling, &map),
                (None, None) => Vec::new(),
            })
            .collect();
        let stop_ids = stop_ids(eos, &special);
        Ok(Self {
            inner,
            token_bytes,
            stop_ids,
            special,
        })
    }

    /// Builds the tokenizer described by a GGUF file's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let md = |key: &str| {
            content
                .metadata
                .get(key)
                .ok_or_else(|| tok_err(format!("the model file has no `{key}`")))
        };
        let model = md("tokenizer.ggml.model")?.to_string().map_err(tok_err)?;
        if model != "gpt2" {
            return Err(tok_err(format!(
                "tokenizer type `{model}` is not supported (only byte-level BPE, `gpt2`)"
            )));
        }
        let pre = content
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "default".to_string());
        let tokens: Vec<String> = md("tokenizer.ggml.tokens")?
            .to_vec()
            .map_err(tok_err)?
            .iter()
            .map(|v| v.to_string().cloned().map_err(tok_err))
            .collect::<Result<_>>()?;
        let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(tok_err)?
                .iter()
                .map(|t| t.to_i32().map_err(tok_err))
                .collect::<Result<_>>()?,
            None => vec![TOKEN_TYPE_NORMAL; tokens.len()],
        };
        let merges: Vec<(String, String)> = md("tokenizer.ggml.merges")?
            .to_vec()
            .map_err(tok_err)?
            .iter()
            .map(|v| {
                let s = v.to_string().map_err(tok_err)?;
                s.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| tok_err(format!("malformed merge `{s}`")))
            })
            .collect::<Result<_>>()?;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tok_err)?;
        let mut inner = Tokenizer::new(bpe);
        let byte_level = ByteLevel::new(false, true, true);
        let pre_tokenizer: PreTokenizerWrapper = match pre.as_str() {
            "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
            "qwen2" => Sequence::new(vec![
                Split::new(
                    SplitPattern::Regex(QWEN2_PATTERN.to_string()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(tok_err)?
                .into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into(),
            _ => byte_level.into(),
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let mut special = HashMap::new();
        let mut added = Vec::new();
        for (id, (text, &ty)) in tokens.iter().zip(types.iter()).enumerate() {
            if ty != TOKEN_TYPE_NORMAL {
                special.insert(text.clone(), id as u32);
                added.push(AddedToken::from(text.clone(), true));
            }
        }
        inner.add_special_tokens(added).map_err(tok_err)?;

        let map = byte_level_decode_map();
        let token_bytes = tokens
            .iter()
            .zip(types.iter())
            .map(|(t, &ty)| {
                if ty != TOKEN_TYPE_NORMAL {
                    t.as_bytes().to_vec()
                } else {
                    t.chars()
                        .map(|c| map.get(&c).copied().unwrap_or(b'?'))
                        .collect()
                }
            })
            .collect();

        let eos = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok());
        let stop_ids = stop_ids(eos, &special);
        Ok(Self {
            inner,
            token_bytes,
            stop_ids,
            special,
        })
    }

    /// Encodes text (special tokens written in it are recognised) without adding BOS/EOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids to text, keeping special tokens visible. Invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// The raw bytes a sequence of ids stands for.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(b) = self.token_bytes.get(id as usize) {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// The raw bytes of one token.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Ids that end generation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The id of a special token, if the vocabulary has it.
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.special.get(text).copied()
    }

    /// True when `id` is a special (non-text) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.token_bytes
            .get(id as usize)
            .is_some_and(|b| self.special.get(&*String::from_utf8_lossy(b)) == Some(&id))
    }
}
