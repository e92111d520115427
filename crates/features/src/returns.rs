use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::Indicator;

/// Which return a [`Return`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnKind {
    /// `x_t / x_{t−1} − 1`
    Simple,
    /// `ln(x_t / x_{t−1})`
    Log,
}

/// One-step return; `NaN` for the first value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Return {
    kind: ReturnKind,
    prev: Option<f64>,
    last: f64,
}

impl Return {
    pub fn new(kind: ReturnKind) -> Self {
        Return { kind, prev: None, last: f64::NAN }
    }
}

impl Return {
    pub(crate) fn kind(&self) -> ReturnKind {
        self.kind
    }

    /// The input before the next one, if any has been fed.
    pub(crate) fn previous(&self) -> Option<f64> {
        self.prev
    }

    /// `close[i] / close[i − 1]` for each of `close` after `prev` (`NaN` first when there is
    /// none): the ratio both returns are made of, divided once per run for every feature that
    /// needs it, over whole columns (where the divisions pipeline and vectorise).
    pub(crate) fn ratios(prev: Option<f64>, close: &[f64], out: &mut Vec<f64>) {
        out.clear();
        let Some(&first) = close.first() else { return };
        out.push(prev.map_or(f64::NAN, |p| first / p));
        out.extend(close[1..].iter().zip(close).map(|(x, previous)| x / previous));
    }

    /// What a log return's `update` gives for each of `ratios` ([`Return::ratios`]): the
    /// C library's `ln`, bit for bit, four or eight at a time ([`tickloop_vecmath`]).
    pub(crate) fn log_returns(ratios: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(ratios.len(), 0.0);
        tickloop_vecmath::ln_into(ratios, out);
    }

    /// [`Indicator::update`], with the return against the previous input given by
    /// `of_previous(previous)` (computed here, or read from a run's shared column).
    #[inline]
    pub(crate) fn step(&mut self, x: f64, of_previous: impl FnOnce(f64) -> f64) -> f64 {
        self.last = match self.prev.replace(x) {
            None => f64::NAN,
            Some(p) => of_previous(p),
        };
        self.last
    }
}

impl Indicator for Return {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        match self.kind {
            ReturnKind::Simple => self.step(x, |p| x / p - 1.0),
            ReturnKind::Log => self.step(x, |p| (x / p).ln()),
        }
    }

    fn value(&self) -> f64 {
        self.last
    }
}

impl Vacant for Return {
    const VACANT: Self = Return { kind: ReturnKind::Simple, prev: None, last: f64::NAN };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_is_nan_then_ratio() {
        let mut r = Return::new(ReturnKind::Log);
        assert!(r.update(100.0).is_nan());
        assert!((r.update(110.0) - (1.1f64).ln()).abs() < 1e-15);
        let mut s = Return::new(ReturnKind::Simple);
        s.update(100.0);
        assert!((s.update(110.0) - 0.1).abs() < 1e-15);
    }

    #[test]
    fn log_returns_of_a_run_are_each_ratios_ln_bits() {
        let ratios = [1.0, 1.1, 1.0, 1.0, 0.9, f64::NAN, 1.0, f64::INFINITY, 0.0, 1.0f64.next_up(), 1.0f64.next_down()];
        let mut out = Vec::new();
        Return::log_returns(&ratios, &mut out);
        let expected: Vec<u64> = ratios.iter().map(|r| r.ln().to_bits()).collect();
        assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected);
        Return::log_returns(&ratios[..3], &mut out);
        assert_eq!(out.len(), 3, "buffers are reused, not appended to");
    }
}
