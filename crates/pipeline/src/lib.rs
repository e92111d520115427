//! tickloop-pipeline: the one place stages are wired from config.
//!
//! `clean → bars → features → alerts` today; models join here as they land. A backtest, a
//! training-data job and the live runner all build their pipeline with [`Pipeline::new`],
//! which is what makes their features identical.

mod dataset;
mod predict;

use std::ops::{ControlFlow, Range};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

pub use dataset::{ModelInputs, collect_dataset};

pub use predict::{AccuracySums, ModelAccuracy};
use predict::{PredictionStage, PredictionState};
use serde::{Deserialize, Serialize};
pub use tickloop_alerts::AlertConfig;
use tickloop_alerts::{
    AlertCounts, BaselineError, PredictionRule, Profile, Season, SeasonalBaseline, SymbolAlerts, TickRules,
};
use tickloop_core::{
    Alert, Bar, Component, DEFAULT_BLOCK_TICKS, MaturedPrediction, NANOS_PER_SECOND, Outputs, Rejection, Snapshot,
    SnapshotError, SymbolTable, Tick,
};
use tickloop_features::batch::Columns;
use tickloop_features::{
    BarAggregator, Cleaner, CleaningPolicy, CleaningStats, FeatureIndex, FeatureSet, FeatureSetDef, FeatureSpec, Ohlcv,
};
use tickloop_models::{ModelCard, ModelError, Predictor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// What the cleaning stage rejects or repairs.
    pub cleaning: CleaningPolicy,
    /// Bar length in seconds for the bars output (`Outputs::bars`); 0 turns bars off.
    pub bar_secs: u32,
    /// A built-in named set (`default`, `minimal`) whose features come first.
    pub feature_set: Option<String>,
    /// Features computed for every tick, by name (`log_return`, `sma_300`, `rsi_14`, …),
    /// after those of `feature_set`.
    pub features: Vec<FeatureSpec>,
    /// Alert rules and their cooldown (`[pipeline.alerts]`).
    pub alerts: AlertConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            cleaning: CleaningPolicy::default(),
            bar_secs: 60,
            feature_set: None,
            features: vec![FeatureSpec::LogReturn, FeatureSpec::Sma(60), FeatureSpec::Sma(300)],
            alerts: AlertConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature set {0:?}: built-in sets are default and minimal")]
pub struct UnknownFeatureSet(pub String);

impl PipelineConfig {
    /// Expands `feature_set` into `features` (set first, duplicates dropped) and clears it,
    /// so what remains is the exact, ordered feature vector.
    pub fn resolve(&mut self) -> Result<(), UnknownFeatureSet> {
        if let Some(name) = self.feature_set.take() {
            let set = FeatureSetDef::builtin(&name).ok_or(UnknownFeatureSet(name))?;
            let extra = std::mem::replace(&mut self.features, set.features);
            self.require(&extra);
        }
        Ok(())
    }

    /// Adds the features `card`'s model reads (an unknown name is an error naming it).
    pub fn require_model(&mut self, card: &ModelCard) -> Result<(), ModelError> {
        let specs = card
            .features
            .iter()
            .map(|f| {
                f.parse::<FeatureSpec>().map_err(|e| {
                    ModelError::Backend(format!(
                        "model {} reads feature {f:?} this build does not know: {e}",
                        card.id()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.require(&specs);
        Ok(())
    }

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
    pub cleaning: CleaningStats,
    pub bars: u64,
    pub alerts: AlertCounts,
    /// Windows predicted, and windows whose prediction failed (logged).
    #[serde(default)]
    pub predictions: u64,
    #[serde(default)]
    pub prediction_failures: u64,
}

impl PipelineStats {
    /// Adds another run's counts.
    pub fn merge(&mut self, other: &PipelineStats) {
        self.cleaning.merge(&other.cleaning);
        self.bars += other.bars;
        self.alerts.merge(&other.alerts);
        self.predictions += other.predictions;
        self.prediction_failures += other.prediction_failures;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SymbolState {
    features: FeatureSet,
    bars: Option<BarAggregator>,
    alerts: SymbolAlerts,
}

/// What a block's symbol pass owns of a symbol: its features, its bars and the rules fed
/// its ticks.
struct BySymbol<'a> {
    features: &'a mut FeatureSet,
    bars: &'a mut Option<BarAggregator>,
    rules: TickRules<'a>,
}

/// Splits every symbol's state between the two passes (the tick-order pass owns only the
/// model-anomaly rule), so one thread can run the symbol pass of a sub-block while another
/// hands on the one before it in tick order.
fn split_states(symbols: &mut [SymbolState]) -> (Vec<BySymbol<'_>>, Vec<PredictionRule<'_>>) {
    symbols
        .iter_mut()
        .map(|state| {
            let (rules, predictions) = state.alerts.split();
            (BySymbol { features: &mut state.features, bars: &mut state.bars, rules }, predictions)
        })
        .unzip()
}

/// The pipeline's stages that run in tick order across symbols: predictions, counts.
struct TickOrderStages<'a> {
    predict: &'a mut Option<PredictionStage>,
    bars: &'a mut u64,
    alerts: &'a mut AlertCounts,
}

impl TickOrderStages<'_> {
    /// Predictions of a clean tick whose features, bars and rule alerts are in `out` (those
    /// of this tick from `from`: bars, alerts); counts the bars and alerts.
    fn after_features(&mut self, rule: &mut PredictionRule<'_>, clean: Tick, from: (usize, usize), out: &mut Outputs) {
        let (bars_from, alerts_from) = from;
        *self.bars += (out.bars.len() - bars_from) as u64;
        if let Some(stage) = &mut self.predict {
            stage.on_tick(&clean, &out.features, &mut out.predictions, |predicted_at, predicted, realized| {
                rule.on_prediction_error(&clean, predicted, realized, &mut out.alerts);
                out.matured.push(MaturedPrediction { symbol: clean.symbol, predicted_at, predicted, realized });
            });
        }
        self.alerts.count(&out.alerts[alerts_from..]);
        out.tick = Some(clean);
    }

    /// Whether [`TickOrderStages::after_features`] reads `clean`'s feature row.
    fn reads_row(&self, clean: &Tick) -> bool {
        self.predict.as_ref().is_some_and(|stage| stage.reads_row(clean))
    }
}

/// The pipeline as one [`Component`]: clean → features, alert rules, bars → predictions. Per-symbol state lives in a
/// `Vec` indexed by [`tickloop_core::SymbolId`], grown on first sight of a symbol.
#[derive(Debug, Clone)]
pub struct Pipeline {
    index: FeatureIndex,
    /// A fresh per-symbol state, cloned for each new symbol.
    template: SymbolState,
    cleaner: Cleaner,
    symbols: Vec<SymbolState>,
    bars: u64,
    alerts: AlertCounts,
    predict: Option<PredictionStage>,
    /// The alert rules' seasonal baseline, when one is loaded.
    seasons: Option<Seasons>,
    /// Scratch space of [`Component::on_ticks`], kept so a replay allocates once.
    block: Block,
    /// Threads for a block's symbol-by-symbol pass (1: the calling thread alone).
    threads: usize,
    /// Whether a block hands every tick's feature row on ([`Component::hand_on_features`]).
    features_wanted: bool,
}

/// A loaded seasonal baseline and which of its profiles each symbol id reads.
#[derive(Debug, Clone)]
struct Seasons {
    baseline: Arc<SeasonalBaseline>,
    id: String,
    /// Per symbol id: its own profile's index, or `None` for the universe's pooled one.
    /// Ids beyond the end (not named yet) read the pooled profile.
    by_symbol: Vec<Option<u32>>,
}

impl Seasons {
    /// What symbol `symbol`'s alert rules consult.
    fn season(&self, symbol: usize) -> Season<'_> {
        Season { baseline: &self.id, profile: self.profile(symbol) }
    }

    fn profile(&self, symbol: usize) -> &Profile {
        match self.by_symbol.get(symbol).copied().flatten() {
            Some(k) => &self.baseline.profiles[k as usize],
            None => &self.baseline.pooled,
        }
    }
}

/// Scratch space of [`Component::on_ticks`]: two sub-blocks, one being handed on in tick
/// order while the next one is cleaned and computed.
#[derive(Debug, Default)]
struct Block {
    subs: [SubBlock; 2],
}

/// Scratch space holds no state between blocks: a clone starts empty.
impl Clone for Block {
    fn clone(&self) -> Self {
        Block::default()
    }
}

/// What cleaning made of a sub-block's ticks, 8 bytes a tick: most are accepted as they
/// came, so a copy of each (72 bytes a tick) only held memory (17 MB at the peak of a
/// two-thread replay).
#[derive(Debug, Default)]
struct Verdicts {
    /// One per tick.
    of: Vec<Verdict>,
    repaired: Vec<Tick>,
    rejected: Vec<Rejection>,
}

#[derive(Debug, Clone, Copy)]
enum Verdict {
    AsIs,
    /// Accepted once repaired: the tick in [`Verdicts::repaired`].
    Repaired(u32),
    /// Refused: why, in [`Verdicts::rejected`].
    Rejected(u32),
}

impl Verdicts {
    /// Cleans `ticks` in order; returns the largest symbol index among the accepted ones.
    fn fill(&mut self, ticks: &[Tick], cleaner: &mut Cleaner) -> Option<usize> {
        self.of.clear();
        self.repaired.clear();
        self.rejected.clear();
        let mut top = None;
        for tick in ticks {
            let verdict = match cleaner.verdict(tick) {
                Ok(None) => Verdict::AsIs,
                Ok(Some(repaired)) => {
                    self.repaired.push(repaired);
                    Verdict::Repaired(self.repaired.len() as u32 - 1)
                }
                Err(rejection) => {
                    self.rejected.push(*rejection);
                    self.of.push(Verdict::Rejected(self.rejected.len() as u32 - 1));
                    continue;
                }
            };
            top = top.max(Some(tick.symbol.index()));
            self.of.push(verdict);
        }
        top
    }

    /// The `k`-th of `ticks` (those cleaned) as cleaning left it, or why it was refused.
    fn get<'t>(&'t self, ticks: &'t [Tick], k: usize) -> Result<&'t Tick, &'t Rejection> {
        match self.of[k] {
            Verdict::AsIs => Ok(&ticks[k]),
            Verdict::Repaired(i) => Ok(&self.repaired[i as usize]),
            Verdict::Rejected(i) => Err(&self.rejected[i as usize]),
        }
    }

    /// The positions of the accepted ticks, in order.
    fn accepted(&self) -> impl Iterator<Item = usize> + '_ {
        self.of.iter().enumerate().filter(|(_, v)| !matches!(v, Verdict::Rejected(_))).map(|(k, _)| k)
    }
}

/// A contiguous range of a block's ticks, cleaned, run through the symbol pass and handed
/// on together. Positions are the ticks' within the sub-block.
#[derive(Debug, Default)]
struct SubBlock {
    /// Each tick as cleaning left it.
    cleaned: Verdicts,
    /// The largest symbol index among the accepted ticks.
    top_symbol: Option<usize>,
    /// Positions of the accepted ticks, grouped by symbol, in tick order within a symbol.
    by_symbol: Vec<u32>,
    /// Per symbol, where its group ends in `by_symbol` (a counting sort's offsets).
    ends: Vec<u32>,
    /// Feature rows, `features` wide, symbol by symbol in the order of `by_symbol`.
    rows: Vec<f64>,
    /// Where each tick's row is among `rows` (`by_symbol`'s inverse; `u32::MAX` for a
    /// rejected tick). The hand-on gathers the rows through it into tick order a few dozen
    /// at a time. The symbol pass stored each row at its tick's position instead, as it
    /// computed it: stores far apart, each line fetched for ownership, and the pass stalled
    /// on its full store buffer (the 21-feature backtest at 2.52 M ticks/s on one thread,
    /// against 2.86 with the gather: BENCHMARKS.md).
    row_of: Vec<u32>,
    /// Rows of up to [`GATHERED_TICKS`] ticks gathered into tick order by the hand-on.
    gathered: Vec<f64>,
    /// Per piece of the symbol pass, its scratch space and the alerts it raised.
    shards: Vec<Shard>,
    /// The alerts the rules raised, with the position of their tick, in tick order once
    /// sorted (rare: a few per thousand ticks).
    raised: Vec<(u32, Alert)>,
    /// The bars completed, likewise (one a bar interval per symbol).
    bars: Vec<(u32, Bar)>,
}

/// One thread's share of a block's symbol pass.
#[derive(Debug, Clone, Default)]
struct Shard {
    /// One symbol's run of accepted ticks as columns, for [`FeatureSet::update_runs`], and
    /// its partner's.
    run: RunColumns,
    partner: RunColumns,
    /// Alerts raised and bars completed, with their tick's position in the sub-block.
    raised: Vec<(u32, Alert)>,
    alerts: Vec<Alert>,
    /// `ln` of a run's closes, for the drop rule.
    log_closes: Vec<f64>,
    bars: Vec<(u32, Bar)>,
    completed: Vec<Bar>,
}

/// What every thread of a sub-block's symbol pass reads.
#[derive(Clone, Copy)]
struct SymbolPass<'a> {
    ticks: &'a [Tick],
    cleaned: &'a Verdicts,
    by_symbol: &'a [u32],
    ends: &'a [u32],
    width: usize,
    seasons: Option<&'a Seasons>,
}

impl SymbolPass<'_> {
    /// Where symbol `s`'s group starts in `by_symbol` (and its rows in the block's rows).
    fn start(&self, s: usize) -> usize {
        if s == 0 { 0 } else { self.ends[s - 1] as usize }
    }

    /// Features, alert rules and bars of `symbols` (ids from `first` on), whose rows are
    /// `rows`. Symbols with ticks in the block go two at a time through the features
    /// ([`FeatureSet::update_runs`]: one symbol's recurrences fill the time the other's
    /// wait), then through their alert rules and bars one after the other.
    fn run(&self, symbols: &mut [BySymbol<'_>], first: usize, rows: &mut [f64], shard: &mut Shard) {
        let base = self.start(first);
        let width = self.width;
        let mut busy =
            (0..symbols.len()).filter(|&offset| self.start(first + offset) < self.ends[first + offset] as usize);
        while let Some(a) = busy.next() {
            let b = busy.next();
            let group = |offset: usize| {
                let symbol = first + offset;
                (self.start(symbol), self.ends[symbol] as usize)
            };
            let (a_start, a_end) = group(a);
            let accepted =
                |k: &u32| self.cleaned.get(self.ticks, *k as usize).expect("only accepted ticks are grouped");
            shard.run.fill(self.by_symbol[a_start..a_end].iter().map(accepted));
            let (a_rows, rest) = rows[(a_start - base) * width..].split_at_mut((a_end - a_start) * width);
            match b {
                Some(b) => {
                    let (b_start, b_end) = group(b);
                    shard.partner.fill(self.by_symbol[b_start..b_end].iter().map(accepted));
                    let b_rows = &mut rest[(b_start - a_end) * width..(b_end - a_end) * width];
                    let (left, right) = symbols.split_at_mut(b);
                    FeatureSet::update_runs(
                        [&mut *left[a].features, &mut *right[0].features],
                        [&shard.run.columns(), &shard.partner.columns()],
                        [a_rows, b_rows],
                    );
                }
                None => symbols[a].features.update_run(&shard.run.columns(), a_rows),
            }
            let Shard { run, partner, log_closes, .. } = shard;
            for (offset, run) in std::iter::once((a, &*run)).chain(b.map(|b| (b, &*partner))) {
                let (start, end) = group(offset);
                let season = self.seasons.map(|s| s.season(first + offset));
                let BySymbol { bars, rules, .. } = &mut symbols[offset];
                // The drop rule's ln(close) for the whole run at once.
                log_closes.clear();
                if rules.reads_log_close() {
                    log_closes.resize(run.close.len(), 0.0);
                    tickloop_vecmath::ln_into(&run.close, log_closes);
                }
                for (i, (&k, tick)) in self.by_symbol[start..end].iter().zip(&run.ticks).enumerate() {
                    let log_close = log_closes.get(i).copied().unwrap_or(f64::NAN);
                    rules.on_tick_with_log_close(tick, log_close, season, &mut shard.alerts);
                    shard.raised.extend(shard.alerts.drain(..).map(|alert| (k, alert)));
                    if let Some(bars) = bars {
                        bars.push(tick, &mut shard.completed);
                        shard.bars.extend(shard.completed.drain(..).map(|bar| (k, bar)));
                    }
                }
            }
        }
    }
}

/// Cuts `symbols` symbols into up to `threads` contiguous ranges of about equal tick counts;
/// returns each range's first symbol (the first is 0).
fn shard_starts(ends: &[u32], symbols: usize, threads: usize) -> Vec<usize> {
    let total = ends.get(symbols.wrapping_sub(1)).copied().unwrap_or(0) as usize;
    let mut starts = vec![0];
    for t in 1..threads {
        let goal = (total * t / threads) as u32;
        let cut = ends[..symbols].partition_point(|&end| end <= goal);
        if cut > *starts.last().expect("starts holds 0") && cut < symbols {
            starts.push(cut);
        }
    }
    starts
}

/// A symbol's run of ticks as the columns [`FeatureSet::update_run`] reads.
#[derive(Debug, Clone, Default)]
struct RunColumns {
    /// The run's ticks, in order.
    ticks: Vec<Tick>,
    ts_nanos: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl RunColumns {
    /// Copies the run's ticks out first, in a loop of copies alone: each tick is far from the
    /// last (the block holds every symbol's ticks in between), and their cache misses overlap
    /// only when nothing between the loads waits; the columns then come from memory in cache.
    fn fill<'a>(&mut self, ticks: impl Iterator<Item = &'a Tick>) {
        self.ticks.clear();
        self.ticks.extend(ticks.copied());
        let ticks = &self.ticks;
        let column = |column: &mut Vec<f64>, field: fn(&Tick) -> f64| {
            column.clear();
            column.extend(ticks.iter().map(field));
        };
        column(&mut self.open, |t| t.open.get());
        column(&mut self.high, |t| t.high.get());
        column(&mut self.low, |t| t.low.get());
        column(&mut self.close, |t| t.close.get());
        column(&mut self.volume, |t| t.volume.get());
        self.ts_nanos.clear();
        self.ts_nanos.extend(ticks.iter().map(|t| t.ts_event.as_nanos()));
    }

    fn columns(&self) -> Columns<'_> {
        Columns {
            ts_nanos: &self.ts_nanos,
            open: &self.open,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            volume: &self.volume,
        }
    }
}

/// A piece of a sub-block's symbol pass: a contiguous range of symbols (the first's id),
/// their rows and the scratch space of the thread that takes it.
type Piece<'a, 's> = (&'a mut [BySymbol<'s>], usize, &'a mut [f64], &'a mut Shard);

/// How the thread that cleans and groups a sub-block hands its symbol pass to the others.
enum Handoff<'a, 's> {
    Pending,
    Ready(SymbolPass<'a>, std::vec::IntoIter<Piece<'a, 's>>),
    /// The preparing thread panicked: the others stop waiting (the scope re-raises it).
    Abandoned,
}

/// A [`Handoff`] that threads wait on.
struct Pieces<'a, 's> {
    handoff: Mutex<Handoff<'a, 's>>,
    ready: Condvar,
}

impl<'a, 's> Pieces<'a, 's> {
    fn new() -> Self {
        Pieces { handoff: Mutex::new(Handoff::Pending), ready: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Handoff<'a, 's>> {
        self.handoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, handoff: Handoff<'a, 's>) {
        let mut current = self.lock();
        if matches!(*current, Handoff::Pending) {
            *current = handoff;
        }
        drop(current);
        self.ready.notify_all();
    }

    /// The next piece, from the front or the back, once the pass is ready; `None` when none
    /// is left.
    fn take(&self, from_front: bool) -> Option<(SymbolPass<'a>, Piece<'a, 's>)> {
        let mut handoff = self.lock();
        loop {
            match &mut *handoff {
                Handoff::Pending => handoff = self.ready.wait(handoff).unwrap_or_else(PoisonError::into_inner),
                Handoff::Ready(pass, pieces) => {
                    let piece = if from_front { pieces.next() } else { pieces.next_back() };
                    return piece.map(|piece| (*pass, piece));
                }
                Handoff::Abandoned => return None,
            }
        }
    }

    /// Runs pieces until none is left.
    fn run(&self, from_front: bool) {
        while let Some((pass, (symbols, first, rows, shard))) = self.take(from_front) {
            pass.run(symbols, first, rows, shard);
        }
    }
}

/// Marks a [`Pieces`] abandoned if its preparing thread unwinds before it is ready.
struct AbandonOnUnwind<'p, 'a, 's>(&'p Pieces<'a, 's>);

impl Drop for AbandonOnUnwind<'_, '_, '_> {
    fn drop(&mut self) {
        self.0.settle(Handoff::Abandoned);
    }
}

impl SubBlock {
    /// Fills `by_symbol` with a stable counting sort of the accepted `ticks` by symbol:
    /// O(ticks + symbols), no comparisons.
    fn group_by_symbol(&mut self, ticks: &[Tick], symbols: usize) {
        self.ends.clear();
        self.ends.resize(symbols + 1, 0);
        for k in self.cleaned.accepted() {
            self.ends[ticks[k].symbol.index() + 1] += 1;
        }
        for s in 1..self.ends.len() {
            self.ends[s] += self.ends[s - 1];
        }
        // `ends[s]` is now where symbol s's group starts; filling advances it to its end.
        self.by_symbol.clear();
        self.by_symbol.resize(self.ends[symbols] as usize, 0);
        self.row_of.clear();
        self.row_of.resize(ticks.len(), u32::MAX);
        for k in self.cleaned.accepted() {
            let slot = &mut self.ends[ticks[k].symbol.index()];
            self.by_symbol[*slot as usize] = k as u32;
            self.row_of[k] = *slot;
            *slot += 1;
        }
    }

    /// Cleans `ticks`, then runs the features, alert rules and bars of the accepted ones
    /// symbol by symbol, leaving the rows symbol by symbol (`row_of` finds each tick's) and
    /// the alerts raised and bars completed in tick order. The pass is cut into `pieces`
    /// contiguous ranges of symbols of about equal tick counts. With `helpers`, the first helper cleans and groups while
    /// the calling thread runs `alongside` (its own work meanwhile); then every thread takes
    /// pieces, the helpers from the front, the calling thread from the back.
    #[allow(clippy::too_many_arguments)]
    fn compute<R>(
        &mut self,
        ticks: &[Tick],
        cleaner: &mut Cleaner,
        symbols: &mut [BySymbol<'_>],
        pieces: usize,
        helpers: usize,
        seasons: Option<&Seasons>,
        width: usize,
        alongside: impl FnOnce() -> R,
    ) -> R {
        let pieces_of = Pieces::new();
        let handed = &pieces_of;
        let this = &mut *self;
        let prepare = move || {
            let abandon = AbandonOnUnwind(handed);
            this.top_symbol = this.cleaned.fill(ticks, cleaner);
            this.group_by_symbol(ticks, symbols.len());
            let SubBlock { cleaned, by_symbol, ends, rows, shards, .. } = this;
            rows.resize(by_symbol.len() * width, f64::NAN);
            let pass = SymbolPass { ticks, cleaned, by_symbol, ends, width, seasons };
            let starts = shard_starts(ends, symbols.len(), pieces);
            shards.resize_with(starts.len(), Shard::default);
            // Contiguous symbol ranges own contiguous rows: each piece gets its own slices.
            let mut work = Vec::with_capacity(starts.len());
            let (mut symbols, mut unclaimed) = (symbols, &mut rows[..]);
            for (i, shard) in shards.iter_mut().enumerate() {
                let first = starts[i];
                let next = starts.get(i + 1).copied().unwrap_or(first + symbols.len());
                let (mine, rest) = std::mem::take(&mut symbols).split_at_mut(next - first);
                let rows_here = (pass.start(next) - pass.start(first)) * width;
                let (my_rows, rest_rows) = std::mem::take(&mut unclaimed).split_at_mut(rows_here);
                (symbols, unclaimed) = (rest, rest_rows);
                work.push((mine, first, my_rows, shard));
            }
            handed.settle(Handoff::Ready(pass, work.into_iter()));
            drop(abandon);
        };
        let result = if helpers == 0 {
            let result = alongside();
            prepare();
            handed.run(false);
            result
        } else {
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    prepare();
                    handed.run(true);
                });
                for _ in 1..helpers {
                    scope.spawn(|| handed.run(true));
                }
                let result = alongside();
                handed.run(false);
                result
            })
        };
        drop(pieces_of);
        self.raised.clear();
        self.bars.clear();
        for shard in &mut self.shards {
            self.raised.append(&mut shard.raised);
            self.bars.append(&mut shard.bars);
        }
        // Stable: one tick's alerts and bars come from one symbol, in the order it made them.
        self.raised.sort_by_key(|&(k, _)| k);
        self.bars.sort_by_key(|&(k, _)| k);
        result
    }

    /// Hands on `ticks` (the ones [`SubBlock::compute`] cleaned) in tick order: each with
    /// its features (all, or with `every_row` false only those the predictions read), rule
    /// alerts and bars from the symbol pass, then its predictions.
    #[allow(clippy::too_many_arguments)]
    fn hand_on(
        &mut self,
        ticks: &[Tick],
        rules: &mut [PredictionRule<'_>],
        stages: &mut TickOrderStages<'_>,
        width: usize,
        every_row: bool,
        out: &mut Outputs,
        each: &mut dyn FnMut(&Tick, &Outputs) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut raised = self.raised.drain(..).peekable();
        let mut bars = self.bars.drain(..).peekable();
        let gathered = &mut self.gathered;
        let mut flow = ControlFlow::Continue(());
        'chunks: for (c, chunk) in ticks.chunks(GATHERED_TICKS).enumerate() {
            let first = c * GATHERED_TICKS;
            // The chunk's rows into tick order, in a loop of copies alone: each row is far
            // from the last (its symbol's run), and the copies' cache misses overlap only when
            // nothing between them waits.
            gathered.clear();
            if every_row {
                for &j in &self.row_of[first..first + chunk.len()] {
                    if j != u32::MAX {
                        let j = j as usize;
                        gathered.extend_from_slice(&self.rows[j * width..(j + 1) * width]);
                    }
                }
            }
            let mut next_row = 0;
            for (k, tick) in (first..).zip(chunk) {
                out.clear();
                match self.cleaned.get(ticks, k) {
                    Ok(clean) => {
                        if every_row {
                            out.features.extend_from_slice(&gathered[next_row..next_row + width]);
                            next_row += width;
                        } else if stages.reads_row(clean) {
                            let j = self.row_of[k] as usize;
                            out.features.extend_from_slice(&self.rows[j * width..(j + 1) * width]);
                        }
                        while let Some((_, alert)) = raised.next_if(|(at, _)| *at as usize == k) {
                            out.alerts.push(alert);
                        }
                        while let Some((_, bar)) = bars.next_if(|(at, _)| *at as usize == k) {
                            out.bars.push(bar);
                        }
                        stages.after_features(&mut rules[clean.symbol.index()], *clean, (0, 0), out);
                    }
                    Err(rejection) => Pipeline::reject(rejection.clone(), out),
                }
                flow = each(tick, out);
                if flow.is_break() {
                    break 'chunks;
                }
            }
        }
        flow
    }
}

/// Ticks whose rows the hand-on gathers at a time: enough copies in flight, few enough
/// that their rows stay in the first-level cache until handed on.
const GATHERED_TICKS: usize = 64;

/// How many sub-blocks a block is cut into: with one thread, one (nothing to overlap);
/// with more, the symbol pass of each sub-block runs while the one before it is handed on.
/// The first sub-block's pass and the last one's hand-on have nothing beside them, so more
/// sub-blocks overlap more; longer ones sweep the symbols' state less often. Measured on 2
/// cores (GBM replay, 1,000 symbols): 4 of 128 Ki ticks beat 8 of 64 Ki by ~5 % at the
/// same peak memory; 8 of 128 Ki by ~5 % more, at 485 MiB then. Once the rows were no
/// longer copied into tick order, 8 of 128 Ki peaked at 439 MiB over the simulated week
/// (4: 375 MiB), and were ~7 % faster in the best of 4 runs (BENCHMARKS.md, 2026-12-07).
const SUB_BLOCKS: usize = 8;

/// Ticks in a sub-block when there is more than one.
const SUB_BLOCK_TICKS: usize = 2 * DEFAULT_BLOCK_TICKS;

/// Pieces of a sub-block's symbol pass per thread, with more than one: enough that the
/// thread that hands on the sub-block before it finds some left to take once it is done,
/// and that the threads finish the last ones close together. Measured on 2 cores (GBM
/// replay, 1,000 symbols, best of 3): 8 beat 4 by ~5 %, 16 was slower than 8.
const PIECES_PER_THREAD: usize = 8;

/// `len` ticks cut into contiguous, non-empty ranges: one for `parts` = 1; else `parts`
/// of about equal length and a tail a quarter as long. The tail's hand-on is the one with
/// no symbol pass beside it, so it is kept short.
fn sub_block_ranges(len: usize, parts: usize) -> Vec<Range<usize>> {
    let (units, ends): (usize, Vec<usize>) = if parts <= 1 {
        (1, vec![1])
    } else {
        (4 * parts + 1, (1..=parts).map(|p| 4 * p).chain([4 * parts + 1]).collect())
    };
    let mut start = 0;
    let mut ranges = Vec::with_capacity(ends.len());
    for end in ends.into_iter().map(|e| len * e / units) {
        if end > start {
            ranges.push(start..end);
        }
        start = end;
    }
    ranges
}

const COMPONENT: &str = "pipeline";

/// A model in a pipeline: what predicts, and how often per symbol (event seconds).
#[derive(Debug, Clone)]
pub struct ModelStage {
    pub model: Arc<dyn Predictor>,
    pub every_secs: u32,
}

/// Why a pipeline could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("alert baseline: {0}")]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl Pipeline {
    /// The one way every mode (backtest, live, dashboard) builds its pipeline: `config` with
    /// the features `model` reads added, its alert baseline loaded, `symbols` named for the
    /// baseline's profiles, and the model's prediction stage. Fails naming a feature the
    /// model needs that no spec can compute, or why the baseline does not load.
    pub fn assemble(
        config: &PipelineConfig,
        symbols: &SymbolTable,
        model: Option<&ModelStage>,
    ) -> Result<Self, AssembleError> {
        let mut config = config.clone();
        if let Some(m) = model {
            config.require_model(m.model.card())?;
        }
        let mut pipeline = Pipeline::open(&config)?;
        pipeline.name_symbols(symbols);
        if let Some(m) = model {
            pipeline = pipeline.with_model(m.model.clone(), m.every_secs)?;
        }
        Ok(pipeline)
    }

    /// The pipeline `config` describes, with the seasonal baseline it names loaded: what
    /// every mode (backtest, live, dashboard) builds.
    pub fn open(config: &PipelineConfig) -> Result<Self, BaselineError> {
        let pipeline = Pipeline::build(config);
        match &config.alerts.baseline {
            Some(path) => Ok(pipeline.with_alert_baseline(Arc::new(SeasonalBaseline::load(path)?))),
            None => Ok(pipeline),
        }
    }

    /// The pipeline for a config that names no seasonal baseline (tests, training data).
    ///
    /// # Panics
    /// If `config` names one: use [`Pipeline::open`], which loads it, or the alerts of this
    /// pipeline would differ from those of every other mode.
    pub fn new(config: &PipelineConfig) -> Self {
        assert!(
            config.alerts.baseline.is_none(),
            "the config names an alert baseline: build the pipeline with Pipeline::open"
        );
        Pipeline::build(config)
    }

    fn build(config: &PipelineConfig) -> Self {
        let bars = (config.bar_secs > 0).then(|| BarAggregator::new(i64::from(config.bar_secs) * NANOS_PER_SECOND));
        Pipeline {
            index: FeatureIndex::new(config.features.clone()),
            template: SymbolState {
                features: FeatureSet::new(&config.features),
                bars,
                alerts: SymbolAlerts::new(&config.alerts),
            },
            cleaner: Cleaner::new(config.cleaning.clone()),
            symbols: Vec::new(),
            bars: 0,
            alerts: AlertCounts::default(),
            predict: None,
            seasons: None,
            block: Block::default(),
            threads: 1,
            features_wanted: true,
        }
    }

    /// Judges volume and volatility against `baseline`'s season. Symbols read their own
    /// profile once [`Pipeline::name_symbols`] has named them, the universe's before.
    pub fn with_alert_baseline(mut self, baseline: Arc<SeasonalBaseline>) -> Self {
        self.seasons = Some(Seasons { id: baseline.id(), baseline, by_symbol: Vec::new() });
        self
    }

    /// Tells the pipeline the names of `symbols`' ids (new ones since the last call), so the
    /// alert rules read each symbol's own seasonal profile. Cheap when nothing is new; call
    /// it whenever the table may have grown (the live worker does, before each record).
    pub fn name_symbols(&mut self, symbols: &SymbolTable) {
        let Some(seasons) = &mut self.seasons else { return };
        for i in seasons.by_symbol.len()..symbols.len() {
            let name = symbols.name(tickloop_core::SymbolId::new(i as u32));
            seasons.by_symbol.push(seasons.baseline.profile_index(name).map(|k| k as u32));
        }
    }

    /// Adds the prediction stage: `model` predicts each symbol once every `every_secs` of
    /// event time, from its last `card.window` rows. The pipeline must compute the model's
    /// features (see [`PipelineConfig::require_model`]); the error names any it lacks.
    pub fn with_model(mut self, model: Arc<dyn Predictor>, every_secs: u32) -> Result<Self, ModelError> {
        self.predict = Some(PredictionStage::new(model, self.index.specs(), every_secs)?);
        Ok(self)
    }

    /// How the model's matured predictions compare with what happened (`None` without a
    /// model).
    pub fn model_accuracy(&self) -> Option<ModelAccuracy> {
        self.predict.as_ref().map(|p| p.state.accuracy.summary())
    }

    pub fn features(&self) -> &FeatureIndex {
        &self.index
    }

    fn reject(rejection: Rejection, out: &mut Outputs) {
        tracing::debug!(reason = %rejection.reason, detail = %rejection.detail, "tick rejected");
        out.rejects.push(rejection);
    }

    /// The index of `clean`'s symbol state, created on first sight.
    fn state_index(&mut self, clean: &Tick) -> usize {
        let i = clean.symbol.index();
        if i >= self.symbols.len() {
            let template = &self.template;
            self.symbols.resize_with(i + 1, || template.clone());
        }
        i
    }

    /// Runs a replay block on `threads` threads: the symbol-by-symbol pass (features, alert
    /// rules, bars) of each sub-block on all of them, in pieces of contiguous symbols, the
    /// calling thread joining in once it has handed the sub-block before on in tick order,
    /// and the helpers meanwhile cleaning the sub-block first. Outputs are the same bits on any
    /// number (tested): each part of a symbol's state is only ever touched by one thread,
    /// in its tick order, and what the threads raise is merged in block order.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The block size a replay should hand [`Component::on_ticks`]: with more than one
    /// thread, [`SUB_BLOCKS`] sub-blocks of [`SUB_BLOCK_TICKS`] and a tail a quarter as long;
    /// with one, one sub-block. (One thread took [`DEFAULT_BLOCK_TICKS`], half as many,
    /// while the rows were copied into tick order: at 1,000 symbols a symbol's runs are
    /// twice as long now, its state swept in half as often; the GBM replay on one thread
    /// ~8 % faster in the best of 4, 14 MiB more at its peak.)
    pub fn block_ticks(&self) -> usize {
        if self.threads > 1 { SUB_BLOCK_TICKS * SUB_BLOCKS + SUB_BLOCK_TICKS / 4 } else { SUB_BLOCK_TICKS }
    }

    fn sub_blocks(&self) -> usize {
        if self.threads > 1 { SUB_BLOCKS } else { 1 }
    }

    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            cleaning: *self.cleaner.stats(),
            bars: self.bars,
            alerts: self.alerts,
            predictions: self.predict.as_ref().map_or(0, |p| p.predicted),
            prediction_failures: self.predict.as_ref().map_or(0, |p| p.failed),
        }
    }
}

impl Component for Pipeline {
    /// Predicts the windows queued for the current event second.
    fn flush(&mut self, out: &mut Outputs) {
        if let Some(stage) = &mut self.predict {
            stage.flush(&mut out.predictions);
        }
    }

    fn on_tick(&mut self, tick: &Tick, out: &mut Outputs) {
        let clean = match self.cleaner.check(tick) {
            Ok(clean) => clean,
            Err(rejection) => return Self::reject(*rejection, out),
        };
        let i = self.state_index(&clean);
        let state = &mut self.symbols[i];
        state.features.update(&Ohlcv::from(&clean), &mut out.features);
        let from = (out.bars.len(), out.alerts.len());
        if let Some(bars) = &mut state.bars {
            bars.push(&clean, &mut out.bars);
        }
        let (mut rules, mut predictions) = state.alerts.split();
        rules.on_tick(&clean, self.seasons.as_ref().map(|s| s.season(i)), &mut out.alerts);
        let mut stages = TickOrderStages { predict: &mut self.predict, bars: &mut self.bars, alerts: &mut self.alerts };
        stages.after_features(&mut predictions, clean, from, out);
    }

    /// Three passes over the block, each in the order that keeps its state in cache:
    /// cleaning in tick order (its watermark spans symbols); features, the alert rules and
    /// bars symbol by symbol (~20 KB of indicator windows and ~6 KB of rule windows per
    /// symbol: in tick order, 1,000 symbols' state would not stay in cache); then
    /// predictions in tick order, handing each tick's outputs on as they are complete. A
    /// symbol's features and rules depend only on its own accepted ticks (the model-anomaly
    /// rule, fed by predictions in tick order, keeps state of its own), so the outputs are
    /// those of `on_tick` on each tick (tested). With more than one thread the block is cut
    /// into sub-blocks: while the calling thread hands one on, a helper cleans the next one
    /// and starts its symbol pass, which the calling thread joins once it is done.
    fn on_ticks(
        &mut self,
        ticks: &[Tick],
        out: &mut Outputs,
        each: &mut dyn FnMut(&Tick, &Outputs) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut block = std::mem::take(&mut self.block);
        // Every symbol the block may accept gets its state now (the states are split between
        // threads below); those whose ticks all turn out rejected are dropped again at the
        // end, so the states are those of tick-by-tick.
        let known = self.symbols.len();
        if let Some(top) = ticks.iter().map(|t| t.symbol.index()).max()
            && top >= known
        {
            let template = &self.template;
            self.symbols.resize_with(top + 1, || template.clone());
        }
        let width = self.index.specs().len();
        let ranges = sub_block_ranges(ticks.len(), self.sub_blocks());
        let Pipeline { symbols, cleaner, predict, bars, alerts, seasons, threads, features_wanted, .. } = self;
        let (mut by_symbol, mut in_tick_order) = split_states(symbols);
        let mut stages = TickOrderStages { predict, bars, alerts };
        // Every row into tick order when someone downstream reads them all; else only the
        // rows a prediction reads, one at a time.
        let every_row = *features_wanted || stages.predict.as_ref().is_some_and(PredictionStage::reads_every_row);
        let seasons = seasons.as_ref();
        let Block { subs: [front, back] } = &mut block;
        let mut flow = ControlFlow::Continue(());
        let helpers = *threads - 1;
        // Pieces enough that no thread waits long for another's last one.
        let pieces = if helpers == 0 { 1 } else { *threads * PIECES_PER_THREAD };
        let mut top_accepted = None;
        if let Some(first) = ranges.first() {
            front.compute(&ticks[first.clone()], cleaner, &mut by_symbol, pieces, helpers, seasons, width, || ());
        }
        for (i, range) in ranges.iter().enumerate() {
            let (ready, next) = if i % 2 == 0 { (&mut *front, &mut *back) } else { (&mut *back, &mut *front) };
            top_accepted = top_accepted.max(ready.top_symbol);
            let mut hand_on =
                || ready.hand_on(&ticks[range.clone()], &mut in_tick_order, &mut stages, width, every_row, out, each);
            flow = match ranges.get(i + 1) {
                Some(following) => next.compute(
                    &ticks[following.clone()],
                    cleaner,
                    &mut by_symbol,
                    pieces,
                    helpers,
                    seasons,
                    width,
                    hand_on,
                ),
                None => hand_on(),
            };
            if flow.is_break() {
                break;
            }
        }
        drop((by_symbol, in_tick_order));
        if symbols.len() > known {
            symbols.truncate(known.max(top_accepted.map_or(0, |top| top + 1)));
        }
        self.block = block;
        flow
    }

    fn hand_on_features(&mut self, wanted: bool) {
        self.features_wanted = wanted;
    }

    fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let predict = self.predict.as_ref().map(|p| (&p.state, p.predicted, p.failed));
        Snapshot::of(COMPONENT, &(&self.cleaner, &self.symbols, self.bars, self.alerts, predict))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        type Saved = (Cleaner, Vec<SymbolState>, u64, AlertCounts, Option<(PredictionState, u64, u64)>);
        let (cleaner, symbols, bars, alerts, predict): Saved = snapshot.decode(COMPONENT)?;
        self.cleaner = cleaner;
        self.symbols = symbols;
        self.bars = bars;
        self.alerts = alerts;
        // A snapshot taken with a model restores into a pipeline with one (and without:
        // without); a model added or removed since starts its windows afresh.
        if let (Some(stage), Some((state, predicted, failed))) = (&mut self.predict, predict) {
            stage.state = state;
            stage.predicted = predicted;
            stage.failed = failed;
        }
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

    /// A seasonal baseline with a profile for each of `symbols`: volume expected 3× higher
    /// in the second half of each minute, volatility 1e-4 per second.
    pub(crate) fn baseline(symbols: &[&str]) -> SeasonalBaseline {
        let profile = |symbol: &str| Profile {
            log_volume: (0..2880).map(|b| if b % 2 == 0 { 0.0 } else { 3f32.ln() }).collect(),
            log_variance: vec![(1e-4f32).ln(); 2880],
            ..Profile::flat(symbol, 30, 0.4)
        };
        let data = tickloop_models::DataRange {
            source: "test".into(),
            from: "1970-01-01".into(),
            to: "1970-01-01".into(),
            rows: 0,
            symbols: 0,
        };
        let card = tickloop_alerts::SeasonalCard::new("seasonal", 1, data, Default::default());
        SeasonalBaseline { card, profiles: symbols.iter().map(|s| profile(s)).collect(), pooled: profile("") }
    }

    /// Per tick: the feature values' bits and the alerts raised.
    fn run(p: &mut Pipeline, ticks: &[Tick]) -> Vec<(Vec<u64>, Vec<tickloop_core::Alert>)> {
        let mut out = Outputs::default();
        ticks
            .iter()
            .map(|t| {
                out.clear();
                p.on_tick(t, &mut out);
                (out.features.iter().map(|x| x.to_bits()).collect(), out.alerts.clone())
            })
            .collect()
    }

    #[test]
    fn sub_blocks_cover_the_block_in_order_with_a_short_tail() {
        let ranges = sub_block_ranges(17_000, 4);
        assert_eq!(ranges, [0..4000, 4000..8000, 8000..12_000, 12_000..16_000, 16_000..17_000]);
        let whole = 0..10;
        assert_eq!(sub_block_ranges(10, 1), [whole]);
        assert_eq!(sub_block_ranges(0, 4), Vec::<Range<usize>>::new());
        for len in 1..40 {
            let ranges = sub_block_ranges(len, 4);
            assert!(ranges.iter().all(|r| !r.is_empty()), "{len}: {ranges:?}");
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(len));
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "{len}: {ranges:?}");
        }
    }

    #[test]
    fn shards_are_contiguous_ranges_of_about_equal_ticks() {
        // Six symbols with 10, 0, 30, 10, 10 and 40 ticks (a block's `ends`, then the total).
        let ends = [10, 10, 40, 50, 60, 100, 100];
        assert_eq!(shard_starts(&ends, 6, 1), [0]);
        assert_eq!(shard_starts(&ends, 6, 2), [0, 4], "50 ticks each");
        assert_eq!(shard_starts(&ends, 6, 3), [0, 2, 5]);
        assert_eq!(shard_starts(&ends, 6, 64), [0, 2, 3, 4, 5], "symbol 1, with no ticks, gets no thread of its own");
        assert_eq!(shard_starts(&[0], 0, 4), [0]);
    }

    #[test]
    fn bad_ticks_are_dead_lettered_without_disturbing_the_rest() {
        let mut p = Pipeline::new(&PipelineConfig { features: vec![FeatureSpec::Sma(2)], ..PipelineConfig::default() });
        let ticks = [tick(0, 1, 10.0), tick(0, 2, f64::NAN), tick(0, 2, -1.0), tick(0, 1, 99.0), tick(0, 3, 12.0)];
        let mut out = Outputs::default();
        let mut features = Vec::new();
        let mut reasons = Vec::new();
        for t in &ticks {
            out.clear();
            p.on_tick(t, &mut out);
            features.push(out.features.clone());
            reasons.extend(out.rejects.iter().map(|r| r.reason));
        }
        assert!(features[0][0].is_nan());
        assert!(features[1].is_empty() && features[2].is_empty() && features[3].is_empty());
        assert_eq!(features[4], vec![11.0], "the SMA skipped the bad ticks");
        use tickloop_core::RejectReason::*;
        assert_eq!(reasons, vec![NotFinite, NonPositivePrice, Duplicate]);
        assert_eq!(p.stats().cleaning.accepted, 2);
    }

    #[test]
    fn a_named_set_expands_first_and_unknown_sets_are_refused() {
        let mut config = PipelineConfig {
            feature_set: Some("minimal".into()),
            features: vec![FeatureSpec::Rsi(14), FeatureSpec::Sma(60)],
            ..PipelineConfig::default()
        };
        config.resolve().unwrap();
        let names: Vec<String> = config.features.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["log_return", "sma_60", "sma_300", "rsi_14"]);
        let mut bad = PipelineConfig { feature_set: Some("everything".into()), ..PipelineConfig::default() };
        assert_eq!(bad.resolve(), Err(UnknownFeatureSet("everything".into())));
    }

    /// Ticks of four symbols, a second or less apart, with bad records mixed in: non-finite
    /// and non-positive prices, duplicates and ticks that arrive late.
    fn messy_ticks() -> impl Strategy<Value = Vec<Tick>> {
        proptest::collection::vec((0u32..4, 0i64..2, -0.02f64..0.02, 1.0f64..100.0, 0u8..20), 1..400).prop_map(
            |moves| {
                let mut closes = [100.0, 20.0, 55.0, 7.0];
                let mut secs = 1_704_205_800;
                moves
                    .into_iter()
                    .map(|(s, dt, r, volume, kind)| {
                        secs += dt;
                        let close = &mut closes[s as usize];
                        *close *= 1.0 + r;
                        let mut t = tick(s, secs, *close);
                        t.volume = Volume(volume);
                        match kind {
                            0 => t.close = Price(f64::NAN),
                            1 => t.low = Price(-1.0),
                            2 => t.ts_event = Timestamp::from_secs(secs - 3),
                            _ => {}
                        }
                        t
                    })
                    .collect()
            },
        )
    }

    proptest! {
        /// Blocks of any size, on any number of threads, give the outputs of tick-by-tick
        /// processing, in the same order, with every stage on: cleaning, bars, the full
        /// feature set, alerts, predictions (or, `bare`, no features and no model). Blocks
        /// longer than [`GATHERED_TICKS`] hand rows on from several gathers. With features
        /// not wanted downstream, every other output is the same, from a model reading one
        /// row (the rows of due ticks alone) or two (every row).
        #[test]
        fn blocks_give_exactly_the_outputs_of_tick_by_tick(
            ticks in messy_ticks(),
            sizes in proptest::collection::vec(1usize..200, 1..20),
            threads in 1usize..6,
            bare in proptest::bool::weighted(0.2),
            features_wanted in proptest::bool::weighted(0.6),
            window in 1usize..3,
        ) {
            let config = PipelineConfig {
                feature_set: Some("default".into()),
                features: vec![FeatureSpec::LogReturn],
                bar_secs: 5,
                alerts: AlertConfig {
                    volume_spike: Some(tickloop_alerts::VolumeSpikeRule {
                        absolute: Some(90.0),
                        min_ratio: 1.5,
                        window: tickloop_core::Span::secs(10),
                        persist: 2,
                        of: 3,
                        ..Default::default()
                    }),
                    price_drop: Some(tickloop_alerts::PriceDropRule {
                        window: tickloop_core::Span::secs(5),
                        sigmas: 1.0,
                        min_pct: 0.5,
                        volatility_window: tickloop_core::Span::secs(60),
                    }),
                    cooldown_secs: 3,
                    ..AlertConfig::default()
                },
                ..PipelineConfig::default()
            };
            let mut config = if bare { PipelineConfig { feature_set: None, features: vec![], ..config } } else { config };
            config.resolve().unwrap();
            let symbols = SymbolTable::from_names(["AAA", "BBB", "CCC", "DDD"]).unwrap();
            let make = || {
                let p = Pipeline::new(&config);
                let p = if bare { p } else { p.with_model(crate::predict::tests::model_of_window(window), 2).unwrap() };
                let mut p = p.with_alert_baseline(Arc::new(tests::baseline(&["BBB", "DDD"])));
                p.name_symbols(&symbols);
                p
            };
            let mut one_by_one = make();
            let mut out = Outputs::default();
            // What a sink that does not read features sees of the outputs.
            let shown = |t: &Tick, out: &Outputs| {
                if features_wanted {
                    format!("{t:?} {out:?}")
                } else {
                    format!("{t:?} {:?}", Outputs { features: vec![], ..out.clone() })
                }
            };
            let expected: Vec<String> = ticks
                .iter()
                .map(|t| {
                    out.clear();
                    one_by_one.on_tick(t, &mut out);
                    shown(t, &out)
                })
                .collect();
            let mut blocked = make().with_threads(threads);
            blocked.hand_on_features(features_wanted);
            let mut got = Vec::new();
            let (mut at, mut k) = (0, 0);
            while at < ticks.len() {
                let end = (at + sizes[k % sizes.len()]).min(ticks.len());
                let flow = blocked.on_ticks(&ticks[at..end], &mut out, &mut |t, out| {
                    got.push(shown(t, out));
                    ControlFlow::Continue(())
                });
                prop_assert!(flow.is_continue());
                at = end;
                k += 1;
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(blocked.stats(), one_by_one.stats());
            prop_assert_eq!(blocked.snapshot().unwrap(), one_by_one.snapshot().unwrap());
        }

        /// A pipeline restored from a snapshot taken midway continues exactly like one that
        /// never stopped: what a live runner relies on after a restart.
        #[test]
        fn snapshot_restore_continues_identically(closes in proptest::collection::vec((0u32..3, 1.0f64..100.0), 2..120), cut in 0usize..120) {
            let ticks: Vec<Tick> = closes.iter().enumerate().map(|(i, &(s, c))| tick(s, i as i64, c)).collect();
            let cut = cut.min(ticks.len());
            let alerts = AlertConfig {
                price_drop: Some(tickloop_alerts::PriceDropRule {
                    window: tickloop_core::Span::secs(5),
                    min_pct: 2.0,
                    ..Default::default()
                }),
                cooldown_secs: 3,
                ..AlertConfig::default()
            };
            let config = PipelineConfig { alerts, ..PipelineConfig::default() };
            let mut whole = Pipeline::new(&config);
            let expected = run(&mut whole, &ticks);
            let mut first = Pipeline::new(&config);
            run(&mut first, &ticks[..cut]);
            let mut resumed = Pipeline::new(&config);
            resumed.restore(&first.snapshot().unwrap()).unwrap();
            let got = run(&mut resumed, &ticks[cut..]);
            prop_assert_eq!(&got[..], &expected[cut..]);
            prop_assert_eq!(resumed.stats(), whole.stats());
        }
    }
}
