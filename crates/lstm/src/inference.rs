//! The inference path: plain f32 arrays, no autograd.

use candle_core::Var;

use crate::Lstm;

/// The network for inference only: plain f32 arrays, the recurrent matmul on ndarray
/// (matrixmultiply's SGEMM) and one fused pass over the gates per step, with no autograd
/// graph or per-op tensor allocations. This is what the live runner and the model server
/// call; it agrees with [`Lstm::forward`] to float rounding (tested).
#[derive(Debug, Clone)]
pub struct InferenceLstm {
    /// (inputs, 4·hidden) and (hidden, 4·hidden): transposed for row-major matmuls.
    w_ih_t: ndarray::Array2<f32>,
    w_hh_t: ndarray::Array2<f32>,
    bias: ndarray::Array1<f32>,
    w_out: ndarray::Array1<f32>,
    b_out: f32,
    w_skip: ndarray::Array1<f32>,
    hidden: usize,
}

/// e^x for f32 in a form the compiler vectorises (no libm call, no `floor`): a Cephes-style
/// range reduction by ln 2 with round-to-nearest through the 1.5·2²³ trick, and a degree-6
/// polynomial; relative error ~2e-7 over the clamped range.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.0, 88.0);
    let k = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_668 + r * (0.008_333_452 + r * 0.001_388_949_8)))));
    p * f32::from_bits(((k as i32 + 127) << 23) as u32)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

impl InferenceLstm {
    pub fn from_lstm(lstm: &Lstm) -> candle_core::Result<Self> {
        let matrix = |v: &Var| -> candle_core::Result<ndarray::Array2<f32>> {
            let rows = v.as_tensor().to_vec2::<f32>()?;
            let (r, c) = (rows.len(), rows.first().map_or(0, Vec::len));
            Ok(ndarray::Array2::from_shape_vec((r, c), rows.concat()).expect("rectangular").reversed_axes())
        };
        let vector = |v: &Var| v.as_tensor().to_vec1::<f32>();
        let hid = lstm.hidden;
        let mut bias: ndarray::Array1<f32> =
            vector(&lstm.b_ih)?.iter().zip(vector(&lstm.b_hh)?).map(|(a, b)| a + b).collect();
        let mut w_ih_t = matrix(&lstm.w_ih)?.as_standard_layout().into_owned();
        let mut w_hh_t = matrix(&lstm.w_hh)?.as_standard_layout().into_owned();
        // The cell gate's pre-activation doubled: tanh(g) = 2·σ(2g) − 1, so one sigmoid
        // pass covers all four gates.
        for m in [&mut w_ih_t, &mut w_hh_t] {
            m.columns_mut().into_iter().skip(2 * hid).take(hid).for_each(|mut col| col *= 2.0);
        }
        bias.iter_mut().skip(2 * hid).take(hid).for_each(|b| *b *= 2.0);
        Ok(InferenceLstm {
            w_ih_t,
            w_hh_t,
            bias,
            w_out: lstm.w_out.as_tensor().flatten_all()?.to_vec1::<f32>()?.into(),
            b_out: vector(&lstm.b_out)?[0],
            w_skip: lstm.w_skip.as_tensor().flatten_all()?.to_vec1::<f32>()?.into(),
            hidden: lstm.hidden,
        })
    }

    /// Outputs (target units) for `x`: windows of `window` rows × inputs, back to back.
    /// Windows are independent, so the batch is split across cores, each running its own
    /// recurrence (results do not depend on the split).
    pub fn forward(&self, x: &[f32], window: usize) -> Vec<f32> {
        let per = window * self.w_ih_t.nrows();
        let batch = x.len() / per.max(1);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batch.div_ceil(64)).max(1);
        if threads == 1 {
            return self.forward_chunk(x, window);
        }
        let chunk = batch.div_ceil(threads) * per;
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                x.chunks(chunk).map(|part| scope.spawn(move || self.forward_chunk(part, window))).collect();
            handles.into_iter().flat_map(|h| h.join().expect("inference thread")).collect()
        })
    }

    fn forward_chunk(&self, x: &[f32], window: usize) -> Vec<f32> {
        use ndarray::{Array2, ArrayView2, Axis, linalg::general_mat_mul};
        let (inputs, hid) = (self.w_ih_t.nrows(), self.hidden);
        let batch = x.len() / (window * inputs).max(1);
        let xin =
            ArrayView2::from_shape((batch * window, inputs), &x[..batch * window * inputs]).expect("whole windows");
        let mut projected = xin.dot(&self.w_ih_t);
        projected += &self.bias;
        let projected = projected.into_shape_with_order((batch, window, 4 * hid)).expect("same size");
        let mut h = Array2::<f32>::zeros((batch, hid));
        let mut c = Array2::<f32>::zeros((batch, hid));
        let mut gates = Array2::<f32>::zeros((batch, 4 * hid));
        for t in 0..window {
            gates.assign(&projected.index_axis(Axis(1), t));
            general_mat_mul(1.0, &h, &self.w_hh_t, 1.0, &mut gates);
            gates.mapv_inplace(sigmoid);
            for ((g, mut h_row), mut c_row) in gates.rows().into_iter().zip(h.rows_mut()).zip(c.rows_mut()) {
                let g = g.as_slice().expect("standard layout");
                let (i, rest) = g.split_at(hid);
                let (f, rest) = rest.split_at(hid);
                let (cell, o) = rest.split_at(hid);
                let (h_row, c_row) = (h_row.as_slice_mut().expect("row"), c_row.as_slice_mut().expect("row"));
                for j in 0..hid {
                    let c_new = f[j] * c_row[j] + i[j] * (2.0 * cell[j] - 1.0);
                    c_row[j] = c_new;
                    h_row[j] = o[j] * (2.0 * sigmoid(2.0 * c_new) - 1.0);
                }
            }
        }
        let last = xin.slice_axis(Axis(0), ndarray::Slice::new(window as isize - 1, None, window as isize));
        (h.dot(&self.w_out) + last.dot(&self.w_skip) + self.b_out).to_vec()
    }
}
