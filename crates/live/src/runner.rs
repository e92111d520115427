//! The runner's loop: poll, route each record to its partition's worker, publish, checkpoint
//! (flush → save state → commit), and publish stats.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tickloop_core::{Clock, Timestamp, WallClock};
use tickloop_kafka::{GroupConsumer, OutputProducer};
use tickloop_lake::Lake;

use crate::latency::{self, LatencySummary, LatencyWindow};
use crate::state_writer::{EncodedState, StateWriter};
use crate::worker::{self, OutRecord, OutputTopic, PartitionSnapshot, PartitionWorker};
use crate::{LiveConfig, LiveError};

/// What a run did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSummary {
    pub records: u64,
    pub features: u64,
    pub predictions: u64,
    pub alerts: u64,
    /// Alert deliveries to the extra sinks (webhook, SNS), and those failed or dropped.
    pub alerts_delivered: u64,
    pub alerts_undelivered: u64,
    pub dead_letters: u64,
    pub skipped_replayed: u64,
    pub checkpoints: u64,
    /// Checkpoints that found nothing new to save (an idle stream): no state written, no
    /// commit sent.
    pub checkpoints_idle: u64,
    /// Checkpoints put off because the broker was unreachable (an outage's length shows here).
    pub checkpoints_deferred: u64,
    /// Transient broker errors the consumer rode out.
    pub broker_errors: u64,
    pub lake_files: u64,
    pub lake_rows: u64,
    /// Records on this member's partitions not processed yet, at the last stats window.
    pub consumer_lag: u64,
    pub latency: Option<LatencySummary>,
}

/// What a run did, as the command prints it when the runner stops: a line of counts, then
/// outages, alert deliveries and latency where there were any.
impl std::fmt::Display for LiveSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "live: {} records → {} features, {} alerts, {} dead letters; {} replayed records skipped; {} checkpoints ({} with nothing new); {} rows in {} lake files",
            self.records,
            self.features,
            self.alerts,
            self.dead_letters,
            self.skipped_replayed,
            self.checkpoints,
            self.checkpoints_idle,
            self.lake_rows,
            self.lake_files
        )?;
        if self.broker_errors + self.checkpoints_deferred > 0 {
            writeln!(
                f,
                "broker outages ridden out: {} transient errors, {} checkpoints deferred",
                self.broker_errors, self.checkpoints_deferred
            )?;
        }
        if self.alerts_delivered + self.alerts_undelivered > 0 {
            writeln!(
                f,
                "alert sinks: {} deliveries, {} failed or dropped",
                self.alerts_delivered, self.alerts_undelivered
            )?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency: processing p50 {:.0} µs, p99 {:.0} µs; end to end p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
                l.processing_p50_us, l.processing_p99_us, l.e2e_p50_ms, l.e2e_p99_ms, l.e2e_max_ms, l.samples
            )?;
        }
        Ok(())
    }
}

/// Sees what the runner does, for dashboards: every clean tick with its outputs, and the
/// stats of each window.
pub trait LiveObserver: Send {
    fn on_tick(&mut self, symbol: &str, tick: &tickloop_core::Tick, outputs: &tickloop_core::Outputs);

    fn on_prediction(&mut self, _symbol: &str, _prediction: &tickloop_core::Prediction) {}

    fn on_stats(&mut self, _records_per_sec: f64, _latency: Option<&LatencySummary>, _summary: &LiveSummary) {}
}

pub struct LiveRunner {
    config: LiveConfig,
    consumer: GroupConsumer,
    producer: OutputProducer,
    state: Lake,
    workers: BTreeMap<i32, PartitionWorker>,
    /// Partitions assigned to this member now.
    owned: std::collections::BTreeSet<i32>,
    /// The offset each partition's state was last saved and committed at: a checkpoint skips
    /// a partition with nothing new (an idle stream would otherwise rewrite every state).
    checkpointed: BTreeMap<i32, i64>,
    /// The offset each partition was last sought to: a gap after it is real (compaction,
    /// transaction markers), not a reason to seek again.
    sought: BTreeMap<i32, i64>,
    emitted: Vec<OutRecord>,
    latency: LatencyWindow,
    summary: LiveSummary,
    /// Shared with a metrics endpoint, if any.
    metrics: Arc<std::sync::Mutex<String>>,
    observer: Option<Box<dyn LiveObserver>>,
    /// Alert sinks beyond the topic (webhook, SNS), fed without waiting.
    notifier: Option<tickloop_notify::Notifier>,
    /// Makes checkpoints' states durable off this thread.
    writer: StateWriter,
    /// The checkpoint being encoded, one partition per poll.
    checkpoint: Option<Checkpoint>,
}

/// How long the input must have been silent for the stream to count as paused between two
/// bursts (a 1-Hz feed's second arrives over some tens of milliseconds, in fetches that can be
/// 20 ms apart). A second of 10,000 symbols leaves ~900 ms of quiet at this machine's pace.
const QUIET: Duration = Duration::from_millis(100);

/// End to end, a record later than this is logged (debug level) with the time it spent
/// before the loop reached it: where a latency burst came from.
const SLOW_RECORD_NANOS: i64 = 30_000_000;

/// A checkpoint under way: the partitions whose state is still to encode and the states
/// encoded so far. Encoding the whole state at once (~7 MB at 1,000 symbols) stopped the
/// loop for 22–32 ms; one partition per poll stops it for a sixth of that.
#[derive(Debug)]
struct Checkpoint {
    pending: std::collections::VecDeque<i32>,
    states: Vec<EncodedState>,
    started: Instant,
}

impl std::fmt::Debug for LiveRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRunner")
            .field("group", &self.config.group)
            .field("partitions", &self.workers.len())
            .finish()
    }
}

impl LiveRunner {
    /// Joins the group; `state` holds partition snapshots under `_state/live/<group>/`.
    pub fn new(config: LiveConfig, state: Lake) -> Result<Self, LiveError> {
        if config.model.is_some() || config.pipeline.alerts.baseline.is_some() {
            // Fail now, naming any feature the model needs and the pipeline lacks, or why
            // the alert baseline does not load.
            PartitionWorker::new(0, &config.pipeline, config.model.as_ref(), false)?;
        }
        for topic in [
            &config.input_topic,
            &config.features_topic,
            &config.predictions_topic,
            &config.alerts_topic,
            &config.dead_letter_topic,
        ] {
            tickloop_kafka::ensure_topic(&config.brokers, topic, 3)?;
        }
        let consumer =
            GroupConsumer::join(&config.brokers, &config.group, &config.input_topic, config.session_timeout_ms)?;
        let producer = OutputProducer::new(&config.brokers, 1)?;
        let outputs =
            [&config.features_topic, &config.predictions_topic, &config.alerts_topic, &config.dead_letter_topic];
        producer.connect(&outputs.map(String::as_str), Duration::from_secs(10))?;
        Ok(LiveRunner {
            writer: StateWriter::new(state.store().clone()),
            checkpoint: None,
            config,
            consumer,
            producer,
            state,
            workers: BTreeMap::new(),
            owned: std::collections::BTreeSet::new(),
            checkpointed: BTreeMap::new(),
            sought: BTreeMap::new(),
            emitted: Vec::new(),
            latency: LatencyWindow::default(),
            summary: LiveSummary::default(),
            metrics: Arc::new(std::sync::Mutex::new(String::new())),
            observer: None,
            notifier: None,
        })
    }

    /// Shows every clean tick and each stats window to `observer` (a dashboard).
    pub fn observe(&mut self, observer: Box<dyn LiveObserver>) {
        self.observer = Some(observer);
    }

    /// Also sends every alert to these sinks (webhook, SNS); see `tickloop-notify`.
    pub fn notify_with(&mut self, notifier: tickloop_notify::Notifier) {
        self.notifier = Some(notifier);
    }

    /// The Prometheus text the runner last published (refreshed every stats interval).
    pub fn metrics(&self) -> Arc<std::sync::Mutex<String>> {
        self.metrics.clone()
    }

    fn state_key(&self, partition: i32) -> String {
        format!("_state/live/{}/{}/partition={partition}.snapshot", self.config.group, self.config.input_topic)
    }

    /// Runs until `stop` is set (or the idle limit passes); checkpoints before returning.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<LiveSummary, LiveError> {
        let mut last_checkpoint = Instant::now();
        let mut last_lake_flush = Instant::now();
        let mut last_stats = Instant::now();
        // The idle clock (`exit_when_idle`) runs from the last record, broker error or new
        // assignment: while the broker is away or the group re-forms, input may be waiting
        // that this member cannot see yet, so that time is not idleness.
        let mut last_activity = Instant::now();
        let mut errors_seen = 0;
        let mut window_records = 0u64;
        let mut last_record = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let record = self.consumer.poll(Duration::from_millis(20))?;
            let revoked = self.consumer.take_revoked();
            if !revoked.is_empty() {
                // The checkpoint under way finishes first, so the new owner restores the
                // latest state.
                let completed = self.complete_checkpoint();
                self.ride_out(completed)?;
            }
            for partition in revoked {
                // Its new owner (maybe us again) restores it from the last checkpoint.
                self.workers.remove(&partition);
                self.owned.remove(&partition);
                self.checkpointed.remove(&partition);
            }
            if let Some(saved) = self.writer.finished() {
                self.commit_saved(saved)?;
            }
            let assigned = self.consumer.take_assigned();
            if !assigned.is_empty() {
                tracing::info!(partitions = ?assigned, "partitions assigned");
                self.owned.extend(assigned);
                last_activity = Instant::now();
            }
            if self.consumer.transient_errors() != errors_seen {
                errors_seen = self.consumer.transient_errors();
                last_activity = Instant::now();
            }
            // A record fetched before its partition was revoked belongs to the new owner now.
            let record = record.filter(|r| self.owned.contains(&r.partition));
            if let Some(record) = record {
                last_activity = Instant::now();
                last_record = last_activity;
                window_records += 1;
                self.handle(&record)?;
            } else {
                // The stream paused: predict what is queued rather than wait for the next
                // second's first tick.
                self.flush_predictions()?;
                if self.config.exit_when_idle.is_some_and(|idle| last_activity.elapsed() >= idle) {
                    break;
                }
            }
            self.producer.poll();
            // Checkpoint work (a partition's state encoded, 3–7 ms at 1,000 symbols; lake
            // files written) runs while the stream is quiet, between the feed's seconds: run
            // in the middle of a second's burst, it held up every record queued behind it
            // (e2e p99 53–65 ms in the windows with a checkpoint, 20–24 ms without). A stream
            // that is never quiet (a backlog caught up after a restart) still checkpoints,
            // one commit interval late. A checkpoint due while the last one is still being
            // encoded or written waits for a later poll.
            let paused = last_record.elapsed() >= QUIET;
            let interval = self.config.commit_interval;
            let step = if let Some(checkpoint) = &self.checkpoint {
                (paused || checkpoint.started.elapsed() >= interval).then(|| self.encode_next_partition())
            } else if last_checkpoint.elapsed() >= interval
                && (paused || last_checkpoint.elapsed() >= 2 * interval)
                && !self.writer.busy()
            {
                let force_lake = last_lake_flush.elapsed() >= self.config.lake_flush_interval;
                if force_lake {
                    last_lake_flush = Instant::now();
                }
                last_checkpoint = Instant::now();
                Some(self.begin_checkpoint(force_lake))
            } else {
                None
            };
            if let Some(step) = step {
                self.ride_out(step)?;
            }
            if last_stats.elapsed() >= self.config.stats_interval {
                self.publish_stats(window_records, last_stats.elapsed());
                window_records = 0;
                last_stats = Instant::now();
            }
        }
        self.flush_predictions()?;
        self.complete_checkpoint()?;
        self.begin_checkpoint(true)?;
        self.complete_checkpoint()?;
        self.summary.broker_errors = self.consumer.transient_errors();
        self.summary.latency = self.latency.total();
        if let Some(notifier) = self.notifier.take() {
            let stats = notifier.close();
            let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            self.summary.alerts_delivered = count(&stats.delivered);
            self.summary.alerts_undelivered = count(&stats.failed) + count(&stats.dropped);
        }
        Ok(self.summary.clone())
    }

    fn handle(&mut self, record: &tickloop_kafka::Consumed) -> Result<(), LiveError> {
        let ts_recv = WallClock.now();
        let partition = record.partition;
        if !self.workers.contains_key(&partition) {
            let worker = self.load_worker(partition)?;
            self.workers.insert(partition, worker);
        }
        let worker = self.workers.get_mut(&partition).expect("inserted above");
        if let Some(next) = worker.next_offset() {
            if record.offset < next {
                // Already in the restored state (processed before a crash or a rebalance).
                self.summary.skipped_replayed += 1;
                return Ok(());
            }
            if record.offset > next && self.sought.get(&partition) != Some(&next) {
                // The committed offset is past the saved state (a checkpoint cut between
                // saving and committing cannot do this, but a hand-edited store can): go back
                // and re-read what the state has not seen.
                tracing::warn!(partition, at = record.offset, state = next, "seeking back to the saved state");
                self.consumer.seek(partition, next)?;
                self.sought.insert(partition, next);
                return Ok(());
            }
        }
        self.summary.records += 1;
        self.emitted.clear();
        worker.process(record, ts_recv, || WallClock.now(), &mut self.emitted);
        if let Some(observer) = &mut self.observer
            && let (symbols, Some(outputs)) = worker.last_outputs()
        {
            if let Some(tick) = outputs.tick {
                observer.on_tick(symbols.name(tick.symbol), &tick, outputs);
            }
            for p in &outputs.predictions {
                observer.on_prediction(symbols.name(p.symbol), p);
            }
        }
        self.publish(ts_recv)
    }

    /// Flushes every worker's queued predictions and publishes them.
    fn flush_predictions(&mut self) -> Result<(), LiveError> {
        if self.config.model.is_none() {
            return Ok(());
        }
        let now = WallClock.now();
        self.emitted.clear();
        for worker in self.workers.values_mut() {
            worker.flush_predictions(now, now, &mut self.emitted);
            if let Some(observer) = &mut self.observer {
                let (symbols, _) = worker.last_outputs();
                for p in worker.flushed_predictions() {
                    observer.on_prediction(symbols.name(p.symbol), p);
                }
            }
        }
        self.publish(now)
    }

    /// Sends `self.emitted` to its topics.
    fn publish(&mut self, ts_recv: Timestamp) -> Result<(), LiveError> {
        for out in &self.emitted {
            let topic = match out.kind {
                OutputTopic::Features => {
                    self.summary.features += 1;
                    &self.config.features_topic
                }
                OutputTopic::Predictions => {
                    self.summary.predictions += 1;
                    &self.config.predictions_topic
                }
                OutputTopic::Alerts => {
                    self.summary.alerts += 1;
                    // The log is an alert sink too (journald/CloudWatch pick it up).
                    tracing::warn!(target: "tickloop::alerts", alert = %String::from_utf8_lossy(&out.value), "alert");
                    if let Some(notifier) = &self.notifier {
                        let id = out.headers.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.as_slice());
                        let symbol = String::from_utf8_lossy(&out.key).into_owned();
                        let summary = serde_json::from_slice::<serde_json::Value>(&out.value)
                            .ok()
                            .and_then(|v| v["summary"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| format!("tickloop alert: {symbol}"));
                        notifier.notify(tickloop_notify::AlertMessage {
                            id: String::from_utf8_lossy(id.unwrap_or_default()).into_owned(),
                            symbol,
                            summary,
                            json: String::from_utf8_lossy(&out.value).into_owned(),
                        });
                    }
                    &self.config.alerts_topic
                }
                OutputTopic::DeadLetter => {
                    self.summary.dead_letters += 1;
                    &self.config.dead_letter_topic
                }
            };
            let headers: Vec<(&str, &[u8])> = out.headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            self.producer.send(topic, &out.key, &out.value, &headers)?;
            if out.kind == OutputTopic::Features {
                let now = WallClock.now();
                let source = out.source_ts_ms.map(|ms| ms * 1_000_000);
                let e2e = source.map(|source| now.as_nanos() - source);
                self.latency.record(now.as_nanos() - ts_recv.as_nanos(), e2e);
                if let Some(source) = source.filter(|source| now.as_nanos() - source > SLOW_RECORD_NANOS) {
                    tracing::debug!(
                        e2e_ms = (now.as_nanos() - source) as f64 / 1e6,
                        before_loop_ms = (ts_recv.as_nanos() - source) as f64 / 1e6,
                        "slow record"
                    );
                }
            }
        }
        Ok(())
    }

    fn load_worker(&self, partition: i32) -> Result<PartitionWorker, LiveError> {
        let key = self.state_key(partition);
        let Some(bytes) = self.state.store().get(&key)? else {
            tracing::info!(partition, "no saved state: starting fresh");
            let worker = PartitionWorker::new(
                partition,
                &self.config.pipeline,
                self.config.model.as_ref(),
                self.config.lake.is_some(),
            )?
            .with_feature_precision(self.config.lake_feature_precision);
            return Ok(worker);
        };
        let fail = |reason: String| LiveError::Snapshot { partition, key: key.clone(), reason };
        let snapshot: PartitionSnapshot = postcard::from_bytes(&bytes).map_err(|e| fail(e.to_string()))?;
        if snapshot.format != worker::SNAPSHOT_FORMAT || snapshot.partition != partition {
            return Err(fail(format!("format {} of partition {}", snapshot.format, snapshot.partition)));
        }
        let mut worker = PartitionWorker::restore(&self.config.pipeline, self.config.model.as_ref(), &snapshot)
            .map_err(|e| fail(e.to_string()))?
            .with_feature_precision(self.config.lake_feature_precision);
        if self.config.lake.is_some() {
            worker.keep_lake_buffer();
        }
        tracing::info!(
            partition,
            next_offset = snapshot.next_offset,
            symbols = snapshot.symbols.len(),
            "state restored"
        );
        Ok(worker)
    }

    /// Starts a checkpoint: lake files written, then the partitions with something new
    /// queued for [`LiveRunner::encode_next_partition`]. The caller checks the writer is idle.
    ///
    /// Per partition, in this order: its outputs acknowledged → its state encoded (this
    /// thread) → made durable (the writer's thread) → its offset committed (this thread,
    /// [`LiveRunner::commit_saved`]).
    fn begin_checkpoint(&mut self, force_lake: bool) -> Result<(), LiveError> {
        let started = Instant::now();
        // Partitions whose state changed since their last checkpoint: new records, or lake
        // hours written out of their buffer.
        let mut changed = std::collections::BTreeSet::new();
        for (&partition, worker) in &self.workers {
            if worker.next_offset().is_some_and(|next| self.checkpointed.get(&partition) != Some(&next)) {
                changed.insert(partition);
            }
        }
        if let Some(lake) = &self.config.lake {
            for (&partition, worker) in self.workers.iter_mut() {
                let flushed =
                    worker.flush_lake(lake, &self.config.input_topic, self.config.lake_max_rows, force_lake)?;
                self.summary.lake_files += flushed.files as u64;
                self.summary.lake_rows += flushed.rows as u64;
                if flushed.files > 0 {
                    changed.insert(partition);
                }
            }
        }
        self.summary.checkpoints += 1;
        self.summary.checkpoints_idle += u64::from(changed.is_empty());
        tracing::debug!(
            partitions = changed.len(),
            lake_ms = started.elapsed().as_secs_f64() * 1e3,
            "checkpoint started"
        );
        if !changed.is_empty() {
            self.checkpoint = Some(Checkpoint { pending: changed.into_iter().collect(), states: Vec::new(), started });
        }
        Ok(())
    }

    /// Encodes the next partition of the checkpoint under way, once every output so far is
    /// acknowledged (a state must not hold a record whose outputs could still be lost); the
    /// last one hands all the states to the writer.
    fn encode_next_partition(&mut self) -> Result<(), LiveError> {
        let Some(partition) = self.checkpoint.as_mut().map(|c| c.pending.pop_front()) else { return Ok(()) };
        let started = Instant::now();
        if let Some(partition) = partition {
            self.producer.flush(Duration::from_secs(60))?;
            let flushed_at = started.elapsed();
            // A partition revoked since the checkpoint began is its new owner's to save.
            if let Some(snapshot) = self.workers.get(&partition).and_then(PartitionWorker::snapshot) {
                let key = self.state_key(partition);
                let bytes = postcard::to_stdvec(&snapshot).map_err(|e| LiveError::Snapshot {
                    partition,
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                tracing::debug!(
                    partition,
                    bytes = bytes.len(),
                    flush_ms = ms(flushed_at),
                    encode_ms = ms(started.elapsed() - flushed_at),
                    "checkpoint encoded"
                );
                let state = EncodedState { key, bytes, partition, next_offset: snapshot.next_offset };
                self.checkpoint.as_mut().expect("checked above").states.push(state);
            }
        }
        let checkpoint = self.checkpoint.as_ref().expect("checked above");
        if checkpoint.pending.is_empty() {
            let done = self.checkpoint.take().expect("checked above");
            tracing::debug!(
                partitions = done.states.len(),
                since_start_ms = done.started.elapsed().as_secs_f64() * 1e3,
                "checkpoint encoded, saving"
            );
            if !done.states.is_empty() {
                self.writer.submit(done.states);
            }
        }
        Ok(())
    }

    /// Finishes the checkpoint under way (encoding what is left, waiting for the writer) and
    /// commits it: before partitions move and before the runner stops.
    fn complete_checkpoint(&mut self) -> Result<(), LiveError> {
        while self.checkpoint.is_some() {
            self.encode_next_partition()?;
        }
        self.finish_saving()
    }

    /// Commits the offsets of states the writer made durable (those this member still
    /// owns). A broker outage only delays it: the states stay saved, and the next checkpoint
    /// saves and commits again.
    fn commit_saved(&mut self, saved: crate::state_writer::Saved) -> Result<(), LiveError> {
        let mut offsets = saved?;
        offsets.retain(|(partition, _)| self.owned.contains(partition));
        match self.consumer.commit(&offsets) {
            Ok(()) => {
                tracing::debug!(?offsets, "checkpoint committed");
                self.checkpointed.extend(offsets);
                Ok(())
            }
            Err(e) if e.is_transient() => {
                self.summary.checkpoints_deferred += 1;
                tracing::warn!(error = %e, "commit deferred: broker unreachable");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A checkpoint step that failed because the broker is away abandons the checkpoint:
    /// nothing of it is committed, so nothing can be lost, outputs wait in the producer's
    /// queue and the next checkpoint tries again. Any other error stops the runner.
    fn ride_out(&mut self, step: Result<(), LiveError>) -> Result<(), LiveError> {
        match step {
            Err(LiveError::Kafka(e)) if e.is_transient() => {
                if let Some(abandoned) = self.checkpoint.take() {
                    // Their lake hours may be written already: their states are saved next
                    // time even if no record arrives meanwhile.
                    for partition in
                        abandoned.pending.iter().copied().chain(abandoned.states.iter().map(|s| s.partition))
                    {
                        self.checkpointed.remove(&partition);
                    }
                }
                self.summary.checkpoints_deferred += 1;
                tracing::warn!(error = %e, "checkpoint deferred: broker unreachable");
                Ok(())
            }
            other => other,
        }
    }

    /// Waits for the save in flight, if any, and commits it.
    fn finish_saving(&mut self) -> Result<(), LiveError> {
        match self.writer.wait() {
            Some(saved) => self.commit_saved(saved),
            None => Ok(()),
        }
    }

    fn publish_stats(&mut self, records: u64, over: Duration) {
        let rate = records as f64 / over.as_secs_f64().max(1e-9);
        let next: Vec<(i32, i64)> = self.workers.iter().filter_map(|(&p, w)| w.next_offset().map(|o| (p, o))).collect();
        match self.consumer.lag(&next) {
            Ok(lag) => self.summary.consumer_lag = lag,
            Err(e) => tracing::warn!(error = %e, "could not read the consumer lag"),
        }
        self.summary.broker_errors = self.consumer.transient_errors();
        let window = self.latency.take_window();
        if let Some(w) = &window {
            tracing::info!(
                records_per_sec = format!("{rate:.0}"),
                e2e_p50_ms = w.e2e_p50_ms,
                e2e_p99_ms = w.e2e_p99_ms,
                e2e_max_ms = w.e2e_max_ms,
                proc_p99_us = w.processing_p99_us,
                lag = self.summary.consumer_lag,
                partitions = self.workers.len(),
                "live"
            );
        }
        if let Some(observer) = &mut self.observer {
            observer.on_stats(rate, window.as_ref(), &self.summary);
        }
        let text = latency::prometheus(&self.summary, rate, window.as_ref());
        *self.metrics.lock().expect("not poisoned") = text;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_prints_outages_and_deliveries_only_when_there_were_any() {
        let quiet = LiveSummary { records: 10, features: 9, dead_letters: 1, ..LiveSummary::default() };
        let text = quiet.to_string();
        assert!(text.starts_with("live: 10 records → 9 features, 0 alerts, 1 dead letters;"), "{text}");
        assert_eq!(text.lines().count(), 1);
        let eventful = LiveSummary { broker_errors: 3, alerts_delivered: 2, ..quiet };
        let text = eventful.to_string();
        assert!(text.contains("broker outages ridden out: 3 transient errors, 0 checkpoints deferred"), "{text}");
        assert!(text.contains("alert sinks: 2 deliveries, 0 failed or dropped"), "{text}");
    }
}
