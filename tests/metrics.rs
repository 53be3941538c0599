//! Checks `infill::metrics` against the reference libraries (sacrebleu 2.6.0, jiwer 4.0.0).
//!
//! `tests/fixtures/metric_vectors.jsonl` is produced by `scripts/gen_metric_vectors.py`; every
//! value must match to 1e-9. On a mismatch the failing pair is printed.

use infill::metrics::{self, Scores};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;
const FIXTURE: &str = include_str!("fixtures/metric_vectors.jsonl");

/// The per-pair fields of the fixture, in `Scores` order.
const FIELDS: [&str; 8] = [
    "exact",
    "exact_stripped",
    "chrf",
    "chrf_pp",
    "bleu",
    "wer",
    "iou",
    "edit_sim",
];

fn records() -> Vec<Value> {
    FIXTURE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("fixture line {}: {e}", i + 1))
        })
        .collect()
}

fn field(scores: &Scores, name: &str) -> f64 {
    match name {
        "exact" => scores.exact,
        "exact_stripped" => scores.exact_stripped,
        "chrf" => scores.chrf,
        "chrf_pp" => scores.chrf_pp,
        "bleu" => scores.bleu,
        "wer" => scores.wer,
        "iou" => scores.iou,
        "edit_sim" => scores.edit_sim,
        _ => unreachable!("unknown field {name}"),
    }
}

/// The expected value of `key`: the exact Python double, from its IEEE-754 bits in `bits`
/// (serde_json's default float parser can be one ulp off), checked against the decimal field.
fn number(record: &Value, key: &str) -> f64 {
    let decimal = record[key]
        .as_f64()
        .unwrap_or_else(|| panic!("record {} has no number {key}", record["id"]));
    let hex = record["bits"][key]
        .as_str()
        .unwrap_or_else(|| panic!("record {} has no bits.{key}", record["id"]));
    let exact = f64::from_bits(u64::from_str_radix(hex, 16).expect("16 hex digits"));
    assert!(
        (exact - decimal).abs() <= 1e-12 * exact.abs().max(1.0),
        "record {}: bits.{key} = {exact:?} but {key} = {decimal:?}",
        record["id"]
    );
    exact
}

fn strings(record: &Value, key: &str) -> Vec<String> {
    record[key]
        .as_array()
        .unwrap_or_else(|| panic!("record {} has no array {key}", record["id"]))
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

#[test]
fn pair_vectors_match_reference_libraries() {
    let records = records();
    let mut max_diff = [0.0f64; FIELDS.len()];
    let mut identical = [0usize; FIELDS.len()];
    let mut capped = 0;
    let mut failures = Vec::new();
    let mut count = 0;
    for record in records.iter().filter(|r| r["kind"] == "pair") {
        count += 1;
        let hyp = record["hypothesis"].as_str().expect("hypothesis");
        let reference = record["reference"].as_str().expect("reference");
        let scores = metrics::score(hyp, reference);
        let single = [
            ("chrf", metrics::chrf(hyp, reference)),
            ("chrf_pp", metrics::chrf_pp(hyp, reference)),
            ("bleu", metrics::sentence_bleu(hyp, reference)),
            ("wer", metrics::wer(hyp, reference)),
            ("iou", metrics::iou(hyp, reference)),
            ("edit_sim", metrics::edit_similarity(hyp, reference)),
        ];
        for (name, value) in single {
            assert_eq!(
                value.to_bits(),
                field(&scores, name).to_bits(),
                "score() and {name}() disagree"
            );
        }
        for (i, name) in FIELDS.iter().enumerate() {
            let expected = number(record, name);
            let got = field(&scores, name);
            let diff = (got - expected).abs();
            max_diff[i] = max_diff[i].max(diff);
            // sacrebleu's perfect BLEU is exp(ln 100) = 100.00000000000004; ours is capped at 100.
            if expected > 100.0 {
                assert_eq!(
                    got, 100.0,
                    "id {}: {name} above 100 must be capped",
                    record["id"]
                );
                capped += 1;
            }
            identical[i] += usize::from(got.to_bits() == expected.to_bits());
            if diff.is_nan() || diff > TOLERANCE {
                failures.push(format!(
                    "id {} [{}] {name}: got {got:?}, expected {expected:?}\n  hypothesis: {hyp:?}\n  reference:  {reference:?}",
                    record["id"], record["category"].as_str().unwrap_or("")
                ));
            }
        }
    }
    println!("{count} pair vectors; per metric: max |rust - python|, bit-identical values");
    for ((name, d), same) in FIELDS.iter().zip(max_diff).zip(identical) {
        println!("  {name:>15}: {d:.3e}  {same}/{count}");
    }
    println!("  ({capped} BLEU values of 100.00000000000004 reported as 100)");
    assert!(count >= 300, "only {count} pair vectors");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_vectors_match_reference_libraries() {
    let records = records();
    let mut max_diff = [0.0f64; 2];
    let mut failures = Vec::new();
    let mut count = 0;
    for record in records.iter().filter(|r| r["kind"] == "corpus") {
        count += 1;
        let hyps = strings(record, "hypotheses");
        let refs = strings(record, "references");
        let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        for (i, (name, got)) in [
            ("corpus_chrf", metrics::corpus_chrf(&hyps, &refs)),
            ("corpus_bleu", metrics::corpus_bleu(&hyps, &refs)),
        ]
        .into_iter()
        .enumerate()
        {
            let expected = number(record, name);
            let diff = (got - expected).abs();
            max_diff[i] = max_diff[i].max(diff);
            if expected > 100.0 {
                assert_eq!(
                    got, 100.0,
                    "id {}: {name} above 100 must be capped",
                    record["id"]
                );
            }
            if diff.is_nan() || diff > TOLERANCE {
                failures.push(format!(
                    "id {} [{}] {name}: got {got:?}, expected {expected:?}\n  hypotheses: {hyps:?}\n  references: {refs:?}",
                    record["id"], record["category"].as_str().unwrap_or("")
                ));
            }
        }
    }
    println!(
        "{count} corpus vectors; max |rust - python|: corpus_chrf {:.3e}, corpus_bleu {:.3e}",
        max_diff[0], max_diff[1]
    );
    assert!(count >= 10, "only {count} corpus vectors");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fixture_scores_are_in_bounds_and_exact_matches_are_perfect() {
    for record in records().iter().filter(|r| r["kind"] == "pair") {
        let hyp = record["hypothesis"].as_str().expect("hypothesis");
        let reference = record["reference"].as_str().expect("reference");
        let s = metrics::score(hyp, reference);
        for (name, value, high) in [
            ("exact", s.exact, 1.0),
            ("exact_stripped", s.exact_stripped, 1.0),
            ("chrf", s.chrf, 100.0),
            ("chrf_pp", s.chrf_pp, 100.0),
            ("bleu", s.bleu, 100.0),
            ("iou", s.iou, 1.0),
            ("edit_sim", s.edit_sim, 1.0),
        ] {
            assert!(
                (0.0..=high).contains(&value),
                "{name} = {value} out of bounds for {hyp:?} vs {reference:?}"
            );
        }
        assert!(s.wer >= 0.0 && s.wer.is_finite(), "wer = {}", s.wer);
        if hyp == reference {
            assert_eq!(
                (s.exact, s.exact_stripped, s.wer, s.iou, s.edit_sim),
                (1.0, 1.0, 0.0, 1.0, 1.0)
            );
            // chrF and BLEU follow sacrebleu, which gives 0 when there is nothing to compare.
            if !hyp.chars().all(metrics::is_python_whitespace) {
                assert_eq!(
                    (s.chrf, s.chrf_pp, s.bleu),
                    (100.0, 100.0, 100.0),
                    "{hyp:?}"
                );
            }
        }
    }
}

#[test]
fn bootstrap_over_fixture_scores_is_deterministic_and_in_range() {
    let values: Vec<f64> = records()
        .iter()
        .filter(|r| r["kind"] == "pair")
        .map(|r| number(r, "chrf"))
        .collect();
    let a = metrics::mean_with_ci(&values, 1000, 7);
    assert_eq!(a, metrics::mean_with_ci(&values, 1000, 7));
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ordered = [min, a.low, a.mean, a.high, max];
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{a:?}");
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert_eq!(a.mean, mean);
    // The interval of a mean over hundreds of values is narrow, but not degenerate.
    let width = a.high - a.low;
    assert!((f64::MIN_POSITIVE..20.0).contains(&width), "{a:?}");
}
