//! Batch evaluation in the worker: uploaded files become tasks with the same dataset code as
//! `infill dataset`, and scored results become the same summary as `infill eval` prints.
//!
//! A `dataset` request may instead carry tasks already made, as JSON Lines (`infill dataset`'s output,
//! or HumanEval from `scripts/gen_humaneval.py`): they are read with the reader `infill eval` uses and
//! kept in file order, so the page runs exactly the tasks the CLI runs.
//!
//! Both answers are pure computation (no model), so the worker answers them at once, even while a
//! completion runs. The page (`www/batch.js`) runs the tasks with ordinary `complete` requests.

use wasm_bindgen::prelude::*;

use super::{error, to_js, WorkerEngine};
use crate::dataset::{
    build_dataset, easy40, tasks_from_jsonl, DatasetConfig, Task, DEFAULT_MAX_FILE_BYTES,
};
use crate::metrics;
use crate::protocol::{Event, NamedSummary, Request, SkippedView};
use crate::report;

/// The built-in datasets a `dataset` request may name.
const BUILTINS: [&str; 1] = ["easy40"];

/// The `id` of a request that could not be read, so the error still reaches whoever sent it.
fn request_id(request: &JsValue) -> Option<u32> {
    js_sys::Reflect::get(request, &JsValue::from_str("id"))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX))
        .map(|n| n as u32)
}

/// Answers a [`Request::Dataset`]; any other request is a mistake of the caller.
fn dataset_event(request: Request) -> Event {
    let Request::Dataset {
        id,
        files,
        builtin,
        jsonl,
        seed,
        mode,
        context,
        max_file_bytes,
    } = request
    else {
        return Event::Error {
            id: None,
            message: "dataset expects a `dataset` request".into(),
        };
    };
    if let Some(text) = jsonl {
        return match tasks_from_jsonl(&text) {
            Ok(tasks) => imported_event(id, tasks),
            Err(e) => Event::Error {
                id: Some(id),
                message: format!("the tasks file is not tasks JSON Lines: {e}"),
            },
        };
    }
    let (files, config) = match builtin.as_deref() {
        Some("easy40") => (
            vec![(
                easy40::EASY40_PATH.to_string(),
                easy40::EASY40_SOURCE.as_bytes().to_vec(),
            )],
            DatasetConfig::default(),
        ),
        Some(other) => {
            return Event::Error {
                id: Some(id),
                message: format!(
                    "there is no built-in dataset called `{other}` (known: {})",
                    BUILTINS.join(", ")
                ),
            }
        }
        None => (
            files.into_iter().map(|f| (f.path, f.bytes.0)).collect(),
            DatasetConfig {
                seed,
                mode,
                context,
                max_file_bytes: max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
            },
        ),
    };
    let dataset = build_dataset(&files, &config);
    Event::Dataset {
        id,
        tasks: dataset.tasks,
        skipped: dataset
            .skipped
            .into_iter()
            .map(|s| SkippedView {
                path: s.path,
                reason: s.reason.to_string(),
            })
            .collect(),
        files_read: dataset.files_read,
        functions: dataset.functions,
        config,
    }
}

/// The answer for imported tasks: as given, in file order (a task's `index` is its line among the
/// tasks, as in `infill eval`); `files_read` counts distinct paths and `functions` distinct
/// (path, function, start line) spans.
fn imported_event(id: u32, tasks: Vec<Task>) -> Event {
    let paths: std::collections::BTreeSet<&str> = tasks.iter().map(|t| t.path.as_str()).collect();
    let functions: std::collections::BTreeSet<(&str, &str, usize)> = tasks
        .iter()
        .map(|t| (t.path.as_str(), t.function.as_str(), t.start_line))
        .collect();
    let (files_read, functions) = (paths.len(), functions.len());
    Event::Dataset {
        id,
        tasks,
        skipped: Vec::new(),
        files_read,
        functions,
        config: DatasetConfig::default(),
    }
}

/// Answers a [`Request::Summarize`]: scores are recomputed from each pair, as `infill merge` does.
fn summary_event(request: Request) -> Event {
    let Request::Summarize { id, groups, seed } = request else {
        return Event::Error {
            id: None,
            message: "summarize expects a `summarize` request".into(),
        };
    };
    let summaries = groups
        .into_iter()
        .map(|group| {
            let scored: Vec<(String, String, metrics::Scores)> = group
                .pairs
                .into_iter()
                .map(|p| {
                    let scores = metrics::score(&p.hypothesis, &p.reference);
                    (p.hypothesis, p.reference, scores)
                })
                .collect();
            NamedSummary {
                name: group.name,
                summary: report::summarize(&scored, seed),
            }
        })
        .collect();
    Event::Summary { id, summaries }
}

#[wasm_bindgen]
impl WorkerEngine {
    /// Answers a `dataset` request with a `dataset` event (or an `error`).
    pub fn dataset(&self, request: JsValue) -> JsValue {
        let id = request_id(&request);
        match serde_wasm_bindgen::from_value(request) {
            Ok(request) => to_js(&dataset_event(request)),
            Err(e) => error(id, format!("malformed dataset request: {e}")),
        }
    }

    /// Answers a `summarize` request with a `summary` event (or an `error`).
    pub fn summarize(&self, request: JsValue) -> JsValue {
        let id = request_id(&request);
        match serde_wasm_bindgen::from_value(request) {
            Ok(request) => to_js(&summary_event(request)),
            Err(e) => error(id, format!("malformed summarize request: {e}")),
        }
    }
}
