//! The benchmark a strategy is judged against: buying and holding what it could trade.
//!
//! A Sharpe ratio alone cannot say whether a strategy added anything to owning the market
//! it traded; tear sheets (QuantStats, pyfolio) put it beside a benchmark, and so does the
//! report. The benchmark is followed tick by tick inside the run, in event order, so it is
//! as deterministic as the strategy's own equity.

use serde::{Deserialize, Serialize};
use tickloop_core::SymbolId;

use crate::metrics::{EquityPoint, sample_returns};

/// Equal weights of the initial capital, each bought at its symbol's first traded close
/// and held; a symbol not yet seen is still cash.
#[derive(Debug, Clone)]
pub(crate) struct BuyAndHold {
    /// Index into `first` per symbol, `None` for symbols outside the benchmark.
    members: Vec<Option<usize>>,
    first: Vec<f64>,
    last: Vec<f64>,
    /// Σ last / first over the members seen so far.
    growth: f64,
    seen: usize,
}

impl BuyAndHold {
    /// Every one of `symbols` symbols, or just `only`.
    pub(crate) fn new(symbols: usize, only: Option<SymbolId>) -> Self {
        let members: Vec<Option<usize>> = match only {
            Some(id) => (0..symbols).map(|i| (i == id.index()).then_some(0)).collect(),
            None => (0..symbols).map(Some).collect(),
        };
        let count = members.iter().flatten().count();
        BuyAndHold { members, first: vec![f64::NAN; count], last: vec![f64::NAN; count], growth: 0.0, seen: 0 }
    }

    pub(crate) fn on_close(&mut self, symbol: SymbolId, close: f64) {
        let Some(&Some(k)) = self.members.get(symbol.index()) else { return };
        // NaN fails this too: not a price.
        if close.is_nan() || close <= 0.0 {
            return;
        }
        if self.first[k].is_nan() {
            self.first[k] = close;
            self.last[k] = close;
            self.growth += 1.0;
            self.seen += 1;
            return;
        }
        self.growth += (close - self.last[k]) / self.first[k];
        self.last[k] = close;
    }

    /// What `initial` bought this way is worth now.
    pub(crate) fn value(&self, initial: f64) -> f64 {
        let count = self.first.len().max(1) as f64;
        initial / count * (self.growth + (self.first.len() - self.seen) as f64)
    }
}

/// The benchmark's curve and the strategy's figures against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    /// What was held: `equal-weight buy-and-hold of 200 symbols`, or `buy-and-hold of SPY`.
    pub name: String,
    pub total_return: f64,
    /// The strategy's total return less the benchmark's.
    pub excess_return: f64,
    /// Annualised mean sample return not explained by the benchmark (`mean − β·mean_b`).
    pub alpha: f64,
    /// Covariance of sample returns with the benchmark's over the benchmark's variance.
    pub beta: f64,
    pub correlation: f64,
    /// Standard deviation of the sample return difference, annualised.
    pub tracking_error: f64,
    /// Annualised mean return difference over the tracking error.
    pub information_ratio: f64,
    /// The benchmark's equity at each of the strategy's samples, from the same capital.
    pub equity: Vec<EquityPoint>,
}

impl Benchmark {
    /// `strategy` and `benchmark` are sampled at the same times from `initial`.
    pub(crate) fn compute(
        name: String,
        initial: f64,
        strategy: &[EquityPoint],
        benchmark: Vec<EquityPoint>,
        periods_per_year: f64,
    ) -> Benchmark {
        let (rs, rb) = (sample_returns(initial, strategy), sample_returns(initial, &benchmark));
        let n = rs.len().min(rb.len());
        let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
        let (rs, rb) = (&rs[..n], &rb[..n]);
        let (ms, mb) = (mean(rs), mean(rb));
        let denominator = (n.max(2) - 1) as f64;
        let cov = rs.iter().zip(rb).map(|(s, b)| (s - ms) * (b - mb)).sum::<f64>() / denominator;
        let var_s = rs.iter().map(|s| (s - ms).powi(2)).sum::<f64>() / denominator;
        let var_b = rb.iter().map(|b| (b - mb).powi(2)).sum::<f64>() / denominator;
        let ratio = |a: f64, b: f64| if b > 0.0 && a.is_finite() { a / b } else { 0.0 };
        let beta = ratio(cov, var_b);
        let difference: Vec<f64> = rs.iter().zip(rb).map(|(s, b)| s - b).collect();
        let md = mean(&difference);
        let sd_difference = (difference.iter().map(|d| (d - md).powi(2)).sum::<f64>() / denominator).sqrt();
        let tracking_error = sd_difference * periods_per_year.sqrt();
        let total = |curve: &[EquityPoint]| curve.last().map_or(0.0, |p| p.equity / initial - 1.0);
        let total_return = total(&benchmark);
        Benchmark {
            name,
            total_return,
            excess_return: total(strategy) - total_return,
            alpha: (ms - beta * mb) * periods_per_year,
            beta,
            correlation: ratio(cov, (var_s * var_b).sqrt()),
            tracking_error,
            information_ratio: ratio(md * periods_per_year, tracking_error),
            equity: benchmark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::curve;

    #[test]
    fn buy_and_hold_weights_each_symbol_equally_from_its_first_close() {
        let mut b = BuyAndHold::new(2, None);
        assert_eq!(b.value(1_000.0), 1_000.0, "all cash before any tick");
        b.on_close(SymbolId::new(0), 10.0);
        b.on_close(SymbolId::new(0), 12.0); // +20 % on half the capital
        assert!((b.value(1_000.0) - 1_100.0).abs() < 1e-9);
        b.on_close(SymbolId::new(1), 50.0);
        b.on_close(SymbolId::new(1), 45.0); // −10 % on the other half
        b.on_close(SymbolId::new(1), f64::NAN); // not a price
        assert!((b.value(1_000.0) - 1_050.0).abs() < 1e-9, "{}", b.value(1_000.0));
        let mut one = BuyAndHold::new(2, Some(SymbolId::new(1)));
        one.on_close(SymbolId::new(0), 10.0);
        one.on_close(SymbolId::new(1), 50.0);
        one.on_close(SymbolId::new(1), 55.0);
        assert!((one.value(1_000.0) - 1_100.0).abs() < 1e-9, "only the named symbol counts");
    }

    #[test]
    fn a_strategy_that_is_twice_the_benchmark_has_beta_two_and_no_alpha() {
        let bench = [100.0, 101.0, 99.0, 102.0, 101.5, 103.0];
        let mut strategy = vec![100.0];
        for w in bench.windows(2) {
            let last = *strategy.last().unwrap();
            strategy.push(last * (1.0 + 2.0 * (w[1] / w[0] - 1.0)));
        }
        let b = Benchmark::compute("b".into(), 100.0, &curve(&strategy[1..]), curve(&bench[1..]), 252.0);
        assert!((b.beta - 2.0).abs() < 1e-9 && b.alpha.abs() < 1e-9 && (b.correlation - 1.0).abs() < 1e-9, "{b:?}");
        assert!((b.total_return - 0.03).abs() < 1e-12);
        assert!(b.tracking_error > 0.0 && b.information_ratio > 0.0, "it beat a rising benchmark: {b:?}");
        let same = Benchmark::compute("b".into(), 100.0, &curve(&bench[1..]), curve(&bench[1..]), 252.0);
        assert_eq!((same.excess_return, same.tracking_error, same.information_ratio), (0.0, 0.0, 0.0));
    }
}
