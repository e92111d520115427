//! The inference path: plain f32 arrays, no autograd.

use candle_core::{Tensor, Var};
use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};

use crate::Lstm;
use crate::fused;

/// Windows per unit of work: larger than training's chunk, since nothing here needs a
/// batch of 64 split in two, and a larger panel of rows passes over each block of `W` while
/// it is in L1.
const INFERENCE_CHUNK: usize = 128;

/// The network for inference only: plain f32 arrays and the fused layer's forward
/// ([`crate::fused`]) with nothing kept for a backward pass, the batch's chunks spread over
/// the cores. This is what the live runner, the model server and validation call; it runs
/// the same recurrence kernel as training's forward and agrees with it to float rounding
/// (the input projection and the head are other matmuls; tested).
#[derive(Debug, Clone)]
pub struct InferenceLstm {
    /// (inputs + hidden, 4·hidden): `[W_ih | W_hh]` transposed, for row-major products.
    w_t: Array2<f32>,
    /// `b_ih + b_hh`.
    bias: Vec<f32>,
    w_out: Array1<f32>,
    b_out: f32,
    w_skip: Array1<f32>,
    threads: usize,
}

impl InferenceLstm {
    pub fn from_lstm(lstm: &Lstm) -> candle_core::Result<Self> {
        let w = Tensor::cat(&[lstm.w_ih.as_tensor(), lstm.w_hh.as_tensor()], 1)?;
        let rows = w.to_vec2::<f32>()?;
        let (r, c) = (rows.len(), rows.first().map_or(0, Vec::len));
        let w_t = Array2::from_shape_vec((r, c), rows.concat()).expect("rectangular").reversed_axes();
        let vector = |v: &Var| v.as_tensor().flatten_all()?.to_vec1::<f32>();
        let bias = vector(&lstm.b_ih)?.iter().zip(vector(&lstm.b_hh)?).map(|(a, b)| a + b).collect();
        Ok(InferenceLstm {
            w_t: w_t.as_standard_layout().into_owned(),
            bias,
            w_out: vector(&lstm.w_out)?.into(),
            b_out: vector(&lstm.b_out)?[0],
            w_skip: vector(&lstm.w_skip)?.into(),
            threads: 0,
        })
    }

    /// The same network on `threads` threads (0, the default, = every core); the outputs do
    /// not depend on it.
    pub fn with_threads(self, threads: usize) -> Self {
        InferenceLstm { threads, ..self }
    }

    /// Outputs (target units) for `x`: windows of `window` rows × inputs, back to back.
    pub fn forward(&self, x: &[f32], window: usize) -> Vec<f32> {
        let hidden = self.w_t.ncols() / 4;
        let inputs = self.w_t.nrows() - hidden;
        let batch = x.len() / (window * inputs).max(1);
        if batch == 0 {
            return Vec::new();
        }
        let x = &x[..batch * window * inputs];
        let h = fused::forward_batch(
            x,
            self.w_t.view(),
            &self.bias,
            window,
            (INFERENCE_CHUNK, fused::threads(self.threads)),
            None,
        );
        let h = ArrayView2::from_shape((batch, hidden), &h[..]).expect("one per window");
        let rows = ArrayView2::from_shape((batch * window, inputs), x).expect("whole windows");
        let last_rows = rows.slice_axis(Axis(0), Slice::new(window as isize - 1, None, window as isize));
        (h.dot(&self.w_out) + last_rows.dot(&self.w_skip) + self.b_out).to_vec()
    }
}
