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
    let (ok, merged, _) = infill(&[
        "merge",
        shard_files[1].to_str().expect("path"),
        shard_files[0].to_str().expect("path"),
    ]);
    assert!(ok);
    let completions = |s: &str| -> Vec<(u64, String)> {
        s.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                (
                    v["index"].as_u64().expect("index"),
                    v["completion"].as_str().expect("completion").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(completions(&merged), completions(&whole));
    assert_eq!(completions(&whole).len(), 3);
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
