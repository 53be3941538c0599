//! The `infill` command line, run as a user runs it.

mod common;

use std::process::Command;

const SAMPLE: &str = "def average(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n";

fn infill(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_infill"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tasks_file(dir: &std::path::Path) -> std::path::PathBuf {
    let lines: Vec<&str> = SAMPLE.split_inclusive('\n').collect();
    let mut jsonl = String::new();
    for n in [2usize, 4, 5] {
        let prefix: String = lines[..n - 1].concat();
        let middle = lines[n - 1].trim_end_matches('\n');
        let suffix = format!("\n{}", lines[n..].concat());
        assert_eq!(format!("{prefix}{middle}{suffix}"), SAMPLE);
        let task = serde_json::json!({"id": format!("t{n}"), "prefix": prefix, "middle": middle, "suffix": suffix});
        jsonl.push_str(&format!("{task}\n"));
    }
    let path = dir.join("tasks.jsonl");
    std::fs::write(&path, jsonl).expect("write tasks");
    path
}

#[test]
fn sharded_eval_merges_to_the_unsharded_run() {
    let dir = std::env::temp_dir().join(format!("infill-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tasks = tasks_file(&dir);
    let model = common::model_path();
    let (m, t) = (model.to_str().expect("path"), tasks.to_str().expect("path"));
    let base = [
        "eval",
        "--model",
        m,
        "--data",
        t,
        "--beams",
        "1",
        "--no-cosine",
    ];
    let (ok, whole, summary) = infill(&base);
    assert!(ok, "{summary}");
    assert!(summary.contains("| exact |"), "{summary}");
    let mut shard_files = Vec::new();
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let (ok, out, err) = infill(&[&base[..], &["--shard", &shard]].concat());
        assert!(ok, "{err}");
        let f = dir.join(format!("shard{k}.jsonl"));
        std::fs::write(&f, out).expect("write shard");
        shard_files.push(f);
    }
    let (ok, merged, merged_summary) = infill(&[
        "merge",
        shard_files[1].to_str().expect("path"),
        shard_files[0].to_str().expect("path"),
    ]);
    assert!(ok, "{merged_summary}");
    // Every record as the unsharded run wrote it, in task order, but its timing and how much of its
    // prompt the previous task's cache held (which depends on what ran before it).
    let records = |s: &str| -> Vec<serde_json::Value> {
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
                let o = v.as_object_mut().expect("object");
                assert!(o.contains_key("completion"), "{l}");
                o.remove("ms");
                o.remove("cached_tokens");
                v
            })
            .collect()
    };
    assert_eq!(records(&merged), records(&whole));
    assert_eq!(records(&whole).len(), 3);
    // And the same summary table.
    let table = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with('|') || l.ends_with(" pairs"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(table(&merged_summary), table(&summary));
    assert!(table(&summary).len() >= 12, "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let model = common::model_path();
    let m = model.to_str().expect("path");
    for (args, wanted) in [
        (
            vec!["eval", "--model", m, "--data", "/nonexistent.jsonl"],
            "No such file",
        ),
        (
            vec!["eval", "--model", "/nonexistent.gguf", "--data", "x"],
            "No such file",
        ),
        (
            vec![
                "complete",
                "--model",
                m,
                "--file",
                "/nonexistent.py",
                "--line",
                "2",
            ],
            "No such file",
        ),
        (
            vec!["eval", "--model", m, "--data", "x", "--shard", "0/2"],
            "--shard",
        ),
        (
            vec![
                "complete",
                "--model",
                m,
                "--file",
                "Cargo.toml",
                "--line",
                "1",
                "--beams",
                "0",
            ],
            "beams",
        ),
    ] {
        let (ok, _, err) = infill(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(wanted), "{args:?}: {err}");
    }
}

fn bigcode_fixture() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/bigcode_tiny")
}

#[test]
fn a_safetensors_model_completes_from_its_file_or_its_folder_with_the_starcoder_prompt() {
    let dir = std::env::temp_dir().join(format!("infill-cli-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let code = dir.join("sample.py");
    std::fs::write(&code, SAMPLE).expect("write sample");
    let fixture = bigcode_fixture();
    let weights = fixture.join("model.safetensors");
    let mut outputs = Vec::new();
    for model in [&fixture, &weights] {
        let (ok, out, err) = infill(&[
            "complete",
            "--model",
            model.to_str().expect("path"),
            "--file",
            code.to_str().expect("path"),
            "--line",
            "4",
            "--beams",
            "2",
            "--json",
        ]);
        assert!(ok, "{}: {err}", model.display());
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["model"]["architecture"], "gpt_bigcode", "{out}");
        assert_eq!(v["model"]["fim_format"], "starcoder", "{out}");
        assert_eq!(v["model"]["name"], "bigcode_tiny/model.safetensors");
        let prompt = v["prompt"].as_str().expect("prompt");
        assert!(
            prompt.starts_with("<fim_prefix>def average(values):\n")
                && prompt.contains("<fim_suffix>")
                && prompt.ends_with("<fim_middle>"),
            "{prompt}"
        );
        // The hidden line is neither in the prefix nor in the suffix.
        assert!(!prompt.contains("total += v"), "{prompt}");
        let beams = v["result"]["beams"].as_array().expect("beams");
        assert_eq!(beams.len(), 2, "{out}");
        assert!(
            beams
                .iter()
                .all(|b| b["tokens"].as_array().is_some_and(|t| !t.is_empty())),
            "{out}"
        );
        outputs.push(v["result"]["beams"].clone());
    }
    assert_eq!(outputs[0], outputs[1], "the folder and its file differ");

    // eval takes the same --model forms.
    let tasks = tasks_file(&dir);
    let (ok, out, err) = infill(&[
        "eval",
        "--model",
        weights.to_str().expect("path"),
        "--data",
        tasks.to_str().expect("path"),
        "--beams",
        "1",
        "--no-cosine",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert!(v.get("error").is_none(), "{line}");
        assert!(v["completion"].is_string(), "{line}");
    }
    assert!(err.contains("| exact |"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_safetensors_model_without_its_companion_files_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("infill-cli-st-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fixture = bigcode_fixture();
    let copy = |file: &str| {
        std::fs::copy(fixture.join(file), dir.join(file)).expect("copy fixture file");
    };
    let run = |model: &std::path::Path| {
        infill(&[
            "complete",
            "--model",
            model.to_str().expect("path"),
            "--file",
            "Cargo.toml",
            "--line",
            "1",
        ])
    };
    // An empty folder: no weights.
    let (ok, _, err) = run(&dir);
    assert!(!ok);
    assert!(err.contains("no model here"), "{err}");
    copy("model.safetensors");
    copy("tokenizer.json");
    for model in [dir.clone(), dir.join("model.safetensors")] {
        let (ok, _, err) = run(&model);
        assert!(!ok);
        assert!(err.contains("config.json is missing"), "{err}");
        assert!(
            err.contains(&dir.join("config.json").display().to_string()),
            "{err}"
        );
    }
    std::fs::remove_file(dir.join("tokenizer.json")).expect("remove");
    copy("config.json");
    let (ok, _, err) = run(&dir);
    assert!(!ok);
    assert!(err.contains("tokenizer.json is missing"), "{err}");
    // Two weights files and no model.safetensors: the user must choose.
    std::fs::rename(dir.join("model.safetensors"), dir.join("a.safetensors")).expect("rename");
    std::fs::write(dir.join("b.safetensors"), b"x").expect("write");
    copy("tokenizer.json");
    let (ok, _, err) = run(&dir);
    assert!(!ok);
    assert!(
        err.contains("several .safetensors files (a.safetensors, b.safetensors)"),
        "{err}"
    );
    // A file that is not safetensors at all.
    let (ok, _, err) = run(&dir.join("b.safetensors"));
    assert!(!ok);
    assert!(err.contains("not a safetensors file"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn code_that_is_not_valid_python_completes_with_a_note_on_stderr() {
    let dir = std::env::temp_dir().join(format!("infill-cli-note-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let model = common::model_path();
    let m = model.to_str().expect("path");
    let py2 = dir.join("legacy.py");
    std::fs::write(
        &py2,
        "def legacy(items):\n    print \"items:\", len(items)\n    total = 0\n    return total\n",
    )
    .expect("write");
    let valid = dir.join("valid.py");
    std::fs::write(&valid, SAMPLE).expect("write");
    let args = |file: &std::path::Path, context: &'static str| {
        let file = file.to_str().expect("path").to_string();
        move || {
            infill(&[
                "complete",
                "--model",
                m,
                "--file",
                &file,
                "--line",
                "4",
                "--beams",
                "1",
                "--max-new-tokens",
                "4",
                "--context",
                context,
            ])
        }
    };
    for context in ["file", "function"] {
        let (ok, out, err) = args(&py2, context)();
        assert!(ok, "{context}: {err}");
        assert!(!out.trim().is_empty(), "{context}: no completion");
        assert!(
            err.contains(
                "infill: note: This code is not valid Python 3 (syntax error at line 2, column"
            ),
            "{context}: {err}"
        );
        assert_eq!(
            err.contains("sees the whole file"),
            context == "function",
            "{context}: {err}"
        );
        let (ok, _, err) = args(&valid, context)();
        assert!(ok, "{context}: {err}");
        assert!(!err.contains("note:"), "{context}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
