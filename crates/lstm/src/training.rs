//! The training loop: AdamW on the configured loss (MSE by default) at a linearly decaying
//! rate, seeded dropout, early stopping on a held-out tail.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use tickloop_core::Rng;

use crate::network::NAMES;
use crate::{Lstm, LstmError, LstmParams, Sequences};

/// How training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: usize,
    pub best_epoch: usize,
    /// Validation loss (the training loss, in target-scale units) after each epoch.
    #[serde(alias = "validation_mae")]
    pub validation_loss: Vec<f64>,
    pub train_windows: usize,
    pub validation_windows: usize,
}

/// What training reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainEvent {
    /// A batch of `epoch` is done: `done` of `total`.
    Batch { epoch: usize, done: usize, total: usize },
    /// `epoch` is done and validated.
    Epoch { epoch: usize, validation_loss: f64 },
}

/// Progress callback.
pub type Progress<'a> = &'a mut dyn FnMut(TrainEvent);

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
    if !(params.decay_to > 0.0 && params.decay_to <= 1.0) {
        return Err(LstmError::Param("decay_to must be in (0, 1]".into()));
    }
    let held = (data.len() as f64 * params.validation_fraction) as usize;
    if data.len() < 2 || data.len() - held < 1 {
        return Err(LstmError::TooFewWindows(data.len()));
    }
    let (train_set, valid_set) = data.split_at(data.len() - held);
    let model = Lstm::init(data.features, params.hidden, params.seed, device)?;
    let mut opt = AdamW::new(
        model.trainable(params.linear_skip),
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
        validation_loss: Vec::new(),
        train_windows: train_set.len(),
        validation_windows: valid_set.len(),
    };
    for epoch in 1..=params.epochs {
        // Fisher–Yates from the seeded stream.
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for (b, idx) in order.chunks(params.batch_size).enumerate() {
            let done = ((epoch - 1) * batches + b) as f64 / (params.epochs * batches).max(1) as f64;
            opt.set_learning_rate(params.learning_rate * (1.0 - (1.0 - params.decay_to) * done));
            let (x, y) = train_set.batch(idx, device)?;
            let mask = (params.dropout > 0.0)
                .then(|| {
                    let m: Vec<f32> = (0..idx.len() * params.hidden)
                        .map(|_| if rng.uniform() < keep { (1.0 / keep) as f32 } else { 0.0 })
                        .collect();
                    Tensor::from_vec(m, (idx.len(), params.hidden), device)
                })
                .transpose()?;
            let loss = params.loss.mean(&model.forward(&x, mask.as_ref(), params.threads)?.sub(&y)?)?;
            opt.backward_step(&loss)?;
            progress(TrainEvent::Batch { epoch, done: b + 1, total: batches });
        }
        report.epochs = epoch;
        let eval = if valid_set.is_empty() { &train_set } else { &valid_set };
        let p = model.predict(&eval.x, eval.window, device)?;
        let loss =
            p.iter().zip(&eval.y).map(|(p, y)| params.loss.of(f64::from(p - y))).sum::<f64>() / eval.len() as f64;
        report.validation_loss.push(loss);
        progress(TrainEvent::Epoch { epoch, validation_loss: loss });
        if best.as_ref().is_none_or(|(b, _, _)| loss < *b) {
            let snapshot =
                model.tensors().into_iter().map(|(k, t)| Ok((k, t.copy()?))).collect::<candle_core::Result<_>>()?;
            best = Some((loss, epoch, snapshot));
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
