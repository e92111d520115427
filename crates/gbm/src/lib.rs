//! tickloop-gbm: gradient-boosted regression trees for next-horizon returns.
//!
//! # Why forust-ml
//! linfa 0.8.1 has no gradient boosting (its trees are classifiers only). Of the Rust
//! boosters that build here, `forust-ml` 0.8 is histogram-based with second-order
//! gradients, depth/leaf limits, shrinkage, row subsampling and early stopping, in pure
//! Rust with light dependencies — and it is competitive with xgboost on our rows (training
//! time and validation loss side by side in BENCHMARKS.md, `cargo xtask bench gbm`), so we
//! adopt it rather than write another booster. It sits behind linfa's traits:
//! [`GbmParams`] is a linfa `Fit` estimator over a linfa `Dataset` and [`Gbm`] predicts
//! through linfa's `Predict`, so it composes with the linfa ecosystem.
//!
//! Training is deterministic: the same rows, parameters and seed give the same trees
//! (row subsampling draws from the seed; histograms are summed per feature).

use std::path::Path;

use forust_ml::gradientbooster::EvaluationData;
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::{GradientBooster, Matrix};
use linfa::dataset::DatasetBase;
use linfa::prelude::*;
use ndarray::{Array1, ArrayBase, Data, Ix1, Ix2};
use serde::{Deserialize, Serialize};
use tickloop_models::{ModelCard, ModelError, Predictor};

/// The weights file of a booster inside its version directory (forust's own JSON form).
pub const WEIGHTS_FILE: &str = "model.json";

/// Hyperparameters, with defaults that suit minute-horizon returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbmParams {
    /// Maximum boosting rounds (fewer when early stopping ends training).
    pub iterations: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    pub max_leaves: usize,
    /// Histogram bins per feature.
    pub bins: u16,
    /// L2 penalty on leaf weights.
    pub l2: f32,
    pub min_leaf_weight: f32,
    /// Share of rows each tree sees (1 = all).
    pub subsample: f32,
    /// The last share of the (time-ordered) training rows held out to stop early on; 0
    /// turns early stopping off.
    pub validation_fraction: f64,
    /// Rounds without improvement on the held-out rows before training stops.
    pub early_stopping_rounds: usize,
    pub seed: u64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

/// Defaults chosen for noisy minute-horizon returns: shallow trees, large leaves and a
/// strong L2 penalty, because the signal is small and deep trees fit the noise (measured:
/// depth 5 with 20-row leaves lost to the moving-average baseline out of sample; depth 3
/// with 100-row leaves beat it, on the simulator's planted signal).
impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            iterations: 300,
            learning_rate: 0.05,
            max_depth: 3,
            max_leaves: 8,
            bins: 255,
            l2: 10.0,
            min_leaf_weight: 100.0,
            subsample: 0.8,
            validation_fraction: 0.15,
            early_stopping_rounds: 30,
            seed: 42,
            threads: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GbmError {
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("too few rows to train on: {0}")]
    TooFewRows(usize),
    #[error("booster: {0}")]
    Booster(String),
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

impl GbmParams {
    /// Checks the hyperparameters (fitting checks them too), naming the first bad one.
    pub fn check(&self) -> Result<(), GbmError> {
        let bad = |what: &str| Err(GbmError::Param(what.to_owned()));
        if self.iterations == 0 {
            return bad("iterations must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate must be in (0, 1]");
        }
        if self.max_depth == 0 || self.max_leaves < 2 || self.bins < 2 {
            return bad("max_depth ≥ 1, max_leaves ≥ 2 and bins ≥ 2");
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return bad("subsample must be in (0, 1]");
        }
        if !(0.0..0.9).contains(&self.validation_fraction) {
            return bad("validation_fraction must be in [0, 0.9)");
        }
        Ok(())
    }
}

/// A trained booster.
pub struct Gbm {
    booster: GradientBooster,
    /// The same trees, flattened for prediction.
    forest: Forest,
    /// Boosting rounds kept (after early stopping).
    pub rounds: usize,
}

impl Gbm {
    fn new(booster: GradientBooster) -> Gbm {
        let rounds = booster.best_iteration.map_or(booster.trees.len(), |b| b + 1);
        Gbm { forest: Forest::new(&booster), booster, rounds }
    }
}

/// The booster's prediction trees in one array, walked row by row over row-major input.
///
/// forust predicts tree by tree, each over every row of a column-major copy, allocating a
/// vector per tree: 0.3 s for 42.5k rows against xgboost's 0.1–0.17 s (BENCHMARKS.md). The
/// sum runs in the same order (base score, then each tree's leaf weight as f64), so the
/// predictions are bit-identical to `GradientBooster::predict` (tested).
#[derive(Debug, Clone)]
struct Forest {
    base_score: f64,
    missing: f64,
    roots: Vec<u32>,
    nodes: Vec<FlatNode>,
}

/// 24 bytes: a leaf keeps its weight in `value` and `LEAF` in `feature`.
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    /// The split value, or a leaf's weight.
    value: f64,
    feature: u32,
    left: u32,
    right: u32,
    missing: u32,
}

const LEAF: u32 = u32::MAX;

impl Forest {
    fn new(booster: &GradientBooster) -> Forest {
        let trees = booster.prediction_iteration.unwrap_or(booster.trees.len());
        let mut forest =
            Forest { base_score: booster.base_score, missing: booster.missing, roots: Vec::new(), nodes: Vec::new() };
        for tree in &booster.trees[..trees] {
            let offset = forest.nodes.len();
            let at = |i: usize| u32::try_from(offset + i).expect("fewer than 4 G nodes");
            forest.roots.push(at(0));
            forest.nodes.extend(tree.nodes.iter().map(|n| {
                if n.is_leaf {
                    FlatNode { value: f64::from(n.weight_value), feature: LEAF, left: 0, right: 0, missing: 0 }
                } else {
                    FlatNode {
                        value: n.split_value,
                        feature: u32::try_from(n.split_feature).ok().filter(|&f| f != LEAF).expect("fewer features"),
                        left: at(n.left_child),
                        right: at(n.right_child),
                        missing: at(n.missing_node),
                    }
                }
            }));
        }
        forest
    }

    fn predict_row(&self, row: &[f64]) -> f64 {
        // The two missing-value conventions as separate loops, so the per-node test is one
        // comparison (forust's default is NaN).
        if self.missing.is_nan() { self.sum(row, f64::is_nan) } else { self.sum(row, |v| v == self.missing) }
    }

    #[inline(always)]
    fn sum(&self, row: &[f64], is_missing: impl Fn(f64) -> bool) -> f64 {
        let mut sum = self.base_score;
        for &root in &self.roots {
            let mut node = &self.nodes[root as usize];
            while node.feature != LEAF {
                let v = row[node.feature as usize];
                let next = if is_missing(v) {
                    node.missing
                } else if v < node.value {
                    node.left
                } else {
                    node.right
                };
                node = &self.nodes[next as usize];
            }
            sum += node.value;
        }
        sum
    }
}

impl std::fmt::Debug for Gbm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gbm").field("trees", &self.booster.trees.len()).field("rounds", &self.rounds).finish()
    }
}

/// Column-major copy of rows `rows` of `x` (forust's layout).
fn column_major<D: Data<Elem = f64>>(x: &ArrayBase<D, Ix2>, rows: std::ops::Range<usize>) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows.len() * x.ncols());
    for c in 0..x.ncols() {
        out.extend(rows.clone().map(|r| x[[r, c]]));
    }
    out
}

impl<D: Data<Elem = f64>, T: AsTargets<Elem = f64, Ix = Ix1>> Fit<ArrayBase<D, Ix2>, T, GbmError> for GbmParams {
    type Object = Gbm;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<Gbm, GbmError> {
        self.check()?;
        let x = dataset.records();
        let y: Vec<f64> = dataset.as_targets().iter().copied().collect();
        let rows = x.nrows();
        let held_out = (rows as f64 * self.validation_fraction) as usize;
        if rows < 2 || (held_out > 0 && rows - held_out < 2) {
            return Err(GbmError::TooFewRows(rows));
        }
        let train_rows = rows - held_out;
        let threads = if self.threads == 0 { None } else { Some(self.threads) };
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::SquaredLoss)
            .set_iterations(self.iterations)
            .set_learning_rate(self.learning_rate)
            .set_max_depth(self.max_depth)
            .set_max_leaves(self.max_leaves)
            .set_nbins(self.bins)
            .set_l2(self.l2)
            .set_min_leaf_weight(self.min_leaf_weight)
            .set_subsample(self.subsample)
            .set_sample_method(if self.subsample < 1.0 { SampleMethod::Random } else { SampleMethod::None })
            .set_seed(self.seed)
            .set_parallel(true)
            .set_num_threads(threads)
            .set_initialize_base_score(true);
        let train = column_major(x, 0..train_rows);
        let train_m = Matrix::new(&train, train_rows, x.ncols());
        let weights = vec![1.0; rows];
        let held = column_major(x, train_rows..rows);
        let evaluation: Option<Vec<EvaluationData>> = (held_out > 0)
            .then(|| vec![(Matrix::new(&held, held_out, x.ncols()), &y[train_rows..], &weights[train_rows..])]);
        if evaluation.is_some() {
            booster = booster
                .set_evaluation_metric(Some(Metric::RootMeanSquaredError))
                .set_early_stopping_rounds(Some(self.early_stopping_rounds.max(1)));
        }
        booster
            .fit(&train_m, &y[..train_rows], &weights[..train_rows], evaluation)
            .map_err(|e| GbmError::Booster(e.to_string()))?;
        Ok(Gbm::new(booster))
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for Gbm {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        assert_eq!(x.nrows(), y.len(), "one target per row");
        let mut row = Vec::with_capacity(x.ncols());
        for (target, values) in y.iter_mut().zip(x.rows()) {
            row.clear();
            row.extend(values.iter().copied());
            *target = self.forest.predict_row(&row);
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

impl Gbm {
    /// The booster's own serialised form.
    pub fn to_json(&self) -> String {
        self.booster.json_dump().expect("a trained booster serialises")
    }

    pub fn from_json(json: &str) -> Result<Gbm, GbmError> {
        let booster = GradientBooster::from_json(json).map_err(|e| GbmError::Booster(e.to_string()))?;
        Ok(Gbm::new(booster))
    }

    /// Predicts rows of `width` already-normalised values.
    pub fn predict_rows(&self, rows: &[f64], width: usize) -> Vec<f64> {
        rows.chunks_exact(width).map(|row| self.forest.predict_row(row)).collect()
    }
}

/// A booster with its card: the [`Predictor`] the pipeline and the model server use.
#[derive(Debug)]
pub struct GbmModel {
    card: ModelCard,
    gbm: Gbm,
}

impl GbmModel {
    pub fn new(card: ModelCard, gbm: Gbm) -> Self {
        GbmModel { card, gbm }
    }

    pub fn gbm(&self) -> &Gbm {
        &self.gbm
    }

    /// Loads the model version in `dir` (its card says which weights file).
    pub fn load(dir: &Path, card: ModelCard) -> Result<Self, ModelError> {
        let path = dir.join(&card.weights);
        let json = std::fs::read_to_string(&path).map_err(|e| ModelError::artifact(&path, e))?;
        let gbm = Gbm::from_json(&json).map_err(|e| ModelError::artifact(&path, e))?;
        Ok(GbmModel { card, gbm })
    }
}

impl Predictor for GbmModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn save(&self, dir: &Path) -> Result<(), ModelError> {
        tickloop_models::save_version(dir, &self.card, |path| {
            std::fs::write(path, self.gbm.to_json()).map_err(|e| e.to_string())
        })
    }

    /// A booster reads the newest row of each window (its window is normally 1).
    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        let n = self.window_count(windows)?;
        let per = self.card.window_len();
        let width = self.card.features.len();
        let mut rows = Vec::with_capacity(n * width);
        for w in 0..n {
            let start = (w + 1) * per - width;
            rows.extend_from_slice(&windows[start..start + width]);
            self.card.normalizer.apply(&mut rows[w * width..]);
        }
        Ok(self.gbm.predict_rows(&rows, width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use tickloop_core::Rng;

    /// y = 2·x0 − x1² + noise, x2 irrelevant.
    fn data(rows: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
        let mut rng = Rng::new(seed, 0);
        let x = Array2::from_shape_fn((rows, 3), |_| rng.uniform_in(-1.0, 1.0));
        let y = Array1::from_shape_fn(rows, |i| 2.0 * x[[i, 0]] - x[[i, 1]] * x[[i, 1]] + rng.uniform_in(-0.1, 0.1));
        (x, y)
    }

    #[test]
    fn learns_a_nonlinear_function_deterministically_and_survives_a_round_trip() {
        let (x, y) = data(4000, 1);
        let params = GbmParams {
            iterations: 200,
            learning_rate: 0.1,
            max_depth: 5,
            max_leaves: 32,
            min_leaf_weight: 20.0,
            threads: 2,
            ..GbmParams::default()
        };
        let model = params.fit(&Dataset::new(x.clone(), y.clone())).unwrap();
        let again = params.fit(&Dataset::new(x, y)).unwrap();
        assert_eq!(model.to_json(), again.to_json(), "same rows and seed ⇒ same trees");

        let (xt, yt) = data(1000, 2);
        let p = model.predict(&xt);
        let rmse = ((&p - &yt).mapv(|e| e * e).mean().unwrap()).sqrt();
        let spread = yt.std(0.0);
        assert!(rmse < 0.2 * spread, "test RMSE {rmse} against a spread of {spread}");

        let loaded = Gbm::from_json(&model.to_json()).unwrap();
        assert_eq!(loaded.predict(&xt), p, "save → load → identical predictions");
        assert_eq!(loaded.rounds, model.rounds);
    }

    /// The flattened trees give forust's own predictions bit for bit, missing values too.
    #[test]
    fn flat_trees_predict_exactly_what_forust_predicts() {
        let (x, y) = data(3000, 3);
        let params = GbmParams { iterations: 60, max_depth: 4, max_leaves: 16, threads: 1, ..GbmParams::default() };
        let model = params.fit(&Dataset::new(x, y)).unwrap();
        let (mut xt, _) = data(500, 4);
        for (i, v) in xt.iter_mut().enumerate() {
            if i % 7 == 0 {
                *v = f64::NAN;
            }
        }
        let theirs = model.booster.predict(&Matrix::new(&column_major(&xt, 0..xt.nrows()), xt.nrows(), 3), false);
        let ours = model.predict(&xt);
        let rows = model.predict_rows(xt.as_slice().unwrap(), 3);
        for (i, t) in theirs.iter().enumerate() {
            assert_eq!(ours[i].to_bits(), t.to_bits(), "row {i}");
            assert_eq!(rows[i].to_bits(), t.to_bits(), "row {i}");
        }
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let err = GbmParams { learning_rate: 0.0, ..GbmParams::default() }.check().unwrap_err();
        let (x, y) = data(10, 1);
        assert!(GbmParams { max_depth: 0, ..GbmParams::default() }.fit(&Dataset::new(x, y)).is_err());
        assert!(err.to_string().contains("learning_rate"), "{err}");
    }
}
