/// Turns what the pipeline produced for a tick into a target position for that tick's
/// symbol. Strategies see event data only; fills, costs and accounting belong to whoever
/// executes the targets (the backtest's simulated broker, or a live order router).
pub trait Strategy {
    /// The target for `tick.symbol` as a fraction of the capital allotted to that symbol,
    /// in `[-1, 1]` (negative is short), or `None` to leave the current target unchanged.
    /// `out.features` is aligned with the feature names the strategy was built with.
    fn on_tick(&mut self, tick: &Tick, out: &Outputs) -> Option<f64>;

    /// Targets for any symbols, from everything the pipeline emitted with this tick
    /// (predictions arrive in batches that cover other symbols). The default asks
    /// [`Strategy::on_tick`] about the tick's own symbol.
    fn on_outputs(&mut self, tick: &Tick, out: &Outputs, targets: &mut Vec<(SymbolId, f64)>) {
        if let Some(weight) = self.on_tick(tick, out) {
            targets.push((tick.symbol, weight));
        }
    }
}

use crate::{Outputs, SymbolId, Tick};
