//! The engine on the real default model: tokenizer parity, the completion rules, and bad input.

mod common;

use infill::engine::Engine;
use infill::generation::GenerationConfig;
use infill::protocol::Settings;

const SAMPLE: &str = "def average(values):\n    \"\"\"Return the arithmetic mean of a list of numbers.\"\"\"\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n";

fn config(beams: usize, mode: &str) -> GenerationConfig {
    GenerationConfig::from_settings(&Settings {
        beams,
        max_new_tokens: 48,
        mode: mode.to_string(),
        ..Settings::default()
    })
    .expect("valid settings")
}

#[test]
fn tokenizer_gives_the_reference_ids_on_real_python() {
    let fixture = include_str!("fixtures/tokenizer_smollm2.jsonl");
    let tok = common::engine().tokenizer();
    let mut checked = 0;
    for line in fixture.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("fixture line");
        let text = v["text"].as_str().expect("text");
        let want: Vec<u32> = v["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|i| i.as_u64().expect("id") as u32)
            .collect();
        let got = tok.encode(text).expect("encodes");
        assert_eq!(got, want, "ids differ for {}: {text:?}", v["source"]);
        assert_eq!(tok.decode(&got), text, "decode does not round-trip");
        checked += got.len();
    }
    assert!(checked > 10_000, "only {checked} tokens checked");
}

#[test]
fn digits_are_split_one_by_one_as_in_smollm2() {
    let tok = common::engine().tokenizer();
    let ids = tok.encode("    1").expect("encodes");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(tok.decode(&ids[1..]), "1");
    assert_eq!(tok.encode("12345").expect("encodes").len(), 5);
}

#[test]
fn a_beam_search_completion_is_one_nonempty_line_and_beams_are_ranked() {
    let engine = common::engine();
    let (run, report) = engine
        .complete(SAMPLE, 6, config(5, "single"), &common::clock())
        .expect("completes");
    assert!(!report.completion.trim().is_empty());
    assert!(!report.completion.contains('\n'), "{:?}", report.completion);
    assert_eq!(report.target, "    return total / len(values)");
    assert!(
        !run.prompt_text.ends_with('\n'),
        "token healing keeps the newline out of the prompt"
    );
    assert_eq!(report.beams.len(), 5);
    for pair in report.beams.windows(2) {
        assert!(pair[0].score >= pair[1].score, "{:?}", report.beams);
    }
    for beam in &report.beams {
        assert!(!beam.text.contains('\n'), "{beam:?}");
    }
    assert_eq!(
        report.scores,
        infill::metrics::score(&report.completion, &report.target)
    );
    assert_eq!(report.stats.prompt_tokens, run.prompt_tokens);
}

#[test]
fn greedy_completes_the_obvious_line_exactly() {
    let engine = common::engine();
    let (_, report) = engine
        .complete(SAMPLE, 5, config(1, "single"), &common::clock())
        .expect("completes");
    assert_eq!(report.completion, "        total += v");
    assert_eq!(report.scores.exact, 1.0);
    let cos = report.cosine.expect("cosine of two non-blank lines");
    assert!((cos - 1.0).abs() < 1e-6, "{cos}");
}

#[test]
fn multi_line_mode_may_write_past_the_line() {
    let engine = common::engine();
    let cfg = GenerationConfig {
        max_new_tokens: 24,
        ..config(1, "multi")
    };
    let (_, report) = engine
        .complete(SAMPLE, 4, cfg, &common::clock())
        .expect("completes");
    assert!(report.completion.contains('\n'), "{:?}", report.completion);
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let engine = common::engine();
    for (line, wanted) in [
        (0, "start at 1"),
        (40, "does not exist"),
        (1, "no code before"),
    ] {
        let err = engine
            .start(SAMPLE, line, config(5, "single"), 0.0)
            .err()
            .unwrap_or_else(|| panic!("line {line} should fail"));
        assert!(err.to_string().contains(wanted), "line {line}: {err}");
    }
    let blank = "def f():\n\n    return 1\n";
    assert!(engine.start(blank, 2, config(1, "single"), 0.0).is_err());
}

#[test]
fn corrupt_model_files_are_clear_errors() {
    let bytes = std::fs::read(common::model_path()).expect("model");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "html page",
            b"<!DOCTYPE html><html>404 Not Found</html>".to_vec(),
        ),
        ("empty", Vec::new()),
        ("truncated header", bytes[..1000].to_vec()),
        ("truncated tensors", bytes[..bytes.len() / 2].to_vec()),
    ];
    for (what, data) in cases {
        match Engine::from_gguf_bytes(&data, what) {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => assert!(e.to_string().contains("model file"), "{what}: {e}"),
        }
    }
}

#[test]
fn q8_re_encoding_keeps_the_completions_of_the_stored_weights() {
    // Lines of CPython's textwrap-like code: the re-encoded model must agree with the stored one.
    let cases = [(SAMPLE, 3), (SAMPLE, 4), (SAMPLE, 5), (SAMPLE, 6)];
    let mut same = 0;
    for (code, line) in cases {
        let fast = common::engine()
            .complete(code, line, config(1, "single"), &common::clock())
            .expect("completes")
            .1;
        let stored = common::engine_as_stored()
            .complete(code, line, config(1, "single"), &common::clock())
            .expect("completes")
            .1;
        same += usize::from(fast.completion == stored.completion);
    }
    assert_eq!(
        same,
        cases.len(),
        "greedy completions differ after re-encoding to Q8_0"
    );
}
