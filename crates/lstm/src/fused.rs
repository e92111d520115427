//! The fused LSTM layer: the recurrence over a whole window, forward and backward through
//! time, as loops over preallocated buffers.
//!
//! Candle's autograd of the cell builds ~20 tensors per time step, each a pass over memory
//! and an allocation; at batch 64 × hidden 128 a step's tensors are a few hundred kilobytes,
//! so the step was dominated by traffic, not arithmetic (0.31–0.37 s against PyTorch's
//! 0.035 s). Here each step is one SGEMM, `[xₜ, hₜ₋₁] · [W_ih | W_hh]ᵀ` onto the biases
//! ([`crate::matmul`]'s kernel, AVX-512 or AVX2 as the CPU has: the input projection rides in
//! the recurrent product, k = inputs + hidden, instead of a (batch, steps, 4·hidden) tensor
//! of its own), and one vectorised pass over the gates that applies the four activations,
//! updates the cell and keeps what backward needs. Backward runs the same way in reverse,
//! one SGEMM per step for the gradient reaching `hₜ₋₁`, and `dW` is one SGEMM over all steps
//! at the end (k = steps × rows rather than a small product per step).
//!
//! [`LstmLayer`] is a [`CustomOp3`] from (x, `[W_ih | W_hh]`, `b_ih + b_hh`) to the last
//! hidden state: Candle's `cat` and `add` route the gradients back to PyTorch's four
//! tensors, so the optimiser, the safetensors weights and the device handling stay Candle's.
//!
//! **Determinism.** A batch is cut into fixed chunks of [`CHUNK`] rows; each chunk's
//! recurrence, backward pass and share of `dW` are computed alone (rows of an LSTM batch
//! never meet), and the shares are summed in chunk order. Which thread runs a chunk changes
//! nothing, so the weights are the same bytes on any number of threads.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use ndarray::{Array2, ArrayView2};

use crate::matmul::{Strided, gemm_add};

/// Rows of a batch whose recurrence runs as one unit: big enough that a step's SGEMM runs
/// near the kernel's peak (m = 32), small enough that a training batch of 64 splits between
/// two cores.
pub(crate) const CHUNK: usize = 32;

/// e^x for f32 in a form the compiler vectorises (no libm call, no `floor`, no float→int
/// cast, whose saturation keeps a loop scalar): a Cephes-style range reduction by ln 2 with
/// round-to-nearest through the 1.5·2²³ trick, a degree-6 polynomial, and 2^k built from the
/// rounded sum's own bits; relative error ~2e-7 over the clamped range.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.0, 88.0);
    // MAGIC + k exactly, k = round(x / ln 2) in [-126, 127]: k sits in the low mantissa bits.
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let k = shifted - MAGIC;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_668 + r * (0.008_333_452 + r * 0.001_388_949_8)))));
    // (k + 127) << 23 is 2^k; the shift drops MAGIC's own bits.
    p * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

/// The CPU's widest vector unit (AVX-512, else AVX2, else plain code), detected once.
/// Loops run through its `dispatch` are compiled for it and do the same IEEE operations in
/// the same order on every unit — the cell passes no fused multiply-adds (Rust never
/// contracts `a * b + c`), the SGEMM ([`crate::matmul`]) always fused ones — so every
/// machine computes the same bits, only in wider registers.
pub(crate) fn simd() -> pulp::Arch {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}

#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// tanh through the sigmoid, 2·σ(2x) − 1: the same function, on the vectorised exponential.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

/// What backward needs from forward, for one chunk of `rows` rows, time-major (step `t`'s
/// rows are one contiguous block, so a step's slices are plain matrices).
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// (steps, rows, 4·hidden): the gates after activation, i, f, g (tanh), o.
    gates: Vec<f32>,
    /// (steps, rows, hidden): the cell state after each step.
    cell: Vec<f32>,
    /// (steps, rows, hidden): tanh of it.
    cell_tanh: Vec<f32>,
    /// (steps, rows, inputs + hidden): each step's input row beside the hidden state
    /// entering the step (zeros at step 0): what `W = [W_ih | W_hh]` multiplied.
    xh: Vec<f32>,
}

/// The layer for `x.len() / (steps · inputs)` rows, each independent.
///
/// `x`: (rows, steps, inputs), batch-major. `w_t`: (inputs + hidden, 4·hidden), the
/// transpose of `[W_ih | W_hh]`, so that each step is one product `[xₜ, hₜ₋₁] · w_t` —
/// the input projection rides in the recurrent SGEMM (k = inputs + hidden) instead of a
/// pass of its own over a (rows, steps, 4·hidden) buffer. `bias`: `b_ih + b_hh`. Writes
/// the last step's hidden state to `h_last` (rows, hidden) and, when `saved` is given, the
/// activations backward needs.
pub(crate) fn forward_rows(
    x: &[f32],
    w_t: ArrayView2<'_, f32>,
    bias: &[f32],
    steps: usize,
    h_last: &mut [f32],
    mut saved: Option<&mut Saved>,
) {
    let (width, h4) = w_t.dim();
    let hidden = h4 / 4;
    let inputs = width - hidden;
    let rows = x.len() / (steps * inputs);
    let w_t_flat = w_t.as_slice().expect("w_t is row-major");
    let mut xh = Array2::<f32>::zeros((rows, width));
    let mut gates = Array2::<f32>::zeros((rows, h4));
    let mut cell = vec![0f32; rows * hidden];
    let mut cell_tanh = vec![0f32; rows * hidden];
    if let Some(s) = saved.as_deref_mut() {
        // Every element is written below: buffers kept from the last batch are reused as
        // they are (no zeroing, no fresh pages to fault in).
        s.gates.resize(steps * rows * h4, 0.0);
        s.cell.resize(steps * rows * hidden, 0.0);
        s.cell_tanh.resize(steps * rows * hidden, 0.0);
        s.xh.resize(steps * rows * width, 0.0);
    }
    for t in 0..steps {
        let xh_flat = xh.as_slice_mut().expect("row-major");
        for (b, row) in xh_flat.chunks_exact_mut(width).enumerate() {
            let at = (b * steps + t) * inputs;
            row[..inputs].copy_from_slice(&x[at..at + inputs]);
        }
        for row in gates.as_slice_mut().expect("row-major").chunks_exact_mut(h4) {
            row.copy_from_slice(bias);
        }
        if let Some(s) = saved.as_deref_mut() {
            s.xh[t * rows * width..(t + 1) * rows * width].copy_from_slice(xh_flat);
        }
        let g_flat = gates.as_slice_mut().expect("row-major");
        let xh_flat = xh.as_slice_mut().expect("row-major");
        gemm_add(Strided::rows(xh_flat, width), (rows, width), w_t_flat, h4, g_flat, (h4, h4));
        simd().dispatch(ForwardStep {
            gates: g_flat,
            cell: &mut cell,
            cell_tanh: &mut cell_tanh,
            xh: xh_flat,
            hidden,
            inputs,
        });
        if let Some(s) = saved.as_deref_mut() {
            let (n, n4) = (rows * hidden, rows * h4);
            s.gates[t * n4..(t + 1) * n4].copy_from_slice(g_flat);
            s.cell[t * n..(t + 1) * n].copy_from_slice(&cell);
            s.cell_tanh[t * n..(t + 1) * n].copy_from_slice(&cell_tanh);
        }
    }
    for (out, row) in h_last.chunks_exact_mut(hidden).zip(xh.as_slice().expect("row-major").chunks_exact(width)) {
        out.copy_from_slice(&row[inputs..]);
    }
}

/// A step's cell updates for all the rows of a chunk, `xh`'s hidden part written (the
/// next step's `h_{t-1}`). A `WithSimd` of its own rather than a closure: pulp inlines
/// `with_simd` into the function compiled for the CPU's features, while a closure's body
/// stays out of line, compiled without them (2× slower than that, measured).
struct ForwardStep<'a> {
    gates: &'a mut [f32],
    cell: &'a mut [f32],
    cell_tanh: &'a mut [f32],
    xh: &'a mut [f32],
    hidden: usize,
    inputs: usize,
}

impl pulp::WithSimd for ForwardStep<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self { gates, cell, cell_tanh, xh, hidden, inputs } = self;
        for (((g, c), tc), xh_row) in gates
            .chunks_exact_mut(4 * hidden)
            .zip(cell.chunks_exact_mut(hidden))
            .zip(cell_tanh.chunks_exact_mut(hidden))
            .zip(xh.chunks_exact_mut(inputs + hidden))
        {
            cell_forward(g, c, tc, &mut xh_row[inputs..]);
        }
    }
}

/// A step backward for all the rows of a chunk (see `ForwardStep`).
struct BackwardStep<'a> {
    gates: &'a [f32],
    cell_prev: &'a [f32],
    cell_tanh: &'a [f32],
    dh: &'a [f32],
    dc: &'a mut [f32],
    d_gates: &'a mut [f32],
    hidden: usize,
}

impl pulp::WithSimd for BackwardStep<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self { gates, cell_prev, cell_tanh, dh, dc, d_gates, hidden } = self;
        for (((((g, cp), tc), dh), dc), d) in gates
            .chunks_exact(4 * hidden)
            .zip(cell_prev.chunks_exact(hidden))
            .zip(cell_tanh.chunks_exact(hidden))
            .zip(dh.chunks_exact(hidden))
            .zip(dc.chunks_exact_mut(hidden))
            .zip(d_gates.chunks_exact_mut(4 * hidden))
        {
            cell_backward(g, cp, tc, dh, dc, d);
        }
    }
}

/// One row's step: `gates` (pre-activations i, f, g, o) become activations in place; the
/// cell, its tanh and the hidden state are updated.
// Inlined into the dispatched loop over a step's rows, so it is compiled for the widest
// vector unit the CPU has (`simd`); the work runs in blocks of `LANES` copied into local
// arrays, which cannot alias, so the compiler vectorises each block whole.
#[inline(always)]
fn cell_forward(gates: &mut [f32], cell: &mut [f32], cell_tanh: &mut [f32], h: &mut [f32]) {
    let n = cell.len();
    let (i, rest) = gates.split_at_mut(n);
    let (f, rest) = rest.split_at_mut(n);
    let (g, o) = rest.split_at_mut(n);
    let blocks = n - n % LANES;
    for j in (0..blocks).step_by(LANES) {
        let r = j..j + LANES;
        forward_lanes::<LANES>(
            [&mut i[r.clone()], &mut f[r.clone()], &mut g[r.clone()], &mut o[r.clone()]],
            &mut cell[r.clone()],
            &mut cell_tanh[r.clone()],
            &mut h[r],
        );
    }
    for j in blocks..n {
        let r = j..j + 1;
        forward_lanes::<1>(
            [&mut i[r.clone()], &mut f[r.clone()], &mut g[r.clone()], &mut o[r.clone()]],
            &mut cell[r.clone()],
            &mut cell_tanh[r.clone()],
            &mut h[r],
        );
    }
}

/// f32 lanes per block of the cell loops: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

#[inline(always)]
fn lanes<const L: usize>(s: &[f32]) -> [f32; L] {
    s.try_into().expect("a block of L lanes")
}

/// `cell_forward` for `L` units (every slice `L` long).
#[inline(always)]
fn forward_lanes<const L: usize>(
    [i, f, g, o]: [&mut [f32]; 4],
    cell: &mut [f32],
    cell_tanh: &mut [f32],
    h: &mut [f32],
) {
    // Plain loops over local arrays (`array::map` and `from_fn` stay out-of-line calls,
    // compiled without the dispatched features).
    let (mut iv, mut fv, mut gv, mut ov, cv) =
        (lanes::<L>(i), lanes::<L>(f), lanes::<L>(g), lanes::<L>(o), lanes::<L>(cell));
    let (mut c, mut tc, mut hv) = ([0f32; L], [0f32; L], [0f32; L]);
    for k in 0..L {
        (iv[k], fv[k], gv[k], ov[k]) = (sigmoid(iv[k]), sigmoid(fv[k]), tanh(gv[k]), sigmoid(ov[k]));
        c[k] = fv[k] * cv[k] + iv[k] * gv[k];
        tc[k] = tanh(c[k]);
        hv[k] = ov[k] * tc[k];
    }
    i.copy_from_slice(&iv);
    f.copy_from_slice(&fv);
    g.copy_from_slice(&gv);
    o.copy_from_slice(&ov);
    cell.copy_from_slice(&c);
    cell_tanh.copy_from_slice(&tc);
    h.copy_from_slice(&hv);
}

/// Backward through time for one chunk.
///
/// `d_h_last`: (rows, hidden), the loss's gradient with respect to the last hidden state.
/// `w`: `[W_ih | W_hh]`, (4·hidden, inputs + hidden). Returns this chunk's share of `dW`
/// (4·hidden, inputs + hidden) and of the bias's gradient.
pub(crate) fn backward_rows(
    d_h_last: &[f32],
    saved: &Saved,
    w: ArrayView2<'_, f32>,
    steps: usize,
) -> (Array2<f32>, Vec<f32>) {
    let (h4, width) = w.dim();
    let hidden = h4 / 4;
    let inputs = width - hidden;
    let w_flat = w.as_slice().expect("W is row-major");
    let rows = d_h_last.len() / hidden;
    let (n, n4) = (rows * hidden, rows * h4);
    let mut d_gates = vec![0f32; steps * n4];
    let mut dh = Array2::<f32>::zeros((rows, hidden));
    dh.as_slice_mut().expect("row-major").copy_from_slice(d_h_last);
    let mut dc = vec![0f32; n];
    let zeros = vec![0f32; n];
    for t in (0..steps).rev() {
        let gates = &saved.gates[t * n4..(t + 1) * n4];
        let cell_prev = if t > 0 { &saved.cell[(t - 1) * n..t * n] } else { &zeros[..] };
        let cell_tanh = &saved.cell_tanh[t * n..(t + 1) * n];
        let d_step = &mut d_gates[t * n4..(t + 1) * n4];
        let dh_flat = dh.as_slice().expect("row-major");
        simd().dispatch(BackwardStep {
            gates,
            cell_prev,
            cell_tanh,
            dh: dh_flat,
            dc: &mut dc,
            d_gates: d_step,
            hidden,
        });
        if t > 0 {
            // The gradient reaching h_{t-1}: dGₜ · W_hh (W's last `hidden` columns).
            let d_step = Strided::rows(&d_gates[t * n4..(t + 1) * n4], h4);
            let dh_flat = dh.as_slice_mut().expect("row-major");
            dh_flat.fill(0.0);
            gemm_add(d_step, (rows, h4), &w_flat[inputs..], width, dh_flat, (hidden, hidden));
        }
    }
    // dW = Σₜ dGₜᵀ · [xₜ, hₜ₋₁]: one product with k = steps × rows; the bias's gradient is
    // the column sums of the same dG.
    // Computed as dWᵀ = Σₜ [xₜ, hₜ₋₁]ᵀ · dGₜ, whose rows are the 4·hidden wide ones.
    let mut dw_t = vec![0f32; width * h4];
    gemm_add(Strided::transposed(&saved.xh, width), (width, steps * rows), &d_gates, h4, &mut dw_t, (h4, h4));
    let dw =
        Array2::from_shape_vec((width, h4), dw_t).expect("sized").reversed_axes().as_standard_layout().into_owned();
    let mut d_bias = vec![0f32; h4];
    for row in d_gates.chunks_exact(h4) {
        for (acc, v) in d_bias.iter_mut().zip(row) {
            *acc += v;
        }
    }
    (dw, d_bias)
}

/// One row's step backward: from the hidden state's gradient `dh` and the cell's gradient
/// from the step after (`dc`, replaced by the one for the step before), the gradients of
/// the four pre-activations. Blocks of `LANES`, as in `cell_forward`.
#[inline(always)]
fn cell_backward(gates: &[f32], cell_prev: &[f32], cell_tanh: &[f32], dh: &[f32], dc: &mut [f32], d_gates: &mut [f32]) {
    let n = dh.len();
    let (i, rest) = gates.split_at(n);
    let (f, rest) = rest.split_at(n);
    let (g, o) = rest.split_at(n);
    let (di, rest) = d_gates.split_at_mut(n);
    let (df, rest) = rest.split_at_mut(n);
    let (dg, d_o) = rest.split_at_mut(n);
    let blocks = n - n % LANES;
    for j in (0..blocks).step_by(LANES) {
        let r = j..j + LANES;
        backward_lanes::<LANES>(
            [&i[r.clone()], &f[r.clone()], &g[r.clone()], &o[r.clone()]],
            [&cell_prev[r.clone()], &cell_tanh[r.clone()], &dh[r.clone()]],
            &mut dc[r.clone()],
            [&mut di[r.clone()], &mut df[r.clone()], &mut dg[r.clone()], &mut d_o[r]],
        );
    }
    for j in blocks..n {
        let r = j..j + 1;
        backward_lanes::<1>(
            [&i[r.clone()], &f[r.clone()], &g[r.clone()], &o[r.clone()]],
            [&cell_prev[r.clone()], &cell_tanh[r.clone()], &dh[r.clone()]],
            &mut dc[r.clone()],
            [&mut di[r.clone()], &mut df[r.clone()], &mut dg[r.clone()], &mut d_o[r]],
        );
    }
}

/// `cell_backward` for `L` units (every slice `L` long).
#[inline(always)]
fn backward_lanes<const L: usize>(
    [i, f, g, o]: [&[f32]; 4],
    [cell_prev, cell_tanh, dh]: [&[f32]; 3],
    dc: &mut [f32],
    [di, df, dg, d_o]: [&mut [f32]; 4],
) {
    let (i, f, g, o) = (lanes::<L>(i), lanes::<L>(f), lanes::<L>(g), lanes::<L>(o));
    let (cp, tc, dh, dc_next) = (lanes::<L>(cell_prev), lanes::<L>(cell_tanh), lanes::<L>(dh), lanes::<L>(dc));
    let (mut d_ov, mut div, mut dgv, mut dfv, mut dcv) = ([0f32; L], [0f32; L], [0f32; L], [0f32; L], [0f32; L]);
    for k in 0..L {
        let dcell = dc_next[k] + dh[k] * o[k] * (1.0 - tc[k] * tc[k]);
        d_ov[k] = dh[k] * tc[k] * o[k] * (1.0 - o[k]);
        div[k] = dcell * g[k] * i[k] * (1.0 - i[k]);
        dgv[k] = dcell * i[k] * (1.0 - g[k] * g[k]);
        dfv[k] = dcell * cp[k] * f[k] * (1.0 - f[k]);
        dcv[k] = dcell * f[k];
    }
    d_o.copy_from_slice(&d_ov);
    di.copy_from_slice(&div);
    dg.copy_from_slice(&dgv);
    df.copy_from_slice(&dfv);
    dc.copy_from_slice(&dcv);
}

/// Runs `work` on each item, the items split into at most `threads` contiguous groups, in
/// order, so the results come back in item order whatever the thread count.
///
/// The groups run on Candle's own CPU thread pool (the caller's thread takes part): its
/// workers spin for a while after each of Candle's ops, waiting for the next, and threads
/// of our own beside them competed with that spinning for the same cores — a training step
/// on two threads was then no faster than on one. On the pool the spinning worker is the
/// one that picks the work up.
pub(crate) fn in_parallel<I: Send, R: Send>(items: Vec<I>, threads: usize, work: impl Fn(I) -> R + Sync) -> Vec<R> {
    let pool = candle_core::utils::barrier_pool();
    let threads = threads.min(pool.n_workers() + 1).clamp(1, items.len().max(1));
    if threads == 1 {
        return items.into_iter().map(work).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut groups: Vec<Mutex<Vec<I>>> = Vec::with_capacity(threads);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        groups.push(Mutex::new(items.by_ref().take(per).collect()));
    }
    let results: Vec<Mutex<Vec<R>>> = groups.iter().map(|_| Mutex::new(Vec::new())).collect();
    pool.execute(|tid| {
        if let Some(group) = groups.get(tid) {
            let mine: Vec<R> =
                std::mem::take(&mut *group.lock().expect("not poisoned")).into_iter().map(&work).collect();
            *results[tid].lock().expect("not poisoned") = mine;
        }
    });
    results.into_iter().flat_map(|r| r.into_inner().expect("not poisoned")).collect()
}

/// Threads to use: `requested`, or every core when 0.
pub(crate) fn threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The layer for a whole batch: chunks of `chunk` rows on `threads` threads. Returns the
/// last hidden states (batch, hidden); with `saved`, each chunk's activations go there (its
/// buffers reused).
pub(crate) fn forward_batch(
    x: &[f32],
    w_t: ArrayView2<'_, f32>,
    bias: &[f32],
    steps: usize,
    (chunk, threads): (usize, usize),
    saved: Option<&mut Vec<Saved>>,
) -> Vec<f32> {
    let (width, h4) = w_t.dim();
    let (hidden, inputs) = (h4 / 4, width - h4 / 4);
    let rows = x.len() / (steps * inputs).max(1);
    let mut h_last = vec![0f32; rows * hidden];
    let mut none = Vec::new();
    let saved: Vec<Option<&mut Saved>> = match saved {
        Some(saved) => {
            saved.resize_with(rows.div_ceil(chunk), Saved::default);
            saved.iter_mut().map(Some).collect()
        }
        None => {
            none.resize_with(rows.div_ceil(chunk), || None);
            none
        }
    };
    let chunks: Vec<_> = x.chunks(chunk * steps * inputs).zip(h_last.chunks_mut(chunk * hidden)).zip(saved).collect();
    in_parallel(chunks, threads, |((x, h), s)| forward_rows(x, w_t, bias, steps, h, s));
    h_last
}

/// The layer as a Candle op: (x (batch, steps, inputs), `[W_ih | W_hh]` (4·hidden, inputs +
/// hidden), `b_ih + b_hh` (4·hidden)) → the last hidden state (batch, hidden). Forward
/// keeps the activations for the one backward pass of the graph it is part of. `x` is data,
/// not a parameter: backward gives it no gradient.
#[derive(Debug)]
pub(crate) struct LstmLayer {
    threads: usize,
    /// The activations between forward and backward, taken from and given back to the
    /// network's [`Workspace`].
    saved: Mutex<Vec<Saved>>,
    workspace: Workspace,
}

/// Activation buffers kept between training steps: a step needs ~14 MB of them at the
/// design's shapes, and allocating them afresh cost a page fault per 4 KiB every step (and
/// the two threads contended for the kernel's lock on the way).
pub(crate) type Workspace = std::sync::Arc<Mutex<Vec<Saved>>>;

impl LstmLayer {
    pub(crate) fn new(threads: usize, workspace: &Workspace) -> Self {
        let saved = std::mem::take(&mut *workspace.lock().expect("not poisoned"));
        LstmLayer { threads: threads.max(1), saved: Mutex::new(saved), workspace: workspace.clone() }
    }
}

fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("the fused LSTM takes f32, got {:?} for {what}", storage.dtype())
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("the fused LSTM takes a contiguous {what}")
    };
    Ok(&data[start..end])
}

impl CustomOp3 for LstmLayer {
    fn name(&self) -> &'static str {
        "tickloop-lstm-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, steps, inputs) = l1.shape().dims3()?;
        let (h4, width) = l2.shape().dims2()?;
        if h4 % 4 != 0 || width != inputs + h4 / 4 || l3.shape().dims() != [h4] {
            candle_core::bail!("x {:?} does not fit W {:?} and bias {:?}", l1.shape(), l2.shape(), l3.shape())
        }
        let x = f32_slice(s1, l1, "x")?;
        let w = ArrayView2::from_shape((h4, width), f32_slice(s2, l2, "W")?).expect("checked shape");
        let bias = f32_slice(s3, l3, "bias")?;
        let mut saved = self.saved.lock().expect("not poisoned");
        let w_t = w.t().as_standard_layout().into_owned();
        let h_last = forward_batch(x, w_t.view(), bias, steps, (CHUNK, self.threads), Some(&mut saved));
        Ok((CpuStorage::F32(h_last), Shape::from((batch, h4 / 4))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _h_last: &Tensor,
        d_h_last: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = std::mem::take(&mut *self.saved.lock().expect("not poisoned"));
        let (batch, steps, _) = x.dims3()?;
        // The buffers go back to the network for its next step, whatever happens here.
        struct GiveBack<'a>(&'a Workspace, Vec<Saved>);
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                *self.0.lock().expect("not poisoned") = std::mem::take(&mut self.1);
            }
        }
        let saved = GiveBack(&self.workspace, saved);
        let saved = &saved.1;
        let (h4, width) = w.dims2()?;
        if saved.len() != batch.div_ceil(CHUNK) {
            candle_core::bail!("the fused LSTM's backward ran twice, or without its forward")
        }
        let d_h_last = d_h_last.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let w_data = w.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let w_view = ArrayView2::from_shape((h4, width), &w_data[..]).expect("checked in forward");
        let chunks: Vec<_> = d_h_last.chunks(CHUNK * h4 / 4).zip(saved.iter()).collect();
        let shares = in_parallel(chunks, self.threads, |(d, s)| backward_rows(d, s, w_view, steps));
        // Summed in chunk order: the same bits on any number of threads.
        let mut dw = Array2::<f32>::zeros((h4, width));
        let mut d_bias = vec![0f32; h4];
        for (share, share_bias) in &shares {
            dw += share;
            d_bias.iter_mut().zip(share_bias).for_each(|(a, b)| *a += b);
        }
        let device = x.device();
        Ok((
            None,
            Some(Tensor::from_vec(dw.into_raw_vec_and_offset().0, (h4, width), device)?),
            Some(Tensor::from_vec(d_bias, bias.shape(), device)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use proptest::prelude::*;
    use tickloop_core::Rng;

    use crate::Lstm;

    /// A network with every parameter (the skip included) random in ±0.5 and a random input.
    fn case(batch: usize, steps: usize, inputs: usize, hidden: usize, seed: u64) -> (Lstm, Tensor, Tensor) {
        let device = Device::Cpu;
        let model = Lstm::init(inputs, hidden, seed, &device).unwrap();
        let mut rng = Rng::new(seed, 9);
        let mut random = |shape: &[usize], scale: f64| {
            let n = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| (rng.uniform_in(-1.0, 1.0) * scale) as f32).collect();
            Tensor::from_vec(v, shape, &device).unwrap()
        };
        for var in model.vars() {
            var.set(&random(var.dims(), 0.5)).unwrap();
        }
        (model, random(&[batch, steps, inputs], 1.5), random(&[batch], 1.0))
    }

    /// Σ out · r: every output gets its own upstream gradient.
    fn gradients(model: &Lstm, x: &Tensor, r: &Tensor, fused: bool, threads: usize) -> Vec<Vec<f32>> {
        let out = if fused { model.forward(x, None, threads) } else { model.forward_reference(x, None) }.unwrap();
        let grads = out.mul(r).unwrap().sum_all().unwrap().backward().unwrap();
        model
            .vars()
            .iter()
            .map(|v| grads.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    /// The largest difference relative to the largest magnitude of the reference, or to
    /// 1e-2 if that is smaller: a gradient summed from terms of ~0.1 that cancel to 1e-3
    /// carries their f32 rounding (CI once saw 2.7e-7 on a lone weight of 8.7e-4, batch 45),
    /// while a wrong gradient is off by about its own size.
    fn relative_error(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-2);
        got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    }

    /// How far the fused gradients may stray from Candle's, relative to the largest reference
    /// value. Both sides sum batch × steps terms in f32 but in different orders (chunks of
    /// [`super::CHUNK`] rows against Candle's matmul order); where the terms cancel to a result ten
    /// times smaller than themselves, the result carries their rounding. CI once saw 1.02e-5 on a
    /// bias gradient (batch 62); a wrong gradient is off by far more than 1e-4.
    const GRADIENT_TOLERANCE: f32 = 1e-4;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Outputs and the gradients of every parameter equal Candle's autograd of the same
        /// cell, on shapes that cross the chunk boundary.
        #[test]
        fn the_fused_layer_matches_candles_autograd(
            batch in 1usize..70, steps in 1usize..7, inputs in 1usize..5, hidden in 1usize..10, seed in 0u64..1000,
        ) {
            let (model, x, r) = case(batch, steps, inputs, hidden, seed);
            let fused_out = model.forward(&x, None, 2).unwrap().to_vec1::<f32>().unwrap();
            let reference_out = model.forward_reference(&x, None).unwrap().to_vec1::<f32>().unwrap();
            prop_assert!(relative_error(&fused_out, &reference_out) < 1e-5, "{fused_out:?} vs {reference_out:?}");
            let fused = gradients(&model, &x, &r, true, 2);
            let reference = gradients(&model, &x, &r, false, 1);
            for ((name, got), want) in crate::network::NAMES.iter().zip(&fused).zip(&reference) {
                let e = relative_error(got, want);
                prop_assert!(e < GRADIENT_TOLERANCE, "{name}: relative error {e}\n{got:?}\n{want:?}");
            }
        }
    }

    /// Central differences of the loss in f32 agree with the fused layer's gradients.
    #[test]
    fn the_fused_gradients_match_finite_differences() {
        let (model, x, r) = case(3, 4, 2, 3, 11);
        let loss =
            |m: &Lstm| m.forward(&x, None, 1).unwrap().mul(&r).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        let grads = gradients(&model, &x, &r, true, 1);
        let eps = 1e-2f32;
        for (var, grad) in model.vars().iter().zip(&grads) {
            let base: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
            for k in 0..base.len() {
                let at = |delta: f32| {
                    let mut v = base.clone();
                    v[k] += delta;
                    var.set(&Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap()).unwrap();
                    loss(&model)
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
                var.set(&Tensor::from_vec(base.clone(), var.dims(), &Device::Cpu).unwrap()).unwrap();
                assert!(
                    (numeric - grad[k]).abs() <= 2e-3 * (1.0 + grad[k].abs()),
                    "∂/∂{k}: numeric {numeric}, fused {}",
                    grad[k]
                );
            }
        }
    }

    /// The chunks are fixed, so the thread count changes no bit of the gradients.
    #[test]
    fn gradients_are_the_same_bits_on_one_two_and_three_threads() {
        let (model, x, r) = case(100, 5, 3, 8, 4);
        let one = gradients(&model, &x, &r, true, 1);
        assert_eq!(one, gradients(&model, &x, &r, true, 2));
        assert_eq!(one, gradients(&model, &x, &r, true, 3));
    }

    /// A backward pass without its forward is refused, not answered with stale activations.
    #[test]
    fn a_second_backward_through_one_forward_is_an_error() {
        let (model, x, r) = case(4, 3, 2, 3, 1);
        let loss = model.forward(&x, None, 1).unwrap().mul(&r).unwrap().sum_all().unwrap();
        loss.backward().unwrap();
        let again = loss.backward().map(|_| ()).unwrap_err().to_string();
        assert!(again.contains("backward ran twice"), "{again}");
    }
}
