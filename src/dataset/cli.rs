//! The directory side of `infill functions DIR` and `infill dataset DIR` (native builds only):
//! walking the folder, and formatting what the core returns. `src/main.rs` prints the output.

use std::path::Path;

use super::{
    build_dataset, extract_functions, tasks_to_jsonl, Context, DatasetConfig, MaskMode, SkipReason,
    SkippedFile, DEFAULT_MAX_FILE_BYTES,
};

/// What a command prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CliOutput {
    /// For standard output: the JSON lines.
    pub stdout: String,
    /// For standard error: the summary and the skipped files with their reasons.
    pub stderr: String,
}

/// The Python files of a folder, read.
#[derive(Debug, Clone, Default)]
pub struct PythonFiles {
    /// (path relative to the folder with `/` separators, bytes), sorted by path.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files that could not be read, sorted by path.
    pub unreadable: Vec<SkippedFile>,
}

/// Every `*.py` file under `dir`, recursively. Symbolic links to files are followed, links to
/// directories are not (so a link cannot make the walk loop). Fails only when a folder cannot be
/// listed.
pub fn read_python_files(dir: &Path) -> Result<PythonFiles, String> {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", folder.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{relative}/")));
                continue;
            }
            let is_file = kind.is_file() || (kind.is_symlink() && entry.path().is_file());
            if !is_file || !name.ends_with(".py") {
                continue;
            }
            match std::fs::read(entry.path()) {
                Ok(bytes) => files.push((relative, bytes)),
                Err(e) => unreadable.push(SkippedFile {
                    path: relative,
                    reason: SkipReason::Unreadable {
                        message: e.to_string(),
                    },
                }),
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(PythonFiles { files, unreadable })
}

/// The skipped files as lines for standard error.
fn skipped_lines(skipped: &[SkippedFile]) -> String {
    skipped
        .iter()
        .map(|s| format!("  skipped {}: {}\n", s.path, s.reason))
        .collect()
}

/// `infill functions DIR`: one JSON line per function (`path`, `name`, `start_line`,
/// `end_line`), files in path order, functions by start line.
pub fn run_functions_cli(dir: &Path) -> Result<CliOutput, String> {
    let PythonFiles {
        files,
        unreadable: mut skipped,
    } = read_python_files(dir)?;
    let mut out = CliOutput::default();
    let (mut read, mut functions) = (0, 0);
    for (path, bytes) in &files {
        match extract_functions(path, bytes) {
            Ok(spans) => {
                read += 1;
                functions += spans.len();
                for span in spans {
                    out.stdout
                        .push_str(&serde_json::to_string(&span).map_err(|e| e.to_string())?);
                    out.stdout.push('\n');
                }
            }
            Err(reason) => skipped.push(SkippedFile {
                path: path.clone(),
                reason,
            }),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    out.stderr = format!(
        "{read} files read, {functions} functions; {} files skipped\n{}",
        skipped.len(),
        skipped_lines(&skipped)
    );
    Ok(out)
}

/// Turns the command line's options into a [`DatasetConfig`]: `context` is `function` or `file`,
/// and a missing `max_file_bytes` means [`DEFAULT_MAX_FILE_BYTES`].
pub fn dataset_config(
    seed: u64,
    every_line: bool,
    context: &str,
    max_file_bytes: Option<usize>,
) -> Result<DatasetConfig, String> {
    Ok(DatasetConfig {
        seed,
        mode: if every_line {
            MaskMode::EveryLine
        } else {
            MaskMode::OneRandom
        },
        context: Context::from_name(context)?,
        max_file_bytes: max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
    })
}

/// `infill dataset DIR`: the tasks as JSON Lines, and a summary with the skipped files.
pub fn run_dataset_cli(dir: &Path, config: &DatasetConfig) -> Result<CliOutput, String> {
    let PythonFiles { files, unreadable } = read_python_files(dir)?;
    let dataset = build_dataset(&files, config);
    let mut skipped = unreadable;
    skipped.extend(dataset.skipped);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(CliOutput {
        stdout: tasks_to_jsonl(&dataset.tasks),
        stderr: format!(
            "{} files read, {} functions, {} tasks; {} files skipped\n{}",
            dataset.files_read,
            dataset.functions,
            dataset.tasks.len(),
            skipped.len(),
            skipped_lines(&skipped)
        ),
    })
}
