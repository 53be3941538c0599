//! GPT-BigCode (the StarCoder family: `bigcode/tiny_starcoder_py`, `bigcode/starcoderbase-1b`, SantaCoder's
//! successors) over safetensors weights, with the same external [`KvCache`] as the GGUF models.
//!
//! Follows transformers' `GPTBigCodeForCausalLM`: learned position embeddings, pre-LayerNorm blocks, one
//! fused `c_attn` projection, multi-query attention (one key/value head shared by every query head) or
//! multi-head attention, a GELU MLP and an output head tied to the token embeddings. float32, float16
//! and bfloat16 weights are all computed in float32 (CPUs and wasm have no fast half-precision path).
//! Adapted from candle-transformers' `bigcode`, with the cache moved out of the weights so beam search
//! can reorder it.

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use crate::error::{InfillError, Result};
use crate::model::KvCache;

fn model_err(e: impl std::fmt::Display) -> InfillError {
    InfillError::Model(e.to_string())
}

/// The fields of a GPT-BigCode `config.json` the model needs (transformers' names and their aliases).
#[derive(Debug, Clone, Deserialize)]
pub struct BigCodeConfig {
    /// `model_type`; must be `gpt_bigcode` when present.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Vocabulary size (rows of the token embedding).
    pub vocab_size: usize,
    /// Longest sequence the position embeddings cover.
    #[serde(alias = "max_position_embeddings")]
    pub n_positions: usize,
    /// Hidden size.
    #[serde(alias = "hidden_size")]
    pub n_embd: usize,
    /// Number of blocks.
    #[serde(alias = "num_hidden_layers")]
    pub n_layer: usize,
    /// Number of query heads.
    #[serde(alias = "num_attention_heads")]
    pub n_head: usize,
    /// Width of the MLP (default four times the hidden size).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// One key/value head shared by all query heads.
    #[serde(default = "default_true")]
    pub multi_query: bool,
    /// Divide attention scores by the square root of the head size.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// The MLP's activation (`gelu_pytorch_tanh`, `gelu_new`, `gelu_fast` or `gelu`).
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// End-of-text token.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Output head shares the token embedding.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}
fn default_activation() -> String {
    "gelu_pytorch_tanh".into()
}

impl BigCodeConfig {
    /// Parses and checks a `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let c: Self = serde_json::from_slice(bytes)
            .map_err(|e| model_err(format!("config.json is not a GPT-BigCode config: {e}")))?;
        if let Some(t) = &c.model_type {
            if t != "gpt_bigcode" {
                return Err(model_err(format!(
                    "config.json describes a `{t}` model; only `gpt_bigcode` is supported with safetensors"
                )));
            }
        }
        if c.n_head == 0
            || !c.n_embd.is_multiple_of(c.n_head)
            || c.n_layer == 0
            || c.vocab_size == 0
        {
            return Err(model_err("config.json has inconsistent sizes"));
        }
        // Far above any real GPT-BigCode model; larger values could only overflow the size arithmetic or
        // ask for impossible allocations before the weights are even checked.
        const LIMIT: usize = 1 << 24;
        let sizes = [
            ("vocab_size", c.vocab_size),
            ("n_positions", c.n_positions),
            ("n_embd", c.n_embd),
            ("n_layer", c.n_layer),
            ("n_head", c.n_head),
            ("n_inner", c.n_inner.unwrap_or(0)),
        ];
        if let Some((key, value)) = sizes.iter().find(|(_, v)| *v > LIMIT) {
            return Err(model_err(format!(
                "config.json has `{key}` = {value}, more than any model this page can run"
            )));
        }
        if !matches!(
            c.activation_function.as_str(),
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" | "gelu"
        ) {
            return Err(model_err(format!(
                "activation `{}` is not supported",
                c.activation_function
            )));
        }
        Ok(c)
    }

    fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    fn kv_heads(&self) -> usize {
        if self.multi_query {
            1
        } else {
            self.n_head
        }
    }
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// The weights of a GPT-BigCode model. Immutable while generating; the state is a [`KvCache`].
pub struct BigCode {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Tensor,
    /// Hyper-parameters.
    pub config: BigCodeConfig,
    device: Device,
}

fn linear(vb: &VarBuilder, name: &str, out: usize, inp: usize) -> Result<Linear> {
    let w = vb
        .get((out, inp), &format!("{name}.weight"))
        .map_err(|e| model_err(format!("tensor `{name}.weight`: {e}")))?;
    let b = vb
        .get(out, &format!("{name}.bias"))
        .map_err(|e| model_err(format!("tensor `{name}.bias`: {e}")))?;
    Ok(Linear::new(w, Some(b)))
}

fn layer_norm(vb: &VarBuilder, name: &str, size: usize, eps: f64) -> Result<LayerNorm> {
    let w = vb
        .get(size, &format!("{name}.weight"))
        .map_err(|e| model_err(format!("tensor `{name}.weight`: {e}")))?;
    let b = vb
        .get(size, &format!("{name}.bias"))
        .map_err(|e| model_err(format!("tensor `{name}.bias`: {e}")))?;
    Ok(LayerNorm::new(w, b, eps))
}

impl BigCode {
    /// Loads the weights from a safetensors file's bytes (float32, float16 or bfloat16; computed in
    /// float32). Tensor names are transformers' (`transformer.h.0.attn.c_attn.weight`, …).
    pub fn from_safetensors(bytes: &[u8], config: BigCodeConfig) -> Result<Self> {
        let device = Device::Cpu;
        let vb = VarBuilder::from_slice_safetensors(bytes, DType::F32, &device)
            .map_err(|e| model_err(format!("the weights are not a safetensors file: {e}")))?;
        let c = &config;
        let t = vb.pp("transformer");
        let get = |vb: &VarBuilder, shape: (usize, usize), name: &str| -> Result<Tensor> {
            vb.get(shape, name)
                .map_err(|e| model_err(format!("tensor `{name}`: {e}")))
        };
        let wte = get(&t, (c.vocab_size, c.n_embd), "wte.weight")?;
        let wpe = get(&t, (c.n_positions, c.n_embd), "wpe.weight")?;
        let lm_head = if vb.contains_tensor("lm_head.weight") || !c.tie_word_embeddings {
            get(&vb, (c.vocab_size, c.n_embd), "lm_head.weight")?
        } else {
            wte.clone()
        };
        let inner = c.n_inner.unwrap_or(4 * c.n_embd);
        let kv_dim = c.kv_heads() * c.head_dim();
        let mut blocks = Vec::new(); // grows per block found: `n_layer` is not trusted
        for i in 0..c.n_layer {
            let h = t.pp(format!("h.{i}"));
            blocks.push(Block {
                ln_1: layer_norm(&h, "ln_1", c.n_embd, c.layer_norm_epsilon)?,
                c_attn: linear(&h, "attn.c_attn", c.n_embd + 2 * kv_dim, c.n_embd)?,
                attn_proj: linear(&h, "attn.c_proj", c.n_embd, c.n_embd)?,
                ln_2: layer_norm(&h, "ln_2", c.n_embd, c.layer_norm_epsilon)?,
                c_fc: linear(&h, "mlp.c_fc", inner, c.n_embd)?,
                mlp_proj: linear(&h, "mlp.c_proj", c.n_embd, inner)?,
            });
        }
        let ln_f = layer_norm(&t, "ln_f", c.n_embd, c.layer_norm_epsilon)?;
        Ok(Self {
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
            config,
            device,
        })
    }

    /// A fresh, empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::with_layers(self.blocks.len())
    }

    /// Runs `tokens` (rows × positions) after what `cache` holds and returns the hidden states after
    /// the final LayerNorm, shape rows × positions × hidden.
    pub fn hidden(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Tensor> {
        let rows = tokens.len();
        let seq = tokens.first().map_or(0, Vec::len);
        if rows == 0 || seq == 0 || tokens.iter().any(|t| t.len() != seq) {
            return Err(InfillError::Input("empty or ragged token batch".into()));
        }
        let pos = cache.len();
        if pos + seq > self.config.n_positions {
            return Err(InfillError::Input(format!(
                "the prompt and completion need {} tokens, more than the model's context of {}",
                pos + seq,
                self.config.n_positions
            )));
        }
        let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
        if let Some(&bad) = flat.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(InfillError::Input(format!(
                "token id {bad} is outside the model's vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let ids = Tensor::from_vec(flat, (rows * seq,), &self.device)?;
        let x = self.wte.index_select(&ids, 0)?.reshape((rows, seq, ()))?;
        let positions = Tensor::arange(pos as u32, (pos + seq) as u32, &self.device)?;
        let x = x.broadcast_add(&self.wpe.index_select(&positions, 0)?)?;
        let mask = if seq > 1 {
            Some(candle_transformers::utils::build_causal_mask(
                seq,
                pos,
                &self.device,
            )?)
        } else {
            None
        };
        let mut x = x;
        for (block, slot) in self.blocks.iter().zip(cache.slots_mut()) {
            let h = block.ln_1.forward(&x)?;
            let h = self.attention(block, &h, mask.as_ref(), slot)?;
            let x1 = (h + &x)?;
            let h = block.ln_2.forward(&x1)?;
            let h = block.c_fc.forward(&h)?;
            let h = if self.config.activation_function == "gelu" {
                h.gelu_erf()?
            } else {
                h.gelu()?
            };
            x = (block.mlp_proj.forward(&h)? + x1)?;
        }
        cache.advance(seq);
        Ok(self.ln_f.forward(&x)?)
    }

    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        mask: Option<&Tensor>,
        slot: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, seq, hidden) = x.dims3()?;
        let (hd, kvh) = (c.head_dim(), c.kv_heads());
        let qkv = block.c_attn.forward(x)?;
        let (q, k, v) = if c.multi_query {
            let q = qkv.narrow(2, 0, hidden)?;
            let k = qkv.narrow(2, hidden, hd)?;
            let v = qkv.narrow(2, hidden + hd, hd)?;
            (
                q.reshape((b, seq, c.n_head, hd))?,
                k.reshape((b, seq, 1, hd))?,
                v.reshape((b, seq, 1, hd))?,
            )
        } else {
            // Multi-head: each head's query, key and value sit side by side.
            let qkv = qkv.reshape((b, seq, c.n_head, 3 * hd))?;
            (
                qkv.narrow(3, 0, hd)?,
                qkv.narrow(3, hd, hd)?,
                qkv.narrow(3, 2 * hd, hd)?,
            )
        };
        let q = q.transpose(1, 2)?.contiguous()?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (k, v) = match slot.take() {
            None => (k, v),
            Some((kc, vc)) => {
                // A cache made for one row (the prompt) is shared by every beam.
                let (kc, vc) = if kc.dim(0)? != b {
                    (
                        kc.broadcast_as((b, kc.dim(1)?, kc.dim(2)?, kc.dim(3)?))?,
                        vc.broadcast_as((b, vc.dim(1)?, vc.dim(2)?, vc.dim(3)?))?,
                    )
                } else {
                    (kc, vc)
                };
                (Tensor::cat(&[&kc, &k], 2)?, Tensor::cat(&[&vc, &v], 2)?)
            }
        };
        *slot = Some((k.clone(), v.clone()));
        let k = candle_transformers::utils::repeat_kv(k, c.n_head / kvh)?;
        let v = candle_transformers::utils::repeat_kv(v, c.n_head / kvh)?;
        let scale = if c.scale_attn_weights {
            (hd as f64).sqrt()
        } else {
            1.0
        };
        let att = (q.matmul(&k.t()?)? / scale)?;
        let att = match mask {
            None => att,
            Some(mask) => {
                let mask = mask.broadcast_as(att.shape())?;
                let neg_inf =
                    Tensor::new(f32::NEG_INFINITY, att.device())?.broadcast_as(att.shape())?;
                mask.where_cond(&neg_inf, &att)?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v.contiguous()?)?;
        let y = y.transpose(1, 2)?.reshape((b, seq, hidden))?;
        Ok(block.attn_proj.forward(&y)?)
    }

    /// Logits of every position of `hidden` (positions × hidden → positions × vocab).
    fn project(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(hidden.matmul(&self.lm_head.t()?)?)
    }

    /// Runs `tokens` and returns the next-token logits of each row's last position (rows × vocab).
    pub fn logits(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        let h = self.hidden(tokens, cache)?;
        let seq = h.dim(1)?;
        let last = h.i((.., seq - 1, ..))?.contiguous()?;
        Ok(self.project(&last)?.to_vec2::<f32>()?)
    }

    /// The log-probability of `tokens` following what a one-row `cache` holds, whose last cached token
    /// was `last` (the cache itself is not changed).
    pub fn continuation_logprob(&self, cache: &KvCache, last: u32, tokens: &[u32]) -> Result<f64> {
        if tokens.is_empty() {
            return Ok(0.0);
        }
        let mut c = cache.clone();
        c.truncate(c.len().saturating_sub(1))?;
        let mut input = vec![last];
        input.extend_from_slice(&tokens[..tokens.len() - 1]);
        let h = self.hidden(&[input], &mut c)?.squeeze(0)?.contiguous()?;
        let lp = candle_nn::ops::log_softmax(&self.project(&h)?, 1)?.to_vec2::<f32>()?;
        Ok(tokens
            .iter()
            .zip(&lp)
            .map(|(&t, row)| row.get(t as usize).copied().unwrap_or(f32::NEG_INFINITY) as f64)
            .sum())
    }

    /// Mean of the last hidden states (after the final LayerNorm) over the tokens of `ids`, run on
    /// their own.
    pub fn mean_hidden(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut cache = self.new_cache();
        let h = self.hidden(&[ids.to_vec()], &mut cache)?;
        Ok(h.mean(1)?.squeeze(0)?.to_vec1::<f32>()?)
    }
}
