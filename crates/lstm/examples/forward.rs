//! LSTM timings for BENCHMARKS.md at the original design's shapes: the inference path over a
//! batch of windows (the live runner's once-a-minute batch) and one training step at batch
//! 64, the step PyTorch's script times (xtask/py/lstm_torch.py: zero the gradients, forward,
//! MAE, backward, AdamW), with the fused layer and with Candle's autograd of the same cell.
//!
//! `cargo run --release -p tickloop-lstm --example forward -- [batch] [window] [features] [hidden] [reps] [threads]`
//! (defaults 1000 60 5 128 5 0; threads 0 = every core); prints JSON.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use tickloop_core::Rng;
use tickloop_lstm::{InferenceLstm, Lstm};

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Seconds per call of `f`, the median of `reps` after one warm-up call.
fn timed(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let arg = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (batch, window, features, hidden, reps, threads) =
        (arg(0, 1000), arg(1, 60), arg(2, 5), arg(3, 128), arg(4, 5), arg(5, 0));
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let device = Device::Cpu;
    let mut rng = Rng::new(1, 2);
    let x: Vec<f32> = (0..batch * window * features).map(|_| rng.normal() as f32).collect();
    let model = Lstm::init(features, hidden, 7, &device).unwrap();

    let fast = InferenceLstm::from_lstm(&model).unwrap().with_threads(threads);
    let inference = timed(reps, || {
        fast.forward(&x, window);
    });

    // A training step at batch 64, as PyTorch's script runs it: the original design's
    // network (no skip path), MAE, dropout 0.3, AdamW at 1e-3.
    let xb = Tensor::from_slice(&x[..64 * window * features], (64, window, features), &device).unwrap();
    let yb = Tensor::zeros(64, candle_core::DType::F32, &device).unwrap();
    let mask: Vec<f32> = (0..64 * hidden).map(|_| if rng.uniform() < 0.7 { 1.0 / 0.7 } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, (64, hidden), &device).unwrap();
    let step = |reference: bool, reps: usize| {
        let model = Lstm::init(features, hidden, 7, &device).unwrap();
        let vars = model.trainable(false);
        let mut opt = AdamW::new(vars, ParamsAdamW { lr: 1e-3, ..ParamsAdamW::default() }).unwrap();
        timed(reps, || {
            let out = match reference {
                true => model.forward_reference(&xb, Some(&mask)),
                false => model.forward(&xb, Some(&mask), threads),
            };
            let loss = out.unwrap().sub(&yb).unwrap().abs().unwrap().mean_all().unwrap();
            opt.backward_step(&loss).unwrap();
        })
    };
    let fused_step = step(false, 10);
    let reference_step = if std::env::var_os("SKIP_REFERENCE").is_some() { f64::NAN } else { step(true, 3) };
    println!(
        "{}",
        serde_json::json!({
            "library": "tickloop-lstm (fused layer on candle 0.11, CPU)", "threads": threads, "batch": batch,
            "window": window, "features": features, "hidden": hidden,
            "inference_median_secs": inference,
            "train_step_batch64_secs": fused_step,
            "train_step_batch64_candle_autograd_secs": reference_step,
        })
    );
}
