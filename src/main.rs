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
use infill::report;

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

/// Generation settings shared by `complete` and `eval`; the defaults are the page's.
#[derive(clap::Args)]
struct GenArgs {
    /// Number of beams (1 = greedy); with --sample, the number of samples.
    #[arg(long, default_value_t = 5)]
    beams: usize,
    /// Upper bound on generated tokens.
    #[arg(long, default_value_t = 48)]
    max_new_tokens: usize,
    /// `single` stops at the end of the line; `multi` may write several lines.
    #[arg(long, default_value = "single")]
    mode: String,
    /// Sample instead of beam search (uses --temperature, --top-k, --top-p, --seed).
    #[arg(long)]
    sample: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Sample among the K most likely tokens only (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling threshold.
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prompt layout: `auto` (from the model's tokens), `psm`, `spm`, `none` (prefix only) or `fence`
    /// (prefix only, after a ```python code-fence opening, for chat-tuned models).
    #[arg(long, default_value = "auto")]
    format: String,
    /// Turn token healing off: the prompt keeps its trailing newline (for ablations).
    #[arg(long)]
    no_heal: bool,
    /// Turn the line constraint off (blank, comment and mis-indented first lines allowed).
    #[arg(long)]
    no_constrain: bool,
    /// Rerank the final beams by log p(beam + the first N suffix lines | prefix); models without FIM
    /// tokens only. 0 is off. The default (1) is the best measured setting (docs/quality.md).
    #[arg(long, default_value_t = 1)]
    rerank: usize,
    /// The code the model sees: `file`, or `function` (the innermost function around the line).
    #[arg(long, default_value = "file")]
    context: String,
    /// Run the weights as stored. By default, as in the page, Q4_1/Q5_x matrices are re-encoded to
    /// Q8_0 at load, which is several times faster.
    #[arg(long)]
    keep_quantization: bool,
}

impl GenArgs {
    fn config(&self, cosine: bool) -> Result<GenerationConfig, String> {
        GenerationConfig::from_settings(&Settings {
            beams: self.beams,
            max_new_tokens: self.max_new_tokens,
            mode: self.mode.clone(),
            sample: self.sample,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
            format: self.format.clone(),
            heal: !self.no_heal,
            constrain: !self.no_constrain,
            rerank: self.rerank,
            cosine,
            context: self.context.clone(),
        })
        .map_err(|e| e.to_string())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Hide one line of a Python file and let the model write it back.
    Complete {
        /// The model: a GGUF file, or a GPT-BigCode `.safetensors` file with `config.json` and
        /// `tokenizer.json` next to it (or the folder holding the three).
        #[arg(long)]
        model: PathBuf,
        /// The Python file.
        #[arg(long)]
        file: PathBuf,
        /// The 1-based line to hide.
        #[arg(long)]
        line: usize,
        #[command(flatten)]
        gen: GenArgs,
        /// Print the whole result (every beam with its text, token ids and score; figures) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Complete every task of a JSONL file (fields `id`, `prefix`, `middle`, `suffix`; other fields are
    /// kept) and print one JSON line per task with the completion and its scores; the summary table
    /// goes to standard error.
    Eval {
        /// The model: a GGUF file, or a GPT-BigCode `.safetensors` file with `config.json` and
        /// `tokenizer.json` next to it (or the folder holding the three).
        #[arg(long)]
        model: PathBuf,
        /// The tasks (JSONL).
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        gen: GenArgs,
        /// Only the first N tasks.
        #[arg(long)]
        limit: Option<usize>,
        /// Run shard K of N (1-based): the tasks whose 0-based index i has i % N == K - 1.
        #[arg(long)]
        shard: Option<String>,
        /// Skip the cosine similarity (two extra forward passes per task).
        #[arg(long)]
        no_cosine: bool,
    },
    /// Combine the JSONL outputs of `infill eval` shards (or any eval outputs) into one, in task
    /// order, and print the summary table to standard error.
    Merge {
        /// The eval outputs to merge.
        files: Vec<PathBuf>,
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
    /// List every function (`def`, `async def`) of the `*.py` files under a folder, one JSON line
    /// each, with the line numbers Python's `ast` gives; skipped files go to standard error.
    Functions {
        /// The folder, walked recursively.
        dir: PathBuf,
    },
    /// Turn the `*.py` files under a folder into fill-in-the-middle tasks: JSONL on standard
    /// output, a summary with the skipped files on standard error.
    Dataset {
        /// The folder, walked recursively.
        dir: PathBuf,
        /// Seed of the line draw: the same folder and seed give the same tasks.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Hide every candidate line of each function, not one drawn at random.
        #[arg(long)]
        every_line: bool,
        /// The code around the hidden line: `function` or `file`.
        #[arg(long, default_value = "function")]
        context: String,
        /// Skip files larger than this many bytes.
        #[arg(long, default_value_t = infill::dataset::DEFAULT_MAX_FILE_BYTES)]
        max_file_bytes: usize,
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
            gen,
            json,
        } => {
            let config = gen.config(true)?;
            let keep_quantization = gen.keep_quantization;
            let code = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let code = String::from_utf8(code)
                .map_err(|_| format!("{}: not valid UTF-8 text", file.display()))?;
            let engine = load_engine(&model, !keep_quantization)?;
            let t0 = Instant::now();
            let clock = move || t0.elapsed().as_secs_f64() * 1000.0;
            let (run, report) = engine
                .complete(&code, line, config, &clock)
                .map_err(|e| e.to_string())?;
            if let Some(note) = &run.code_note {
                eprintln!("infill: note: {note}");
            }
            if json {
                let value = serde_json::json!({
                    "model": engine.info(),
                    "prompt": run.prompt_text,
                    "note": run.code_note,
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
        Command::Eval {
            model,
            data,
            gen,
            limit,
            shard,
            no_cosine,
        } => {
            let config = gen.config(!no_cosine)?;
            let shard = shard.as_deref().map(parse_shard).transpose()?;
            let engine = load_engine(&model, !gen.keep_quantization)?;
            eval(&engine, &data, config, limit, shard)
        }
        Command::Merge { files } => merge(&files),
        Command::Functions { dir } => {
            let out = infill::dataset::cli::run_functions_cli(&dir)?;
            std::io::stdout()
                .lock()
                .write_all(out.stdout.as_bytes())
                .map_err(|e| e.to_string())?;
            eprint!("{}", out.stderr);
            Ok(())
        }
        Command::Dataset {
            dir,
            seed,
            every_line,
            context,
            max_file_bytes,
        } => {
            let config = infill::dataset::cli::dataset_config(
                seed,
                every_line,
                &context,
                Some(max_file_bytes),
            )?;
            let out = infill::dataset::cli::run_dataset_cli(&dir, &config)?;
            std::io::stdout()
                .lock()
                .write_all(out.stdout.as_bytes())
                .map_err(|e| e.to_string())?;
            eprint!("{}", out.stderr);
            Ok(())
        }
    }
}

/// Loads `--model`: a GGUF file, or a GPT-BigCode safetensors model (a `.safetensors` file with its
/// `config.json` and `tokenizer.json` next to it, or the folder holding the three).
fn load_engine(model: &std::path::Path, requantize_q8: bool) -> Result<Engine, String> {
    let is_safetensors = model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if model.is_dir() || is_safetensors {
        return load_safetensors(model);
    }
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Engine::from_gguf_bytes_with(&bytes, &name, LoadOptions { requantize_q8 })
        .map_err(|e| e.to_string())
}

/// The weights file of a safetensors model folder: `model.safetensors`, or its only `*.safetensors`.
fn weights_in(dir: &std::path::Path) -> Result<PathBuf, String> {
    let preferred = dir.join("model.safetensors");
    if preferred.is_file() {
        return Ok(preferred);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if dir.join("model.safetensors.index.json").is_file() => Err(format!(
            "{}: the weights are split into several files (model.safetensors.index.json); \
             only a model in one .safetensors file can be loaded",
            dir.display()
        )),
        0 => Err(format!(
            "{}: no model here: the folder holds neither model.safetensors nor another .safetensors \
             file (a GGUF model is given by its file path)",
            dir.display()
        )),
        _ => Err(format!(
            "{}: several .safetensors files ({}); name one with --model {}/FILE",
            dir.display(),
            found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", "),
            dir.display()
        )),
    }
}

/// Loads a GPT-BigCode model from its safetensors weights and the `config.json` and `tokenizer.json`
/// in the same folder.
fn load_safetensors(model: &std::path::Path) -> Result<Engine, String> {
    let weights = if model.is_dir() {
        weights_in(model)?
    } else {
        model.to_path_buf()
    };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let bytes = read(&weights)?;
    let dir = weights
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let companion = |file: &str| -> Result<Vec<u8>, String> {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(format!(
                "{file} is missing: a safetensors model needs its config.json and tokenizer.json \
                 next to the weights, and {} does not exist",
                path.display()
            ));
        }
        read(&path)
    };
    let config = companion("config.json")?;
    let tokenizer = companion("tokenizer.json")?;
    let folder = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let file = weights
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if folder.is_empty() {
        file
    } else {
        format!("{folder}/{file}")
    };
    Engine::from_safetensors_bytes(&bytes, &config, &tokenizer, &name)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard takes K/N with 1 <= K <= N, not `{s}`");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn read_jsonl(path: &std::path::Path) -> Result<Vec<serde_json::Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))
        })
        .collect()
}

fn eval(
    engine: &Engine,
    data: &std::path::Path,
    config: GenerationConfig,
    limit: Option<usize>,
    shard: Option<(usize, usize)>,
) -> Result<(), String> {
    let tasks = read_jsonl(data)?;
    let total = limit.unwrap_or(tasks.len()).min(tasks.len());
    let mine: Vec<(usize, &serde_json::Value)> = tasks
        .iter()
        .take(total)
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|(k, n)| i % n == k - 1))
        .collect();
    let t0 = Instant::now();
    let clock = move || t0.elapsed().as_secs_f64() * 1000.0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut scored = Vec::with_capacity(mine.len());
    let mut tokens = 0usize;
    for (done, (index, task)) in mine.iter().enumerate() {
        let field = |k: &str| -> Result<&str, String> {
            task.get(k).and_then(|v| v.as_str()).ok_or_else(|| {
                format!(
                    "{}: task {} has no string field `{k}`",
                    data.display(),
                    index + 1
                )
            })
        };
        let (prefix, middle, suffix) = (field("prefix")?, field("middle")?, field("suffix")?);
        let code = format!("{prefix}{middle}{suffix}");
        let line = prefix.matches('\n').count() + 1;
        let mut record = (*task).clone();
        let result = engine.complete(&code, line, config.clone(), &clock);
        let obj = record
            .as_object_mut()
            .ok_or_else(|| format!("{}: task {} is not an object", data.display(), index + 1))?;
        obj.insert("index".into(), (*index).into());
        obj.remove("prefix");
        obj.remove("suffix");
        match result {
            Ok((_, report)) => {
                let cos = report.cosine;
                tokens += report.stats.generated_tokens;
                obj.insert("completion".into(), report.completion.clone().into());
                obj.insert(
                    "generated_tokens".into(),
                    report.stats.generated_tokens.into(),
                );
                obj.insert("ms".into(), report.stats.total_ms.into());
                obj.insert("prompt_tokens".into(), report.stats.prompt_tokens.into());
                obj.insert("cached_tokens".into(), report.stats.cached_tokens.into());
                if let serde_json::Value::Object(scores) =
                    serde_json::to_value(&report.scores).map_err(|e| e.to_string())?
                {
                    obj.extend(scores);
                }
                obj.insert("cosine".into(), cos.into());
                scored.push((report.completion, middle.to_string(), report.scores));
            }
            Err(e) => {
                obj.insert("error".into(), e.to_string().into());
            }
        }
        writeln!(out, "{record}").map_err(|e| e.to_string())?;
        if (done + 1) % 25 == 0 || done + 1 == mine.len() {
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "{}/{} tasks, {:.1} tasks/min, {:.1} tokens/task",
                done + 1,
                mine.len(),
                (done + 1) as f64 / secs * 60.0,
                tokens as f64 / (done + 1) as f64
            );
        }
    }
    eprint!("{}", report::summarize(&scored, 0).to_markdown());
    Ok(())
}

fn merge(files: &[PathBuf]) -> Result<(), String> {
    let mut records = Vec::new();
    for f in files {
        records.extend(read_jsonl(f)?);
    }
    records.sort_by_key(|r| r.get("index").and_then(|i| i.as_u64()).unwrap_or(u64::MAX));
    let mut scored = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in &records {
        writeln!(out, "{r}").map_err(|e| e.to_string())?;
        let (Some(h), Some(m)) = (
            r.get("completion").and_then(|v| v.as_str()),
            r.get("middle").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        scored.push((h.to_string(), m.to_string(), metrics::score(h, m)));
    }
    eprint!("{}", report::summarize(&scored, 0).to_markdown());
    Ok(())
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
    let pairs: Vec<(String, String, metrics::Scores)> =
        records.into_iter().map(|(h, r, s, _)| (h, r, s)).collect();
    write!(out, "{}", report::summarize(&pairs, 0).to_markdown()).map_err(|e| e.to_string())?;
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
