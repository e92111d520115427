use std::collections::BTreeSet;

use tickloop_core::{NANOS_PER_HOUR, NANOS_PER_SECOND, Source, SourceError, SymbolId, SymbolTable, Tick, Timestamp};

use crate::ceiling::{CeilingMeter, CeilingPredictions, MeasuredCeilings};
use crate::config::{ConfigError, MarketConfig};
use crate::path::{AnomalyLabel, Dynamics, SymbolParams, SymbolPath};
use tickloop_core::Rng;

/// Stream ids 1..=N belong to symbols; these sit far above them.
const MARKET_STREAM: u64 = 1 << 40;
const NAMES_STREAM: u64 = (1 << 40) + 1;

/// The synthetic market over `[start, end)`, one tick per symbol per second.
///
/// It can be drained in two orders that give identical ticks: as a [`Source`], in replay
/// order `(ts_event, symbol)`, for feeds and live demos; or block by block with
/// [`MarketSim::next_block`], one symbol at a time, which is how the lake writer gets
/// `(symbol, ts)`-sorted row groups without buffering a whole hour of every symbol.
#[derive(Debug)]
pub struct MarketSim {
    cfg: MarketConfig,
    dynamics: Dynamics,
    symbols: SymbolTable,
    paths: Vec<SymbolPath>,
    market_rng: Rng,
    next_ts: Timestamp,
    end: Timestamp,
    /// Index of the next symbol to emit within the current second (time-major mode).
    cursor: usize,
    market_z: f64,
    labels: Vec<AnomalyLabel>,
    block: Vec<Tick>,
    ceiling: CeilingMeter,
}

impl MarketSim {
    pub fn new(cfg: MarketConfig, start: Timestamp, end: Timestamp) -> Result<Self, ConfigError> {
        cfg.validate()?;
        if start.as_nanos() % NANOS_PER_SECOND != 0 || end < start {
            return Err(ConfigError("start must be a whole second and end must not precede it".into()));
        }
        let names = ticker_names(cfg.seed, cfg.symbols);
        let mut symbols = SymbolTable::new();
        let mut paths = Vec::with_capacity(names.len());
        for name in names {
            let id =
                symbols.intern_with(&name, &cfg.exchange, &cfg.currency).map_err(|e| ConfigError(e.to_string()))?;
            paths.push(SymbolPath::new(&cfg, id, name));
        }
        Ok(MarketSim {
            ceiling: CeilingMeter::new(&cfg, start, paths.len()),
            dynamics: Dynamics::new(&cfg),
            market_rng: Rng::new(cfg.seed, MARKET_STREAM),
            cfg,
            symbols,
            paths,
            next_ts: start,
            end,
            cursor: 0,
            market_z: 0.0,
            labels: Vec::new(),
            block: Vec::new(),
        })
    }

    pub fn config(&self) -> &MarketConfig {
        &self.cfg
    }

    pub fn params(&self) -> impl Iterator<Item = &SymbolParams> {
        self.paths.iter().map(|p| &p.params)
    }

    /// Anomalies planted so far that were not taken yet, ordered by `(start, symbol)`.
    pub fn take_labels(&mut self) -> Vec<AnomalyLabel> {
        let mut labels = std::mem::take(&mut self.labels);
        labels.sort_by(|a, b| (a.start, &a.symbol).cmp(&(b.start, &b.symbol)));
        labels
    }

    /// What the Kalman filter that knows the generative model reached on the ticks
    /// generated so far: the observable ceiling, measured on rounded prices (see
    /// [`MeasuredCeilings`]).
    pub fn measured_ceilings(&self) -> MeasuredCeilings {
        self.ceiling.measured()
    }

    /// Keeps the ceiling filter's prediction for every second from now on (8 bytes per
    /// symbol-second), for [`MarketSim::ceiling_predictions`].
    pub fn keep_ceiling_predictions(&mut self) {
        self.ceiling.keep_predictions();
    }

    /// Every second's ceiling predictions since [`MarketSim::keep_ceiling_predictions`],
    /// by symbol index (the order of [`Source::symbols`]).
    pub fn ceiling_predictions(&self) -> Option<&CeilingPredictions> {
        self.ceiling.predictions()
    }

    /// The event time of the next tick (the start of the next block).
    pub fn position(&self) -> Timestamp {
        self.next_ts
    }

    pub fn is_done(&self) -> bool {
        self.next_ts >= self.end
    }

    /// Generates up to `max_secs` seconds (never crossing an hour boundary, so one block is
    /// at most one lake partition) symbol by symbol, calling `emit` with each symbol's
    /// ticks in time order. Returns the block's `[start, end)`, or `None` when done.
    ///
    /// # Panics
    /// If called while a second is half-emitted by the [`Source`] interface.
    pub fn next_block(
        &mut self,
        max_secs: i64,
        mut emit: impl FnMut(SymbolId, &[Tick]),
    ) -> Option<(Timestamp, Timestamp)> {
        assert_eq!(self.cursor, 0, "next_block called in the middle of a second");
        if self.is_done() {
            return None;
        }
        let start = self.next_ts;
        let hour_end = start.floor_hour().add_nanos(NANOS_PER_HOUR);
        let end = start.add_nanos(max_secs.max(1) * NANOS_PER_SECOND).min(hour_end).min(self.end);
        let seconds = ((end.as_nanos() - start.as_nanos()) / NANOS_PER_SECOND) as usize;
        let market: Vec<f64> = (0..seconds).map(|_| self.market_rng.normal()).collect();
        for (index, path) in self.paths.iter_mut().enumerate() {
            self.block.clear();
            for (i, &z) in market.iter().enumerate() {
                let ts = start.add_nanos(i as i64 * NANOS_PER_SECOND);
                let tick = path.step(ts, z, &self.cfg, &self.dynamics, &mut self.labels);
                self.ceiling.observe(index, ts, tick.close.get(), path.last_sigma, z);
                self.block.push(tick);
            }
            if let Some(first) = self.block.first() {
                emit(first.symbol, &self.block);
            }
        }
        self.next_ts = end;
        self.ceiling.settle(end);
        Some((start, end))
    }

    fn total_ticks_left(&self) -> u64 {
        let secs = (self.end.as_nanos() - self.next_ts.as_nanos()).max(0) / NANOS_PER_SECOND;
        (secs as u64 * self.paths.len() as u64).saturating_sub(self.cursor as u64)
    }
}

impl Source for MarketSim {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        if self.is_done() {
            return Ok(None);
        }
        if self.cursor == 0 {
            self.market_z = self.market_rng.normal();
        }
        let ts = self.next_ts;
        let path = &mut self.paths[self.cursor];
        let tick = path.step(ts, self.market_z, &self.cfg, &self.dynamics, &mut self.labels);
        self.ceiling.observe(self.cursor, ts, tick.close.get(), path.last_sigma, self.market_z);
        self.cursor += 1;
        if self.cursor == self.paths.len() {
            self.cursor = 0;
            self.next_ts = ts.add_nanos(NANOS_PER_SECOND);
            self.ceiling.settle(self.next_ts);
        }
        Ok(Some(tick))
    }

    fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn remaining_hint(&self) -> Option<u64> {
        Some(self.total_ticks_left())
    }
}

/// `count` distinct 3–4 letter tickers, sorted, so symbol ids follow name order.
fn ticker_names(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed, NAMES_STREAM);
    let mut names = BTreeSet::new();
    while names.len() < count {
        let len = if count > 10_000 || rng.bernoulli(0.6) { 4 } else { 3 };
        let name: String = (0..len).map(|_| char::from(b'A' + (rng.next_u64() % 26) as u8)).collect();
        names.insert(name);
    }
    names.into_iter().collect()
}
