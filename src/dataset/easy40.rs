//! Easy 40: forty short textbook functions written for this project (`data/easy40.py`), one hidden
//! line each (seed 0, function context). A quick sanity benchmark that ships inside the crate.

use super::{build_dataset, DatasetConfig, Task};

/// The source of Easy 40, `data/easy40.py`.
pub const EASY40_SOURCE: &str = include_str!("../../data/easy40.py");

/// The path the Easy 40 tasks carry.
pub const EASY40_PATH: &str = "easy40.py";

/// The 40 Easy 40 tasks: one line per function, seed 0, function context.
pub fn easy40_tasks() -> Vec<Task> {
    let files = [(EASY40_PATH.to_string(), EASY40_SOURCE.as_bytes().to_vec())];
    build_dataset(&files, &DatasetConfig::default()).tasks
}
