//! The observable ceiling, measured: a Kalman filter that knows the generative model runs
//! beside the simulation on the prices it publishes, and its next-minute predictions are
//! scored on the same rounded closes a model is scored on.
//!
//! The closed form ([`MarketConfig::observable_ceiling`]) assumes continuous prices; real
//! ticks are rounded to a cent, and for a $20 stock at 15 % a year a minute's move is about
//! one cent. Rounding does two things to what can be predicted: it hides part of the
//! signal's drift, and it makes the rounded close itself predictable — a close rounded up
//! is, on average, followed by one nearer the true price (the tick grid's own "bounce").
//! So the filter tracks two hidden states, the true log price and the signal, and sees
//! each rounded log close as the true one plus rounding noise of variance tick²/(12 p²).
//! It is told each second's volatility, the signal's loading and half-life, and
//! (market-neutral variant) the market factor's draw; it predicts the rounded close's
//! next-minute log return as (true-price estimate − rounded close) + the signal's drift.
//! What it reaches on the generated rows is the honest target: a model that beat it would
//! be finding something the generator did not put there.

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

/// A two-state Kalman filter: the true log price and the latent signal, with their
/// covariance (symmetric, three numbers).
#[derive(Debug, Clone, Copy)]
struct Filter {
    level: f64,
    signal: f64,
    p_ll: f64,
    p_ls: f64,
    p_ss: f64,
}

impl Filter {
    /// Starts at the first rounded close, the signal at its stationary law.
    fn start(log_close: f64, rounding: f64) -> Self {
        Filter { level: log_close, signal: 0.0, p_ll: rounding, p_ls: 0.0, p_ss: 1.0 }
    }

    /// One second: the signal steps (ρ, innovation variance `q`), the log price moves by
    /// `drift` known to the filter plus σ·a·signal plus noise of variance `noise`·σ²; then
    /// the rounded log close `observed` (noise variance `rounding`) updates both states.
    #[allow(clippy::too_many_arguments)]
    fn step(&mut self, rho: f64, q: f64, sigma_a: f64, drift: f64, noise: f64, observed: f64, rounding: f64) {
        // Predict. signal' = ρ·s + η; level' = level + drift + σa·signal' + w.
        let (ss, ls, ll) = (self.p_ss, self.p_ls, self.p_ll);
        let ss1 = rho * rho * ss + q;
        let ls1 = rho * ls + sigma_a * ss1;
        let ll1 = ll + 2.0 * sigma_a * rho * ls + sigma_a * sigma_a * ss1 + noise;
        self.signal *= rho;
        self.level += drift + sigma_a * self.signal;
        // Update on the level.
        let s = ll1 + rounding.max(1e-18);
        let (k_l, k_s) = (ll1 / s, ls1 / s);
        let innovation = observed - self.level;
        self.level += k_l * innovation;
        self.signal += k_s * innovation;
        self.p_ll = ll1 - k_l * ll1;
        self.p_ls = ls1 - k_l * ls1;
        self.p_ss = ss1 - k_s * ls1;
    }
}

/// The filters' predictions for every second of every symbol, kept when asked for
/// ([`crate::MarketSim::keep_ceiling_predictions`]): a model's own test rows are then
/// scored beside the ceiling's on exactly those rows, which removes most of the noise of
/// comparing two directional accuracies measured on different rows.
#[derive(Debug, Clone)]
pub struct CeilingPredictions {
    start: Timestamp,
    /// Per symbol index, per second since `start`: `[own prices, market-neutral]` predicted
    /// next-minute log returns (NaN where none was made). f32: signs and ranks are what is
    /// scored, and it halves the memory (8 bytes per symbol-second).
    per_symbol: Vec<Vec<[f32; 2]>>,
}

impl CeilingPredictions {
    /// `[own prices, market-neutral]` predicted log return of symbol `index`'s close over
    /// the next 60 s, made at `ts`.
    pub fn at(&self, index: usize, ts: Timestamp) -> Option<[f64; 2]> {
        let since = ts.as_nanos() - self.start.as_nanos();
        if since < 0 || since % NANOS_PER_SECOND != 0 {
            return None;
        }
        let p = self.per_symbol.get(index)?.get((since / NANOS_PER_SECOND) as usize)?;
        p[0].is_finite().then(|| p.map(f64::from))
    }

    pub fn horizon_secs(&self) -> u32 {
        HORIZON_SECS
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    row: Timestamp,
    close: f64,
    predicted: [f64; 2],
}

#[derive(Debug, Clone)]
struct SymbolFilters {
    filters: Option<[Filter; 2]>,
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
    kept: Option<CeilingPredictions>,
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
        CeilingMeter {
            start,
            loading: (1..=HORIZON_SECS).map(|k| rho.powi(k as i32)).sum(),
            rho,
            innovation: 1.0 - rho * rho,
            strength: cfg.signal_strength,
            market_share: cfg.market_share,
            tick_sq: cfg.tick_size * cfg.tick_size,
            symbols: vec![SymbolFilters { filters: None, pending: VecDeque::new() }; symbols],
            sections: BTreeMap::new(),
            settled: [Tally::default(); 2],
            kept: None,
        }
    }

    /// From now on, keep every second's predictions.
    pub(crate) fn keep_predictions(&mut self) {
        let per_symbol = vec![Vec::new(); self.symbols.len()];
        self.kept.get_or_insert(CeilingPredictions { start: self.start, per_symbol });
    }

    pub(crate) fn predictions(&self) -> Option<&CeilingPredictions> {
        self.kept.as_ref()
    }

    /// One published second of symbol `index`: its close, that second's volatility and the
    /// market factor's draw.
    pub(crate) fn observe(&mut self, index: usize, ts: Timestamp, close: f64, sigma: f64, market_z: f64) {
        let (a, rho, q, m) = (self.strength, self.rho, self.innovation, self.market_share);
        let sym = &mut self.symbols[index];
        let log_close = close.ln();
        let rounding = self.tick_sq / (12.0 * close * close);
        match &mut sym.filters {
            None => sym.filters = Some([Filter::start(log_close, rounding); 2]),
            Some(filters) => {
                let variance = sigma * sigma;
                let [own, neutral] = filters;
                own.step(rho, q, sigma * a, 0.0, variance, log_close, rounding);
                let z = sigma * m.sqrt() * market_z;
                neutral.step(rho, q, sigma * a, z, (1.0 - m) * variance, log_close, rounding);
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
        let row = since >= WARM_UP_SECS && since % ROW_EVERY_SECS == 0;
        if !row && self.kept.is_none() {
            return;
        }
        let scale = sigma * a * self.loading;
        let filters = sym.filters.expect("started on the first close");
        let predicted = filters.map(|f| f.level - log_close + scale * f.signal);
        if row {
            sym.pending.push_back(Pending { row: ts, close, predicted });
        }
        if let Some(kept) = &mut self.kept {
            let seconds = &mut kept.per_symbol[index];
            let at = since as usize;
            if seconds.len() <= at {
                seconds.resize(at + 1, [f32::NAN; 2]);
            }
            seconds[at] = predicted.map(|p| p as f32);
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
