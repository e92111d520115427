//! Event-time clocks. The engine never reads the wall clock: "now" is the latest
//! `ts_event` seen, which makes a replay and a live run see the same time.

use crate::Timestamp;

pub trait Clock {
    fn now(&self) -> Timestamp;
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
