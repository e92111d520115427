//! The trained trees in one array, walked row by row over row-major input: what prediction
//! (backtest, live, model server) runs and what a model version saves.

use serde::{Deserialize, Serialize};

/// The format tag of a saved booster, checked on load.
pub(crate) const FORMAT: &str = "tickloop-gbm/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Forest {
    pub(crate) base_score: f64,
    /// Row width the trees were trained on.
    pub(crate) features: usize,
    pub(crate) roots: Vec<u32>,
    pub(crate) nodes: Vec<FlatNode>,
}

/// 24 bytes: a leaf keeps its weight in `value` and `LEAF` in `feature`. A split sends a row
/// left when its value is below `value`, to `missing` when it is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlatNode {
    /// The split threshold, or a leaf's weight.
    pub(crate) value: f64,
    pub(crate) feature: u32,
    pub(crate) left: u32,
    pub(crate) right: u32,
    pub(crate) missing: u32,
}

pub(crate) const LEAF: u32 = u32::MAX;

/// Rows that descend a tree together in [`Forest::predict_block`].
const LANES: usize = 8;

impl FlatNode {
    pub(crate) fn leaf(value: f64) -> FlatNode {
        FlatNode { value, feature: LEAF, left: 0, right: 0, missing: 0 }
    }

    /// The child a split sends `v` to.
    #[inline]
    fn next(&self, v: f64) -> u32 {
        if v.is_nan() {
            self.missing
        } else if v < self.value {
            self.left
        } else {
            self.right
        }
    }
}

/// A saved booster: the forest under its format tag.
#[derive(Serialize, Deserialize)]
struct Saved<F> {
    format: String,
    forest: F,
}

impl Forest {
    pub(crate) fn new(base_score: f64, features: usize) -> Forest {
        Forest { base_score, features, roots: Vec::new(), nodes: Vec::new() }
    }

    /// For each row of `rows` (row-major, `width` values each): the base score plus each
    /// tree's leaf, added in tree order. The block is walked tree by tree, so a tree's nodes
    /// are read once per block rather than the whole forest (~100 KB for 300 trees) once per
    /// row; within a tree, [`LANES`] rows descend in lockstep, so the CPU overlaps their
    /// independent chains of loads instead of waiting on one row's next node at a time
    /// (xgboost walks its blocks the same way). Each row's sum still adds the trees in the
    /// same order: the results are bit-identical to a row-by-row walk.
    pub(crate) fn predict_block(&self, rows: &[f64], width: usize, out: &mut [f64]) {
        out.fill(self.base_score);
        let lanes_rows = out.len() / LANES * LANES;
        let (grouped, rest) = rows.split_at(lanes_rows * width);
        let (grouped_out, rest_out) = out.split_at_mut(lanes_rows);
        for &root in &self.roots {
            for (group, sums) in grouped.chunks_exact(width * LANES).zip(grouped_out.chunks_exact_mut(LANES)) {
                let mut at = [root; LANES];
                loop {
                    let mut descending = false;
                    for (lane, at) in at.iter_mut().enumerate() {
                        let node = &self.nodes[*at as usize];
                        if node.feature != LEAF {
                            *at = node.next(group[lane * width + node.feature as usize]);
                            descending = true;
                        }
                    }
                    if !descending {
                        break;
                    }
                }
                for (sum, &leaf) in sums.iter_mut().zip(&at) {
                    *sum += self.nodes[leaf as usize].value;
                }
            }
            for (row, sum) in rest.chunks_exact(width).zip(rest_out.iter_mut()) {
                *sum += self.leaf_of(root, row);
            }
        }
    }

    /// The weight of the leaf `row` reaches in the tree at `root`.
    pub(crate) fn leaf_of(&self, root: u32, row: &[f64]) -> f64 {
        let mut node = &self.nodes[root as usize];
        while node.feature != LEAF {
            node = &self.nodes[node.next(row[node.feature as usize]) as usize];
        }
        node.value
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&Saved { format: FORMAT.to_owned(), forest: self }).expect("a forest serialises")
    }

    /// Reads a saved booster, checking its format and that every link stays in the forest
    /// (so prediction cannot index out of bounds or loop).
    pub(crate) fn from_json(json: &str) -> Result<Forest, String> {
        let saved: Saved<Forest> = serde_json::from_str(json).map_err(|e| {
            format!("not a {FORMAT} booster ({e}); models trained before 2026-11-27 (forust-ml) must be retrained")
        })?;
        if saved.format != FORMAT {
            return Err(format!("booster format {:?}, expected {FORMAT:?}", saved.format));
        }
        let forest = saved.forest;
        let n = forest.nodes.len();
        for (i, node) in forest.nodes.iter().enumerate() {
            let links_forward = |link: u32| (link as usize) > i && (link as usize) < n;
            if node.feature != LEAF
                && ((node.feature as usize) >= forest.features
                    || !links_forward(node.left)
                    || !links_forward(node.right)
                    || !links_forward(node.missing))
            {
                return Err(format!("node {i} links outside its tree or reads feature {}", node.feature));
            }
        }
        if let Some(root) = forest.roots.iter().find(|&&r| r as usize >= n) {
            return Err(format!("root {root} past the {n} nodes"));
        }
        Ok(forest)
    }
}
