//! Named, versioned feature sets: the fixed-width feature vector a model is trained on.
//! A model artifact records the set's name, version and column list; serving refuses a
//! vector whose columns differ, so a model never sees features in the wrong order.

use serde::{Deserialize, Serialize};

use crate::FeatureSpec;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetDef {
    pub name: String,
    /// Bumped whenever the list changes, so `name@version` always means the same columns.
    pub version: u32,
    pub features: Vec<FeatureSpec>,
}

fn specs(names: &[&str]) -> Vec<FeatureSpec> {
    names.iter().map(|n| n.parse().expect("built-in feature names parse")).collect()
}

impl FeatureSetDef {
    /// The built-in sets: `default` (the full indicator set), `minimal`, and `trend` (the
    /// models' default inputs).
    pub fn builtin(name: &str) -> Option<FeatureSetDef> {
        let (version, names): (u32, &[&str]) = match name {
            "default" => (
                1,
                &[
                    "return",
                    "log_return",
                    "sma_20",
                    "sma_60",
                    "sma_300",
                    "ema_12",
                    "ema_26",
                    "rsi_14",
                    "macd_12_26_9",
                    "macd_signal_12_26_9",
                    "macd_hist_12_26_9",
                    "bb_upper_20_2",
                    "bb_middle_20_2",
                    "bb_lower_20_2",
                    "atr_14",
                    "vwap",
                    "vwap_300",
                    "volume_z_300",
                    "realized_vol_300",
                    "min_300",
                    "max_300",
                ],
            ),
            "minimal" => (1, &["log_return", "sma_60", "sma_300"]),
            // What predicts a persistent drift: trends at three scales, each in units of its
            // own volatility, with the volatility and activity they are measured against.
            "trend" => {
                (1, &["log_return", "trend_z_60", "trend_z_300", "trend_z_900", "realized_vol_300", "volume_z_300"])
            }
            _ => return None,
        };
        Some(FeatureSetDef { name: name.to_owned(), version, features: specs(names) })
    }

    pub const BUILTIN: [&'static str; 3] = ["default", "minimal", "trend"];

    /// Column names in order: the feature vector's schema.
    pub fn columns(&self) -> Vec<String> {
        self.features.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_sets_exist_and_name_their_columns() {
        let set = FeatureSetDef::builtin("default").unwrap();
        for column in [
            "sma_20",
            "ema_12",
            "rsi_14",
            "macd_hist_12_26_9",
            "bb_lower_20_2",
            "atr_14",
            "vwap",
            "volume_z_300",
            "sma_300",
        ] {
            assert!(set.columns().iter().any(|c| c == column), "{column}");
        }
        assert!(FeatureSetDef::builtin("nope").is_none());
        for name in FeatureSetDef::BUILTIN {
            assert_eq!(FeatureSetDef::builtin(name).unwrap().name, name);
        }
    }
}
