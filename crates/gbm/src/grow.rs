//! Boosting: squared-loss gradient trees grown level by level on one-byte histograms.
//!
//! Why our own trainer rather than forust-ml (which we used until 2026-11-27): for squared
//! loss every hessian is 1, so a histogram bin needs a gradient sum and a count; rows are
//! binned once into one byte per feature, row-major, so a histogram reads each sampled row's
//! bins as one contiguous run; the smaller child of each split is summed and the larger is
//! its parent minus it. forust, general over losses and weights, spent half its training
//! time gathering row indices column by column into f64 pairs (BENCHMARKS.md, "Gradient
//! boosting").
//!
//! Determinism: histograms are summed in fixed segments of rows, added in order, whatever
//! the number of threads, so the same rows, parameters and seed give the same trees on 1 or
//! 16 threads (tested).

use std::ops::{Add, AddAssign, Sub};

use rayon::prelude::*;
use tickloop_core::Rng;

use crate::GbmParams;
use crate::bins::{Binned, Cuts};
use crate::forest::{FlatNode, Forest};

/// Rows per histogram segment: the unit of parallel work and of the fixed summation order.
const SEGMENT_ROWS: usize = 16_384;
/// Bins per feature in a histogram: bin 0 (missing) and up to 255 value bins.
const BINS: usize = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct GradSum {
    /// Sum of gradients (prediction − target).
    g: f64,
    /// Sum of hessians: the row count, as squared loss has a hessian of 1.
    h: f64,
}

impl Add for GradSum {
    type Output = GradSum;
    fn add(self, other: GradSum) -> GradSum {
        GradSum { g: self.g + other.g, h: self.h + other.h }
    }
}

impl AddAssign for GradSum {
    fn add_assign(&mut self, other: GradSum) {
        *self = *self + other;
    }
}

impl Sub for GradSum {
    type Output = GradSum;
    fn sub(self, other: GradSum) -> GradSum {
        GradSum { g: self.g - other.g, h: self.h - other.h }
    }
}

impl GradSum {
    /// The loss reduction a leaf with these sums is worth (up to a constant factor).
    fn score(self, l2: f64) -> f64 {
        self.g * self.g / (self.h + l2)
    }
}

/// One histogram: `BINS` sums for each feature.
type Histogram = Vec<[GradSum; BINS]>;

/// A node that may still split: its rows are `index[start..end]`.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    hist: Histogram,
    sum: GradSum,
}

/// A split in bin terms: rows with `1 ≤ bin ≤ cut + 1` go left, missing ones (bin 0) go
/// where `missing_left` says, the rest right.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    cut: usize,
    missing_left: bool,
    gain: f64,
    left: GradSum,
    right: GradSum,
}

impl Split {
    fn goes_left(&self, bin: u8) -> bool {
        if bin == 0 { self.missing_left } else { usize::from(bin) <= self.cut + 1 }
    }
}

#[derive(Debug, Clone)]
enum TreeNode {
    Leaf(f64),
    Split { split: Split, left: usize, right: usize },
}

/// The rows and settings one boosting run shares.
pub(crate) struct Trainer<'a> {
    pub(crate) params: &'a GbmParams,
    pub(crate) cuts: &'a Cuts,
    /// Bins of the training rows.
    pub(crate) bins: &'a Binned,
    pub(crate) targets: &'a [f64],
    /// Bins and targets of the held-out rows that stop training early.
    pub(crate) held_out: Option<(&'a Binned, &'a [f64])>,
}

/// What boosting returns: the forest (only the rounds kept) and the training rows'
/// predictions after the last round (for tests).
pub(crate) struct Boosted {
    pub(crate) forest: Forest,
    pub(crate) rounds: usize,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) train_predictions: Vec<f64>,
}

impl Trainer<'_> {
    fn width(&self) -> usize {
        self.cuts.features()
    }

    pub(crate) fn boost(&self) -> Boosted {
        let p = self.params;
        let rows = self.targets.len();
        let base_score = self.targets.iter().sum::<f64>() / rows as f64;
        let mut predictions = vec![base_score; rows];
        let mut held_predictions = self.held_out.map(|(_, y)| vec![base_score; y.len()]);
        let mut grad = vec![0.0; rows];
        let (mut index, mut excluded) = (Vec::new(), Vec::new());
        let mut trees: Vec<Vec<TreeNode>> = Vec::new();
        let (mut best_loss, mut best_round) = (f64::INFINITY, 0);

        for round in 0..p.iterations {
            grad.par_iter_mut().zip(&predictions).zip(self.targets).for_each(|((g, &pred), &y)| *g = pred - y);
            sample(p.seed, round, p.subsample, rows, &mut index, &mut excluded);
            let (tree, leaves) = self.grow(&grad, &mut index);
            // Sampled rows sit in their leaf's range of `index`; the others walk the tree.
            for &(node, start, end) in &leaves {
                let TreeNode::Leaf(value) = tree[node] else { unreachable!("a leaf range belongs to a leaf") };
                for &row in &index[start..end] {
                    predictions[row as usize] += value;
                }
            }
            let walked: Vec<f64> =
                excluded.par_iter().with_min_len(4096).map(|&row| leaf_value(&tree, self.bins, row as usize)).collect();
            for (&row, value) in excluded.iter().zip(walked) {
                predictions[row as usize] += value;
            }
            trees.push(tree);

            if let (Some((bins, y)), Some(held)) = (self.held_out, held_predictions.as_mut()) {
                let tree = trees.last().expect("just pushed");
                let walked: Vec<f64> =
                    (0..y.len()).into_par_iter().with_min_len(4096).map(|i| leaf_value(tree, bins, i)).collect();
                let mut squared = 0.0;
                for ((pred, &target), value) in held.iter_mut().zip(y).zip(walked) {
                    *pred += value;
                    squared += (*pred - target) * (*pred - target);
                }
                let loss = (squared / y.len() as f64).sqrt();
                if loss < best_loss {
                    (best_loss, best_round) = (loss, round);
                } else if round - best_round >= p.early_stopping_rounds.max(1) {
                    break;
                }
            }
        }
        let rounds = if self.held_out.is_some() { best_round + 1 } else { trees.len() };
        trees.truncate(rounds);
        Boosted { forest: self.flatten(base_score, &trees), rounds, train_predictions: predictions }
    }

    /// Grows one tree over the rows in `index` (reordered so that each leaf's rows are one
    /// range), a level at a time: the level's splits are found, its nodes partitioned and
    /// its children's histograms summed in parallel, each node on its own; returns the tree
    /// and each leaf's `(node, start, end)` in `index`.
    fn grow(&self, grad: &[f64], index: &mut [u32]) -> (Vec<TreeNode>, Vec<(usize, usize, usize)>) {
        let p = self.params;
        let (l2, eta) = (f64::from(p.l2), f64::from(p.learning_rate));
        // A node no sampled row reached (possible only with l2 = 0) is worth nothing.
        let weight = |s: GradSum| if s.h + l2 > 0.0 { -s.g / (s.h + l2) * eta } else { 0.0 };
        let root_hist = self.histogram(grad, index);
        let root_sum = root_hist.first().map_or(GradSum::default(), |bins| {
            let mut sum = GradSum::default();
            bins.iter().for_each(|&b| sum += b);
            sum
        });
        let mut tree = vec![TreeNode::Leaf(weight(root_sum))];
        let mut leaves = Vec::new();
        // The nodes that may still split, by ascending `start`.
        let mut level = vec![Open { node: 0, start: 0, end: index.len(), hist: root_hist, sum: root_sum }];
        let mut leaf_count = 1;
        for depth in 0..p.max_depth {
            let splits: Vec<Option<Split>> =
                level.par_iter().map(|open| self.best_split(&open.hist, open.sum)).collect();
            // Splits are taken in node order while the leaf budget lasts.
            let mut splitting = Vec::new();
            for (open, split) in level.into_iter().zip(splits) {
                match split {
                    Some(split) if leaf_count < p.max_leaves => {
                        leaf_count += 1;
                        splitting.push((open, split));
                    }
                    _ => leaves.push((open.node, open.start, open.end)),
                }
            }
            // The splitting nodes' rows are disjoint ranges of `index`, in order.
            let mut ranges = Vec::with_capacity(splitting.len());
            let (mut rest, mut at) = (&mut index[..], 0);
            for (open, _) in &splitting {
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(open.start - at);
                let (rows, tail) = tail.split_at_mut(open.end - open.start);
                ranges.push(rows);
                (rest, at) = (tail, open.end);
            }
            let mids: Vec<usize> = ranges
                .into_par_iter()
                .zip(&splitting)
                .map(|(rows, (open, split))| open.start + self.partition(rows, split))
                .collect();
            let last_level = depth + 1 == p.max_depth;
            let index = &*index;
            let children: Vec<Option<(Histogram, Histogram)>> = splitting
                .par_iter()
                .zip(&mids)
                .map(|((open, _), &mid)| {
                    // Sum the smaller child; the larger is its parent minus it.
                    (!last_level).then(|| {
                        if mid - open.start <= open.end - mid {
                            let small = self.histogram(grad, &index[open.start..mid]);
                            let large = subtract(&open.hist, &small);
                            (small, large)
                        } else {
                            let small = self.histogram(grad, &index[mid..open.end]);
                            (subtract(&open.hist, &small), small)
                        }
                    })
                })
                .collect();
            let mut next = Vec::with_capacity(splitting.len() * 2);
            for (((open, split), mid), hists) in splitting.into_iter().zip(mids).zip(children) {
                let (left, right) = (tree.len(), tree.len() + 1);
                tree.push(TreeNode::Leaf(weight(split.left)));
                tree.push(TreeNode::Leaf(weight(split.right)));
                tree[open.node] = TreeNode::Split { split, left, right };
                match hists {
                    None => {
                        leaves.push((left, open.start, mid));
                        leaves.push((right, mid, open.end));
                    }
                    Some((left_hist, right_hist)) => {
                        next.push(Open { node: left, start: open.start, end: mid, hist: left_hist, sum: split.left });
                        next.push(Open { node: right, start: mid, end: open.end, hist: right_hist, sum: split.right });
                    }
                }
            }
            level = next;
        }
        leaves.extend(level.into_iter().map(|open| (open.node, open.start, open.end)));
        (tree, leaves)
    }

    /// The sums of `rows`' gradients per feature and bin, in fixed segments added in order.
    fn histogram(&self, grad: &[f64], rows: &[u32]) -> Histogram {
        let fill = |rows: &[u32]| {
            let mut hist = vec![[GradSum::default(); BINS]; self.width()];
            for &row in rows {
                let row = row as usize;
                let g = grad[row];
                for (bins, &bin) in hist.iter_mut().zip(self.bins.row(row)) {
                    let sum = &mut bins[usize::from(bin)];
                    sum.g += g;
                    sum.h += 1.0;
                }
            }
            hist
        };
        let mut segments: Vec<Histogram> = if rows.len() > SEGMENT_ROWS {
            rows.par_chunks(SEGMENT_ROWS).map(fill).collect()
        } else {
            vec![fill(rows)]
        };
        let mut total = segments.remove(0);
        for segment in &segments {
            for (t, s) in total.iter_mut().zip(segment) {
                for (t, &s) in t.iter_mut().zip(s) {
                    *t += s;
                }
            }
        }
        total
    }

    /// The split with the largest gain that leaves each side at least `min_leaf_weight`
    /// rows, missing values tried on both sides; `None` if no split gains. Features are
    /// searched in parallel; ties go to the lowest feature, cut and missing-left first, as
    /// a serial search would.
    fn best_split(&self, hist: &Histogram, sum: GradSum) -> Option<Split> {
        let per_feature: Vec<Option<Split>> =
            hist.par_iter().enumerate().map(|(feature, bins)| self.best_split_of(feature, bins, sum)).collect();
        per_feature.into_iter().flatten().fold(None, |best: Option<Split>, split| match best {
            Some(b) if b.gain >= split.gain => Some(b),
            _ => Some(split),
        })
    }

    fn best_split_of(&self, feature: usize, bins: &[GradSum; BINS], sum: GradSum) -> Option<Split> {
        let p = self.params;
        let (l2, min_leaf) = (f64::from(p.l2), f64::from(p.min_leaf_weight));
        let parent = sum.score(l2);
        let mut best: Option<Split> = None;
        let missing = bins[0];
        let mut below = GradSum::default();
        for cut in 0..self.cuts.cuts(feature).len() {
            below += bins[cut + 1];
            let above = sum - missing - below;
            // Without missing rows both directions are the same split: try it once.
            let directions = if missing.h > 0.0 { 2 } else { 1 };
            for &(left, right, missing_left) in
                &[(below + missing, above, true), (below, above + missing, false)][..directions]
            {
                if left.h < min_leaf || right.h < min_leaf {
                    continue;
                }
                let gain = left.score(l2) + right.score(l2) - parent;
                if gain > best.map_or(0.0, |b| b.gain) {
                    best = Some(Split { feature, cut, missing_left, gain, left, right });
                }
            }
        }
        best
    }

    /// Stable partition of `rows` by `split`: left rows first; returns how many went left.
    /// Segments of rows are split in parallel, then gathered (lefts, then rights, in order).
    /// Branch-free: which way a row goes is a coin toss to the branch predictor.
    fn partition(&self, rows: &mut [u32], split: &Split) -> usize {
        let bins = self.bins.feature(split.feature);
        let segments: Vec<(usize, Vec<u32>)> = rows
            .par_chunks(SEGMENT_ROWS)
            .map(|segment| {
                // Lefts fill from the front, rights from the back (reversed).
                let mut split_rows = vec![0; segment.len()];
                let (mut left, mut back) = (0, segment.len());
                for &row in segment {
                    let goes_left = split.goes_left(bins[row as usize]);
                    let at = if goes_left { left } else { back - 1 };
                    split_rows[at] = row;
                    left += usize::from(goes_left);
                    back -= usize::from(!goes_left);
                }
                (left, split_rows)
            })
            .collect();
        let lefts: usize = segments.iter().map(|(left, _)| left).sum();
        let (mut at_left, mut at_right) = (0, lefts);
        for (left, split_rows) in &segments {
            rows[at_left..at_left + left].copy_from_slice(&split_rows[..*left]);
            at_left += left;
            for &row in split_rows[*left..].iter().rev() {
                rows[at_right] = row;
                at_right += 1;
            }
        }
        lefts
    }

    /// The trees with their splits as value thresholds, for prediction on raw values.
    fn flatten(&self, base_score: f64, trees: &[Vec<TreeNode>]) -> Forest {
        let mut forest = Forest::new(base_score, self.width());
        for tree in trees {
            let offset = forest.nodes.len();
            let at = |i: usize| u32::try_from(offset + i).expect("fewer than 4 G nodes");
            forest.roots.push(at(0));
            forest.nodes.extend(tree.iter().map(|node| match *node {
                TreeNode::Leaf(value) => FlatNode::leaf(value),
                TreeNode::Split { split, left, right } => FlatNode {
                    value: self.cuts.cuts(split.feature)[split.cut],
                    feature: u32::try_from(split.feature).expect("fewer than 4 G features"),
                    left: at(left),
                    right: at(right),
                    missing: at(if split.missing_left { left } else { right }),
                },
            }));
        }
        forest
    }
}

/// Each of `rows` rows into `index` with probability `subsample`, else into `excluded`,
/// both in row order. Each segment of rows draws from its own stream of the round, so the
/// segments are drawn in parallel and the draw does not depend on the number of threads.
fn sample(seed: u64, round: usize, subsample: f32, rows: usize, index: &mut Vec<u32>, excluded: &mut Vec<u32>) {
    index.clear();
    excluded.clear();
    if subsample >= 1.0 {
        index.extend(0..rows as u32);
        return;
    }
    // `uniform() < subsample` without the float conversion: compare the same 53 bits.
    let threshold = (f64::from(subsample) * (1u64 << 53) as f64) as u64;
    let segments: Vec<(usize, Vec<u32>)> = (0..rows.div_ceil(SEGMENT_ROWS))
        .into_par_iter()
        .map(|segment| {
            let mut rng = Rng::new(seed, ((round as u64) << 32) | segment as u64);
            let first = segment * SEGMENT_ROWS;
            let mut drawn = vec![0; (rows - first).min(SEGMENT_ROWS)];
            // Branch-free, like `Trainer::partition`: kept rows fill from the front,
            // dropped rows from the back (reversed below).
            let (mut kept, mut back) = (0, drawn.len());
            for row in first..first + drawn.len() {
                let keep = (rng.next_u64() >> 11) < threshold;
                let at = if keep { kept } else { back - 1 };
                drawn[at] = row as u32;
                kept += usize::from(keep);
                back -= usize::from(!keep);
            }
            (kept, drawn)
        })
        .collect();
    for (kept, drawn) in segments {
        index.extend_from_slice(&drawn[..kept]);
        excluded.extend(drawn[kept..].iter().rev());
    }
}

fn subtract(parent: &Histogram, child: &Histogram) -> Histogram {
    let mut out = parent.clone();
    for (o, c) in out.iter_mut().zip(child) {
        for (o, &c) in o.iter_mut().zip(c) {
            *o = *o - c;
        }
    }
    out
}

/// The leaf value row `row` of `bins` reaches in `tree`.
fn leaf_value(tree: &[TreeNode], bins: &Binned, row: usize) -> f64 {
    let mut node = 0;
    loop {
        match &tree[node] {
            TreeNode::Leaf(value) => return *value,
            TreeNode::Split { split, left, right } => {
                node = if split.goes_left(bins.get(row, split.feature)) { *left } else { *right };
            }
        }
    }
}
