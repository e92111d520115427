/// Turns what the pipeline produced for a tick into a target position for that tick's
/// symbol. Strategies see event data only; fills, costs and accounting belong to whoever
/// executes the targets (the backtest's simulated broker, or a live order router).
///
/// Look-ahead cannot be written against this trait: the engine calls it once per tick, in
/// event order, with that tick and what the pipeline produced for it; a strategy has no
/// handle on the source, and the outputs it is lent cannot be kept for later, so nothing
/// newer than the current tick is ever within reach. A target decided here is executed by
/// the broker no earlier than the first tick that starts after the decision plus latency.
///
/// ```compile_fail
/// use tickloop_core::{Outputs, Strategy, Tick};
///
/// /// Tries to keep the engine's buffer to read it again later.
/// struct Hoarder<'a> {
///     kept: Option<&'a Outputs>,
/// }
///
/// impl<'a> Strategy for Hoarder<'a> {
///     fn on_tick(&mut self, _tick: &Tick, out: &Outputs) -> Option<f64> {
///         self.kept = Some(out); // error: the outputs are only lent for this call
///         None
///     }
/// }
/// ```
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

    /// Whether the strategy reads `out.features`. One that does not (it trades on
    /// predictions) lets a replay skip handing every tick's feature row on
    /// ([`crate::Sink::reads_features`]).
    fn reads_features(&self) -> bool {
        true
    }

    /// Which ticks [`Strategy::on_outputs`] is called for: every tick (the default), or
    /// only those carrying what it trades on (one that trades on predictions has nothing
    /// to say about the ~98 % of a replay's ticks without one). See [`crate::Sink::called_for`].
    fn called_for(&self) -> CalledFor {
        CalledFor::EVERY_TICK
    }
}

use crate::{CalledFor, Outputs, SymbolId, Tick};
