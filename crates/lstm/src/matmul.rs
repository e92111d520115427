//! `C += A · B` for the fused layer: a register-blocked kernel compiled for the CPU's widest
//! vector unit (AVX-512, AVX2, or plain code), chosen at run time.
//!
//! Why our own and not `matrixmultiply` (ndarray's): its kernels stop at AVX2, and on a CPU
//! with full-width AVX-512 (AMD Zen 5 here) PyTorch's oneDNN does twice the multiply-adds
//! per cycle; and its result depends on the kernel it picks (FMA or not, the blocking), so
//! the same weights trained to different bits on different CPUs. Here every element of `C`
//! is one chain of fused multiply-adds over `p` in order, starting from the value `C` held:
//! the same bits on every CPU, whatever the vector width, the blocking or the thread count.
//! Measured on that CPU (BENCHMARKS.md): a training step 1.9× faster than on matrixmultiply
//! with AVX-512, 1.15× with this kernel's AVX2 path forced.
//!
//! The shapes are the layer's: per step `(rows ≤ 128) × (inputs + hidden) · (inputs +
//! hidden) × 4·hidden`, its backward's `(rows) × 4·hidden · 4·hidden × hidden`, and the
//! weights' gradient with `k = steps × rows`. `A` is read in place when row-major and
//! packed into panels of [`MR`] rows otherwise (the weights' gradient multiplies by a
//! transpose); `B` is read in place, a block of columns at a time that stays in L1 while
//! every panel of `A` passes over it.

use pulp::{Simd, WithSimd};

/// Rows of `C` per tile: each step of `p` broadcasts `MR` values of `A`.
const MR: usize = 4;

/// A matrix read through strides: element `(i, p)` at `data[i * row_stride + p * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with `cols` columns per row.
    pub(crate) fn rows(data: &'a [f32], cols: usize) -> Self {
        Strided { data, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns per row.
    pub(crate) fn transposed(data: &'a [f32], cols: usize) -> Self {
        Strided { data, row_stride: 1, col_stride: cols }
    }
}

/// `C (m × n, row stride ldc) += A (m × k) · B (k × n, row stride ldb)`.
pub(crate) fn gemm_add(
    a: Strided<'_>,
    (m, k): (usize, usize),
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    (n, ldc): (usize, usize),
) {
    gemm_add_on(|op| crate::fused::simd().dispatch(op), a, (m, k), b, ldb, c, (n, ldc));
}

/// `gemm_add` with the vector unit chosen by `dispatch` (the tests run every one there is).
fn gemm_add_on(
    dispatch: impl Fn(Gemm<'_>),
    a: Strided<'_>,
    (m, k): (usize, usize),
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    (n, ldc): (usize, usize),
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "C is {} long, {m} × {n} with stride {ldc} needs more", c.len());
    assert!(b.len() >= (k - 1) * ldb + n, "B is {} long, {k} × {n} with stride {ldb} needs more", b.len());
    assert!(a.data.len() > (m - 1) * a.row_stride + (k - 1) * a.col_stride, "A is too short for {m} × {k}");
    let panels = m.div_ceil(MR);
    let a = if a.col_stride == 1 {
        // Rows read where they are; the last panel's missing rows read zeros (computed, not
        // stored).
        let zeros = if m % MR == 0 { Vec::new() } else { vec![0f32; k] };
        A::Rows { data: a.data, row_stride: a.row_stride, zeros }
    } else {
        // Anything else packed into panels of MR rows, p-major: panel[p·MR + r] = A[i0 + r, p],
        // so that each step of p reads MR adjacent values. Filled a column of A (a step of p)
        // at a time: for a transpose that is a row of the matrix it transposes, read in
        // order.
        let mut packed = vec![0f32; panels * k * MR];
        for p in 0..k {
            for i in 0..m {
                packed[(i / MR) * k * MR + p * MR + i % MR] = a.data[i * a.row_stride + p * a.col_stride];
            }
        }
        A::Packed { values: packed, k }
    };
    // Blocks of KC steps of p: a block of B's columns (KC × 64 values) stays in L1 while
    // every panel of A passes over it. C holds the partial sums between blocks, so each
    // element is still one chain of multiply-adds over p in order.
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        dispatch(Gemm { a: &a, m, p0, kc, b: &b[p0 * ldb..], ldb, c: &mut *c, n, ldc });
    }
}

/// Steps of `p` per block (see `gemm_add`).
const KC: usize = 160;

/// `A` as the kernel reads it.
enum A<'a> {
    /// Row-major with the given row stride.
    Rows { data: &'a [f32], row_stride: usize, zeros: Vec<f32> },
    /// Panels of `MR` rows, p-major, `k · MR` values each.
    Packed { values: Vec<f32>, k: usize },
}

impl A<'_> {
    /// Element `(i, p)`.
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> f32 {
        match self {
            A::Rows { data, row_stride, .. } => data[i * row_stride + p],
            A::Packed { values, k } => values[(i / MR) * k * MR + p * MR + i % MR],
        }
    }
}

/// One panel's `MR` values of `A` for a step of `p`.
trait Panel {
    fn at(&self, p: usize) -> [f32; MR];
}

/// `MR` rows of a row-major `A`, each sliced to the block's `kc` steps.
struct RowPanel<'a>([&'a [f32]; MR]);

impl Panel for RowPanel<'_> {
    #[inline(always)]
    fn at(&self, p: usize) -> [f32; MR] {
        let [r0, r1, r2, r3] = self.0;
        [r0[p], r1[p], r2[p], r3[p]]
    }
}

/// A packed panel, sliced to the block's `kc` steps.
struct PackedPanel<'a>(&'a [f32]);

impl Panel for PackedPanel<'_> {
    #[inline(always)]
    fn at(&self, p: usize) -> [f32; MR] {
        self.0[p * MR..p * MR + MR].try_into().expect("MR values")
    }
}

struct Gemm<'a> {
    a: &'a A<'a>,
    m: usize,
    /// The block's first step of `p`, and its length.
    p0: usize,
    kc: usize,
    /// B from row `p0` on.
    b: &'a [f32],
    ldb: usize,
    c: &'a mut [f32],
    n: usize,
    ldc: usize,
}

impl WithSimd for Gemm<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let mut this = self;
        // 4 × 4 vectors of accumulators where there are 32 registers (AVX-512: the two FMA
        // pipes stay busy, 4 × 6 measured no faster), 4 × 3 where there are 16 (AVX2: 12
        // accumulators, 3 of B and a broadcast; 4 × 2 was 15 % slower, as slow as
        // matrixmultiply); what is left of the columns goes a vector, then a value, at a time.
        let wide = if S::F32_LANES >= 16 { 4 } else { 3 };
        let lanes = S::F32_LANES;
        let mut j = 0;
        while j + wide * lanes <= this.n {
            if wide == 4 {
                this.columns::<S, 4>(simd, j);
            } else {
                this.columns::<S, 3>(simd, j);
            }
            j += wide * lanes;
        }
        while j + lanes <= this.n {
            this.columns::<S, 1>(simd, j);
            j += lanes;
        }
        for j in j..this.n {
            this.column(j);
        }
    }
}

impl Gemm<'_> {
    /// Columns `j0 .. j0 + NR · lanes` of every row, over the block's steps of `p`.
    #[inline(always)]
    fn columns<S: Simd, const NR: usize>(&mut self, simd: S, j0: usize) {
        let Gemm { a, m, p0, kc, .. } = *self;
        for panel in 0..m.div_ceil(MR) {
            let i0 = panel * MR;
            match a {
                A::Rows { data, row_stride, zeros } => {
                    let row = |r: usize| match i0 + r < m {
                        true => &data[(i0 + r) * row_stride + p0..][..kc],
                        false => &zeros[..kc],
                    };
                    self.tile::<S, NR>(simd, RowPanel([row(0), row(1), row(2), row(3)]), i0, j0);
                }
                A::Packed { values, k } => {
                    let at = panel * k * MR + p0 * MR;
                    self.tile::<S, NR>(simd, PackedPanel(&values[at..at + kc * MR]), i0, j0);
                }
            }
        }
    }

    /// Rows `i0 .. i0 + MR` (those below `m`) × columns `j0 .. j0 + NR · lanes`.
    #[inline(always)]
    fn tile<S: Simd, const NR: usize>(&mut self, simd: S, a: impl Panel, i0: usize, j0: usize) {
        let width = NR * S::F32_LANES;
        let Gemm { m, kc, b, ldb, ldc, .. } = *self;
        let c = &mut *self.c;
        let rows = MR.min(m - i0);
        let mut acc = [[simd.splat_f32s(0.0); NR]; MR];
        for (r, acc) in acc.iter_mut().enumerate().take(rows) {
            let (v, _) = S::as_simd_f32s(&c[(i0 + r) * ldc + j0..][..width]);
            acc.copy_from_slice(&v[..NR]);
        }
        for p in 0..kc {
            let (bv, _) = S::as_simd_f32s(&b[p * ldb + j0..][..width]);
            for (acc, a) in acc.iter_mut().zip(a.at(p)) {
                let a = simd.splat_f32s(a);
                for (acc, &b) in acc.iter_mut().zip(bv) {
                    *acc = simd.mul_add_f32s(a, b, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(rows) {
            let (v, _) = S::as_mut_simd_f32s(&mut c[(i0 + r) * ldc + j0..][..width]);
            v[..NR].copy_from_slice(acc);
        }
    }

    /// Column `j` of every row, a value at a time (the same chain of multiply-adds).
    #[inline(always)]
    fn column(&mut self, j: usize) {
        let Gemm { a, m, p0, kc, b, ldb, ldc, .. } = *self;
        let c = &mut *self.c;
        for i in 0..m {
            let mut acc = c[i * ldc + j];
            for p in 0..kc {
                acc = a.at(i, p0 + p).mul_add(b[p * ldb + j], acc);
            }
            c[i * ldc + j] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definition: each element one chain of fused multiply-adds over p in order.
    fn reference(
        a: Strided<'_>,
        (m, k): (usize, usize),
        b: &[f32],
        ldb: usize,
        c: &mut [f32],
        (n, ldc): (usize, usize),
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut acc = c[i * ldc + j];
                for p in 0..k {
                    acc = a.data[i * a.row_stride + p * a.col_stride].mul_add(b[p * ldb + j], acc);
                }
                c[i * ldc + j] = acc;
            }
        }
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Runs a `Gemm` on one vector unit.
    type Unit = Box<dyn Fn(Gemm<'_>)>;

    /// Every vector unit this CPU has, and plain code.
    fn units() -> Vec<(&'static str, Unit)> {
        let mut units: Vec<(&'static str, Unit)> =
            vec![("scalar", Box::new(|op| pulp::Simd::vectorize(pulp::Scalar::new(), op)))];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(v3) = pulp::x86::V3::try_new() {
                units.push(("avx2", Box::new(move |op| pulp::Simd::vectorize(v3, op))));
            }
            if let Some(v4) = pulp::x86::V4::try_new() {
                units.push(("avx512", Box::new(move |op| pulp::Simd::vectorize(v4, op))));
            }
        }
        units
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any shape (tails of rows, of vectors and of values; blocks of p), either layout of
        /// A, padded strides: the same bits as the definition on every vector unit.
        #[test]
        fn every_vector_unit_gives_the_definitions_bits(
            m in 1usize..11,
            k in 1usize..400,
            n in 1usize..150,
            transposed in any::<bool>(),
            pad in 0usize..3,
            seed in any::<u64>(),
        ) {
            let a_data = if transposed { values((m + pad) * k, seed) } else { values(m * (k + pad), seed) };
            let a = if transposed { Strided::transposed(&a_data, m + pad) } else { Strided::rows(&a_data, k + pad) };
            let (ldb, ldc) = (n + pad, n + 2 * pad);
            let b = values(k * ldb, seed ^ 1);
            let c0 = values(m * ldc, seed ^ 2);
            let mut want = c0.clone();
            reference(a, (m, k), &b, ldb, &mut want, (n, ldc));
            for (unit, dispatch) in units() {
                let mut got = c0.clone();
                gemm_add_on(dispatch, a, (m, k), &b, ldb, &mut got, (n, ldc));
                let (got, want): (Vec<u32>, Vec<u32>) =
                    (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
                prop_assert_eq!(got, want, "{} differs", unit);
            }
        }
    }
}
