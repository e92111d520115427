//! Features by name. A feature's name is its spec (`sma_300`, `log_return`), the same in
//! config files, parquet columns, model configs and strategy parameters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Indicator, LogReturn, Sma};

/// A feature computed from each symbol's closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FeatureSpec {
    /// `log_return`: log of close over the previous close.
    LogReturn,
    /// `sma_<n>`: mean of the last `n` closes (n ≥ 1).
    Sma(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFeature(pub String);

impl fmt::Display for UnknownFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown feature {:?}: expected log_return or sma_<window> (e.g. sma_300)", self.0)
    }
}

impl std::error::Error for UnknownFeature {}

impl FromStr for FeatureSpec {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownFeature(s.to_owned());
        match s {
            "log_return" => Ok(FeatureSpec::LogReturn),
            _ => {
                let window = s.strip_prefix("sma_").ok_or_else(unknown)?;
                match window.parse::<usize>() {
                    Ok(n) if n >= 1 && window == n.to_string() => Ok(FeatureSpec::Sma(n)),
                    _ => Err(unknown()),
                }
            }
        }
    }
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureSpec::LogReturn => f.write_str("log_return"),
            FeatureSpec::Sma(n) => write!(f, "sma_{n}"),
        }
    }
}

impl TryFrom<String> for FeatureSpec {
    type Error = UnknownFeature;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FeatureSpec> for String {
    fn from(spec: FeatureSpec) -> String {
        spec.to_string()
    }
}

impl FeatureSpec {
    pub fn build(self) -> FeatureState {
        match self {
            FeatureSpec::LogReturn => FeatureState::LogReturn(LogReturn::new()),
            FeatureSpec::Sma(n) => FeatureState::Sma(Sma::new(n)),
        }
    }
}

/// The running state of one feature for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureState {
    LogReturn(LogReturn),
    Sma(Sma),
}

impl FeatureState {
    pub fn update(&mut self, x: f64) -> f64 {
        match self {
            FeatureState::LogReturn(r) => r.update(x),
            FeatureState::Sma(s) => s.update(x),
        }
    }
}

/// Where each named feature sits in a feature vector. Built once, so per-tick code indexes
/// a slice instead of looking names up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureIndex {
    specs: Vec<FeatureSpec>,
}

impl FeatureIndex {
    pub fn new(specs: Vec<FeatureSpec>) -> Self {
        FeatureIndex { specs }
    }

    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    pub fn position(&self, spec: FeatureSpec) -> Option<usize> {
        self.specs.iter().position(|&s| s == spec)
    }

    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_typos_are_rejected() {
        for name in ["log_return", "sma_1", "sma_300"] {
            assert_eq!(name.parse::<FeatureSpec>().unwrap().to_string(), name);
        }
        for bad in ["sma_0", "sma_", "sma_05", "SMA_5", "ema_3", "sma_x"] {
            assert!(bad.parse::<FeatureSpec>().is_err(), "{bad}");
        }
    }
}
