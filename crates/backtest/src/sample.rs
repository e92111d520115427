//! Filling the lake from the simulator: what `tickloop sim` and a first `cargo xtask
//! backtest` do.

use serde::Serialize;
use tickloop_core::Timestamp;
use tickloop_lake::{HourPartition, Lake, LakeTable, TickFileWriter};
use tickloop_sim::{Ceiling, Ceilings, MarketConfig, MarketSim, MeasuredCeilings, SymbolParams};

use crate::BacktestError;

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SampleSummary {
    pub partitions: usize,
    pub ticks: u64,
    pub anomalies: usize,
}

#[derive(Serialize)]
struct MarketManifest<'a> {
    config: &'a MarketConfig,
    #[serde(with = "tickloop_core::rfc3339")]
    start: Timestamp,
    #[serde(with = "tickloop_core::rfc3339")]
    end: Timestamp,
    /// The oracle's ceiling (kept under its first name for readers of older lakes).
    ceiling_60s: Ceiling,
    /// The oracle's and the observable ceilings in closed form ([`MarketConfig::ceilings`]).
    ceilings_60s: Ceilings,
    /// The observable ceilings as a Kalman filter that knows the model reached them on
    /// these ticks, rounding and all ([`MarketSim::measured_ceilings`]): the target.
    measured_60s: MeasuredCeilings,
    symbols: Vec<&'a SymbolParams>,
}

/// Simulates `[start, end)` into `lake`: one `part-0.parquet` per hour (one row group per
/// symbol), the hour's planted anomalies as JSON lines under `labels/anomalies/`, and the
/// market's parameters and predictability ceiling in `labels/market.json`. Re-running with
/// the same arguments rewrites the same bytes. `progress` is told `(done, total)` ticks.
pub fn generate_sample(
    lake: &Lake,
    config: &MarketConfig,
    start: Timestamp,
    end: Timestamp,
    mut progress: impl FnMut(u64, u64),
) -> Result<SampleSummary, BacktestError> {
    let invalid = |reason: String| BacktestError::Config { path: "[sim]".into(), reason };
    let mut sim = MarketSim::new(config.clone(), start, end).map_err(|e| invalid(e.to_string()))?;
    let total = u64::try_from((end.as_nanos() - start.as_nanos()) / tickloop_core::NANOS_PER_SECOND).unwrap_or(0)
        * config.symbols as u64;
    let symbols = tickloop_core::Source::symbols(&sim).clone();
    let mut summary = SampleSummary { partitions: 0, ticks: 0, anomalies: 0 };
    // One block per hour: the writer streams each symbol's hour as one row group.
    while !sim.is_done() {
        let partition = HourPartition::containing(sim.position());
        let mut writer = TickFileWriter::create(lake.object(LakeTable::RawTicks, partition, "part-0.parquet"))?;
        let mut failure = None;
        let block = sim.next_block(3600, |symbol, ticks| {
            if failure.is_none()
                && let Err(e) = writer.write_run(symbols.meta(symbol), ticks)
            {
                failure = Some(e);
            }
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
        if block.is_none() {
            break;
        }
        summary.ticks += writer.rows();
        writer.finish()?;
        let labels = sim.take_labels();
        summary.anomalies += labels.len();
        lake.write_json_lines(LakeTable::AnomalyLabels, partition, "anomalies.jsonl", &labels)?;
        summary.partitions += 1;
        progress(summary.ticks, total);
    }
    // Written last: the measured ceilings need every tick.
    let manifest = MarketManifest {
        config,
        start,
        end,
        ceiling_60s: config.predictability_ceiling(60),
        ceilings_60s: config.ceilings(60),
        measured_60s: sim.measured_ceilings(),
        symbols: sim.params().collect(),
    };
    lake.write_json("labels/market.json", &manifest)?;
    Ok(summary)
}
