//! Training windows: rows of a dataset cut into normalised sequences with scaled targets.

use candle_core::{Device, Tensor};
use tickloop_models::{Dataset, Normalizer, WindowBuffer};

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

    pub(crate) fn split_at(&self, at: usize) -> (Sequences, Sequences) {
        let part = |r: std::ops::Range<usize>| Sequences {
            window: self.window,
            features: self.features,
            x: self.x[r.start * self.per()..r.end * self.per()].to_vec(),
            y: self.y[r].to_vec(),
        };
        (part(0..at), part(at..self.len()))
    }

    pub(crate) fn batch(&self, idx: &[usize], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
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
