//! The engine: pull ticks from a [`Source`], push each through the pipeline, hand the
//! outputs to every [`Sink`], in source order, so the same input always gives the same
//! outputs. The loop is one thread; a pipeline may spread a block's per-symbol work over
//! threads of its own as long as its outputs stay those of tick-by-tick processing.

use std::error::Error as StdError;
use std::ops::ControlFlow;

use serde::Serialize;

use crate::{Clock, Component, EventClock, Outputs, SymbolTable, Tick, Timestamp};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Where ticks come from: the lake, the simulator, Kafka.
pub trait Source {
    /// The next tick, or `Ok(None)` when the source is exhausted.
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError>;

    /// The symbols this source's ticks refer to.
    fn symbols(&self) -> &SymbolTable;

    /// Replaces `block`'s contents with up to `max` next ticks; empty when the source is
    /// exhausted.
    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        block.clear();
        while block.len() < max {
            let Some(tick) = self.next_tick()? else { break };
            block.push(tick);
        }
        Ok(())
    }

    /// The number of ticks still to come, when known (for progress bars).
    fn remaining_hint(&self) -> Option<u64> {
        None
    }
}

/// A boxed source is a source (a command picks the lake or the simulator at run time).
impl<S: Source + ?Sized> Source for Box<S> {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        (**self).next_tick()
    }

    fn symbols(&self) -> &SymbolTable {
        (**self).symbols()
    }

    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        (**self).next_block(block, max)
    }

    fn remaining_hint(&self) -> Option<u64> {
        (**self).remaining_hint()
    }
}

/// Where outputs go: a backtest, the lake, Kafka, a dashboard.
pub trait Sink {
    /// Called once per input tick, in order, with what the pipeline produced for it.
    fn on_outputs(&mut self, input: &Tick, out: &Outputs) -> Result<(), SinkError>;

    /// Called with what [`Component::flush`] produced when the input ended (no input tick
    /// goes with it). Sinks of predictions must handle it; the default ignores it.
    fn on_flush(&mut self, _out: &Outputs) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once after the source is exhausted: flush and close.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Whether this sink reads [`Outputs::features`]. When no sink of a block does,
    /// [`Engine::step_block`] tells the pipeline so ([`Component::hand_on_features`]), and
    /// a replay skips copying every tick's feature row into tick order. Say `false` only
    /// when the sink never looks at them.
    fn reads_features(&self) -> bool {
        true
    }

    /// Which ticks [`Sink::on_outputs`] is called for: every tick (the default), or only
    /// those whose outputs hold something this sink writes. A replay hands on millions of
    /// ticks a second and almost none carries an alert, a prediction or a rejection; a sink
    /// that writes only those is not called for the rest (a call through `dyn Sink` for
    /// each of them cost ~1 % of a GBM replay, per such sink).
    fn called_for(&self) -> CalledFor {
        CalledFor::EVERY_TICK
    }
}

/// Which ticks a [`Sink`] is handed ([`Sink::called_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalledFor {
    every_tick: bool,
    alerts: bool,
    predictions: bool,
    rejects: bool,
}

impl CalledFor {
    /// Every tick, whatever its outputs.
    pub const EVERY_TICK: CalledFor = CalledFor { every_tick: true, alerts: false, predictions: false, rejects: false };
    /// Ticks with at least one alert.
    pub const ALERTS: CalledFor = CalledFor { alerts: true, ..CalledFor::NONE };
    /// Ticks with at least one prediction.
    pub const PREDICTIONS: CalledFor = CalledFor { predictions: true, ..CalledFor::NONE };
    /// Ticks with at least one rejected record.
    pub const REJECTS: CalledFor = CalledFor { rejects: true, ..CalledFor::NONE };
    const NONE: CalledFor = CalledFor { every_tick: false, alerts: false, predictions: false, rejects: false };

    /// Whether a tick with outputs `out` is one to call for.
    pub fn wants(self, out: &Outputs) -> bool {
        self.every_tick
            || (self.alerts && !out.alerts.is_empty())
            || (self.predictions && !out.predictions.is_empty())
            || (self.rejects && !out.rejects.is_empty())
    }
}

/// A source adapter's error, boxed so adapters keep their own error types.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(BoxError);

impl SourceError {
    pub fn new(err: impl Into<BoxError>) -> Self {
        SourceError(err.into())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SinkError(BoxError);

impl SinkError {
    pub fn new(err: impl Into<BoxError>) -> Self {
        SinkError(err.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("reading ticks: {0}")]
    Source(#[from] SourceError),
    #[error("sink {index} failed at {ts}: {source}")]
    Sink {
        index: usize,
        ts: Timestamp,
        #[source]
        source: SinkError,
    },
}

/// Counters of one run. Event times only; how long the run took is the caller's business.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    pub ticks_in: u64,
    /// Ticks the pipeline passed on (not rejected by cleaning).
    pub ticks_accepted: u64,
    /// Ticks older than the event clock when they arrived.
    pub ticks_out_of_order: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

#[derive(Debug)]
pub struct Engine<P> {
    pipeline: P,
    clock: EventClock,
    outputs: Outputs,
    stats: EngineStats,
    block_ticks: usize,
    /// The sinks' [`Sink::called_for`], asked anew for each block.
    calls: Vec<CalledFor>,
}

/// Ticks per block in [`Engine::run`]. Measured on a day of 1,000 symbols with the GBM in
/// the loop (BENCHMARKS.md): 0.59 M ticks/s at 4k, 0.79 at 16k, 1.02 at 64k, 1.08 at 256k —
/// a symbol's first tick in a block pays for bringing its state back into cache, so the
/// more of its ticks follow, the better. 64k (~65 ticks per symbol) costs ~20 MB of scratch
/// (the block, its cleaned copy and 21 features per tick).
pub const DEFAULT_BLOCK_TICKS: usize = 65_536;

/// Counts `tick` and hands its outputs to every sink.
/// Hands one tick's outputs to the sinks that want them (`calls[i]`, sink `i`'s
/// [`Sink::called_for`], asked once a block rather than once a tick).
fn deliver(
    stats: &mut EngineStats,
    clock: &mut EventClock,
    tick: &Tick,
    out: &Outputs,
    sinks: &mut [&mut dyn Sink],
    calls: &[CalledFor],
) -> Result<(), EngineError> {
    stats.ticks_in += 1;
    if !clock.observe(tick.ts_event) {
        stats.ticks_out_of_order += 1;
    }
    stats.first_ts.get_or_insert(tick.ts_event);
    stats.last_ts = Some(clock.now());
    if out.tick.is_some() {
        stats.ticks_accepted += 1;
    }
    for (index, (sink, calls)) in sinks.iter_mut().zip(calls).enumerate() {
        if calls.wants(out) {
            sink.on_outputs(tick, out).map_err(|source| EngineError::Sink { index, ts: tick.ts_event, source })?;
        }
    }
    Ok(())
}

impl<P: Component> Engine<P> {
    pub fn new(pipeline: P) -> Self {
        Engine {
            pipeline,
            clock: EventClock::new(),
            outputs: Outputs::default(),
            stats: EngineStats::default(),
            block_ticks: DEFAULT_BLOCK_TICKS,
            calls: Vec::new(),
        }
    }

    /// How many ticks [`Engine::run`] reads before handing them to the pipeline as one
    /// block (at least 1). Outputs do not depend on it; only speed and memory do.
    pub fn with_block_ticks(mut self, ticks: usize) -> Self {
        self.block_ticks = ticks.max(1);
        self
    }

    pub fn clock(&self) -> &EventClock {
        &self.clock
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// What the last [`Engine::step`] (or [`Engine::flush`]) produced.
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    pub fn pipeline(&self) -> &P {
        &self.pipeline
    }

    /// The pipeline, to name symbols or restore a snapshot between steps.
    pub fn pipeline_mut(&mut self) -> &mut P {
        &mut self.pipeline
    }

    pub fn into_pipeline(self) -> P {
        self.pipeline
    }

    /// Processes one tick: the building block of live runners that receive ticks from
    /// elsewhere.
    pub fn step(&mut self, tick: &Tick, sinks: &mut [&mut dyn Sink]) -> Result<&Outputs, EngineError> {
        self.outputs.clear();
        self.pipeline.on_tick(tick, &mut self.outputs);
        self.calls.clear();
        self.calls.extend(sinks.iter().map(|sink| sink.called_for()));
        deliver(&mut self.stats, &mut self.clock, tick, &self.outputs, sinks, &self.calls)?;
        Ok(&self.outputs)
    }

    /// Processes a block of ticks with [`Component::on_ticks`]: the same outputs, in the
    /// same order, as [`Engine::step`] on each, but the pipeline may reorder its work inside
    /// the block (see there).
    pub fn step_block(&mut self, ticks: &[Tick], sinks: &mut [&mut dyn Sink]) -> Result<(), EngineError> {
        self.pipeline.hand_on_features(sinks.iter().any(|sink| sink.reads_features()));
        self.calls.clear();
        self.calls.extend(sinks.iter().map(|sink| sink.called_for()));
        let (stats, clock, calls) = (&mut self.stats, &mut self.clock, &self.calls);
        let mut failed = None;
        let _ = self.pipeline.on_ticks(ticks, &mut self.outputs, &mut |tick, out| match deliver(
            stats, clock, tick, out, sinks, calls,
        ) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        });
        failed.map_or(Ok(()), Err)
    }

    /// Has the pipeline emit what it holds back ([`Component::flush`]: queued predictions)
    /// and hands it to every sink's [`Sink::on_flush`]. [`Engine::run`] does this at the end
    /// of its input; a live runner does it when the stream pauses.
    pub fn flush(&mut self, sinks: &mut [&mut dyn Sink]) -> Result<&Outputs, EngineError> {
        let ts = self.clock.now();
        self.outputs.clear();
        self.pipeline.flush(&mut self.outputs);
        for (index, sink) in sinks.iter_mut().enumerate() {
            sink.on_flush(&self.outputs).map_err(|source| EngineError::Sink { index, ts, source })?;
        }
        Ok(&self.outputs)
    }

    /// Drains `source` through the pipeline into `sinks`, then finishes every sink.
    pub fn run(&mut self, source: &mut dyn Source, sinks: &mut [&mut dyn Sink]) -> Result<EngineStats, EngineError> {
        let _span = tracing::info_span!("engine_run").entered();
        let mut block = Vec::with_capacity(self.block_ticks);
        loop {
            source.next_block(&mut block, self.block_ticks)?;
            if block.is_empty() {
                break;
            }
            self.step_block(&block, sinks)?;
        }
        let ts = self.clock.now();
        self.flush(sinks)?;
        for (index, sink) in sinks.iter_mut().enumerate() {
            sink.finish().map_err(|source| EngineError::Sink { index, ts, source })?;
        }
        tracing::info!(ticks = self.stats.ticks_in, accepted = self.stats.ticks_accepted, "engine run finished");
        Ok(self.stats)
    }
}

/// A source over ticks already in memory, in the order given. For tests and small tools.
#[derive(Debug, Clone)]
pub struct VecSource {
    symbols: SymbolTable,
    ticks: std::vec::IntoIter<Tick>,
}

impl VecSource {
    pub fn new(symbols: SymbolTable, ticks: Vec<Tick>) -> Self {
        VecSource { symbols, ticks: ticks.into_iter() }
    }
}

impl Source for VecSource {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        Ok(self.ticks.next())
    }

    fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn remaining_hint(&self) -> Option<u64> {
        Some(self.ticks.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Price, Snapshot, SnapshotError, SymbolId, Volume};

    /// Passes ticks through and records the close as its only feature, unless told no one
    /// reads features.
    #[derive(Default)]
    struct Echo {
        seen: u64,
        features_unwanted: bool,
    }

    impl Component for Echo {
        fn on_tick(&mut self, tick: &Tick, out: &mut Outputs) {
            self.seen += 1;
            out.tick = Some(*tick);
            if !self.features_unwanted {
                out.features.push(tick.close.get());
            }
        }
        fn hand_on_features(&mut self, wanted: bool) {
            self.features_unwanted = !wanted;
        }
        fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
            Snapshot::of("echo", &self.seen)
        }
        fn restore(&mut self, s: &Snapshot) -> Result<(), SnapshotError> {
            self.seen = s.decode("echo")?;
            Ok(())
        }
    }

    #[derive(Default)]
    struct Collect {
        closes: Vec<f64>,
        flushed: Vec<f64>,
        finished: bool,
    }

    impl Sink for Collect {
        fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
            self.closes.extend_from_slice(&out.features);
            Ok(())
        }
        fn on_flush(&mut self, out: &Outputs) -> Result<(), SinkError> {
            assert!(!self.finished, "flushed outputs come before finish");
            self.flushed.extend_from_slice(&out.features);
            Ok(())
        }
        fn finish(&mut self) -> Result<(), SinkError> {
            self.finished = true;
            Ok(())
        }
    }

    /// Holds every close back until flushed, like the prediction stage's batches.
    #[derive(Default)]
    struct Holder {
        held: Vec<f64>,
    }

    impl Component for Holder {
        fn on_tick(&mut self, tick: &Tick, out: &mut Outputs) {
            out.tick = Some(*tick);
            self.held.push(tick.close.get());
        }
        fn flush(&mut self, out: &mut Outputs) {
            out.features.append(&mut self.held);
        }
        fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
            Snapshot::of("holder", &self.held)
        }
        fn restore(&mut self, s: &Snapshot) -> Result<(), SnapshotError> {
            self.held = s.decode("holder")?;
            Ok(())
        }
    }

    #[test]
    fn run_hands_what_the_pipeline_held_back_to_every_sink_when_the_input_ends() {
        let symbols = SymbolTable::from_names(["A"]).unwrap();
        let mut source = VecSource::new(symbols, vec![tick(1, 10.0), tick(2, 11.0)]);
        let (mut a, mut b) = (Collect::default(), Collect::default());
        Engine::new(Holder::default()).run(&mut source, &mut [&mut a, &mut b]).unwrap();
        assert!(a.closes.is_empty());
        assert_eq!(a.flushed, vec![10.0, 11.0]);
        assert_eq!(b.flushed, a.flushed);
        assert!(a.finished && b.finished);
    }

    fn tick(secs: i64, close: f64) -> Tick {
        let p = Price(close);
        Tick {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(secs),
            ts_recv: Timestamp::from_secs(secs),
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Volume(1.0),
        }
    }

    #[test]
    fn run_feeds_every_tick_to_every_sink_and_counts_out_of_order() {
        let symbols = SymbolTable::from_names(["A"]).unwrap();
        let mut source = VecSource::new(symbols, vec![tick(1, 10.0), tick(3, 11.0), tick(2, 12.0)]);
        let (mut a, mut b) = (Collect::default(), Collect::default());
        let mut engine = Engine::new(Echo::default());
        let stats = engine.run(&mut source, &mut [&mut a, &mut b]).unwrap();
        assert_eq!(a.closes, vec![10.0, 11.0, 12.0]);
        assert_eq!(a.closes, b.closes);
        assert!(a.finished && b.finished);
        assert_eq!(stats.ticks_in, 3);
        assert_eq!(stats.ticks_out_of_order, 1);
        assert_eq!(engine.clock().now(), Timestamp::from_secs(3));
    }

    /// Fails on the second tick it sees.
    #[derive(Default)]
    struct FailSecond {
        seen: usize,
    }

    impl Sink for FailSecond {
        fn on_outputs(&mut self, _input: &Tick, _out: &Outputs) -> Result<(), SinkError> {
            self.seen += 1;
            if self.seen == 2 { Err(SinkError::new("disk full")) } else { Ok(()) }
        }
    }

    #[test]
    fn a_failing_sink_stops_the_run_inside_a_block_at_its_tick() {
        let symbols = SymbolTable::from_names(["A"]).unwrap();
        let ticks: Vec<Tick> = (1..=5).map(|s| tick(s, 10.0 + s as f64)).collect();
        let mut source = VecSource::new(symbols, ticks);
        let (mut collect, mut failing) = (Collect::default(), FailSecond::default());
        let mut engine = Engine::new(Echo::default()).with_block_ticks(4);
        let err = engine.run(&mut source, &mut [&mut collect, &mut failing]).unwrap_err();
        assert!(matches!(err, EngineError::Sink { index: 1, ts, .. } if ts == Timestamp::from_secs(2)), "{err}");
        assert_eq!(collect.closes, vec![11.0, 12.0], "nothing after the failed tick reached any sink");
        assert_eq!(engine.stats().ticks_in, 2);
        assert!(!collect.finished);
    }

    /// Counts ticks and reads nothing else.
    #[derive(Default)]
    struct Count(u64);

    impl Sink for Count {
        fn on_outputs(&mut self, _input: &Tick, _out: &Outputs) -> Result<(), SinkError> {
            self.0 += 1;
            Ok(())
        }
        fn reads_features(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_block_hands_features_on_only_when_a_sink_reads_them() {
        let symbols = SymbolTable::from_names(["A"]).unwrap();
        let ticks: Vec<Tick> = (1..=5).map(|s| tick(s, 10.0 + s as f64)).collect();
        let (mut collect, mut count) = (Collect::default(), Count::default());
        let mut engine = Engine::new(Echo::default()).with_block_ticks(4);
        engine.run(&mut VecSource::new(symbols.clone(), ticks.clone()), &mut [&mut count, &mut collect]).unwrap();
        assert_eq!(collect.closes, vec![11.0, 12.0, 13.0, 14.0, 15.0]);
        let mut engine = Engine::new(Echo::default()).with_block_ticks(4);
        let mut alone = Count::default();
        engine.run(&mut VecSource::new(symbols, ticks), &mut [&mut alone]).unwrap();
        assert!(engine.pipeline().features_unwanted, "no sink reads features: the component is told");
        assert_eq!(alone.0, 5);
    }

    /// Raises an alert on every tick whose close is a multiple of 3.
    #[derive(Default)]
    struct Alerting;

    impl Component for Alerting {
        fn on_tick(&mut self, tick: &Tick, out: &mut Outputs) {
            out.tick = Some(*tick);
            out.features.push(tick.close.get());
            if tick.close.get() % 3.0 == 0.0 {
                out.alerts.push(crate::Alert {
                    symbol: tick.symbol,
                    ts_event: tick.ts_event,
                    kind: crate::AlertKind::PriceDrop,
                    value: 0.0,
                    threshold: 0.0,
                    message: String::new(),
                });
            }
        }
        fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
            Snapshot::of("alerting", &())
        }
        fn restore(&mut self, _: &Snapshot) -> Result<(), SnapshotError> {
            Ok(())
        }
    }

    /// [`Collect`] called only for ticks with an alert.
    #[derive(Default)]
    struct AlertsOnly(Collect);

    impl Sink for AlertsOnly {
        fn on_outputs(&mut self, input: &Tick, out: &Outputs) -> Result<(), SinkError> {
            self.0.on_outputs(input, out)
        }
        fn called_for(&self) -> CalledFor {
            CalledFor::ALERTS
        }
    }

    #[test]
    fn a_sink_of_alerts_is_called_only_for_ticks_with_one_block_or_tick() {
        let symbols = SymbolTable::from_names(["A"]).unwrap();
        let ticks: Vec<Tick> = (1..=10).map(|s| tick(s, s as f64)).collect();
        for block_ticks in [1, 4, 64] {
            let (mut every, mut alerts) = (Collect::default(), AlertsOnly::default());
            let mut engine = Engine::new(Alerting).with_block_ticks(block_ticks);
            engine.run(&mut VecSource::new(symbols.clone(), ticks.clone()), &mut [&mut alerts, &mut every]).unwrap();
            assert_eq!(every.closes, (1..=10).map(f64::from).collect::<Vec<_>>(), "blocks of {block_ticks}");
            assert_eq!(alerts.0.closes, vec![3.0, 6.0, 9.0], "blocks of {block_ticks}");
        }
        let (mut every, mut alerts) = (Collect::default(), AlertsOnly::default());
        let mut engine = Engine::new(Alerting);
        for t in &ticks {
            engine.step(t, &mut [&mut every, &mut alerts]).unwrap();
        }
        assert_eq!((every.closes.len(), alerts.0.closes), (10, vec![3.0, 6.0, 9.0]), "tick by tick");
    }

    #[test]
    fn snapshot_refuses_the_wrong_component() {
        let echo = Echo { seen: 7, ..Echo::default() };
        let snap = echo.snapshot().unwrap();
        let mut other = Echo::default();
        other.restore(&snap).unwrap();
        assert_eq!(other.seen, 7);
        let foreign = Snapshot::of("bars", &1u64).unwrap();
        assert!(matches!(other.restore(&foreign), Err(SnapshotError::WrongComponent { .. })));
    }
}
