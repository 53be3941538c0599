//! Nesting limits, checked with a quick scan before a file is parsed.
//!
//! The parser is recursive descent: each nested bracket, indented block or chained prefix operator
//! costs stack. Natively it grows its stack on demand, but in the browser (wasm32) the stack is
//! fixed at 1 MiB, and running out of it kills the engine instead of returning an error. So files
//! nested beyond these limits are skipped first:
//! - more than [`MAX_BRACKET_DEPTH`] open brackets, CPython's own limit ("too many nested
//!   parentheses");
//! - more than [`MAX_INDENT_LEVELS`] levels of indentation, CPython's own limit ("too many levels
//!   of indentation");
//! - more than [`MAX_OPERATOR_CHAIN`] nesting operators in one statement (unary `-`, `+`, `~` in a
//!   row, or `not`, `await`, `lambda`, `**`, `else` anywhere in it). CPython stops near 3000 nested
//!   operators; real code stays far below both numbers.
//!
//! The scan knows comments, strings (triple-quoted ones included) and line continuations, but not
//! every corner of the grammar: it only has to be right about depth, and the parser judges syntax.

use super::functions::SkipReason;

/// At most this many brackets may be open at once (CPython's `MAXLEVEL`).
pub const MAX_BRACKET_DEPTH: usize = 200;
/// At most this many indentation levels (CPython's `MAXINDENT` is 100, counting the outer level).
pub const MAX_INDENT_LEVELS: usize = 99;
/// At most this many nesting operators in one statement.
pub const MAX_OPERATOR_CHAIN: usize = 1000;

/// Fails with [`SkipReason::TooDeep`] where `text` is nested beyond the limits.
pub(crate) fn check(text: &str) -> Result<(), SkipReason> {
    let b = text.as_bytes();
    let too_deep = |line: usize, what: String| Err(SkipReason::TooDeep { line, what });
    let mut i = 0;
    let mut line = 1;
    let mut depth = 0usize;
    let mut indents = vec![0usize];
    let mut line_start = true;
    // Operators counted in the current statement, the current run of unary ones, and whether the
    // last thing seen was an operand (so a `-` after it is binary).
    let mut statement_ops = 0usize;
    let mut unary_run = 0usize;
    let mut after_operand = false;
    while i < b.len() {
        if line_start {
            line_start = false;
            let mut column = 0;
            while let Some(&c) = b.get(i) {
                match c {
                    b' ' => column += 1,
                    b'\t' => column = (column / 8 + 1) * 8,
                    b'\x0c' => column = 0,
                    _ => break,
                }
                i += 1;
            }
            if !matches!(b.get(i), None | Some(b'\n' | b'\r' | b'#')) {
                if column > indents.last().copied().unwrap_or(0) {
                    indents.push(column);
                    if indents.len() - 1 > MAX_INDENT_LEVELS {
                        return too_deep(
                            line,
                            format!("more than {MAX_INDENT_LEVELS} levels of indentation"),
                        );
                    }
                } else {
                    while indents.len() > 1 && indents.last().is_some_and(|&top| top > column) {
                        indents.pop();
                    }
                }
            }
            continue;
        }
        let c = b[i];
        let mut operator = false;
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' => {
                line += 1;
                if depth == 0 {
                    line_start = true;
                    statement_ops = 0;
                    unary_run = 0;
                    after_operand = false;
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                line += 1;
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => {
                i += 3;
                line += 1;
                continue;
            }
            b'\'' | b'"' => {
                let triple = b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    match b[i] {
                        b'\\' => {
                            // An escaped character, or an escaped line break (`\r\n` included).
                            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                                i += 1;
                            }
                            if b.get(i + 1) == Some(&b'\n') {
                                line += 1;
                            }
                            i += 2;
                            continue;
                        }
                        b'\n' if !triple => break,
                        b'\n' => line += 1,
                        q if q == c
                            && (!triple
                                || (b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c))) =>
                        {
                            i += if triple { 3 } else { 1 };
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                after_operand = true;
                unary_run = 0;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return too_deep(
                        line,
                        format!("more than {MAX_BRACKET_DEPTH} nested brackets"),
                    );
                }
                after_operand = false;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                after_operand = true;
                unary_run = 0;
            }
            b'-' | b'+' | b'~' if !after_operand => {
                unary_run += 1;
                operator = true;
            }
            b'*' if b.get(i + 1) == Some(&b'*') => {
                statement_ops += 1;
                operator = true;
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                // A string prefix (`f"..."`, `rb'...'`): the string itself comes next.
                if matches!(b.get(i), Some(b'\'' | b'"')) && i - start <= 2 {
                    continue;
                }
                match &b[start..i] {
                    b"not" | b"await" => {
                        statement_ops += 1;
                        after_operand = false;
                    }
                    b"lambda" | b"else" => {
                        statement_ops += 1;
                        after_operand = false;
                        unary_run = 0;
                    }
                    b"and" | b"or" | b"in" | b"is" | b"if" | b"return" | b"yield" => {
                        after_operand = false;
                        unary_run = 0;
                    }
                    _ => {
                        after_operand = true;
                        unary_run = 0;
                    }
                }
                if unary_run + statement_ops > MAX_OPERATOR_CHAIN {
                    return too_deep(
                        line,
                        format!(
                            "more than {MAX_OPERATOR_CHAIN} nesting operators in one statement"
                        ),
                    );
                }
                continue;
            }
            b' ' | b'\t' | b'\x0c' | b'\r' => {}
            _ => {
                after_operand = false;
                unary_run = 0;
            }
        }
        if operator && unary_run + statement_ops > MAX_OPERATOR_CHAIN {
            return too_deep(
                line,
                format!("more than {MAX_OPERATOR_CHAIN} nesting operators in one statement"),
            );
        }
        if operator {
            after_operand = false;
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what(text: &str) -> Option<(usize, String)> {
        match check(text) {
            Err(SkipReason::TooDeep { line, what }) => Some((line, what)),
            _ => None,
        }
    }

    #[test]
    fn brackets_stop_past_cpythons_limit() {
        let code = |n: usize| format!("x = 1\ny = {}1{}\n", "(".repeat(n), ")".repeat(n));
        assert_eq!(what(&code(200)), None);
        assert_eq!(
            what(&code(201)),
            Some((2, "more than 200 nested brackets".into()))
        );
        // Brackets inside strings and comments do not count.
        let quoted = format!("s = '{0}'\nt = \"\"\"\n{0}\"\"\"  # {0}\n", "(".repeat(300));
        assert_eq!(what(&quoted), None);
    }

    #[test]
    fn indentation_stops_past_cpythons_limit() {
        let code = |n: usize| {
            let mut s: String = (0..n)
                .map(|i| format!("{}if 1:\n", " ".repeat(i)))
                .collect();
            s.push_str(&" ".repeat(n));
            s.push_str("pass\n");
            s
        };
        assert_eq!(what(&code(99)), None);
        assert_eq!(
            what(&code(100)),
            Some((101, "more than 99 levels of indentation".into()))
        );
        // Blank and comment lines, and continuation lines, do not open levels.
        assert_eq!(what("if 1:\n        # c\n\n  x = (1,\n      2)\n"), None);
    }

    #[test]
    fn operator_chains_stop_at_the_limit_but_lists_of_negatives_pass() {
        let chain = |op: &str, n: usize| format!("x = {}1\n", op.repeat(n));
        for op in ["-", "~", "not ", "lambda: ", "2**", "1 if y else "] {
            assert_eq!(what(&chain(op, MAX_OPERATOR_CHAIN)), None, "{op}");
            assert!(what(&chain(op, MAX_OPERATOR_CHAIN + 1)).is_some(), "{op}");
        }
        let negatives: String = (0..5000).map(|i| format!("-{i}, ")).collect();
        assert_eq!(what(&format!("x = [{negatives}]\ny = a - b - c\n")), None);
    }
}
