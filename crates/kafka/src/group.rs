//! The live runner's Kafka plumbing: a consumer-group member with manual commits that
//! reports revocations, and an idempotent output producer that knows whether everything it
//! sent was acknowledged (so offsets are committed only after their outputs are safe).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::{KafkaAdapterError, client_config};

/// One record as consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// The record's Kafka timestamp (producer create time), ms since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// Records partition revocations so the runner can drop the state of partitions it no
/// longer owns (their new owner rebuilds it from the last snapshot).
#[derive(Debug, Default)]
struct GroupContext {
    revoked: Mutex<Vec<i32>>,
    assigned: Mutex<Vec<i32>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                let parts = list.elements().iter().map(|e| e.partition()).collect::<Vec<_>>();
                tracing::info!(partitions = ?parts, "partitions revoked");
                self.revoked.lock().expect("not poisoned").extend(parts);
            }
            Rebalance::Assign(list) => {
                let parts = list.elements().iter().map(|e| e.partition()).collect::<Vec<_>>();
                tracing::info!(partitions = ?parts, "partitions assigned");
                self.assigned.lock().expect("not poisoned").extend(parts);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// A consumer-group member on one topic with manual offset commits.
pub struct GroupConsumer {
    brokers: String,
    topic: String,
    consumer: BaseConsumer<GroupContext>,
    transient_errors: AtomicU64,
    /// Set by a transient error, cleared by the next record: logs an outage once.
    in_outage: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl GroupConsumer {
    /// Joins `group` on `topic`. `session_timeout_ms` bounds how long a dead member holds
    /// its partitions (and, on some brokers, how long a join takes).
    pub fn join(brokers: &str, group: &str, topic: &str, session_timeout_ms: u32) -> Result<Self, KafkaAdapterError> {
        let fail = |source| KafkaAdapterError::Kafka { brokers: brokers.to_owned(), source };
        let consumer: BaseConsumer<GroupContext> = client_config(brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", session_timeout_ms.to_string())
            .set("heartbeat.interval.ms", (session_timeout_ms / 4).max(100).to_string())
            // How long the broker may hold a fetch that finds nothing new. Kafka answers as
            // soon as a record arrives; tansu was measured to add the wait (1,000 symbols at
            // 1 Hz: e2e p50 14.0 ms at 10, 11.9 ms at 2). An idle consumer asks 500 times a
            // second: a few KB/s to a local broker.
            .set("fetch.wait.max.ms", "2")
            // A fetch that errors (some brokers answer one for a partition with nothing in it
            // yet) backs off for 500 ms by default: the first records would wait that long.
            .set("fetch.error.backoff.ms", "20")
            .set("enable.partition.eof", "false")
            .create_with_context(GroupContext::default())
            .map_err(fail)?;
        consumer.subscribe(&[topic]).map_err(fail)?;
        Ok(GroupConsumer {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            consumer,
            transient_errors: AtomicU64::new(0),
            in_outage: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn fail(&self, source: KafkaError) -> KafkaAdapterError {
        KafkaAdapterError::Kafka { brokers: self.brokers.clone(), source }
    }

    /// The next record, or `None` when none arrived within `timeout`. Transient cluster
    /// errors (a broker down or restarting) are logged and counted, not returned: librdkafka
    /// reconnects and the consumer resumes from its position.
    pub fn poll(&self, timeout: Duration) -> Result<Option<Consumed>, KafkaAdapterError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(e)) => {
                let err = self.fail(e);
                if !err.is_transient() {
                    return Err(err);
                }
                self.transient_errors.fetch_add(1, Ordering::Relaxed);
                if !self.in_outage.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "broker unreachable; consuming resumes when it is back");
                }
                Ok(None)
            }
            Some(Ok(m)) => {
                if self.in_outage.swap(false, Ordering::Relaxed) {
                    tracing::warn!(errors = self.transient_errors(), "broker reachable again: consuming");
                }
                Ok(Some(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    timestamp_ms: m.timestamp().to_millis(),
                }))
            }
        }
    }

    /// Transient cluster errors seen while polling (each outage shows as one or a few).
    pub fn transient_errors(&self) -> u64 {
        self.transient_errors.load(Ordering::Relaxed)
    }

    /// Partitions revoked since the last call.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut *self.consumer.context().revoked.lock().expect("not poisoned"))
    }

    /// Partitions assigned since the last call.
    pub fn take_assigned(&self) -> Vec<i32> {
        std::mem::take(&mut *self.consumer.context().assigned.lock().expect("not poisoned"))
    }

    /// Moves the fetch position of an owned partition.
    pub fn seek(&self, partition: i32, offset: i64) -> Result<(), KafkaAdapterError> {
        self.consumer
            .seek(&self.topic, partition, Offset::Offset(offset), Duration::from_secs(10))
            .map_err(|e| self.fail(e))
    }

    /// How many records the group has not read yet on this member's partitions: the high
    /// watermark minus the next offset to process, summed (`next` gives, per partition,
    /// the next offset the caller will process).
    pub fn lag(&self, next: &[(i32, i64)]) -> Result<u64, KafkaAdapterError> {
        let mut lag = 0u64;
        for &(partition, offset) in next {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, partition, Duration::from_secs(5))
                .map_err(|e| self.fail(e))?;
            lag += (high - offset).max(0) as u64;
        }
        Ok(lag)
    }

    /// Commits `next_offset` (the offset of the next record to read) per partition.
    pub fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), KafkaAdapterError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for &(partition, offset) in offsets {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset)).map_err(|e| self.fail(e))?;
        }
        match self.consumer.commit(&list, CommitMode::Sync) {
            // Partitions moved away between the flush and the commit: their new owner
            // replays from the previous commit, and outputs are idempotent by key.
            Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::RebalanceInProgress | RDKafkaErrorCode::IllegalGeneration,
            )) => {
                tracing::warn!("commit refused during a rebalance; the new owner replays from the last commit");
                Ok(())
            }
            other => other.map_err(|e| self.fail(e)),
        }
    }
}

/// Counts deliveries and failures, so a commit can wait for "everything acknowledged".
#[derive(Debug, Default)]
struct DeliveryCounter {
    /// Set from the statistics once the idempotent producer has its producer id.
    id_assigned: AtomicBool,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {
    /// Only the idempotent producer's state is read (see [`OutputProducer::connect`]); the
    /// rest of the statistics is not parsed.
    fn stats_raw(&self, statistics: &[u8]) {
        self.id_assigned.store(producer_id_assigned(statistics), Ordering::Relaxed);
    }
}

/// Whether librdkafka's statistics JSON says the idempotent producer has its producer id
/// (`"eos": {"idemp_state": "Assigned", …}`).
fn producer_id_assigned(statistics: &[u8]) -> bool {
    const KEY: &[u8] = b"\"idemp_state\"";
    let Some(at) = statistics.windows(KEY.len()).position(|w| w == KEY) else { return false };
    let rest = &statistics[at + KEY.len()..];
    let value = rest.iter().position(|&b| b == b'"').map_or(&[][..], |start| &rest[start..]);
    value.starts_with(b"\"Assigned\"")
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().expect("not poisoned");
                if first.is_none() {
                    *first = Some(format!("{} to {}: {e}", m.offset(), m.topic()));
                }
            }
        }
    }
}

/// An idempotent producer (`acks=all`) for the runner's outputs and dead letters.
pub struct OutputProducer {
    brokers: String,
    producer: BaseProducer<DeliveryCounter>,
    sent: u64,
}

impl std::fmt::Debug for OutputProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputProducer").field("sent", &self.sent).finish_non_exhaustive()
    }
}

impl OutputProducer {
    pub fn new(brokers: &str, linger_ms: u32) -> Result<Self, KafkaAdapterError> {
        let producer = client_config(brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            // Read by `connect` to wait for the producer id; cheap (a few KB of JSON 10 times
            // a second, not parsed).
            .set("statistics.interval.ms", "100")
            .create_with_context(DeliveryCounter::default())
            .map_err(|source| KafkaAdapterError::Kafka { brokers: brokers.to_owned(), source })?;
        Ok(OutputProducer { brokers: brokers.to_owned(), producer, sent: 0 })
    }

    /// Queues one record; `headers` are `(name, value)` pairs.
    pub fn send(
        &mut self,
        topic: &str,
        key: &[u8],
        value: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(), KafkaAdapterError> {
        loop {
            let mut record = BaseRecord::to(topic).key(key).payload(value);
            if !headers.is_empty() {
                let mut owned = OwnedHeaders::new_with_capacity(headers.len());
                for (name, value) in headers {
                    owned = owned.insert(Header { key: name, value: Some(*value) });
                }
                record = record.headers(owned);
            }
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((source, _)) => return Err(KafkaAdapterError::Kafka { brokers: self.brokers.clone(), source }),
            }
        }
        self.sent += 1;
        Ok(())
    }

    /// Connects to the cluster and learns `topics`' partitions before the first record, so
    /// the first records do not wait for the connection (their timestamps are taken when
    /// they are queued, and end-to-end latency is measured from them).
    ///
    /// Then waits (up to 2 s) for the idempotent producer's id: librdkafka asks for it when
    /// the producer is created, and if no broker connection is up at that instant it asks
    /// again only 500 ms later — holding every record queued meanwhile. That was the ~0.5-s
    /// start-up burst of the live latency benchmark (measured: the first record of a fresh
    /// idempotent producer took 502 ms to deliver, the next ones 0.4 ms).
    pub fn connect(&self, topics: &[&str], timeout: Duration) -> Result<(), KafkaAdapterError> {
        for topic in topics {
            self.producer
                .client()
                .fetch_metadata(Some(topic), timeout)
                .map_err(|source| KafkaAdapterError::Kafka { brokers: self.brokers.clone(), source })?;
        }
        let started = std::time::Instant::now();
        while !self.producer.context().id_assigned.load(Ordering::Relaxed) {
            if started.elapsed() > Duration::from_secs(2) {
                tracing::warn!(brokers = %self.brokers, "no idempotent producer id after 2 s; the first records wait for it");
                break;
            }
            self.producer.poll(Duration::from_millis(10));
        }
        tracing::debug!(waited_ms = started.elapsed().as_millis() as u64, "producer id assigned");
        Ok(())
    }

    /// Serves delivery reports without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed since
    /// the producer was created (those records' inputs must not be committed).
    ///
    /// Not rdkafka's `flush`: that polls in steps of 100 ms, and a step begun just before the
    /// last acknowledgement sleeps the rest of it out — measured as 100-ms stalls of the live
    /// runner at a third of its checkpoints (end-to-end p99 220–390 ms at 1,000 symbols ×
    /// 1 Hz). Polling in 1-ms steps returns within a millisecond of the last one.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaAdapterError> {
        let started = std::time::Instant::now();
        while self.producer.in_flight_count() > 0 {
            if started.elapsed() >= timeout {
                let source = KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut);
                return Err(KafkaAdapterError::Kafka { brokers: self.brokers.clone(), source });
            }
            self.producer.poll(Duration::from_millis(1));
        }
        let context = self.producer.context();
        if context.failed.load(Ordering::Relaxed) > 0 {
            let first = context.first_error.lock().expect("not poisoned").clone().unwrap_or_default();
            return Err(KafkaAdapterError::Delivery { failed: context.failed.load(Ordering::Relaxed), first });
        }
        Ok(())
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn delivered(&self) -> u64 {
        self.producer.context().delivered.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::producer_id_assigned;

    #[test]
    fn the_producer_id_state_is_read_from_librdkafka_statistics() {
        let with = |state: &str| {
            format!(
                r#"{{"name": "p#1", "eos": {{ "idemp_state": "{state}", "idemp_stateage": 3, "txn_state": "Init"}}}}"#
            )
        };
        assert!(producer_id_assigned(with("Assigned").as_bytes()));
        for state in ["Init", "RequestPID", "WaitPID", "Assigned2"] {
            assert!(!producer_id_assigned(with(state).as_bytes()), "{state}");
        }
        assert!(!producer_id_assigned(br#"{"name": "p#1", "type": "producer"}"#), "no eos section");
    }
}
