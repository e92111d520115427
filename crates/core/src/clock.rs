//! Clocks. The engine never reads the wall clock: its "now" is the latest `ts_event` seen
//! ([`EventClock`]), which makes a replay and a live run see the same time. The wall clock
//! ([`WallClock`]) belongs to the edges only: pacing a replay, stamping `ts_recv`/`ts_emit`
//! for latency accounting, naming a run directory.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Timestamp;

pub trait Clock {
    fn now(&self) -> Timestamp;
}

/// The machine's clock (UTC nanoseconds). Never inside the pipeline: outputs must not
/// depend on when they were computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_nanos(i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when events arrive, and never backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventClock {
    now: Timestamp,
}

impl Default for EventClock {
    fn default() -> Self {
        EventClock { now: Timestamp::MIN }
    }
}

impl EventClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock to `ts` if that is later; returns `false` for an event older than
    /// the clock (an out-of-order event), which leaves the clock unchanged.
    pub fn observe(&mut self, ts: Timestamp) -> bool {
        if ts >= self.now {
            self.now = ts;
            true
        } else {
            false
        }
    }
}

impl Clock for EventClock {
    fn now(&self) -> Timestamp {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_moves_backwards() {
        let mut c = EventClock::new();
        assert!(c.observe(Timestamp::from_secs(10)));
        assert!(!c.observe(Timestamp::from_secs(5)));
        assert_eq!(c.now(), Timestamp::from_secs(10));
        assert!(c.observe(Timestamp::from_secs(10)));
    }
}
