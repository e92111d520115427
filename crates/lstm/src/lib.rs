//! tickloop-lstm: the Candle LSTM for next-horizon returns.
//!
//! The original design's network by default: one LSTM layer (hidden 128) over a window of
//! 60 rows × 5 features, dropout 0.3 on the last hidden state, a linear layer to one output,
//! MAE loss, AdamW. Sizes are parameters ([`LstmParams`]).
//!
//! Why the cell is written here rather than taken from `candle_nn::rnn::LSTM`: the input
//! projection of all time steps is one matmul before the loop (only the recurrent matmul
//! stays per step), and parameters are initialised from tickloop's own seeded generator —
//! candle's CPU random source cannot be seeded — so the same data and seed give the same
//! weights file, byte for byte, on CPU. Dropout masks come from the same generator.
//! Weight names follow PyTorch (`weight_ih_l0`, …, `linear.weight`) so the safetensors
//! file loads into `torch.nn.LSTM` for comparison.
//!
//! Computation is in f32: returns normalised to unit scale lose nothing that matters at
//! f32's 7 digits, and f32 halves memory traffic. Targets are divided by the training
//! labels' standard deviation (`target_scale`, saved with the model) so the loss is O(1).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use tickloop_core::Rng;
use tickloop_models::{Dataset, ModelCard, ModelError, Normalizer, Predictor, WindowBuffer};

/// The weights file of an LSTM inside its version directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LstmParams {
    pub hidden: usize,
    pub dropout: f64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    /// Maximum passes over the training windows.
    pub epochs: usize,
    /// Epochs without a better validation loss before training stops (best weights kept).
    pub patience: usize,
    /// The last share of the (time-ordered) training windows held out for early stopping.
    pub validation_fraction: f64,
    pub seed: u64,
}

impl Default for LstmParams {
    fn default() -> Self {
        LstmParams {
            hidden: 128,
            dropout: 0.3,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 64,
            epochs: 10,
            patience: 3,
            validation_fraction: 0.15,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LstmError {
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("too few windows to train on: {0}")]
    TooFewWindows(usize),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Windows and targets for training: `x` is `n × window × features`, oldest row first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sequences {
    pub window: usize,
    pub features: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

impl Sequences {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Training windows from a dataset (rows in time order): for each of `rows` with a
    /// finite label, the `window` rows of its symbol up to and including it — built by the
    /// live runner's [`WindowBuffer`], then normalised, targets divided by `target_scale`.
    /// Rows without a full window are skipped; also returns the rows used, in order.
    pub fn from_dataset(
        data: &Dataset,
        rows: &[usize],
        window: usize,
        normalizer: &Normalizer,
        target_scale: f64,
    ) -> (Sequences, Vec<usize>) {
        let width = data.width();
        let mut wanted = vec![false; data.len()];
        for &r in rows {
            wanted[r] = data.labels[r].is_finite();
        }
        let mut buffer = WindowBuffer::new(window, width);
        let mut out = Sequences { window, features: width, ..Sequences::default() };
        let mut used = Vec::new();
        let mut raw = Vec::with_capacity(window * width);
        for (i, &wanted) in wanted.iter().enumerate() {
            let symbol = data.symbols[i].index();
            buffer.push(symbol, data.row(i));
            raw.clear();
            if wanted && buffer.write_window(symbol, &mut raw) {
                for row in raw.chunks_mut(width) {
                    normalizer.apply(row);
                    out.x.extend(row.iter().map(|&v| v as f32));
                }
                out.y.push((data.labels[i] / target_scale) as f32);
                used.push(i);
            }
        }
        (out, used)
    }

    fn per(&self) -> usize {
        self.window * self.features
    }

    fn split_at(&self, at: usize) -> (Sequences, Sequences) {
        let part = |r: std::ops::Range<usize>| Sequences {
            window: self.window,
            features: self.features,
            x: self.x[r.start * self.per()..r.end * self.per()].to_vec(),
            y: self.y[r].to_vec(),
        };
        (part(0..at), part(at..self.len()))
    }

    fn batch(&self, idx: &[usize], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let per = self.per();
        let mut x = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            x.extend_from_slice(&self.x[i * per..(i + 1) * per]);
        }
        let y: Vec<f32> = idx.iter().map(|&i| self.y[i]).collect();
        Ok((
            Tensor::from_vec(x, (idx.len(), self.window, self.features), device)?,
            Tensor::from_vec(y, idx.len(), device)?,
        ))
    }
}

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
    w_ih: Var,
    w_hh: Var,
    b_ih: Var,
    b_hh: Var,
    w_out: Var,
    b_out: Var,
    hidden: usize,
    inputs: usize,
}

const NAMES: [&str; 6] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "linear.weight", "linear.bias"];

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
            hidden,
            inputs,
        })
    }

    fn vars(&self) -> [&Var; 6] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh, &self.w_out, &self.b_out]
    }

    /// `x`: (batch, window, inputs) → (batch). `dropout_mask`: (batch, hidden), already
    /// scaled by 1/(1 − p), in training only.
    pub fn forward(&self, x: &Tensor, dropout_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (batch, steps, inputs) = x.dims3()?;
        let h4 = 4 * self.hidden;
        let bias = self.b_ih.as_tensor().add(self.b_hh.as_tensor())?;
        // Input projection of every step at once: (batch·steps, inputs) × (inputs, 4h).
        let projected = x
            .reshape((batch * steps, inputs))?
            .matmul(&self.w_ih.as_tensor().t()?)?
            .broadcast_add(&bias)?
            .reshape((batch, steps, h4))?;
        let w_hh_t = self.w_hh.as_tensor().t()?;
        // One sigmoid over all four gates per step (contiguous, vectorised), with the cell
        // gate's pre-activation doubled so that tanh(g) = 2·σ(2g) − 1 comes out of the same
        // pass: candle's CPU tanh costs ~4× its sigmoid, and it was most of the step.
        let gate_scale = Tensor::from_vec(
            (0..h4).map(|k| if (2 * self.hidden..3 * self.hidden).contains(&k) { 2f32 } else { 1f32 }).collect(),
            h4,
            x.device(),
        )?;
        let mut h = Tensor::zeros((batch, self.hidden), DType::F32, x.device())?;
        let mut c = h.clone();
        for t in 0..steps {
            let gates = projected.narrow(1, t, 1)?.squeeze(1)?.add(&h.matmul(&w_hh_t)?)?;
            let s = candle_nn::ops::sigmoid(&gates.broadcast_mul(&gate_scale)?)?;
            let chunk = |k: usize| s.narrow(1, k * self.hidden, self.hidden);
            let (i, f, o) = (chunk(0)?, chunk(1)?, chunk(3)?);
            let g = chunk(2)?.affine(2.0, -1.0)?;
            c = f.mul(&c)?.add(&i.mul(&g)?)?;
            h = o.mul(&tanh(&c)?)?;
        }
        let h = match dropout_mask {
            Some(mask) => h.mul(mask)?,
            None => h,
        };
        h.matmul(&self.w_out.as_tensor().t()?)?.broadcast_add(self.b_out.as_tensor())?.squeeze(D::Minus1)
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
        let mut take = |name: &str| -> Result<Var, String> {
            let tensor = t.remove(name).ok_or_else(|| format!("no tensor {name}"))?;
            Var::from_tensor(&tensor.to_dtype(DType::F32).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        };
        let (w_ih, w_hh, b_ih, b_hh, w_out, b_out) =
            (take(NAMES[0])?, take(NAMES[1])?, take(NAMES[2])?, take(NAMES[3])?, take(NAMES[4])?, take(NAMES[5])?);
        let (h4, inputs) = w_ih.as_tensor().dims2().map_err(|e| e.to_string())?;
        if !h4.is_multiple_of(4) || w_hh.as_tensor().dims() != [h4, h4 / 4] || w_out.as_tensor().dims() != [1, h4 / 4] {
            return Err(format!("inconsistent shapes: weight_ih {:?}, weight_hh {:?}", w_ih.shape(), w_hh.shape()));
        }
        Ok(Lstm { w_ih, w_hh, b_ih, b_hh, w_out, b_out, hidden: h4 / 4, inputs })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Predictions (in target units) for windows of `inputs` features, in chunks.
    pub fn predict(&self, x: &[f32], window: usize, device: &Device) -> candle_core::Result<Vec<f32>> {
        let per = window * self.inputs;
        let mut out = Vec::with_capacity(x.len() / per.max(1));
        for chunk in x.chunks(4096 * per) {
            let n = chunk.len() / per;
            let t = Tensor::from_slice(chunk, (n, window, self.inputs), device)?;
            out.extend(self.forward(&t, None)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

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
    hidden: usize,
}

/// e^x for f32 in a form the compiler vectorises (no libm call, no `floor`): a Cephes-style
/// range reduction by ln 2 with round-to-nearest through the 1.5·2²³ trick, and a degree-6
/// polynomial; relative error ~2e-7 over the clamped range.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
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
        (h.dot(&self.w_out) + self.b_out).to_vec()
    }
}

/// How training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: usize,
    pub best_epoch: usize,
    /// Validation MAE (in target-scale units) after each epoch.
    pub validation_mae: Vec<f64>,
    pub train_windows: usize,
    pub validation_windows: usize,
}

/// Progress callback: `(epoch, batches done in it, batches per epoch)`.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, usize);

/// Trains on `data` (targets already divided by the target scale), holding out its last
/// `validation_fraction` for early stopping. Deterministic for a given seed on CPU.
pub fn train(
    params: &LstmParams,
    data: &Sequences,
    device: &Device,
    progress: Progress<'_>,
) -> Result<(Lstm, TrainReport), LstmError> {
    if params.hidden == 0 || params.batch_size == 0 || params.epochs == 0 {
        return Err(LstmError::Param("hidden, batch_size and epochs must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&params.dropout) || !(0.0..0.9).contains(&params.validation_fraction) {
        return Err(LstmError::Param("dropout must be in [0, 1) and validation_fraction in [0, 0.9)".into()));
    }
    let held = (data.len() as f64 * params.validation_fraction) as usize;
    if data.len() < 2 || data.len() - held < 1 {
        return Err(LstmError::TooFewWindows(data.len()));
    }
    let (train_set, valid_set) = data.split_at(data.len() - held);
    let model = Lstm::init(data.features, params.hidden, params.seed, device)?;
    let mut opt = AdamW::new(
        model.vars().into_iter().cloned().collect(),
        ParamsAdamW { lr: params.learning_rate, weight_decay: params.weight_decay, ..ParamsAdamW::default() },
    )?;
    let mut rng = Rng::new(params.seed, 0xD50F);
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let batches = order.len().div_ceil(params.batch_size);
    let keep = 1.0 - params.dropout;
    let mut best: Option<(f64, usize, HashMap<String, Tensor>)> = None;
    let mut report = TrainReport {
        epochs: 0,
        best_epoch: 0,
        validation_mae: Vec::new(),
        train_windows: train_set.len(),
        validation_windows: valid_set.len(),
    };
    for epoch in 1..=params.epochs {
        // Fisher–Yates from the seeded stream.
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for (b, idx) in order.chunks(params.batch_size).enumerate() {
            let (x, y) = train_set.batch(idx, device)?;
            let mask = (params.dropout > 0.0)
                .then(|| {
                    let m: Vec<f32> = (0..idx.len() * params.hidden)
                        .map(|_| if rng.uniform() < keep { (1.0 / keep) as f32 } else { 0.0 })
                        .collect();
                    Tensor::from_vec(m, (idx.len(), params.hidden), device)
                })
                .transpose()?;
            let loss = model.forward(&x, mask.as_ref())?.sub(&y)?.abs()?.mean_all()?;
            opt.backward_step(&loss)?;
            progress(epoch, b + 1, batches);
        }
        report.epochs = epoch;
        let eval = if valid_set.is_empty() { &train_set } else { &valid_set };
        let p = model.predict(&eval.x, eval.window, device)?;
        let mae = p.iter().zip(&eval.y).map(|(p, y)| f64::from((p - y).abs())).sum::<f64>() / eval.len() as f64;
        report.validation_mae.push(mae);
        if best.as_ref().is_none_or(|(b, _, _)| mae < *b) {
            let snapshot =
                model.tensors().into_iter().map(|(k, t)| Ok((k, t.copy()?))).collect::<candle_core::Result<_>>()?;
            best = Some((mae, epoch, snapshot));
        } else if epoch - best.as_ref().map_or(0, |b| b.1) >= params.patience.max(1) {
            break;
        }
    }
    let (_, best_epoch, weights) = best.expect("at least one epoch ran");
    for (name, var) in NAMES.iter().zip(model.vars()) {
        var.set(&weights[*name])?;
    }
    report.best_epoch = best_epoch;
    Ok((model, report))
}

/// An LSTM with its card: the [`Predictor`] the pipeline and the model server use.
#[derive(Debug)]
pub struct LstmModel {
    card: ModelCard,
    lstm: Lstm,
    fast: InferenceLstm,
    /// Model outputs are multiplied by this to give log returns.
    target_scale: f64,
    device: Device,
}

impl LstmModel {
    pub fn new(card: ModelCard, lstm: Lstm, target_scale: f64) -> Result<Self, ModelError> {
        let fast = InferenceLstm::from_lstm(&lstm).map_err(|e| ModelError::Backend(e.to_string()))?;
        Ok(LstmModel { card, lstm, fast, target_scale, device: device() })
    }

    /// Loads the version in `dir`; the card's `params.target_scale` rescales outputs.
    pub fn load(dir: &Path, card: ModelCard) -> Result<Self, ModelError> {
        let path = dir.join(&card.weights);
        let device = device();
        let lstm = Lstm::load(&path, &device).map_err(|e| ModelError::artifact(&path, e))?;
        if lstm.inputs != card.features.len() {
            return Err(ModelError::artifact(
                &path,
                format!("weights read {} features, the card lists {}", lstm.inputs, card.features.len()),
            ));
        }
        let target_scale = card.params["target_scale"].as_f64().ok_or_else(|| {
            ModelError::artifact(&dir.join(tickloop_models::CARD_FILE), "params.target_scale missing")
        })?;
        let fast = InferenceLstm::from_lstm(&lstm).map_err(|e| ModelError::artifact(&path, e))?;
        Ok(LstmModel { card, lstm, fast, target_scale, device })
    }

    pub fn lstm(&self) -> &Lstm {
        &self.lstm
    }
}

impl Predictor for LstmModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn save(&self, dir: &Path) -> Result<(), ModelError> {
        tickloop_models::save_version(dir, &self.card, |path| self.lstm.save(path).map_err(|e| e.to_string()))
    }

    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        self.window_count(windows)?;
        let width = self.card.features.len();
        let mut x = Vec::with_capacity(windows.len());
        let mut row = vec![0.0; width];
        for raw in windows.chunks(width) {
            row.copy_from_slice(raw);
            self.card.normalizer.apply(&mut row);
            x.extend(row.iter().map(|&v| v as f32));
        }
        // On a GPU the batch goes through Candle; on CPU through the allocation-free path.
        let out = if self.device.is_cpu() {
            self.fast.forward(&x, self.card.window)
        } else {
            self.lstm.predict(&x, self.card.window, &self.device).map_err(|e| ModelError::Backend(e.to_string()))?
        };
        Ok(out.into_iter().map(|p| f64::from(p) * self.target_scale).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Target: the mean of the first feature over the window (a sequence sum to learn).
    fn sequences(n: usize, seed: u64) -> Sequences {
        let mut rng = Rng::new(seed, 1);
        let (window, features) = (8, 2);
        let x: Vec<f32> = (0..n * window * features).map(|_| rng.normal() as f32).collect();
        let y =
            (0..n).map(|i| (0..window).map(|t| x[(i * window + t) * features]).sum::<f32>() / window as f32).collect();
        Sequences { window, features, x, y }
    }

    fn params() -> LstmParams {
        LstmParams { hidden: 16, epochs: 6, batch_size: 32, learning_rate: 1e-2, dropout: 0.1, ..LstmParams::default() }
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let data = sequences(1200, 3);
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut reports = Vec::new();
        for run in 0..2 {
            let (model, report) = train(&params(), &data, &Device::Cpu, &mut |_, _, _| {}).unwrap();
            let path = dir.path().join(format!("{run}.safetensors"));
            model.save(&path).unwrap();
            files.push(std::fs::read(&path).unwrap());
            reports.push(report);
        }
        assert_eq!(files[0], files[1], "same data and seed ⇒ the same weights file, byte for byte");
        let r = &reports[0];
        // The target's own MAE around zero is ~0.28 (mean of 8 standard normals).
        assert!(r.validation_mae[r.best_epoch - 1] < 0.15, "{r:?}");

        let loaded = Lstm::load(&dir.path().join("0.safetensors"), &Device::Cpu).unwrap();
        let (trained, _) = train(&params(), &data, &Device::Cpu, &mut |_, _, _| {}).unwrap();
        let probe = &data.x[..50 * 16];
        assert_eq!(
            loaded.predict(probe, 8, &Device::Cpu).unwrap(),
            trained.predict(probe, 8, &Device::Cpu).unwrap(),
            "save → load → identical predictions"
        );
    }

    #[test]
    fn the_fast_exponential_is_accurate() {
        for k in -8000..=8000 {
            let x = k as f32 / 100.0;
            let (got, want) = (exp_f32(x), x.exp());
            assert!((got - want).abs() <= 1e-6 * want, "exp({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn the_inference_path_agrees_with_candles_forward() {
        let data = sequences(300, 5);
        let model = Lstm::init(2, 16, 9, &Device::Cpu).unwrap();
        let slow = model.predict(&data.x, 8, &Device::Cpu).unwrap();
        let fast = InferenceLstm::from_lstm(&model).unwrap().forward(&data.x, 8);
        assert_eq!(slow.len(), 300);
        for (a, b) in slow.iter().zip(&fast) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn a_different_seed_gives_different_weights() {
        let a = Lstm::init(3, 4, 1, &Device::Cpu).unwrap().tensors()["weight_hh_l0"].to_vec2::<f32>().unwrap();
        let b = Lstm::init(3, 4, 2, &Device::Cpu).unwrap().tensors()["weight_hh_l0"].to_vec2::<f32>().unwrap();
        assert_ne!(a, b);
    }
}
