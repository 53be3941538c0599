//! Arithmetic that gives the same bits on every target: the browser's wasm32 and the native CLI.
//!
//! Candle's quantized matrix product sums a row in a different order on each target (8-lane fused
//! multiply-adds with AVX2, 4 lanes without fusion in wasm), and `f32::exp` comes from glibc natively but
//! from a port of musl in wasm. Each difference is one rounding, but a beam search amplifies it: on Easy 40
//! the page and the CLI used to return different completions for 6 of 40 tasks. Everything the llama
//! models compute in floating point now goes through this module (or through candle operations that are
//! plain element-wise loops), so the page and `infill` return identical logits, beams and scores.
//!
//! * [`Q8Matrix`]: a Q8_0 weight matrix and its product with activations quantized to Q8_0, with the bits
//!   of candle's generic kernel (`vec_dot_unopt`: each block's exact integer sum, times the two scales,
//!   added to one sum block after block). The integer part is exact whatever the instructions; the
//!   floating-point part is the same sequence of IEEE operations on every target. SIMD for wasm32
//!   (simd128) and x86_64 (SSE2), which put four sums side by side in the lanes (four activation rows,
//!   or a pair of weight rows), and a scalar path elsewhere: all bit-identical to candle's (tested).
//! * [`exp`], [`ln`] and [`expf`]: polynomial versions that use only `+`, `−`, `×`, `÷` and bit
//!   operations, so they cannot depend on the platform's libm. [`expf4`] and [`exp2`] run the same
//!   operations on SIMD lanes (the softmax, SiLU and log-softmax use them), with the same bits.
//! * [`scaled_dots`] and [`weighted_sum`]: attention's scores and output, written once over four f32
//!   lanes (wasm simd128 or SSE) with the bits of [`dot`] and [`axpy`] one position at a time.

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{Device, Tensor};
use half::f16;
use std::borrow::Cow;

use crate::error::{InfillError, Result};

/// `$simd` where the four-lane trait ([`lanes::Lanes`]) exists (wasm with simd128, x86_64), `$scalar`
/// elsewhere: how far the vector loop got, and what it carries, or nothing done.
macro_rules! lanes_or {
    ($simd:expr, $scalar:expr) => {{
        #[cfg(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            target_arch = "x86_64"
        ))]
        let v = $simd;
        #[cfg(not(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            target_arch = "x86_64"
        )))]
        let v = $scalar;
        v
    }};
}

/// Values per Q8_0 block.
pub const QK: usize = 32;

/// ln 2 split so that `k · LN2_HI` is exact for |k| < 2¹¹ (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LOG2_E: f64 = std::f64::consts::LOG2_E;

/// 2^k for k in −1022..=1023, built from its bits.
#[inline]
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Multiplies `p` by 2^k for k in −1100..=1100 without leaving the normal range on the way.
#[inline]
fn scale2(p: f64, k: i64) -> f64 {
    if k > 1000 {
        p * pow2(1000) * pow2(k - 1000)
    } else if k < -1000 {
        p * pow2(-1000) * pow2(k + 1000)
    } else {
        p * pow2(k)
    }
}

/// e^x in f64 to about one unit in the last place, identical on every target.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.8 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    let k = (x * LOG2_E + 0.5).floor();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = EXP_C[13];
    for &c in EXP_C[..13].iter().rev() {
        p = p * r + c;
    }
    scale2(p, k as i64)
}

/// Taylor series of e^r for |r| ≤ 0.35, to r^13 (truncation below 1e-17 relative): [`exp`]'s polynomial.
const EXP_C: [f64; 14] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
];

/// [`expf`]'s polynomial, e^r to r^8, as the SIMD path evaluates it (the same constants and order).
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "sse4.1")
))]
const EXPF_C: [f64; 9] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
];

/// e^x for f32, computed in f64 with a shorter series and rounded once: identical on every target.
#[inline]
pub fn expf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.8 {
        return f32::INFINITY;
    }
    if x < -104.0 {
        return 0.0;
    }
    let x = x as f64;
    let k = (x * LOG2_E + 0.5).floor();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // To r^8: truncation 0.35^9/9! < 1e-9, far below f32's 6e-8.
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0
                            + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0))))))));
    scale2(p, k as i64) as f32
}

/// [`expf`] of four values at once: the same operations on SIMD lanes where the target has them (wasm
/// simd128, x86_64 with SSE4.1) and every value is in the polynomial's range, so the bits are [`expf`]'s.
#[inline]
pub fn expf4(x: [f32; 4]) -> [f32; 4] {
    // The range test is false for NaN, so NaN and the ends go to `expf`'s own branches.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    if x.iter().all(|v| (-104.0..=88.8).contains(v)) {
        return simd::expf4(x);
    }
    x.map(expf)
}

/// [`exp`] of two values at once, as [`expf4`] does for [`expf`]: SIMD where both are far enough from the
/// ends of the f64 range that `scale2` takes its one-step path.
#[inline]
pub fn exp2(x: [f64; 2]) -> [f64; 2] {
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    if x.iter().all(|v| (-690.0..=690.0).contains(v)) {
        return simd::exp2(x);
    }
    x.map(exp)
}

/// Splits a positive finite `x` into `m · 2^e` with m in [√½, √2] (exactly, by its bits).
fn split_log2(x: f64) -> (f64, i64) {
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= pow2(54);
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    (m, e)
}

/// ln x in f64 to about one unit in the last place, identical on every target.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (m, e) = split_log2(x);
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 1.0 / 25.0;
    for n in (1..12).rev() {
        p = p * s2 + 1.0 / (2 * n + 1) as f64;
    }
    let p = p * s2 + 1.0;
    let e = e as f64;
    e * LN2_HI + (2.0 * s * p + e * LN2_LO)
}

/// A double-double number: `hi + lo` with |lo| ≤ ½ ulp(hi), about 106 bits.
#[derive(Clone, Copy)]
struct Dd(f64, f64);

impl Dd {
    fn two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        let bb = s - a;
        Dd(s, (a - (s - bb)) + (b - bb))
    }

    /// Dekker's exact product without fused multiply-add (so it is the same on every target).
    fn two_prod(a: f64, b: f64) -> Dd {
        fn split(a: f64) -> (f64, f64) {
            let t = 134_217_729.0 * a; // 2^27 + 1
            let hi = t - (t - a);
            (hi, a - hi)
        }
        let p = a * b;
        let ((ah, al), (bh, bl)) = (split(a), split(b));
        Dd(p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
    }

    fn add(self, o: Dd) -> Dd {
        let Dd(s, e) = Dd::two_sum(self.0, o.0);
        let e = e + self.1 + o.1;
        Dd::two_sum(s, e)
    }

    fn mul(self, o: Dd) -> Dd {
        let Dd(p, e) = Dd::two_prod(self.0, o.0);
        let e = e + (self.0 * o.1 + self.1 * o.0);
        Dd::two_sum(p, e)
    }

    fn div(self, o: Dd) -> Dd {
        let q1 = self.0 / o.0;
        let r = self.add(o.mul(Dd(-q1, 0.0)));
        let q2 = r.0 / o.0;
        let r = r.add(o.mul(Dd(-q2, 0.0)));
        let q3 = r.0 / o.0;
        Dd::two_sum(q1, q2).add(Dd(q3, 0.0))
    }
}

/// ln 2 in double-double.
const LN2_DD: Dd = Dd(
    f64::from_bits(0x3fe6_2e42_fefa_39ef),
    f64::from_bits(0x3c7a_bc9e_3b39_803f),
);

/// e^x correctly rounded to f64 (computed with about 100 bits, then rounded once), so the result equals
/// any correctly rounding libm, CPython's (glibc's) included, in the page as natively. For the few
/// calls a score makes (sacrebleu's BLEU uses `math.exp`); about 50 times slower than [`exp`].
pub fn exp_cr(x: f64) -> f64 {
    if !x.is_finite() || !(-745.2..=709.8).contains(&x) {
        return exp(x);
    }
    let k = (x * LOG2_E + 0.5).floor();
    // r = x − k·ln 2 in double-double.
    let r = Dd(x, 0.0).add(LN2_DD.mul(Dd(-k, 0.0)));
    // Taylor series to r^27: 0.35^28/28! < 1e-42.
    let mut p = Dd(1.0, 0.0);
    for n in (1..=27).rev() {
        p = Dd(1.0, 0.0).add(p.mul(r).div(Dd(n as f64, 0.0)));
    }
    scale2(p.0 + p.1, k as i64)
}

/// ln x correctly rounded to f64 (see [`exp_cr`]; sacrebleu uses `math.log`).
pub fn ln_cr(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return ln(x);
    }
    let (m, e) = split_log2(x);
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1) (m − 1 is exact here, m + 1 needs two parts),
    // |s| ≤ 0.172: to s^53, < 1e-40.
    let s = Dd(m - 1.0, 0.0).div(Dd::two_sum(m, 1.0));
    let s2 = s.mul(s);
    let mut p = Dd(0.0, 0.0);
    for n in (0..=26).rev() {
        p = Dd(1.0, 0.0).div(Dd((2 * n + 1) as f64, 0.0)).add(p.mul(s2));
    }
    let v = LN2_DD
        .mul(Dd(e as f64, 0.0))
        .add(Dd(2.0, 0.0).mul(s).mul(p));
    v.0 + v.1
}

/// The log-softmax of `logits`, in f64, identical on every target.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let lse = log_sum_exp(logits);
    logits.iter().map(|&l| l as f64 - lse).collect()
}

/// ln Σ e^l over `logits`, in f64: [`log_softmax`]`(logits)[t]` is `logits[t] as f64 - log_sum_exp(logits)`,
/// bit for bit, so one log-probability costs a subtraction once this is known.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = max_of(logits).max(f32::MIN) as f64;
    // Summed one at a time, in order (as `Iterator::sum` does), the exponentials two at a time.
    let pairs = logits.chunks_exact(2);
    let last = pairs.remainder();
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    let mut sum = simd::exp_sum_pairs(&logits[..logits.len() - last.len()], max);
    #[cfg(not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    )))]
    let mut sum = {
        let mut sum = 0f64;
        for p in pairs {
            let [a, b] = exp2([p[0] as f64 - max, p[1] as f64 - max]);
            sum += a;
            sum += b;
        }
        sum
    };
    for &l in last {
        sum += exp(l as f64 - max);
    }
    max + ln(sum)
}

/// In-place softmax of one row of f32 scores (−∞ entries get 0), identical on every target.
pub fn softmax_in_place(s: &mut [f32]) {
    let max = max_of(s);
    // Four at a time in vector registers where the target has them, with `expf4`'s bits either way; the
    // sum is taken in order, one at a time, as the exponentials come.
    let (done, mut sum) = lanes_or!(lanes::exps_less::<lanes::Native>(s, max), (0, 0f32));
    let rest = &mut s[done..];
    let mut quads = rest.chunks_exact_mut(4);
    for q in &mut quads {
        let e = expf4([q[0] - max, q[1] - max, q[2] - max, q[3] - max]);
        q.copy_from_slice(&e);
    }
    for x in quads.into_remainder() {
        *x = expf(*x - max);
    }
    for &x in rest.iter() {
        sum += x;
    }
    s.iter_mut().for_each(|x| *x /= sum);
}

/// The largest value of `s` that is not NaN (−∞ for none), as `fold(−∞, f32::max)` gives it; only the
/// sign of a zero maximum may differ (`f32::max` leaves it open), and no caller depends on it: the
/// maximum is subtracted from the values, x − (+0) and x − (−0) differ only for x = −0, and the
/// exponential of either zero is 1.
pub fn max_of(s: &[f32]) -> f32 {
    let (done, max) = lanes_or!(lanes::max_of::<lanes::Native>(s), (0, f32::NEG_INFINITY));
    s[done..]
        .iter()
        .fold(max, |m, &x| if x > m { x } else { m })
}

/// The largest |x| of `block` that is not NaN (0 for none), as `fold(0, |m, x| m.max(x.abs()))` gives it.
fn abs_max(block: &[f32]) -> f32 {
    let (done, m) = lanes_or!(lanes::abs_max::<lanes::Native>(block), (0, 0f32));
    block[done..]
        .iter()
        .fold(m, |m, &x| if x.abs() > m { x.abs() } else { m })
}

/// SiLU, `x / (1 + e^−x)`, in place.
pub fn silu_in_place(xs: &mut [f32]) {
    let done = lanes_or!(lanes::silu::<lanes::Native>(xs), 0);
    let mut quads = xs[done..].chunks_exact_mut(4);
    for q in &mut quads {
        let e = expf4([-q[0], -q[1], -q[2], -q[3]]);
        for (x, e) in q.iter_mut().zip(e) {
            *x /= 1.0 + e;
        }
    }
    for x in quads.into_remainder() {
        *x /= 1.0 + expf(-*x);
    }
}

/// The dot product attention uses: eight f32 lanes, lane i summing the products of the elements i, i + 8,
/// i + 16, … in order; then the lanes in order, then the products past the last whole eight.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `y += p · x`.
#[inline]
pub fn axpy(p: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += p * x;
    }
}

/// Attention scores: `out[j] = dot(q, keys[j·width + off ..][..q.len()]) · scale` for every j, with
/// [`dot`]'s bits. With SIMD (heads a multiple of 8 long), four positions at a time: their eight lanes
/// side by side, summed in [`dot`]'s order four positions per instruction.
pub fn scaled_dots(q: &[f32], keys: &[f32], width: usize, off: usize, scale: f32, out: &mut [f32]) {
    let d = q.len();
    assert!(
        out.is_empty() || (out.len() - 1) * width + off + d <= keys.len(),
        "keys too short for {} positions",
        out.len()
    );
    let j = match d.is_multiple_of(8) {
        true => lanes_or!(
            lanes::scaled_dots4::<lanes::Native>(q, keys, width, off, scale, out),
            0
        ),
        false => 0,
    };
    for (j, o) in out.iter_mut().enumerate().skip(j) {
        *o = dot(q, &keys[j * width + off..][..d]) * scale;
    }
}

/// Attention output: `out[e] += p[j] · values[j·width + off + e]` for j in order, with [`axpy`]'s bits
/// (one call per j). With SIMD, a stretch of `out` stays in registers while every j goes by.
pub fn weighted_sum(p: &[f32], values: &[f32], width: usize, off: usize, out: &mut [f32]) {
    let d = out.len();
    assert!(
        p.is_empty() || (p.len() - 1) * width + off + d <= values.len(),
        "values too short for {} positions",
        p.len()
    );
    let e = lanes_or!(
        lanes::weighted_sum::<lanes::Native>(p, values, width, off, out),
        0
    );
    if e < d {
        for (j, &pj) in p.iter().enumerate() {
            axpy(pj, &values[j * width + off + e..][..d - e], &mut out[e..]);
        }
    }
}

/// Four f32 lanes, as wasm's simd128 and x86's SSE have them: the attention loops are written once over
/// this, so the native tests run the very code the page runs, on SSE instead of simd128.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
))]
mod lanes {
    pub(super) trait Lanes: Copy {
        fn splat(x: f32) -> Self;
        /// # Safety
        /// `p` points to four readable f32.
        unsafe fn load(p: *const f32) -> Self;
        /// # Safety
        /// `p` points to four writable f32.
        unsafe fn store(self, p: *mut f32);
        fn add(self, o: Self) -> Self;
        fn sub(self, o: Self) -> Self;
        fn mul(self, o: Self) -> Self;
        fn div(self, o: Self) -> Self;
        /// The sign bit flipped (`-x` of each lane).
        fn neg(self) -> Self;
        /// Each lane of `o` that is greater than this one's, else this one's (a NaN in `o` is passed
        /// over).
        fn max(self, o: Self) -> Self;
        fn to_array(self) -> [f32; 4];
        /// |x| of each lane (the sign bit cleared).
        fn abs(self) -> Self;
        /// `x.round() as i8 as i16` of the eight lanes of `a` and `b`.
        fn round_to_i8(a: Self, b: Self) -> [i16; 8];
        /// What [`Self::expf`] needs, made once before a loop ([`super::simd::ExpConsts`]).
        type Exp;
        fn exp_consts() -> Self::Exp;
        /// [`super::expf4`] of the lanes: SIMD when all four are in its polynomial's range, one at a
        /// time otherwise; the bits of [`super::expf`] either way.
        fn expf(self, k: &Self::Exp) -> Self;
        /// Rows to columns: `[a, b, c, d]` → `[a0 b0 c0 d0], [a1 b1 c1 d1], …`.
        fn transpose(v: [Self; 4]) -> [Self; 4];
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(super) type Native = std::arch::wasm32::v128;
    #[cfg(target_arch = "x86_64")]
    pub(super) type Native = std::arch::x86_64::__m128;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    impl Lanes for std::arch::wasm32::v128 {
        #[inline(always)]
        fn splat(x: f32) -> Self {
            std::arch::wasm32::f32x4_splat(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the caller's promise.
            unsafe { std::arch::wasm32::v128_load(p as *const Self) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the caller's promise.
            unsafe { std::arch::wasm32::v128_store(p as *mut Self, self) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_add(self, o)
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_sub(self, o)
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_mul(self, o)
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_div(self, o)
        }
        #[inline(always)]
        fn neg(self) -> Self {
            std::arch::wasm32::f32x4_neg(self)
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // pmax(a, b) is `a < b ? b : a`.
            std::arch::wasm32::f32x4_pmax(self, o)
        }
        #[inline(always)]
        fn to_array(self) -> [f32; 4] {
            use std::arch::wasm32::*;
            [
                f32x4_extract_lane::<0>(self),
                f32x4_extract_lane::<1>(self),
                f32x4_extract_lane::<2>(self),
                f32x4_extract_lane::<3>(self),
            ]
        }
        #[inline(always)]
        fn abs(self) -> Self {
            std::arch::wasm32::f32x4_abs(self)
        }
        #[inline(always)]
        fn round_to_i8(a: Self, b: Self) -> [i16; 8] {
            use std::arch::wasm32::*;
            let round = |v: v128| {
                let t = f32x4_trunc(v);
                let away = f32x4_ge(f32x4_abs(f32x4_sub(v, t)), f32x4_splat(0.5));
                // ±1 with v's sign where the cut-off part is at least ½, else 0.
                let one = v128_or(f32x4_splat(1.0), v128_and(v, f32x4_splat(-0.0)));
                let r = f32x4_add(t, v128_and(away, one));
                i32x4_trunc_sat_f32x4(r)
            };
            let n = i16x8_narrow_i32x4(round(a), round(b));
            let n = i16x8_min(i16x8_max(n, i16x8_splat(-128)), i16x8_splat(127));
            let mut out = [0i16; 8];
            // SAFETY: out holds eight i16.
            unsafe { v128_store(out.as_mut_ptr() as *mut v128, n) };
            out
        }
        type Exp = super::simd::ExpfConsts;
        #[inline(always)]
        fn exp_consts() -> Self::Exp {
            super::simd::expf_consts()
        }
        #[inline(always)]
        fn expf(self, k: &Self::Exp) -> Self {
            use std::arch::wasm32::*;
            // As `expf4`'s range test: false for NaN.
            let inside = v128_and(
                f32x4_ge(self, f32x4_splat(-104.0)),
                f32x4_le(self, f32x4_splat(88.8)),
            );
            if i32x4_all_true(inside) {
                super::simd::expf_v(self, k)
            } else {
                let x = self.to_array().map(super::expf);
                f32x4(x[0], x[1], x[2], x[3])
            }
        }
        #[inline(always)]
        fn transpose([a, b, c, d]: [Self; 4]) -> [Self; 4] {
            use std::arch::wasm32::i32x4_shuffle as sh;
            let (t0, t1) = (sh::<0, 4, 1, 5>(a, b), sh::<2, 6, 3, 7>(a, b));
            let (t2, t3) = (sh::<0, 4, 1, 5>(c, d), sh::<2, 6, 3, 7>(c, d));
            [
                sh::<0, 1, 4, 5>(t0, t2),
                sh::<2, 3, 6, 7>(t0, t2),
                sh::<0, 1, 4, 5>(t1, t3),
                sh::<2, 3, 6, 7>(t1, t3),
            ]
        }
    }

    // SAFETY (every block below): SSE is part of x86_64.
    #[cfg(target_arch = "x86_64")]
    impl Lanes for std::arch::x86_64::__m128 {
        #[inline(always)]
        fn splat(x: f32) -> Self {
            unsafe { std::arch::x86_64::_mm_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the caller's promise.
            unsafe { std::arch::x86_64::_mm_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the caller's promise.
            unsafe { std::arch::x86_64::_mm_storeu_ps(p, self) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_add_ps(self, o) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_sub_ps(self, o) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_mul_ps(self, o) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_div_ps(self, o) }
        }
        #[inline(always)]
        fn neg(self) -> Self {
            use std::arch::x86_64::*;
            unsafe { _mm_xor_ps(self, _mm_set1_ps(-0.0)) }
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // maxps(a, b) is `a > b ? a : b`.
            unsafe { std::arch::x86_64::_mm_max_ps(o, self) }
        }
        #[inline(always)]
        fn to_array(self) -> [f32; 4] {
            let mut x = [0f32; 4];
            // SAFETY: x holds four f32.
            unsafe { std::arch::x86_64::_mm_storeu_ps(x.as_mut_ptr(), self) };
            x
        }
        #[inline(always)]
        fn abs(self) -> Self {
            use std::arch::x86_64::*;
            unsafe { _mm_andnot_ps(_mm_set1_ps(-0.0), self) }
        }
        #[inline(always)]
        fn round_to_i8(a: Self, b: Self) -> [i16; 8] {
            use std::arch::x86_64::*;
            let mut out = [0i16; 8];
            #[cfg(target_feature = "sse4.1")]
            // SAFETY: SSE4.1 is enabled at build time (the cfg); out holds eight i16.
            unsafe {
                // As the wasm version; cvttps2dq has no saturation (NaN and overflow give i32::MIN),
                // so NaN goes to 0 and the rest is clamped to i8's range first.
                let round = |v: __m128| {
                    let t = _mm_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
                    let away = _mm_cmpge_ps(_mm_sub_ps(v, t).abs(), _mm_set1_ps(0.5));
                    let one = _mm_or_ps(_mm_set1_ps(1.0), _mm_and_ps(v, _mm_set1_ps(-0.0)));
                    let r = _mm_add_ps(t, _mm_and_ps(away, one));
                    let r = _mm_and_ps(r, _mm_cmpord_ps(r, r));
                    let r = _mm_min_ps(_mm_max_ps(r, _mm_set1_ps(-128.0)), _mm_set1_ps(127.0));
                    _mm_cvttps_epi32(r)
                };
                let n = _mm_packs_epi32(round(a), round(b));
                _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, n);
            }
            #[cfg(not(target_feature = "sse4.1"))]
            for (o, &x) in out.iter_mut().zip(a.to_array().iter().chain(&b.to_array())) {
                *o = x.round() as i8 as i16;
            }
            out
        }
        #[cfg(target_feature = "sse4.1")]
        type Exp = super::simd::ExpfConsts;
        #[cfg(not(target_feature = "sse4.1"))]
        type Exp = ();
        #[cfg(target_feature = "sse4.1")]
        #[inline(always)]
        fn exp_consts() -> Self::Exp {
            super::simd::expf_consts()
        }
        #[cfg(not(target_feature = "sse4.1"))]
        fn exp_consts() -> Self::Exp {}
        #[inline(always)]
        #[cfg_attr(not(target_feature = "sse4.1"), allow(unused_variables))]
        fn expf(self, k: &Self::Exp) -> Self {
            use std::arch::x86_64::*;
            unsafe {
                #[cfg(target_feature = "sse4.1")]
                {
                    // As `expf4`'s range test: false for NaN.
                    let inside = _mm_and_ps(
                        _mm_cmpge_ps(self, _mm_set1_ps(-104.0)),
                        _mm_cmple_ps(self, _mm_set1_ps(88.8)),
                    );
                    if _mm_movemask_ps(inside) == 0xf {
                        return super::simd::expf_v(self, k);
                    }
                }
                let x = self.to_array().map(super::expf);
                _mm_loadu_ps(x.as_ptr())
            }
        }
        #[inline(always)]
        fn transpose([a, b, c, d]: [Self; 4]) -> [Self; 4] {
            use std::arch::x86_64::*;
            unsafe {
                let (t0, t1) = (_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b));
                let (t2, t3) = (_mm_unpacklo_ps(c, d), _mm_unpackhi_ps(c, d));
                [
                    _mm_movelh_ps(t0, t2),
                    _mm_movehl_ps(t2, t0),
                    _mm_movelh_ps(t1, t3),
                    _mm_movehl_ps(t3, t1),
                ]
            }
        }
    }

    /// `s[i] = expf(s[i] − max)` for the first whole fours of `s`, with the bits of the scalar loop in
    /// [`super::softmax_in_place`]; returns how many it did.
    /// Also returns their sum, taken in order one at a time from 0.
    #[inline(always)]
    pub(super) fn exps_less<V: Lanes>(s: &mut [f32], max: f32) -> (usize, f32) {
        let m = V::splat(max);
        let k = V::exp_consts();
        let mut sum = 0f32;
        let mut i = 0;
        while i + 4 <= s.len() {
            // SAFETY: i + 4 <= s.len().
            unsafe {
                let p = s.as_mut_ptr().add(i);
                V::load(p).sub(m).expf(&k).store(p);
                sum += *p;
                sum += *p.add(1);
                sum += *p.add(2);
                sum += *p.add(3);
            }
            i += 4;
        }
        (i, sum)
    }

    /// [`super::abs_max`] over the first whole fours of `s`: how many, and their largest |x|.
    #[inline(always)]
    pub(super) fn abs_max<V: Lanes>(s: &[f32]) -> (usize, f32) {
        let mut acc = V::splat(0.0);
        let mut i = 0;
        while i + 4 <= s.len() {
            // SAFETY: i + 4 <= s.len().
            acc = acc.max(unsafe { V::load(s.as_ptr().add(i)) }.abs());
            i += 4;
        }
        let l = acc.to_array();
        let m = l[1..].iter().fold(l[0], |m, &x| if x > m { x } else { m });
        (i, m)
    }

    /// `(x · id).round() as i8` of the first whole eights of `s`, widened to i16 and appended to `out`;
    /// returns how many it did. Rounding half away from zero, as `f32::round`: the integer part, plus
    /// the sign when the part cut off is at least ½ (the difference is exact); then saturated to i8 as
    /// `as` does (NaN gives 0).
    #[inline(always)]
    pub(super) fn scaled_round<V: Lanes>(s: &[f32], id: f32, out: &mut Vec<i16>) -> usize {
        let scale = V::splat(id);
        let mut i = 0;
        while i + 8 <= s.len() {
            // SAFETY: i + 8 <= s.len().
            let (a, b) = unsafe {
                (
                    V::load(s.as_ptr().add(i)).mul(scale),
                    V::load(s.as_ptr().add(i + 4)).mul(scale),
                )
            };
            out.extend_from_slice(&V::round_to_i8(a, b));
            i += 8;
        }
        i
    }

    /// [`super::max_of`] over the first whole fours of `s`: how many, and their maximum.
    #[inline(always)]
    pub(super) fn max_of<V: Lanes>(s: &[f32]) -> (usize, f32) {
        let mut acc = V::splat(f32::NEG_INFINITY);
        let mut i = 0;
        while i + 4 <= s.len() {
            // SAFETY: i + 4 <= s.len().
            acc = acc.max(unsafe { V::load(s.as_ptr().add(i)) });
            i += 4;
        }
        let l = acc.to_array();
        let m = l[1..].iter().fold(l[0], |m, &x| if x > m { x } else { m });
        (i, m)
    }

    /// SiLU (`x / (1 + e^−x)`) of the first whole fours of `xs`, with the bits of
    /// [`super::silu_in_place`]'s scalar loop; returns how many it did.
    #[inline(always)]
    pub(super) fn silu<V: Lanes>(xs: &mut [f32]) -> usize {
        let one = V::splat(1.0);
        let k = V::exp_consts();
        let mut i = 0;
        while i + 4 <= xs.len() {
            // SAFETY: i + 4 <= xs.len().
            unsafe {
                let p = xs.as_mut_ptr().add(i);
                let x = V::load(p);
                x.div(one.add(x.neg().expf(&k))).store(p);
            }
            i += 4;
        }
        i
    }

    /// [`super::scaled_dots`] for four positions at a time (`q.len()` a multiple of 8, the caller checks
    /// the keys' length); returns how many positions it did (a multiple of four).
    #[inline(always)]
    pub(super) fn scaled_dots4<V: Lanes>(
        q: &[f32],
        keys: &[f32],
        width: usize,
        off: usize,
        scale: f32,
        out: &mut [f32],
    ) -> usize {
        let d = q.len();
        // `dot`'s sums start from the empty sum (whatever zero `Iterator::sum` starts with) and end by
        // adding the empty remainder's.
        let zero = V::splat([0f32; 0].iter().sum::<f32>());
        let mut j = 0;
        while j + 4 <= out.len() {
            let mut lo = [V::splat(0.0); 4];
            let mut hi = [V::splat(0.0); 4];
            let mut c = 0;
            while c < d {
                // SAFETY: c + 8 <= d; position j + m < out.len(), whose keys the caller checked.
                unsafe {
                    let (ql, qh) = (V::load(q.as_ptr().add(c)), V::load(q.as_ptr().add(c + 4)));
                    for m in 0..4 {
                        let k = keys.as_ptr().add((j + m) * width + off + c);
                        lo[m] = lo[m].add(ql.mul(V::load(k)));
                        hi[m] = hi[m].add(qh.mul(V::load(k.add(4))));
                    }
                }
                c += 8;
            }
            let [l0, l1, l2, l3] = V::transpose(lo);
            let [l4, l5, l6, l7] = V::transpose(hi);
            let mut s = zero;
            for l in [l0, l1, l2, l3, l4, l5, l6, l7] {
                s = s.add(l);
            }
            // SAFETY: j + 4 <= out.len().
            unsafe {
                s.add(zero)
                    .mul(V::splat(scale))
                    .store(out.as_mut_ptr().add(j))
            };
            j += 4;
        }
        j
    }

    /// [`super::weighted_sum`] over the first stretches of `out` that are whole fours (eight fours at a
    /// time, then single fours); returns how far it got.
    #[inline(always)]
    pub(super) fn weighted_sum<V: Lanes>(
        p: &[f32],
        values: &[f32],
        width: usize,
        off: usize,
        out: &mut [f32],
    ) -> usize {
        let d = out.len();
        let mut e = 0;
        while e + 32 <= d {
            stretch::<V, 8>(p, values, width, off + e, &mut out[e..e + 32]);
            e += 32;
        }
        while e + 4 <= d {
            stretch::<V, 1>(p, values, width, off + e, &mut out[e..e + 4]);
            e += 4;
        }
        e
    }

    #[inline(always)]
    fn stretch<V: Lanes, const N: usize>(
        p: &[f32],
        values: &[f32],
        width: usize,
        off: usize,
        out: &mut [f32],
    ) {
        // SAFETY: out holds 4·N floats; every position j < p.len() has them at j·width + off (checked by
        // the caller for the whole head).
        unsafe {
            let mut acc = [V::splat(0.0); N];
            for (i, a) in acc.iter_mut().enumerate() {
                *a = V::load(out.as_ptr().add(4 * i));
            }
            for (j, &pj) in p.iter().enumerate() {
                let pv = V::splat(pj);
                let x = values.as_ptr().add(j * width + off);
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = a.add(pv.mul(V::load(x.add(4 * i))));
                }
            }
            for (i, a) in acc.iter().enumerate() {
                a.store(out.as_mut_ptr().add(4 * i));
            }
        }
    }
}

/// A weight matrix in Q8_0 (blocks of 32 signed bytes with one scale each), `rows` outputs by `cols`
/// inputs, with its scales and bytes in separate arrays so the kernels load them aligned.
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    /// The blocks' scales as the file stores them (f16 bits), converted to f32 where they are used: half
    /// the memory of f32 scales (8 MB less for SmolLM2). In pairs of rows like the bytes: row 2p's first
    /// block, row 2p + 1's first block, row 2p's second, …, so that the two scales a pair uses at a block
    /// are one load.
    scales: Vec<u16>,
    /// Blocks taken so far (`rows × cols / 32` once complete).
    pushed: usize,
    /// rows × cols quantized weights, two rows at a time block by block (row 2p's first block, row
    /// 2p + 1's first block, row 2p's second, …; an odd last row with a row of zeros): a pair of rows,
    /// which the one-row product takes together, is then one forward stream through memory (read two
    /// rows apart, or one after the other block by block, the streams took 10–60% longer natively),
    /// and every row's blocks are [`W_STRIDE`] bytes apart.
    qs: Vec<i8>,
}

/// Activations quantized to Q8_0 the way candle does it, with the bytes widened to i16 once so that every
/// weight row reuses them. One quantization serves every matrix that takes the same input (a layer's
/// query, key and value projections, say).
pub struct Q8Acts {
    cols: usize,
    scales: Vec<f32>,
    /// The scales again, block by block (block k's of every row, then three zeros): the kernels that
    /// take four activation rows as the four lanes load a block's four scales at once.
    #[cfg_attr(
        not(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            target_arch = "x86_64"
        )),
        allow(dead_code)
    )]
    by_block: Vec<f32>,
    qs: Vec<i16>,
}

impl Q8Acts {
    /// `xs`: rows of `cols` values (a multiple of 32), one after the other.
    pub fn quantize(xs: &[f32], cols: usize) -> Self {
        let blocks = xs.len() / QK;
        let mut scales = Vec::with_capacity(blocks);
        let mut qs = Vec::with_capacity(xs.len());
        for block in xs.chunks_exact(QK) {
            let amax = abs_max(block);
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            scales.push(f16::from_f32(d).to_f32());
            let done = lanes_or!(lanes::scaled_round::<lanes::Native>(block, id, &mut qs), 0);
            qs.extend(block[done..].iter().map(|&x| (x * id).round() as i8 as i16));
        }
        let (m, b) = (xs.len() / cols.max(1), cols / QK);
        let mut by_block = vec![0f32; b * (m + 3)];
        for (r, row) in scales.chunks_exact(b.max(1)).enumerate() {
            for (k, &d) in row.iter().enumerate() {
                by_block[k * (m + 3) + r] = d;
            }
        }
        Self {
            cols,
            scales,
            by_block,
            qs,
        }
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn row(&self, r: usize) -> (&[i16], &[f32]) {
        let b = self.cols / QK;
        (
            &self.qs[r * self.cols..(r + 1) * self.cols],
            &self.scales[r * b..(r + 1) * b],
        )
    }
}

impl Q8Matrix {
    /// Takes a rank-2 Q8_0 tensor's blocks; `None` for any other type or shape.
    pub fn from_qtensor(t: &QTensor) -> Result<Option<Self>> {
        if t.dtype() != GgmlDType::Q8_0 {
            return Ok(None);
        }
        let (rows, cols) = match t.shape().dims() {
            &[rows, cols] if cols % QK == 0 => (rows, cols),
            _ => return Ok(None),
        };
        let mut m = Self::with_capacity(rows, cols);
        m.push_blocks(&t.data()?)?;
        m.complete()
    }

    /// Re-encodes a rank-2 matrix of any quantized or float type to Q8_0, a slice of rows at a time:
    /// each slice goes through candle's own dequantization and Q8_0 quantization, so the result has the
    /// bits of `QTensor::quantize(&t.dequantize()?, Q8_0)` (every Q8_0 block depends only on its own 32
    /// values) without ever holding the whole matrix in f32 (113 MB for SmolLM2's embedding).
    /// `None` when the rows are not whole Q8_0 blocks or the source type's blocks do not fit in a row.
    pub fn requantize(t: &QTensor) -> Result<Option<Self>> {
        let dtype = t.dtype();
        let (rows, cols) = match t.shape().dims() {
            &[rows, cols] if cols % QK == 0 && cols % dtype.block_size() == 0 => (rows, cols),
            _ => return Ok(None),
        };
        let row_bytes = cols / dtype.block_size() * dtype.type_size();
        let data = t.data()?;
        if data.len() != rows * row_bytes {
            return Err(InfillError::Model(format!(
                "a {dtype:?} matrix of {rows}×{cols} has {} bytes, not {}",
                data.len(),
                rows * row_bytes
            )));
        }
        let mut m = Self::with_capacity(rows, cols);
        // 64 rows of SmolLM2 (576 columns) are 147 kB of f32.
        const SLICE_ROWS: usize = 64;
        for (i, bytes) in data.chunks(SLICE_ROWS * row_bytes).enumerate() {
            let n = bytes.len() / row_bytes;
            let storage = QStorage::from_data(Cow::Borrowed(bytes), &Device::Cpu, dtype)?;
            let dense = QTensor::new(storage, (n, cols))?.dequantize(&Device::Cpu)?;
            let q8 = QTensor::quantize(&dense, GgmlDType::Q8_0)?;
            m.push_blocks(&q8.data()?).map_err(|e| {
                InfillError::Model(format!(
                    "rows from {} of a {dtype:?} matrix: {e}",
                    i * SLICE_ROWS
                ))
            })?;
        }
        m.complete()
    }

    /// The matrix, once every block is in.
    fn complete(self) -> Result<Option<Self>> {
        let blocks = self.rows * self.cols / QK;
        if self.pushed != blocks {
            return Err(InfillError::Model(format!(
                "a Q8_0 matrix of {}×{} has {} blocks, not {blocks}",
                self.rows, self.cols, self.pushed
            )));
        }
        Ok(Some(self))
    }

    fn with_capacity(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            // Both filled in place by `push_blocks`; an odd last row's partner stays zeros.
            scales: vec![0; rows.next_multiple_of(2) * cols / QK],
            pushed: 0,
            qs: vec![0; rows.next_multiple_of(2) * cols],
        }
    }

    /// Appends Q8_0 blocks as GGUF stores them (f16 scale, 32 bytes; row after row), each row's bytes
    /// going to their place in its pair; the matrix must end up with exactly `rows × cols / 32` of them.
    fn push_blocks(&mut self, data: &[u8]) -> Result<()> {
        let total = self.rows * self.cols / QK;
        if !data.len().is_multiple_of(2 + QK) || self.pushed + data.len() / (2 + QK) > total {
            return Err(InfillError::Model(format!(
                "a Q8_0 matrix of {}×{} cannot take {} more bytes",
                self.rows,
                self.cols,
                data.len()
            )));
        }
        let b = self.cols / QK;
        for block in data.chunks_exact(2 + QK) {
            // Block k of row r, in its pair's place.
            let (r, k) = (self.pushed / b, self.pushed % b);
            let at = r / 2 * 2 * self.cols + (2 * k + r % 2) * QK;
            for (q, &x) in self.qs[at..at + QK].iter_mut().zip(&block[2..]) {
                *q = x as i8;
            }
            self.scales[r / 2 * 2 * b + 2 * k + r % 2] = u16::from_le_bytes([block[0], block[1]]);
            self.pushed += 1;
        }
        Ok(())
    }

    /// Input features (the length of a row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `r` in f32, appended to `out`: each byte times its block's scale, the value candle's Q8_0
    /// dequantization gives (so an embedding looked up here equals one from the dequantized table).
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        let (qs, scales) = self.row(r);
        for (k, d) in scales.enumerate() {
            let d = f16::from_bits(d).to_f32();
            out.extend(qs[k * W_STRIDE..][..QK].iter().map(|&q| q as f32 * d));
        }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The matrix in f32 (rows × cols), each byte times its block's scale.
    pub fn dequantize(&self) -> Result<Tensor> {
        let mut values = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            self.dequantize_row(r, &mut values);
        }
        Ok(Tensor::from_vec(
            values,
            (self.rows, self.cols),
            &Device::Cpu,
        )?)
    }

    /// `x` (…, cols) times the transposed matrix: (…, rows), as candle's `QMatMul::forward`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        if dims.last() != Some(&self.cols) {
            return Err(InfillError::Model(format!(
                "a product of {:?} with a {}×{} matrix",
                dims, self.rows, self.cols
            )));
        }
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let out = self.matmul(&xs);
        if let Some(last) = dims.last_mut() {
            *last = self.rows;
        }
        Ok(Tensor::from_vec(out, dims, &Device::Cpu)?)
    }

    /// `xs` (m × cols, row-major) times the transposed matrix: m × rows.
    pub fn matmul(&self, xs: &[f32]) -> Vec<f32> {
        self.matmul_quantized(&Q8Acts::quantize(xs, self.cols))
    }

    /// [`Self::matmul`] of activations quantized already (they must have this matrix's `cols`).
    pub fn matmul_quantized(&self, acts: &Q8Acts) -> Vec<f32> {
        assert_eq!(acts.cols, self.cols, "activations of another width");
        let m = acts.qs.len() / self.cols;
        // Computed weight row by weight row (rows × m) so that the work splits into disjoint slices,
        // then transposed.
        let mut by_row = vec![0f32; self.rows * m];
        let fill = |first: usize, chunk: &mut [f32]| self.fill(first, acts, m, chunk);
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            // Threads split the weight rows; every output is still the same sequence of operations, so
            // the result does not depend on the number of threads.
            // With one thread the pool only adds a hand-over and a wake-up per product.
            let threads = rayon::current_num_threads();
            // An even number of rows per piece, so that no piece starts inside a pair.
            let per = (self.rows / (4 * threads)).max(16).next_multiple_of(2);
            if threads > 1 && m * self.rows * self.cols >= 1 << 20 {
                by_row
                    .par_chunks_mut(per * m)
                    .enumerate()
                    .for_each(|(i, chunk)| fill(i * per, chunk));
            } else {
                fill(0, &mut by_row);
            }
        }
        #[cfg(target_arch = "wasm32")]
        fill(0, &mut by_row);
        if m == 1 {
            return by_row;
        }
        let mut out = vec![0f32; m * self.rows];
        for (n, col) in by_row.chunks_exact(m).enumerate() {
            for (r, &v) in col.iter().enumerate() {
                out[r * self.rows + n] = v;
            }
        }
        out
    }

    /// Row `n`: its bytes from its first block to the end of its last (the other row of its pair
    /// between its blocks, [`W_STRIDE`] apart), and its block scales.
    fn row(&self, n: usize) -> (&[i8], impl Iterator<Item = u16> + '_) {
        let b = self.cols / QK;
        let start = n / 2 * 2 * self.cols + n % 2 * QK;
        (
            &self.qs[start..start + (b - 1) * W_STRIDE + QK],
            self.scales[n / 2 * 2 * b + n % 2..][..2 * b - 1]
                .iter()
                .step_by(2)
                .copied(),
        )
    }

    /// Weight rows `first..` (as many as `out` holds, `m` values each; `first` even) against every
    /// activation row, each pair computed as [`dot_scalar_f32`] does. The weight rows go a pair at a time
    /// (one forward stream through memory, [`Q8Matrix::qs`]), each block of a pair's bytes widened once
    /// for all the activation rows, which go four at a time as the four lanes of the sums (five, when
    /// four would leave one; one alone takes the pair's two rows as lanes instead). The block scales of
    /// a strip of weight rows are converted to f32 in one pass (a row of SmolLM2 has only 18 blocks, too
    /// few to convert on their own without waste).
    fn fill(&self, first: usize, acts: &Q8Acts, m: usize, out: &mut [f32]) {
        debug_assert!(
            first.is_multiple_of(2),
            "a piece of the rows starts inside a pair"
        );
        let count = out.len() / m;
        let b = self.cols / QK;
        // Activation row groups: fours, then the rest (a last four and a one become one five, so five
        // beams are a single pass).
        let mut groups = Vec::with_capacity(m / 4 + 1);
        let mut r = 0;
        while r < m {
            let n = match m - r {
                5 => 5,
                left => left.min(4),
            };
            groups.push((r, n));
            r += n;
        }
        const STRIP: usize = 32;
        let mut dws = vec![0f32; STRIP.min(count.next_multiple_of(2)) * b];
        for s0 in (0..count).step_by(STRIP) {
            let n = STRIP.min(count - s0);
            let pairs = n.div_ceil(2);
            let at = (first + s0) * b;
            scales_to_f32(
                &self.scales[at..at + 2 * pairs * b],
                &mut dws[..2 * pairs * b],
            );
            let qs = &self.qs[(first + s0) * self.cols..][..2 * pairs * self.cols];
            let out = &mut out[s0 * m..(s0 + n) * m];
            let w = Pairs {
                qs,
                dws: &dws[..2 * pairs * b],
                b,
                rows: n,
            };
            for &(r, k) in &groups {
                let a = Acts { acts, first: r, m };
                lanes_or!(
                    match k {
                        5 => pairs_x5(w, a, out),
                        4 => pairs_x::<4>(w, a, out),
                        3 => pairs_x::<3>(w, a, out),
                        2 => pairs_x::<2>(w, a, out),
                        _ => pairs_x1(w, a, out),
                    },
                    pairs_scalar(w, a, k, out)
                );
            }
        }
    }
}

/// What the SIMD paths compute for activation rows `a.first..a.first + k`, one sum at a time: the
/// product on targets without them (and the tests' check of that path).
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
fn pairs_scalar(w: Pairs, a: Acts, k: usize, out: &mut [f32]) {
    let (b, cols) = (w.b, w.b * QK);
    for i in 0..w.rows {
        let wd: Vec<f32> = w.dws[i / 2 * 2 * b + i % 2..]
            .iter()
            .step_by(2)
            .take(b)
            .copied()
            .collect();
        let row = &w.qs[i / 2 * 2 * cols + i % 2 * QK..];
        for j in a.first..a.first + k {
            out[i * a.m + j] = dot_scalar_f32((row, &wd), a.acts.row(j));
        }
    }
}

/// A strip of weight rows in pairs: their bytes ([`Q8Matrix::qs`]'s layout, from the first pair's
/// first block), their scales in f32 (the same pair layout), blocks per row, and how many of the rows
/// are wanted (an odd number leaves the last pair's second row, zeros or the next piece's, unwritten).
#[derive(Clone, Copy)]
struct Pairs<'a> {
    qs: &'a [i8],
    dws: &'a [f32],
    b: usize,
    rows: usize,
}

/// Activation rows `first..` of `acts`, which has `m` rows.
#[derive(Clone, Copy)]
struct Acts<'a> {
    acts: &'a Q8Acts,
    first: usize,
    m: usize,
}

/// Every pair of `w` against activation rows `a.first..a.first + R` (R ≤ 4, the lanes of the sums),
/// into `out` (rows × `a.m`). Not inlined, so that V8 allocates registers for this loop on its own.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
))]
#[inline(never)]
fn pairs_x<const R: usize>(w: Pairs, a: Acts, out: &mut [f32]) {
    let (cols, b) = (w.b * QK, w.b);
    let rows: [&[i16]; R] = std::array::from_fn(|j| a.acts.row(a.first + j).0);
    let stride = a.m + 3;
    let by_block = &a.acts.by_block[a.first..];
    assert!(by_block.len() >= (b - 1) * stride + 4 && w.dws.len() >= 2 * b * w.rows.div_ceil(2));
    for p in 0..w.rows.div_ceil(2) {
        let qs = &w.qs[2 * p * cols..][..2 * cols];
        let dws = &w.dws[2 * p * b..][..2 * b];
        // SAFETY: `qs` holds the pair's b blocks of 2 × 32 bytes, `dws` its 2b scales, every `rows[j]`
        // b blocks of 32, and `by_block` four scales at every multiple of `stride` below b (asserted).
        let t = unsafe { simd::pair_x::<simd::V, R>(qs, dws, rows, by_block, stride) };
        for (i, t) in t.iter().enumerate().take(w.rows - 2 * p) {
            out[(2 * p + i) * a.m + a.first..][..R].copy_from_slice(&t[..R]);
        }
    }
}

/// As [`pairs_x`] for five activation rows: four as lanes, the fifth against the pair's two rows.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
))]
#[inline(never)]
fn pairs_x5(w: Pairs, a: Acts, out: &mut [f32]) {
    let (cols, b) = (w.b * QK, w.b);
    let rows: [&[i16]; 5] = std::array::from_fn(|j| a.acts.row(a.first + j).0);
    let stride = a.m + 3;
    let by_block = &a.acts.by_block[a.first..];
    assert!(by_block.len() >= (b - 1) * stride + 5 && w.dws.len() >= 2 * b * w.rows.div_ceil(2));
    for p in 0..w.rows.div_ceil(2) {
        let qs = &w.qs[2 * p * cols..][..2 * cols];
        let dws = &w.dws[2 * p * b..][..2 * b];
        // SAFETY: as in `pairs_x`, with a fifth scale at every multiple of `stride` below b.
        let (t, fifth) = unsafe { simd::pair_x5::<simd::V>(qs, dws, rows, by_block, stride) };
        for (i, t) in t.iter().enumerate().take(w.rows - 2 * p) {
            let o = &mut out[(2 * p + i) * a.m + a.first..][..5];
            o[..4].copy_from_slice(t);
            o[4] = fifth[i];
        }
    }
}

/// Every pair of `w` against the one activation row `a.first`, the pair's two rows as lanes: the
/// one-token product of greedy decoding.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
))]
#[inline(never)]
fn pairs_x1(w: Pairs, a: Acts, out: &mut [f32]) {
    let (cols, b) = (w.b * QK, w.b);
    let (row, ad) = a.acts.row(a.first);
    assert!(ad.len() == b && w.dws.len() >= 2 * b * w.rows.div_ceil(2));
    for p in 0..w.rows.div_ceil(2) {
        let qs = &w.qs[2 * p * cols..][..2 * cols];
        let dws = &w.dws[2 * p * b..][..2 * b];
        // SAFETY: `qs` holds the pair's b blocks of 2 × 32 bytes, `dws` its 2b scales, `row` b blocks
        // of 32 and `ad` b scales.
        let t = unsafe { simd::pair_x1::<simd::V>(qs, dws, row, ad) };
        for (i, &t) in t.iter().enumerate().take(w.rows - 2 * p) {
            out[(2 * p + i) * a.m + a.first] = t;
        }
    }
}

/// f16 scales (as stored) to f32: with SIMD four at a time, the values `half` gives.
fn scales_to_f32(src: &[u16], out: &mut [f32]) {
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    simd::scales(src, out);
    #[cfg(not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    )))]
    for (d, &h) in out.iter_mut().zip(src) {
        *d = f16::from_bits(h).to_f32();
    }
}

/// A weight row's bytes (from its first block; its blocks are [`W_STRIDE`] bytes apart) and its block
/// scales in f32, or an activation row (widened bytes and scales).
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
type WRowF<'a> = (&'a [i8], &'a [f32]);

/// From one block of a weight row to the next, in bytes: rows are stored in pairs ([`Q8Matrix`]).
const W_STRIDE: usize = 2 * QK;
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
type ARow<'a> = (&'a [i16], &'a [f32]);

/// The reference arithmetic of one weight row against one activation row, candle's own generic Q8_0
/// kernel (`vec_dot_unopt`): for each block in order, the exact integer Σ w·a of its 32 pairs,
/// converted to f32 (exact: |Σ| < 2^24), times the weight's scale, times the activation's scale, added
/// to one f32 sum. The SIMD paths are tested against it bit for bit.
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
fn dot_scalar_f32((w, wd): WRowF, (a, ad): ARow) -> f32 {
    let mut sum = 0f32;
    for (blk, (&dw, &da)) in wd.iter().zip(ad).enumerate() {
        let s: i32 = (0..QK)
            .map(|i| w[blk * W_STRIDE + i] as i32 * a[blk * QK + i] as i32)
            .sum();
        sum += s as f32 * dw * da;
    }
    sum
}

mod simd {
    /// 2^112: an f16's magnitude bits moved to an f32's places, times this, is the f16's value.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    const TWO_POW_112: f32 = f32::from_bits(0x7780_0000);
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    use super::{QK, W_STRIDE};
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    use half::f16;

    /// `src` (f16 bits) as f32 into `out`, four per instruction: the magnitude's bits moved to an f32's
    /// places make the value 2^-112 times too small (or a subnormal f32 for a subnormal f16), and the
    /// product by 2^112 is exact; infinities and NaNs keep their class. The values of `half`'s
    /// conversion, which takes the last one to three.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(super) fn scales(src: &[u16], out: &mut [f32]) {
        use std::arch::wasm32::*;
        let n = src.len().min(out.len());
        let mut k = 0;
        while k + 4 <= n {
            // SAFETY: k + 4 <= n, so the 8 bytes read and the 16 written are inside `src` and `out`.
            unsafe {
                let h = v128_load64_zero(src.as_ptr().add(k) as *const u64);
                let h = u32x4_extend_low_u16x8(h);
                let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
                let mag = v128_and(h, u32x4_splat(0x7fff));
                let normal = f32x4_mul(i32x4_shl(mag, 13), f32x4_splat(TWO_POW_112));
                let special = v128_or(
                    u32x4_splat(0x7f80_0000),
                    i32x4_shl(v128_and(mag, u32x4_splat(0x3ff)), 13),
                );
                let is_special = u32x4_ge(mag, u32x4_splat(0x7c00));
                let v = v128_or(v128_bitselect(special, normal, is_special), sign);
                v128_store(out.as_mut_ptr().add(k) as *mut v128, v);
            }
            k += 4;
        }
        for (d, &h) in out[k..n].iter_mut().zip(&src[k..n]) {
            *d = f16::from_bits(h).to_f32();
        }
    }

    /// As the wasm `scales`, with SSE2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn scales(src: &[u16], out: &mut [f32]) {
        use std::arch::x86_64::*;
        let n = src.len().min(out.len());
        let mut k = 0;
        while k + 4 <= n {
            // SAFETY: SSE2 is part of x86_64; k + 4 <= n, so the 8 bytes read and the 16 written are
            // inside `src` and `out`.
            unsafe {
                let h = _mm_loadl_epi64(src.as_ptr().add(k) as *const __m128i);
                let h = _mm_unpacklo_epi16(h, _mm_setzero_si128());
                let sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
                let mag = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
                let normal = _mm_castps_si128(_mm_mul_ps(
                    _mm_castsi128_ps(_mm_slli_epi32(mag, 13)),
                    _mm_set1_ps(TWO_POW_112),
                ));
                let special = _mm_or_si128(
                    _mm_set1_epi32(0x7f80_0000),
                    _mm_slli_epi32(_mm_and_si128(mag, _mm_set1_epi32(0x3ff)), 13),
                );
                let is_special = _mm_cmpgt_epi32(mag, _mm_set1_epi32(0x7bff));
                let v = _mm_or_si128(
                    _mm_and_si128(is_special, special),
                    _mm_andnot_si128(is_special, normal),
                );
                _mm_storeu_ps(
                    out.as_mut_ptr().add(k),
                    _mm_castsi128_ps(_mm_or_si128(v, sign)),
                );
            }
            k += 4;
        }
        for (d, &h) in out[k..n].iter_mut().zip(&src[k..n]) {
            *d = f16::from_bits(h).to_f32();
        }
    }

    /// What the Q8_0 products need of a 128-bit vector, integer or float lanes alike (wasm's `v128`, or
    /// SSE2's `__m128i` cast to `__m128` for the float operations): [`pair_x`], [`pair_x5`] and
    /// [`pair_x1`] are written once over it, so the native tests run the page's arithmetic.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    pub(super) trait Q8Ops: Copy {
        /// The 32 signed bytes at `p` widened to four i16x8.
        /// # Safety
        /// `p` points to 32 readable bytes.
        unsafe fn widen(p: *const i8) -> [Self; 4];
        /// # Safety
        /// `p` points to eight readable i16 (or four f32 for [`Self::load_f32`]).
        unsafe fn load_i16(p: *const i16) -> Self;
        unsafe fn load_f32(p: *const f32) -> Self;
        /// Two f32 at `p` in lanes 0 and 1, zeros above.
        /// # Safety
        /// `p` points to two readable f32.
        unsafe fn load_f32x2(p: *const f32) -> Self;
        fn zero() -> Self;
        /// i32 lanes: Σ of the products of adjacent i16 pairs (exact).
        fn dot(self, o: Self) -> Self;
        fn add_i32(self, o: Self) -> Self;
        /// i32 lanes: `[Σa, Σb, Σc, Σd]`, each Σ over a vector's four lanes.
        fn sums4(v: [Self; 4]) -> Self;
        /// i32 lanes: `[Σa, Σb, …]` in lanes 0 and 1.
        fn sums2(a: Self, b: Self) -> Self;
        /// i32 lanes to f32 (exact below 2^24).
        fn to_f32(self) -> Self;
        fn splat_f32(x: f32) -> Self;
        fn mul_f32(self, o: Self) -> Self;
        fn add_f32(self, o: Self) -> Self;
        fn lanes(self) -> [f32; 4];
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(super) type V = std::arch::wasm32::v128;
    #[cfg(target_arch = "x86_64")]
    pub(super) type V = std::arch::x86_64::__m128i;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    impl Q8Ops for std::arch::wasm32::v128 {
        #[inline(always)]
        unsafe fn widen(p: *const i8) -> [Self; 4] {
            use std::arch::wasm32::*;
            // SAFETY: the caller's 32 bytes.
            let (lo, hi) = unsafe {
                (
                    v128_load(p as *const v128),
                    v128_load(p.add(16) as *const v128),
                )
            };
            [
                i16x8_extend_low_i8x16(lo),
                i16x8_extend_high_i8x16(lo),
                i16x8_extend_low_i8x16(hi),
                i16x8_extend_high_i8x16(hi),
            ]
        }
        #[inline(always)]
        unsafe fn load_i16(p: *const i16) -> Self {
            // SAFETY: the caller's 16 bytes.
            unsafe { std::arch::wasm32::v128_load(p as *const Self) }
        }
        #[inline(always)]
        unsafe fn load_f32(p: *const f32) -> Self {
            // SAFETY: the caller's 16 bytes.
            unsafe { std::arch::wasm32::v128_load(p as *const Self) }
        }
        #[inline(always)]
        unsafe fn load_f32x2(p: *const f32) -> Self {
            // SAFETY: the caller's 8 bytes.
            unsafe { std::arch::wasm32::v128_load64_zero(p as *const u64) }
        }
        #[inline(always)]
        fn zero() -> Self {
            std::arch::wasm32::i32x4_splat(0)
        }
        #[inline(always)]
        fn dot(self, o: Self) -> Self {
            std::arch::wasm32::i32x4_dot_i16x8(self, o)
        }
        #[inline(always)]
        fn add_i32(self, o: Self) -> Self {
            std::arch::wasm32::i32x4_add(self, o)
        }
        #[inline(always)]
        fn sums4([a, b, c, d]: [Self; 4]) -> Self {
            use std::arch::wasm32::*;
            let ab = i32x4_add(
                i32x4_shuffle::<0, 4, 1, 5>(a, b),
                i32x4_shuffle::<2, 6, 3, 7>(a, b),
            );
            let cd = i32x4_add(
                i32x4_shuffle::<0, 4, 1, 5>(c, d),
                i32x4_shuffle::<2, 6, 3, 7>(c, d),
            );
            i32x4_add(
                i32x4_shuffle::<0, 1, 4, 5>(ab, cd),
                i32x4_shuffle::<2, 3, 6, 7>(ab, cd),
            )
        }
        #[inline(always)]
        fn sums2(a: Self, b: Self) -> Self {
            use std::arch::wasm32::*;
            let ab = i32x4_add(
                i32x4_shuffle::<0, 4, 1, 5>(a, b),
                i32x4_shuffle::<2, 6, 3, 7>(a, b),
            );
            i32x4_add(ab, i32x4_shuffle::<2, 3, 6, 7>(ab, ab))
        }
        #[inline(always)]
        fn to_f32(self) -> Self {
            std::arch::wasm32::f32x4_convert_i32x4(self)
        }
        #[inline(always)]
        fn splat_f32(x: f32) -> Self {
            std::arch::wasm32::f32x4_splat(x)
        }
        #[inline(always)]
        fn mul_f32(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_mul(self, o)
        }
        #[inline(always)]
        fn add_f32(self, o: Self) -> Self {
            std::arch::wasm32::f32x4_add(self, o)
        }
        #[inline(always)]
        fn lanes(self) -> [f32; 4] {
            use std::arch::wasm32::*;
            [
                f32x4_extract_lane::<0>(self),
                f32x4_extract_lane::<1>(self),
                f32x4_extract_lane::<2>(self),
                f32x4_extract_lane::<3>(self),
            ]
        }
    }

    #[cfg(target_arch = "x86_64")]
    impl Q8Ops for std::arch::x86_64::__m128i {
        #[inline(always)]
        unsafe fn widen(p: *const i8) -> [Self; 4] {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the caller's 32 bytes.
            unsafe {
                let lo = _mm_loadu_si128(p as *const __m128i);
                let hi = _mm_loadu_si128(p.add(16) as *const __m128i);
                // i8 → i16 sign extension in SSE2: each byte into both halves, shift right.
                [
                    _mm_srai_epi16(_mm_unpacklo_epi8(lo, lo), 8),
                    _mm_srai_epi16(_mm_unpackhi_epi8(lo, lo), 8),
                    _mm_srai_epi16(_mm_unpacklo_epi8(hi, hi), 8),
                    _mm_srai_epi16(_mm_unpackhi_epi8(hi, hi), 8),
                ]
            }
        }
        #[inline(always)]
        unsafe fn load_i16(p: *const i16) -> Self {
            // SAFETY: SSE2; the caller's 16 bytes.
            unsafe { std::arch::x86_64::_mm_loadu_si128(p as *const Self) }
        }
        #[inline(always)]
        unsafe fn load_f32(p: *const f32) -> Self {
            // SAFETY: SSE2; the caller's 16 bytes.
            unsafe { std::arch::x86_64::_mm_loadu_si128(p as *const Self) }
        }
        #[inline(always)]
        unsafe fn load_f32x2(p: *const f32) -> Self {
            // SAFETY: SSE2; the caller's 8 bytes.
            unsafe { std::arch::x86_64::_mm_loadl_epi64(p as *const Self) }
        }
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: SSE2 is part of x86_64.
            unsafe { std::arch::x86_64::_mm_setzero_si128() }
        }
        #[inline(always)]
        fn dot(self, o: Self) -> Self {
            // SAFETY: SSE2.
            unsafe { std::arch::x86_64::_mm_madd_epi16(self, o) }
        }
        #[inline(always)]
        fn add_i32(self, o: Self) -> Self {
            // SAFETY: SSE2.
            unsafe { std::arch::x86_64::_mm_add_epi32(self, o) }
        }
        #[inline(always)]
        fn sums4([a, b, c, d]: [Self; 4]) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe {
                let ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
                let cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
                _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd))
            }
        }
        #[inline(always)]
        fn sums2(a: Self, b: Self) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe {
                let ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
                _mm_add_epi32(ab, _mm_unpackhi_epi64(ab, ab))
            }
        }
        #[inline(always)]
        fn to_f32(self) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe { _mm_castps_si128(_mm_cvtepi32_ps(self)) }
        }
        #[inline(always)]
        fn splat_f32(x: f32) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe { _mm_castps_si128(_mm_set1_ps(x)) }
        }
        #[inline(always)]
        fn mul_f32(self, o: Self) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe { _mm_castps_si128(_mm_mul_ps(_mm_castsi128_ps(self), _mm_castsi128_ps(o))) }
        }
        #[inline(always)]
        fn add_f32(self, o: Self) -> Self {
            use std::arch::x86_64::*;
            // SAFETY: SSE2.
            unsafe { _mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(self), _mm_castsi128_ps(o))) }
        }
        #[inline(always)]
        fn lanes(self) -> [f32; 4] {
            let mut l = [0f32; 4];
            // SAFETY: SSE2; 16 writable bytes.
            unsafe {
                std::arch::x86_64::_mm_storeu_ps(
                    l.as_mut_ptr(),
                    std::arch::x86_64::_mm_castsi128_ps(self),
                )
            };
            l
        }
    }

    /// One block of a pair of weight rows against one block of an activation row: each row's four
    /// lanes of exact partial sums.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    unsafe fn block<V: Q8Ops>(w: &[[V; 4]; 2], a: *const i16) -> [V; 2] {
        // SAFETY: the caller's block of 32 i16, eight at a time.
        let x: [V; 4] = std::array::from_fn(|k| unsafe { V::load_i16(a.add(8 * k)) });
        w.map(|w| {
            let s = w[0].dot(x[0]).add_i32(w[1].dot(x[1]));
            s.add_i32(w[2].dot(x[2])).add_i32(w[3].dot(x[3]))
        })
    }

    /// A pair of weight rows (`qs`: b blocks of the two rows' 32 bytes each, `dws`: their 2b scales in
    /// the same order) against `R` ≤ 4 activation rows (b blocks of 32 widened bytes each; their scales
    /// four at a time in `by_block`, block k's at `k · stride`): `[row][activation]`, each the sum
    /// [`super::dot_scalar_f32`] makes, lane by lane.
    /// # Safety
    /// The slices hold what is said above (b ≥ 1 blocks each, `by_block` four readable f32 from every
    /// `k · stride` with k < b).
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    pub(super) unsafe fn pair_x<V: Q8Ops, const R: usize>(
        qs: &[i8],
        dws: &[f32],
        a: [&[i16]; R],
        by_block: &[f32],
        stride: usize,
    ) -> [[f32; 4]; 2] {
        let b = dws.len() / 2;
        let mut acc = [V::zero(); 2];
        for blk in 0..b {
            // SAFETY: block `blk` of the pair, of each activation row and of the scales (the caller's).
            unsafe {
                let wp = qs.as_ptr().add(blk * W_STRIDE);
                let w = [V::widen(wp), V::widen(wp.add(QK))];
                add_lanes(
                    &mut acc,
                    &w,
                    a,
                    blk,
                    dws,
                    by_block.as_ptr().add(blk * stride),
                );
            }
        }
        [acc[0].lanes(), acc[1].lanes()]
    }

    /// Block `blk` of a pair of weight rows (`w`, widened) against `R` ≤ 4 activation rows as the
    /// lanes, added to each row's sums: [`pair_x`]'s step, and the first four rows of [`pair_x5`]'s.
    /// # Safety
    /// Every `a[j]` holds block `blk`, `dws` the pair's scales at `2 · blk`, and `da` four readable f32.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    unsafe fn add_lanes<V: Q8Ops, const R: usize>(
        acc: &mut [V; 2],
        w: &[[V; 4]; 2],
        a: [&[i16]; R],
        blk: usize,
        dws: &[f32],
        da: *const f32,
    ) {
        let mut s = [[V::zero(); 4]; 2];
        for j in 0..R {
            // SAFETY: the caller's block of `a[j]`.
            let [s0, s1] = unsafe { block(w, a[j].as_ptr().add(blk * QK)) };
            s[0][j] = s0;
            s[1][j] = s1;
        }
        // SAFETY: the caller's four scales and the pair's two.
        let da = unsafe { V::load_f32(da) };
        for i in 0..2 {
            let dw = V::splat_f32(unsafe { *dws.get_unchecked(2 * blk + i) });
            acc[i] = acc[i].add_f32(V::sums4(s[i]).to_f32().mul_f32(dw).mul_f32(da));
        }
    }

    /// A pair's two sums of one block (`s`), in lanes 0 and 1, times their weight scales (at
    /// `2 · blk` of `dws`) and the activation's scale `da`, added to `acc`: [`pair_x1`]'s step, and
    /// the fifth row of [`pair_x5`]'s.
    /// # Safety
    /// `dws` holds two f32 from `2 · blk`.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    unsafe fn add_pair<V: Q8Ops>(acc: V, [s0, s1]: [V; 2], dws: &[f32], blk: usize, da: f32) -> V {
        // SAFETY: the caller's two scales.
        let dw = unsafe { V::load_f32x2(dws.as_ptr().add(2 * blk)) };
        acc.add_f32(
            V::sums2(s0, s1)
                .to_f32()
                .mul_f32(dw)
                .mul_f32(V::splat_f32(da)),
        )
    }

    /// [`pair_x`] of five activation rows: the first four as lanes, the fifth's sums for the two weight
    /// rows in lanes 0 and 1 of its own sum (its scales at `k · stride + 4`).
    /// # Safety
    /// As [`pair_x`], with five readable f32 from every `k · stride`.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    pub(super) unsafe fn pair_x5<V: Q8Ops>(
        qs: &[i8],
        dws: &[f32],
        a: [&[i16]; 5],
        by_block: &[f32],
        stride: usize,
    ) -> ([[f32; 4]; 2], [f32; 2]) {
        let b = dws.len() / 2;
        let mut acc = [V::zero(); 2];
        let mut fifth = V::zero();
        for blk in 0..b {
            // SAFETY: as in `pair_x`.
            unsafe {
                let wp = qs.as_ptr().add(blk * W_STRIDE);
                let w = [V::widen(wp), V::widen(wp.add(QK))];
                let da = by_block.as_ptr().add(blk * stride);
                add_lanes(&mut acc, &w, [a[0], a[1], a[2], a[3]], blk, dws, da);
                let e = block(&w, a[4].as_ptr().add(blk * QK));
                fifth = add_pair(fifth, e, dws, blk, *da.add(4));
            }
        }
        let f = fifth.lanes();
        ([acc[0].lanes(), acc[1].lanes()], [f[0], f[1]])
    }

    /// A pair of weight rows (as in [`pair_x`]) against one activation row (`a`: b blocks of 32 widened
    /// bytes, `ad`: its b scales), the two weight rows as lanes 0 and 1.
    /// # Safety
    /// The slices hold what is said above, b ≥ 1.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    pub(super) unsafe fn pair_x1<V: Q8Ops>(
        qs: &[i8],
        dws: &[f32],
        a: &[i16],
        ad: &[f32],
    ) -> [f32; 2] {
        let b = dws.len() / 2;
        let mut acc = V::zero();
        for blk in 0..b {
            // SAFETY: block `blk` of the pair, of the activation row and of the scales.
            unsafe {
                let wp = qs.as_ptr().add(blk * W_STRIDE);
                let w = [V::widen(wp), V::widen(wp.add(QK))];
                let s = block(&w, a.as_ptr().add(blk * QK));
                acc = add_pair(acc, s, dws, blk, *ad.get_unchecked(blk));
            }
        }
        let l = acc.lanes();
        [l[0], l[1]]
    }

    /// 2^52 + 1023: a whole number k in −1022..=1023 added to it leaves k + 1023 in the low bits of the
    /// sum's mantissa, which a shift by 52 moves to an f64's exponent: 2^k, [`super::pow2`]'s bits.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    const POW2_BIAS: f64 = 4_503_599_627_371_519.0;

    /// Two f64 lanes, as simd128 and SSE4.1 have them: [`exp_lanes`] is written once over this, so the
    /// native tests run the arithmetic the page runs.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    pub(super) trait F64x2: Copy {
        fn splat(x: f64) -> Self;
        fn add(self, o: Self) -> Self;
        fn sub(self, o: Self) -> Self;
        fn mul(self, o: Self) -> Self;
        fn floor(self) -> Self;
        /// Each lane's bits shifted left by 52, read as f64.
        fn shl52(self) -> Self;
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    impl F64x2 for std::arch::wasm32::v128 {
        #[inline(always)]
        fn splat(x: f64) -> Self {
            std::arch::wasm32::f64x2_splat(x)
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            std::arch::wasm32::f64x2_add(self, o)
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            std::arch::wasm32::f64x2_sub(self, o)
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            std::arch::wasm32::f64x2_mul(self, o)
        }
        #[inline(always)]
        fn floor(self) -> Self {
            std::arch::wasm32::f64x2_floor(self)
        }
        #[inline(always)]
        fn shl52(self) -> Self {
            std::arch::wasm32::i64x2_shl(self, 52)
        }
    }

    // SAFETY (every block below): SSE2 is part of x86_64 and SSE4.1 is enabled at build time (the cfg).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    impl F64x2 for std::arch::x86_64::__m128d {
        #[inline(always)]
        fn splat(x: f64) -> Self {
            unsafe { std::arch::x86_64::_mm_set1_pd(x) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_add_pd(self, o) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_sub_pd(self, o) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            unsafe { std::arch::x86_64::_mm_mul_pd(self, o) }
        }
        #[inline(always)]
        fn floor(self) -> Self {
            unsafe { std::arch::x86_64::_mm_floor_pd(self) }
        }
        #[inline(always)]
        fn shl52(self) -> Self {
            use std::arch::x86_64::*;
            unsafe { _mm_castsi128_pd(_mm_slli_epi64(_mm_castpd_si128(self), 52)) }
        }
    }

    /// [`exp_lanes`]'s constants as vectors, made once before a loop. Each goes through `black_box`, so
    /// that the compiler keeps it in a variable instead of folding it back into the loop as a constant:
    /// V8 builds a `v128.const` anew at every use, with three instructions, which made the softmax's
    /// exponentials in the page spend more instructions on constants than on arithmetic.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    #[derive(Clone, Copy)]
    pub(super) struct ExpConsts<V, const N: usize> {
        log2_e: V,
        half: V,
        ln2_hi: V,
        ln2_lo: V,
        bias: V,
        c: [V; N],
    }

    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    impl<V: F64x2, const N: usize> ExpConsts<V, N> {
        /// The constants for the polynomial `c`.
        #[inline(always)]
        pub(super) fn new(c: &[f64; N]) -> Self {
            use super::{LN2_HI, LN2_LO, LOG2_E};
            let s = |x: f64| std::hint::black_box(V::splat(x));
            Self {
                log2_e: s(LOG2_E),
                half: s(0.5),
                ln2_hi: s(LN2_HI),
                ln2_lo: s(LN2_LO),
                bias: s(POW2_BIAS),
                c: c.map(s),
            }
        }
    }

    /// [`expf_v`]'s constants: the polynomial [`super::EXPF_C`]'s, and the byte indices that move the
    /// second pair of results into place (also through `black_box`: as a constant, LLVM saw through
    /// any way of joining the two f64→f32 conversions and made four scalar ones of them).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[derive(Clone, Copy)]
    pub(super) struct ExpfConsts {
        k: ExpConsts<std::arch::wasm32::v128, 9>,
        join: std::arch::wasm32::v128,
    }

    /// [`expf_v`]'s constants, made once before a loop.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(super) fn expf_consts() -> ExpfConsts {
        use std::arch::wasm32::*;
        ExpfConsts {
            k: ExpConsts::new(&super::EXPF_C),
            // Bytes 0–7 of the source to 8–15; an index of 16 or more gives 0.
            join: std::hint::black_box(u8x16(
                16, 16, 16, 16, 16, 16, 16, 16, 0, 1, 2, 3, 4, 5, 6, 7,
            )),
        }
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    pub(super) type ExpfConsts = ExpConsts<std::arch::x86_64::__m128d, 9>;

    /// [`expf_v`]'s constants, made once before a loop.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    #[inline(always)]
    pub(super) fn expf_consts() -> ExpfConsts {
        ExpConsts::new(&super::EXPF_C)
    }

    /// e^x on two f64 lanes with the polynomial of `k`, as [`super::exp`] computes it once it has passed
    /// its range tests and when `scale2` takes its one-step path (|k| ≤ 1000): k = ⌊x·log₂e + ½⌋,
    /// r = (x − k·ln2_hi) − k·ln2_lo, Horner's rule from the last coefficient, times 2^k.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    #[inline(always)]
    fn exp_lanes<V: F64x2, const N: usize>(x: V, k: &ExpConsts<V, N>) -> V {
        let e = x.mul(k.log2_e).add(k.half).floor();
        let r = x.sub(e.mul(k.ln2_hi)).sub(e.mul(k.ln2_lo));
        let (last, rest) = k.c.split_last().expect("a polynomial has coefficients");
        let mut p = *last;
        for &ci in rest.iter().rev() {
            p = p.mul(r).add(ci);
        }
        p.mul(e.add(k.bias).shl52())
    }

    /// [`super::expf`] of four values in its polynomial's range: two f64 lanes at a time, each result
    /// rounded once to f32.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(super) fn expf4(x: [f32; 4]) -> [f32; 4] {
        use super::lanes::Lanes;
        use std::arch::wasm32::*;
        expf_v(f32x4(x[0], x[1], x[2], x[3]), &expf_consts()).to_array()
    }

    /// As the wasm `expf4`, with SSE4.1.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    #[inline(always)]
    pub(super) fn expf4(x: [f32; 4]) -> [f32; 4] {
        use super::lanes::Lanes;
        // SAFETY: the load is of a four-element array.
        let v = unsafe { std::arch::x86_64::_mm_loadu_ps(x.as_ptr()) };
        expf_v(v, &expf_consts()).to_array()
    }

    /// [`expf4`] of a vector whose lanes are all in the polynomial's range.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(super) fn expf_v(v: std::arch::wasm32::v128, k: &ExpfConsts) -> std::arch::wasm32::v128 {
        use std::arch::wasm32::*;
        let lo = f32x4_demote_f64x2_zero(exp_lanes(f64x2_promote_low_f32x4(v), &k.k));
        let hi = f32x4_demote_f64x2_zero(exp_lanes(
            f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(v, v)),
            &k.k,
        ));
        // Lanes 2–3 of `lo` are 0.
        v128_or(lo, i8x16_swizzle(hi, k.join))
    }

    /// As the wasm `expf_v`, with SSE4.1.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    #[inline(always)]
    pub(super) fn expf_v(
        v: std::arch::x86_64::__m128,
        k: &ExpfConsts,
    ) -> std::arch::x86_64::__m128 {
        use std::arch::x86_64::*;
        // SAFETY: as in `exp_lanes`.
        unsafe {
            let lo = exp_lanes(_mm_cvtps_pd(v), k);
            let hi = exp_lanes(_mm_cvtps_pd(_mm_movehl_ps(v, v)), k);
            _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi))
        }
    }

    /// Two f64 lanes of the target.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    type F64V = std::arch::wasm32::v128;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    type F64V = std::arch::x86_64::__m128d;

    /// [`super::exp`] of two values for which it takes the polynomial path with a one-step scale.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn exp_pair(x: [f64; 2], k: &ExpConsts<F64V, 14>) -> [f64; 2] {
        use std::arch::wasm32::*;
        let r = exp_lanes(f64x2(x[0], x[1]), k);
        [f64x2_extract_lane::<0>(r), f64x2_extract_lane::<1>(r)]
    }

    /// As the wasm `exp_pair`, with SSE4.1.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    #[inline(always)]
    fn exp_pair(x: [f64; 2], k: &ExpConsts<F64V, 14>) -> [f64; 2] {
        use std::arch::x86_64::*;
        // SAFETY: as in `exp_lanes`; the load and store are of two-element arrays.
        unsafe {
            let r = exp_lanes(_mm_loadu_pd(x.as_ptr()), k);
            let mut out = [0f64; 2];
            _mm_storeu_pd(out.as_mut_ptr(), r);
            out
        }
    }

    /// [`super::exp2`]'s SIMD path.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    #[inline(always)]
    pub(super) fn exp2(x: [f64; 2]) -> [f64; 2] {
        exp_pair(x, &ExpConsts::new(&super::EXP_C))
    }

    /// Σ e^(l − max) over `pairs` (an even number of values), added one at a time in order, each pair's
    /// exponentials with [`super::exp2`]'s bits: [`super::log_sum_exp`]'s loop, with the constants
    /// made once.
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse4.1")
    ))]
    #[inline(always)]
    pub(super) fn exp_sum_pairs(pairs: &[f32], max: f64) -> f64 {
        let k = ExpConsts::new(&super::EXP_C);
        let mut sum = 0f64;
        for p in pairs.chunks_exact(2) {
            let x = [p[0] as f64 - max, p[1] as f64 - max];
            let [a, b] = if x.iter().all(|v| (-690.0..=690.0).contains(v)) {
                exp_pair(x, &k)
            } else {
                x.map(super::exp)
            };
            sum += a;
            sum += b;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    /// A deterministic stream of pseudo-random numbers (xorshift), so the tests need no crate.
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn exp_and_ln_agree_with_the_platform_to_two_ulps() {
        let mut rnd = stream(7);
        for _ in 0..100_000 {
            let x = (rnd() - 0.5) * 1400.0;
            let (ours, std) = (exp(x), x.exp());
            assert!(
                (ours - std).abs() <= 2.0 * f64::EPSILON * std,
                "exp({x}) = {ours}, libm {std}"
            );
            let y = rnd() * 10f64.powi((rnd() * 600.0 - 300.0) as i32);
            let (ours, std) = (ln(y), y.ln());
            assert!(
                (ours - std).abs() <= 2.0 * f64::EPSILON * std.abs().max(1.0),
                "ln({y}) = {ours}, libm {std}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
    }

    #[test]
    fn correctly_rounded_exp_and_ln_are_within_one_ulp_of_the_platform_and_right_at_its_misroundings(
    ) {
        // glibc's exp and log (CPython's, so sacrebleu's) are correctly rounded except near midpoints
        // (documented error bounds about 0.51 ulp): ours may differ from them by one ulp there, never more.
        let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs();
        let mut rnd = stream(29);
        let mut differ = 0;
        for _ in 0..200_000 {
            let x = (rnd() - 0.5) * 60.0;
            let d = ulps(exp_cr(x), x.exp());
            assert!(d <= 1, "exp({x}): {d} ulps from libm");
            differ += d as usize;
            let y = rnd() * 10f64.powi((rnd() * 40.0 - 20.0) as i32);
            let d = ulps(ln_cr(y), y.ln());
            assert!(d <= 1, "ln({y}): {d} ulps from libm");
            differ += d as usize;
        }
        assert!(
            differ < 400,
            "{differ} of 400000 values differ from libm by an ulp"
        );
        // Two cases checked with Python's decimal module at 60 digits: the exact value lies 0.49975 ulp
        // from 1.3089571732352359 (glibc returns 1.3089571732352356, 0.50025 ulp away), and ln(100/11)
        // is nearer 2.207274913189721 than 2.2072749131897207.
        assert_eq!(exp_cr(0.2692307692307693), 1.3089571732352359);
        assert_eq!(ln_cr(9.090909090909092), 2.207274913189721);
        assert_eq!(exp_cr(0.0), 1.0);
        assert_eq!(ln_cr(1.0), 0.0);
        assert_eq!(ln_cr(100.0), 100f64.ln());
    }

    #[test]
    fn expf_is_within_one_ulp_of_the_platform() {
        let mut rnd = stream(3);
        for _ in 0..100_000 {
            let x = ((rnd() - 0.5) * 180.0) as f32;
            let (ours, std) = (expf(x), x.exp());
            if std.is_infinite() {
                assert_eq!(ours, std, "expf({x})");
                continue;
            }
            assert!(
                (ours - std).abs() <= f32::EPSILON * std,
                "expf({x}) = {ours}, libm {std}"
            );
        }
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn four_exponentials_at_once_have_the_bits_of_one_at_a_time() {
        // Every 61st f32 bit pattern (70 million values: all magnitudes, both signs, NaNs, infinities),
        // four at a time in shifting combinations, so that in-range and out-of-range lanes mix.
        let mut quad = [0f32; 4];
        let mut seen = 0u64;
        for (i, bits) in (0..=u32::MAX).step_by(61).enumerate() {
            quad[i % 4] = f32::from_bits(bits);
            if i % 4 == 3 {
                let (got, want) = (expf4(quad), quad.map(expf));
                for l in 0..4 {
                    assert_eq!(
                        got[l].to_bits(),
                        want[l].to_bits(),
                        "expf4 lane {l} of {quad:?}"
                    );
                }
                seen += 1;
            }
        }
        assert!(seen > 17_000_000);
        // The range's ends, as lanes of one call and on their own.
        let ends = [-104.0, 88.8, -103.99999, 88.79999];
        assert_eq!(
            expf4(ends).map(f32::to_bits),
            ends.map(expf).map(f32::to_bits)
        );
        let outside = [-104.00001, 88.80001, f32::NAN, f32::NEG_INFINITY];
        assert_eq!(expf4(outside)[..2], [0.0, f32::INFINITY]);
        assert!(expf4(outside)[2].is_nan() && expf4(outside)[3] == 0.0);
    }

    #[test]
    fn two_f64_exponentials_at_once_have_the_bits_of_one_at_a_time() {
        let mut rnd = stream(11);
        let check = |pair: [f64; 2]| {
            let (got, want) = (exp2(pair), pair.map(exp));
            for l in 0..2 {
                assert_eq!(
                    got[l].to_bits(),
                    want[l].to_bits(),
                    "exp2 lane {l} of {pair:?}"
                );
            }
        };
        for _ in 0..2_000_000 {
            // Log-softmax arguments (logit minus the largest, mostly in −60..0) and the whole range.
            check([-(rnd() * 60.0), (rnd() - 0.5) * 1500.0]);
            check([(rnd() - 0.5) * 2.0, -(rnd() * rnd() * 800.0)]);
        }
        for x in [
            -690.0,
            690.0,
            -690.0000001,
            690.0000001,
            -745.3,
            709.9,
            0.0,
            -0.0,
            f64::NAN,
        ] {
            check([x, -1.5]);
            check([2.25, x]);
        }
    }

    /// The softmax, SiLU and log-softmax as they were written before they took four (two) values at once.
    fn softmax_one_at_a_time(s: &mut [f32]) {
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for x in s.iter_mut() {
            *x = expf(*x - max);
            sum += *x;
        }
        s.iter_mut().for_each(|x| *x /= sum);
    }

    #[test]
    fn activations_quantize_as_one_value_at_a_time() {
        fn one_at_a_time(xs: &[f32]) -> (Vec<f32>, Vec<i16>) {
            let (mut scales, mut qs) = (Vec::new(), Vec::new());
            for block in xs.chunks_exact(QK) {
                let amax = block.iter().fold(0f32, |m, &x| m.max(x.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                scales.push(f16::from_f32(d).to_f32());
                qs.extend(block.iter().map(|&x| (x * id).round() as i8 as i16));
            }
            (scales, qs)
        }
        let mut rnd = stream(31);
        let mut xs: Vec<f32> = (0..64 * QK).map(|_| ((rnd() - 0.5) * 8.0) as f32).collect();
        // Values that land on halves (amax 127 makes id 1), signed zeros, NaN, infinities, a block of
        // zeros and a block whose scale is subnormal.
        xs[..8].copy_from_slice(&[127.0, 0.5, -0.5, 1.5, -2.5, 126.5, -126.5, -0.0]);
        xs[QK..QK + 4].copy_from_slice(&[f32::NAN, 3.0, -1.0, 0.49999997]);
        xs[2 * QK..2 * QK + 3].copy_from_slice(&[f32::INFINITY, -2.0, f32::NEG_INFINITY]);
        xs[3 * QK..4 * QK].iter_mut().for_each(|x| *x = 0.0);
        xs[4 * QK..5 * QK]
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = 1e-40 * i as f32);
        xs[5 * QK..6 * QK]
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = i as f32 - 15.5);
        let acts = Q8Acts::quantize(&xs, 8 * QK);
        let (scales, qs) = one_at_a_time(&xs);
        assert_eq!(acts.qs, qs);
        assert_eq!(
            acts.scales.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            scales.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_maximum_passes_over_nan_as_f32_max_does() {
        let mut rnd = stream(9);
        for len in [0, 1, 3, 4, 5, 8, 9, 63, 541] {
            let mut xs: Vec<f32> = (0..len).map(|_| ((rnd() - 0.5) * 40.0) as f32).collect();
            let fold = |xs: &[f32]| xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max_of(&xs).to_bits(), fold(&xs).to_bits(), "{len}");
            for x in xs.iter_mut().step_by(2) {
                *x = f32::NAN;
            }
            assert_eq!(max_of(&xs).to_bits(), fold(&xs).to_bits(), "{len} with NaN");
            xs.iter_mut().for_each(|x| *x = f32::NAN);
            assert_eq!(max_of(&xs), f32::NEG_INFINITY);
        }
        assert_eq!(
            max_of(&[f32::NEG_INFINITY, 1.0, f32::INFINITY, 2.0, 3.0]),
            f32::INFINITY
        );
        assert_eq!(max_of(&[-3.0, -1.0, -2.0, -5.0, -4.0, -0.5, -7.0]), -0.5);
    }

    #[test]
    fn softmax_silu_and_log_softmax_keep_their_one_at_a_time_bits() {
        let mut rnd = stream(5);
        for len in [1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 541, 1536] {
            let xs: Vec<f32> = (0..len).map(|_| ((rnd() - 0.5) * 40.0) as f32).collect();
            let mut masked = xs.clone();
            for x in masked.iter_mut().skip(1).step_by(3) {
                *x = f32::NEG_INFINITY;
            }
            for v in [&xs, &masked] {
                let (mut a, mut b) = (v.clone(), v.clone());
                softmax_in_place(&mut a);
                softmax_one_at_a_time(&mut b);
                assert_eq!(
                    a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                );
            }
            let wide: Vec<f32> = (0..len).map(|_| ((rnd() - 0.5) * 250.0) as f32).collect();
            let mut a = wide.clone();
            silu_in_place(&mut a);
            let b: Vec<f32> = wide.iter().map(|&x| x / (1.0 + expf(-x))).collect();
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
            let logits: Vec<f32> = (0..len).map(|_| ((rnd() - 0.5) * 90.0) as f32).collect();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max + ln(logits.iter().map(|&l| exp(l as f64 - max)).sum::<f64>());
            let want: Vec<u64> = logits.iter().map(|&l| (l as f64 - lse).to_bits()).collect();
            assert_eq!(
                log_softmax(&logits)
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>(),
                want
            );
        }
    }

    #[test]
    fn attention_scores_and_sums_have_the_bits_of_one_position_at_a_time() {
        let mut rnd = stream(17);
        // Head sizes: SmolLM2's and Qwen2.5's 64, a multiple of 8 but not of 32, one of 4 only, odd.
        for d in [64, 40, 12, 7] {
            for positions in [0, 1, 3, 4, 5, 8, 63, 64, 65, 130] {
                let kvh = 3;
                let width = kvh * d;
                let keys: Vec<f32> = (0..positions * width)
                    .map(|_| ((rnd() - 0.5) * 8.0) as f32)
                    .collect();
                let q: Vec<f32> = (0..d).map(|_| ((rnd() - 0.5) * 8.0) as f32).collect();
                let scale = (1.0 / (d as f64).sqrt()) as f32;
                for g in 0..kvh {
                    let mut got = vec![0f32; positions];
                    scaled_dots(&q, &keys, width, g * d, scale, &mut got);
                    let want: Vec<f32> = (0..positions)
                        .map(|j| dot(&q, &keys[j * width + g * d..][..d]) * scale)
                        .collect();
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "scores, d {d}, {positions} positions"
                    );
                    // Weights as a softmax gives them, over a running sum that is not zero.
                    let mut p = want.clone();
                    softmax_in_place(&mut p);
                    let start: Vec<f32> = (0..d).map(|_| (rnd() - 0.5) as f32).collect();
                    let mut got = start.clone();
                    weighted_sum(&p, &keys, width, g * d, &mut got);
                    let mut want = start;
                    for (j, &pj) in p.iter().enumerate() {
                        axpy(pj, &keys[j * width + g * d..][..d], &mut want);
                    }
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "sums, d {d}, {positions} positions"
                    );
                }
            }
        }
        // Zeros of either sign come out as one position at a time gives them.
        let q = [0f32, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let keys = [-0.0f32; 32];
        let mut got = [1f32; 4];
        scaled_dots(&q, &keys, 8, 0, 0.125, &mut got);
        assert_eq!(
            got.map(f32::to_bits),
            [dot(&q, &keys[..8]) * 0.125; 4].map(f32::to_bits)
        );
    }

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> (QTensor, Vec<f32>) {
        let mut rnd = stream(seed);
        let w: Vec<f32> = (0..rows * cols).map(|_| (rnd() - 0.5) as f32).collect();
        let t = Tensor::from_vec(w.clone(), (rows, cols), &Device::Cpu).unwrap();
        (QTensor::quantize(&t, GgmlDType::Q8_0).unwrap(), w)
    }

    /// [`dot_scalar_f32`] of a row as [`Q8Matrix::row`] gives it (scales as stored).
    fn dot_scalar((w, wd): (&[i8], impl Iterator<Item = u16>), a: ARow) -> f32 {
        let wd: Vec<f32> = wd.map(|h| f16::from_bits(h).to_f32()).collect();
        dot_scalar_f32((w, &wd), a)
    }

    #[test]
    fn the_simd_kernel_is_bit_identical_to_the_scalar_reference() {
        let (q, _) = random_matrix(37, 96, 11);
        let m = Q8Matrix::from_qtensor(&q).unwrap().unwrap();
        let mut rnd = stream(5);
        for rows in 1..=9 {
            let xs: Vec<f32> = (0..rows * 96).map(|_| (rnd() * 8.0 - 4.0) as f32).collect();
            let acts = Q8Acts::quantize(&xs, 96);
            let got = m.matmul(&xs);
            for n in 0..m.rows {
                for r in 0..rows {
                    let want = dot_scalar(m.row(n), acts.row(r));
                    assert_eq!(got[r * m.rows + n].to_bits(), want.to_bits(), "({r}, {n})");
                }
            }
        }
    }

    #[test]
    fn the_product_without_simd_has_the_bits_of_the_simd_one() {
        // 37 rows: an odd last row, whose pair's second row is padding.
        let (q, _) = random_matrix(37, 96, 31);
        let m = Q8Matrix::from_qtensor(&q).unwrap().unwrap();
        let mut rnd = stream(37);
        let xs: Vec<f32> = (0..6 * 96).map(|_| (rnd() * 8.0 - 4.0) as f32).collect();
        let acts = Q8Acts::quantize(&xs, 96);
        let mut dws = vec![0f32; 38 * 3];
        scales_to_f32(&m.scales, &mut dws);
        let w = Pairs {
            qs: &m.qs,
            dws: &dws,
            b: 3,
            rows: 37,
        };
        let mut out = vec![f32::NAN; 37 * 6];
        pairs_scalar(
            w,
            Acts {
                acts: &acts,
                first: 0,
                m: 6,
            },
            6,
            &mut out,
        );
        let simd = m.matmul(&xs);
        for n in 0..37 {
            for r in 0..6 {
                assert_eq!(
                    out[n * 6 + r].to_bits(),
                    simd[r * 37 + n].to_bits(),
                    "({r}, {n})"
                );
            }
        }
    }

    #[test]
    fn a_product_split_over_threads_is_the_same_as_one_thread() {
        // 300 × 512 against 7 rows crosses the size at which the native build uses threads.
        let (q, _) = random_matrix(300, 512, 19);
        let m = Q8Matrix::from_qtensor(&q).unwrap().unwrap();
        let mut rnd = stream(23);
        let xs: Vec<f32> = (0..7 * 512).map(|_| (rnd() * 2.0 - 1.0) as f32).collect();
        let acts = Q8Acts::quantize(&xs, 512);
        let got = m.matmul(&xs);
        for n in 0..300 {
            for r in 0..7 {
                let want = dot_scalar(m.row(n), acts.row(r));
                assert_eq!(got[r * 300 + n].to_bits(), want.to_bits(), "({r}, {n})");
            }
        }
    }

    #[test]
    fn the_product_matches_candle_quantized_matmul() {
        let (q, w) = random_matrix(64, 128, 13);
        let m = Q8Matrix::from_qtensor(&q).unwrap().unwrap();
        let mut rnd = stream(17);
        let xs: Vec<f32> = (0..5 * 128).map(|_| (rnd() * 2.0 - 1.0) as f32).collect();
        let ours = m.matmul(&xs);
        let x = Tensor::from_vec(xs.clone(), (5, 128), &Device::Cpu).unwrap();
        let theirs = candle_core::quantized::QMatMul::from_qtensor(q)
            .unwrap()
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Same quantization, same integer sums: only the order of the float additions differs from
        // candle's optimized kernel on this target.
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{i}: {a} vs {b}");
        }
        // Candle's generic kernel, the arithmetic every target shares, gives the very bits.
        use candle_core::quantized::k_quants::BlockQ8_0;
        use candle_core::quantized::GgmlType;
        let blocks = |v: &[f32]| {
            let mut b = vec![BlockQ8_0::zeros(); v.len() / QK];
            BlockQ8_0::from_float(v, &mut b);
            b
        };
        for r in 0..5 {
            let a = blocks(&xs[r * 128..(r + 1) * 128]);
            for n in 0..64 {
                let want = BlockQ8_0::vec_dot_unopt(128, &blocks(&w[n * 128..(n + 1) * 128]), &a);
                assert_eq!(ours[r * 64 + n].to_bits(), want.to_bits(), "({r}, {n})");
            }
        }
        // And against the float product, within what Q8 quantization of both sides allows.
        for r in 0..5 {
            for n in 0..64 {
                let exact: f32 = (0..128).map(|k| xs[r * 128 + k] * w[n * 128 + k]).sum();
                assert!((ours[r * 64 + n] - exact).abs() < 0.05, "({r}, {n})");
            }
        }
    }

    #[test]
    fn requantizing_slice_by_slice_gives_the_bits_of_the_whole_matrix_and_candles_rows() {
        // 150 rows: two whole slices of 64 and a short one.
        let (rows, cols) = (150, 96);
        let mut rnd = stream(29);
        let w: Vec<f32> = (0..rows * cols).map(|_| (rnd() - 0.5) as f32).collect();
        let t = Tensor::from_vec(w, (rows, cols), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::F32] {
            let stored = QTensor::quantize(&t, dtype).unwrap();
            let ours = Q8Matrix::requantize(&stored).unwrap().unwrap();
            let dense = stored.dequantize(&Device::Cpu).unwrap();
            let whole = QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap();
            let theirs = Q8Matrix::from_qtensor(&whole).unwrap().unwrap();
            assert_eq!(ours.qs, theirs.qs, "{dtype:?}");
            assert_eq!(ours.scales, theirs.scales, "{dtype:?}");
            // A row looked up as an embedding is the row of candle's dequantized table.
            let table = whole
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (r, want) in table.iter().enumerate() {
                let mut got = Vec::new();
                ours.dequantize_row(r, &mut got);
                let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                let want: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{dtype:?} row {r}");
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_kernels_scale_conversion_is_the_exact_one_for_every_f16() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let mut converted = vec![0f32; all.len()];
        // An odd length, so the last values take the scalar path.
        simd::scales(&all[..all.len() - 1], &mut converted[..all.len() - 1]);
        simd::scales(&all[all.len() - 1..], &mut converted[all.len() - 1..]);
        for (&bits, &ours) in all.iter().zip(&converted) {
            let theirs = f16::from_bits(bits).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn a_matrix_that_is_not_q8_0_is_left_to_candle() {
        let t = Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q4_0).unwrap();
        assert!(Q8Matrix::from_qtensor(&q).unwrap().is_none());
    }
}
