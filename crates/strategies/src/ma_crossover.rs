use tickloop_core::{Outputs, Strategy, Tick};

/// The baseline every model-driven strategy has to beat: trend following on two moving
/// averages, with a dead band against whipsaw.
#[derive(Debug, Clone)]
pub struct MaCrossover {
    fast: usize,
    slow: usize,
    band: f64,
    allow_short: bool,
}

impl MaCrossover {
    /// `fast` and `slow` are positions in the feature vector.
    pub fn new(fast: usize, slow: usize, band_bps: f64, allow_short: bool) -> Self {
        MaCrossover { fast, slow, band: band_bps / 10_000.0, allow_short }
    }
}

impl Strategy for MaCrossover {
    fn on_tick(&mut self, _tick: &Tick, out: &Outputs) -> Option<f64> {
        let (fast, slow) = (*out.features.get(self.fast)?, *out.features.get(self.slow)?);
        if !(fast.is_finite() && slow.is_finite()) {
            return None;
        }
        if fast > slow * (1.0 + self.band) {
            Some(1.0)
        } else if fast < slow * (1.0 - self.band) {
            Some(if self.allow_short { -1.0 } else { 0.0 })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{Price, SymbolId, Timestamp, Volume};

    #[test]
    fn goes_long_above_the_band_and_flat_or_short_below_it() {
        let tick = Tick {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(1),
            ts_recv: Timestamp::from_secs(1),
            open: Price(1.0),
            high: Price(1.0),
            low: Price(1.0),
            close: Price(1.0),
            volume: Volume(1.0),
        };
        let mut long_only = MaCrossover::new(0, 1, 10.0, false);
        let mut long_short = MaCrossover::new(0, 1, 10.0, true);
        let with = |fast: f64, slow: f64| Outputs { features: vec![fast, slow], ..Outputs::default() };
        assert_eq!(long_only.on_tick(&tick, &with(101.0, 100.0)), Some(1.0));
        assert_eq!(long_only.on_tick(&tick, &with(100.05, 100.0)), None, "inside the band");
        assert_eq!(long_only.on_tick(&tick, &with(99.0, 100.0)), Some(0.0));
        assert_eq!(long_short.on_tick(&tick, &with(99.0, 100.0)), Some(-1.0));
        assert_eq!(long_short.on_tick(&tick, &with(f64::NAN, 100.0)), None, "warming up");
    }
}
