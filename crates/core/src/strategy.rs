/// Turns what the pipeline produced for a tick into a target position for that tick's
/// symbol. Strategies see event data only; fills, costs and accounting belong to whoever
/// executes the targets (the backtest's simulated broker, or a live order router).
pub trait Strategy {
    /// The target for `tick.symbol` as a fraction of the capital allotted to that symbol,
    /// in `[-1, 1]` (negative is short), or `None` to leave the current target unchanged.
    /// `out.features` is aligned with the feature names the strategy was built with.
    fn on_tick(&mut self, tick: &Tick, out: &Outputs) -> Option<f64>;
}

use crate::{Outputs, Tick};
