//! Tasks as JSON Lines: one task object a line, with the fields of [`Task`] in order.

use super::Task;

/// A line of a JSONL file that is not a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct JsonlError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Writes tasks as JSON Lines, each line ended by `\n`.
pub fn tasks_to_jsonl(tasks: &[Task]) -> String {
    let mut out = String::new();
    for task in tasks {
        // A `Task` holds only strings and integers, so serialising it cannot fail.
        if let Ok(line) = serde_json::to_string(task) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Reads tasks from JSON Lines. Blank lines are ignored; any other line must be a task.
pub fn tasks_from_jsonl(text: &str) -> Result<Vec<Task>, JsonlError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| JsonlError {
                line: n + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let good = tasks_to_jsonl(&[Task {
            id: "a.py:f:1:2".into(),
            path: "a.py".into(),
            function: "f".into(),
            start_line: 1,
            end_line: 2,
            masked_line: 2,
            prefix: "def f():\n".into(),
            middle: "    return 1".into(),
            suffix: "\n".into(),
        }]);
        let text = format!("{good}\n{{\"id\": 3}}\n");
        let err = tasks_from_jsonl(&text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }
}
