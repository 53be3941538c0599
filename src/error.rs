//! The core's one error type. Messages are written for the person who will read them in the page or
//! the terminal; the boundary (`src/web/`, `src/main.rs`) only forwards them.

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum InfillError {
    /// The model file could not be parsed or does not describe a supported model.
    #[error("the model file could not be read: {0}")]
    Model(String),
    /// The tokenizer could not be built or used.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A tensor operation failed while running the model.
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
    /// The code or the chosen line cannot be completed.
    #[error("{0}")]
    Input(String),
    /// Settings out of range.
    #[error("invalid setting: {0}")]
    Settings(String),
}

/// The core's result type.
pub type Result<T> = std::result::Result<T, InfillError>;
