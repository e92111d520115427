//! Training data: the pipeline run over history, one row per clean tick, labelled by the
//! models crate's [`Labeller`] — which sees only ticks after a row's time and which the
//! pipeline's stages never call.

use tickloop_core::{Component, Outputs, Source, SourceError};
use tickloop_models::{Dataset, Labeller};

use crate::{Pipeline, PipelineConfig};

/// Runs a fresh pipeline over `source` and collects `(features, label)` rows, label = the
/// log return over the next `horizon_secs`. Rows whose horizon the data does not reach keep
/// a `NaN` label ([`Dataset::complete_rows`] drops them, and rows still warming up).
pub fn collect_dataset(
    config: &PipelineConfig,
    source: &mut dyn Source,
    horizon_secs: u32,
) -> Result<Dataset, SourceError> {
    let mut pipeline = Pipeline::new(config);
    let mut data = Dataset::new(pipeline.features().specs().iter().map(ToString::to_string).collect());
    let mut labellers: Vec<Labeller> = Vec::new();
    let mut labelled = Vec::new();
    let mut out = Outputs::default();
    while let Some(tick) = source.next_tick()? {
        out.clear();
        pipeline.on_tick(&tick, &mut out);
        let Some(clean) = out.tick else { continue };
        let row = data.len();
        data.push(clean.ts_event, clean.symbol, &out.features, f64::NAN);
        let i = clean.symbol.index();
        if i >= labellers.len() {
            labellers.resize_with(i + 1, || Labeller::new(horizon_secs));
        }
        labellers[i].push(row, clean.ts_event, clean.close.get(), &mut labelled);
        for (row, label) in labelled.drain(..) {
            data.labels[row] = label;
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::{SymbolId, SymbolTable, Tick, Timestamp, VecSource};

    fn ticks(moves: &[(u8, f64, f64)]) -> Vec<Tick> {
        let mut px = [100.0, 50.0];
        moves
            .iter()
            .enumerate()
            .map(|(i, &(s, m, v))| {
                let s = usize::from(s % 2);
                px[s] *= 1.0 + m / 100.0;
                Tick::at_price(SymbolId::new(s as u32), Timestamp::from_secs(1_704_205_800 + i as i64), px[s], v)
            })
            .collect()
    }

    fn collect(ticks: Vec<Tick>) -> Dataset {
        let config = PipelineConfig {
            features: ["log_return", "sma_5", "rsi_3", "volume_z_4", "bb_upper_5_2"]
                .iter()
                .map(|n| n.parse().unwrap())
                .collect(),
            ..PipelineConfig::default()
        };
        let symbols = SymbolTable::from_names(["AAA", "BBB"]).unwrap();
        collect_dataset(&config, &mut VecSource::new(symbols, ticks), 5).unwrap()
    }

    proptest! {
        /// Point in time: a row's features are the same whether or not anything after it
        /// exists, and its label is a function of later ticks only (removing everything
        /// after the row's horizon leaves it unchanged).
        #[test]
        fn no_feature_sees_the_future_and_labels_see_only_it(
            moves in proptest::collection::vec((0u8..2, -2.0f64..2.0, 1.0f64..1000.0), 10..200),
            cut in 0usize..200,
        ) {
            let all = ticks(&moves);
            let cut = cut.min(all.len());
            let full = collect(all.clone());
            let past = collect(all[..cut].to_vec());
            prop_assert_eq!(past.len(), cut);
            for i in 0..cut {
                let bits = |d: &Dataset| d.row(i).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&past), bits(&full), "row {} changed when the future was removed", i);
                let horizon_end = full.ts[i].as_nanos() + 5 * tickloop_core::NANOS_PER_SECOND;
                // Labelled once a tick of the same symbol reaches the horizon.
                let covered =
                    all[..cut].iter().any(|t| t.symbol == full.symbols[i] && t.ts_event.as_nanos() >= horizon_end);
                if covered {
                    prop_assert_eq!(past.labels[i].to_bits(), full.labels[i].to_bits());
                } else {
                    prop_assert!(past.labels[i].is_nan(), "row {} labelled without its future", i);
                }
            }
        }
    }
}
