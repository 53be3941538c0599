//! Dataset-level reports: the mean of every per-sample score with its 95% bootstrap confidence interval,
//! and corpus chrF/BLEU. Shared by `infill score --summary` and `infill eval`.

use serde::{Deserialize, Serialize};

use crate::metrics::{self, MeanCi, Scores};

/// Bootstrap resamples used for every confidence interval in a report.
pub const RESAMPLES: usize = 1000;

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The metric's key (`exact`, `chrf`, …).
    pub metric: String,
    /// Mean and 95% bootstrap interval.
    pub value: MeanCi,
}

/// A dataset-level report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of scored pairs.
    pub count: usize,
    /// One row per per-sample metric.
    pub rows: Vec<SummaryRow>,
    /// sacrebleu `CHRF().corpus_score` over all pairs.
    pub corpus_chrf: f64,
    /// sacrebleu `BLEU().corpus_score` over all pairs.
    pub corpus_bleu: f64,
}

type Getter = fn(&Scores) -> f64;

/// The per-sample metrics, in report order.
pub const METRICS: [(&str, Getter); 8] = [
    ("exact", |s| s.exact),
    ("exact_stripped", |s| s.exact_stripped),
    ("chrf", |s| s.chrf),
    ("chrf_pp", |s| s.chrf_pp),
    ("bleu", |s| s.bleu),
    ("wer", |s| s.wer),
    ("iou", |s| s.iou),
    ("edit_sim", |s| s.edit_sim),
];

/// Summarises scored pairs `(hypothesis, reference, scores)`; `seed` fixes the bootstrap.
pub fn summarize(pairs: &[(String, String, Scores)], seed: u64) -> Summary {
    let hyps: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let refs: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    let rows = METRICS
        .iter()
        .map(|(name, get)| {
            let values: Vec<f64> = pairs.iter().map(|p| get(&p.2)).collect();
            SummaryRow {
                metric: (*name).to_string(),
                value: metrics::mean_with_ci(&values, RESAMPLES, seed),
            }
        })
        .collect();
    Summary {
        count: pairs.len(),
        rows,
        corpus_chrf: metrics::corpus_chrf(&hyps, &refs),
        corpus_bleu: metrics::corpus_bleu(&hyps, &refs),
    }
}

impl Summary {
    /// The report as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "{} pairs\n\n| metric | mean | 95% CI |\n|---|---|---|\n",
            self.count
        );
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {:.4} | [{:.4}, {:.4}] |\n",
                row.metric, row.value.mean, row.value.low, row.value.high
            ));
        }
        out.push_str(&format!("| corpus chrF | {:.4} | |\n", self.corpus_chrf));
        out.push_str(&format!("| corpus BLEU | {:.4} | |\n", self.corpus_bleu));
        out
    }
}
