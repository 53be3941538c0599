//! Choosing the hidden lines of a function, and turning each into a [`Task`].
//!
//! **Candidates.** A function's candidate lines are the lines of its span after the signature
//! (the `def` line and every line up to and including the one with the signature's closing `:`
//! are out), less blank lines and comment-only lines. Decorators lie before the span. A nested
//! function's lines, its decorators and `def` line included, are ordinary lines of the enclosing
//! function.
//!
//! **The choice.** In [`MaskMode::OneRandom`] one candidate is drawn uniformly, with a SplitMix64
//! generator seeded from the dataset seed and a stable FNV-1a hash of the path and the function's
//! start line. Adding, removing or reordering other files or functions does not change a function's
//! draw, and the draw is the same on every platform.
//!
//! **The split** is [`crate::prompt::mask_line`]'s, applied to the function's own lines
//! ([`Context::Function`]) or to the whole file ([`Context::File`]).

use super::functions::{FunctionInfo, SourceText};
use super::{Context, DatasetConfig, MaskMode, Task};
use crate::prompt::mask_line;

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny generator with a 64-bit state, good enough
/// to draw lines, and the same everywhere.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform draw from `0..n` (`n > 0`), without modulo bias: draws in the incomplete last
    /// block of `n` values are rejected.
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        let limit = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < limit {
                return x % n;
            }
        }
    }
}

/// 64-bit FNV-1a of `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The generator for one function: the seed mixed with a hash of (path, start line).
pub(crate) fn function_rng(seed: u64, path: &str, start_line: usize) -> SplitMix64 {
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, path.as_bytes());
    hash = fnv1a(hash, &[0]);
    hash = fnv1a(hash, &(start_line as u64).to_le_bytes());
    // One SplitMix64 step of the hash decorrelates neighbouring seeds before mixing.
    let mixed = SplitMix64::new(hash).next_u64() ^ seed;
    SplitMix64::new(mixed)
}

/// The candidate lines of a function (1-based, relative to the file), in order.
pub(crate) fn candidate_lines(source: &SourceText, function: &FunctionInfo) -> Vec<usize> {
    let first = function.signature_end_line.max(function.span.start_line) + 1;
    (first..=function.span.end_line)
        .filter(|&n| {
            let line = source.line(n).trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .collect()
}

/// The tasks of one function under `config`.
pub(crate) fn function_tasks(
    source: &SourceText,
    function: &FunctionInfo,
    config: &DatasetConfig,
) -> Vec<Task> {
    let candidates = candidate_lines(source, function);
    if candidates.is_empty() {
        return Vec::new();
    }
    let chosen: Vec<usize> = match config.mode {
        MaskMode::EveryLine => candidates,
        MaskMode::OneRandom => {
            let span = &function.span;
            let mut rng = function_rng(config.seed, &span.path, span.start_line);
            let index = rng.below(candidates.len() as u64) as usize;
            candidates.get(index).copied().into_iter().collect()
        }
    };
    chosen
        .into_iter()
        .filter_map(|line| task(source, function, line, config.context))
        .collect()
}

/// The task hiding line `line` (1-based, in the file) of `function`.
fn task(
    source: &SourceText,
    function: &FunctionInfo,
    line: usize,
    context: Context,
) -> Option<Task> {
    let span = &function.span;
    let masked = match context {
        Context::File => mask_line(&source.text, line).ok()?,
        Context::Function => {
            let own = source
                .text
                .get(source.lines_range(span.start_line, span.end_line))?;
            mask_line(own, line + 1 - span.start_line).ok()?
        }
    };
    Some(Task {
        id: format!("{}:{}:{}:{}", span.path, span.name, span.start_line, line),
        path: span.path.clone(),
        function: span.name.clone(),
        start_line: span.start_line,
        end_line: span.end_line,
        masked_line: line,
        prefix: masked.prefix,
        middle: masked.middle,
        suffix: masked.suffix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs for seed 1234567, from the reference C implementation (Vigna).
        let mut rng = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821
            ]
        );
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        let basis = 0xcbf2_9ce4_8422_2325;
        assert_eq!(fnv1a(basis, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(basis, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(basis, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn below_is_uniform_enough_and_in_range() {
        let mut rng = SplitMix64::new(7);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[rng.below(5) as usize] += 1;
        }
        // Each bucket expects 10,000; 4.5 standard deviations is about 400.
        assert!(
            counts.iter().all(|&c| (9_600..=10_400).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(SplitMix64::new(3).below(1), 0);
    }
}
