//! Reading a model's score against what there was to find: the simulator writes the
//! generative model to `labels/market.json`, from which the oracle's and the observable
//! ceilings follow for any horizon.

use serde::Serialize;
use tickloop_lake::Lake;
use tickloop_models::Score;
use tickloop_sim::{Ceilings, MarketConfig};

use crate::RegistryError;

/// The ceilings for `horizon_secs` when `lake` holds a simulated market; `None` for real data.
pub fn planted_ceilings(lake: &Lake, horizon_secs: u32) -> Result<Option<Ceilings>, RegistryError> {
    let Some(manifest) = lake.read_json::<serde_json::Value>("labels/market.json")? else { return Ok(None) };
    let config: MarketConfig = serde_json::from_value(manifest["config"].clone())
        .map_err(|e| RegistryError::Data(format!("labels/market.json: {e}")))?;
    Ok(Some(config.ceilings(horizon_secs)))
}

/// A score beside the ceilings: how much of each observable ceiling's edge over a coin flip
/// it captures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgainstCeiling {
    pub ceilings: Ceilings,
    /// Share of the own-price ceiling's directional edge reached (1.0 = all of it).
    pub own_prices_edge_captured: Option<f64>,
    pub market_neutral_edge_captured: Option<f64>,
}

impl AgainstCeiling {
    pub fn of(score: &Score, ceilings: Ceilings) -> Self {
        AgainstCeiling {
            ceilings,
            own_prices_edge_captured: score.edge_captured(ceilings.own_prices.directional_accuracy),
            market_neutral_edge_captured: score.edge_captured(ceilings.market_neutral.directional_accuracy),
        }
    }

    /// Two lines for a terminal: the ceilings, then what `name` reached of them.
    pub fn describe(&self, name: &str, score: &Score) -> String {
        let c = &self.ceilings;
        let pct = |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{:.0} %", x * 100.0));
        format!(
            "planted signal ({} s): an oracle reaches {:.2} % direction (IC {:.3}); the best from a symbol's own prices {:.2} % (IC {:.3}), market-neutral {:.2} % (IC {:.3})\n\
             {name} reaches {:.2} % (IC {:.3}): {} of the own-price ceiling's edge over 50 %, {} of the market-neutral one\n",
            c.oracle.horizon_secs,
            c.oracle.directional_accuracy * 100.0,
            c.oracle.information_coefficient,
            c.own_prices.directional_accuracy * 100.0,
            c.own_prices.information_coefficient,
            c.market_neutral.directional_accuracy * 100.0,
            c.market_neutral.information_coefficient,
            score.directional_accuracy * 100.0,
            score.ic,
            pct(self.own_prices_edge_captured),
            pct(self.market_neutral_edge_captured),
        )
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
        let ceilings = planted_ceilings(&lake, 30).unwrap().unwrap();
        assert_eq!(ceilings, config.ceilings(30), "computed for the horizon asked, not only 60 s");

        let halfway = 0.5 + (ceilings.own_prices.directional_accuracy - 0.5) / 2.0;
        let score = Score { directional_accuracy: halfway, ..Score::of(&[], &[]) };
        let against = AgainstCeiling::of(&score, ceilings);
        assert!((against.own_prices_edge_captured.unwrap() - 0.5).abs() < 1e-9);
        assert!(against.market_neutral_edge_captured.unwrap() < 0.5);
        let text = against.describe("gbm", &score);
        assert!(text.contains("50 % of the own-price ceiling's edge"), "{text}");
    }
}
