//! The trainable network on candle: parameters, the forward pass with autograd, safetensors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use tickloop_core::Rng;

use crate::InferenceLstm;
use crate::fused::{self, LstmLayer};

/// The device models run on: CPU, or the first GPU when built with the `cuda` feature.
pub fn device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}

/// tanh through the sigmoid (2·σ(2x) − 1): the same function, differentiable by candle's
/// autograd, and several times cheaper than candle's CPU tanh.
fn tanh(x: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::ops::sigmoid(&x.affine(2.0, 0.0)?)?.affine(2.0, -1.0)
}

/// The network's parameters.
#[derive(Debug, Clone)]
pub struct Lstm {
    pub(crate) w_ih: Var,
    pub(crate) w_hh: Var,
    pub(crate) b_ih: Var,
    pub(crate) b_hh: Var,
    pub(crate) w_out: Var,
    pub(crate) b_out: Var,
    /// (1, inputs): a linear path from the window's last input row straight to the output,
    /// beside the recurrent one (see [`crate::LstmParams::linear_skip`]).
    pub(crate) w_skip: Var,
    pub(crate) hidden: usize,
    pub(crate) inputs: usize,
    /// The fused layer's activation buffers, reused from one training step to the next.
    pub(crate) workspace: fused::Workspace,
}

pub(crate) const NAMES: [&str; 7] =
    ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "linear.weight", "linear.bias", "skip.weight"];

impl Lstm {
    /// PyTorch's initialisation: every parameter uniform in ±1/√hidden, from `seed`.
    pub fn init(inputs: usize, hidden: usize, seed: u64, device: &Device) -> candle_core::Result<Self> {
        let mut rng = Rng::new(seed, 0x157A);
        let k = 1.0 / (hidden as f64).sqrt();
        let mut uniform = |shape: &[usize]| -> candle_core::Result<Var> {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.uniform_in(-k, k) as f32).collect();
            Var::from_tensor(&Tensor::from_vec(v, shape, device)?)
        };
        Ok(Lstm {
            w_ih: uniform(&[4 * hidden, inputs])?,
            w_hh: uniform(&[4 * hidden, hidden])?,
            b_ih: uniform(&[4 * hidden])?,
            b_hh: uniform(&[4 * hidden])?,
            w_out: uniform(&[1, hidden])?,
            b_out: uniform(&[1])?,
            // Zero: the skip starts as no path at all and grows only as far as it helps.
            w_skip: Var::zeros((1, inputs), DType::F32, device)?,
            hidden,
            inputs,
            workspace: fused::Workspace::default(),
        })
    }

    pub(crate) fn vars(&self) -> [&Var; 7] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh, &self.w_out, &self.b_out, &self.w_skip]
    }

    /// The parameters an optimiser updates: all of them, or all but the skip path's (whose
    /// weights then stay zero: the plain LSTM).
    pub fn trainable(&self, linear_skip: bool) -> Vec<Var> {
        self.vars().into_iter().filter(|v| linear_skip || !std::ptr::eq(*v, &self.w_skip)).cloned().collect()
    }

    /// `x`: (batch, window, inputs) → (batch), for training. `dropout_mask`: (batch,
    /// hidden), already scaled by 1/(1 − p). On CPU the recurrence is the fused layer
    /// ([`crate::fused`]) on `threads` threads (0 = every core; the result does not depend
    /// on it); elsewhere (CUDA) it is [`Lstm::forward_reference`].
    pub fn forward(&self, x: &Tensor, dropout_mask: Option<&Tensor>, threads: usize) -> candle_core::Result<Tensor> {
        if !x.device().is_cpu() {
            return self.forward_reference(x, dropout_mask);
        }
        // [W_ih | W_hh] and one bias: the layer's step is one product with [xₜ, hₜ₋₁].
        let w = Tensor::cat(&[self.w_ih.as_tensor(), self.w_hh.as_tensor()], 1)?;
        let bias = self.b_ih.as_tensor().add(self.b_hh.as_tensor())?;
        let h = x.contiguous()?.apply_op3(&w, &bias, LstmLayer::new(fused::threads(threads), &self.workspace))?;
        self.head(&h, x, dropout_mask)
    }

    /// The input projection of every step at once, both biases added: (batch, steps, 4h).
    fn projected(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, steps, inputs) = x.dims3()?;
        let bias = self.b_ih.as_tensor().add(self.b_hh.as_tensor())?;
        x.reshape((batch * steps, inputs))?.matmul(&self.w_ih.as_tensor().t()?)?.broadcast_add(&bias)?.reshape((
            batch,
            steps,
            4 * self.hidden,
        ))
    }

    /// From the last hidden state (batch, hidden) to the output: dropout, the linear layer
    /// and the skip from the window's last row.
    fn head(&self, h: &Tensor, x: &Tensor, dropout_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (_, steps, _) = x.dims3()?;
        let h = match dropout_mask {
            Some(mask) => h.mul(mask)?,
            None => h.clone(),
        };
        let last = x.narrow(1, steps - 1, 1)?.squeeze(1)?;
        h.matmul(&self.w_out.as_tensor().t()?)?
            .add(&last.matmul(&self.w_skip.as_tensor().t()?)?)?
            .broadcast_add(self.b_out.as_tensor())?
            .squeeze(D::Minus1)
    }

    /// The same network with the cell written in Candle's ops, step by step: it runs on any
    /// device, and it is what the fused layer's gradients are tested against.
    pub fn forward_reference(&self, x: &Tensor, dropout_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (_, steps, _) = x.dims3()?;
        let projected = self.projected(x)?;
        let w_hh_t = self.w_hh.as_tensor().t()?;
        let hid = self.hidden;
        let (batch, _, _) = x.dims3()?;
        let mut h = Tensor::zeros((batch, hid), DType::F32, x.device())?;
        let mut c = h.clone();
        for t in 0..steps {
            let gates = projected.narrow(1, t, 1)?.squeeze(1)?.add(&h.matmul(&w_hh_t)?)?;
            let chunk = |k: usize| gates.narrow(1, k * hid, hid);
            let (i, f, o) = (
                candle_nn::ops::sigmoid(&chunk(0)?)?,
                candle_nn::ops::sigmoid(&chunk(1)?)?,
                candle_nn::ops::sigmoid(&chunk(3)?)?,
            );
            let g = tanh(&chunk(2)?)?;
            c = f.mul(&c)?.add(&i.mul(&g)?)?;
            h = o.mul(&tanh(&c)?)?;
        }
        self.head(&h, x, dropout_mask)
    }

    /// The parameters by their PyTorch names.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        NAMES.iter().zip(self.vars()).map(|(n, v)| (n.to_string(), v.as_tensor().clone())).collect()
    }

    pub fn save(&self, path: &Path) -> candle_core::Result<()> {
        candle_core::safetensors::save(&self.tensors(), path)
    }

    pub fn load(path: &Path, device: &Device) -> Result<Lstm, String> {
        let mut t = candle_core::safetensors::load(path, device).map_err(|e| e.to_string())?;
        let has_skip = t.contains_key(NAMES[6]);
        let mut take = |name: &str| -> Result<Var, String> {
            let tensor = t.remove(name).ok_or_else(|| format!("no tensor {name}"))?;
            Var::from_tensor(&tensor.to_dtype(DType::F32).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        };
        let (w_ih, w_hh, b_ih, b_hh, w_out, b_out) =
            (take(NAMES[0])?, take(NAMES[1])?, take(NAMES[2])?, take(NAMES[3])?, take(NAMES[4])?, take(NAMES[5])?);
        let (h4, inputs) = w_ih.as_tensor().dims2().map_err(|e| e.to_string())?;
        // Weights saved before the skip path existed have none: a zero skip is that model.
        let w_skip = match has_skip {
            true => take(NAMES[6])?,
            false => Var::zeros((1, inputs), DType::F32, device).map_err(|e| e.to_string())?,
        };
        if !h4.is_multiple_of(4)
            || w_hh.as_tensor().dims() != [h4, h4 / 4]
            || w_out.as_tensor().dims() != [1, h4 / 4]
            || w_skip.as_tensor().dims() != [1, inputs]
        {
            return Err(format!(
                "inconsistent shapes: weight_ih {:?}, weight_hh {:?}, linear.weight {:?}, skip.weight {:?}",
                w_ih.shape(),
                w_hh.shape(),
                w_out.shape(),
                w_skip.shape()
            ));
        }
        Ok(Lstm {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w_out,
            b_out,
            w_skip,
            hidden: h4 / 4,
            inputs,
            workspace: fused::Workspace::default(),
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Predictions (in target units) for windows of `inputs` features. On CPU, the inference
    /// path ([`InferenceLstm`]: the fused layer's forward on every core); on a GPU, Candle's
    /// ops in chunks.
    pub fn predict(&self, x: &[f32], window: usize, device: &Device) -> candle_core::Result<Vec<f32>> {
        if device.is_cpu() {
            return Ok(InferenceLstm::from_lstm(self)?.forward(x, window));
        }
        let per = window * self.inputs;
        let mut out = Vec::with_capacity(x.len() / per.max(1));
        for chunk in x.chunks(4096 * per) {
            let n = chunk.len() / per;
            let t = Tensor::from_slice(chunk, (n, window, self.inputs), device)?;
            out.extend(self.forward_reference(&t, None)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}
