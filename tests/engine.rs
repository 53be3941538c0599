//! The engine on the real default model: tokenizer parity, the completion rules, and bad input.

mod common;

use infill::engine::{Engine, StepOutcome, PROMPT_CHUNK};
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
    // The default reranks the finished beams by the suffix (this model has no FIM tokens): they come
    // best first by that score; the shown completion is the first.
    for pair in report.beams.windows(2) {
        let (a, b) = (pair[0].rerank, pair[1].rerank);
        assert!(a.is_some() && b.is_some(), "{:?}", report.beams);
        assert!(a >= b, "{:?}", report.beams);
    }
    assert_eq!(report.completion, report.beams[0].text);
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

/// 101 lines of code, about 1,800 tokens before the last line.
/// Each beam's text and the exact bits of its score.
fn beam_bits(report: &infill::protocol::CompletionReport) -> Vec<(String, u64)> {
    report
        .beams
        .iter()
        .map(|b| (b.text.clone(), b.score.to_bits()))
        .collect()
}

fn long_function() -> String {
    let mut code = String::from("def long_function(data):\n");
    for i in 0..100 {
        code += &format!("    value_{i} = data[{i}] * {} + {}\n", i + 1, i % 7);
    }
    code + "    return value_99\n"
}

#[test]
fn a_long_prompt_is_read_one_piece_per_step_and_a_piece_at_a_time_gives_the_same_logits() {
    let engine = common::engine();
    let code = long_function();
    // Reading in pieces equals reading at once (the same cache positions and mask, piece by piece).
    let ids = engine.tokenizer().encode(&code).expect("encodes");
    let ids = &ids[..ids.len().min(3 * PROMPT_CHUNK + 37)];
    let model = engine.model();
    let run = |split: &[usize]| {
        let mut cache = model.new_cache();
        let mut last = Vec::new();
        let mut at = 0;
        for &end in split.iter().chain([ids.len()].iter()) {
            last = model
                .logits(&[ids[at..end].to_vec()], &mut cache)
                .expect("runs")
                .remove(0);
            at = end;
        }
        last
    };
    let pieces_at: Vec<usize> = (1..=ids.len() / PROMPT_CHUNK)
        .map(|k| k * PROMPT_CHUNK)
        .collect();
    let whole = run(&[]);
    let pieces = run(&pieces_at);
    // The yardstick: the whole prompt but its last token, then that token alone, as decoding runs.
    let decoded = run(&[ids.len() - 1]);
    let diff = |v: &[f32]| {
        whole
            .iter()
            .zip(v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    let (d_pieces, d_decoded) = (diff(&pieces), diff(&decoded));
    eprintln!("largest logit difference from the whole prompt: pieces {d_pieces}, last token alone {d_decoded}");
    assert!(
        d_pieces <= (2.0 * d_decoded).max(1e-3),
        "pieces differ by {d_pieces}, one token by {d_decoded}"
    );
    let argmax = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j]));
    assert_eq!(argmax(&whole), argmax(&pieces));

    // The engine reads a long prompt one piece per `step` (no beams yet), so a caller can cancel in between.
    let line = 102;
    let mut run = engine
        .start(&code, line, config(1, "single"), 0.0)
        .expect("starts");
    let total = run.prompt_tokens;
    assert!(total > 3 * PROMPT_CHUNK, "{total} prompt tokens");
    let mut read = run.prompt_tokens_read();
    assert!(read < total, "the whole prompt was read in `start`");
    let unread = total - read;
    let mut reading_steps = 0;
    let first = loop {
        match engine.step(&mut run, 0.0).expect("steps") {
            StepOutcome::Running(beams) if run.steps() == 0 => {
                assert!(beams.is_empty());
                assert!(run.prompt_tokens_read() > read);
                read = run.prompt_tokens_read();
                reading_steps += 1;
            }
            StepOutcome::Running(_) => {}
            StepOutcome::Done(report) => break *report,
        }
    };
    assert_eq!(read, total);
    assert_eq!(reading_steps, unread.div_ceil(PROMPT_CHUNK));
    assert!(!first.completion.trim().is_empty());
    // The same request again (its prompt now mostly taken from the cache) writes the same line.
    let (_, again) = engine
        .complete(&code, line, config(1, "single"), &common::clock())
        .expect("completes");
    assert_eq!(again.completion, first.completion);
}

#[test]
fn a_prompt_stopped_while_it_is_read_is_continued_by_the_next_and_completes_the_same() {
    let engine = common::own_engine();
    let code = long_function();
    let line = 101;
    let mut run = engine
        .start(&code, line, config(2, "single"), 0.0)
        .expect("starts");
    let total = run.prompt_tokens;
    for _ in 0..2 {
        assert!(matches!(engine.step(&mut run, 0.0), Ok(StepOutcome::Running(b)) if b.is_empty()));
    }
    let read = run.prompt_tokens_read();
    assert_eq!(read, 2 * PROMPT_CHUNK);
    assert!(read + PROMPT_CHUNK < total, "{read} of {total}");
    engine.stop(run);

    // The same line again (the person stopped it, then pressed Complete): the reading goes on from `read`.
    let again = engine
        .start(&code, line, config(2, "single"), 0.0)
        .expect("starts");
    assert_eq!(again.prompt_tokens_read(), read);
    engine.stop(again);
    // A line further down begins with the same tokens: it continues from there too, and its completion has
    // the bits of one read from scratch (the shared engine, whose cached prompt other tests change).
    let mut later = engine
        .start(&code, line + 1, config(2, "single"), 0.0)
        .expect("starts");
    assert_eq!(later.prompt_tokens_read(), read);
    let continued = loop {
        if let StepOutcome::Done(report) = engine.step(&mut later, 0.0).expect("steps") {
            break *report;
        }
    };
    assert_eq!(continued.stats.cached_tokens, read);
    let fresh = common::own_engine();
    let (_, scratch) = fresh
        .complete(&code, line + 1, config(2, "single"), &common::clock())
        .expect("completes");
    assert_eq!(scratch.stats.cached_tokens, 0);
    assert_eq!(continued.completion, scratch.completion);
    assert_eq!(beam_bits(&continued), beam_bits(&scratch));
}

#[test]
fn code_read_ahead_serves_the_line_picked_next_with_the_same_completion() {
    let engine = common::own_engine();
    let code = long_function();
    let mut ahead = engine
        .read_ahead(&code, config(2, "single"), 0.0)
        .expect("starts");
    let total = ahead.prompt_tokens;
    let mut pieces = 0;
    while engine.read_ahead_step(&mut ahead).expect("reads") {
        pieces += 1;
    }
    let read = ahead.prompt_tokens_read();
    // All but the last piece, which would start a search.
    assert_eq!(pieces, (total - 1) / PROMPT_CHUNK);
    assert!(
        read < total && total - read <= PROMPT_CHUNK,
        "{read} of {total}"
    );
    assert_eq!(ahead.steps(), 0);
    engine.stop(ahead);

    // The person picks a line in the middle: its whole prompt (but the last token, which must run to give
    // the next token's odds) was read ahead, and it completes as if read from scratch.
    let line = 60;
    let (_, picked) = engine
        .complete(&code, line, config(2, "single"), &common::clock())
        .expect("completes");
    assert_eq!(picked.stats.cached_tokens, picked.stats.prompt_tokens - 1);
    let (_, scratch) = common::own_engine()
        .complete(&code, line, config(2, "single"), &common::clock())
        .expect("completes");
    assert_eq!(beam_bits(&picked), beam_bits(&scratch));
    assert_eq!(picked.completion, scratch.completion);

    // Code with nothing above its only line has nothing to read ahead: a clear error, no panic.
    assert!(engine
        .read_ahead("def f():\n", config(1, "single"), 0.0)
        .is_err());
    assert!(engine
        .read_ahead("\n  \n", config(1, "single"), 0.0)
        .is_err());
    // Nor has code longer than the context (each line's prompt would begin elsewhere).
    let huge = "x = 1\n".repeat(3 * engine.model().context_length());
    assert!(engine.read_ahead(&huge, config(1, "single"), 0.0).is_err());
    // None of these refusals cost the engine its cached prompt: the next line continues from line 60's.
    let (_, next) = engine
        .complete(&code, line + 1, config(2, "single"), &common::clock())
        .expect("completes");
    assert!(
        next.stats.cached_tokens > picked.stats.prompt_tokens / 2,
        "{} of {} reused",
        next.stats.cached_tokens,
        next.stats.prompt_tokens
    );
}

#[test]
fn beams_share_one_copy_of_the_prompt_and_a_reused_prompt_gives_the_same_logits() {
    let engine = common::engine();
    let code = long_function();
    let model = engine.model();
    let ids = engine.tokenizer().encode(&code).expect("encodes");
    let (half, n) = (200, 420);
    let read = |cache: &mut infill::model::KvCache, from: usize| {
        cache.reserve_prompt(n - from);
        model
            .logits(&[ids[from..n].to_vec()], cache)
            .expect("runs")
            .remove(0)
    };
    // The yardstick: a fresh cache that reads the first `half` tokens, then the rest.
    let mut fresh = model.new_cache();
    model
        .logits(&[ids[..half].to_vec()], &mut fresh)
        .expect("runs");
    let want = read(&mut fresh, half);
    assert_eq!(fresh.shared_positions(), n);
    // As the engine reuses a prompt: a clone of a longer cache (still held elsewhere), cut to `half`.
    let mut longer = model.new_cache();
    model
        .logits(&[ids[..n + 30].to_vec()], &mut longer)
        .expect("runs");
    let mut reused = longer.clone();
    reused.truncate(half).expect("cuts");
    let got = read(&mut reused, half);
    assert!(got
        .iter()
        .zip(&want)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(
        reused.shared_positions(),
        n,
        "the prompt went to the row's own part"
    );
    // Five beams step over the shared prompt: each row's logits are those of one row on its own.
    let next: Vec<u32> = ids[n..n + 5].to_vec();
    let mut beams = reused.clone();
    let rows = model
        .logits(
            &next.iter().map(|&t| vec![t]).collect::<Vec<_>>(),
            &mut beams,
        )
        .expect("steps");
    assert_eq!(beams.shared_positions(), n);
    for (row, &t) in rows.iter().zip(&next) {
        let mut one = fresh.clone();
        let alone = model.logits(&[vec![t]], &mut one).expect("steps").remove(0);
        assert!(row
            .iter()
            .zip(&alone)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    // The longer cache it was cut from still gives its own logits.
    let mut again = longer.clone();
    let after_longer = model
        .logits(&[vec![ids[n + 30]]], &mut again)
        .expect("steps");
    let mut direct = model.new_cache();
    model
        .logits(&[ids[..n + 30].to_vec()], &mut direct)
        .expect("runs");
    let direct = model
        .logits(&[vec![ids[n + 30]]], &mut direct)
        .expect("steps");
    assert_eq!(after_longer, direct);

    // The engine: a 5-beam search holds its prompt once, the first time and when the prompt is reused.
    for _ in 0..2 {
        let mut run = engine
            .start(&code, 60, config(5, "single"), 0.0)
            .expect("starts");
        let mut checked = false;
        loop {
            match engine.step(&mut run, 0.0).expect("steps") {
                StepOutcome::Running(beams) if !beams.is_empty() && !checked => {
                    assert_eq!(run.shared_prompt_positions(), run.prompt_tokens);
                    checked = true;
                }
                StepOutcome::Running(_) => {}
                StepOutcome::Done(_) => break,
            }
        }
        assert!(checked);
    }
}

#[test]
fn a_paste_far_longer_than_the_context_keeps_the_lines_around_the_hole() {
    // About 3 MB of code, 120,000 lines: the prompt is cut from the lines nearest the hole without
    // tokenizing the rest (which took 13 s and 1.3 GB more before), and the cut is the same as for a text
    // only just over the budget.
    let engine = common::engine();
    let lines: Vec<String> = (0..120_000)
        .map(|i| format!("    value_{i} = data[{i}] * {} + {}\n", i % 13, i % 7))
        .collect();
    let code = format!("def huge(data):\n{}    return value_0\n", lines.concat());
    let hole = 60_002; // `    value_60000 = ...`
    let run = engine
        .start(&code, hole, config(1, "single"), 0.0)
        .expect("starts");
    let context = engine.model().context_length();
    assert!(run.prompt_tokens <= context, "{} tokens", run.prompt_tokens);
    assert!(
        run.prompt_tokens > context / 2,
        "{} tokens",
        run.prompt_tokens
    );
    let text = &run.prompt_text;
    assert!(
        text.contains("    value_59999 = data[59999]"),
        "the line above the hole is gone"
    );
    assert!(!text.contains("def huge("), "the first line was kept");
    assert!(
        !text.contains("value_60000 ="),
        "the hidden line is in the prompt"
    );
    // The same lines as the whole text with only a window around the hole: nothing far away counted.
    let window = format!("def huge(data):\n{}", lines[59_000..61_000].concat());
    let small = engine
        .start(&window, 1 + 1000 + 1, config(1, "single"), 0.0)
        .expect("starts");
    assert_eq!(small.prompt_text, run.prompt_text);
}

#[test]
fn reranked_lines_that_share_their_beginning_get_the_scores_they_get_alone() {
    let engine = common::engine();
    let model = engine.model();
    let tok = engine.tokenizer();
    let ids = tok.encode(&long_function()).expect("encodes");
    let (prompt, last) = (&ids[..120], ids[120]);
    let cache = cache_of(model, prompt);
    let line = |text: &str| tok.encode(text).expect("encodes");
    let a = line("    total = sum(values)\n    return total");
    let mut b = a[..4].to_vec();
    b.extend(line(" len(values) + 1\n"));
    let seqs = vec![
        a.clone(),
        b,
        a.clone(),       // the same line twice
        a[..3].to_vec(), // a line that is the beginning of another
        Vec::new(),
        line("\treturn None"), // shares nothing past the prompt
        vec![a[0]],
    ];
    let together = model
        .continuation_logprobs(&cache, last, &seqs, Vec::new())
        .expect("scores");
    for (s, got) in seqs.iter().zip(&together) {
        let alone = model
            .continuation_logprobs(&cache, last, std::slice::from_ref(s), Vec::new())
            .expect("scores")[0];
        assert_eq!(
            got.to_bits(),
            alone.to_bits(),
            "{s:?}: {got} against {alone}"
        );
        assert!(
            got.is_finite() && (*got < 0.0 || s.is_empty()),
            "{s:?}: {got}"
        );
    }
    assert_eq!(together[4], 0.0);
    // The cache was only read: the prompt's logits are still those of a fresh read.
    assert_eq!(cache.len(), 120);
}

#[test]
fn a_line_scored_from_where_a_beam_search_left_it_gets_the_score_of_a_fresh_run() {
    use infill::kernels::log_softmax;
    use infill::model::Known;
    let engine = common::engine();
    let model = engine.model();
    let tok = engine.tokenizer();
    let ids = tok.encode(&long_function()).expect("encodes");
    // The prompt's last token is in the cache, as the engine keeps it.
    let (prompt, last) = (&ids[..120], ids[119]);
    let mut cache = model.new_cache();
    let first = model
        .logits(&[prompt.to_vec()], &mut cache)
        .expect("runs")
        .remove(0);
    // The prompt alone, as the reranker gets it.
    let prompt_cache = cache_of(model, prompt);
    // Three beams, two steps, as a search runs them: rows copied from their parents, one token each.
    let line = tok
        .encode("    total = sum(values)\n    return total")
        .expect("encodes");
    let other = tok
        .encode("    count = len(values) + 1\n")
        .expect("encodes");
    cache.select_rows(&[0, 0, 0]).expect("rows");
    let step1 = model
        .logits(&[vec![line[0]], vec![other[0]], vec![line[0]]], &mut cache)
        .expect("runs");
    cache.select_rows(&[2, 1, 0]).expect("rows");
    let step2 = model
        .logits(&[vec![line[1]], vec![other[1]], vec![other[1]]], &mut cache)
        .expect("runs");
    // Row 0 now holds line[0], line[1]; its log-probabilities are those the search saw.
    let lps = [
        log_softmax(&first)[line[0] as usize],
        log_softmax(&step1[2])[line[1] as usize],
        log_softmax(&step2[0])[line[2] as usize],
    ];
    let fresh = model
        .continuation_logprobs(&prompt_cache, last, std::slice::from_ref(&line), Vec::new())
        .expect("scores")[0];
    for depth in 1..=3 {
        let mut row = cache.row(0).expect("row");
        row.truncate(120 + depth - 1).expect("cuts");
        let known = Known {
            logprobs: lps[..depth].to_vec(),
            cache: row,
        };
        let got = model
            .continuation_logprobs(
                &prompt_cache,
                last,
                std::slice::from_ref(&line),
                vec![Some(known)],
            )
            .expect("scores")[0];
        assert_eq!(
            got.to_bits(),
            fresh.to_bits(),
            "depth {depth}: {got} against {fresh}"
        );
    }
    // The known scores are used, not run again: wrong ones change the result.
    let mut row = cache.row(0).expect("row");
    row.truncate(121).expect("cuts");
    let wrong = Known {
        logprobs: vec![lps[0] - 1.0, lps[1]],
        cache: row,
    };
    let got = model
        .continuation_logprobs(
            &prompt_cache,
            last,
            std::slice::from_ref(&line),
            vec![Some(wrong)],
        )
        .expect("scores")[0];
    assert_eq!(got, fresh - 1.0);
    // A cache that does not hold what the known scores say is ignored.
    let misfit = Known {
        logprobs: vec![lps[0] - 1.0, lps[1]],
        cache: cache.row(0).expect("row"),
    };
    let got = model
        .continuation_logprobs(
            &prompt_cache,
            last,
            std::slice::from_ref(&line),
            vec![Some(misfit)],
        )
        .expect("scores")[0];
    assert_eq!(got.to_bits(), fresh.to_bits());
    // Taking a row alone leaves the search's cache as it was.
    assert_eq!(cache.len(), 122);
}

/// A one-row cache that has read `prompt`.
fn cache_of(model: &infill::model::Model, prompt: &[u32]) -> infill::model::KvCache {
    let mut cache = model.new_cache();
    model.logits(&[prompt.to_vec()], &mut cache).expect("runs");
    cache
}

#[test]
fn a_completion_and_its_target_that_begin_alike_get_the_states_they_get_alone() {
    let engine = common::engine();
    let model = engine.model();
    let tok = |text: &str| engine.tokenizer().encode(text).expect("encodes");
    let target = tok("    return a * b // gcd(a, b)");
    let pairs = [
        (tok("    return a * b / (2 * (a + b))"), target.clone()), // the same start
        (target.clone(), target.clone()),                          // an exact match
        (target[..3].to_vec(), target.clone()),                    // one is the start of the other
        (tok("\treturn None"), target.clone()),                    // nothing in common
    ];
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (a, b) in &pairs {
        let (ea, eb) = model.mean_hidden_pair(a, b).expect("runs");
        assert_eq!(
            bits(&ea),
            bits(&model.mean_hidden(a).expect("runs")),
            "{a:?}"
        );
        assert_eq!(
            bits(&eb),
            bits(&model.mean_hidden(b).expect("runs")),
            "{b:?}"
        );
    }
}
