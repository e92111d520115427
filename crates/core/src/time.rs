//! Event timestamps: nanoseconds since the Unix epoch, UTC.
//!
//! Civil-date conversion is done here with Howard Hinnant's `days_from_civil` algorithm
//! so that partitioning (`date=YYYY-MM-DD/hour=HH`) and RFC 3339 parsing need no date
//! crate and can never consult the local time zone.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
pub const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// A point in event time: nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * NANOS_PER_SECOND)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis * 1_000_000)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SECOND)
    }

    /// `self + nanos`, saturating at the ends of the range.
    pub const fn add_nanos(self, nanos: i64) -> Self {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// The start of the hour containing `self`; the unit of lake partitioning.
    pub const fn floor_hour(self) -> Self {
        Timestamp(self.0 - self.0.rem_euclid(NANOS_PER_HOUR))
    }

    /// The start of the interval of `step` nanoseconds containing `self`.
    pub const fn floor_to(self, step: i64) -> Self {
        Timestamp(self.0 - self.0.rem_euclid(step))
    }

    /// `(year, month, day, hour)` in UTC, for `date=YYYY-MM-DD/hour=HH` partitions.
    pub fn date_hour(self) -> (i32, u32, u32, u32) {
        let days = self.0.div_euclid(NANOS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let hour = (self.0.rem_euclid(NANOS_PER_DAY) / NANOS_PER_HOUR) as u32;
        (y, m, d, hour)
    }

    /// Seconds since UTC midnight of the same day.
    pub fn second_of_day(self) -> i64 {
        self.0.rem_euclid(NANOS_PER_DAY) / NANOS_PER_SECOND
    }

    /// Whole UTC days since 1970-01-01.
    pub const fn day_number(self) -> i64 {
        self.0.div_euclid(NANOS_PER_DAY)
    }

    /// The UTC day of the week, 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
    pub const fn weekday(self) -> u32 {
        (self.day_number() + 3).rem_euclid(7) as u32
    }

    pub fn from_civil(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Self {
        let days = days_from_civil(year, month, day);
        Timestamp(
            days * NANOS_PER_DAY
                + i64::from(hour) * NANOS_PER_HOUR
                + i64::from(minute) * NANOS_PER_MINUTE
                + i64::from(second) * NANOS_PER_SECOND,
        )
    }

    /// Parses RFC 3339 (`2024-01-02T14:30:01Z`, `…01.250+01:00`) or bare epoch
    /// milliseconds (`1704205801000`), the two forms accepted on the wire.
    pub fn parse(text: &str) -> Result<Self, TimestampParseError> {
        text.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {text:?}: {reason} (expected RFC 3339 like 2024-01-02T14:30:00Z, or epoch milliseconds)")]
pub struct TimestampParseError {
    text: String,
    reason: &'static str,
}

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| TimestampParseError { text: text.to_owned(), reason };
        let s = text.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let millis: i64 = s.parse().map_err(|_| fail("epoch milliseconds out of range"))?;
            return millis.checked_mul(1_000_000).map(Timestamp).ok_or_else(|| fail("epoch milliseconds out of range"));
        }
        if !s.is_ascii() {
            return Err(fail("non-ASCII characters"));
        }
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(fail("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<u32, TimestampParseError> {
            let part = &s[range];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| fail("bad number"))
            } else {
                Err(fail("expected digits"))
            }
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return Err(fail("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)? as i32, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(fail("no such date"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(fail("no such time of day"));
        }
        let mut pos = 19;
        let mut frac_nanos: i64 = 0;
        if b[pos] == b'.' {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            let digits = &s[start..pos];
            if digits.is_empty() || digits.len() > 9 {
                return Err(fail("fraction must have 1 to 9 digits"));
            }
            let scale = 10_i64.pow(9 - digits.len() as u32);
            frac_nanos = digits.parse::<i64>().map_err(|_| fail("bad fraction"))? * scale;
        }
        let offset_secs: i64 = match &s[pos..] {
            "Z" | "z" => 0,
            zone if zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') && zone.as_bytes()[3] == b':' => {
                let h = num(pos + 1..pos + 3)? as i64;
                let m = num(pos + 4..pos + 6)? as i64;
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                sign * (h * 3600 + m * 60)
            }
            _ => return Err(fail("expected Z or ±HH:MM after the time")),
        };
        let base = Timestamp::from_civil(year, month, day, hour, minute, second);
        Ok(Timestamp(base.0 + frac_nanos - offset_secs * NANOS_PER_SECOND))
    }
}

impl Timestamp {
    /// RFC 3339 in UTC, the fraction only when non-zero, formatted on the stack: what
    /// [`Display`](fmt::Display) writes, for writers of many lines (a year's replay writes
    /// ~100 M predictions, each stamped twice) that should not pay for the formatting
    /// machinery or an allocation per stamp.
    pub fn rfc3339(self) -> Rfc3339Text {
        let days = self.0.div_euclid(NANOS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let in_day = self.0.rem_euclid(NANOS_PER_DAY);
        let secs = in_day / NANOS_PER_SECOND;
        let nanos = in_day % NANOS_PER_SECOND;
        let mut text = Rfc3339Text { bytes: *b"0000-00-00T00:00:00.000000000Z", len: 19 };
        // Nanoseconds in an i64 span the years 1677 to 2262: always four digits.
        let y = y as u32;
        let b = &mut text.bytes;
        (b[0], b[1], b[2], b[3]) = (digit(y / 1000), digit(y / 100), digit(y / 10), digit(y));
        (b[5], b[6]) = (digit(m / 10), digit(m));
        (b[8], b[9]) = (digit(d / 10), digit(d));
        let (h, min, s) = ((secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32);
        (b[11], b[12], b[14], b[15], b[17], b[18]) =
            (digit(h / 10), digit(h), digit(min / 10), digit(min), digit(s / 10), digit(s));
        if nanos != 0 {
            let mut rest = nanos as u32;
            for at in (20..29).rev() {
                b[at] = digit(rest);
                rest /= 10;
            }
            let last = (20..29).rev().find(|&at| b[at] != b'0').expect("a non-zero fraction has a non-zero digit");
            text.len = last + 1;
        }
        text.bytes[text.len] = b'Z';
        text.len += 1;
        text
    }
}

/// The last decimal digit of `v`.
fn digit(v: u32) -> u8 {
    b'0' + (v % 10) as u8
}

/// A timestamp as RFC 3339 text ([`Timestamp::rfc3339`]).
#[derive(Clone, Copy)]
pub struct Rfc3339Text {
    /// Room for the longest: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    bytes: [u8; 30],
    len: usize,
}

impl Rfc3339Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("digits and ASCII punctuation")
    }
}

impl fmt::Debug for Rfc3339Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC; the fraction is printed only when non-zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc3339().as_str())
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc3339_and_epoch_millis_to_the_same_instant() {
        let a = Timestamp::parse("2024-01-02T14:30:01Z").unwrap();
        let b = Timestamp::parse("1704205801000").unwrap();
        let c = Timestamp::parse("2024-01-02T15:30:01+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), "2024-01-02T14:30:01Z");
        assert_eq!(a.date_hour(), (2024, 1, 2, 14));
        assert_eq!(a.weekday(), 1, "a Tuesday");
        assert_eq!(Timestamp::parse("2011-01-09T23:59:59Z").unwrap().weekday(), 6, "a Sunday");
    }

    #[test]
    fn keeps_fractions_and_rejects_nonsense() {
        let t = Timestamp::parse("2024-02-29T23:59:59.25Z").unwrap();
        assert_eq!(t.as_nanos() % NANOS_PER_SECOND, 250_000_000);
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.25Z");
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-01-02 14:30",
            "2024-13-01T00:00:00Z",
            "",
            "2024-01-02T25:00:00Z",
            "202é-01-02T00:00:00Zxx",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    proptest! {
        /// Hostile text never panics the parser (multi-byte characters at field boundaries
        /// used to slice through a character).
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}", prefix in "[0-9T:.Z+-]{0,24}") {
            let _ = Timestamp::parse(&text);
            let _ = Timestamp::parse(&format!("{prefix}{text}"));
        }

        /// The stack formatter against the plain `write!` of each field it replaced.
        #[test]
        fn the_text_is_each_field_written_out(any_nanos in any::<i64>(), whole_seconds in any::<bool>()) {
            // Half the cases whole seconds: a random i64 almost never is one.
            let nanos = if whole_seconds { any_nanos / NANOS_PER_SECOND * NANOS_PER_SECOND } else { any_nanos };
            let t = Timestamp::from_nanos(nanos);
            let (y, m, d) = civil_from_days(nanos.div_euclid(NANOS_PER_DAY));
            let in_day = nanos.rem_euclid(NANOS_PER_DAY);
            let (secs, frac) = (in_day / NANOS_PER_SECOND, in_day % NANOS_PER_SECOND);
            let mut expected = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            if frac != 0 {
                let digits = format!("{frac:09}");
                expected += ".";
                expected += digits.trim_end_matches('0');
            }
            expected.push('Z');
            let text = t.rfc3339();
            prop_assert_eq!(text.as_str(), &expected);
            prop_assert_eq!(t.to_string(), expected);
        }

        #[test]
        fn display_then_parse_round_trips(nanos in -5_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
            let t = Timestamp::from_nanos(nanos);
            prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn civil_round_trips(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}

/// `#[serde(with = "tickloop_core::rfc3339")]`: timestamps as RFC 3339 strings in
/// human-edited files (TOML configs), rather than as nanosecond integers.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::Timestamp;

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}
