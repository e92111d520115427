//! Small statistics shared by the simulator's ceiling and the models' scores.

/// Symbols that must share a timestamp to count as a cross-section: for the information
/// coefficient (a rank correlation across them) and for a market's common move.
pub const MIN_CROSS_SECTION: usize = 10;

/// Spearman's rank correlation (ties share their mean rank); 0 when either side is
/// constant or there are fewer than two values.
pub fn rank_correlation(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    if a.len() < 2 {
        return 0.0;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// 1-based ranks, ties sharing the mean of the ranks they span; NaN sorts last.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && x[order[end]] == x[order[start]] {
            end += 1;
        }
        let shared = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = shared;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlation_is_spearmans_with_shared_ranks_for_ties() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((rank_correlation(&x, &[10.0, 20.0, 30.0, 40.0, 50.0]) - 1.0).abs() < 1e-12);
        assert!((rank_correlation(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Monotone but not linear: rank correlation 1 where Pearson's would not be.
        assert!((rank_correlation(&x, &[1.0, 8.0, 27.0, 64.0, 1e6]) - 1.0).abs() < 1e-12);
        assert_eq!(rank_correlation(&x, &[0.0; 5]), 0.0, "a constant predictor has no IC");
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // Textbook example (ties in both): ρ = cov(ranks) / (σ σ).
        let rho = rank_correlation(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]);
        assert!((rho - 0.5).abs() < 1e-12, "{rho}");
    }
}
