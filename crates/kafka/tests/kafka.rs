//! Against the real broker `cargo xtask test` starts (tansu, a Kafka-protocol broker):
//! published ticks come back complete, keyed by symbol, in per-symbol order, bit for bit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tickloop_core::{Source, SymbolTable, Tick, Timestamp};
use tickloop_features::decode_json_tick;
use tickloop_kafka::{TickPublisher, ensure_topic};
use tickloop_sim::{MarketConfig, MarketSim};

fn brokers() -> Option<String> {
    match std::env::var("KAFKA_BROKERS") {
        Ok(b) => Some(b),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide KAFKA_BROKERS (cargo xtask test starts a broker)"
            );
            None
        }
    }
}

#[test]
fn published_ticks_come_back_keyed_complete_and_in_symbol_order() {
    let Some(brokers) = brokers() else {
        tickloop_testkit::skip("KAFKA_BROKERS not set (run through `cargo xtask test`)");
        return;
    };
    let topic = format!("ticks-test-{}", std::process::id());
    ensure_topic(&brokers, &topic, 3).unwrap();
    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let mut sim =
        MarketSim::new(MarketConfig { symbols: 8, ..Default::default() }, start, start.add_nanos(60_000_000_000))
            .unwrap();
    let symbols = sim.symbols().clone();
    let mut publisher = TickPublisher::new(&brokers, &topic).unwrap();
    let mut sent: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    while let Some(t) = sim.next_tick().unwrap() {
        publisher.publish(&t, &symbols).unwrap();
        sent.entry(symbols.name(t.symbol).to_owned()).or_default().push(t);
    }
    publisher.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(publisher.sent(), 8 * 60);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "tickloop-test")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..3 {
        assignment.add_partition_offset(&topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut decoded = SymbolTable::new();
    let mut received: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = 0;
    while count < 8 * 60 && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.unwrap();
        let key = std::str::from_utf8(message.key().unwrap()).unwrap().to_owned();
        let tick = decode_json_tick(message.payload().unwrap(), &mut decoded, Timestamp::from_secs(0)).unwrap();
        assert_eq!(decoded.name(tick.symbol), key, "key = symbol");
        received.entry(key).or_default().push(tick);
        count += 1;
    }
    assert_eq!(count, 8 * 60, "every tick came back");
    for (symbol, ticks) in &sent {
        let got = &received[symbol];
        assert_eq!(got.len(), ticks.len());
        for (g, s) in got.iter().zip(ticks) {
            assert_eq!(g.ts_event, s.ts_event, "{symbol}: per-key order kept");
            assert_eq!((g.open, g.high, g.low, g.close, g.volume), (s.open, s.high, s.low, s.close, s.volume));
        }
    }
}
