//! Finding every function of a Python file, with the line numbers CPython's `ast` module reports.
//!
//! A file goes through four gates before it is parsed, each of which can skip it with a
//! [`SkipReason`]: the size cap, a NUL byte (binary files), UTF-8 decoding, and classic-Mac line
//! endings. A leading UTF-8 byte order mark is removed. Then [`nesting`](super::nesting) refuses
//! files nested beyond CPython's own limits (so the parser cannot run out of stack), and ruff's
//! parser (`ruff_python_parser`) builds the syntax tree.
//!
//! Every `def` and `async def` counts, at any depth. A span runs from the line of the `def` keyword
//! (of `async` for `async def`), never a decorator's line, to the last line of the body: CPython's
//! `lineno` and `end_lineno`.
//!
//! The parser's node types live in `ruff_python_ast`, which is not a direct dependency of this
//! crate: the tree is reached through the values `ruff_python_parser` returns, their fields and
//! their inherent `as_*_stmt` methods, so the walk below names no AST type.

use serde::{Deserialize, Serialize};

use super::nesting;

/// The default size cap on one file: 1 MiB.
pub const DEFAULT_MAX_FILE_BYTES: usize = 1 << 20;

/// One function of a file, as CPython's `ast` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpan {
    /// The file's path, as given.
    pub path: String,
    /// The function's name.
    pub name: String,
    /// The 1-based line of the `def` (or `async`) keyword: CPython's `lineno`.
    pub start_line: usize,
    /// The 1-based last line of the body: CPython's `end_lineno`.
    pub end_line: usize,
}

/// Why a file was skipped. The `Display` text is the message shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The file is larger than the size cap.
    #[error("the file has {size} bytes, over the size cap of {limit} bytes (raise the cap to include it)")]
    TooLarge {
        /// The file's size in bytes.
        size: usize,
        /// The cap in force.
        limit: usize,
    },
    /// The file holds a NUL byte: a binary file, or text in UTF-16/UTF-32.
    #[error("binary file: NUL byte at byte offset {offset}")]
    Binary {
        /// Offset of the first NUL byte.
        offset: usize,
    },
    /// The file is not valid UTF-8.
    #[error("not UTF-8 text: invalid byte at line {line} (byte offset {offset})")]
    NotUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A carriage return not followed by a line feed: Python counts it as a line break, while
    /// the masking split counts only line feeds, so line numbers would disagree.
    #[error(
        "line {line} ends in a lone carriage return (classic Mac line endings are not supported)"
    )]
    LoneCarriageReturn {
        /// 1-based line (counting line feeds) of the first lone carriage return.
        line: usize,
    },
    /// Brackets, indentation or an operator chain nested deeper than the limit; see
    /// [`nesting`](super::nesting).
    #[error("line {line}: {what}")]
    TooDeep {
        /// 1-based line where the limit was passed.
        line: usize,
        /// What was nested too deeply.
        what: String,
    },
    /// The parser rejected the file: a syntax error, Python 2 code, bad indentation.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The file could not be read from disk (command line only).
    #[error("could not read the file: {message}")]
    Unreadable {
        /// The operating system's message.
        message: String,
    },
    /// The same path was given twice; the first copy was used.
    #[error("duplicate path: only the first file with this path was read")]
    DuplicatePath,
}

/// A decoded file: its text and where each line starts.
#[derive(Debug, Clone)]
pub(crate) struct SourceText {
    /// The text, without a leading byte order mark.
    pub text: String,
    /// Byte offset of the start of each line; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
}

impl SourceText {
    /// Indexes the lines of `text` (line feeds end lines).
    pub fn new(text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceText { text, line_starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// Byte range of lines `first..=last` (1-based), the last line's terminator included.
    pub fn lines_range(&self, first: usize, last: usize) -> std::ops::Range<usize> {
        let start = self
            .line_starts
            .get(first.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(last)
            .copied()
            .unwrap_or(self.text.len());
        start..end.max(start)
    }

    /// Line `line` (1-based) without its terminator (`\n` or `\r\n`); empty past the end.
    pub fn line(&self, line: usize) -> &str {
        let range = self.lines_range(line, line);
        let text = self.text.get(range).unwrap_or("");
        let text = text.strip_suffix('\n').unwrap_or(text);
        text.strip_suffix('\r').unwrap_or(text)
    }
}

/// A function together with what masking needs beyond its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionInfo {
    /// The span reported to users.
    pub span: FunctionSpan,
    /// The line holding the colon that ends the signature.
    pub signature_end_line: usize,
}

/// Checks a file's bytes and decodes them: size cap, NUL bytes, UTF-8, lone carriage returns.
/// A leading byte order mark is dropped.
pub(crate) fn decode(bytes: &[u8], max_file_bytes: usize) -> Result<SourceText, SkipReason> {
    if bytes.len() > max_file_bytes {
        return Err(SkipReason::TooLarge {
            size: bytes.len(),
            limit: max_file_bytes,
        });
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(SkipReason::Binary { offset });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        SkipReason::NotUtf8 {
            line: 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count(),
            offset,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let b = text.as_bytes();
    if let Some(i) = (0..b.len()).find(|&i| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')) {
        return Err(SkipReason::LoneCarriageReturn {
            line: 1 + b[..i].iter().filter(|&&c| c == b'\n').count(),
        });
    }
    Ok(SourceText::new(text.to_string()))
}

/// Every function of a file, sorted by start line, with the data masking needs.
pub(crate) fn parse_functions(
    path: &str,
    source: &SourceText,
) -> Result<Vec<FunctionInfo>, SkipReason> {
    let text = source.text.as_str();
    nesting::check(text)?;
    let parsed = ruff_python_parser::parse_module(text).map_err(|e| {
        let offset = e.location.start().to_usize().min(text.len());
        let line = source.line_of(offset);
        let line_start = source.lines_range(line, line).start;
        let column = 1 + text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count());
        SkipReason::Syntax {
            line,
            column,
            message: e.error.to_string(),
        }
    })?;
    let tokens = &parsed.tokens()[..];
    // (kind as text, start, end) of token `i`. Kinds are compared through their `Display` text,
    // which is what the parser's own error messages use ("`def`", "`:`", ...).
    let token = |i: usize| {
        tokens.get(i).map(|t| {
            let (kind, range) = t.as_tuple();
            (kind.to_string(), range.start().to_usize())
        })
    };
    let first_token_at =
        |offset: usize| tokens.partition_point(|t| t.as_tuple().1.start().to_usize() < offset);

    let mut functions = Vec::new();
    let mut pending = vec![&parsed.syntax().body[..]];
    while let Some(body) = pending.pop() {
        for stmt in body {
            if let Some(f) = stmt.as_function_def_stmt() {
                pending.push(&f.body[..]);
                let name_start = f.name.range.start().to_usize();
                // The `def` keyword is the token before the name, `async` the one before that.
                let at_name = first_token_at(name_start);
                let keyword = if f.is_async {
                    at_name.checked_sub(2)
                } else {
                    at_name.checked_sub(1)
                };
                let expected = if f.is_async { "`async`" } else { "`def`" };
                let def_offset = match keyword.and_then(token) {
                    Some((kind, start)) if kind == expected => start,
                    _ => f.range.start().to_usize(),
                };
                // The signature ends at the first `:` at bracket depth 0 after the parameters,
                // skipping the colons of lambdas in the return annotation.
                let mut depth = 0usize;
                let mut lambdas = 0usize;
                let mut colon = None;
                let mut i = first_token_at(f.parameters.range.end().to_usize());
                while let Some((kind, start)) = token(i) {
                    match kind.as_str() {
                        "`(`" | "`[`" | "`{`" => depth += 1,
                        "`)`" | "`]`" | "`}`" => depth = depth.saturating_sub(1),
                        "`lambda`" if depth == 0 => lambdas += 1,
                        "`:`" if depth == 0 && lambdas > 0 => lambdas -= 1,
                        "`:`" if depth == 0 => {
                            colon = Some(start);
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let start_line = source.line_of(def_offset);
                let end_line = source.line_of(f.range.end().to_usize().saturating_sub(1));
                functions.push(FunctionInfo {
                    span: FunctionSpan {
                        path: path.to_string(),
                        name: f.name.as_str().to_string(),
                        start_line,
                        end_line: end_line.max(start_line),
                    },
                    signature_end_line: colon.map_or(start_line, |c| source.line_of(c)),
                });
            } else if let Some(c) = stmt.as_class_def_stmt() {
                pending.push(&c.body[..]);
            } else if let Some(s) = stmt.as_for_stmt() {
                pending.extend([&s.body[..], &s.orelse[..]]);
            } else if let Some(s) = stmt.as_while_stmt() {
                pending.extend([&s.body[..], &s.orelse[..]]);
            } else if let Some(s) = stmt.as_if_stmt() {
                pending.push(&s.body[..]);
                pending.extend(s.elif_else_clauses.iter().map(|c| &c.body[..]));
            } else if let Some(s) = stmt.as_with_stmt() {
                pending.push(&s.body[..]);
            } else if let Some(s) = stmt.as_match_stmt() {
                pending.extend(s.cases.iter().map(|c| &c.body[..]));
            } else if let Some(s) = stmt.as_try_stmt() {
                pending.extend([&s.body[..], &s.orelse[..], &s.finalbody[..]]);
                pending.extend(
                    s.handlers
                        .iter()
                        .filter_map(|h| h.as_except_handler())
                        .map(|h| &h.body[..]),
                );
            }
        }
    }
    functions.sort_by(|a, b| {
        (a.span.start_line, a.span.end_line, &a.span.name).cmp(&(
            b.span.start_line,
            b.span.end_line,
            &b.span.name,
        ))
    });
    Ok(functions)
}

/// Every function (`def` and `async def`, at any depth) of one Python file, sorted by start line,
/// with the default size cap ([`DEFAULT_MAX_FILE_BYTES`]).
///
/// ```
/// let spans = infill::dataset::extract_functions("m.py", b"@dec\ndef f():\n    return 1\n").unwrap();
/// assert_eq!((spans[0].name.as_str(), spans[0].start_line, spans[0].end_line), ("f", 2, 3));
/// ```
pub fn extract_functions(path: &str, bytes: &[u8]) -> Result<Vec<FunctionSpan>, SkipReason> {
    extract_functions_with_cap(path, bytes, DEFAULT_MAX_FILE_BYTES)
}

/// [`extract_functions`] with a size cap of `max_file_bytes`.
pub fn extract_functions_with_cap(
    path: &str,
    bytes: &[u8],
    max_file_bytes: usize,
) -> Result<Vec<FunctionSpan>, SkipReason> {
    let source = decode(bytes, max_file_bytes)?;
    Ok(parse_functions(path, &source)?
        .into_iter()
        .map(|f| f.span)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(code: &str) -> Vec<(String, usize, usize, usize)> {
        let source = decode(code.as_bytes(), DEFAULT_MAX_FILE_BYTES).unwrap();
        parse_functions("t.py", &source)
            .unwrap()
            .into_iter()
            .map(|f| {
                (
                    f.span.name,
                    f.span.start_line,
                    f.span.end_line,
                    f.signature_end_line,
                )
            })
            .collect()
    }

    #[test]
    fn decorated_async_and_continued_def_lines_are_the_keyword_lines() {
        let code = "@a\n# c\n@b(1)\nasync \\\n  def f():\n    pass\n@c\ndef \\\n g(): pass\n";
        assert_eq!(spans(code), [("f".into(), 4, 6, 5), ("g".into(), 8, 9, 9)]);
    }

    #[test]
    fn signature_end_skips_annotation_colons() {
        let code = "def f(\n    a: int,\n) -> dict[\n  'x:y', 1:2\n]:\n    return a\n\ndef g() -> (lambda: 1) : pass\n";
        assert_eq!(spans(code), [("f".into(), 1, 6, 5), ("g".into(), 8, 8, 8)]);
    }

    #[test]
    fn lines_and_ranges_follow_line_feeds() {
        let s = SourceText::new("a\r\nb\n\nc".to_string());
        assert_eq!(
            (s.line(1), s.line(2), s.line(3), s.line(4), s.line(5)),
            ("a", "b", "", "c", "")
        );
        assert_eq!(&s.text[s.lines_range(2, 3)], "b\n\n");
        assert_eq!((s.line_of(0), s.line_of(3), s.line_of(7)), (1, 2, 4));
    }

    #[test]
    fn gates_give_their_reasons() {
        assert_eq!(
            decode(b"x = 1\n", 3).unwrap_err(),
            SkipReason::TooLarge { size: 6, limit: 3 }
        );
        assert_eq!(
            decode(b"ab\0", 9).unwrap_err(),
            SkipReason::Binary { offset: 2 }
        );
        assert_eq!(
            decode(b"a\nb\xff", 9).unwrap_err(),
            SkipReason::NotUtf8 { line: 2, offset: 3 }
        );
        assert_eq!(
            decode(b"a\r\nb\rc", 9).unwrap_err(),
            SkipReason::LoneCarriageReturn { line: 2 }
        );
        assert_eq!(decode(b"\xef\xbb\xbfx", 9).unwrap().text, "x");
    }
}
