//! tickloop-kafka: Kafka adapters. Ticks go to the `ticks` topic as JSON values keyed by
//! symbol (Kafka keeps per-key order, which is all the per-symbol pipeline needs).

use std::time::Duration;

mod group;
mod security;
pub use group::{Consumed, GroupConsumer, OutputProducer};
pub use security::{KafkaSecurity, SaslMechanism, Secret, SecurityProtocol, configure_security};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tickloop_core::{SymbolTable, Tick};
use tickloop_features::encode_json_tick;

#[derive(Debug, thiserror::Error)]
pub enum KafkaAdapterError {
    #[error("kafka ({brokers}): {source}")]
    Kafka {
        brokers: String,
        #[source]
        source: KafkaError,
    },
    #[error("creating topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error("{failed} record(s) were not delivered (first: {first})")]
    Delivery { failed: u64, first: String },
}

impl KafkaAdapterError {
    /// Whether the error says the cluster is unreachable for now (broker down, restarting,
    /// network trouble, a wait that timed out, a group that re-formed meanwhile): librdkafka
    /// reconnects and rejoins by itself, so the caller should keep going and try again
    /// rather than stop. Skipping a commit is always safe here: uncommitted records are
    /// re-read, and the saved state skips what it already holds.
    pub fn is_transient(&self) -> bool {
        use RDKafkaErrorCode::*;
        let KafkaAdapterError::Kafka { source, .. } = self else { return false };
        matches!(
            source.rdkafka_error_code(),
            Some(
                AllBrokersDown
                    | BrokerTransportFailure
                    | BrokerNotAvailable
                    | NetworkException
                    | Resolve
                    | OperationTimedOut
                    | RequestTimedOut
                    | TimedOutQueue
                    | CoordinatorNotAvailable
                    | CoordinatorLoadInProgress
                    | NotCoordinator
                    | LeaderNotAvailable
                    | NotLeaderForPartition
                    | RebalanceInProgress
                    | WaitingForCoordinator
                    | UnknownMemberId
                    | IllegalGeneration
            )
        )
    }
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    security::apply_configured(&mut config);
    config
}

/// Creates `topic` with `partitions` partitions if it does not exist yet.
pub fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> Result<(), KafkaAdapterError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .map_err(|source| KafkaAdapterError::Kafka { brokers: brokers.to_owned(), source })?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures_executor::block_on(admin.create_topics([&new], &options))
        .map_err(|source| KafkaAdapterError::Kafka { brokers: brokers.to_owned(), source })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(KafkaAdapterError::Topic { topic: name, reason: code.to_string() }),
        }
    }
    Ok(())
}

/// Publishes ticks: key = symbol, value = the JSON wire format. Idempotent producer with
/// `acks=all`, so a retried send never duplicates a record in the log.
pub struct TickPublisher {
    topic: String,
    producer: OutputProducer,
    value: String,
}

impl std::fmt::Debug for TickPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickPublisher").field("topic", &self.topic).field("sent", &self.sent()).finish()
    }
}

impl TickPublisher {
    pub fn new(brokers: &str, topic: &str) -> Result<Self, KafkaAdapterError> {
        let producer = OutputProducer::new(brokers, 5)?;
        producer.connect(&[topic], Duration::from_secs(10))?;
        Ok(TickPublisher { topic: topic.to_owned(), producer, value: String::new() })
    }

    /// Queues one tick; waits (serving delivery reports) while the local queue is full.
    pub fn publish(&mut self, tick: &Tick, symbols: &SymbolTable) -> Result<(), KafkaAdapterError> {
        self.value = encode_json_tick(tick, symbols);
        let key = symbols.name(tick.symbol);
        self.producer.send(&self.topic, key.as_bytes(), self.value.as_bytes(), &[])?;
        self.producer.poll();
        Ok(())
    }

    /// Waits until every queued tick is acknowledged by the broker.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), KafkaAdapterError> {
        self.producer.flush(timeout)
    }

    pub fn sent(&self) -> u64 {
        self.producer.sent()
    }
}
