//! Reading a model's score against what there was to find: the simulator writes the
//! generative model to `labels/market.json` — from which the oracle's and the observable
//! ceilings follow in closed form for any horizon — and what a Kalman filter that knows the
//! model reached on the generated ticks (the measured ceiling, 60 s). [`PairedCeiling`]
//! replays the simulator to score that filter on a model's own test rows.

use serde::{Deserialize, Serialize};
use tickloop_core::{Source, SymbolTable, Timestamp};
use tickloop_lake::{Lake, LakeSource};
use tickloop_models::{Dataset, Score};
use tickloop_sim::{CeilingPredictions, Ceilings, MarketConfig, MarketSim, MeasuredCeilings};

use crate::RegistryError;
use crate::fit::Scored;

/// What a simulated lake held to be found at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Planted {
    /// In closed form (continuous prices).
    pub closed_form: Ceilings,
    /// Measured on the generated, rounded prices (60 s horizon only).
    pub measured: Option<MeasuredCeilings>,
}

impl Planted {
    /// The direction a model should be judged against: the measured own-price ceiling
    /// (the best a per-symbol model can do on these very prices), else the closed form's.
    pub fn target_accuracy(&self) -> f64 {
        self.measured.map_or(self.closed_form.own_prices.directional_accuracy, |m| m.own_prices.directional_accuracy)
    }
}

/// The ceilings for `horizon_secs` when `lake` holds a simulated market; `None` for real data.
pub fn planted_ceilings(lake: &Lake, horizon_secs: u32) -> Result<Option<Planted>, RegistryError> {
    let Some(manifest) = lake.read_json::<serde_json::Value>("labels/market.json")? else { return Ok(None) };
    let invalid = |e: serde_json::Error| RegistryError::Data(format!("labels/market.json: {e}"));
    let config: MarketConfig = serde_json::from_value(manifest["config"].clone()).map_err(invalid)?;
    let measured: Option<MeasuredCeilings> = match manifest.get("measured_60s") {
        Some(m) => Some(serde_json::from_value(m.clone()).map_err(invalid)?),
        None => None,
    };
    Ok(Some(Planted {
        closed_form: config.ceilings(horizon_secs),
        measured: measured.filter(|m| m.own_prices.horizon_secs == horizon_secs),
    }))
}

/// The part of `labels/market.json` a replay needs.
#[derive(Deserialize)]
struct Generated {
    config: MarketConfig,
    #[serde(with = "tickloop_core::rfc3339")]
    start: Timestamp,
    #[serde(with = "tickloop_core::rfc3339")]
    end: Timestamp,
}

/// The ceiling filter's prediction at every second of a simulated lake, by symbol name:
/// the simulator is deterministic, so replaying it from `labels/market.json` regenerates
/// exactly the lake's ticks and the filter's predictions on them (checked against the
/// lake's first seconds before it is trusted).
#[derive(Debug)]
pub struct PairedCeiling {
    symbols: SymbolTable,
    predictions: CeilingPredictions,
}

/// Seconds compared between the lake and the replay before the replay is trusted.
const CHECKED_SECS: i64 = 5;
/// A replay keeps 8 bytes per symbol-second; past this many it is not attempted.
const MAX_REPLAY_SYMBOL_SECONDS: i64 = 50_000_000;

impl PairedCeiling {
    /// Replays the simulator that wrote `lake`; `None` for real data, for a lake too large to
    /// replay, and (with a warning) for one whose ticks are not what this simulator makes of
    /// its `labels/market.json` (written by another version, or edited since).
    pub fn replay(lake: &Lake) -> Result<Option<PairedCeiling>, RegistryError> {
        let Some(generated) = lake.read_json::<Generated>("labels/market.json")? else { return Ok(None) };
        let Generated { config, start, end } = generated;
        let secs = (end.as_nanos() - start.as_nanos()) / tickloop_core::NANOS_PER_SECOND;
        if secs * config.symbols as i64 > MAX_REPLAY_SYMBOL_SECONDS {
            return Ok(None);
        }
        let invalid = |e: tickloop_sim::ConfigError| RegistryError::Data(format!("labels/market.json: {e}"));
        let check_end = start.add_nanos(CHECKED_SECS * tickloop_core::NANOS_PER_SECOND).min(end);
        let mut lake_ticks = LakeSource::open(lake, start, check_end)?;
        let mut sim_ticks = MarketSim::new(config.clone(), start, check_end).map_err(invalid)?;
        loop {
            let (a, b) = (lake_ticks.next_tick()?, sim_ticks.next_tick()?);
            let same = match (&a, &b) {
                (None, None) => break,
                (Some(a), Some(b)) => {
                    lake_ticks.symbols().name(a.symbol) == sim_ticks.symbols().name(b.symbol)
                        && (a.ts_event, a.close.get(), a.volume.get()) == (b.ts_event, b.close.get(), b.volume.get())
                }
                _ => false,
            };
            if !same {
                tracing::warn!(
                    "the lake's ticks are not what this simulator generates from labels/market.json (another version wrote them?): the ceiling is not paired with the model's rows"
                );
                return Ok(None);
            }
        }
        let mut sim = MarketSim::new(config, start, end).map_err(invalid)?;
        sim.keep_ceiling_predictions();
        while sim.next_block(3_600, |_, _| {}).is_some() {}
        let symbols = sim.symbols().clone();
        let predictions = sim.ceiling_predictions().expect("kept").clone();
        Ok(Some(PairedCeiling { symbols, predictions }))
    }

    /// Scores the filter on the rows `scored` of `data` (whose symbol ids are `symbols`',
    /// labels over `horizon_secs`), beside the model's predictions on the same rows; `None`
    /// when no row has one, a row's symbol is not the simulator's, or the horizon is not
    /// the filter's.
    pub fn pair(&self, data: &Dataset, symbols: &SymbolTable, horizon_secs: u32, scored: &Scored) -> Option<Paired> {
        if horizon_secs != self.predictions.horizon_secs() {
            return None;
        }
        let (mut model, mut own, mut neutral, mut labels, mut ts) = (vec![], vec![], vec![], vec![], vec![]);
        for (&row, &predicted) in scored.rows.iter().zip(&scored.predictions) {
            let index = self.symbols.get(symbols.name(data.symbols[row]))?.index();
            let Some([o, n]) = self.predictions.at(index, data.ts[row]) else { continue };
            model.push(predicted);
            own.push(o);
            neutral.push(n);
            labels.push(data.labels[row]);
            ts.push(data.ts[row]);
        }
        (!labels.is_empty()).then(|| Paired {
            model: Score::of_cross_sections(&model, &labels, &ts),
            own_prices: Score::of_cross_sections(&own, &labels, &ts),
            market_neutral: Score::of_cross_sections(&neutral, &labels, &ts),
        })
    }
}

/// A model and the ceiling filter scored on the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub model: Score,
    pub own_prices: Score,
    pub market_neutral: Score,
}

impl Paired {
    /// Row-weighted over disjoint row sets (walk-forward folds).
    pub fn pooled(folds: &[Paired]) -> Option<Paired> {
        let pool = |f: fn(&Paired) -> Score| Score::pooled(&folds.iter().map(f).collect::<Vec<_>>());
        (!folds.is_empty()).then(|| Paired {
            model: pool(|p| p.model),
            own_prices: pool(|p| p.own_prices),
            market_neutral: pool(|p| p.market_neutral),
        })
    }

    /// Share of the own-price filter's directional edge over 50 % the model reached.
    pub fn edge_captured(&self) -> Option<f64> {
        self.model.edge_captured(self.own_prices.directional_accuracy)
    }

    /// Share of the own-price filter's information coefficient the model reached.
    pub fn ic_captured(&self) -> Option<f64> {
        (self.own_prices.ic > 0.0).then(|| self.model.ic / self.own_prices.ic)
    }
}

/// A score beside the ceilings: how much of the target's edge over a coin flip it captures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgainstCeiling {
    pub planted: Planted,
    /// The filter scored on the model's own rows, when the simulator could be replayed.
    pub paired: Option<Paired>,
    /// Share of the own-price ceiling's edge over 50 % reached (1.0 = all of it): on the
    /// model's rows when paired, else against [`Planted::target_accuracy`].
    pub edge_captured: Option<f64>,
}

impl AgainstCeiling {
    pub fn of(score: &Score, planted: Planted, paired: Option<Paired>) -> Self {
        let edge_captured = match &paired {
            Some(p) => p.edge_captured(),
            None => score.edge_captured(planted.target_accuracy()),
        };
        AgainstCeiling { planted, paired, edge_captured }
    }

    /// Lines for a terminal: the ceilings, then what `name` reached of them.
    pub fn describe(&self, name: &str, score: &Score) -> String {
        let c = &self.planted.closed_form;
        let of = |c: &tickloop_sim::Ceiling| rated(c.directional_accuracy, c.information_coefficient);
        let mut out = format!(
            "planted signal ({} s): an oracle reaches {}; in closed form, the best from a symbol's own prices {}, market-neutral {}\n",
            c.oracle.horizon_secs,
            of(&c.oracle),
            of(&c.own_prices),
            of(&c.market_neutral),
        );
        if let Some(m) = &self.planted.measured {
            let of = |m: &tickloop_sim::Measured| rated(m.directional_accuracy, m.information_coefficient);
            out.push_str(&format!(
                "measured on these rounded prices by a Kalman filter that knows the model: {} from own prices, {} market-neutral\n",
                of(&m.own_prices),
                of(&m.market_neutral),
            ));
        }
        let percent = |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{:.0} %", x * 100.0));
        let of = |s: &Score| rated(s.directional_accuracy, s.ic);
        if let Some(p) = &self.paired {
            out.push_str(&format!(
                "on the same {} rows: the filter {} from own prices, {} market-neutral; {name} {}: {} of the own-price filter's edge over 50 %, {} of its IC\n",
                p.model.rows,
                of(&p.own_prices),
                of(&p.market_neutral),
                of(&p.model),
                percent(p.edge_captured()),
                percent(p.ic_captured()),
            ));
            return out;
        }
        let what = if self.planted.measured.is_some() { "measured" } else { "closed-form" };
        out.push_str(&format!(
            "{name} reaches {}: {} of the {what} own-price ceiling's edge over 50 %\n",
            of(score),
            percent(self.edge_captured),
        ));
        out
    }
}

/// "50.81 % (IC 0.049)".
fn rated(directional_accuracy: f64, ic: f64) -> String {
    format!("{:.2} % (IC {ic:.3})", directional_accuracy * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_lake_names_its_ceilings_and_a_real_one_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        assert_eq!(planted_ceilings(&lake, 60).unwrap(), None);
        let config = MarketConfig::default();
        lake.write_json("labels/market.json", &serde_json::json!({ "config": config, "symbols": [] })).unwrap();
        let planted = planted_ceilings(&lake, 30).unwrap().unwrap();
        assert_eq!(planted.closed_form, config.ceilings(30), "computed for the horizon asked, not only 60 s");
        assert_eq!(planted.measured, None);

        let target = planted.target_accuracy();
        let score = Score { directional_accuracy: 0.5 + (target - 0.5) / 2.0, ..Score::of(&[], &[]) };
        let against = AgainstCeiling::of(&score, planted, None);
        assert!((against.edge_captured.unwrap() - 0.5).abs() < 1e-9);
        let text = against.describe("gbm", &score);
        assert!(text.contains("50 % of the closed-form own-price ceiling's edge"), "{text}");
    }

    #[test]
    fn the_measured_ceiling_of_a_simulated_lake_is_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        let config = tickloop_sim::MarketConfig { symbols: 20, ..MarketConfig::default() };
        let start = tickloop_core::Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
        let end = start.add_nanos(3_600 * tickloop_core::NANOS_PER_SECOND);
        let mut sim = tickloop_sim::MarketSim::new(config.clone(), start, end).unwrap();
        while sim.next_block(3_600, |_, _| {}).is_some() {}
        let manifest = serde_json::json!({ "config": config, "measured_60s": sim.measured_ceilings() });
        lake.write_json("labels/market.json", &manifest).unwrap();
        let planted = planted_ceilings(&lake, 60).unwrap().unwrap();
        let measured = planted.measured.expect("the simulator measured it");
        // Rows every 10 s from 900 s in, while the label's minute ends inside the hour.
        assert_eq!(measured.own_prices.rows, 20 * 264);
        assert_eq!(planted.target_accuracy(), measured.own_prices.directional_accuracy);
        assert_eq!(planted_ceilings(&lake, 30).unwrap().unwrap().measured, None, "measured at 60 s only");
    }

    #[test]
    fn paired_rows_line_up_with_the_datasets_symbols_times_and_labels() {
        let config = tickloop_sim::MarketConfig { symbols: 12, signal_strength: 0.3, ..MarketConfig::default() };
        let start = tickloop_core::Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
        let end = start.add_nanos(2_400 * tickloop_core::NANOS_PER_SECOND);
        let mut replayed = MarketSim::new(config.clone(), start, end).unwrap();
        replayed.keep_ceiling_predictions();
        while replayed.next_block(600, |_, _| {}).is_some() {}
        let ceiling = PairedCeiling {
            symbols: replayed.symbols().clone(),
            predictions: replayed.ceiling_predictions().unwrap().clone(),
        };
        // The dataset comes from the simulator as a source, in event order.
        let mut source = MarketSim::new(config, start, end).unwrap();
        let pipeline = tickloop_pipeline::PipelineConfig::default();
        let data = tickloop_pipeline::collect_dataset(&pipeline, &mut source, 60, 10).unwrap();
        let rows: Vec<usize> = (0..data.len()).filter(|&i| data.labels[i].is_finite()).collect();
        let scored = Scored { predictions: vec![0.0; rows.len()], rows };
        let paired = ceiling.pair(&data, source.symbols(), 60, &scored).expect("every row has a prediction");
        assert_eq!(paired.model.rows, scored.rows.len());
        // Misaligned by a symbol or a second, the filter's IC would be noise around zero.
        assert!(paired.own_prices.ic > 0.15 && paired.market_neutral.ic > 0.15, "{paired:?}");
        assert_eq!(paired.model.ic, 0.0, "a constant predictor");
        assert_eq!(ceiling.pair(&data, source.symbols(), 30, &scored), None, "the filter predicts 60 s");
        let pooled = Paired::pooled(&[paired, paired]).unwrap();
        assert_eq!(pooled.own_prices.ic, paired.own_prices.ic);
        assert_eq!(pooled.own_prices.rows, 2 * paired.own_prices.rows);
    }

    /// A lake of `ticks_seed`'s ticks whose `labels/market.json` names `manifest_seed`.
    fn lake_with(dir: &std::path::Path, ticks_seed: u64, manifest_seed: u64) -> Lake {
        let lake = Lake::local(dir);
        let start = tickloop_core::Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
        let end = start.add_nanos(120 * tickloop_core::NANOS_PER_SECOND);
        let config = |seed| MarketConfig { symbols: 3, seed, ..MarketConfig::default() };
        let mut sim = MarketSim::new(config(ticks_seed), start, end).unwrap();
        let symbols = sim.symbols().clone();
        let partition = tickloop_lake::HourPartition::containing(start);
        let object = lake.object(tickloop_lake::LakeTable::RawTicks, partition, "part-0.parquet");
        let mut writer = tickloop_lake::TickFileWriter::create(object).unwrap();
        sim.next_block(3_600, |symbol, ticks| writer.write_run(symbols.meta(symbol), ticks).unwrap());
        writer.finish().unwrap();
        let manifest = serde_json::json!({
            "config": config(manifest_seed),
            "start": "2024-01-02T14:30:00Z",
            "end": "2024-01-02T14:32:00Z",
        });
        lake.write_json("labels/market.json", &manifest).unwrap();
        lake
    }

    #[test]
    fn a_replay_is_trusted_only_when_it_regenerates_the_lakes_ticks() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let replayed = PairedCeiling::replay(&lake_with(a.path(), 7, 7)).unwrap().expect("the same market");
        let start = tickloop_core::Timestamp::parse("2024-01-02T14:31:00Z").unwrap();
        assert!(replayed.predictions.at(0, start).is_some(), "every second kept");
        assert!(PairedCeiling::replay(&lake_with(b.path(), 7, 8)).unwrap().is_none(), "another seed's ticks");
        let empty = tempfile::tempdir().unwrap();
        assert!(PairedCeiling::replay(&Lake::local(empty.path())).unwrap().is_none(), "real data");
    }
}
