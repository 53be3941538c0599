//! The inner loops of a matrix product in wasm, at SmolLM2's shapes, to see what one activation row and
//! five cost per block of 32 weights: the loops of `src/kernels.rs` (`pairs_x1`, `pairs_x5`: Q8_0 weights
//! widened to i16, `i32x4.dot_i16x8_s`), and the same products with 4-bit weights through relaxed SIMD's
//! `i16x8.relaxed_dot_i8x16_i7x16_s` (one instruction per 16 products on x86, `pmaddubsw`), which the
//! product does not use. Synthetic data; the figures are times, the sums are not checked.
#![allow(static_mut_refs, clippy::missing_safety_doc)]
use std::arch::wasm32::*;

const QK: usize = 32;

static mut ROWS: usize = 0;
static mut COLS: usize = 0;
/// Q8_0 weights in pairs of rows, block by block (the product's layout).
static mut Q8: Vec<i8> = Vec::new();
/// 4-bit weights (0..=15), two per byte, in pairs of rows: 16 bytes per row and block.
static mut Q4: Vec<u8> = Vec::new();
/// Weight scales in pairs, block by block (the product's layout).
static mut DW: Vec<f32> = Vec::new();
/// Five activation rows, widened to i16 and as i8.
static mut A16: Vec<i16> = Vec::new();
static mut A8: Vec<i8> = Vec::new();
/// Their scales block by block, eight per block (five used).
static mut DA: Vec<f32> = Vec::new();
static mut OUT: Vec<f32> = Vec::new();

fn next(s: &mut u64) -> u32 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*s >> 33) as u32
}

/// A `rows` × `cols` matrix and five activation rows of random values.
#[no_mangle]
pub unsafe extern "C" fn setup(rows: usize, cols: usize) {
    let mut s = 7u64;
    let b = cols / QK;
    ROWS = rows;
    COLS = cols;
    Q8 = (0..rows * cols)
        .map(|_| (next(&mut s) % 255) as i32 as i8 - 127)
        .collect();
    Q4 = (0..rows * cols / 2).map(|_| next(&mut s) as u8).collect();
    DW = (0..rows * b)
        .map(|_| (next(&mut s) % 1000) as f32 * 1e-5)
        .collect();
    A16 = (0..5 * cols)
        .map(|_| ((next(&mut s) % 255) as i32 - 127) as i16)
        .collect();
    A8 = A16.iter().map(|&x| x as i8).collect();
    DA = (0..b * 8)
        .map(|_| (next(&mut s) % 1000) as f32 * 1e-4)
        .collect();
    OUT = vec![0.0; rows * 5];
}

#[inline(always)]
fn sums4(a: v128, b: v128, c: v128, d: v128) -> v128 {
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
fn sums2(a: v128, b: v128) -> v128 {
    let ab = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(a, b),
        i32x4_shuffle::<2, 6, 3, 7>(a, b),
    );
    i32x4_add(ab, i32x4_shuffle::<2, 3, 6, 7>(ab, ab))
}

/// One Q8_0 block of a pair of weight rows (widened) against one activation block: two rows' partial sums.
#[inline(always)]
unsafe fn block8(w: &[[v128; 4]; 2], a: *const i16) -> [v128; 2] {
    let x: [v128; 4] = std::array::from_fn(|k| v128_load(a.add(8 * k) as *const v128));
    w.map(|w| {
        let s = i32x4_add(i32x4_dot_i16x8(w[0], x[0]), i32x4_dot_i16x8(w[1], x[1]));
        i32x4_add(
            s,
            i32x4_add(i32x4_dot_i16x8(w[2], x[2]), i32x4_dot_i16x8(w[3], x[3])),
        )
    })
}

#[inline(always)]
unsafe fn widen(p: *const i8) -> [v128; 4] {
    let (lo, hi) = (
        v128_load(p as *const v128),
        v128_load(p.add(16) as *const v128),
    );
    [
        i16x8_extend_low_i8x16(lo),
        i16x8_extend_high_i8x16(lo),
        i16x8_extend_low_i8x16(hi),
        i16x8_extend_high_i8x16(hi),
    ]
}

/// As `pairs_x1`: one activation row, a pair of weight rows as lanes.
#[inline(never)]
unsafe fn q8_x1() {
    let (b, cols) = (COLS / QK, COLS);
    for p in 0..ROWS / 2 {
        let (qs, dws) = (Q8.as_ptr().add(2 * p * cols), DW.as_ptr().add(2 * p * b));
        let mut acc = f32x4_splat(0.0);
        for blk in 0..b {
            let wp = qs.add(blk * 2 * QK);
            let [s0, s1] = block8(&[widen(wp), widen(wp.add(QK))], A16.as_ptr().add(blk * QK));
            let dw = v128_load64_zero(dws.add(2 * blk) as *const u64);
            let t = f32x4_mul(
                f32x4_mul(f32x4_convert_i32x4(sums2(s0, s1)), dw),
                f32x4_splat(*DA.as_ptr().add(blk * 8)),
            );
            acc = f32x4_add(acc, t);
        }
        v128_store64_lane::<0>(acc, OUT.as_mut_ptr().add(2 * p) as *mut u64);
    }
}

/// As `pairs_x5`: five activation rows, four as lanes and the fifth beside the pair's two rows.
#[inline(never)]
unsafe fn q8_x5() {
    let (b, cols) = (COLS / QK, COLS);
    for p in 0..ROWS / 2 {
        let (qs, dws) = (Q8.as_ptr().add(2 * p * cols), DW.as_ptr().add(2 * p * b));
        let (mut acc, mut fifth) = ([f32x4_splat(0.0); 2], f32x4_splat(0.0));
        for blk in 0..b {
            let wp = qs.add(blk * 2 * QK);
            let w = [widen(wp), widen(wp.add(QK))];
            let s: [[v128; 2]; 5] =
                std::array::from_fn(|j| block8(&w, A16.as_ptr().add(j * cols + blk * QK)));
            let da = v128_load(DA.as_ptr().add(blk * 8) as *const v128);
            for i in 0..2 {
                let t = f32x4_convert_i32x4(sums4(s[0][i], s[1][i], s[2][i], s[3][i]));
                acc[i] = f32x4_add(
                    acc[i],
                    f32x4_mul(f32x4_mul(t, f32x4_splat(*dws.add(2 * blk + i))), da),
                );
            }
            let dw = v128_load64_zero(dws.add(2 * blk) as *const u64);
            let t = f32x4_convert_i32x4(sums2(s[4][0], s[4][1]));
            fifth = f32x4_add(
                fifth,
                f32x4_mul(f32x4_mul(t, dw), f32x4_splat(*DA.as_ptr().add(blk * 8 + 4))),
            );
        }
        v128_store(OUT.as_mut_ptr().add(10 * p) as *mut v128, acc[0]);
        v128_store(OUT.as_mut_ptr().add(10 * p + 4) as *mut v128, acc[1]);
        v128_store64_lane::<0>(fifth, OUT.as_mut_ptr().add(10 * p + 8) as *mut u64);
    }
}

/// One 4-bit block (16 bytes, values 0..=15) against one i8 activation block: `pmaddubsw` twice.
#[inline]
#[target_feature(enable = "relaxed-simd")]
unsafe fn block4(wp: *const u8, a: *const i8) -> v128 {
    let raw = v128_load(wp as *const v128);
    let (lo, hi) = (v128_and(raw, u8x16_splat(15)), u8x16_shr(raw, 4));
    let (x0, x1) = (
        v128_load(a as *const v128),
        v128_load(a.add(16) as *const v128),
    );
    let s = i16x8_add(
        i16x8_relaxed_dot_i8x16_i7x16(x0, lo),
        i16x8_relaxed_dot_i8x16_i7x16(x1, hi),
    );
    i32x4_extadd_pairwise_i16x8(s)
}

/// `q8_x1` with 4-bit weights through relaxed SIMD (without a Q4_1 minimum's term).
#[inline(never)]
#[target_feature(enable = "relaxed-simd")]
unsafe fn q4_x1() {
    let (b, cols) = (COLS / QK, COLS);
    for p in 0..ROWS / 2 {
        let (qs, dws) = (Q4.as_ptr().add(p * cols), DW.as_ptr().add(2 * p * b));
        let mut acc = f32x4_splat(0.0);
        for blk in 0..b {
            let (wp, a) = (qs.add(blk * QK), A8.as_ptr().add(blk * QK));
            let t = sums2(block4(wp, a), block4(wp.add(16), a));
            let dw = v128_load64_zero(dws.add(2 * blk) as *const u64);
            let t = f32x4_mul(
                f32x4_mul(f32x4_convert_i32x4(t), dw),
                f32x4_splat(*DA.as_ptr().add(blk * 8)),
            );
            acc = f32x4_add(acc, t);
        }
        v128_store64_lane::<0>(acc, OUT.as_mut_ptr().add(2 * p) as *mut u64);
    }
}

/// `q8_x5` with 4-bit weights through relaxed SIMD.
#[inline(never)]
#[target_feature(enable = "relaxed-simd")]
unsafe fn q4_x5() {
    let (b, cols) = (COLS / QK, COLS);
    for p in 0..ROWS / 2 {
        let (qs, dws) = (Q4.as_ptr().add(p * cols), DW.as_ptr().add(2 * p * b));
        let (mut acc, mut fifth) = ([f32x4_splat(0.0); 2], f32x4_splat(0.0));
        for blk in 0..b {
            let wp = qs.add(blk * QK);
            let s: [[v128; 2]; 5] = std::array::from_fn(|j| {
                let a = A8.as_ptr().add(j * cols + blk * QK);
                [block4(wp, a), block4(wp.add(16), a)]
            });
            let da = v128_load(DA.as_ptr().add(blk * 8) as *const v128);
            for i in 0..2 {
                let t = f32x4_convert_i32x4(sums4(s[0][i], s[1][i], s[2][i], s[3][i]));
                acc[i] = f32x4_add(
                    acc[i],
                    f32x4_mul(f32x4_mul(t, f32x4_splat(*dws.add(2 * blk + i))), da),
                );
            }
            let dw = v128_load64_zero(dws.add(2 * blk) as *const u64);
            let t = f32x4_convert_i32x4(sums2(s[4][0], s[4][1]));
            fifth = f32x4_add(
                fifth,
                f32x4_mul(f32x4_mul(t, dw), f32x4_splat(*DA.as_ptr().add(blk * 8 + 4))),
            );
        }
        v128_store(OUT.as_mut_ptr().add(10 * p) as *mut v128, acc[0]);
        v128_store(OUT.as_mut_ptr().add(10 * p + 4) as *mut v128, acc[1]);
        v128_store64_lane::<0>(fifth, OUT.as_mut_ptr().add(10 * p + 8) as *mut u64);
    }
}

/// Runs loop `which` (0: q8_x1, 1: q8_x5, 2: q4_x1, 3: q4_x5) `times` times over the matrix.
#[no_mangle]
pub unsafe extern "C" fn run(which: u32, times: u32) -> f32 {
    for _ in 0..times {
        match which {
            0 => q8_x1(),
            1 => q8_x5(),
            2 => q4_x1(),
            _ => q4_x5(),
        }
    }
    OUT.iter().sum()
}
