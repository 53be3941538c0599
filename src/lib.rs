//! # Infill
//!
//! Fill-in-the-middle Python code completion that runs in a browser tab, and the same core as a CLI.
//!
//! The pipeline, one module a stage:
//! 1. [`prompt`]: hide a line ([`prompt::mask_line`]) and build the model's prompt (FIM formats, token
//!    healing).
//! 2. [`tokenizer`]: the tokenizer, built from the GGUF file's own vocabulary and pre-tokenizer.
//! 3. [`model`]: the transformer over quantized weights, with a beam-reorderable cache.
//! 4. [`generation`]: greedy and beam search, one step a call, with single-line stopping.
//! 5. [`metrics`]: exact match, chrF, BLEU, WER, IoU and edit similarity, equal to sacrebleu and jiwer.
//! 6. [`engine`]: ties them together; the CLI (`src/main.rs`) and the worker (`src/web/`) call only this.
//! 7. [`dataset`]: a folder of Python becomes masked-line tasks; [`report`] summarises scored runs.
//!
//! ```
//! let masked = infill::prompt::mask_line("def f(x):\n    return x\n", 2).unwrap();
//! assert_eq!(masked.middle, "    return x");
//! assert_eq!(masked.prefix + &masked.middle + &masked.suffix, "def f(x):\n    return x\n");
//! ```

pub mod bigcode;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod generation;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod prompt;
pub mod protocol;
pub mod report;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{InfillError, Result};
