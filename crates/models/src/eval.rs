//! Scoring predictions of next-horizon returns, and the baselines every model is reported
//! beside: a model that cannot beat "nothing happens" or "what just happened continues" has
//! learnt nothing worth deploying.

use serde::{Deserialize, Serialize};

/// How good a set of predictions is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub rows: usize,
    pub mae: f64,
    pub rmse: f64,
    /// Share of rows with a non-zero label whose sign the prediction got right (a zero
    /// prediction counts as wrong).
    pub directional_accuracy: f64,
}

impl Score {
    pub fn of(predictions: &[f64], labels: &[f64]) -> Score {
        assert_eq!(predictions.len(), labels.len());
        let n = labels.len().max(1) as f64;
        let mae = predictions.iter().zip(labels).map(|(p, y)| (p - y).abs()).sum::<f64>() / n;
        let rmse = (predictions.iter().zip(labels).map(|(p, y)| (p - y) * (p - y)).sum::<f64>() / n).sqrt();
        let (mut hit, mut counted) = (0usize, 0usize);
        for (p, y) in predictions.iter().zip(labels) {
            if *y != 0.0 {
                counted += 1;
                if p.signum() == y.signum() && *p != 0.0 {
                    hit += 1;
                }
            }
        }
        Score { rows: labels.len(), mae, rmse, directional_accuracy: hit as f64 / counted.max(1) as f64 }
    }
}

/// The baselines, computed from columns every dataset can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Predicts no move.
    Zero,
    /// Predicts that the return over the last horizon repeats.
    Persistence,
    /// Predicts the sign of (close − moving average), scaled by the training set's mean
    /// absolute label.
    MovingAverageSign,
}

impl Baseline {
    pub const ALL: [Baseline; 3] = [Baseline::Zero, Baseline::Persistence, Baseline::MovingAverageSign];

    /// `past_return`: the log return over the previous horizon; `close_minus_ma`: close − MA;
    /// `scale`: the mean absolute label on the training window.
    pub fn predict(self, past_return: f64, close_minus_ma: f64, scale: f64) -> f64 {
        match self {
            Baseline::Zero => 0.0,
            Baseline::Persistence => {
                if past_return.is_finite() {
                    past_return
                } else {
                    0.0
                }
            }
            Baseline::MovingAverageSign => {
                if close_minus_ma.is_finite() && close_minus_ma != 0.0 {
                    close_minus_ma.signum() * scale
                } else {
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_count_direction_only_where_there_was_a_move() {
        let s = Score::of(&[0.1, -0.2, 0.0, 0.3], &[0.2, 0.1, -0.1, 0.0]);
        assert_eq!(s.rows, 4);
        assert!((s.mae - (0.1 + 0.3 + 0.1 + 0.3) / 4.0).abs() < 1e-12);
        assert!((s.directional_accuracy - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn baselines_fall_back_to_zero_without_history() {
        assert_eq!(Baseline::Persistence.predict(f64::NAN, 1.0, 0.5), 0.0);
        assert_eq!(Baseline::MovingAverageSign.predict(0.0, -2.0, 0.5), -0.5);
        assert_eq!(Baseline::Zero.predict(0.3, 1.0, 0.5), 0.0);
    }
}
