//! tickloop-pipeline: the one place stages are wired from config.
//!
//! `clean → features` today; bars, models and alerts join here as they land. A backtest, a
//! training-data job and the live runner all build their pipeline with [`Pipeline::new`],
//! which is what makes their features identical.

use serde::{Deserialize, Serialize};
use tickloop_core::{Component, Outputs, Snapshot, SnapshotError, Tick};
use tickloop_features::{FeatureIndex, FeatureSet, FeatureSpec, Ohlcv};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Features computed for every tick, by name (`log_return`, `sma_300`, …).
    pub features: Vec<FeatureSpec>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { features: vec![FeatureSpec::LogReturn, FeatureSpec::Sma(60), FeatureSpec::Sma(300)] }
    }
}

impl PipelineConfig {
    /// Adds `specs` that are not there yet, keeping the order of the ones that are.
    pub fn require(&mut self, specs: &[FeatureSpec]) {
        for &spec in specs {
            if !self.features.contains(&spec) {
                self.features.push(spec);
            }
        }
    }
}

/// Counters of what the pipeline did, for reports and health panels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineStats {
    pub accepted: u64,
    /// Ticks with a non-finite or non-positive price, or a negative volume.
    pub rejected_invalid: u64,
    /// Ticks at or before the previous tick of the same symbol.
    pub rejected_stale: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SymbolState {
    last_ts: Option<tickloop_core::Timestamp>,
    features: FeatureSet,
}

/// The pipeline as one [`Component`]. Per-symbol state lives in a `Vec` indexed by
/// [`tickloop_core::SymbolId`], grown on first sight of a symbol.
#[derive(Debug, Clone)]
pub struct Pipeline {
    index: FeatureIndex,
    /// A fresh feature set, cloned for each new symbol.
    template: FeatureSet,
    symbols: Vec<SymbolState>,
    stats: PipelineStats,
}

const COMPONENT: &str = "pipeline";

impl Pipeline {
    pub fn new(config: &PipelineConfig) -> Self {
        Pipeline {
            index: FeatureIndex::new(config.features.clone()),
            template: FeatureSet::new(&config.features),
            symbols: Vec::new(),
            stats: PipelineStats::default(),
        }
    }

    pub fn features(&self) -> &FeatureIndex {
        &self.index
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// A first, minimal cleaning stage: drops what no later stage can use. The full
    /// cleaning policy (repairs, lateness, dead letters) replaces it.
    fn accept(&mut self, tick: &Tick) -> bool {
        let prices_ok = [tick.open, tick.high, tick.low, tick.close].iter().all(|p| p.is_valid());
        if !prices_ok || !tick.volume.is_valid() {
            self.stats.rejected_invalid += 1;
            return false;
        }
        let state = &self.symbols[tick.symbol.index()];
        if state.last_ts.is_some_and(|last| tick.ts_event <= last) {
            self.stats.rejected_stale += 1;
            return false;
        }
        true
    }
}

impl Component for Pipeline {
    fn on_tick(&mut self, tick: &Tick, out: &mut Outputs) {
        let i = tick.symbol.index();
        if i >= self.symbols.len() {
            let template = &self.template;
            self.symbols.resize_with(i + 1, || SymbolState { last_ts: None, features: template.clone() });
        }
        if !self.accept(tick) {
            return;
        }
        self.stats.accepted += 1;
        let state = &mut self.symbols[i];
        state.last_ts = Some(tick.ts_event);
        state.features.update(&Ohlcv::from(tick), &mut out.features);
        out.tick = Some(*tick);
    }

    fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Snapshot::of(COMPONENT, &(&self.symbols, &self.stats))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let (symbols, stats): (Vec<SymbolState>, PipelineStats) = snapshot.decode(COMPONENT)?;
        self.symbols = symbols;
        self.stats = stats;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::{Price, SymbolId, Timestamp, Volume};

    fn tick(symbol: u32, secs: i64, close: f64) -> Tick {
        Tick {
            symbol: SymbolId::new(symbol),
            ts_event: Timestamp::from_secs(secs),
            ts_recv: Timestamp::from_secs(secs),
            open: Price(close),
            high: Price(close),
            low: Price(close),
            close: Price(close),
            volume: Volume(10.0),
        }
    }

    fn run(p: &mut Pipeline, ticks: &[Tick]) -> Vec<Vec<f64>> {
        let mut out = Outputs::default();
        ticks
            .iter()
            .map(|t| {
                out.clear();
                p.on_tick(t, &mut out);
                out.features.clone()
            })
            .collect()
    }

    #[test]
    fn bad_and_stale_ticks_are_dropped_without_disturbing_the_rest() {
        let mut p = Pipeline::new(&PipelineConfig { features: vec![FeatureSpec::Sma(2)] });
        let ticks = [tick(0, 1, 10.0), tick(0, 2, f64::NAN), tick(0, 2, -1.0), tick(0, 1, 99.0), tick(0, 3, 12.0)];
        let features = run(&mut p, &ticks);
        assert!(features[0][0].is_nan());
        assert!(features[1].is_empty() && features[2].is_empty() && features[3].is_empty());
        assert_eq!(features[4], vec![11.0]);
        assert_eq!(p.stats(), PipelineStats { accepted: 2, rejected_invalid: 2, rejected_stale: 1 });
    }

    proptest! {
        /// A pipeline restored from a snapshot taken midway continues exactly like one that
        /// never stopped: what a live runner relies on after a restart.
        #[test]
        fn snapshot_restore_continues_identically(closes in proptest::collection::vec((0u32..3, 1.0f64..100.0), 2..120), cut in 0usize..120) {
            let ticks: Vec<Tick> = closes.iter().enumerate().map(|(i, &(s, c))| tick(s, i as i64, c)).collect();
            let cut = cut.min(ticks.len());
            let config = PipelineConfig::default();
            let mut whole = Pipeline::new(&config);
            let expected = run(&mut whole, &ticks);
            let mut first = Pipeline::new(&config);
            run(&mut first, &ticks[..cut]);
            let mut resumed = Pipeline::new(&config);
            resumed.restore(&first.snapshot().unwrap()).unwrap();
            let got = run(&mut resumed, &ticks[cut..]);
            let bits = |v: &[Vec<f64>]| v.iter().map(|r| r.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&got), bits(&expected[cut..]));
        }
    }
}
