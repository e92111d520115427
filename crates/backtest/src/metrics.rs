use serde::{Deserialize, Serialize};
use tickloop_core::Timestamp;

/// Equity at one sample time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    pub ts: Timestamp,
    pub equity: f64,
}

/// The headline numbers of a backtest. Per-sample statistics use the equity samples
/// (`report.sample_secs` apart); annualised figures scale by `report.periods_per_year`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub initial_equity: f64,
    pub final_equity: f64,
    pub total_return: f64,
    /// Mean sample return × periods per year (arithmetic, not compounded).
    pub annualized_return: f64,
    /// Standard deviation of sample returns × √(periods per year).
    pub annualized_volatility: f64,
    /// Mean over standard deviation of sample returns, times √(periods per year).
    pub sharpe: f64,
    /// Mean over downside deviation (root mean square of negative sample returns), times
    /// √(periods per year).
    pub sortino: f64,
    /// Annualised return over maximum drawdown.
    pub calmar: f64,
    /// Largest fall from a running peak, as a fraction of the peak.
    pub max_drawdown: f64,
    /// Longest stretch of event time spent below a previous peak, in seconds.
    pub max_drawdown_secs: i64,
    /// Share of sample returns above zero.
    pub positive_periods: f64,
    pub trades: u64,
    /// Fills that reduced a position.
    pub closing_trades: u64,
    /// Share of closing trades that closed above the average entry (below, for shorts),
    /// before fees.
    pub hit_rate: f64,
    /// Mean gross exposure (Σ |position × price|) over equity, across equity samples.
    pub exposure: f64,
    pub fees_paid: f64,
    /// Traded notional over initial capital.
    pub turnover: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Trading {
    pub trades: u64,
    pub closing_trades: u64,
    pub winning_closes: u64,
    pub fees_paid: f64,
    pub traded_notional: f64,
    /// Σ exposure over the equity samples (one per sample).
    pub exposure_sum: f64,
}

impl Trading {
    /// Adds a fold's counts, its money amounts scaled to the chained equity.
    pub fn add_scaled(&mut self, other: &Trading, scale: f64) {
        self.trades += other.trades;
        self.closing_trades += other.closing_trades;
        self.winning_closes += other.winning_closes;
        self.fees_paid += other.fees_paid * scale;
        self.traded_notional += other.traded_notional * scale;
        self.exposure_sum += other.exposure_sum;
    }
}

impl Metrics {
    /// This metric by its name in `report.json` (`sharpe`, `total_return`…).
    pub fn get(&self, name: &str) -> Option<f64> {
        serde_json::to_value(self).ok()?.get(name)?.as_f64()
    }

    /// The names [`Metrics::get`] knows.
    pub fn names() -> Vec<String> {
        match serde_json::to_value(Metrics::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
    pub(crate) fn compute(initial: f64, equity: &[EquityPoint], trading: Trading, periods_per_year: f64) -> Self {
        let final_equity = equity.last().map_or(initial, |p| p.equity);
        let returns = sample_returns(initial, equity);
        let n = returns.len() as f64;
        let mean = if returns.is_empty() { 0.0 } else { returns.iter().sum::<f64>() / n };
        let sd = if returns.len() > 1 {
            (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        let downside =
            if returns.is_empty() { 0.0 } else { (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt() };
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let annual = periods_per_year.sqrt();

        let (mut peak, mut peak_ts, mut max_drawdown, mut max_drawdown_secs) = (initial, None, 0.0f64, 0i64);
        for p in equity {
            if p.equity >= peak {
                peak = p.equity;
                peak_ts = Some(p.ts);
            } else {
                max_drawdown = max_drawdown.max(1.0 - p.equity / peak);
                let since = peak_ts.map_or(0, |t: tickloop_core::Timestamp| {
                    (p.ts.as_nanos() - t.as_nanos()) / tickloop_core::NANOS_PER_SECOND
                });
                max_drawdown_secs = max_drawdown_secs.max(since);
            }
        }
        let annualized_return = mean * periods_per_year;
        Metrics {
            initial_equity: initial,
            final_equity,
            total_return: final_equity / initial - 1.0,
            annualized_return,
            annualized_volatility: sd * annual,
            sharpe: ratio(mean, sd) * annual,
            sortino: ratio(mean, downside) * annual,
            calmar: ratio(annualized_return, max_drawdown),
            max_drawdown,
            max_drawdown_secs,
            positive_periods: if returns.is_empty() {
                0.0
            } else {
                returns.iter().filter(|&&r| r > 0.0).count() as f64 / n
            },
            trades: trading.trades,
            closing_trades: trading.closing_trades,
            hit_rate: ratio(trading.winning_closes as f64, trading.closing_trades as f64),
            exposure: if equity.is_empty() { 0.0 } else { trading.exposure_sum / equity.len() as f64 },
            fees_paid: trading.fees_paid,
            turnover: trading.traded_notional / initial,
        }
    }
}

/// The return of each sample of `equity` over the one before (the first over `initial`).
pub(crate) fn sample_returns(initial: f64, equity: &[EquityPoint]) -> Vec<f64> {
    equity
        .iter()
        .scan(initial, |prev, p| {
            let r = p.equity / *prev - 1.0;
            *prev = p.equity;
            Some(r)
        })
        .collect()
}

/// An equity curve of `values`, a second apart from the epoch (for tests).
#[cfg(test)]
pub(crate) fn curve(values: &[f64]) -> Vec<EquityPoint> {
    values.iter().enumerate().map(|(i, &equity)| EquityPoint { ts: Timestamp::from_secs(i as i64), equity }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_by_hand() {
        let none = Trading::default;
        let m = Metrics::compute(100.0, &curve(&[110.0, 99.0, 120.0, 108.0]), none(), 4.0);
        let r = [0.1, -0.1, 120.0 / 99.0 - 1.0, 108.0 / 120.0 - 1.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        let downside = ((0.01 + 0.01) / 4.0f64).sqrt();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(m.total_return, 0.08));
        assert!(close(m.max_drawdown, 0.1), "110 → 99 beats 120 → 108 (both 10 %)");
        assert!(close(m.annualized_return, mean * 4.0));
        assert!(close(m.annualized_volatility, sd * 2.0));
        assert!(close(m.sharpe, mean / sd * 2.0));
        assert!(close(m.sortino, mean / downside * 2.0));
        assert!(close(m.calmar, mean * 4.0 / 0.1));
        assert_eq!(m.max_drawdown_secs, 1, "each fall lasted one sample");
        assert!(close(m.positive_periods, 0.5));
        let flat = Metrics::compute(100.0, &curve(&[100.0, 100.0]), none(), 1.0);
        let traded = Trading { closing_trades: 4, winning_closes: 3, exposure_sum: 1.5, ..Trading::default() };
        let m = Metrics::compute(100.0, &curve(&[100.0, 101.0, 102.0]), traded, 1.0);
        assert!(close(m.hit_rate, 0.75) && close(m.exposure, 0.5));
        assert_eq!((flat.sharpe, flat.sortino, flat.calmar), (0.0, 0.0, 0.0));
    }
}
