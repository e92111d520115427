//! The alert rules' seasonal baseline, fitted from a lake range like any other model.

use tickloop_alerts::{SeasonalBaseline, SeasonalCard, SeasonalParams};
use tickloop_core::{Source, Timestamp};
use tickloop_lake::{Lake, LakeSource};
use tickloop_models::DataRange;

use crate::RegistryError;
use crate::progress::tick_bar;

/// What a seasonal fit read, besides the baseline.
#[derive(Debug)]
pub struct SeasonalFit {
    pub baseline: SeasonalBaseline,
    pub ticks: u64,
    pub secs: f64,
}

/// Fits the baseline on `[start, end)` of `lake` with `params`; `card` names the result from
/// the data it was fitted on.
pub fn fit_seasonal(
    lake: &Lake,
    lake_name: &str,
    (start, end): (Timestamp, Timestamp),
    params: SeasonalParams,
    card: impl FnOnce(DataRange) -> SeasonalCard,
) -> Result<SeasonalFit, RegistryError> {
    let mut source = LakeSource::open(lake, start, end)?;
    let ticks = source.remaining_hint().unwrap_or(0);
    if ticks == 0 {
        return Err(RegistryError::Data(format!(
            "lake {lake_name} has no ticks from {start} to {end}: run `cargo xtask backtest` or `tickloop sim` first"
        )));
    }
    let range = DataRange {
        source: lake.description().to_owned(),
        from: start.to_string(),
        to: end.to_string(),
        rows: ticks as usize,
        symbols: source.symbols().len(),
    };
    let bar = tick_bar(ticks, "seasonal");
    let started = std::time::Instant::now();
    let baseline = tickloop_alerts::fit_source(&mut source, params, card(range), |n| bar.set_position(n))?;
    bar.finish_and_clear();
    Ok(SeasonalFit { baseline, ticks, secs: started.elapsed().as_secs_f64() })
}
