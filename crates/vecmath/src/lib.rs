//! The natural logarithm of a whole slice, several values at a time, each result
//! bit-identical to [`f64::ln`].
//!
//! Why: `ln` is the single largest cost of the feature set in a replay (a log return per
//! tick that moved, ~15 ns a call through the C library), and the indicators promise
//! outputs bit-identical to the streaming path, which calls [`f64::ln`] one value at a
//! time. A faster logarithm that is only *close* would break that promise; so this is the
//! C library's own algorithm — glibc's `log` since 2.28, from Arm's optimized-routines,
//! as glibc builds it for CPUs with FMA — with its tables and its exact sequence of fused
//! and unfused operations, run on 4 (AVX2) or 8 (AVX-512) values at once.
//!
//! It is used only where it is *shown* to agree: the first call checks the vector kernel
//! against [`f64::ln`] on a few thousand values that cover both of the algorithm's paths
//! and every table entry, and falls back to calling [`f64::ln`] value by value on a CPU
//! without AVX2 and FMA, or a C library that computes `log` differently (musl, an old
//! glibc, glibc's non-FMA build). Either way the results are `f64::ln`'s.

mod table;

use std::sync::LazyLock;

use pulp::{Simd, WithSimd};

/// `ln` of each of `xs` into `out`, exactly as [`f64::ln`] would give them.
///
/// # Panics
/// If `out` is not as long as `xs`.
pub fn ln_into(xs: &[f64], out: &mut [f64]) {
    assert_eq!(xs.len(), out.len(), "ln_into writes one logarithm per input");
    KERNEL.run(xs, out);
}

/// Which kernel [`ln_into`] runs on this machine: `"avx512"`, `"avx2"`, or `"libm"` (one
/// call of [`f64::ln`] per value). For benchmark notes.
pub fn kernel_name() -> &'static str {
    KERNEL.name()
}

static KERNEL: LazyLock<Kernel> = LazyLock::new(Kernel::select);

#[derive(Debug, Clone, Copy)]
enum Kernel {
    Libm,
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
    #[cfg(target_arch = "x86_64")]
    Avx512(pulp::x86::V4),
}

impl Kernel {
    /// The widest vector kernel this CPU runs that agrees with [`f64::ln`] on the probes.
    fn select() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            let candidates = [pulp::x86::V4::try_new().map(Kernel::Avx512), pulp::x86::V3::try_new().map(Kernel::Avx2)];
            let probes = probes();
            let mut got = vec![0.0; probes.len()];
            for kernel in candidates.into_iter().flatten() {
                kernel.run(&probes, &mut got);
                if probes.iter().zip(&got).all(|(x, y)| x.ln().to_bits() == y.to_bits()) {
                    return kernel;
                }
            }
        }
        Kernel::Libm
    }

    fn name(self) -> &'static str {
        match self {
            Kernel::Libm => "libm",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => "avx512",
        }
    }

    fn run(self, xs: &[f64], out: &mut [f64]) {
        match self {
            Kernel::Libm => xs.iter().zip(out).for_each(|(x, y)| *y = x.ln()),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(simd) => Simd::vectorize(simd, Ln { xs, out }),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(simd) => Simd::vectorize(simd, Ln { xs, out }),
        }
    }
}

/// Values that exercise every path of the algorithm: ratios near 1 (log returns), prices
/// over a wide range (every table entry, many exponents), and the specials.
fn probes() -> Vec<f64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut probes = Vec::with_capacity(8712);
    for _ in 0..2048 {
        probes.push(1.0 + (uniform() - 0.5) * 2e-3);
    }
    for _ in 0..2048 {
        probes.push(1.0 + (uniform() - 0.5) * 0.13);
    }
    for _ in 0..4096 {
        probes.push((uniform() * 40.0 - 20.0).exp2());
    }
    // Each table entry for certain: the start and the middle of its subinterval, as they
    // are and doubled (the same entry with k = 1, never near 1).
    for i in 0..128u64 {
        let (start, middle) = (OFF + (i << 45), OFF + (i << 45) + (1 << 44));
        probes.extend([start, middle, start + (1 << 52), middle + (1 << 52)].map(f64::from_bits));
    }
    probes.extend([1.0, 0.5, 2.0, 0.0, f64::MIN_POSITIVE / 3.0, f64::INFINITY, f64::NAN, -1.0]);
    probes
}

/// `glibc`'s `__log_data` besides the table (`ln2hi`, `ln2lo`, `poly`, `poly1`), as bits.
const LN2_HI: u64 = 0x3fe6_2e42_fefa_3800;
const LN2_LO: u64 = 0x3d2e_f357_93c7_6730;
/// `log1p(r) − r` near 0, for the table path.
const A: [u64; 5] =
    [0xbfe0000000000001, 0x3fd555555551305b, 0xbfcfffffffeb4590, 0x3fc999b324f10111, 0xbfc55575e506c89f];
/// `log1p(r)` for `1 + r` close to 1.
const B: [u64; 11] = [
    0xbfe0000000000000,
    0x3fd5555555555577,
    0xbfcffffffffffdcb,
    0x3fc999999995dd0c,
    0xbfc55555556745a7,
    0x3fc24924a344de30,
    0xbfbfffffa4423d65,
    0x3fbc7184282ad6ca,
    0xbfb999eb43b068ff,
    0x3fb78182f7afd085,
    0xbfb5521375d145cd,
];
/// Inputs with bits in `NEAR_LO .. NEAR_LO + NEAR_SPAN` (1 − 2⁻⁴ up to 1 + 0x1.09p-4) take
/// the polynomial without the table.
const NEAR_LO: u64 = 0x3fee_0000_0000_0000;
const NEAR_SPAN: u64 = 0x3ff1_0900_0000_0000 - NEAR_LO;
/// Where the table's subintervals start (0x1.6p-1).
const OFF: u64 = 0x3fe6_0000_0000_0000;

fn near_one(x: f64) -> bool {
    x.to_bits().wrapping_sub(NEAR_LO) < NEAR_SPAN
}

/// Positive, normal and finite: the inputs the table path takes as they are.
fn normal_positive(x: f64) -> bool {
    ((x.to_bits() >> 48) as u32).wrapping_sub(0x0010) < 0x7ff0 - 0x0010
}

struct Ln<'a> {
    xs: &'a [f64],
    out: &'a mut [f64],
}

impl WithSimd for Ln<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let lanes = S::F64_LANES;
        let mut xs = self.xs.chunks_exact(lanes);
        let mut out = self.out.chunks_exact_mut(lanes);
        for (x, y) in (&mut xs).zip(&mut out) {
            let v = S::as_simd_f64s(x).0[0];
            let result = if x.iter().all(|&x| near_one(x)) {
                near_one_kernel(simd, v)
            } else if x.iter().all(|&x| normal_positive(x) && !near_one(x)) {
                table_kernel(simd, x)
            } else {
                x.iter().zip(y.iter_mut()).for_each(|(x, y)| *y = x.ln());
                continue;
            };
            S::as_mut_simd_f64s(y).0[0] = result;
        }
        xs.remainder().iter().zip(out.into_remainder()).for_each(|(x, y)| *y = x.ln());
    }
}

#[inline(always)]
fn splat<S: Simd>(simd: S, bits: u64) -> S::f64s {
    simd.splat_f64s(f64::from_bits(bits))
}

/// `log1p(x − 1)` for `x` close to 1: glibc's operations in glibc's order, each `fma` one
/// of its fused multiply-adds.
#[inline(always)]
fn near_one_kernel<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    let b = |j: usize| splat(simd, B[j]);
    let fma = |a, b, c| simd.mul_add_f64s(a, b, c);
    let r = simd.sub_f64s(x, simd.splat_f64s(1.0));
    let r2 = simd.mul_f64s(r, r);
    let r3 = simd.mul_f64s(r, r2);
    let low = fma(r2, b(3), fma(r, b(2), b(1)));
    let mid = fma(r2, b(6), fma(r, b(5), b(4)));
    let high = fma(r3, b(10), fma(r2, b(9), fma(r, b(8), b(7))));
    let poly = fma(fma(high, r3, mid), r3, low);
    // r split into a high part with 26 significant bits and the rest, so that r_hi² is exact.
    let scale = simd.splat_f64s(134_217_728.0);
    let r_hi = simd.negate_mul_add_f64s(scale, r, fma(r, scale, r));
    let r_lo = simd.sub_f64s(r, r_hi);
    let r_hi2 = simd.mul_f64s(r_hi, r_hi);
    let hi = fma(r_hi2, b(0), r);
    let lo = fma(r_hi2, b(0), simd.sub_f64s(r, hi));
    let lo = fma(simd.mul_f64s(b(0), r_lo), simd.add_f64s(r, r_hi), lo);
    simd.add_f64s(hi, fma(poly, r3, lo))
}

/// `ln x` for positive normal `x` away from 1: `x = 2^k · z`, `ln x = k·ln 2 + ln c +
/// log1p(z/c − 1)` with `c` from the table, in glibc's order of operations.
#[inline(always)]
fn table_kernel<S: Simd>(simd: S, xs: &[f64]) -> S::f64s {
    let mut lanes = [[0.0; 8]; 4];
    for (l, &x) in xs.iter().enumerate() {
        let ix = x.to_bits();
        let tmp = ix.wrapping_sub(OFF);
        let (inv_c, log_c) = table::TABLE[((tmp >> 45) % 128) as usize];
        let k = (tmp as i64 >> 52) as i32;
        lanes[0][l] = f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52)));
        lanes[1][l] = f64::from_bits(inv_c);
        lanes[2][l] = f64::from_bits(log_c);
        lanes[3][l] = f64::from(k);
    }
    let n = xs.len();
    let [z, inv_c, log_c, k] = lanes.map(|lane| S::as_simd_f64s(&lane[..n]).0[0]);
    let a = |j: usize| splat(simd, A[j]);
    let fma = |a, b, c| simd.mul_add_f64s(a, b, c);
    let w = fma(k, splat(simd, LN2_HI), log_c);
    let r = fma(z, inv_c, simd.splat_f64s(-1.0));
    let hi = simd.add_f64s(r, w);
    let lo = fma(k, splat(simd, LN2_LO), simd.add_f64s(simd.sub_f64s(w, hi), r));
    let r2 = simd.mul_f64s(r, r);
    let r3 = simd.mul_f64s(r, r2);
    let q = fma(fma(r, a(4), a(3)), r2, fma(r, a(2), a(1)));
    let y = fma(r3, q, fma(r2, a(0), lo));
    simd.add_f64s(y, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(xs: &[f64]) {
        let mut got = vec![0.0; xs.len()];
        ln_into(xs, &mut got);
        for (x, y) in xs.iter().zip(&got) {
            assert_eq!(y.to_bits(), x.ln().to_bits(), "ln({x:e}) = {:e}, not {y:e}", x.ln());
        }
    }

    #[test]
    fn every_probe_gives_f64_ln_bits() {
        check(&probes());
    }

    #[test]
    fn slices_of_every_length_and_mixed_chunks() {
        let probes = probes();
        for len in 0..20 {
            check(&probes[..len]);
        }
        // Near 1, away from it and specials side by side in one chunk.
        check(&[1.0001, 123.0, 0.0, -2.0, f64::NAN, 1.0, 0.999, 7e-310, 1e300, 1.06, 0.9375, 1.0646972656249998]);
    }

    #[test]
    fn log_returns_of_a_random_walk() {
        let mut price = 100.0f64;
        let mut state = 7u64;
        let ratios: Vec<f64> = (0..200_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let next =
                    (price * (1.0 + ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-3) * 100.0).round() / 100.0;
                let ratio = next / price;
                price = next;
                ratio
            })
            .collect();
        check(&ratios);
        let prices: Vec<f64> = ratios
            .iter()
            .scan(100.0, |p, r| {
                *p *= r;
                Some(*p)
            })
            .collect();
        check(&prices);
    }

    proptest::proptest! {
        #[test]
        fn any_slice_gives_f64_ln_bits(
            bits in proptest::collection::vec(proptest::num::u64::ANY, 0..64),
            ratios in proptest::collection::vec(0.93f64..1.07, 0..64),
        ) {
            check(&bits.iter().map(|&b| f64::from_bits(b)).collect::<Vec<_>>());
            check(&ratios);
        }
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    fn a_glibc_machine_with_fma_gets_a_vector_kernel() {
        // Where glibc runs its FMA build of `log` (x86-64 with AVX2 and FMA), the port must
        // agree with it; a fallback there would mean the port is wrong, silently slow.
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            assert_ne!(kernel_name(), "libm");
        }
    }
}
