//! `infill`: the command-line face of the same core the page runs, so anything the page does can be
//! reproduced and checked from a shell.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use infill::engine::Engine;
use infill::generation::GenerationConfig;
use infill::metrics;
use infill::model::{to_fast_type, LoadOptions};
use infill::protocol::Settings;

#[derive(Parser)]
#[command(
    name = "infill",
    version,
    about = "Fill-in-the-middle Python completion and its metrics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hide one line of a Python file and let the model write it back.
    Complete {
        /// A GGUF model file.
        #[arg(long)]
        model: PathBuf,
        /// The Python file.
        #[arg(long)]
        file: PathBuf,
        /// The 1-based line to hide.
        #[arg(long)]
        line: usize,
        /// Number of beams (1 = greedy).
        #[arg(long, default_value_t = 5)]
        beams: usize,
        /// Upper bound on generated tokens.
        #[arg(long, default_value_t = 48)]
        max_new_tokens: usize,
        /// `single` stops at the end of the line; `multi` may write several lines.
        #[arg(long, default_value = "single")]
        mode: String,
        /// Print the whole result (every beam, scores, figures) as JSON.
        #[arg(long)]
        json: bool,
        /// Run the weights as stored. By default, as in the page, Q4_1/Q5_x matrices are re-encoded to
        /// Q8_0 at load, which is several times faster.
        #[arg(long)]
        keep_quantization: bool,
    },
    /// Write a copy of a GGUF model whose Q4_1/Q5_x matrices are re-encoded to Q8_0, once, so that
    /// loading it needs no conversion.
    Convert {
        /// The GGUF model to read.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the converted model.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score JSONL records with `hypothesis` and `reference` fields; writes each record back with the
    /// scores added.
    Score {
        /// The JSONL file (default: standard input).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print the dataset-level table instead of the records.
        #[arg(long)]
        summary: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("infill: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Complete {
            model,
            file,
            line,
            beams,
            max_new_tokens,
            mode,
            json,
            keep_quantization,
        } => {
            let config = GenerationConfig::from_settings(&Settings {
                beams,
                max_new_tokens,
                mode,
            })
            .map_err(|e| e.to_string())?;
            let code = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let code = String::from_utf8(code)
                .map_err(|_| format!("{}: not valid UTF-8 text", file.display()))?;
            let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
            let name = model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let options = LoadOptions {
                requantize_q8: !keep_quantization,
            };
            let engine =
                Engine::from_gguf_bytes_with(&bytes, &name, options).map_err(|e| e.to_string())?;
            drop(bytes);
            let t0 = Instant::now();
            let clock = move || t0.elapsed().as_secs_f64() * 1000.0;
            let (run, report) = engine
                .complete(&code, line, config, &clock)
                .map_err(|e| e.to_string())?;
            if json {
                let value = serde_json::json!({
                    "model": engine.info(),
                    "prompt": run.prompt_text,
                    "result": report,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
                );
            } else {
                println!("{}", report.completion);
            }
            Ok(())
        }
        Command::Score { input, summary } => score(input, summary),
        Command::Convert { model, out } => convert(&model, &out),
    }
}

fn score(input: Option<PathBuf>, summary: bool) -> Result<(), String> {
    let reader: Box<dyn BufRead> = match &input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut records = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let field = |k: &str| -> Result<String, String> {
            value
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("line {}: no string field `{k}`", n + 1))
        };
        let (h, r) = (field("hypothesis")?, field("reference")?);
        let s = metrics::score(&h, &r);
        if let (Some(obj), serde_json::Value::Object(scores)) = (
            value.as_object_mut(),
            serde_json::to_value(&s).map_err(|e| e.to_string())?,
        ) {
            obj.extend(scores);
        }
        records.push((h, r, s, value));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !summary {
        for (_, _, _, v) in &records {
            writeln!(out, "{v}").map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let hyps: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    let refs: Vec<&str> = records.iter().map(|r| r.1.as_str()).collect();
    writeln!(out, "{} records", records.len()).map_err(|e| e.to_string())?;
    writeln!(out, "| metric | mean | 95% CI |").map_err(|e| e.to_string())?;
    writeln!(out, "|---|---|---|").map_err(|e| e.to_string())?;
    type Get = fn(&metrics::Scores) -> f64;
    let rows: [(&str, Get); 8] = [
        ("exact", |s| s.exact),
        ("exact_stripped", |s| s.exact_stripped),
        ("chrf", |s| s.chrf),
        ("chrf_pp", |s| s.chrf_pp),
        ("bleu", |s| s.bleu),
        ("wer", |s| s.wer),
        ("iou", |s| s.iou),
        ("edit_sim", |s| s.edit_sim),
    ];
    for (name, get) in rows {
        let values: Vec<f64> = records.iter().map(|r| get(&r.2)).collect();
        let ci = metrics::mean_with_ci(&values, 1000, 0);
        writeln!(
            out,
            "| {name} | {:.4} | [{:.4}, {:.4}] |",
            ci.mean, ci.low, ci.high
        )
        .map_err(|e| e.to_string())?;
    }
    writeln!(
        out,
        "| corpus chrF | {:.4} | |",
        metrics::corpus_chrf(&hyps, &refs)
    )
    .map_err(|e| e.to_string())?;
    writeln!(
        out,
        "| corpus BLEU | {:.4} | |",
        metrics::corpus_bleu(&hyps, &refs)
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn convert(model: &std::path::Path, out: &std::path::Path) -> Result<(), String> {
    use candle_core::quantized::gguf_file;
    let err = |e: candle_core::Error| format!("{}: {e}", model.display());
    let mut file = std::fs::File::open(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let content = gguf_file::Content::read(&mut file).map_err(err)?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    let mut converted = 0;
    for name in names {
        let t = content
            .tensor(&mut file, name, &candle_core::Device::Cpu)
            .map_err(err)?;
        let before = t.dtype();
        let t = if t.shape().rank() == 2 {
            to_fast_type(t).map_err(|e| e.to_string())?
        } else {
            t
        };
        if t.dtype() != before {
            converted += 1;
        }
        tensors.push((name.as_str(), t));
    }
    let mut metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.file_type")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by_key(|(k, _)| *k);
    let tensor_refs: Vec<(&str, &candle_core::quantized::QTensor)> =
        tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?,
    );
    gguf_file::write(&mut w, &metadata, &tensor_refs)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    w.flush().map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "re-encoded {converted} of {} tensors to Q8_0: {}",
        tensors.len(),
        out.display()
    );
    Ok(())
}
