//! Datasets: rows of features with their labels, in event-time order, and what models need
//! from them — walk-forward splits with purge and embargo, and normalisation fitted on the
//! training window only.

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_SECOND, SymbolId, Timestamp};

/// Feature rows (row-major) with labels. `NaN` marks a feature still warming up.
///
/// Each row also carries what the baselines need ([`Reference`]), computed from the past
/// only, so every model can be reported beside them on exactly the same rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub feature_names: Vec<String>,
    pub features: Vec<f64>,
    pub labels: Vec<f64>,
    pub ts: Vec<Timestamp>,
    pub symbols: Vec<SymbolId>,
    pub references: Vec<Reference>,
}

/// The past-only quantities the baselines predict from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reference {
    /// Log return over the previous horizon (`NaN` until there is one).
    pub past_return: f64,
    /// Close minus the mean close over the previous horizon.
    pub ma_gap: f64,
}

impl Dataset {
    pub fn new(feature_names: Vec<String>) -> Self {
        Dataset { feature_names, ..Dataset::default() }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn width(&self) -> usize {
        self.feature_names.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.features[i * self.width()..(i + 1) * self.width()]
    }

    pub fn push(&mut self, ts: Timestamp, symbol: SymbolId, features: &[f64], label: f64, reference: Reference) {
        assert_eq!(features.len(), self.width(), "row width");
        self.features.extend_from_slice(features);
        self.labels.push(label);
        self.ts.push(ts);
        self.symbols.push(symbol);
        self.references.push(reference);
    }

    /// The mean absolute label: the scale of a typical move, used by the sign baseline.
    pub fn label_scale(&self) -> f64 {
        self.labels.iter().map(|y| y.abs()).sum::<f64>() / self.len().max(1) as f64
    }

    /// Training targets a model can be asked to predict: each label minus the mean label of
    /// the rows sharing its timestamp (the cross-section's common move over the same
    /// horizon, which no symbol's own history foretells) where at least `min_cross_section`
    /// labelled rows share it, else minus the mean label of `rows` (the training sample's
    /// drift, which is no forecast either). Fitting raw labels instead teaches a model the
    /// market's direction during its training window — a constant that swamps a weak
    /// per-symbol signal and decides the sign of almost every prediction. `NaN` stays `NaN`.
    pub fn excess_labels(&self, rows: &[usize], min_cross_section: usize) -> Vec<f64> {
        self.excess(&self.labels, rows, min_cross_section)
    }

    /// [`Dataset::excess_labels`] of any per-row `values` (one per row, `NaN` for none).
    /// Labels already divided by each symbol's volatility must be demeaned in those units:
    /// where a symbol's exposure to the market grows with its volatility (as in the
    /// simulator and, roughly, in equities), the raw excess return divided by volatility
    /// keeps a market term, `M·(1 − σ̄/σᵢ)`, whose mean over a training window becomes a
    /// bet on (or against) the market for every symbol at once.
    pub fn excess(&self, values: &[f64], rows: &[usize], min_cross_section: usize) -> Vec<f64> {
        assert_eq!(values.len(), self.len(), "one value per row");
        let known: Vec<f64> = rows.iter().map(|&i| values[i]).filter(|y| y.is_finite()).collect();
        let drift = known.iter().sum::<f64>() / known.len().max(1) as f64;
        let mut out = vec![f64::NAN; self.len()];
        // Rows are in time order: each run of equal timestamps is one cross-section.
        let mut start = 0;
        while start < self.len() {
            let mut end = start + 1;
            while end < self.len() && self.ts[end] == self.ts[start] {
                end += 1;
            }
            let section = &values[start..end];
            let count = section.iter().filter(|y| y.is_finite()).count();
            let common = if count >= min_cross_section.max(1) {
                section.iter().filter(|y| y.is_finite()).sum::<f64>() / count as f64
            } else {
                drift
            };
            for (target, y) in out[start..end].iter_mut().zip(section) {
                *target = y - common;
            }
            start = end;
        }
        out
    }

    /// Keeps rows whose features are all finite (warm) and whose label is known.
    pub fn complete_rows(&self) -> Dataset {
        let mut out = Dataset::new(self.feature_names.clone());
        for i in 0..self.len() {
            let row = self.row(i);
            if self.labels[i].is_finite() && row.iter().all(|x| x.is_finite()) {
                out.push(self.ts[i], self.symbols[i], row, self.labels[i], self.references[i]);
            }
        }
        out
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut out = Dataset::new(self.feature_names.clone());
        for &i in indices {
            out.push(self.ts[i], self.symbols[i], self.row(i), self.labels[i], self.references[i]);
        }
        out
    }
}

/// One walk-forward fold: train on everything before the test window except the purge gap,
/// test on the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Expanding-window walk-forward splits over rows sorted by time.
///
/// The time span is cut into `folds + 1` equal blocks; fold k tests on block k + 1 and
/// trains on blocks 0..=k. Training rows whose label window reaches into the test block
/// (`ts + horizon > test start`) are purged, and test rows within `embargo_secs` of the
/// test start are dropped too, so no training label overlaps what is tested.
pub fn walk_forward(ts: &[Timestamp], folds: usize, horizon_secs: u32, embargo_secs: u32) -> Vec<Fold> {
    assert!(folds > 0, "at least one fold");
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "rows must be in time order");
    let (Some(first), Some(last)) = (ts.first(), ts.last()) else { return Vec::new() };
    let span = (last.as_nanos() - first.as_nanos() + 1) as f64;
    let block = |k: usize| first.as_nanos() + (span * k as f64 / (folds + 1) as f64) as i64;
    let horizon = i64::from(horizon_secs) * NANOS_PER_SECOND;
    let embargo = i64::from(embargo_secs) * NANOS_PER_SECOND;
    (0..folds)
        .map(|k| {
            let (start, end) = (block(k + 1), if k + 1 == folds { last.as_nanos() + 1 } else { block(k + 2) });
            let train = (0..ts.len()).filter(|&i| ts[i].as_nanos() + horizon <= start).collect();
            let test =
                (0..ts.len()).filter(|&i| ts[i].as_nanos() >= start + embargo && ts[i].as_nanos() < end).collect();
            Fold { train, test }
        })
        .collect()
}

impl Fold {
    /// One split for a final model: the last `test_fraction` of the time span is tested;
    /// training rows end one horizon before it, so no training label reaches into it.
    pub fn holdout(ts: &[Timestamp], test_fraction: f64, horizon_secs: u32) -> Fold {
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "rows must be in time order");
        let (Some(first), Some(last)) = (ts.first(), ts.last()) else {
            return Fold { train: Vec::new(), test: Vec::new() };
        };
        let span = (last.as_nanos() - first.as_nanos()) as f64;
        let cut = last.as_nanos() - (span * test_fraction.clamp(0.0, 1.0)) as i64;
        let horizon = i64::from(horizon_secs) * NANOS_PER_SECOND;
        Fold {
            train: (0..ts.len()).filter(|&i| ts[i].as_nanos() + horizon <= cut).collect(),
            test: (0..ts.len()).filter(|&i| ts[i].as_nanos() >= cut).collect(),
        }
    }
}

/// Per-feature mean and standard deviation, fitted on training rows and saved with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalizer {
    pub fn fit(data: &Dataset) -> Self {
        let w = data.width();
        let mut mean = vec![0.0; w];
        let mut m2 = vec![0.0; w];
        let mut n = vec![0u64; w];
        for i in 0..data.len() {
            for (j, &x) in data.row(i).iter().enumerate() {
                if x.is_finite() {
                    n[j] += 1;
                    let d = x - mean[j];
                    mean[j] += d / n[j] as f64;
                    m2[j] += d * (x - mean[j]);
                }
            }
        }
        let std = m2.iter().zip(&n).map(|(&m, &k)| if k > 1 { (m / k as f64).sqrt() } else { 0.0 }).collect();
        Normalizer { mean, std }
    }

    /// Scales `row` in place, clipped to ±[`Normalizer::CLIP`]; a constant feature maps to 0.
    pub fn apply(&self, row: &mut [f64]) {
        for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = if *s > 0.0 { ((*x - m) / s).clamp(-Self::CLIP, Self::CLIP) } else { 0.0 };
        }
    }

    /// Normalised inputs stop at this many standard deviations. A planted crash or a
    /// volatility regime puts a return or a volatility 20–50 deviations out; a network fed
    /// that saturates its gates on those rows and learns their scale instead of the
    /// ordinary rows' signal. Trees only compare, so for the booster this changes nothing
    /// but ties beyond the clip. NaN stays NaN (a missing value).
    pub const CLIP: f64 = 6.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_purge_training_labels_that_reach_into_the_test_window() {
        let ts: Vec<Timestamp> = (0..1000).map(Timestamp::from_secs).collect();
        let folds = walk_forward(&ts, 3, 60, 30);
        assert_eq!(folds.len(), 3);
        for f in &folds {
            let test_start = ts[f.test[0]].as_nanos();
            let last_train = ts[*f.train.last().unwrap()].as_nanos();
            assert!(last_train + 60 * NANOS_PER_SECOND <= test_start - 30 * NANOS_PER_SECOND);
            assert!(f.train.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(*folds[2].test.last().unwrap(), 999, "the last fold tests to the end");
        assert!(folds[0].train.len() < folds[1].train.len(), "the window expands");
    }

    #[test]
    fn a_holdout_purges_one_horizon_before_the_test_window() {
        let ts: Vec<Timestamp> = (0..1000).map(Timestamp::from_secs).collect();
        let f = Fold::holdout(&ts, 0.2, 60);
        let cut = ts[f.test[0]].as_nanos();
        assert_eq!(f.test.len(), 200);
        assert!(ts[*f.train.last().unwrap()].as_nanos() + 60 * NANOS_PER_SECOND <= cut);
        assert_eq!(f.train.len(), 740, "rows up to 739 s: their labels end by the cut at 799.2 s");
    }

    #[test]
    fn excess_labels_take_out_the_cross_sections_move_or_else_the_samples_drift() {
        let mut d = Dataset::new(vec!["a".into()]);
        let t = |s| Timestamp::from_secs(s);
        for (ts, symbol, y) in [(0, 0, 0.03), (0, 1, 0.01), (0, 2, f64::NAN), (1, 0, 0.05), (2, 0, 0.02), (2, 1, 0.04)]
        {
            d.push(t(ts), SymbolId::new(symbol), &[0.0], y, Reference::default());
        }
        let targets = d.excess_labels(&[0, 1, 3], 2);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(targets[0], 0.01) && close(targets[1], -0.01), "second 0's mean is 0.02: {targets:?}");
        assert!(targets[2].is_nan());
        // Second 1 has one labelled row: it loses the training rows' mean drift (0.03).
        assert!(close(targets[3], 0.02), "{targets:?}");
        assert!(close(targets[4], -0.01) && close(targets[5], 0.01), "{targets:?}");
    }

    #[test]
    fn a_market_move_that_scales_with_volatility_leaves_no_excess_in_volatility_units() {
        // Every symbol moves by its volatility times the market's 0.5, plus its own move.
        let sigma = [0.01, 0.02, 0.04];
        let own = [0.001, -0.002, 0.001];
        let mut d = Dataset::new(vec!["vol".into()]);
        for (s, (&sigma, &own)) in sigma.iter().zip(&own).enumerate() {
            d.push(Timestamp::from_secs(0), SymbolId::new(s as u32), &[sigma], sigma * 0.5 + own, Reference::default());
        }
        let units: Vec<f64> = (0..d.len()).map(|i| d.labels[i] / d.row(i)[0]).collect();
        let in_units = d.excess(&units, &[0, 1, 2], 2);
        let own_units: Vec<f64> = own.iter().zip(&sigma).map(|(o, s)| o / s).collect();
        let own_mean = own_units.iter().sum::<f64>() / 3.0;
        for (got, want) in in_units.iter().zip(&own_units) {
            assert!((got - (want - own_mean)).abs() < 1e-12, "only the own moves remain: {in_units:?}");
        }
        // Demeaning returns first and scaling after keeps a market term (M·(1 − σ̄/σᵢ)).
        let scaled_after: Vec<f64> = d.excess_labels(&[0, 1, 2], 2).iter().zip(&sigma).map(|(y, s)| y / s).collect();
        let leaked = scaled_after.iter().zip(&in_units).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(leaked > 0.1, "the market term is half a volatility unit: {scaled_after:?}");
    }

    #[test]
    fn normalisation_uses_only_the_rows_it_was_fitted_on() {
        let mut d = Dataset::new(vec!["a".into(), "b".into()]);
        for i in 0..4 {
            d.push(Timestamp::from_secs(i), SymbolId::new(0), &[i as f64, 5.0], 0.0, Reference::default());
        }
        let n = Normalizer::fit(&d);
        assert_eq!(n.mean, vec![1.5, 5.0]);
        let mut row = [3.0, 5.0];
        n.apply(&mut row);
        assert!((row[0] - 1.5 / 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(row[1], 0.0, "a constant feature carries no information");
    }
}
