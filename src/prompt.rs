//! Masking a line of code and turning the rest into a prompt.
//!
//! **The split.** Masking line `n` (1-based) of `code` gives three strings with
//! `prefix + middle + suffix == code`, byte for byte:
//! - `prefix`: every line before line `n`, each with its line terminator;
//! - `middle`: line `n` itself, indentation included, *without* its terminator;
//! - `suffix`: line `n`'s terminator (if any) followed by every later line.
//!
//! **Formats.** A model with FIM tokens gets `prefix` and `suffix` around its sentinel tokens, in PSM
//! order (or SPM on request). A model without them (SmolLM2) sees only `prefix`. Then the prompt ends in a newline, which is the
//! middle of a token: the model has almost always seen "newline + indentation" as one token. Token healing
//! removes the trailing newline from the prompt and makes the first generated token start with it.

use serde::{Deserialize, Serialize};

use crate::error::{InfillError, Result};
use crate::generation::LineConstraint;
use crate::tokenizer::TextTokenizer;

/// A line hidden from a piece of code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedLine {
    /// Everything before the hidden line.
    pub prefix: String,
    /// The hidden line, without its line terminator.
    pub middle: String,
    /// The hidden line's terminator and everything after it.
    pub suffix: String,
}

/// Hides line `line` (1-based) of `code`. Fails on a line number past the end.
pub fn mask_line(code: &str, line: usize) -> Result<MaskedLine> {
    if line == 0 {
        return Err(InfillError::Input("line numbers start at 1".into()));
    }
    let mut start = 0;
    for _ in 1..line {
        match code[start..].find('\n') {
            Some(i) => start += i + 1,
            None => {
                return Err(InfillError::Input(format!(
                    "line {line} does not exist: the code has {} lines",
                    code.lines().count()
                )))
            }
        }
    }
    if start >= code.len() && line > 1 {
        return Err(InfillError::Input(format!(
            "line {line} does not exist: the code has {} lines",
            code.lines().count()
        )));
    }
    let rest = &code[start..];
    let mut end = start + rest.find('\n').unwrap_or(rest.len());
    if end > start && code.as_bytes()[end - 1] == b'\r' && end < code.len() {
        end -= 1;
    }
    Ok(MaskedLine {
        prefix: code[..start].to_string(),
        middle: code[start..end].to_string(),
        suffix: code[end..].to_string(),
    })
}

/// The FIM tokens a model family was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FimFormat {
    /// No FIM tokens: the prompt is the prefix alone.
    None,
    /// No FIM tokens: the prefix alone, after a Markdown code-fence opening (```` ```python ````), the
    /// framing chat-tuned models see code in. Never detected; asked for with the `fence` format.
    Fence,
    /// StarCoder: `<fim_prefix>…<fim_suffix>…<fim_middle>`.
    StarCoder,
    /// SantaCoder: `<fim-prefix>…<fim-suffix>…<fim-middle>`.
    SantaCoder,
    /// Qwen2.5-Coder: `<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`.
    Qwen,
    /// DeepSeek-Coder: `<｜fim▁begin｜>…<｜fim▁hole｜>…<｜fim▁end｜>`.
    DeepSeek,
    /// Code Llama: `<PRE> … <SUF>… <MID>`.
    CodeLlama,
}

/// Where the suffix goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FimOrder {
    /// Prefix, suffix, middle: `P{prefix}S{suffix}M`.
    Psm,
    /// Suffix, prefix, middle: `PS{suffix}M{prefix}`, so the prompt ends with the prefix.
    Spm,
}

impl FimFormat {
    /// The sentinel tokens (prefix, suffix, middle) of this format.
    fn sentinels(self) -> Option<[&'static str; 3]> {
        match self {
            FimFormat::None | FimFormat::Fence => None,
            FimFormat::StarCoder => Some(["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]),
            FimFormat::SantaCoder => Some(["<fim-prefix>", "<fim-suffix>", "<fim-middle>"]),
            FimFormat::Qwen => Some(["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]),
            FimFormat::DeepSeek => Some(["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"]),
            FimFormat::CodeLlama => Some(["<PRE>", "<SUF>", "<MID>"]),
        }
    }

    /// The format a tokenizer supports, from its special tokens.
    pub fn detect(tokenizer: &TextTokenizer) -> Self {
        [
            FimFormat::Qwen,
            FimFormat::StarCoder,
            FimFormat::SantaCoder,
            FimFormat::DeepSeek,
            FimFormat::CodeLlama,
        ]
        .into_iter()
        .find(|f| {
            f.sentinels()
                .is_some_and(|s| s.iter().all(|t| tokenizer.special_id(t).is_some()))
        })
        .unwrap_or(FimFormat::None)
    }

    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            FimFormat::None => "none",
            FimFormat::Fence => "fence",
            FimFormat::StarCoder => "starcoder",
            FimFormat::SantaCoder => "santacoder",
            FimFormat::Qwen => "qwen",
            FimFormat::DeepSeek => "deepseek",
            FimFormat::CodeLlama => "codellama",
        }
    }

    /// True when the prompt is the prefix alone (the model never sees the suffix).
    pub fn prefix_only(self) -> bool {
        self.sentinels().is_none()
    }

    /// The prompt text for `prefix` and `suffix` in `order`.
    fn layout(self, order: FimOrder, prefix: &str, suffix: &str) -> String {
        if self == FimFormat::Fence {
            return format!("```python\n{prefix}");
        }
        let Some([p, s, m]) = self.sentinels() else {
            return prefix.to_string();
        };
        // Code Llama's prompts put a space after <PRE> and before <SUF> and <MID>.
        let sp = if self == FimFormat::CodeLlama {
            " "
        } else {
            ""
        };
        match order {
            FimOrder::Psm => format!("{p}{sp}{prefix}{sp}{s}{suffix}{sp}{m}"),
            FimOrder::Spm => format!("{p}{sp}{s}{suffix}{sp}{m}{sp}{prefix}"),
        }
    }
}

/// The layout a user asked for (`auto`, `psm`, `spm`, `none`, or `fence`: the prefix after a code-fence
/// opening), for a model whose tokenizer supports `detected`. Fails when FIM is asked of a model without
/// FIM tokens.
pub fn choose_layout(requested: &str, detected: FimFormat) -> Result<(FimFormat, FimOrder)> {
    match requested {
        "auto" | "psm" if detected != FimFormat::None || requested == "auto" => {
            Ok((detected, FimOrder::Psm))
        }
        "spm" if detected != FimFormat::None => Ok((detected, FimOrder::Spm)),
        "none" => Ok((FimFormat::None, FimOrder::Psm)),
        "fence" => Ok((FimFormat::Fence, FimOrder::Psm)),
        "psm" | "spm" => Err(InfillError::Settings(format!(
            "this model has no fill-in-the-middle tokens, so the `{requested}` layout is not possible; \
             use `auto` or `none` (the prefix alone)"
        ))),
        other => Err(InfillError::Settings(format!(
            "format must be `auto`, `psm`, `spm`, `none` or `fence`, not `{other}`"
        ))),
    }
}

/// A prompt ready for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt text, special tokens written out.
    pub text: String,
    /// The prompt's token ids.
    pub ids: Vec<u32>,
    /// Bytes removed from the end of the prompt by token healing; the completion must start with them,
    /// and they are not part of the completion shown to the user.
    pub healed: Vec<u8>,
    /// Lines cut from the top of the prefix and the bottom of the suffix to fit the context.
    pub trimmed_lines: usize,
}

/// Builds the prompt for a masked line.
///
/// When the prompt ends with the prefix (no FIM tokens, or SPM order) and the prefix ends with a
/// newline, `heal` moves that newline out of the prompt (see the module docs).
pub fn build_prompt(
    tokenizer: &TextTokenizer,
    format: FimFormat,
    order: FimOrder,
    masked: &MaskedLine,
    heal: bool,
) -> Result<Prompt> {
    let ends_with_prefix = format.prefix_only() || order == FimOrder::Spm;
    let mut prefix = masked.prefix.as_str();
    let mut healed = Vec::new();
    if heal && ends_with_prefix && prefix.ends_with('\n') {
        prefix = &prefix[..prefix.len() - 1];
        healed.push(b'\n');
        if prefix.ends_with('\r') {
            prefix = &prefix[..prefix.len() - 1];
            healed.insert(0, b'\r');
        }
    }
    let text = format.layout(order, prefix, &masked.suffix);
    let ids = tokenizer.encode(&text)?;
    Ok(Prompt {
        text,
        ids,
        healed,
        trimmed_lines: 0,
    })
}

/// Like [`build_prompt`], but keeps the prompt within `budget` tokens by cutting whole lines far from
/// the hole: the prefix from the top and the suffix from the bottom (alternately, nearest lines kept).
/// Fails only when even the line just before the hole does not fit.
pub fn build_prompt_within(
    tokenizer: &TextTokenizer,
    format: FimFormat,
    order: FimOrder,
    masked: &MaskedLine,
    heal: bool,
    budget: usize,
) -> Result<Prompt> {
    let suffix_bytes = if format.prefix_only() {
        0
    } else {
        masked.suffix.len()
    };
    // The whole text first, unless it is far too long to fit: code averages 3 to 4 bytes a token, so more
    // than 8 bytes per token of budget cannot fit, and tokenizing all of a 10 MB paste would cost seconds
    // and gigabytes in the page. (The line-by-line path below gives the same prompt for a text that does
    // fit, only slower.)
    if masked.prefix.len() + suffix_bytes <= 8 * budget {
        let full = build_prompt(tokenizer, format, order, masked, heal)?;
        if full.ids.len() <= budget {
            return Ok(full);
        }
    }
    let pre: Vec<&str> = masked.prefix.split_inclusive('\n').collect();
    let suf: Vec<&str> = if format.prefix_only() {
        Vec::new()
    } else {
        masked.suffix.split_inclusive('\n').collect()
    };
    // Per-line token counts (close to, not exactly, the joined count), computed outward from the hole
    // only as far as the budget reaches: `pre_cost[i]` is the i-th line above the hole, `suf_cost[i]` the
    // i-th below.
    let count = |l: &str| tokenizer.encode(l).map(|v| v.len());
    let (mut pre_cost, mut suf_cost): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let overhead = 8;
    let mut target = budget.saturating_sub(overhead);
    loop {
        // Keep lines nearest the hole, alternating prefix (bottom up) and suffix (top down).
        let (mut np, mut ns, mut used) = (0usize, 0usize, 0usize);
        loop {
            let mut grew = false;
            if np < pre.len() {
                if np == pre_cost.len() {
                    pre_cost.push(count(pre[pre.len() - 1 - np])?);
                }
                if used + pre_cost[np] <= target {
                    used += pre_cost[np];
                    np += 1;
                    grew = true;
                }
            }
            if ns < suf.len() {
                if ns == suf_cost.len() {
                    suf_cost.push(count(suf[ns])?);
                }
                if used + suf_cost[ns] <= target {
                    used += suf_cost[ns];
                    ns += 1;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        if np == 0 && !pre.is_empty() {
            return Err(InfillError::Input(format!(
                "the line before the hidden line alone needs more than the {budget} tokens the model's \
                 context leaves for the prompt"
            )));
        }
        let cut = MaskedLine {
            prefix: pre[pre.len() - np..].concat(),
            middle: masked.middle.clone(),
            suffix: if format.prefix_only() {
                masked.suffix.clone()
            } else {
                suf[..ns].concat()
            },
        };
        let mut p = build_prompt(tokenizer, format, order, &cut, heal)?;
        if p.ids.len() <= budget {
            p.trimmed_lines = (pre.len() - np) + (suf.len() - ns);
            return Ok(p);
        }
        target = target.saturating_sub((p.ids.len() - budget).max(4));
    }
}

/// Where a scan of Python source stands at the end of the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ScanEnd {
    /// Open brackets.
    depth: usize,
    /// Inside a string (a triple-quoted one, since single-quoted strings end at the line end).
    in_string: bool,
    /// The last line's code (comments removed) ends with a backslash.
    continued: bool,
}

/// One line as [`scan_python`] sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LineInfo {
    /// The last significant character of the line's code (outside strings and comments).
    last: Option<char>,
    /// The line starts a logical line: not inside brackets, a string or after a backslash.
    starts_logical: bool,
}

/// Scans Python source for strings, comments and brackets. Returns the state at the end and what it
/// saw of each line.
fn scan_python(src: &str) -> (ScanEnd, Vec<LineInfo>) {
    let b = src.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut info = vec![LineInfo {
        last: None,
        starts_logical: true,
    }];
    // (quote byte, triple, raw)
    let mut string: Option<(u8, bool, bool)> = None;
    let mut last = None;
    while i < b.len() {
        let c = b[i];
        if let Some((q, triple, raw)) = string {
            if c == b'\\' && !raw {
                if b.get(i + 1) == Some(&b'\n') {
                    info.push(LineInfo::default());
                }
                i += 2;
                continue;
            }
            if c == b'\n' {
                if !triple {
                    string = None; // an unterminated single-quoted string ends at the line end
                }
                info.push(LineInfo {
                    last: None,
                    starts_logical: string.is_none() && depth == 0,
                });
                i += 1;
                continue;
            }
            if c == q && (!triple || b[i..].starts_with(&[q, q, q])) {
                string = None;
                i += if triple { 3 } else { 1 };
                if let Some(l) = info.last_mut() {
                    l.last = Some(q as char);
                }
                continue;
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' => {
                info.push(LineInfo {
                    last: None,
                    starts_logical: depth == 0 && last != Some('\\'),
                });
                last = None;
            }
            b'\'' | b'"' => {
                // String prefix letters just before the quote (r, b, f, u in any case and order).
                let mut j = i;
                while j > 0 && b[j - 1].is_ascii_alphabetic() {
                    j -= 1;
                }
                let prefix = &src[j..i];
                let raw = prefix.len() <= 3
                    && prefix.chars().all(|ch| "rRbBfFuUtT".contains(ch))
                    && prefix.contains(['r', 'R']);
                let triple = b[i..].starts_with(&[c, c, c]);
                string = Some((c, triple, raw));
                i += if triple { 3 } else { 1 };
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            last = Some(c as char);
            if let Some(l) = info.last_mut() {
                l.last = last;
            }
        }
        i += 1;
    }
    let end = ScanEnd {
        depth,
        in_string: string.is_some_and(|(_, triple, _)| triple),
        continued: last == Some('\\'),
    };
    (end, info)
}

fn indent_of(line: &str) -> usize {
    line.bytes()
        .take_while(|&b| b == b' ' || b == b'\t')
        .count()
}

/// What Python's syntax allows the first line of the hole to look like, from the code around it.
///
/// - The hole holds code: it is never blank, and never a comment unless `hole_is_comment` (the
///   datasets never hide comment lines; in the playground a user may).
/// - After a line ending in `:` the hole opens that block: it is indented deeper than that line.
/// - After a complete statement its indentation is one already open: the statement's own, or that of
///   an enclosing block header (a dedent).
/// - Inside a function whose body goes on after the hole (or whose code ends with the hole), it stays
///   in the function: deeper than the `def`.
/// - Inside brackets, a string or after a backslash (a continuation line), or in code indented with
///   tabs, only the first rule applies.
pub fn line_constraint(masked: &MaskedLine, hole_is_comment: bool) -> LineConstraint {
    let mut c = LineConstraint {
        not_blank: true,
        not_comment: !hole_is_comment,
        min_indent: 0,
        indents: None,
    };
    let (end, info) = scan_python(&masked.prefix);
    if end.depth > 0 || end.in_string || end.continued {
        c.not_comment = false;
        return c;
    }
    let uses_tabs = |s: &str| {
        s.lines()
            .any(|l| l.starts_with('\t') || l.starts_with(" \t"))
    };
    if uses_tabs(&masked.prefix) || uses_tabs(&masked.suffix) {
        return c;
    }
    let lines: Vec<&str> = masked.prefix.split('\n').collect();
    let code_line = |i: usize| info.get(i).is_some_and(|l| l.last.is_some());
    // The line where the logical line holding line `i` starts.
    let logical_start = |i: usize| (0..=i).rev().find(|&j| info[j].starts_logical).unwrap_or(0);
    let Some(prev) = (0..lines.len()).rev().find(|&i| code_line(i)) else {
        c.indents = Some(vec![0]);
        return c;
    };
    let prev_start = logical_start(prev);
    let prev_indent = indent_of(lines[prev_start]);
    if info[prev].last == Some(':') {
        c.min_indent = prev_indent + 1;
        return c;
    }
    let next_indent = masked
        .suffix
        .split('\n')
        .skip(1)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(indent_of);
    // Open indentation levels: the statement's, then each enclosing header's, innermost first.
    let mut levels = vec![prev_indent];
    let mut m = prev_indent;
    for i in (0..prev_start).rev() {
        if m == 0 {
            break;
        }
        if !code_line(i) || !info[i].starts_logical || indent_of(lines[i]) >= m {
            continue;
        }
        m = indent_of(lines[i]);
        let head = lines[i].trim_start();
        let is_def = head.starts_with("def ") || head.starts_with("async def ");
        if is_def && next_indent.is_none_or(|n| n > m) {
            c.min_indent = m + 1;
            break;
        }
        levels.push(m);
    }
    levels.retain(|&l| l >= c.min_indent);
    c.indents = Some(levels);
    c
}

#[cfg(test)]
mod constraint_tests {
    use super::*;

    fn cons(code: &str, line: usize) -> LineConstraint {
        let m = mask_line(code, line).unwrap();
        line_constraint(&m, m.middle.trim_start().starts_with('#'))
    }

    #[test]
    fn a_block_opener_forces_a_deeper_line() {
        let c = cons("def f(x):\n    if x:\n        return 1\n    return 2\n", 3);
        assert_eq!((c.min_indent, c.indents), (5, None));
        assert!(c.not_blank && c.not_comment);
    }

    #[test]
    fn after_a_statement_the_line_stays_in_the_function() {
        let code = "def f(x):\n    y = x  # note:\n    z = y\n    return z\n";
        let c = cons(code, 3);
        assert_eq!(c.indents, Some(vec![4]));
        // Dedents go to open levels only; the function goes on after the hole, so not to column 0.
        let code = "def f(x):\n    for a in x:\n        if a:\n            y = a\n        z = 1\n    return z\n";
        assert_eq!(cons(code, 5).indents, Some(vec![12, 8, 4]));
        // When the code after the hole is outside the function, the hole may leave it too ...
        let code = "def f(x):\n    y = x\n\nprint(f(1))\nz = 2\n";
        assert_eq!(cons(code, 4).indents, Some(vec![4, 0]));
        // ... but when the code ends with the hole, the hole finishes the function.
        let code = "def f(x):\n    y = x\n\nprint(f(1))\n";
        assert_eq!(cons(code, 4).indents, Some(vec![4]));
        // A multi-line call: the statement's indentation is where it starts.
        let code = "def f(x):\n    y = g(\n  x,\n      1)\n    return y\n";
        assert_eq!(cons(code, 5).indents, Some(vec![4]));
    }

    #[test]
    fn docstrings_strings_and_brackets_are_understood() {
        let code =
            "def f():\n    \"\"\"Doc: with colon:\n    more\n    \"\"\"\n    x = 1\n    return x\n";
        assert_eq!(cons(code, 5).indents, Some(vec![4]));
        let c = cons(code, 3);
        assert!(
            !c.not_comment && c.indents.is_none(),
            "inside a docstring: {c:?}"
        );
        let c = cons("x = [\n    1,\n    2,\n]\n", 3);
        assert_eq!((c.min_indent, c.indents), (0, None));
        assert_eq!(cons("s = 'a:'\nt = 1\n", 2).indents, Some(vec![0]));
    }

    #[test]
    fn a_hidden_comment_may_be_a_comment() {
        let c = cons("def f():\n    # why\n    return 1\n", 2);
        assert!(!c.not_comment);
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn every_family_writes_its_own_sentinels_in_both_orders() {
        let (p, s) = ("def f():\n    ", "\n    return x\n");
        let cases = [
            (
                FimFormat::StarCoder,
                "<fim_prefix>def f():\n    <fim_suffix>\n    return x\n<fim_middle>",
                "<fim_prefix><fim_suffix>\n    return x\n<fim_middle>def f():\n    ",
            ),
            (
                FimFormat::SantaCoder,
                "<fim-prefix>def f():\n    <fim-suffix>\n    return x\n<fim-middle>",
                "<fim-prefix><fim-suffix>\n    return x\n<fim-middle>def f():\n    ",
            ),
            (
                FimFormat::Qwen,
                "<|fim_prefix|>def f():\n    <|fim_suffix|>\n    return x\n<|fim_middle|>",
                "<|fim_prefix|><|fim_suffix|>\n    return x\n<|fim_middle|>def f():\n    ",
            ),
            (
                FimFormat::DeepSeek,
                "<｜fim▁begin｜>def f():\n    <｜fim▁hole｜>\n    return x\n<｜fim▁end｜>",
                "<｜fim▁begin｜><｜fim▁hole｜>\n    return x\n<｜fim▁end｜>def f():\n    ",
            ),
            (
                FimFormat::CodeLlama,
                "<PRE> def f():\n     <SUF>\n    return x\n <MID>",
                "<PRE> <SUF>\n    return x\n <MID> def f():\n    ",
            ),
        ];
        for (format, psm, spm) in cases {
            assert_eq!(format.layout(FimOrder::Psm, p, s), psm, "{format:?} PSM");
            assert_eq!(format.layout(FimOrder::Spm, p, s), spm, "{format:?} SPM");
            assert!(!format.prefix_only());
        }
        assert_eq!(FimFormat::None.layout(FimOrder::Psm, p, s), p);
        assert_eq!(
            FimFormat::Fence.layout(FimOrder::Psm, p, s),
            "```python\ndef f():\n    "
        );
        assert!(FimFormat::None.prefix_only() && FimFormat::Fence.prefix_only());
    }

    #[test]
    fn layouts_follow_the_request_and_refuse_fim_without_fim_tokens() {
        let q = FimFormat::Qwen;
        assert_eq!(choose_layout("auto", q).unwrap(), (q, FimOrder::Psm));
        assert_eq!(choose_layout("spm", q).unwrap(), (q, FimOrder::Spm));
        assert_eq!(
            choose_layout("fence", q).unwrap(),
            (FimFormat::Fence, FimOrder::Psm)
        );
        let none = FimFormat::None;
        assert_eq!(choose_layout("auto", none).unwrap(), (none, FimOrder::Psm));
        for bad in ["psm", "spm"] {
            let e = choose_layout(bad, none).unwrap_err().to_string();
            assert!(e.contains("no fill-in-the-middle tokens"), "{e}");
        }
        let e = choose_layout("xml", q).unwrap_err().to_string();
        assert!(e.contains("not `xml`"), "{e}");
    }
}
