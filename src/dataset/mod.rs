//! Any folder of Python becomes a reproducible fill-in-the-middle benchmark.
//!
//! Every function of every file (as CPython's `ast` sees it) gives one task, or one per line: a
//! line of the function is hidden, and the task holds the code before it (`prefix`), the line itself
//! (`middle`) and the code after it (`suffix`), split as [`crate::prompt::mask_line`] splits a file.
//!
//! The pipeline, one submodule a stage:
//! 1. [`functions`]: decode a file and find its functions ([`extract_functions`]); bad files are
//!    [`SkipReason`]s, not errors.
//! 2. `nesting`: refuse files nested deeper than the parser's stack allows.
//! 3. `mask`: draw the hidden lines (seeded, platform-independent) and split the code.
//! 4. [`jsonl`]: tasks to and from JSON Lines.
//! 5. [`easy40`]: the built-in Easy 40 set.
//! 6. `cli` (native only): walk a directory for `infill functions` and `infill dataset`.
//!
//! The core takes `(path, bytes)` pairs and reads no files, no clock and no thread, so it runs the
//! same in the browser.
//!
//! ```
//! use infill::dataset::{build_dataset, DatasetConfig};
//! let files = vec![("a.py".to_string(), b"def f(x):\n    y = x + 1\n    return y\n".to_vec())];
//! let dataset = build_dataset(&files, &DatasetConfig::default());
//! let task = &dataset.tasks[0];
//! assert_eq!(format!("{}{}{}", task.prefix, task.middle, task.suffix), "def f(x):\n    y = x + 1\n    return y\n");
//! assert!(task.masked_line == 2 || task.masked_line == 3);
//! ```

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod easy40;
pub mod functions;
pub mod jsonl;
mod mask;
pub(crate) use mask::SplitMix64;
mod nesting;

use serde::{Deserialize, Serialize};

pub use easy40::easy40_tasks;
pub use functions::{
    extract_functions, extract_functions_with_cap, FunctionSpan, SkipReason, DEFAULT_MAX_FILE_BYTES,
};
pub use jsonl::{tasks_from_jsonl, tasks_to_jsonl, JsonlError};
pub use nesting::{MAX_BRACKET_DEPTH, MAX_INDENT_LEVELS, MAX_OPERATOR_CHAIN};

/// One fill-in-the-middle task: a hidden line of a function.
///
/// `prefix + middle + suffix` is the function's own lines ([`Context::Function`]) or the whole file
/// ([`Context::File`]), byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identifier: `path:function:start_line:masked_line`.
    pub id: String,
    /// The file's path, as given (relative, `/`-separated in the CLI).
    pub path: String,
    /// The function's name.
    pub function: String,
    /// The function's first line (of its `def` keyword), 1-based, in the file.
    pub start_line: usize,
    /// The function's last line, 1-based, in the file.
    pub end_line: usize,
    /// The hidden line, 1-based, in the file.
    pub masked_line: usize,
    /// Everything before the hidden line, line terminators included.
    pub prefix: String,
    /// The hidden line, without its terminator.
    pub middle: String,
    /// The hidden line's terminator and everything after it.
    pub suffix: String,
}

/// A file that gave no tasks, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file's path, as given.
    pub path: String,
    /// Why it was skipped; its `Display` text is the message for users.
    pub reason: SkipReason,
}

/// How many lines of each function are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskMode {
    /// One line per function, drawn uniformly among its candidate lines.
    #[default]
    OneRandom,
    /// Every candidate line, each its own task.
    EveryLine,
}

/// How much code surrounds the hidden line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    /// The function's own lines, from its `def` line to its last line (with that line's
    /// terminator).
    #[default]
    Function,
    /// The whole file.
    File,
}

impl Context {
    /// Reads the name used on the command line and in settings: `function` or `file`.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "function" => Ok(Context::Function),
            "file" => Ok(Context::File),
            other => Err(format!(
                "unknown context `{other}`: expected `function` or `file`"
            )),
        }
    }
}

/// What a dataset is built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// Seed of the line draw; the same seed and files give byte-identical tasks.
    pub seed: u64,
    /// One random line per function, or every line.
    pub mode: MaskMode,
    /// The code around the hidden line.
    pub context: Context,
    /// Files larger than this many bytes are skipped.
    pub max_file_bytes: usize,
}

impl Default for DatasetConfig {
    /// Seed 0, one random line, function context, 1 MiB cap.
    fn default() -> Self {
        DatasetConfig {
            seed: 0,
            mode: MaskMode::OneRandom,
            context: Context::Function,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// A built dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// The tasks, by path, then function start line, then hidden line.
    pub tasks: Vec<Task>,
    /// The files that were skipped, by path, with their reasons.
    pub skipped: Vec<SkippedFile>,
    /// How many files were parsed (skipped files not included).
    pub files_read: usize,
    /// How many functions those files hold (some may have no candidate line, hence no task).
    pub functions: usize,
}

/// Builds the tasks of a set of files. Files are taken in path order whatever the input order;
/// bad files are skipped with a reason and the others go on.
pub fn build_dataset(files: &[(String, Vec<u8>)], config: &DatasetConfig) -> Dataset {
    let mut order: Vec<&(String, Vec<u8>)> = files.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dataset = Dataset {
        tasks: Vec::new(),
        skipped: Vec::new(),
        files_read: 0,
        functions: 0,
    };
    let mut previous: Option<&str> = None;
    for (path, bytes) in order {
        if previous == Some(path.as_str()) {
            dataset.skipped.push(SkippedFile {
                path: path.clone(),
                reason: SkipReason::DuplicatePath,
            });
            continue;
        }
        previous = Some(path.as_str());
        let parsed = functions::decode(bytes, config.max_file_bytes)
            .and_then(|source| Ok((functions::parse_functions(path, &source)?, source)));
        match parsed {
            Ok((found, source)) => {
                dataset.files_read += 1;
                dataset.functions += found.len();
                for function in &found {
                    dataset
                        .tasks
                        .extend(mask::function_tasks(&source, function, config));
                }
            }
            Err(reason) => dataset.skipped.push(SkippedFile {
                path: path.clone(),
                reason,
            }),
        }
    }
    dataset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, code: &str) -> (String, Vec<u8>) {
        (path.to_string(), code.as_bytes().to_vec())
    }

    #[test]
    fn candidates_skip_signature_blank_and_comment_lines() {
        let code = "def f(\n    a,\n):\n    # note\n\n    x = a\n    return x\n";
        let every = DatasetConfig {
            mode: MaskMode::EveryLine,
            ..DatasetConfig::default()
        };
        let lines: Vec<usize> = build_dataset(&[file("a.py", code)], &every)
            .tasks
            .iter()
            .map(|t| t.masked_line)
            .collect();
        assert_eq!(lines, [6, 7]);
    }

    #[test]
    fn function_context_is_the_functions_own_lines() {
        let code = "import os\n\n@dec\ndef f():\n    return 1\n\nx = 2\n";
        let tasks = build_dataset(&[file("a.py", code)], &DatasetConfig::default()).tasks;
        assert_eq!(tasks.len(), 1);
        let t = &tasks[0];
        assert_eq!(
            (t.prefix.as_str(), t.middle.as_str(), t.suffix.as_str()),
            ("def f():\n", "    return 1", "\n")
        );
        assert_eq!(t.id, "a.py:f:4:5");
        let file_context = DatasetConfig {
            context: Context::File,
            ..DatasetConfig::default()
        };
        let t = &build_dataset(&[file("a.py", code)], &file_context).tasks[0];
        assert_eq!(format!("{}{}{}", t.prefix, t.middle, t.suffix), code);
        assert_eq!(t.middle, "    return 1");
    }

    #[test]
    fn one_line_functions_have_no_candidates_but_count() {
        let d = build_dataset(
            &[file("a.py", "def f(): return 1\n")],
            &DatasetConfig::default(),
        );
        assert_eq!((d.tasks.len(), d.functions, d.files_read), (0, 1, 1));
    }

    #[test]
    fn duplicate_paths_keep_the_first_in_input_order() {
        let d = build_dataset(
            &[
                file("a.py", "def f():\n    return 1\n"),
                file("a.py", "def g():\n    return 2\n"),
            ],
            &DatasetConfig::default(),
        );
        assert_eq!(d.tasks[0].function, "f");
        assert_eq!(d.skipped[0].reason, SkipReason::DuplicatePath);
    }

    #[test]
    fn context_names_are_checked() {
        assert_eq!(Context::from_name("file"), Ok(Context::File));
        assert!(Context::from_name("module")
            .unwrap_err()
            .contains("`module`"));
    }
}
