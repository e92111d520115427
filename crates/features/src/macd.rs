use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::{Ema, Indicator, Sma};

/// MACD line, signal and histogram with TA-Lib's seeding, which differs from "EMA(fast) −
/// EMA(slow)": both averages start at index `slow − 1`, the slow one seeded with the mean of
/// the first `slow` values and the fast one with the mean of the **last `fast`** of those.
/// The signal is an EMA of the line seeded the same way, so all three outputs start at index
/// `slow + signal − 2` (33 for 12/26/9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Macd {
    fast_period: usize,
    slow_period: usize,
    /// The last `slow` inputs until both averages are seeded.
    warmup: Option<Sma>,
    fast: Ema,
    slow: Ema,
    signal: Ema,
    line: f64,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        // TA-Lib swaps the periods when given in the wrong order.
        let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
        assert!(fast > 0 && signal > 0, "MACD periods must be at least 1");
        Macd {
            fast_period: fast,
            slow_period: slow,
            warmup: Some(Sma::new(slow)),
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
            line: f64::NAN,
        }
    }

    /// Feeds a value; returns `(line, signal, histogram)`, all NaN until the signal is seeded.
    /// Always inlined: a run's loop that called it would hand it the address of its copy of
    /// this indicator, which then stays in memory instead of registers.
    #[inline(always)]
    pub fn update(&mut self, x: f64) -> (f64, f64, f64) {
        if let Some(window) = &mut self.warmup {
            window.update(x);
            if !window.is_ready() {
                return (f64::NAN, f64::NAN, f64::NAN);
            }
            // Seed both averages by summing in time order, as TA-Lib does. Out of line (it
            // runs once), and handed the window's values, not this indicator: a call that
            // sees this indicator's address would keep a run's copy of it in memory instead
            // of registers for the whole run.
            let (slow, fast) = window.means_of_last([self.slow_period, self.fast_period]).into();
            self.slow = Ema::seeded(self.slow_period, slow);
            self.fast = Ema::seeded(self.fast_period, fast);
            drop(self.warmup.take());
        } else {
            self.fast.update(x);
            self.slow.update(x);
        }
        self.line = self.fast.value() - self.slow.value();
        let signal = self.signal.update(self.line);
        if signal.is_nan() { (f64::NAN, f64::NAN, f64::NAN) } else { (self.line, signal, self.line - signal) }
    }
}

impl Vacant for Macd {
    const VACANT: Self = Macd {
        fast_period: 1,
        slow_period: 1,
        warmup: None,
        fast: Ema::VACANT,
        slow: Ema::VACANT,
        signal: Ema::VACANT,
        line: f64::NAN,
    };
}
