//! Property tests (proptest) for the parts that take outside text: the metrics, the line split and
//! dataset extraction. Each property runs on generated inputs (arbitrary Unicode, whitespace-only
//! and empty strings, code-like text, arbitrary bytes and near-Python files) and shrinks a failure to
//! a minimal input. A failing case is saved under `tests/props.proptest-regressions` and replayed
//! first on later runs.

use infill::dataset::{
    build_dataset, extract_functions, tasks_from_jsonl, tasks_to_jsonl, Context, DatasetConfig,
    MaskMode,
};
use infill::metrics::{
    chrf, chrf_pp, corpus_bleu, corpus_chrf, edit_similarity, iou, is_python_whitespace,
    mean_with_ci, score, sentence_bleu, tokenize_13a, wer,
};
use infill::prompt::mask_line;
use proptest::prelude::*;

/// Whitespace the metrics treat specially: ASCII, Python's extra separators U+001C..U+001F,
/// Unicode spaces, line and paragraph separators.
const WHITESPACE: &str = "[ \t\n\r\u{b}\u{c}\u{1c}-\u{1f}\u{85}\u{a0}\u{2000}\u{2028}\u{3000}]";

/// Strings of every kind the page can send: anything, whitespace-only, empty, code-like (with the
/// punctuation the tokenizers split on, HTML entities and `<skipped>`), and non-Latin text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => proptest::string::string_regex(&format!("{WHITESPACE}{{0,6}}")).unwrap(),
        1 => Just(String::new()),
        4 => proptest::string::string_regex(
            r##"( |\t|\n|[a-z_]{1,6}|[0-9]{1,3}|[.,:;=+\-*/()\[\]{}<>!&'"#@%~^|\\]|&amp;|&lt;|<skipped>|-\n){0,24}"##
        )
        .unwrap(),
        1 => proptest::string::string_regex("[名前値🎉é\u{301}ß\u{200b} ]{0,12}").unwrap(),
    ]
}

fn in_range(name: &str, value: f64, low: f64, high: f64) -> Result<(), TestCaseError> {
    prop_assert!(
        value.is_finite() && (low..=high).contains(&value),
        "{name} = {value}, outside {low}..={high}"
    );
    Ok(())
}

fn has_non_whitespace(s: &str) -> bool {
    s.chars().any(|c| !is_python_whitespace(c))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every per-pair score stays on its scale and is never NaN or infinite.
    #[test]
    fn every_metric_stays_within_its_bounds(h in text(), r in text()) {
        let s = score(&h, &r);
        in_range("exact", s.exact, 0.0, 1.0)?;
        in_range("exact_stripped", s.exact_stripped, 0.0, 1.0)?;
        in_range("chrf", s.chrf, 0.0, 100.0)?;
        in_range("chrf_pp", s.chrf_pp, 0.0, 100.0)?;
        in_range("bleu", s.bleu, 0.0, 100.0)?;
        in_range("iou", s.iou, 0.0, 1.0)?;
        in_range("edit_sim", s.edit_sim, 0.0, 1.0)?;
        // WER has no upper bound (insertions), but it is a finite count ratio: at most the larger
        // word count over the reference's, which is below the number of characters plus one.
        let longest = (h.chars().count().max(r.chars().count()) + 1) as f64;
        in_range("wer", s.wer, 0.0, longest)?;
        // `score` is the individual metrics, not a second implementation of them.
        prop_assert_eq!(s.chrf, chrf(&h, &r));
        prop_assert_eq!(s.chrf_pp, chrf_pp(&h, &r));
        prop_assert_eq!(s.bleu, sentence_bleu(&h, &r));
        prop_assert_eq!(s.wer, wer(&h, &r));
        prop_assert_eq!(s.exact == 1.0, h == r);
        // The set and edit metrics are symmetric.
        prop_assert_eq!(s.iou, iou(&r, &h));
        prop_assert_eq!(s.edit_sim, edit_similarity(&r, &h));
    }

    /// An exact match gets every similarity's perfect value, with the exceptions docs/metrics.md
    /// documents (sacrebleu's behaviour): chrF and chrF++ are 0 when there is no non-whitespace
    /// character to compare, and BLEU is 0 when the 13a tokenizer leaves no token.
    #[test]
    fn an_exact_match_is_perfect(s in text()) {
        let sc = score(&s, &s);
        prop_assert_eq!(sc.exact, 1.0);
        prop_assert_eq!(sc.exact_stripped, 1.0);
        prop_assert_eq!(sc.wer, 0.0);
        prop_assert_eq!(sc.iou, 1.0);
        prop_assert_eq!(sc.edit_sim, 1.0);
        let chrf_perfect = if has_non_whitespace(&s) { 100.0 } else { 0.0 };
        prop_assert_eq!(sc.chrf, chrf_perfect);
        prop_assert_eq!(sc.chrf_pp, chrf_perfect);
        let bleu_perfect = if tokenize_13a(&s).is_empty() { 0.0 } else { 100.0 };
        prop_assert_eq!(sc.bleu, bleu_perfect);
    }

    /// Corpus scores stay on 0..100 for any lists, of equal length or not, and a corpus of exact
    /// matches scores 100 on chrF when any pair has a non-whitespace character.
    #[test]
    fn corpus_scores_stay_within_their_bounds(
        hyps in prop::collection::vec(text(), 0..6),
        refs in prop::collection::vec(text(), 0..6),
    ) {
        let h: Vec<&str> = hyps.iter().map(String::as_str).collect();
        let r: Vec<&str> = refs.iter().map(String::as_str).collect();
        in_range("corpus_chrf", corpus_chrf(&h, &r), 0.0, 100.0)?;
        in_range("corpus_bleu", corpus_bleu(&h, &r), 0.0, 100.0)?;
        let perfect = if h.iter().any(|s| has_non_whitespace(s)) { 100.0 } else { 0.0 };
        prop_assert_eq!(corpus_chrf(&h, &h), perfect);
    }

    /// The bootstrap interval is ordered and lies within the values' range (up to rounding).
    #[test]
    fn bootstrap_interval_lies_within_the_values(
        values in prop::collection::vec(0.0f64..=100.0, 0..40),
        resamples in 0usize..300,
        seed in any::<u64>(),
    ) {
        let ci = mean_with_ci(&values, resamples, seed);
        if values.is_empty() {
            prop_assert_eq!((ci.mean, ci.low, ci.high), (0.0, 0.0, 0.0));
        } else {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let slack = 1e-9 * max.max(1.0);
            prop_assert!(ci.low <= ci.high, "{:?}", ci);
            for v in [ci.mean, ci.low, ci.high] {
                prop_assert!(v >= min - slack && v <= max + slack, "{:?} outside {}..{}", ci, min, max);
            }
        }
    }

    /// `prefix + middle + suffix == code` for every line of any text, `middle` holds no line feed,
    /// and a line number fails exactly when it is 0 or past the last line.
    #[test]
    fn mask_line_splits_any_text_exactly(code in text(), pick in 0usize..40) {
        let lines = 1 + code.matches('\n').count() - usize::from(code.ends_with('\n'));
        let line = pick % (lines + 3);
        match mask_line(&code, line) {
            Ok(m) => {
                prop_assert!((1..=lines).contains(&line), "line {} of {} lines was accepted", line, lines);
                prop_assert_eq!(format!("{}{}{}", m.prefix, m.middle, m.suffix), code.clone());
                prop_assert!(!m.middle.contains('\n'));
                prop_assert!(m.prefix.is_empty() || m.prefix.ends_with('\n'));
                prop_assert_eq!(m.prefix.matches('\n').count(), line - 1);
                prop_assert!(
                    m.suffix.is_empty() || m.suffix.starts_with('\n') || m.suffix.starts_with("\r\n"),
                    "suffix {:?}", m.suffix
                );
            }
            Err(e) => {
                prop_assert!(!(1..=lines).contains(&line), "line {} of {} lines failed: {}", line, lines, e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Function extraction never panics on arbitrary bytes; when it succeeds the spans are ordered
    /// and inside the file.
    #[test]
    fn extraction_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(spans) = extract_functions("fuzz.py", &bytes) {
            let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
            for s in &spans {
                prop_assert!(1 <= s.start_line && s.start_line <= s.end_line && s.end_line <= lines, "{:?}", s);
            }
        }
    }

    /// On near-Python files (real statements, random indentation, stray brackets, tabs, CRLF and
    /// mutations) extraction never panics, and every task splits its context exactly.
    #[test]
    fn datasets_from_near_python_split_exactly(
        code in near_python(),
        seed in any::<u64>(),
        every in any::<bool>(),
        whole_file in any::<bool>(),
    ) {
        let config = DatasetConfig {
            seed,
            mode: if every { MaskMode::EveryLine } else { MaskMode::OneRandom },
            context: if whole_file { Context::File } else { Context::Function },
            ..DatasetConfig::default()
        };
        let files = vec![("m.py".to_string(), code.clone().into_bytes())];
        let dataset = build_dataset(&files, &config);
        prop_assert_eq!(dataset.files_read + dataset.skipped.len(), 1);
        for t in &dataset.tasks {
            let joined = format!("{}{}{}", t.prefix, t.middle, t.suffix);
            if whole_file {
                // The leading byte order mark is dropped when the file is decoded.
                prop_assert_eq!(joined.as_str(), code.strip_prefix('\u{feff}').unwrap_or(&code));
            } else {
                prop_assert!(code.contains(&joined), "the function context is not part of the file");
            }
            prop_assert!(!t.middle.contains('\n'));
            prop_assert!(!t.middle.trim().is_empty());
            prop_assert!(t.start_line < t.masked_line && t.masked_line <= t.end_line, "{:?}", t);
        }
        // The tasks survive JSON Lines unchanged.
        prop_assert_eq!(tasks_from_jsonl(&tasks_to_jsonl(&dataset.tasks)).unwrap(), dataset.tasks);
    }

    /// Reading tasks from arbitrary text gives tasks or an error with a line number, never a panic.
    #[test]
    fn task_jsonl_reader_never_panics(text in text()) {
        if let Err(e) = tasks_from_jsonl(&text) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

/// Simple statements (one may span lines, then later lines carry `{indent}`).
const SIMPLE: &[&str] = &[
    "return x + 1",
    "x = [1, 2, (3, {4: 5})]",
    "y: dict[str, int] = {}",
    "s = '''multi\nline'''",
    "t = f\"{x!r:>{w}}\"",
    "pass",
    "yield from g()",
    "await h()",
    "del a[0], b.c",
    "raise ValueError('no')",
    "assert x, 'msg'",
    "z = lambda: (yield)",
    "名前 = '値'  # 🎉",
    "x = \\\n    1",
    "match p:\n{indent}    case [a, *rest] if a: pass\n{indent}    case _:\n{indent}        return {'k': v}",
];
/// Lines a parser must refuse: Python 2, unclosed and stray brackets.
const INVALID: &[&str] = &[
    "print 'python 2'",
    "exec \"code\"",
    "x = ((((",
    ")]}",
    "def (:",
];
/// Headers of compound statements; each is followed by an indented body.
const COMPOUND: &[&str] = &[
    "def f(x):",
    "async def g(a, *b, c=1, **d) -> int:",
    "def h(\n    a,\n    b: dict[str, int] = {},\n) -> (lambda: 1):",
    "@decorator(1)\ndef decorated(self):",
    "class C(Base, metaclass=M):",
    "if x:",
    "for i in range(10):",
    "while not done:",
    "with open(p) as f, lock:",
    "try:\n{indent}    pass\n{indent}except (ValueError, TypeError) as e:",
    "def one(): return 1\n{indent}def two():",
];

/// Near-Python files: a random program of nested blocks built from real statements (so most files
/// parse and hold functions), with `\n` or `\r\n` endings, an optional byte order mark, and a few
/// single-byte mutations (kept only when the text stays UTF-8, to reach the parser).
fn near_python() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(any::<u16>(), 0..60),
        any::<bool>(),
        0u8..8,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..2),
    )
        .prop_map(|(choices, crlf, bom, mutations)| {
            let mut code = String::new();
            if bom == 0 {
                code.push('\u{feff}');
            }
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut emit = |depth: usize, text: &str| {
                let indent = "    ".repeat(depth);
                code.push_str(&indent);
                code.push_str(&text.replace("{indent}", &indent).replace('\n', newline));
                code.push_str(newline);
            };
            let mut depth = 0usize;
            let mut need_body = false;
            for choice in choices {
                let pick = usize::from(choice >> 4);
                match (need_body, choice % 16) {
                    (true, _) | (false, 0..=5) => {
                        emit(depth, SIMPLE[pick % SIMPLE.len()]);
                        need_body = false;
                    }
                    (false, 6..=9) if depth < 8 => {
                        emit(depth, COMPOUND[pick % COMPOUND.len()]);
                        depth += 1;
                        need_body = true;
                    }
                    (false, 10..=12) => {
                        depth = depth.saturating_sub(1 + pick % 2);
                        emit(depth, SIMPLE[pick % SIMPLE.len()]);
                    }
                    (false, 13) => emit(pick % 3, "# a comment"),
                    (false, 14) => emit(0, ""),
                    _ if pick % 8 == 0 => emit(depth, INVALID[pick % INVALID.len()]),
                    _ => emit(depth, "pass"),
                }
            }
            if need_body {
                emit(depth, "pass");
            }
            let mut bytes = code.into_bytes();
            for (at, byte) in mutations {
                if bytes.is_empty() {
                    break;
                }
                let mut mutated = bytes.clone();
                mutated[at.index(bytes.len())] = byte;
                if std::str::from_utf8(&mutated).is_ok() {
                    bytes = mutated;
                }
            }
            String::from_utf8(bytes).unwrap_or_default()
        })
}
