//! The wire format of a tick (Kafka values, NDJSON files):
//! `{"symbol":"AAPL","ts":"2024-01-02T14:30:01Z","open":..,"high":..,"low":..,"close":..,
//! "volume":..,"exchange":"XNAS","currency":"USD"}`, `ts` also as epoch milliseconds.
//! Decoding is the first half of cleaning: a record that is not a tick is refused here with
//! a reason, and never stops the records around it.

use serde_json::Value;
use tickloop_core::{Price, RejectReason, Rejection, SymbolTable, Tick, Timestamp, Volume};

const RAW_LIMIT: usize = 4096;

fn refuse(reason: RejectReason, detail: String, raw: &[u8]) -> Box<Rejection> {
    // At most RAW_LIMIT bytes of text, cut on a character boundary (invalid UTF-8 becomes
    // U+FFFD, which is longer than the byte it replaces).
    let mut text = String::from_utf8_lossy(&raw[..raw.len().min(RAW_LIMIT)]).into_owned();
    if text.len() > RAW_LIMIT {
        let cut = (0..=RAW_LIMIT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
    Box::new(Rejection { reason, detail, tick: None, raw: Some(text) })
}

/// Decodes one JSON tick, interning its symbol (with exchange and currency) in `symbols`.
/// `ts_recv` is when the record was received, for latency accounting and the future check.
pub fn decode_json_tick(raw: &[u8], symbols: &mut SymbolTable, ts_recv: Timestamp) -> Result<Tick, Box<Rejection>> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| refuse(RejectReason::Malformed, format!("not JSON: {e}"), raw))?;
    let Value::Object(fields) = value else {
        return Err(refuse(RejectReason::Malformed, "not a JSON object".into(), raw));
    };
    let get = |name: &str| -> Result<&Value, Box<Rejection>> {
        match fields.get(name) {
            None | Some(Value::Null) => Err(refuse(RejectReason::MissingField, format!("{name} is missing"), raw)),
            Some(v) => Ok(v),
        }
    };
    let text = |name: &str| -> Result<&str, Box<Rejection>> {
        get(name)?.as_str().ok_or_else(|| refuse(RejectReason::Malformed, format!("{name} is not a string"), raw))
    };
    let number = |name: &str| -> Result<f64, Box<Rejection>> {
        match get(name)? {
            Value::Number(n) => n.as_f64().ok_or_else(|| refuse(RejectReason::Malformed, format!("{name} = {n}"), raw)),
            // Some feeds quote numbers, and "NaN" arrives as a string: parse it and let the
            // cleaning stage refuse what is not finite.
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| refuse(RejectReason::Malformed, format!("{name} = {s:?} is not a number"), raw)),
            other => Err(refuse(RejectReason::Malformed, format!("{name} = {other} is not a number"), raw)),
        }
    };
    let name = text("symbol")?;
    let ts_event = match get("ts")? {
        Value::String(s) => Timestamp::parse(s).map_err(|e| refuse(RejectReason::Malformed, e.to_string(), raw))?,
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| ms.checked_mul(1_000_000))
            .map(Timestamp::from_nanos)
            .ok_or_else(|| refuse(RejectReason::Malformed, format!("ts = {n} is not epoch milliseconds"), raw))?,
        other => return Err(refuse(RejectReason::Malformed, format!("ts = {other} is not a time"), raw)),
    };
    let (open, high, low, close, volume) =
        (number("open")?, number("high")?, number("low")?, number("close")?, number("volume")?);
    let optional = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or("");
    let symbol = symbols
        .intern_with(name, optional("exchange"), optional("currency"))
        .map_err(|e| refuse(RejectReason::BadSymbol, e.to_string(), raw))?;
    Ok(Tick {
        symbol,
        ts_event,
        ts_recv,
        open: Price(open),
        high: Price(high),
        low: Price(low),
        close: Price(close),
        volume: Volume(volume),
    })
}

/// Encodes a tick in the wire format (what `tickloop feed` publishes).
pub fn encode_json_tick(tick: &Tick, symbols: &SymbolTable) -> String {
    let meta = symbols.meta(tick.symbol);
    serde_json::json!({
        "symbol": meta.name,
        "ts": tick.ts_event.to_string(),
        "open": tick.open.get(),
        "high": tick.high.get(),
        "low": tick.low.get(),
        "close": tick.close.get(),
        "volume": tick.volume.get(),
        "exchange": meta.exchange,
        "currency": meta.currency,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(text: &str) -> Result<Tick, RejectReason> {
        decode_json_tick(text.as_bytes(), &mut SymbolTable::new(), Timestamp::from_secs(2_000_000_000))
            .map_err(|r| r.reason)
    }

    #[test]
    fn every_undecodable_record_gets_its_reason() {
        let good = r#"{"symbol":"AAPL","ts":"2024-01-02T14:30:01Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":10,"exchange":"XNAS","currency":"USD"}"#;
        assert!(decode(good).is_ok());
        let millis = r#"{"symbol":"AAPL","ts":1704205801000,"open":1,"high":2,"low":0.5,"close":"1.5","volume":10}"#;
        assert_eq!(decode(millis).unwrap().ts_event, Timestamp::parse("2024-01-02T14:30:01Z").unwrap());
        let cases = [
            ("{not json", RejectReason::Malformed),
            ("[1,2]", RejectReason::Malformed),
            (r#"{"ts":1,"open":1,"high":1,"low":1,"close":1,"volume":1}"#, RejectReason::MissingField),
            (r#"{"symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":1}"#, RejectReason::MissingField),
            (r#"{"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":null,"volume":1}"#, RejectReason::MissingField),
            (r#"{"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":1}"#, RejectReason::MissingField),
            (
                r#"{"symbol":"A","ts":"yesterday","open":1,"high":1,"low":1,"close":1,"volume":1}"#,
                RejectReason::Malformed,
            ),
            (r#"{"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":"abc","volume":1}"#, RejectReason::Malformed),
            (r#"{"symbol":"A B","ts":1,"open":1,"high":1,"low":1,"close":1,"volume":1}"#, RejectReason::BadSymbol),
            (r#"{"symbol":7,"ts":1,"open":1,"high":1,"low":1,"close":1,"volume":1}"#, RejectReason::Malformed),
        ];
        for (text, reason) in cases {
            assert_eq!(decode(text).unwrap_err(), reason, "{text}");
        }
        let nan = r#"{"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":"NaN","volume":1}"#;
        assert!(decode(nan).unwrap().close.get().is_nan(), "decoded; the cleaner refuses it as not_finite");
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(secs in 0i64..4_000_000_000, millis in 0i64..1000, o in 0.01f64..1e6, v in 0.0f64..1e9) {
            let mut symbols = SymbolTable::new();
            let id = symbols.intern_with("BRK.B", "XNYS", "USD").unwrap();
            let ts = Timestamp::from_nanos(secs * 1_000_000_000 + millis * 1_000_000);
            let tick = Tick { symbol: id, ts_event: ts, ts_recv: ts, open: Price(o), high: Price(o * 1.5), low: Price(o / 2.0), close: Price(o * 1.1), volume: Volume(v) };
            let text = encode_json_tick(&tick, &symbols);
            let mut fresh = SymbolTable::new();
            let back = decode_json_tick(text.as_bytes(), &mut fresh, ts).unwrap();
            prop_assert_eq!(fresh.meta(back.symbol), symbols.meta(id));
            prop_assert_eq!(back.ts_event, tick.ts_event);
            prop_assert_eq!((back.open, back.high, back.low, back.close, back.volume), (tick.open, tick.high, tick.low, tick.close, tick.volume));
        }
    }
}

#[cfg(test)]
mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn check(raw: &[u8]) -> Result<(), TestCaseError> {
        let mut symbols = SymbolTable::new();
        match decode_json_tick(raw, &mut symbols, Timestamp::from_secs(0)) {
            Ok(_) => {}
            Err(r) => {
                prop_assert!(!r.detail.is_empty());
                prop_assert!(r.raw.as_ref().is_some_and(|s| s.len() <= RAW_LIMIT), "raw kept and bounded");
            }
        }
        Ok(())
    }

    fn hostile_json() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just("1e400".to_owned()),
            Just("-1e400".to_owned()),
            Just("123456789012345678901234567890".to_owned()),
            Just("\"NaN\"".to_owned()),
            Just("\"-inf\"".to_owned()),
            Just("null".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
            Just("true".to_owned()),
            (1usize..4).prop_map(|n| format!("\"{}\"", "x".repeat(n * 300_000))),
            any::<f64>().prop_map(|x| format!("{x:?}")),
            (0usize..300).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        ];
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("symbol"),
                    Just("ts"),
                    Just("open"),
                    Just("high"),
                    Just("low"),
                    Just("close"),
                    Just("volume"),
                    Just("exchange")
                ],
                field,
            ),
            0..9,
        )
        .prop_map(|fields| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes (invalid UTF-8 included) never panic the decoder: each is a tick
        /// or a rejection with a reason and a bounded copy of the record.
        #[test]
        fn arbitrary_bytes_decode_or_are_refused(raw in proptest::collection::vec(any::<u8>(), 0..6000)) {
            check(&raw)?;
        }

        /// JSON built to hurt: out-of-range and huge numbers, NaN strings, wrong types, 1 MB
        /// strings, nesting deeper than the parser allows, missing and repeated fields.
        #[test]
        fn hostile_json_decodes_or_is_refused(text in hostile_json()) {
            check(text.as_bytes())?;
        }
    }
}
