//! LSTM timings for BENCHMARKS.md: forward pass over a batch of windows (the live runner's
//! batched inference) and one training step, at the original design's shapes.
//!
//! `cargo run --release -p tickloop-lstm --example forward -- [batch] [window] [features] [hidden] [reps]`
//! (defaults 1000 60 5 128 5); prints JSON.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{Device, Tensor};
use tickloop_core::Rng;
use tickloop_lstm::{Loss, Lstm, LstmParams, Sequences, train};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let arg = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (batch, window, features, hidden, reps) = (arg(0, 1000), arg(1, 60), arg(2, 5), arg(3, 128), arg(4, 5));
    let device = Device::Cpu;
    let mut rng = Rng::new(1, 2);
    let x: Vec<f32> = (0..batch * window * features).map(|_| rng.normal() as f32).collect();
    let model = Lstm::init(features, hidden, 7, &device).unwrap();
    let input = Tensor::from_slice(&x, (batch, window, features), &device).unwrap();
    model.forward(&input, None).unwrap(); // warm-up
    let mut forward = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        model.forward(&input, None).unwrap();
        forward.push(t.elapsed().as_secs_f64());
    }
    forward.sort_by(f64::total_cmp);
    let fast = tickloop_lstm::InferenceLstm::from_lstm(&model).unwrap();
    fast.forward(&x, window);
    let mut inference = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        fast.forward(&x, window);
        inference.push(t.elapsed().as_secs_f64());
    }
    inference.sort_by(f64::total_cmp);

    // Training steps at batch 64 (one epoch of 640 windows = 10 steps).
    let data = Sequences { window, features, x: x[..640 * window * features].to_vec(), y: vec![0.1; 640] };
    // The step PyTorch's script times (xtask/py/lstm_torch.py): the original design's
    // network and loss, without the skip path or the annealed rate.
    let params = LstmParams {
        hidden,
        epochs: 1,
        batch_size: 64,
        validation_fraction: 0.0,
        loss: Loss::Mae,
        dropout: 0.3,
        learning_rate: 1e-3,
        decay_to: 1.0,
        linear_skip: false,
        ..LstmParams::default()
    };
    let t = Instant::now();
    train(&params, &data, &device, &mut |_, _, _| {}).unwrap();
    let step = t.elapsed().as_secs_f64() / 10.0;
    println!(
        "{}",
        serde_json::json!({
            "library": "tickloop-lstm (candle 0.11, CPU)", "batch": batch, "window": window, "features": features,
            "hidden": hidden, "forward_median_secs": forward[forward.len() / 2], "forward_min_secs": forward[0],
            "inference_median_secs": inference[inference.len() / 2], "inference_min_secs": inference[0],
            "train_step_batch64_secs": step,
        })
    );
}
