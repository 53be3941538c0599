//! Metrics on arbitrary text: the input is split at its first NUL byte into a hypothesis and a
//! reference (each decoded lossily as UTF-8). Checks every score's bounds (no NaN), the perfect
//! values of an exact match (with sacrebleu's documented exceptions), corpus scores, and the
//! bootstrap interval over the scores. Seeds: pairs from `tests/fixtures/metric_vectors.jsonl`.
#![no_main]

use infill::metrics::{
    corpus_bleu, corpus_chrf, is_python_whitespace, mean_with_ci, score, tokenize_13a, Scores,
};
use libfuzzer_sys::fuzz_target;

fn check_bounds(s: &Scores, what: &str) {
    for (name, v, hi) in [
        ("exact", s.exact, 1.0),
        ("exact_stripped", s.exact_stripped, 1.0),
        ("chrf", s.chrf, 100.0),
        ("chrf_pp", s.chrf_pp, 100.0),
        ("bleu", s.bleu, 100.0),
        ("iou", s.iou, 1.0),
        ("edit_sim", s.edit_sim, 1.0),
    ] {
        assert!((0.0..=hi).contains(&v), "{name} = {v} for {what}");
    }
    assert!(s.wer.is_finite() && s.wer >= 0.0, "wer = {} for {what}", s.wer);
}

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let h = String::from_utf8_lossy(&data[..cut]);
    let r = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or(&[]));
    let pair = score(&h, &r);
    check_bounds(&pair, "the pair");
    assert_eq!(pair.exact == 1.0, h == r);

    for s in [&h, &r] {
        let same = score(s, s);
        check_bounds(&same, "an exact match");
        assert_eq!(
            (same.exact, same.exact_stripped, same.wer, same.iou, same.edit_sim),
            (1.0, 1.0, 0.0, 1.0, 1.0)
        );
        let chrf = if s.chars().any(|c| !is_python_whitespace(c)) { 100.0 } else { 0.0 };
        assert_eq!((same.chrf, same.chrf_pp), (chrf, chrf), "{s:?}");
        let bleu = if tokenize_13a(s).is_empty() { 0.0 } else { 100.0 };
        assert_eq!(same.bleu, bleu, "{s:?}");
    }

    let hyps = [h.as_ref(), r.as_ref(), h.as_ref()];
    let refs = [r.as_ref(), h.as_ref()];
    for v in [corpus_chrf(&hyps, &refs), corpus_bleu(&hyps, &refs)] {
        assert!((0.0..=100.0).contains(&v), "corpus score {v}");
    }
    let values = [pair.chrf, pair.bleu, pair.chrf_pp, pair.edit_sim * 100.0];
    let ci = mean_with_ci(&values, 50, data.len() as u64);
    assert!(ci.low <= ci.high && ci.low >= -1e-9 && ci.high <= 100.0 + 1e-9, "{ci:?}");
});
