use serde::{Deserialize, Serialize};
use tickloop_core::Timestamp;

/// Equity at one sample time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    pub ts: Timestamp,
    pub equity: f64,
}

/// The headline numbers of a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub initial_equity: f64,
    pub final_equity: f64,
    pub total_return: f64,
    /// Mean over standard deviation of sample returns, times √(periods per year).
    pub sharpe: f64,
    /// Largest fall from a running peak, as a fraction of the peak.
    pub max_drawdown: f64,
    pub trades: u64,
    pub fees_paid: f64,
    /// Traded notional over initial capital.
    pub turnover: f64,
}

pub(crate) struct Trading {
    pub trades: u64,
    pub fees_paid: f64,
    pub traded_notional: f64,
}

impl Metrics {
    pub(crate) fn compute(initial: f64, equity: &[EquityPoint], trading: Trading, periods_per_year: f64) -> Self {
        let final_equity = equity.last().map_or(initial, |p| p.equity);
        let mut prev = initial;
        let (mut sum, mut sum_sq, mut n) = (0.0, 0.0, 0u64);
        let (mut peak, mut max_drawdown) = (initial, 0.0f64);
        for p in equity {
            let r = p.equity / prev - 1.0;
            prev = p.equity;
            sum += r;
            sum_sq += r * r;
            n += 1;
            peak = peak.max(p.equity);
            max_drawdown = max_drawdown.max(1.0 - p.equity / peak);
        }
        let sharpe = if n > 1 {
            let mean = sum / n as f64;
            let var = (sum_sq - n as f64 * mean * mean) / (n - 1) as f64;
            if var > 0.0 { mean / var.sqrt() * periods_per_year.sqrt() } else { 0.0 }
        } else {
            0.0
        };
        Metrics {
            initial_equity: initial,
            final_equity,
            total_return: final_equity / initial - 1.0,
            sharpe,
            max_drawdown,
            trades: trading.trades,
            fees_paid: trading.fees_paid,
            turnover: trading.traded_notional / initial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[f64]) -> Vec<EquityPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &equity)| EquityPoint { ts: Timestamp::from_secs(i as i64), equity })
            .collect()
    }

    #[test]
    fn drawdown_return_and_sharpe_by_hand() {
        let none = Trading { trades: 0, fees_paid: 0.0, traded_notional: 0.0 };
        let m = Metrics::compute(100.0, &curve(&[110.0, 99.0, 120.0]), none, 1.0);
        assert!((m.total_return - 0.2).abs() < 1e-12);
        assert!((m.max_drawdown - 0.1).abs() < 1e-12, "110 → 99");
        let r = [0.1, -0.1, 120.0 / 99.0 - 1.0];
        let mean = r.iter().sum::<f64>() / 3.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe - mean / sd).abs() < 1e-12);
        let flat = Metrics::compute(
            100.0,
            &curve(&[100.0, 100.0]),
            Trading { trades: 0, fees_paid: 0.0, traded_notional: 0.0 },
            1.0,
        );
        assert_eq!(flat.sharpe, 0.0);
    }
}
