//! Reading a model's score against what there was to find: the simulator writes the
//! generative model to `labels/market.json` — from which the oracle's and the observable
//! ceilings follow in closed form for any horizon — and what a Kalman filter that knows the
//! model reached on the generated ticks (the measured ceiling, 60 s).

use serde::{Deserialize, Serialize};
use tickloop_lake::Lake;
use tickloop_models::Score;
use tickloop_sim::{Ceilings, MarketConfig, MeasuredCeilings};

use crate::RegistryError;

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

/// A score beside the ceilings: how much of the target's edge over a coin flip it captures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgainstCeiling {
    pub planted: Planted,
    /// Share of [`Planted::target_accuracy`]'s edge over 50 % reached (1.0 = all of it).
    pub edge_captured: Option<f64>,
}

impl AgainstCeiling {
    pub fn of(score: &Score, planted: Planted) -> Self {
        AgainstCeiling { planted, edge_captured: score.edge_captured(planted.target_accuracy()) }
    }

    /// Lines for a terminal: the ceilings, then what `name` reached of them.
    pub fn describe(&self, name: &str, score: &Score) -> String {
        let c = &self.planted.closed_form;
        let mut out = format!(
            "planted signal ({} s): an oracle reaches {:.2} % direction (IC {:.3}); in closed form, the best from a symbol's own prices {:.2} % (IC {:.3}), market-neutral {:.2} % (IC {:.3})\n",
            c.oracle.horizon_secs,
            c.oracle.directional_accuracy * 100.0,
            c.oracle.information_coefficient,
            c.own_prices.directional_accuracy * 100.0,
            c.own_prices.information_coefficient,
            c.market_neutral.directional_accuracy * 100.0,
            c.market_neutral.information_coefficient,
        );
        if let Some(m) = &self.planted.measured {
            out.push_str(&format!(
                "measured on these rounded prices by a Kalman filter that knows the model: {:.2} % (IC {:.3}) from own prices, {:.2} % (IC {:.3}) market-neutral\n",
                m.own_prices.directional_accuracy * 100.0,
                m.own_prices.information_coefficient,
                m.market_neutral.directional_accuracy * 100.0,
                m.market_neutral.information_coefficient,
            ));
        }
        let what = if self.planted.measured.is_some() { "measured" } else { "closed-form" };
        let captured = self.edge_captured.map_or("–".to_owned(), |x| format!("{:.0} %", x * 100.0));
        out.push_str(&format!(
            "{name} reaches {:.2} % (IC {:.3}): {captured} of the {what} own-price ceiling's edge over 50 %\n",
            score.directional_accuracy * 100.0,
            score.ic,
        ));
        out
    }
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
        let against = AgainstCeiling::of(&score, planted);
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
}
