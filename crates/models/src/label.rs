//! The labeller: what happened *after* a feature row, kept apart from the pipeline.
//!
//! The label of a row at time `t` is the log return from the close at `t` to the close
//! of the last tick at or before `t + horizon` — the close a model would be judged against.
//! It needs a tick strictly after `t` and data reaching `t + horizon`; rows at the end of
//! a series (or before a gap that swallows the horizon) stay unlabelled. The pipeline never
//! sees this code, so features cannot use it.

use std::collections::VecDeque;

use tickloop_core::{NANOS_PER_SECOND, Timestamp};

/// A row waiting for its label.
#[derive(Debug, Clone, Copy)]
struct Pending {
    row: usize,
    ts: Timestamp,
    close: f64,
}

/// Labels one symbol's rows as its ticks stream by (O(1) amortised per tick).
#[derive(Debug, Clone)]
pub struct Labeller {
    horizon_nanos: i64,
    pending: VecDeque<Pending>,
    last: Option<(Timestamp, f64)>,
}

impl Labeller {
    pub fn new(horizon_secs: u32) -> Self {
        assert!(horizon_secs > 0, "a label needs a horizon");
        Labeller { horizon_nanos: i64::from(horizon_secs) * NANOS_PER_SECOND, pending: VecDeque::new(), last: None }
    }

    /// Feeds the next tick (`ts` strictly increasing) whose row index is `row` (`None`: a
    /// tick that closes horizons but is not itself a row); pushes `(row, label)` for every
    /// earlier row whose horizon this tick closes.
    pub fn push(&mut self, row: Option<usize>, ts: Timestamp, close: f64, labelled: &mut Vec<(usize, f64)>) {
        while let Some(p) = self.pending.front().copied() {
            let due = p.ts.as_nanos() + self.horizon_nanos;
            if ts.as_nanos() < due {
                break;
            }
            self.pending.pop_front();
            // The close at the horizon: this tick if it lands exactly on it, else the last
            // tick before it — which must be after the row itself.
            let at = if ts.as_nanos() == due { Some((ts, close)) } else { self.last.filter(|&(t, _)| t > p.ts) };
            if let Some((_, c)) = at {
                labelled.push((p.row, (c / p.close).ln()));
            }
        }
        if let Some(row) = row {
            self.pending.push_back(Pending { row, ts, close });
        }
        self.last = Some((ts, close));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(1_704_205_800 + s)
    }

    #[test]
    fn labels_look_exactly_one_horizon_ahead() {
        let mut l = Labeller::new(2);
        let mut out = Vec::new();
        let closes = [100.0, 101.0, 102.0, 103.0, 104.0];
        for (i, c) in closes.iter().enumerate() {
            l.push(Some(i), at(i as i64), *c, &mut out);
        }
        assert_eq!(out.len(), 3, "the last two rows have no future yet");
        assert_eq!(out[0], (0, (102.0f64 / 100.0).ln()));
        assert_eq!(out[2], (2, (104.0f64 / 102.0).ln()));
    }

    #[test]
    fn a_gap_uses_the_last_close_before_the_horizon_or_leaves_the_row_unlabelled() {
        let mut l = Labeller::new(60);
        let mut out = Vec::new();
        l.push(Some(0), at(0), 100.0, &mut out);
        l.push(Some(1), at(30), 110.0, &mut out);
        l.push(None, at(500), 120.0, &mut out); // closes both horizons
        assert_eq!(out, vec![(0, (110.0f64 / 100.0).ln())], "row 1 has no tick in (30 s, 90 s]");
    }
}
