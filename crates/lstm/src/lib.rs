//! tickloop-lstm: the Candle LSTM for next-horizon returns.
//!
//! The original design's network: one LSTM layer over a window of per-second rows, dropout
//! on the last hidden state, a linear layer to one output, AdamW — with a linear skip from
//! the last row to the output beside it, and defaults (hidden 32, MSE, an annealed rate)
//! chosen on the planted signal rather than the design's hidden 128 and MAE, which learnt
//! nothing there ([`LstmParams`] says why each).
//!
//! Why the layer is written here rather than taken from `candle_nn::rnn::LSTM`: on CPU it is
//! a fused kernel with its own backward pass through time (`fused`: a training step as fast
//! as PyTorch's, where Candle's autograd of the cell was 9× slower), and parameters are
//! initialised from tickloop's own seeded generator — candle's CPU random source cannot be
//! seeded — so the same data and seed give the same weights file, byte for byte, on any
//! number of threads. Dropout masks come from the same generator. On a GPU the same cell
//! runs as Candle ops ([`Lstm::forward_reference`]). Weight names and gate order are
//! PyTorch's (`weight_ih_l0`, …, `linear.weight`): the safetensors file loads into
//! `torch.nn.LSTM` through `deploy/pytorch/tickloop_lstm.py` and back (tested both ways).
//!
//! Computation is in f32: returns normalised to unit scale lose nothing that matters at
//! f32's 7 digits, and f32 halves memory traffic. Targets are divided by the training
//! labels' standard deviation (`target_scale`, saved with the model) so the loss is O(1).

mod data;
mod fused;
mod inference;
mod matmul;
mod network;
mod params;
mod predictor;
mod training;

pub use data::Sequences;
pub use inference::InferenceLstm;
pub use network::{Lstm, device};
pub use params::{Loss, LstmError, LstmParams};
pub use predictor::LstmModel;
pub use training::{Progress, TrainEvent, TrainReport, train};

/// The weights file of an LSTM inside its version directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use tickloop_core::Rng;

    use super::*;
    use crate::fused::exp_f32;

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
        // Batches of 64 are two chunks of the fused layer: one thread runs both, or two one each.
        for threads in [1, 2] {
            let params = LstmParams { batch_size: 64, threads, ..params() };
            let (model, report) = train(&params, &data, &Device::Cpu, &mut |_| {}).unwrap();
            let path = dir.path().join(format!("{threads}.safetensors"));
            model.save(&path).unwrap();
            files.push(std::fs::read(&path).unwrap());
            reports.push(report);
        }
        assert_eq!(files[0], files[1], "same data and seed ⇒ the same weights file, byte for byte, on 1 and 2 threads");
        let r = &reports[0];
        // Predicting zero would score the targets' own loss; the model must do far better.
        let zero = data.y.iter().map(|&y| params().loss.of(f64::from(y))).sum::<f64>() / data.y.len() as f64;
        assert!(r.validation_loss[r.best_epoch - 1] < 0.5 * zero, "{r:?} vs zero's {zero}");

        let loaded = Lstm::load(&dir.path().join("1.safetensors"), &Device::Cpu).unwrap();
        let (trained, _) = train(&LstmParams { batch_size: 64, ..params() }, &data, &Device::Cpu, &mut |_| {}).unwrap();
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
        model.w_skip.set(&candle_core::Tensor::new(&[[0.7f32, -0.3]], &Device::Cpu).unwrap()).unwrap();
        let slow = model.predict(&data.x, 8, &Device::Cpu).unwrap();
        let fast = InferenceLstm::from_lstm(&model).unwrap().forward(&data.x, 8);
        assert_eq!(slow.len(), 300);
        for (a, b) in slow.iter().zip(&fast) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// Target: a linear function of the last row only, which the skip path carries exactly.
    fn last_row_sequences(n: usize, seed: u64) -> Sequences {
        let mut data = sequences(n, seed);
        let per = data.window * data.features;
        data.y = (0..n).map(|i| 0.8 * data.x[i * per + per - 2] - 0.5 * data.x[i * per + per - 1]).collect();
        data
    }

    #[test]
    fn the_linear_skip_learns_a_last_row_target_that_the_plain_lstm_learns_slower() {
        let data = last_row_sequences(1200, 4);
        let quick = LstmParams { epochs: 2, patience: 5, dropout: 0.0, ..params() };
        let loss = |p: &LstmParams| {
            let (_, r) = train(p, &data, &Device::Cpu, &mut |_| {}).unwrap();
            r.validation_loss[r.best_epoch - 1]
        };
        let (with, without) = (loss(&quick), loss(&LstmParams { linear_skip: false, ..quick.clone() }));
        assert!(with < 0.5 * without, "skip {with} vs plain {without}");
    }

    #[test]
    fn weights_saved_without_a_skip_load_as_the_plain_lstm() {
        let model = Lstm::init(2, 4, 3, &Device::Cpu).unwrap();
        let mut tensors = model.tensors();
        tensors.remove("skip.weight");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.safetensors");
        candle_core::safetensors::save(&tensors, &path).unwrap();
        let loaded = Lstm::load(&path, &Device::Cpu).unwrap();
        assert_eq!(loaded.w_skip.as_tensor().to_vec2::<f32>().unwrap(), vec![vec![0f32; 2]]);
        let x = sequences(20, 1).x;
        assert_eq!(loaded.predict(&x, 8, &Device::Cpu).unwrap(), model.predict(&x, 8, &Device::Cpu).unwrap());
    }

    #[test]
    fn a_different_seed_gives_different_weights() {
        let a = Lstm::init(3, 4, 1, &Device::Cpu).unwrap().tensors()["weight_hh_l0"].to_vec2::<f32>().unwrap();
        let b = Lstm::init(3, 4, 2, &Device::Cpu).unwrap().tensors()["weight_hh_l0"].to_vec2::<f32>().unwrap();
        assert_ne!(a, b);
    }
}
