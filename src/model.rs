//! Llama-family transformer (SmolLM2, Qwen2) over quantized GGUF weights, with a key/value cache that
//! beam search can reorder.
//!
//! Adapted from candle-transformers' `quantized_llama`, with two changes: the cache lives outside the
//! weights ([`KvCache`]), so one set of weights serves many sequences, and its rows (one per beam) can be
//! selected and duplicated after each beam-search step without re-running the prompt.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::Embedding;
use std::sync::Arc;

use crate::error::{InfillError, Result};
use crate::kernels::{self, Q8Acts, Q8Matrix};

/// The longest sequence (prompt plus generation) the rotary tables are built for.
pub const MAX_SEQ_LEN: usize = 4096;

/// A weight matrix: Q8_0 through this crate's target-independent kernel ([`Q8Matrix`]), anything else
/// (other quantized types, or f32 after [`Llama::dequantize_matmuls`]) through candle.
enum Linear {
    /// Shared with the token embedding when the model ties them (SmolLM2 does).
    Q8(Arc<Q8Matrix>),
    Candle(QMatMul),
}

impl Linear {
    /// The matrix as stored, or re-encoded to Q8_0 (see [`LoadOptions::requantize_q8`]).
    fn new(t: QTensor, options: LoadOptions) -> Result<Self> {
        Ok(match q8_matrix(&t, options)? {
            Some(m) => Linear::Q8(Arc::new(m)),
            None => Linear::Candle(QMatMul::from_qtensor(t)?),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Q8(m) => m.forward(x),
            Linear::Candle(m) => Ok(m.forward(x)?),
        }
    }

    /// `x` (`b × seq` rows of this matrix's inputs, one after the other, as plain floats) times the
    /// matrix: the same rows of outputs. A candle matrix gets `x` as the `b × seq × inputs` tensor it
    /// always had, so its bits do not depend on this path.
    fn forward_vec(&self, x: &[f32], (b, seq): (usize, usize)) -> Result<Vec<f32>> {
        let cols = match self {
            Linear::Q8(m) => m.cols(),
            Linear::Candle(_) => x.len() / (b * seq).max(1),
        };
        if cols == 0 || x.len() != b * seq * cols {
            return Err(InfillError::Model(format!(
                "a product of {} values as {b} × {seq} rows of {cols}",
                x.len()
            )));
        }
        match self {
            Linear::Q8(m) => Ok(m.matmul(x)),
            Linear::Candle(m) => {
                let t = Tensor::from_vec(x.to_vec(), (b, seq, cols), &Device::Cpu)?;
                Ok(m.forward(&t)?.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }

    /// `x` times each of `ls`, as [`Self::forward_vec`]: the Q8_0 matrices quantize `x` once between
    /// them (a layer's query, key and value projections take the same input, as do the feed-forward
    /// gate and up projections).
    fn forward_each<const N: usize>(
        ls: [&Linear; N],
        x: &[f32],
        shape: (usize, usize),
    ) -> Result<[Vec<f32>; N]> {
        let n = shape.0 * shape.1;
        let cols = x.len() / n.max(1);
        let shared = cols > 0
            && x.len() == n * cols
            && ls
                .iter()
                .all(|l| matches!(l, Linear::Q8(m) if m.cols() == cols));
        let mut out = Vec::with_capacity(N);
        if shared {
            let acts = Q8Acts::quantize(x, cols);
            for l in ls {
                if let Linear::Q8(m) = l {
                    out.push(m.matmul_quantized(&acts));
                }
            }
        } else {
            for l in ls {
                out.push(l.forward_vec(x, shape)?);
            }
        }
        out.try_into()
            .map_err(|_| InfillError::Model("a product went missing".into()))
    }

    fn dequantize(&mut self) -> Result<()> {
        *self = Linear::Candle(QMatMul::Tensor(match self {
            Linear::Q8(m) => m.dequantize()?,
            Linear::Candle(QMatMul::QTensor(q)) => q.dequantize(&Device::Cpu)?,
            Linear::Candle(_) => return Ok(()),
        }));
        Ok(())
    }
}

struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    attn_norm: Norm,
    ffn_norm: Norm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// An RMS norm's weights. [`Norm::forward`] does what candle's `rms_norm` does, operation for operation,
/// on plain vectors.
struct Norm {
    weight: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// The weights as candle's `RmsNorm::from_qtensor` takes them (dequantized to f32), and the epsilon
    /// as it hands it to `rms_norm` (rounded to f32).
    fn from_qtensor(t: QTensor, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: t
                .dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?,
            eps: eps as f32,
        })
    }

    /// Each row of `x` (rows as long as the weights) divided by its root mean square, times the weights.
    fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = self.weight.len();
        if n == 0 || !x.len().is_multiple_of(n) {
            return Err(InfillError::Model(format!(
                "a norm of {n} weights applied to {} values",
                x.len()
            )));
        }
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(n) {
            let sum2 = row.iter().map(|&v| v * v).sum::<f32>();
            let m = (sum2 / n as f32 + self.eps).sqrt();
            out.extend(row.iter().zip(&self.weight).map(|(&v, &w)| v / m * w));
        }
        Ok(out)
    }
}

/// `x += bias`, the bias repeated over every row of `x` (candle's `broadcast_add`); rows are `width`
/// long, and so must the bias be.
fn add_bias(x: &mut [f32], bias: &Option<Vec<f32>>, width: usize) -> Result<()> {
    if let Some(bias) = bias {
        if bias.len() != width || !x.len().is_multiple_of(width) {
            return Err(InfillError::Model(format!(
                "a bias of {} values for rows of {width}",
                bias.len()
            )));
        }
        for row in x.chunks_exact_mut(width) {
            row.iter_mut().zip(bias).for_each(|(v, &b)| *v += b);
        }
    }
    Ok(())
}

/// `a + b`, element by element, as candle adds two tensors of one shape (an error for two shapes).
fn sum(a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
    if a.len() != b.len() {
        return Err(InfillError::Model(format!(
            "a sum of {} and {} values",
            a.len(),
            b.len()
        )));
    }
    Ok(a.iter().zip(b).map(|(&a, &b)| a + b).collect())
}

/// How weights are prepared when a model is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Re-encode matrices whose quantized type has no SIMD kernel in candle (Q4_1, Q5_0, Q5_1) to Q8_0,
    /// which has one (AVX natively, simd128 in wasm). Nearly lossless, and several times faster.
    pub requantize_q8: bool,
}

/// True for the quantized types candle 0.11 runs with scalar code only.
fn lacks_fast_kernel(dtype: GgmlDType) -> bool {
    matches!(
        dtype,
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_1
    )
}

/// `t` as a [`Q8Matrix`] when it is Q8_0, or when it is re-encoded to Q8_0 (its type lacks a fast kernel,
/// `options` ask for it and its rows are whole Q8_0 blocks); `None` otherwise.
fn q8_matrix(t: &QTensor, options: LoadOptions) -> Result<Option<Q8Matrix>> {
    if options.requantize_q8 && lacks_fast_kernel(t.dtype()) {
        if let Some(m) = Q8Matrix::requantize(t)? {
            return Ok(Some(m));
        }
    }
    Q8Matrix::from_qtensor(t)
}

/// The token embedding: rows of a Q8_0 matrix, dequantized when looked up (a third of the memory of an
/// f32 table, and shared with the output projection when the model ties them), or an f32 table for other
/// types.
enum TokenEmbedding {
    Q8(Arc<Q8Matrix>),
    Dense(Embedding),
}

impl TokenEmbedding {
    /// `ids` (rows × positions) → rows × positions × hidden, as plain floats.
    fn forward(&self, ids: &[u32], rows: usize, seq: usize) -> Result<Vec<f32>> {
        match self {
            TokenEmbedding::Dense(e) => {
                let ids = Tensor::from_vec(ids.to_vec(), (rows, seq), &Device::Cpu)?;
                Ok(e.forward(&ids)?.flatten_all()?.to_vec1::<f32>()?)
            }
            TokenEmbedding::Q8(m) => {
                let mut values = Vec::with_capacity(ids.len() * m.cols());
                for &id in ids {
                    if id as usize >= m.rows() {
                        return Err(InfillError::Input(format!(
                            "token {id} is outside the model's {} embeddings",
                            m.rows()
                        )));
                    }
                    m.dequantize_row(id as usize, &mut values);
                }
                Ok(values)
            }
        }
    }
}

/// Re-encodes `t` to Q8_0 when its type lacks a fast kernel and its rows are whole Q8_0 blocks.
pub fn to_fast_type(t: QTensor) -> Result<QTensor> {
    let row = t.shape().dims().last().copied().unwrap_or(0);
    if !lacks_fast_kernel(t.dtype()) || row % GgmlDType::Q8_0.block_size() != 0 {
        return Ok(t);
    }
    let dense = t.dequantize(&Device::Cpu)?;
    Ok(QTensor::quantize(&dense, GgmlDType::Q8_0)?)
}

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// `general.architecture` (`llama` or `qwen2`).
    pub architecture: String,
    /// Number of attention heads.
    pub n_head: usize,
    /// Number of key/value heads (grouped-query attention).
    pub n_kv_head: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Trained context length.
    pub context_length: usize,
    /// Rotary embedding in NeoX (half-split) layout rather than interleaved.
    pub rope_neox: bool,
}

/// The weights of a loaded model. Immutable while generating; see [`KvCache`] for the state.
pub struct Llama {
    embed: TokenEmbedding,
    layers: Vec<Layer>,
    norm: Norm,
    output: Linear,
    /// Rotary tables: positions × (rotary dimensions / 2), cosines and sines.
    cos: Vec<f32>,
    sin: Vec<f32>,
    rope_half: usize,
    /// Hyper-parameters.
    pub config: LlamaConfig,
    device: Device,
}

/// The first tokens of a sequence to score, scored already: each one's log-probability, and a one-row
/// cache that holds the prompt followed by every one of those tokens but the last (the state in which
/// the next token's distribution is one pass away). See [`Llama::continuation_logprobs`].
pub struct Known {
    /// log p of each token, in order.
    pub logprobs: Vec<f64>,
    /// The prompt and the tokens but the last.
    pub cache: KvCache,
}

/// Keys and values of every layer, one row per sequence (beam).
#[derive(Clone, Default)]
pub struct KvCache {
    /// Per block, keys and values as tensors (rows × heads × positions × head size); GPT-BigCode.
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// The llama models' store (see [`FlatKv`]).
    flat: Option<FlatKv>,
    len: usize,
}

/// One block's keys and values, position-major (position × key/value heads × head size).
type BlockKv = (Vec<f32>, Vec<f32>);

/// Attention reads keys and values this many positions at a time (64 positions of one key/value head
/// of SmolLM2 are 16 kB), so that they stay in the L1 cache while every query that needs them goes by.
const STRETCH: usize = 64;
/// Prompt positions whose attention is computed together, sharing each stretch of keys and values.
const QUERY_BLOCK: usize = 32;

/// The llama models' keys and values in plain vectors: the positions every row shares (the prompt) once,
/// behind an `Arc` so that clones of a cache share them, then each row's own later positions. Appending
/// a position copies nothing else; beams read the shared prompt once per step; reordering rows copies
/// only the rows' own positions, and only for rows whose parent is taken more than once.
///
/// The shared vectors may hold more than `base_len` positions: a clone cut shorter than a shared part
/// (the reranking cache, a reused prompt) only lowers `base_len`, and readers stop there. The vectors are
/// cut for real only when this cache alone holds them and is about to extend them.
#[derive(Clone)]
struct FlatKv {
    /// Floats per position: key/value heads × head size.
    width: usize,
    /// Per block, the shared positions.
    base: Arc<Vec<BlockKv>>,
    base_len: usize,
    /// Per row, per block, the row's own positions after `base_len`.
    tails: Vec<Vec<BlockKv>>,
    tail_len: usize,
    /// Positions a row's own vectors are sized for when they are made or copied (see
    /// [`KvCache::reserve_tails`]); beyond it they grow as vectors do.
    tail_room: usize,
}

impl FlatKv {
    fn new(blocks: usize, width: usize) -> Self {
        Self {
            width,
            base: Arc::new(vec![(Vec::new(), Vec::new()); blocks]),
            base_len: 0,
            tails: vec![vec![(Vec::new(), Vec::new()); blocks]],
            tail_len: 0,
            tail_room: 0,
        }
    }

    fn reserve_tails(&mut self, positions: usize) {
        self.tail_room = positions;
        let (want, have) = (positions * self.width, self.tail_len * self.width);
        for (k, v) in self.tails.iter_mut().flatten() {
            k.reserve_exact(want.saturating_sub(have));
            v.reserve_exact(want.saturating_sub(have));
        }
    }

    fn rows(&self) -> usize {
        self.tails.len()
    }

    /// This store's shared positions and sizes, with no row of its own.
    fn clone_shared(&self) -> Self {
        Self {
            width: self.width,
            base: Arc::clone(&self.base),
            base_len: self.base_len,
            tails: Vec::new(),
            tail_len: self.tail_len,
            tail_room: self.tail_room,
        }
    }

    fn truncate(&mut self, len: usize) {
        let w = self.width;
        if len >= self.base_len {
            let keep = (len - self.base_len).min(self.tail_len);
            for (k, v) in self.tails.iter_mut().flatten() {
                k.truncate(keep * w);
                v.truncate(keep * w);
            }
            self.tail_len = keep;
            return;
        }
        // Shared vectors stay as they are (see the type's note); a cache's own are cut now.
        if let Some(base) = Arc::get_mut(&mut self.base) {
            base.iter_mut().for_each(|(k, v)| {
                k.truncate(len * w);
                v.truncate(len * w);
            });
        }
        self.base_len = len;
        for (k, v) in self.tails.iter_mut().flatten() {
            k.clear();
            v.clear();
        }
        self.tail_len = 0;
    }

    fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        let n = self.rows();
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(InfillError::Model(format!(
                "row {bad} selected from a cache of {n} rows"
            )));
        }
        if rows.len() == n && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return Ok(());
        }
        let mut uses = vec![0usize; n];
        rows.iter().for_each(|&r| uses[r] += 1);
        let mut old: Vec<Option<Vec<BlockKv>>> = std::mem::take(&mut self.tails)
            .into_iter()
            .map(Some)
            .collect();
        let room = (self.tail_len + 16).max(self.tail_room) * self.width;
        for &r in rows {
            uses[r] -= 1;
            let row = if uses[r] == 0 {
                old[r].take()
            } else {
                old[r].as_ref().map(|row| {
                    row.iter()
                        .map(|(k, v)| {
                            let copy = |x: &Vec<f32>| {
                                let mut c = Vec::with_capacity(room.max(x.len()));
                                c.extend_from_slice(x);
                                c
                            };
                            (copy(k), copy(v))
                        })
                        .collect()
                })
            };
            // Every use but the last copies, so the row is still there.
            self.tails
                .push(row.ok_or_else(|| InfillError::Model("cache row taken twice".into()))?);
        }
        Ok(())
    }

    /// Appends one position (`width` floats of keys and of values) to block `block` of `row`, in the
    /// shared part when `to_base`.
    fn push(&mut self, block: usize, row: usize, to_base: bool, k: &[f32], v: &[f32]) {
        let (kk, vv) = if to_base {
            &mut Arc::make_mut(&mut self.base)[block]
        } else {
            &mut self.tails[row][block]
        };
        kk.extend_from_slice(k);
        vv.extend_from_slice(v);
    }

    /// For a one-row store: makes every position the row has a shared position held by this store
    /// alone, with room for `extra` more, so that a sequence read next (a prompt) extends the shared part
    /// in place and every beam later reads it once. Copies only what another cache also holds, or what
    /// sat in the row's own part.
    fn own_prefix(&mut self, extra: usize) {
        let w = self.width;
        if self.rows() != 1 {
            return;
        }
        let (base_len, tail_len) = (self.base_len, self.tail_len);
        if tail_len == 0 {
            if let Some(base) = Arc::get_mut(&mut self.base) {
                for (k, v) in base.iter_mut() {
                    k.truncate(base_len * w);
                    v.truncate(base_len * w);
                    k.reserve_exact(extra * w);
                    v.reserve_exact(extra * w);
                }
                return;
            }
        }
        let merged = self
            .base
            .iter()
            .zip(&self.tails[0])
            .map(|((bk, bv), (tk, tv))| {
                let join = |b: &[f32], t: &[f32]| {
                    let mut x = Vec::with_capacity((base_len + tail_len + extra) * w);
                    x.extend_from_slice(&b[..base_len * w]);
                    x.extend_from_slice(t);
                    x
                };
                (join(bk, tk), join(bv, tv))
            })
            .collect();
        self.base = Arc::new(merged);
        self.base_len = base_len + tail_len;
        for (k, v) in self.tails[0].iter_mut() {
            k.clear();
            v.clear();
        }
        self.tail_len = 0;
    }
}

impl KvCache {
    /// An empty cache for a model of `layers` blocks.
    pub(crate) fn with_layers(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
            flat: None,
            len: 0,
        }
    }

    /// Each block's keys and values (rows × heads × positions × head size), for a model's forward pass.
    pub(crate) fn slots_mut(&mut self) -> impl Iterator<Item = &mut Option<(Tensor, Tensor)>> {
        self.layers.iter_mut()
    }

    /// Records that a forward pass appended `positions` positions.
    pub(crate) fn advance(&mut self, positions: usize) {
        self.len += positions;
    }

    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first forward pass.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position from `len` on (a prompt that shares its first `len` tokens with the one
    /// cached can continue from here).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.narrow(2, 0, len)?;
            *v = v.narrow(2, 0, len)?;
        }
        if len == 0 {
            self.layers.iter_mut().for_each(|l| *l = None);
        }
        if let Some(flat) = &mut self.flat {
            flat.truncate(len);
        }
        self.len = len;
        Ok(())
    }

    /// Positions whose keys and values are stored once and read by every row (0 for GPT-BigCode, whose
    /// cache keeps each row whole).
    pub fn shared_positions(&self) -> usize {
        self.flat.as_ref().map_or(0, |f| f.base_len)
    }

    /// Prepares a one-row cache to read `positions` more positions of one sequence (a prompt): they go
    /// to the part that beams share and read once per step, in vectors sized for them. Without this, a
    /// cache cloned from another (a reused prompt) would store them in its row's own part, which every
    /// beam then copies. Changes no value. Does nothing for GPT-BigCode's tensors.
    pub fn reserve_prompt(&mut self, positions: usize) {
        if let Some(flat) = &mut self.flat {
            flat.own_prefix(positions);
        }
    }

    /// Sizes each row's own vectors, and those of rows copied from them later, for `positions`
    /// positions after the shared ones, so that a search of known length grows none of them step by
    /// step (a vector that grows by doubling leaves its old copy behind, which in wasm memory is never
    /// given back). Changes no value. Does nothing for GPT-BigCode's tensors.
    pub fn reserve_tails(&mut self, positions: usize) {
        if let Some(flat) = &mut self.flat {
            flat.reserve_tails(positions);
        }
    }

    /// Row `r` alone, as a one-row cache: the shared positions are shared with this cache, the row's own
    /// are copied. This cache is not changed.
    pub fn row(&self, r: usize) -> Result<KvCache> {
        if let Some(flat) = &self.flat {
            let tails = flat.tails.get(r).ok_or_else(|| {
                InfillError::Model(format!(
                    "row {r} taken from a cache of {} rows",
                    flat.rows()
                ))
            })?;
            return Ok(KvCache {
                layers: self.layers.clone(),
                flat: Some(FlatKv {
                    tails: vec![tails.clone()],
                    tail_room: 0,
                    ..flat.clone_shared()
                }),
                len: self.len,
            });
        }
        let mut one = self.clone();
        one.select_rows(&[r])?;
        Ok(one)
    }

    /// Keeps rows so that new row `i` continues old row `rows[i]` (rows may repeat).
    pub fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        if let Some(flat) = &mut self.flat {
            flat.select_rows(rows)?;
        }
        let identity = rows.iter().enumerate().all(|(i, &r)| i == r)
            && self
                .layers
                .first()
                .and_then(|l| l.as_ref())
                .is_some_and(|(k, _)| k.dim(0).ok() == Some(rows.len()));
        if identity {
            return Ok(());
        }
        let Some(device) = self
            .layers
            .iter()
            .flatten()
            .next()
            .map(|(k, _)| k.device().clone())
        else {
            return Ok(());
        };
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = Tensor::new(idx.as_slice(), &device)?;
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(&idx, 0)?;
            *v = v.index_select(&idx, 0)?;
        }
        Ok(())
    }
}

fn model_err(e: impl std::fmt::Display) -> InfillError {
    InfillError::Model(e.to_string())
}

fn read_u32(content: &gguf_file::Content, key: &str) -> Result<usize> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| model_err(format!("missing `{key}` in the metadata")))?
        .to_u32()
        .map(|v| v as usize)
        .map_err(model_err)
}

impl Llama {
    /// Loads the weights from a parsed GGUF file. `reader` reads the same bytes.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        options: LoadOptions,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" && arch != "qwen2" {
            return Err(model_err(format!(
                "architecture `{arch}` is not supported by the GGUF loader (llama and qwen2 are)"
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = read_u32(content, &key("attention.head_count"))?;
        let n_kv_head = read_u32(content, &key("attention.head_count_kv"))?;
        let n_layer = read_u32(content, &key("block_count"))?;
        let hidden = read_u32(content, &key("embedding_length"))?;
        let context_length = read_u32(content, &key("context_length")).unwrap_or(2048);
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || hidden % n_head != 0 {
            return Err(model_err("inconsistent head counts in the metadata"));
        }
        let head_dim = hidden / n_head;
        let rope_dim = read_u32(content, &key("rope.dimension_count")).unwrap_or(head_dim);
        let eps = content
            .metadata
            .get(&key("attention.layer_norm_rms_epsilon"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-6) as f64;
        let freq_base = content
            .metadata
            .get(&key("rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10000.0);
        let rope_neox = arch == "qwen2";

        let mut tensor = |name: &str| -> Result<QTensor> {
            // candle reads a tensor's bytes with `from_raw_parts`; an empty or overflowing shape from a
            // damaged file must be refused before that (found by the gguf fuzz target).
            if let Some(info) = content.tensor_infos.get(name) {
                let dims = info.shape.dims();
                let elems = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
                if dims.contains(&0) || elems.is_none_or(|n| n > 1u64 << 34) {
                    return Err(model_err(format!(
                        "tensor `{name}` has an impossible shape {dims:?}: the file is damaged"
                    )));
                }
            }
            content
                .tensor(reader, name, &device)
                .map_err(|e| model_err(format!("tensor `{name}`: {e}")))
        };
        // Matrices go straight from the file's type to Q8_0 (or stay as stored), one at a time, so the
        // load never holds more than one matrix twice.
        let embed_q = tensor("token_embd.weight")?;
        let (embed, tied) = match q8_matrix(&embed_q, options)? {
            Some(m) => {
                // The file's copy is freed now, not at the end of the load, when every other weight
                // is in memory too (18 MB for SmolLM2's Q4_1 embedding, 30 MB for a Q8_0 one).
                drop(embed_q);
                let m = Arc::new(m);
                (TokenEmbedding::Q8(m.clone()), Linear::Q8(m))
            }
            None => (
                TokenEmbedding::Dense(Embedding::new(embed_q.dequantize(&device)?, hidden)),
                Linear::new(embed_q, options)?,
            ),
        };
        // Looked up first: a tied model has no `output.weight`, and the failed read's error would be
        // formatted for nothing (natively, with RUST_BACKTRACE set, that resolves a backtrace and keeps
        // 26 MB of debug information for the rest of the run).
        let output = if content.tensor_infos.contains_key("output.weight") {
            Linear::new(tensor("output.weight")?, options)?
        } else {
            tied
        };
        let norm = Norm::from_qtensor(tensor("output_norm.weight")?, eps)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let mut bias = |n: &str| -> Result<Option<Vec<f32>>> {
                let name = format!("{p}.{n}.bias");
                if content.tensor_infos.contains_key(&name) {
                    let b = tensor(&name)?.dequantize(&device)?;
                    Ok(Some(b.flatten_all()?.to_vec1::<f32>()?))
                } else {
                    Ok(None)
                }
            };
            let (bq, bk, bv) = (bias("attn_q")?, bias("attn_k")?, bias("attn_v")?);
            layers.push(Layer {
                wq: Linear::new(tensor(&format!("{p}.attn_q.weight"))?, options)?,
                wk: Linear::new(tensor(&format!("{p}.attn_k.weight"))?, options)?,
                wv: Linear::new(tensor(&format!("{p}.attn_v.weight"))?, options)?,
                wo: Linear::new(tensor(&format!("{p}.attn_output.weight"))?, options)?,
                bq,
                bk,
                bv,
                attn_norm: Norm::from_qtensor(tensor(&format!("{p}.attn_norm.weight"))?, eps)?,
                ffn_norm: Norm::from_qtensor(tensor(&format!("{p}.ffn_norm.weight"))?, eps)?,
                gate: Linear::new(tensor(&format!("{p}.ffn_gate.weight"))?, options)?,
                up: Linear::new(tensor(&format!("{p}.ffn_up.weight"))?, options)?,
                down: Linear::new(tensor(&format!("{p}.ffn_down.weight"))?, options)?,
            });
        }
        // The rotary tables, computed in f64 and rounded once, so that the platform's libm (glibc
        // natively, musl's port in wasm) cannot change a bit of them.
        let theta: Vec<f32> = (0..rope_dim)
            .step_by(2)
            .map(|i| 1f32 / (freq_base as f64).powf(i as f64 / rope_dim as f64) as f32)
            .collect();
        let n_theta = theta.len();
        let angles: Vec<f64> = (0..MAX_SEQ_LEN)
            .flat_map(|p| theta.iter().map(move |&t| (p as f32 * t) as f64))
            .collect();
        let table =
            |f: fn(f64) -> f64| -> Vec<f32> { angles.iter().map(|&a| f(a) as f32).collect() };
        Ok(Self {
            embed,
            layers,
            norm,
            output,
            cos: table(f64::cos),
            sin: table(f64::sin),
            rope_half: n_theta,
            config: LlamaConfig {
                architecture: arch,
                n_head,
                n_kv_head,
                head_dim,
                hidden,
                n_layer,
                context_length: context_length.min(MAX_SEQ_LEN),
                rope_neox,
            },
            device,
        })
    }

    /// Replaces every quantized matrix with its float32 dequantization, so that matrix products run in
    /// float32 as in transformers, which dequantizes GGUF weights when it loads them. Quantized matrix
    /// products also quantize the activations (to Q8), which this removes too. For comparisons with the
    /// reference: it needs four bytes per weight and runs slower.
    pub fn dequantize_matmuls(&mut self) -> Result<()> {
        for l in &mut self.layers {
            for m in [
                &mut l.wq,
                &mut l.wk,
                &mut l.wv,
                &mut l.wo,
                &mut l.gate,
                &mut l.up,
                &mut l.down,
            ] {
                m.dequantize()?;
            }
        }
        self.output.dequantize()
    }

    /// A fresh, empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: Vec::new(),
            flat: Some(FlatKv::new(
                self.layers.len(),
                self.config.n_kv_head * self.config.head_dim,
            )),
            len: 0,
        }
    }

    /// Runs `tokens` (shape: rows × positions) after what `cache` holds and returns the hidden states
    /// after the final norm, shape rows × positions × hidden.
    pub fn hidden(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Tensor> {
        let rows = tokens.len();
        let seq = tokens.first().map_or(0, Vec::len);
        if rows == 0 || seq == 0 || tokens.iter().any(|t| t.len() != seq) {
            return Err(InfillError::Input("empty or ragged token batch".into()));
        }
        let pos = cache.len;
        if pos + seq > self.config.context_length {
            return Err(InfillError::Input(format!(
                "the prompt and completion need {} tokens, more than the model's context of {}",
                pos + seq,
                self.config.context_length
            )));
        }
        let width = self.config.n_kv_head * self.config.head_dim;
        let store = cache
            .flat
            .get_or_insert_with(|| FlatKv::new(self.layers.len(), width));
        if store.width != width || store.base.len() != self.layers.len() {
            return Err(InfillError::Model(
                "the cache was made for another model".into(),
            ));
        }
        if store.rows() != rows {
            if store.rows() != 1 {
                return Err(InfillError::Input(format!(
                    "{rows} token rows for a cache of {} rows",
                    store.rows()
                )));
            }
            // A cache made for one row (the prompt) is shared by every beam.
            store.select_rows(&vec![0; rows])?;
        }
        // A single sequence extends the shared part while nothing else holds it; otherwise every row
        // gets its own positions.
        let to_base = rows == 1 && store.tail_len == 0 && Arc::get_mut(&mut store.base).is_some();
        if to_base {
            // Positions past `base_len` left by a cut while the vectors were shared (see `FlatKv`).
            let keep = store.base_len * width;
            if let Some(base) = Arc::get_mut(&mut store.base) {
                for (k, v) in base.iter_mut() {
                    k.truncate(keep);
                    v.truncate(keep);
                }
            }
        }
        if 2 * self.rope_half != self.config.head_dim {
            return Err(InfillError::Model(format!(
                "rotary tables for {} dimensions, heads of {}",
                2 * self.rope_half,
                self.config.head_dim
            )));
        }
        let ids: Vec<u32> = tokens.iter().flatten().copied().collect();
        // Plain vectors from here to the final norm: the same operations, in the same order, as
        // candle's tensors ran them (norms, rotary embedding, sums, products), without a tensor, a
        // copy and its allocations around each one.
        let shape = (rows, seq);
        let mut x = self.embed.forward(&ids, rows, seq)?;
        for (block, layer) in self.layers.iter().enumerate() {
            let h = layer.attn_norm.forward(&x)?;
            let h = self.attention(layer, &h, shape, pos, (store, block, to_base))?;
            let x1 = sum(&h, &x)?;
            let h = layer.ffn_norm.forward(&x1)?;
            let [mut g, u] = Linear::forward_each([&layer.gate, &layer.up], &h, shape)?;
            if g.len() != u.len() {
                return Err(InfillError::Model(
                    "feed-forward gate and up of different sizes".into(),
                ));
            }
            kernels::silu_in_place(&mut g);
            g.iter_mut().zip(&u).for_each(|(g, &u)| *g *= u);
            let h = layer.down.forward_vec(&g, shape)?;
            x = sum(&h, &x1)?;
        }
        if to_base {
            store.base_len += seq;
        } else {
            store.tail_len += seq;
        }
        cache.len = pos + seq;
        let hidden = self.config.hidden;
        Ok(Tensor::from_vec(
            self.norm.forward(&x)?,
            (rows, seq, hidden),
            &self.device,
        )?)
    }

    /// Runs `tokens` and returns the next-token logits of each row's last position (rows × vocab).
    pub fn logits(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        let h = self.hidden(tokens, cache)?;
        let seq = h.dim(1)?;
        let last = h.i((.., seq - 1, ..))?.contiguous()?;
        let logits = self.output.forward(&last)?;
        Ok(logits.to_dtype(DType::F32)?.to_vec2::<f32>()?)
    }

    /// For each of `seqs`, the log-probability of it following what a one-row `cache` holds, whose last
    /// cached token was `last` (the cache itself is not changed).
    ///
    /// Each sequence is scored as if it ran alone (one pass over `last` and its tokens but the last, then
    /// the log-softmax of every position), and gets those bits; but the positions that sequences share
    /// (the same tokens from the start: beams that differ only near their end, a common healed prefix)
    /// run once. Every position's keys, values, hidden state and logits have the same bits however the
    /// positions are split into passes and groups, so sharing changes no score.
    ///
    /// `known[i]`, when given, holds the first tokens of `seqs[i]` scored already, by the beam search that
    /// chose them, and the cache it left for them (see [`Known`]): those positions are not run again.
    /// They have the bits a run here would give them, for the same reason. A `Known` that does not fit
    /// (more tokens than the sequence, a cache of another length) is ignored.
    pub fn continuation_logprobs(
        &self,
        cache: &KvCache,
        last: u32,
        seqs: &[Vec<u32>],
        mut known: Vec<Option<Known>>,
    ) -> Result<Vec<f64>> {
        let inputs: Vec<Vec<u32>> = seqs
            .iter()
            .map(|s| {
                let mut input = vec![last];
                input.extend_from_slice(&s[..s.len().saturating_sub(1)]);
                input
            })
            .collect();
        let mut logprobs: Vec<Vec<f64>> = vec![Vec::new(); seqs.len()];
        known.resize_with(seqs.len(), || None);
        // Groups of sequences that agree on their inputs up to `depth`, each with a cache that holds
        // those inputs. A group runs the inputs all its members share next, then splits by the token
        // that follows; a member whose inputs end there is done. A sequence with known scores starts
        // alone, where they end.
        let mut groups = Vec::new();
        let mut members = Vec::new();
        for (i, k) in known.into_iter().enumerate() {
            match k {
                _ if seqs[i].is_empty() => {}
                Some(k)
                    if !k.logprobs.is_empty()
                        && k.logprobs.len() <= seqs[i].len()
                        && k.cache.len() + 1 == cache.len() + k.logprobs.len() =>
                {
                    let depth = k.logprobs.len();
                    logprobs[i] = k.logprobs;
                    groups.push((k.cache, depth, vec![i]));
                }
                _ => members.push(i),
            }
        }
        if !members.is_empty() {
            let mut c = cache.clone();
            c.truncate(c.len().saturating_sub(1))?;
            groups.push((c, 0usize, members));
        }
        while let Some((mut cache, depth, members)) = groups.pop() {
            let lead = &inputs[members[0]];
            let end = members
                .iter()
                .map(|&i| inputs[i].len())
                .min()
                .unwrap_or(depth);
            let mut run = depth;
            while run < end && members.iter().all(|&i| inputs[i][run] == lead[run]) {
                run += 1;
            }
            if run > depth {
                let h = self
                    .hidden(&[lead[depth..run].to_vec()], &mut cache)?
                    .squeeze(0)?
                    .contiguous()?;
                // The logits of four positions at a time (the matrix kernel's group), so that a
                // reranked line never holds positions × vocabulary floats.
                for start in (0..run - depth).step_by(4) {
                    let n = 4.min(run - depth - start);
                    let logits = self
                        .output
                        .forward(&h.narrow(0, start, n)?)?
                        .to_dtype(DType::F32)?
                        .to_vec2::<f32>()?;
                    for (k, row) in logits.iter().enumerate() {
                        // In f64, with this crate's own exp and ln (the same bits in the page and
                        // the CLI).
                        let lse = kernels::log_sum_exp(row);
                        let p = depth + start + k;
                        for &i in &members {
                            let t = seqs[i][p] as usize;
                            logprobs[i]
                                .push(row.get(t).map_or(f64::NEG_INFINITY, |&l| l as f64 - lse));
                        }
                    }
                }
            }
            let mut next: Vec<(u32, Vec<usize>)> = Vec::new();
            for &i in members.iter().filter(|&&i| inputs[i].len() > run) {
                let t = inputs[i][run];
                match next.iter_mut().find(|(u, _)| *u == t) {
                    Some((_, g)) => g.push(i),
                    None => next.push((t, vec![i])),
                }
            }
            if let Some((_, last_group)) = next.pop() {
                for (_, g) in next {
                    groups.push((cache.clone(), run, g));
                }
                groups.push((cache, run, last_group));
            }
        }
        Ok(logprobs.iter().map(|l| l.iter().sum()).collect())
    }

    /// Mean of the last hidden states (after the final norm) over the tokens of `ids`, run on their own.
    pub fn mean_hidden(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut cache = self.new_cache();
        let h = self.hidden(&[ids.to_vec()], &mut cache)?;
        Ok(h.mean(1)?.squeeze(0)?.to_vec1::<f32>()?)
    }

    /// [`Self::mean_hidden`] of `a` and of `b`, with the same bits, but the tokens they begin with in
    /// common run once (a completion and its target often share their start; an exact match shares all).
    pub fn mean_hidden_pair(&self, a: &[u32], b: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        if common == 0 {
            return Ok((self.mean_hidden(a)?, self.mean_hidden(b)?));
        }
        let mut cache = self.new_cache();
        let shared = self.hidden(&[a[..common].to_vec()], &mut cache)?;
        let mean = |ids: &[u32]| -> Result<Vec<f32>> {
            let h = if ids.len() == common {
                shared.clone()
            } else {
                let mut c = cache.clone();
                let rest = self.hidden(&[ids[common..].to_vec()], &mut c)?;
                Tensor::cat(&[&shared, &rest], 1)?
            };
            Ok(h.mean(1)?.squeeze(0)?.to_vec1::<f32>()?)
        };
        Ok((mean(a)?, mean(b)?))
    }

    /// The attention block of `layer` for `x` (rows × seq positions × hidden, after the norm), whose
    /// first position is `pos`: projections, rotary embedding, the new keys and values into the store,
    /// attention, output projection.
    fn attention(
        &self,
        layer: &Layer,
        x: &[f32],
        (b, seq): (usize, usize),
        pos: usize,
        (store, block, to_base): (&mut FlatKv, usize, bool),
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let (d, heads, kvh) = (c.head_dim, c.n_head, c.n_kv_head);
        let width = kvh * d;
        let [mut q, mut k, mut v] =
            Linear::forward_each([&layer.wq, &layer.wk, &layer.wv], x, (b, seq))?;
        if q.len() != b * seq * heads * d || k.len() != b * seq * width || v.len() != k.len() {
            return Err(InfillError::Model(
                "attention projections of the wrong size".into(),
            ));
        }
        add_bias(&mut q, &layer.bq, heads * d)?;
        add_bias(&mut k, &layer.bk, width)?;
        add_bias(&mut v, &layer.bv, width)?;
        // Every head's vector at its position; both layouts hold position-major rows of heads.
        self.rope(&mut q, heads, seq, pos);
        self.rope(&mut k, kvh, seq, pos);
        for row in 0..b {
            for s in 0..seq {
                let at = (row * seq + s) * width..(row * seq + s + 1) * width;
                store.push(block, row, to_base, &k[at.clone()], &v[at]);
            }
        }
        let y = if seq == 1 {
            // One position: rows × heads × head size already.
            self.decode_attention(&q, b, store, block, to_base)
        } else {
            // rows × positions × heads → rows × heads × positions.
            let mut qt = Vec::with_capacity(q.len());
            for row in 0..b {
                for h in 0..heads {
                    for s in 0..seq {
                        qt.extend_from_slice(&q[((row * seq + s) * heads + h) * d..][..d]);
                    }
                }
            }
            let base_len = store.base_len + if to_base { seq } else { 0 };
            self.prefill_attention(&qt, b, seq, (store, base_len), block)
        };
        layer.wo.forward_vec(&y, (b, seq))
    }

    /// Rotary embedding, in place, of `x`: rows × `seq` positions × `heads` vectors of the head size, the
    /// first position being `pos`. Each pair of values turns as in candle's `rope` (NeoX halves) or
    /// `rope_i` (interleaved): the same products and sums in the same order.
    fn rope(&self, x: &mut [f32], heads: usize, seq: usize, pos: usize) {
        let d = self.config.head_dim;
        let half = self.rope_half;
        for (i, v) in x.chunks_exact_mut(d).enumerate() {
            let p = pos + (i / heads) % seq;
            let (cos, sin) = (
                &self.cos[p * half..(p + 1) * half],
                &self.sin[p * half..(p + 1) * half],
            );
            if self.config.rope_neox {
                let (a, b) = v.split_at_mut(half);
                for j in 0..half {
                    let (x1, x2) = (a[j], b[j]);
                    a[j] = x1 * cos[j] - x2 * sin[j];
                    b[j] = x1 * sin[j] + x2 * cos[j];
                }
            } else {
                for (j, pair) in v.chunks_exact_mut(2).enumerate() {
                    let (x1, x2) = (pair[0], pair[1]);
                    pair[0] = x1 * cos[j] - x2 * sin[j];
                    pair[1] = x1 * sin[j] + x2 * cos[j];
                }
            }
        }
    }

    /// Causal attention of `seq` new positions per row (already in the store) over every earlier
    /// position of their row and themselves. `q`: rows × query heads × seq × head size. Returns
    /// rows × seq × (query heads × head size).
    ///
    /// Each (query head, position) is computed as on its own: its scores in position order
    /// ([`kernels::scaled_dots`]), their softmax, and each output element summing its terms in position order
    /// ([`kernels::weighted_sum`]), so the result is the same on every target. The loops are tiled for the
    /// cache: a key/value head's keys (values) are read a stretch at a time, straight from the store, while
    /// every query head of its group and [`QUERY_BLOCK`] positions use them. When each query read its whole
    /// past on its own (from a copy), a 3,814-token prompt took 69 s natively on one thread, 48 s of them
    /// growing with the square of its length; tiled, 48.5 s in all.
    fn prefill_attention(
        &self,
        q: &[f32],
        rows: usize,
        seq: usize,
        (store, base_len): (&FlatKv, usize),
        block: usize,
    ) -> Vec<f32> {
        let c = &self.config;
        let (d, heads, kvh) = (c.head_dim, c.n_head, c.n_kv_head);
        let n_rep = heads / kvh;
        let width = kvh * d;
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let mut y = vec![0f32; rows * seq * heads * d];
        let mut scores = Vec::new();
        let (bk, bv) = &store.base[block];
        for row in 0..rows {
            let (tk, tv) = &store.tails[row][block];
            // The row's positions in two pieces, each with the position of its first: the shared ones,
            // then its own.
            let pieces = [
                (0, &bk[..base_len * width], &bv[..base_len * width]),
                (base_len, &tk[..], &tv[..]),
            ];
            let len = base_len + tk.len() / width;
            let first = len - seq;
            for g in 0..kvh {
                let group = g * n_rep..(g + 1) * n_rep;
                for s0 in (0..seq).step_by(QUERY_BLOCK) {
                    let qn = QUERY_BLOCK.min(seq - s0);
                    // Positions seen by the block's last query; a query sees `first + s + 1`.
                    let span = first + s0 + qn;
                    let visible = |s: usize| first + s0 + s + 1;
                    // Every score read below is written first.
                    if scores.len() < n_rep * qn * span {
                        scores.resize(n_rep * qn * span, 0.0);
                    }
                    let at = |h: usize, s: usize| ((h - group.start) * qn + s) * span;
                    for &(p0, keys, _) in &pieces {
                        let n_keys = (keys.len() / width).min(span.saturating_sub(p0));
                        for j0 in (0..n_keys).step_by(STRETCH) {
                            let n = STRETCH.min(n_keys - j0);
                            let keys = &keys[j0 * width..(j0 + n) * width];
                            for h in group.clone() {
                                for s in 0..qn {
                                    let m = n.min(visible(s).saturating_sub(p0 + j0));
                                    if m == 0 {
                                        continue;
                                    }
                                    let qh = &q[((row * heads + h) * seq + s0 + s) * d..][..d];
                                    let out = &mut scores[at(h, s) + p0 + j0..][..m];
                                    kernels::scaled_dots(qh, keys, width, g * d, scale, out);
                                }
                            }
                        }
                    }
                    for h in group.clone() {
                        for s in 0..qn {
                            kernels::softmax_in_place(&mut scores[at(h, s)..][..visible(s)]);
                        }
                    }
                    for &(p0, _, values) in &pieces {
                        let n_values = (values.len() / width).min(span.saturating_sub(p0));
                        for j0 in (0..n_values).step_by(STRETCH) {
                            let n = STRETCH.min(n_values - j0);
                            let values = &values[j0 * width..(j0 + n) * width];
                            for h in group.clone() {
                                for s in 0..qn {
                                    let m = n.min(visible(s).saturating_sub(p0 + j0));
                                    if m == 0 {
                                        continue;
                                    }
                                    let p = &scores[at(h, s) + p0 + j0..][..m];
                                    let out = &mut y[((row * seq + s0 + s) * heads + h) * d..][..d];
                                    kernels::weighted_sum(p, values, width, g * d, out);
                                }
                            }
                        }
                    }
                }
            }
        }
        y
    }

    /// Attention of one new position per row (already in the store) over every cached position of its
    /// row, grouped by key/value head: each shared (prompt) position is read once for every row and
    /// query head. `q`: rows × query heads × head size. Returns rows × (query heads × head size).
    fn decode_attention(
        &self,
        q: &[f32],
        rows: usize,
        store: &FlatKv,
        block: usize,
        to_base: bool,
    ) -> Vec<f32> {
        let c = &self.config;
        let (d, heads, kvh) = (c.head_dim, c.n_head, c.n_kv_head);
        let n_rep = heads / kvh;
        let width = kvh * d;
        // The lengths count the new position, which went to the shared part or to each row's own.
        let (base_len, tail_len) = if to_base {
            (store.base_len + 1, store.tail_len)
        } else {
            (store.base_len, store.tail_len + 1)
        };
        let len = base_len + tail_len;
        // As candle's `tensor / f64`: a multiplication by the inverse, rounded to f32.
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let mut scores = vec![0f32; rows * heads * len];
        let (bk, bv) = &store.base[block];
        // The shared positions a stretch at a time, so that its keys (values) stay in the L1 cache while
        // every row and query head reads them.
        for j0 in (0..base_len).step_by(STRETCH) {
            let n = STRETCH.min(base_len - j0);
            let keys = &bk[j0 * width..(j0 + n) * width];
            for row in 0..rows {
                for h in 0..heads {
                    let qh = &q[(row * heads + h) * d..][..d];
                    let at = (row * heads + h) * len + j0;
                    let out = &mut scores[at..at + n];
                    kernels::scaled_dots(qh, keys, width, h / n_rep * d, scale, out);
                }
            }
        }
        for row in 0..rows {
            let keys = &store.tails[row][block].0[..tail_len * width];
            for h in 0..heads {
                let qh = &q[(row * heads + h) * d..][..d];
                let at = (row * heads + h) * len + base_len;
                let out = &mut scores[at..at + tail_len];
                kernels::scaled_dots(qh, keys, width, h / n_rep * d, scale, out);
            }
        }
        for s in scores.chunks_exact_mut(len) {
            kernels::softmax_in_place(s);
        }
        // Each output element sums its terms in position order: the shared positions, then the row's own.
        let mut y = vec![0f32; rows * heads * d];
        for j0 in (0..base_len).step_by(STRETCH) {
            let n = STRETCH.min(base_len - j0);
            let values = &bv[j0 * width..(j0 + n) * width];
            for row in 0..rows {
                for h in 0..heads {
                    let p = &scores[(row * heads + h) * len + j0..][..n];
                    let out = &mut y[(row * heads + h) * d..][..d];
                    kernels::weighted_sum(p, values, width, h / n_rep * d, out);
                }
            }
        }
        for row in 0..rows {
            let values = &store.tails[row][block].1[..tail_len * width];
            for h in 0..heads {
                let p = &scores[(row * heads + h) * len + base_len..][..tail_len];
                let out = &mut y[(row * heads + h) * d..][..d];
                kernels::weighted_sum(p, values, width, h / n_rep * d, out);
            }
        }
        y
    }
}

/// Any supported model: the one type the engine holds. Every variant keeps its state in a [`KvCache`].
pub enum Model {
    /// Llama-family GGUF (SmolLM2, Qwen2).
    Llama(Llama),
    /// GPT-BigCode safetensors (StarCoder family).
    BigCode(crate::bigcode::BigCode),
}

impl Model {
    /// The architecture's name (`llama`, `qwen2`, `gpt_bigcode`).
    pub fn architecture(&self) -> &str {
        match self {
            Model::Llama(m) => &m.config.architecture,
            Model::BigCode(_) => "gpt_bigcode",
        }
    }

    /// The longest sequence (prompt plus generation) the model can run.
    pub fn context_length(&self) -> usize {
        match self {
            Model::Llama(m) => m.config.context_length,
            Model::BigCode(m) => m.config.n_positions,
        }
    }

    /// A fresh, empty cache.
    pub fn new_cache(&self) -> KvCache {
        match self {
            Model::Llama(m) => m.new_cache(),
            Model::BigCode(m) => m.new_cache(),
        }
    }

    /// Hidden states after the final norm (rows × positions × hidden); see [`Llama::hidden`].
    pub fn hidden(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Tensor> {
        match self {
            Model::Llama(m) => m.hidden(tokens, cache),
            Model::BigCode(m) => m.hidden(tokens, cache),
        }
    }

    /// Next-token logits of each row's last position; see [`Llama::logits`].
    pub fn logits(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        match self {
            Model::Llama(m) => m.logits(tokens, cache),
            Model::BigCode(m) => m.logits(tokens, cache),
        }
    }

    /// log p(each of `seqs` | what a one-row `cache` holds); see [`Llama::continuation_logprobs`].
    /// GPT-BigCode runs every sequence whole and ignores `known`.
    pub fn continuation_logprobs(
        &self,
        cache: &KvCache,
        last: u32,
        seqs: &[Vec<u32>],
        known: Vec<Option<Known>>,
    ) -> Result<Vec<f64>> {
        match self {
            Model::Llama(m) => m.continuation_logprobs(cache, last, seqs, known),
            Model::BigCode(m) => seqs
                .iter()
                .map(|s| m.continuation_logprob(cache, last, s))
                .collect(),
        }
    }

    /// Mean-pooled last hidden states of `ids`; see [`Llama::mean_hidden`].
    pub fn mean_hidden(&self, ids: &[u32]) -> Result<Vec<f32>> {
        match self {
            Model::Llama(m) => m.mean_hidden(ids),
            Model::BigCode(m) => m.mean_hidden(ids),
        }
    }

    /// Mean-pooled last hidden states of `a` and of `b`; see [`Llama::mean_hidden_pair`].
    pub fn mean_hidden_pair(&self, a: &[u32], b: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        match self {
            Model::Llama(m) => m.mean_hidden_pair(a, b),
            Model::BigCode(m) => Ok((m.mean_hidden(a)?, m.mean_hidden(b)?)),
        }
    }
}

/// Cosine similarity of two vectors; `None` when either has zero length or norm.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    if a == b && a.iter().any(|&x| x != 0.0) {
        // The same states (the completion is the target): exactly 1, not 1 − 1e-16 from rounding.
        return Some(1.0);
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    Some((dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0))
}
