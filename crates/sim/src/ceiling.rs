//! The observable ceiling, measured: a Kalman filter that knows the generative model runs
//! beside the simulation on the prices it publishes, and its next-minute predictions are
//! scored on the same rounded closes a model is scored on.
//!
//! The closed form ([`MarketConfig::observable_ceiling`]) assumes continuous prices; real
//! ticks are rounded to a cent, and for a $20 stock at 15 % a year a minute's move is about
//! one cent, so rounding noise takes a large share of what the formula says is there. The
//! filter here is told each second's volatility, the signal's loading and half-life, and
//! (market-neutral variant) the market factor's draw, and treats the rounding as
//! measurement noise; what it reaches on the generated rows is the honest target.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tickloop_core::{MIN_CROSS_SECTION, NANOS_PER_SECOND, Timestamp, rank_correlation};

use crate::config::{MarketConfig, signal_rho};

/// Rows are scored every this many seconds of each symbol, as the GBM's rows are.
const ROW_EVERY_SECS: i64 = 10;
/// No row before the filter has had this long to settle (and features to warm up).
const WARM_UP_SECS: i64 = 900;
pub(crate) const HORIZON_SECS: u32 = 60;

/// The filter's score on the generated rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub horizon_secs: u32,
    /// Rows scored (one per symbol every 10 s after the first 15 minutes, with a label).
    pub rows: u64,
    pub directional_accuracy: f64,
    /// Mean rank correlation across symbols at each row time.
    pub information_coefficient: f64,
    /// `1 − Σ(y − ŷ)² / Σy²` of the predicted log returns.
    pub r2: f64,
}

/// The filter's scores from one symbol's prices and market-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasuredCeilings {
    pub own_prices: Measured,
    pub market_neutral: Measured,
}

#[derive(Debug, Clone, Copy)]
struct Filter {
    signal: f64,
    variance: f64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    row: Timestamp,
    close: f64,
    predicted: [f64; 2],
}

#[derive(Debug, Clone)]
struct SymbolFilters {
    last_log_close: Option<f64>,
    filters: [Filter; 2],
    pending: VecDeque<Pending>,
}

/// Runs the filters and collects `(predicted, realised)` pairs per row time.
#[derive(Debug, Clone)]
pub(crate) struct CeilingMeter {
    start: Timestamp,
    loading: f64,
    rho: f64,
    innovation: f64,
    strength: f64,
    market_share: f64,
    tick_sq: f64,
    symbols: Vec<SymbolFilters>,
    /// Row time → per symbol scored, `[own, neutral]` (predicted, realised), until every
    /// symbol has passed the row's horizon; then folded into `settled`, so a `feed` that
    /// runs for days holds only the last minute's rows.
    sections: BTreeMap<Timestamp, Vec<[(f64, f64); 2]>>,
    settled: [Tally; 2],
}

/// Running sums behind a [`Measured`].
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    rows: u64,
    moved: u64,
    right: u64,
    sse: f64,
    sst: f64,
    ic_sum: f64,
    sections: usize,
}

impl Tally {
    fn add_section(&mut self, pairs: &[[(f64, f64); 2]], k: usize, p: &mut Vec<f64>, y: &mut Vec<f64>) {
        p.clear();
        y.clear();
        for pair in pairs {
            let (predicted, realised) = pair[k];
            self.rows += 1;
            if realised != 0.0 {
                self.moved += 1;
                self.right += u64::from(predicted != 0.0 && predicted.signum() == realised.signum());
            }
            self.sse += (realised - predicted) * (realised - predicted);
            self.sst += realised * realised;
            p.push(predicted);
            y.push(realised);
        }
        if pairs.len() >= MIN_CROSS_SECTION {
            self.ic_sum += rank_correlation(p, y);
            self.sections += 1;
        }
    }

    fn measured(&self) -> Measured {
        Measured {
            horizon_secs: HORIZON_SECS,
            rows: self.rows,
            directional_accuracy: self.right as f64 / self.moved.max(1) as f64,
            information_coefficient: self.ic_sum / self.sections.max(1) as f64,
            r2: if self.sst > 0.0 { 1.0 - self.sse / self.sst } else { 0.0 },
        }
    }
}

impl CeilingMeter {
    pub(crate) fn new(cfg: &MarketConfig, start: Timestamp, symbols: usize) -> Self {
        let rho = signal_rho(cfg.signal_half_life_secs);
        let filter = Filter { signal: 0.0, variance: 1.0 };
        CeilingMeter {
            start,
            loading: (1..=HORIZON_SECS).map(|k| rho.powi(k as i32)).sum(),
            rho,
            innovation: 1.0 - rho * rho,
            strength: cfg.signal_strength,
            market_share: cfg.market_share,
            tick_sq: cfg.tick_size * cfg.tick_size,
            symbols: vec![
                SymbolFilters { last_log_close: None, filters: [filter; 2], pending: VecDeque::new() };
                symbols
            ],
            sections: BTreeMap::new(),
            settled: [Tally::default(); 2],
        }
    }

    /// One published second of symbol `index`: its close, that second's volatility and the
    /// market factor's draw.
    pub(crate) fn observe(&mut self, index: usize, ts: Timestamp, close: f64, sigma: f64, market_z: f64) {
        let (a, rho, q, m) = (self.strength, self.rho, self.innovation, self.market_share);
        let sym = &mut self.symbols[index];
        let log_close = close.ln();
        if let Some(last) = sym.last_log_close.replace(log_close) {
            let y = (log_close - last) / sigma;
            // Rounding each close to a tick adds a return noise of variance tick² / (6 p²).
            let rounding = self.tick_sq / (6.0 * close * close * sigma * sigma);
            for (k, f) in sym.filters.iter_mut().enumerate() {
                let (observed, noise) =
                    if k == 0 { (y, 1.0 + rounding) } else { (y - m.sqrt() * market_z, 1.0 - m + rounding) };
                f.signal *= rho;
                f.variance = rho * rho * f.variance + q;
                let gain = f.variance * a / (a * a * f.variance + noise);
                f.signal += gain * (observed - a * f.signal);
                f.variance *= 1.0 - gain * a;
            }
        }
        while let Some(p) = sym.pending.front().copied() {
            if p.row.add_nanos(i64::from(HORIZON_SECS) * NANOS_PER_SECOND) > ts {
                break;
            }
            sym.pending.pop_front();
            let realised = (close / p.close).ln();
            self.sections.entry(p.row).or_default().push([(p.predicted[0], realised), (p.predicted[1], realised)]);
        }
        let since = (ts.as_nanos() - self.start.as_nanos()) / NANOS_PER_SECOND;
        if since >= WARM_UP_SECS && since % ROW_EVERY_SECS == 0 {
            let scale = sigma * a * self.loading;
            let predicted = [scale * sym.filters[0].signal, scale * sym.filters[1].signal];
            sym.pending.push_back(Pending { row: ts, close, predicted });
        }
    }

    /// Every symbol has published every second before `through`: rows whose horizon ends
    /// before it are complete and fold into the running sums.
    pub(crate) fn settle(&mut self, through: Timestamp) {
        let (mut p, mut y) = (Vec::new(), Vec::new());
        while let Some(entry) = self.sections.first_entry() {
            if entry.key().add_nanos(i64::from(HORIZON_SECS) * NANOS_PER_SECOND) >= through {
                break;
            }
            let pairs = entry.remove();
            for (k, tally) in self.settled.iter_mut().enumerate() {
                tally.add_section(&pairs, k, &mut p, &mut y);
            }
        }
    }

    pub(crate) fn measured(&self) -> MeasuredCeilings {
        let (mut p, mut y) = (Vec::new(), Vec::new());
        let mut tallies = self.settled;
        for pairs in self.sections.values() {
            for (k, tally) in tallies.iter_mut().enumerate() {
                tally.add_section(pairs, k, &mut p, &mut y);
            }
        }
        MeasuredCeilings { own_prices: tallies[0].measured(), market_neutral: tallies[1].measured() }
    }
}
