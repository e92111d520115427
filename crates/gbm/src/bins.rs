//! Values to one-byte bins: what the booster trains on.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// The most value bins a feature can have: with bin 0 for missing values, a bin fits a byte.
pub(crate) const MAX_VALUE_BINS: usize = 255;

/// Per-feature thresholds that turn values into one-byte bins.
///
/// Bin 0 holds missing values (NaN); bin `k ≥ 1` holds the values with exactly `k − 1` cuts
/// at or below them. So "bin in `1..=j + 1`" is exactly "value < `cuts[j]`", the test
/// prediction makes on raw values: a row's training-time prediction (walked on bins) and its
/// prediction from the saved trees (walked on values) agree bit for bit.
#[derive(Debug, Clone)]
pub(crate) struct Cuts {
    per_feature: Vec<Vec<f64>>,
}

impl Cuts {
    /// Quantile cuts giving each feature at most `value_bins` bins of about equal counts
    /// (every distinct value its own bin when there are few).
    pub(crate) fn fit(x: ArrayView2<'_, f64>, value_bins: usize) -> Cuts {
        debug_assert!((2..=MAX_VALUE_BINS).contains(&value_bins));
        let per_feature = (0..x.ncols())
            .into_par_iter()
            .map(|f| {
                let mut values: Vec<f64> = x.column(f).iter().copied().filter(|v| !v.is_nan()).collect();
                values.sort_unstable_by(f64::total_cmp);
                quantile_cuts(&values, value_bins)
            })
            .collect();
        Cuts { per_feature }
    }

    pub(crate) fn features(&self) -> usize {
        self.per_feature.len()
    }

    /// The thresholds of `feature`, ascending: `cuts(f)[j]` splits bins `1..=j + 1` (left)
    /// from the rest of the values.
    pub(crate) fn cuts(&self, feature: usize) -> &[f64] {
        &self.per_feature[feature]
    }

    fn bin(cuts: &[f64], value: f64) -> u8 {
        if value.is_nan() {
            0
        } else {
            // At most 254 cuts, so at most 255.
            (1 + cuts.partition_point(|&c| c <= value)) as u8
        }
    }

    /// Bins of every row of `x`.
    pub(crate) fn bin_rows(&self, x: ArrayView2<'_, f64>) -> Binned {
        let width = self.features();
        let mut by_row = vec![0u8; x.nrows() * width];
        if width > 0 {
            by_row.par_chunks_mut(width * 4096).enumerate().for_each(|(chunk, out)| {
                for (i, row_bins) in out.chunks_exact_mut(width).enumerate() {
                    let row = x.row(chunk * 4096 + i);
                    for ((bin, &value), cuts) in row_bins.iter_mut().zip(row.iter()).zip(&self.per_feature) {
                        *bin = Self::bin(cuts, value);
                    }
                }
            });
        }
        let mut by_feature = vec![0u8; by_row.len()];
        for (f, column) in by_feature.chunks_exact_mut(x.nrows().max(1)).enumerate().take(width) {
            for (r, bin) in column.iter_mut().enumerate() {
                *bin = by_row[r * width + f];
            }
        }
        Binned { rows: x.nrows(), width, by_row, by_feature }
    }
}

/// Binned rows, twice: row-major for histograms (a row's bins are one contiguous run, read
/// once), column-major for partitions and tree walks (a node's rows, ascending, read one
/// feature's bytes nearly in sequence).
#[derive(Debug, Clone)]
pub(crate) struct Binned {
    rows: usize,
    width: usize,
    by_row: Vec<u8>,
    by_feature: Vec<u8>,
}

impl Binned {
    pub(crate) fn row(&self, row: usize) -> &[u8] {
        &self.by_row[row * self.width..(row + 1) * self.width]
    }

    pub(crate) fn feature(&self, feature: usize) -> &[u8] {
        &self.by_feature[feature * self.rows..(feature + 1) * self.rows]
    }

    pub(crate) fn get(&self, row: usize, feature: usize) -> u8 {
        self.by_feature[feature * self.rows + row]
    }
}

/// Cuts for one feature's sorted, NaN-free values.
fn quantile_cuts(sorted: &[f64], value_bins: usize) -> Vec<f64> {
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    if distinct.len() <= value_bins {
        // Every distinct value but the smallest starts a bin.
        return distinct.get(1..).unwrap_or_default().to_vec();
    }
    let mut cuts: Vec<f64> = Vec::with_capacity(value_bins - 1);
    for k in 1..value_bins {
        let cut = sorted[k * sorted.len() / value_bins];
        // Strictly increasing, and above the minimum so that no bin is empty by design.
        if cut > sorted[0] && cuts.last().is_none_or(|&last| cut > last) {
            cuts.push(cut);
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn bins_agree_with_the_value_test_prediction_makes() {
        let values = [f64::NAN, -1.0, 0.0, 0.5, 1.0, 1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY];
        let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
        let cuts = Cuts::fit(x.view(), 3);
        let binned = cuts.bin_rows(x.view());
        let bins = binned.feature(0);
        assert_eq!(bins[0], 0, "NaN is bin 0");
        for (r, &b) in bins.iter().enumerate() {
            assert_eq!((binned.get(r, 0), binned.row(r)), (b, &[b][..]), "both layouts agree");
        }
        for (j, &cut) in cuts.cuts(0).iter().enumerate() {
            for (&v, &b) in values.iter().zip(bins).skip(1) {
                assert_eq!(v < cut, (b as usize) <= j + 1, "value {v}, bin {b}, cut {cut}");
            }
        }
    }

    #[test]
    fn few_distinct_values_get_a_bin_each_and_many_get_quantiles() {
        let few = quantile_cuts(&[1.0, 1.0, 2.0, 3.0, 3.0], 255);
        assert_eq!(few, vec![2.0, 3.0]);
        let many: Vec<f64> = (0..10_000).map(f64::from).collect();
        let cuts = quantile_cuts(&many, 4);
        assert_eq!(cuts, vec![2500.0, 5000.0, 7500.0]);
        assert!(quantile_cuts(&[], 255).is_empty());
    }
}
