//! Completion-quality metrics: exact match, chrF, chrF++, BLEU, WER, IoU and edit similarity.
//!
//! Every score compares a *hypothesis* (the model's completion) with a *reference* (the line that
//! was hidden). chrF, chrF++ and BLEU follow [sacrebleu] 2.6.0 and WER follows [jiwer] 4.0.0 step
//! by step: the same tokenizers (sacrebleu's `13a` regexes, chrF's whitespace removal, chrF++'s
//! punctuation splitting, jiwer's default transform), the same smoothing (BLEU's `exp` smoothing
//! and effective order, chrF's effective order) and the same order of floating-point operations,
//! so the values agree with the Python libraries to about 1e-12. `tests/metrics.rs` checks this
//! against vectors produced by `scripts/gen_metric_vectors.py`; `docs/metrics.md` describes every
//! metric and its edge cases.
//!
//! Everything is pure Rust (no threads, no clock, no randomness except the seeded bootstrap) and
//! never panics, so it behaves identically natively and on `wasm32`.
//!
//! Python's notion of whitespace (`str.split()`, `str.strip()`, the `\s` of `re`) is used wherever
//! the libraries use it; it is Unicode `White_Space` plus the four separators U+001C..U+001F.
//!
//! [sacrebleu]: https://github.com/mjpost/sacrebleu
//! [jiwer]: https://github.com/jitsi/jiwer

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash};

use serde::{Deserialize, Serialize};

/// A hasher with fixed keys: deterministic, and needs no randomness source on `wasm32`.
type FixedState = BuildHasherDefault<DefaultHasher>;
/// Python's `collections.Counter`.
type Counter<K> = HashMap<K, u64, FixedState>;

/// sacrebleu `CHRF.CHAR_ORDER`: character n-grams of order 1 to 6.
const CHRF_CHAR_ORDER: usize = 6;
/// sacrebleu `CHRF.BETA`: recall weighs `beta` times as much as precision.
const CHRF_BETA: u32 = 2;
/// The word n-gram order of chrF++ (`CHRF(word_order=2)`).
const CHRF_PP_WORD_ORDER: usize = 2;
/// sacrebleu `MAX_NGRAM_ORDER` for BLEU.
const BLEU_MAX_ORDER: usize = 4;
/// Length of BLEU's sufficient statistics: `[hyp_len, ref_len, correct x 4, total x 4]`.
const BLEU_STATS: usize = 2 + 2 * BLEU_MAX_ORDER;
/// Upper bound on the number of bootstrap resamples [`mean_with_ci`] performs.
pub const MAX_RESAMPLES: usize = 1_000_000;

/// All per-pair scores of one completion against its reference.
///
/// Scales follow the reference libraries: chrF, chrF++ and BLEU are on 0..100, WER is a fraction
/// (0 is perfect and it can exceed 1), the others are on 0..1 with 1 perfect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// 1.0 if the hypothesis equals the reference byte for byte, else 0.0.
    pub exact: f64,
    /// 1.0 if both are equal after stripping surrounding whitespace (Python `str.strip`), else 0.0.
    pub exact_stripped: f64,
    /// sacrebleu `CHRF().sentence_score` (character order 6, word order 0, beta 2), 0..100.
    pub chrf: f64,
    /// sacrebleu `CHRF(word_order=2).sentence_score` (chrF++), 0..100.
    pub chrf_pp: f64,
    /// sacrebleu `sentence_bleu` defaults (13a tokenizer, exp smoothing, effective order), 0..100.
    pub bleu: f64,
    /// `jiwer.wer(reference, hypothesis)`: word edit distance over reference length (can exceed 1).
    pub wer: f64,
    /// Jaccard index of the sets of whitespace-separated tokens, 0..1.
    pub iou: f64,
    /// 1 - Levenshtein distance (code points) / length of the longer string, 0..1.
    pub edit_sim: f64,
}

/// Computes every metric of [`Scores`] for one hypothesis against one reference.
pub fn score(hypothesis: &str, reference: &str) -> Scores {
    Scores {
        exact: bool_score(hypothesis == reference),
        exact_stripped: bool_score(py_strip(hypothesis) == py_strip(reference)),
        chrf: chrf(hypothesis, reference),
        chrf_pp: chrf_pp(hypothesis, reference),
        bleu: sentence_bleu(hypothesis, reference),
        wer: wer(hypothesis, reference),
        iou: iou(hypothesis, reference),
        edit_sim: edit_similarity(hypothesis, reference),
    }
}

fn bool_score(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------------
// Python string semantics
// ---------------------------------------------------------------------------------------------

/// Python's `str.isspace()`, which `str.split()`, `str.strip()` and `re`'s `\s` all use.
///
/// This is Unicode `White_Space` (Rust's [`char::is_whitespace`]) plus U+001C..U+001F, which
/// Python also treats as whitespace.
pub fn is_python_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python `s.split()`: maximal runs of non-whitespace.
fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_python_whitespace).filter(|w| !w.is_empty())
}

/// Python `s.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_python_whitespace)
}

/// Python `s.rstrip()`.
fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_python_whitespace)
}

// ---------------------------------------------------------------------------------------------
// n-gram counting shared by chrF and BLEU
// ---------------------------------------------------------------------------------------------

/// Counts the n-grams (contiguous windows of length `n`) of `items`.
fn ngram_counts<T: Hash + Eq>(items: &[T], n: usize) -> Counter<&[T]> {
    let mut counts = Counter::default();
    if n == 0 || items.len() < n {
        return counts;
    }
    for window in items.windows(n) {
        *counts.entry(window).or_insert(0) += 1;
    }
    counts
}

/// sacrebleu `CHRF._get_match_statistics`: `[hyp count, ref count, matches]`, where the
/// hypothesis count is reported as 0 when the reference has no n-gram of this order.
fn chrf_match_stats<K: Hash + Eq>(hyp: &Counter<K>, reference: &Counter<K>) -> [u64; 3] {
    let mut match_count = 0;
    let mut hyp_count = 0;
    for (ngram, &count) in hyp {
        hyp_count += count;
        if let Some(&ref_count) = reference.get(ngram) {
            match_count += count.min(ref_count);
        }
    }
    let ref_count: u64 = reference.values().sum();
    [
        if reference.is_empty() { 0 } else { hyp_count },
        ref_count,
        match_count,
    ]
}

// ---------------------------------------------------------------------------------------------
// chrF and chrF++
// ---------------------------------------------------------------------------------------------

/// sacrebleu `CHRF._remove_punctuation`: whitespace-split words, where a word of two or more
/// characters loses one trailing ASCII punctuation character into its own token, or else one
/// leading one (so `(hi)` becomes `(hi` and `)`).
fn chrf_words(s: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for w in py_split(s) {
        let mut chars = w.chars();
        let first = chars.next();
        let last = chars.next_back();
        match (first, last) {
            // `last` is None exactly when the word is one character long.
            (Some(_), None) | (None, _) => words.push(w),
            (Some(first), Some(last)) => {
                if last.is_ascii_punctuation() {
                    let cut = w.len() - last.len_utf8();
                    words.push(&w[..cut]);
                    words.push(&w[cut..]);
                } else if first.is_ascii_punctuation() {
                    let cut = first.len_utf8();
                    words.push(&w[..cut]);
                    words.push(&w[cut..]);
                } else {
                    words.push(w);
                }
            }
        }
    }
    words
}

/// sacrebleu chrF segment statistics: `[hyp, ref, match]` for character orders 1..=6 (with all
/// whitespace removed), then for word orders 1..=`word_order`.
fn chrf_stats(hypothesis: &str, reference: &str, word_order: usize) -> Vec<u64> {
    let mut stats = Vec::with_capacity(3 * (CHRF_CHAR_ORDER + word_order));
    let hyp_chars: Vec<char> = hypothesis
        .chars()
        .filter(|&c| !is_python_whitespace(c))
        .collect();
    let ref_chars: Vec<char> = reference
        .chars()
        .filter(|&c| !is_python_whitespace(c))
        .collect();
    for n in 1..=CHRF_CHAR_ORDER {
        stats.extend(chrf_match_stats(
            &ngram_counts(&hyp_chars, n),
            &ngram_counts(&ref_chars, n),
        ));
    }
    if word_order > 0 {
        let hyp_words = chrf_words(hypothesis);
        let ref_words = chrf_words(reference);
        for n in 1..=word_order {
            stats.extend(chrf_match_stats(
                &ngram_counts(&hyp_words, n),
                &ngram_counts(&ref_words, n),
            ));
        }
    }
    stats
}

/// sacrebleu `CHRF._compute_f_score` with `eps_smoothing=False`: precision and recall are averaged
/// over the orders where both hypothesis and reference have n-grams, then combined into F-beta.
fn chrf_f_score(stats: &[u64]) -> f64 {
    let factor = f64::from(CHRF_BETA * CHRF_BETA);
    let mut avg_prec = 0.0;
    let mut avg_rec = 0.0;
    let mut effective_order = 0u32;
    for triple in stats.chunks_exact(3) {
        let (n_hyp, n_ref, n_match) = (triple[0], triple[1], triple[2]);
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += n_match as f64 / n_hyp as f64;
            avg_rec += n_match as f64 / n_ref as f64;
            effective_order += 1;
        }
    }
    if effective_order == 0 {
        return 0.0;
    }
    avg_prec /= f64::from(effective_order);
    avg_rec /= f64::from(effective_order);
    if avg_prec + avg_rec != 0.0 {
        let mut score = (1.0 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        100.0 * score
    } else {
        0.0
    }
}

/// chrF of one hypothesis against one reference: sacrebleu `CHRF().sentence_score(hyp, [ref])`,
/// 0..100. Whitespace is ignored; an empty or whitespace-only side gives 0.
pub fn chrf(hypothesis: &str, reference: &str) -> f64 {
    chrf_f_score(&chrf_stats(hypothesis, reference, 0))
}

/// chrF++ of one hypothesis against one reference: sacrebleu
/// `CHRF(word_order=2).sentence_score(hyp, [ref])`, 0..100. Adds word unigrams and bigrams
/// (with punctuation split off word ends) to chrF's character n-grams.
pub fn chrf_pp(hypothesis: &str, reference: &str) -> f64 {
    chrf_f_score(&chrf_stats(hypothesis, reference, CHRF_PP_WORD_ORDER))
}

/// Corpus-level chrF: sacrebleu `CHRF().corpus_score(hyps, [refs])`, 0..100.
///
/// The n-gram statistics of all pairs are summed before the F-score is taken (this is not the
/// mean of sentence scores). Like sacrebleu (which `zip`s them), pairs beyond the shorter of the
/// two slices are ignored. An empty corpus, where sacrebleu raises, scores 0.
pub fn corpus_chrf(hypotheses: &[&str], references: &[&str]) -> f64 {
    let mut total = vec![0u64; 3 * CHRF_CHAR_ORDER];
    for (h, r) in hypotheses.iter().zip(references) {
        for (t, s) in total.iter_mut().zip(chrf_stats(h, r, 0)) {
            *t += s;
        }
    }
    chrf_f_score(&total)
}

// ---------------------------------------------------------------------------------------------
// BLEU
// ---------------------------------------------------------------------------------------------

/// sacrebleu's `13a` tokenizer (mteval-v13a), applied after BLEU's `rstrip`.
///
/// Returns the tokenized line with single spaces between tokens.
pub fn tokenize_13a(line: &str) -> String {
    // BLEU._preprocess_segment: `self.tokenizer(sent.rstrip())`.
    let mut line = py_rstrip(line)
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut chars: Vec<char> = Vec::with_capacity(line.len() + 2);
    chars.push(' ');
    chars.extend(line.chars());
    chars.push(' ');

    // TokenizerRegexp, one `re.sub` at a time.
    // 1. r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 '
    let mut out = Vec::with_capacity(chars.len() * 2);
    for &c in &chars {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            out.extend([' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    let not_digit = |c: char| !c.is_ascii_digit();
    let dot_comma = |c: char| c == '.' || c == ',';
    // 2. r'([^0-9])([\.,])' -> r'\1 \2 '
    let out = sub_pair(&out, not_digit, dot_comma, |a, b| [a, ' ', b, ' ']);
    // 3. r'([\.,])([^0-9])' -> r' \1 \2'
    let out = sub_pair(&out, dot_comma, not_digit, |a, b| [' ', a, ' ', b]);
    // 4. r'([0-9])(-)' -> r'\1 \2 '
    let out = sub_pair(
        &out,
        |c| c.is_ascii_digit(),
        |c| c == '-',
        |a, b| [a, ' ', b, ' '],
    );

    let joined: String = out.into_iter().collect();
    py_split(&joined).collect::<Vec<_>>().join(" ")
}

/// `re.sub` of a two-character pattern `(A)(B)`: scans left to right, replacing each
/// non-overlapping match and resuming after it, exactly as Python's `re` does.
fn sub_pair(
    s: &[char],
    first: impl Fn(char) -> bool,
    second: impl Fn(char) -> bool,
    replace: impl Fn(char, char) -> [char; 4],
) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 2);
    let mut i = 0;
    while i < s.len() {
        match s.get(i + 1) {
            Some(&next) if first(s[i]) && second(next) => {
                out.extend(replace(s[i], next));
                i += 2;
            }
            _ => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    out
}

/// BLEU sufficient statistics of one pair (sacrebleu `BLEU._compute_segment_statistics`):
/// `[hyp_len, ref_len, correct_1..4, total_1..4]` over 13a tokens.
fn bleu_stats(hypothesis: &str, reference: &str) -> [u64; BLEU_STATS] {
    let hyp_tok = tokenize_13a(hypothesis);
    let ref_tok = tokenize_13a(reference);
    let hyp_words: Vec<&str> = py_split(&hyp_tok).collect();
    let ref_words: Vec<&str> = py_split(&ref_tok).collect();
    let mut stats = [0u64; BLEU_STATS];
    stats[0] = hyp_words.len() as u64;
    stats[1] = ref_words.len() as u64;
    for n in 1..=BLEU_MAX_ORDER {
        let ref_counts = ngram_counts(&ref_words, n);
        for (ngram, &count) in &ngram_counts(&hyp_words, n) {
            stats[2 + BLEU_MAX_ORDER + n - 1] += count;
            if let Some(&ref_count) = ref_counts.get(ngram) {
                stats[2 + n - 1] += count.min(ref_count);
            }
        }
    }
    stats
}

/// sacrebleu `my_log`: the natural log, floored at -9999999999 for 0.
fn my_log(x: f64) -> f64 {
    if x == 0.0 {
        -9_999_999_999.0
    } else {
        // Correctly rounded, as CPython's math.log: the same last digit in the page (wasm) as natively.
        crate::kernels::ln_cr(x)
    }
}

/// sacrebleu `BLEU.compute_bleu` with `smooth_method='exp'` and `max_ngram_order=4`.
///
/// The result is capped at 100: for a perfect match sacrebleu returns
/// `exp(ln(100)) = 100.00000000000004`, which we report as 100.
fn compute_bleu(stats: &[u64; BLEU_STATS], effective_order: bool) -> f64 {
    let (sys_len, ref_len) = (stats[0], stats[1]);
    let correct = &stats[2..2 + BLEU_MAX_ORDER];
    let total = &stats[2 + BLEU_MAX_ORDER..];

    let mut bp = 1.0;
    if sys_len < ref_len {
        bp = if sys_len > 0 {
            crate::kernels::exp_cr(1.0 - ref_len as f64 / sys_len as f64)
        } else {
            0.0
        };
    }
    if correct.iter().all(|&c| c == 0) {
        return 0.0;
    }
    let mut precisions = [0.0f64; BLEU_MAX_ORDER];
    let mut smooth_mteval = 1.0f64;
    let mut eff_order = BLEU_MAX_ORDER;
    for n in 1..=BLEU_MAX_ORDER {
        if total[n - 1] == 0 {
            break;
        }
        if effective_order {
            eff_order = n;
        }
        if correct[n - 1] == 0 {
            smooth_mteval *= 2.0;
            precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1] as f64);
        } else {
            precisions[n - 1] = 100.0 * correct[n - 1] as f64 / total[n - 1] as f64;
        }
    }
    let mut log_sum = 0.0;
    for &p in &precisions[..eff_order] {
        log_sum += my_log(p);
    }
    let score = bp * crate::kernels::exp_cr(log_sum / eff_order as f64);
    score.min(100.0)
}

/// Sentence BLEU of one hypothesis against one reference: sacrebleu
/// `sentence_bleu(hyp, [ref])` (13a tokenizer, exp smoothing, effective order on), 0..100.
pub fn sentence_bleu(hypothesis: &str, reference: &str) -> f64 {
    compute_bleu(&bleu_stats(hypothesis, reference), true)
}

/// Corpus BLEU: sacrebleu `BLEU().corpus_score(hyps, [refs])` with its defaults (13a, exp
/// smoothing, effective order *off*), 0..100.
///
/// Statistics of all pairs are summed before the geometric mean (not a mean of sentence scores).
/// Pairs beyond the shorter slice are ignored (sacrebleu `zip`s); an empty corpus scores 0.
pub fn corpus_bleu(hypotheses: &[&str], references: &[&str]) -> f64 {
    let mut total = [0u64; BLEU_STATS];
    for (h, r) in hypotheses.iter().zip(references) {
        for (t, s) in total.iter_mut().zip(bleu_stats(h, r)) {
            *t += s;
        }
    }
    compute_bleu(&total, false)
}

// ---------------------------------------------------------------------------------------------
// WER, IoU, edit similarity
// ---------------------------------------------------------------------------------------------

/// jiwer's default word transform (`wer_default`): `RemoveMultipleSpaces` (each run of two or
/// more whitespace characters becomes one space; a single tab or newline stays as it is),
/// `Strip`, then `split(" ")` dropping empty strings. So `"a\tb"` is ONE word, `"a\t\tb"` two.
fn jiwer_words(s: &str) -> Vec<String> {
    let mut collapsed = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars() {
        if is_python_whitespace(c) {
            run.push(c);
            continue;
        }
        flush_whitespace_run(&mut collapsed, &mut run);
        collapsed.push(c);
    }
    flush_whitespace_run(&mut collapsed, &mut run);
    py_strip(&collapsed)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Appends a pending whitespace run as `re.sub(r"\s\s+", " ", ...)` would, and clears it.
fn flush_whitespace_run(out: &mut String, run: &mut String) {
    if run.chars().nth(1).is_some() {
        out.push(' ');
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// Levenshtein distance (unit costs) between two sequences, in O(len(b)) memory.
fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    if a.is_empty() {
        return b.len();
    }
    if b.is_empty() {
        return a.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(x != y);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Word error rate: `jiwer.wer(reference=reference, hypothesis=hypothesis)` with jiwer's default
/// transform. It is the word-level edit distance (substitutions + deletions + insertions) divided
/// by the number of reference words: 0 is perfect and it exceeds 1 when the hypothesis adds more
/// words than the reference has.
///
/// When the reference has no words, jiwer 4 returns the number of inserted words, i.e. the number
/// of hypothesis words (0 when both are empty); we return the same, never NaN.
pub fn wer(hypothesis: &str, reference: &str) -> f64 {
    let ref_words = jiwer_words(reference);
    let hyp_words = jiwer_words(hypothesis);
    if ref_words.is_empty() {
        return hyp_words.len() as f64;
    }
    levenshtein(&ref_words, &hyp_words) as f64 / ref_words.len() as f64
}

/// Intersection over union (Jaccard index) of the *sets* of whitespace-separated tokens
/// (Python `set(s.split())`), 0..1. Two empty sets give 1.0; one empty set gives 0.0.
pub fn iou(hypothesis: &str, reference: &str) -> f64 {
    let h: HashSet<&str, FixedState> = py_split(hypothesis).collect();
    let r: HashSet<&str, FixedState> = py_split(reference).collect();
    let union = h.union(&r).count();
    if union == 0 {
        return 1.0;
    }
    h.intersection(&r).count() as f64 / union as f64
}

/// Edit similarity: `1 - levenshtein(h, r) / max(len(h), len(r))` over Unicode code points
/// (nothing is stripped or normalised), 0..1. Two empty strings give 1.0.
pub fn edit_similarity(hypothesis: &str, reference: &str) -> f64 {
    let h: Vec<char> = hypothesis.chars().collect();
    let r: Vec<char> = reference.chars().collect();
    let longest = h.len().max(r.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&h, &r) as f64 / longest as f64
}

// ---------------------------------------------------------------------------------------------
// Bootstrap confidence interval
// ---------------------------------------------------------------------------------------------

/// A mean with a 95% bootstrap confidence interval, as returned by [`mean_with_ci`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// The plain mean of the values.
    pub mean: f64,
    /// The 2.5th percentile of the bootstrap means.
    pub low: f64,
    /// The 97.5th percentile of the bootstrap means.
    pub high: f64,
}

/// SplitMix64 (Steele, Lea and Flood 2014; Vigna's reference constants): a tiny, seedable PRNG
/// with the same output on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An index in `0..n` (`n > 0`) by Lemire's multiply-shift: `(x * n) >> 64`.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Mean of `values` with a 95% percentile-bootstrap confidence interval, deterministic for a seed.
///
/// The procedure (identical on every platform):
/// 1. `mean` is the left-to-right sum of `values` divided by their count.
/// 2. A SplitMix64 generator is seeded with `seed`. For each of `resamples` resamples (capped at
///    [`MAX_RESAMPLES`]), `n = values.len()` indices are drawn with replacement, each as
///    `(next_u64() * n) >> 64` (128-bit product), and the mean of those values is recorded.
/// 3. The resample means are sorted ascending (IEEE total order); `low` and `high` are the 2.5th
///    and 97.5th percentiles with linear interpolation between closest ranks: with `m` sorted
///    means `x` and `h = (m - 1) * q`, the value is `x[i] + (h - i) * (x[i + 1] - x[i])` with
///    `i = floor(h)` (numpy's default `linear` method).
///
/// Edge cases: no values gives all zeros; one value, or `resamples == 0`, gives
/// `low == high == mean`. Non-finite values propagate (no panic).
pub fn mean_with_ci(values: &[f64], resamples: usize, seed: u64) -> MeanCi {
    let n = values.len();
    if n == 0 {
        return MeanCi {
            mean: 0.0,
            low: 0.0,
            high: 0.0,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let resamples = resamples.min(MAX_RESAMPLES);
    if resamples == 0 || n == 1 {
        return MeanCi {
            mean,
            low: mean,
            high: mean,
        };
    }
    let mut rng = SplitMix64(seed);
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += values[rng.below(n)];
        }
        means.push(sum / n as f64);
    }
    means.sort_by(f64::total_cmp);
    MeanCi {
        mean,
        low: percentile(&means, 0.025),
        high: percentile(&means, 0.975),
    }
}

/// Linearly interpolated quantile `q` (0..1) of non-empty ascending `sorted`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    let h = last as f64 * q;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    match (sorted.get(lo), sorted.get(hi)) {
        (Some(&a), Some(&b)) => a + (h - lo as f64) * (b - a),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn python_whitespace_matches_str_isspace() {
        let expected: [u32; 29] = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let found: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn tokenizer_13a_hand_checked() {
        // Values from sacrebleu's Tokenizer13a.
        assert_eq!(
            tokenize_13a("x[i]:=f(*a,**k)"),
            "x [ i ] : = f ( * a , * * k )"
        );
        assert_eq!(tokenize_13a("a!=b>=c"), "a ! = b > = c");
        assert_eq!(
            tokenize_13a("return 1.5, 3,4 - 2-1"),
            "return 1.5 , 3,4 - 2 - 1"
        );
        assert_eq!(tokenize_13a("it's done."), "it's done .");
        assert_eq!(tokenize_13a("a &amp;lt; b<skipped>"), "a < b");
        assert_eq!(tokenize_13a("foo-\nbar\nbaz  "), "foobar baz");
        assert_eq!(tokenize_13a(""), "");
    }

    #[test]
    fn chrf_words_split_one_punctuation_mark() {
        assert_eq!(
            chrf_words("(hi) x, ,y z"),
            vec!["(hi", ")", "x", ",", ",", "y", "z"]
        );
        assert_eq!(chrf_words("f(x): ."), vec!["f(x)", ":", "."]);
    }

    #[test]
    fn hand_checked_values() {
        // sacrebleu 2.6.0 / jiwer 4.0.0 values.
        assert!(close(chrf("abc", "abd"), 38.888888888888886));
        assert!(close(
            sentence_bleu("a b c d", "a b c e"),
            59.460355750136046
        ));
        assert!(close(wer("a b x", "a b c d"), 0.5));
        assert!(close(iou("a b c", "b c d"), 0.5));
        assert!(close(edit_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0));
    }

    #[test]
    fn edge_cases() {
        let s = score("", "");
        assert_eq!(
            s,
            Scores {
                exact: 1.0,
                exact_stripped: 1.0,
                chrf: 0.0,
                chrf_pp: 0.0,
                bleu: 0.0,
                wer: 0.0,
                iou: 1.0,
                edit_sim: 1.0,
            }
        );
        // Empty reference: WER counts hypothesis words, like jiwer 4.
        assert_eq!(wer("a b c", ""), 3.0);
        assert_eq!(wer("a b c", " \t "), 3.0);
        assert_eq!(wer("", "a b"), 1.0);
        // jiwer keeps a single tab inside a word.
        assert_eq!(wer("a\tb", "a b"), 1.0);
        assert_eq!(wer("a\t\tb", "a b"), 0.0);
        assert_eq!(iou("", "x"), 0.0);
        assert_eq!(edit_similarity("", "abc"), 0.0);
        assert_eq!(score(" x ", "x").exact_stripped, 1.0);
        assert_eq!(score(" x ", "x").exact, 0.0);
        assert_eq!(corpus_chrf(&[], &[]), 0.0);
        assert_eq!(corpus_bleu(&[], &[]), 0.0);
    }

    #[test]
    fn exact_match_is_perfect() {
        for s in [
            "x",
            "    return self._fallback(*args, **kwargs)  # done",
            "a!=b>=c",
            "名前 = \"値\" 🎉",
            "e\u{301}t\u{e9}",
            "a\tb",
        ] {
            let sc = score(s, s);
            assert_eq!(sc.exact, 1.0, "{s:?}");
            assert_eq!(sc.exact_stripped, 1.0, "{s:?}");
            assert_eq!(sc.chrf, 100.0, "{s:?}");
            assert_eq!(sc.chrf_pp, 100.0, "{s:?}");
            assert_eq!(sc.bleu, 100.0, "{s:?}");
            assert_eq!(sc.wer, 0.0, "{s:?}");
            assert_eq!(sc.iou, 1.0, "{s:?}");
            assert_eq!(sc.edit_sim, 1.0, "{s:?}");
        }
    }

    #[test]
    fn metrics_stay_in_bounds() {
        let samples = [
            "",
            " ",
            "\t\n",
            "x",
            "def f(x):",
            "    return x + 1",
            "    return x+1  # plus",
            "x[i]:=f(*a,**k)",
            "a!=b>=c",
            "\"it's\" 'quoted'",
            "名前 🎉 e\u{301}",
            "1.5, 2-3 &amp; <skipped>",
        ];
        for h in samples {
            for r in samples {
                let s = score(h, r);
                for (name, v, hi) in [
                    ("chrf", s.chrf, 100.0),
                    ("chrf_pp", s.chrf_pp, 100.0),
                    ("bleu", s.bleu, 100.0),
                    ("iou", s.iou, 1.0),
                    ("edit_sim", s.edit_sim, 1.0),
                    ("exact", s.exact, 1.0),
                    ("exact_stripped", s.exact_stripped, 1.0),
                ] {
                    assert!((0.0..=hi).contains(&v), "{name}={v} for {h:?} vs {r:?}");
                }
                assert!(
                    s.wer >= 0.0 && s.wer.is_finite(),
                    "wer={} for {h:?} vs {r:?}",
                    s.wer
                );
            }
        }
    }

    #[test]
    fn bootstrap_is_deterministic_and_sane() {
        let values: Vec<f64> = (0..50).map(|i| f64::from(i % 7) / 6.0).collect();
        let a = mean_with_ci(&values, 2000, 42);
        let b = mean_with_ci(&values, 2000, 42);
        assert_eq!(a, b);
        assert!(a.low <= a.mean, "{a:?}");
        assert!(a.mean <= a.high, "{a:?}");
        assert!(a.low >= 0.0 && a.high <= 1.0);
        assert!(a.high - a.low > 0.0);
        let c = mean_with_ci(&values, 2000, 43);
        assert_ne!(a, c);
        assert_eq!(
            mean_with_ci(&[], 100, 1),
            MeanCi {
                mean: 0.0,
                low: 0.0,
                high: 0.0
            }
        );
        assert_eq!(
            mean_with_ci(&[0.25], 100, 1),
            MeanCi {
                mean: 0.25,
                low: 0.25,
                high: 0.25
            }
        );
        assert_eq!(mean_with_ci(&[1.0, 3.0], 0, 1).low, 2.0);
    }

    #[test]
    fn splitmix64_reference_outputs() {
        // First outputs of Vigna's splitmix64.c seeded with 0.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
