//! Spans of event time written the way people say them: `60s`, `5m`, `1h30m`, `2d`.
//!
//! Rule windows are spans rather than tick counts so that a rule means the same on
//! one-second ticks and on minute bars: "the last five minutes" is five minutes either way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::NANOS_PER_SECOND;

/// A positive whole number of seconds of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid span {0:?}: use a number with a unit, like 90s, 15m, 6h30m or 2d")]
pub struct SpanParseError(String);

impl Span {
    /// `secs` seconds; `None` for zero.
    pub const fn from_secs(secs: u32) -> Option<Span> {
        if secs == 0 { None } else { Some(Span(secs)) }
    }

    /// # Panics
    /// If `secs` is zero (for constants).
    pub const fn secs(secs: u32) -> Span {
        assert!(secs > 0, "a span is at least one second");
        Span(secs)
    }

    pub const fn as_secs(self) -> u32 {
        self.0
    }

    pub const fn as_nanos(self) -> i64 {
        self.0 as i64 * NANOS_PER_SECOND
    }
}

impl FromStr for Span {
    type Err = SpanParseError;

    fn from_str(text: &str) -> Result<Span, SpanParseError> {
        let bad = || SpanParseError(text.to_owned());
        let mut total: u32 = 0;
        let mut digits = String::new();
        let mut any = false;
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let n: u32 = digits.parse().map_err(|_| bad())?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
            digits.clear();
            any = true;
        }
        if !digits.is_empty() || !any {
            return Err(bad());
        }
        Span::from_secs(total).ok_or_else(bad)
    }
}

/// The shortest form: `90s` stays `90s` unless it is whole minutes (`5m`), hours, days.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm')] {
            if s.is_multiple_of(unit) {
                return write!(f, "{}{name}", s / unit);
            }
        }
        write!(f, "{s}s")
    }
}

/// `"5m"` in human-readable formats (TOML, JSON), seconds in binary ones (snapshots).
impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.collect_str(self) } else { s.serialize_u32(self.0) }
    }
}

/// `"5m"`, or a bare number of seconds.
impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        if !d.is_human_readable() {
            let n = u32::deserialize(d)?;
            return Span::from_secs(n).ok_or_else(|| serde::de::Error::custom("a span is at least 1 second"));
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Secs(u32),
            Text(String),
        }
        match Form::deserialize(d)? {
            Form::Secs(n) => Span::from_secs(n).ok_or_else(|| serde::de::Error::custom("a span is at least 1 second")),
            Form::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_compound_spans() {
        assert_eq!("6h30m".parse::<Span>().unwrap().as_secs(), 23_400);
        assert_eq!("2d".parse::<Span>().unwrap().as_secs(), 172_800);
        assert_eq!("90s".parse::<Span>().unwrap().to_string(), "90s");
        assert_eq!("300s".parse::<Span>().unwrap().to_string(), "5m");
        for bad in ["", "10", "h", "5x", "0s", "1h 5", "99999999d"] {
            assert!(bad.parse::<Span>().is_err(), "{bad}");
        }
    }

    #[test]
    fn deserialises_from_text_or_seconds() {
        #[derive(Deserialize)]
        struct W {
            w: Span,
        }
        let text: W = serde_json::from_str(r#"{"w":"5m"}"#).unwrap();
        let secs: W = serde_json::from_str(r#"{"w":300}"#).unwrap();
        assert_eq!(text.w, secs.w);
        assert!(serde_json::from_str::<W>(r#"{"w":0}"#).is_err());
        assert_eq!(serde_json::to_string(&Span::secs(60)).unwrap(), r#""1m""#);
        let bytes = postcard::to_allocvec(&Span::secs(90)).unwrap();
        assert_eq!(postcard::from_bytes::<Span>(&bytes).unwrap(), Span::secs(90), "snapshots are binary");
    }
}
