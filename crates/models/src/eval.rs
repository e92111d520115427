//! Scoring predictions of next-horizon returns, and the baselines every model is reported
//! beside: a model that cannot beat "nothing happens" or "what just happened continues" has
//! learnt nothing worth deploying.

use serde::{Deserialize, Serialize};

use tickloop_core::{MIN_CROSS_SECTION, Timestamp, rank_correlation};

use crate::Dataset;

/// How good a set of predictions is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub rows: usize,
    pub mae: f64,
    pub rmse: f64,
    /// Share of rows with a non-zero label whose sign the prediction got right (a zero
    /// prediction counts as wrong).
    pub directional_accuracy: f64,
    /// Information coefficient: the rank correlation of predictions and labels — across
    /// the symbols of each timestamp, averaged over timestamps, where rows share timestamps
    /// ([`Score::of_cross_sections`]); over all rows otherwise. Unlike MAE it cannot be won
    /// by predicting nothing, and unlike direction it rewards knowing *which* symbols will
    /// move most; 0 for a constant predictor.
    #[serde(default)]
    pub ic: f64,
}

impl Score {
    /// Row-weighted combination of scores of disjoint row sets.
    pub fn pooled(scores: &[Score]) -> Score {
        let rows: usize = scores.iter().map(|s| s.rows).sum();
        let w = |s: &Score| s.rows as f64 / rows.max(1) as f64;
        Score {
            rows,
            mae: scores.iter().map(|s| s.mae * w(s)).sum(),
            rmse: scores.iter().map(|s| s.rmse * s.rmse * w(s)).sum::<f64>().sqrt(),
            directional_accuracy: scores.iter().map(|s| s.directional_accuracy * w(s)).sum(),
            ic: scores.iter().map(|s| s.ic * w(s)).sum(),
        }
    }

    /// Scores rows that carry their timestamps (in time order): the IC is the mean over
    /// timestamps shared by at least [`MIN_CROSS_SECTION`] rows of the rank correlation
    /// within each — the usual definition, which asks which symbols beat the others at one
    /// moment and is not diluted by symbols whose moves differ in size — and the pooled
    /// rank correlation when no timestamp has that many (one symbol's history).
    pub fn of_cross_sections(predictions: &[f64], labels: &[f64], ts: &[Timestamp]) -> Score {
        assert_eq!(labels.len(), ts.len());
        let mut score = Score::of(predictions, labels);
        let (mut sum, mut sections) = (0.0, 0usize);
        let mut start = 0;
        while start < ts.len() {
            let end = start + ts[start..].iter().take_while(|&&t| t == ts[start]).count();
            if end - start >= MIN_CROSS_SECTION {
                sum += rank_correlation(&predictions[start..end], &labels[start..end]);
                sections += 1;
            }
            start = end;
        }
        if sections > 0 {
            score.ic = sum / sections as f64;
        }
        score
    }

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
        Score {
            rows: labels.len(),
            mae,
            rmse,
            directional_accuracy: hit as f64 / counted.max(1) as f64,
            ic: rank_correlation(predictions, labels),
        }
    }

    /// The share of `ceiling`'s directional edge over a coin flip that this score reaches
    /// (1.0 = all of it); `None` when the ceiling has no edge.
    pub fn edge_captured(&self, ceiling_accuracy: f64) -> Option<f64> {
        let edge = ceiling_accuracy - 0.5;
        (edge > 0.0).then(|| (self.directional_accuracy - 0.5) / edge)
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

    pub fn name(self) -> &'static str {
        match self {
            Baseline::Zero => "zero",
            Baseline::Persistence => "persistence",
            Baseline::MovingAverageSign => "ma_sign",
        }
    }

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

/// A model's score beside the baselines' on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub model: Score,
    pub baselines: Vec<BaselineScore>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineScore {
    pub baseline: Baseline,
    #[serde(flatten)]
    pub score: Score,
}

impl Evaluation {
    /// Scores `predictions` of `data`'s rows, and every baseline on the same rows;
    /// `label_scale` is the training window's mean absolute label.
    pub fn of(predictions: &[f64], data: &Dataset, label_scale: f64) -> Evaluation {
        let baselines = Baseline::ALL
            .iter()
            .map(|&baseline| {
                let p: Vec<f64> =
                    data.references.iter().map(|r| baseline.predict(r.past_return, r.ma_gap, label_scale)).collect();
                BaselineScore { baseline, score: Score::of_cross_sections(&p, &data.labels, &data.ts) }
            })
            .collect();
        Evaluation { model: Score::of_cross_sections(predictions, &data.labels, &data.ts), baselines }
    }

    /// Whether the model has a higher directional accuracy and information coefficient than
    /// every baseline. MAE is reported but not judged: on returns this small, predicting
    /// almost nothing minimises it.
    pub fn beats_baselines(&self) -> bool {
        self.baselines
            .iter()
            .all(|b| self.model.directional_accuracy > b.score.directional_accuracy && self.model.ic > b.score.ic)
    }

    /// Combines per-fold evaluations into one, weighting each by its rows.
    pub fn pooled(folds: &[Evaluation]) -> Option<Evaluation> {
        let first = folds.first()?;
        let pool = |scores: Vec<Score>| Score::pooled(&scores);
        Some(Evaluation {
            model: pool(folds.iter().map(|f| f.model).collect()),
            baselines: (0..first.baselines.len())
                .map(|k| BaselineScore {
                    baseline: first.baselines[k].baseline,
                    score: pool(folds.iter().map(|f| f.baselines[k].score).collect()),
                })
                .collect(),
        })
    }

    /// A plain-text table: one line per predictor.
    pub fn table(&self, model_name: &str) -> String {
        let mut out =
            format!("{:<22} {:>9} {:>12} {:>12} {:>9} {:>8}\n", "predictor", "rows", "MAE", "RMSE", "dir.acc", "IC");
        let mut line = |name: &str, s: &Score| {
            out.push_str(&format!(
                "{name:<22} {:>9} {:>12.4e} {:>12.4e} {:>8.2}% {:>8.4}\n",
                s.rows,
                s.mae,
                s.rmse,
                s.directional_accuracy * 100.0,
                s.ic
            ))
        };
        line(model_name, &self.model);
        for b in &self.baselines {
            line(&format!("baseline: {}", b.baseline.name()), &b.score);
        }
        out
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
    fn the_ic_averages_cross_sections_where_rows_share_timestamps_and_pools_otherwise() {
        let n = MIN_CROSS_SECTION;
        // Two seconds; within each, predictions rank the symbols exactly, but the second
        // second's moves are ten times larger and all negative: pooled, the ranks disagree.
        let mut p = Vec::new();
        let mut y = Vec::new();
        let mut ts = Vec::new();
        for second in 0..2 {
            for k in 0..n {
                p.push(k as f64);
                y.push(if second == 0 { k as f64 } else { -100.0 + k as f64 });
                ts.push(Timestamp::from_secs(second));
            }
        }
        let s = Score::of_cross_sections(&p, &y, &ts);
        assert!((s.ic - 1.0).abs() < 1e-12, "{s:?}");
        assert!(Score::of(&p, &y).ic < 0.5, "pooled, the size of the moves dominates");
        let single: Vec<Timestamp> = (0..2 * n as i64).map(Timestamp::from_secs).collect();
        assert_eq!(Score::of_cross_sections(&p, &y, &single).ic, Score::of(&p, &y).ic, "one symbol: pooled");
    }

    #[test]
    fn edge_captured_is_measured_from_a_coin_flip() {
        let s = Score { directional_accuracy: 0.51, ..Score::of(&[], &[]) };
        assert!((s.edge_captured(0.52).unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(s.edge_captured(0.5), None);
    }

    #[test]
    fn baselines_fall_back_to_zero_without_history() {
        assert_eq!(Baseline::Persistence.predict(f64::NAN, 1.0, 0.5), 0.0);
        assert_eq!(Baseline::MovingAverageSign.predict(0.0, -2.0, 0.5), -0.5);
        assert_eq!(Baseline::Zero.predict(0.3, 1.0, 0.5), 0.0);
    }
}
