//! The model server's wire format, shared by the server (`tickloop serve-model`), the live
//! runner calling a remote endpoint, and tests — one encoder and one decoder.
//!
//! JSON (`application/json`):
//! `{"instances": [{"symbol": "AAPL", "window": [[f1, f2, …], …]}, …]}`, each window
//! `card.window` rows (oldest first) of the card's features as model inputs (price levels
//! relative to the close); `symbol` is optional and echoed back. The answer is
//! `{"model": "name/vN", "predictions": [{"symbol": "AAPL", "return": r}, …]}` with `r` the
//! predicted log return over the card's horizon.
//!
//! CSV (`text/csv`): one window per line, its rows flattened (oldest first), no header;
//! the answer is one prediction per line.

use serde::{Deserialize, Serialize};

use crate::ModelCard;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub window: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationRequest {
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionOut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(rename = "return")]
    pub log_return: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationResponse {
    pub model: String,
    pub predictions: Vec<PredictionOut>,
}

impl InvocationRequest {
    /// Windows laid out back to back (as [`crate::WindowBuffer::write_window`] writes them),
    /// `width` values per row and `window` rows each, with their symbols.
    pub fn from_windows(windows: &[f64], window: usize, width: usize, symbols: &[String]) -> Self {
        let instances = windows
            .chunks(window * width)
            .zip(symbols.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(w, s)| Instance { symbol: s.cloned(), window: w.chunks(width).map(<[f64]>::to_vec).collect() })
            .collect();
        InvocationRequest { instances }
    }

    /// The windows back to back, checked against `card`'s shape; the error names the
    /// instance and what was wrong with it.
    pub fn windows(&self, card: &ModelCard) -> Result<Vec<f64>, String> {
        let width = card.features.len();
        let mut out = Vec::with_capacity(self.instances.len() * card.window_len());
        for (i, inst) in self.instances.iter().enumerate() {
            if inst.window.len() != card.window {
                return Err(format!(
                    "instance {i}: window has {} rows, the model reads {}",
                    inst.window.len(),
                    card.window
                ));
            }
            for (r, row) in inst.window.iter().enumerate() {
                if row.len() != width {
                    return Err(format!(
                        "instance {i}, row {r}: {} values, the model reads {width} ({})",
                        row.len(),
                        card.features.join(", ")
                    ));
                }
                if let Some(c) = row.iter().position(|v| !v.is_finite()) {
                    return Err(format!("instance {i}, row {r}: {} is not a finite number", card.features[c]));
                }
                out.extend(row);
            }
        }
        Ok(out)
    }
}

/// Parses a CSV body (one flattened window per line) against `card`'s shape.
pub fn windows_from_csv(body: &str, card: &ModelCard) -> Result<Vec<f64>, String> {
    let per = card.window_len();
    let mut out = Vec::new();
    for (n, line) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let before = out.len();
        for (k, cell) in line.split(',').enumerate() {
            let v: f64 =
                cell.trim().parse().map_err(|_| format!("line {}: value {} {cell:?} is not a number", n + 1, k + 1))?;
            if !v.is_finite() {
                return Err(format!("line {}: value {} is not finite", n + 1, k + 1));
            }
            out.push(v);
        }
        if out.len() - before != per {
            return Err(format!(
                "line {}: {} values, the model reads {per} ({} rows × {} features)",
                n + 1,
                out.len() - before,
                card.window,
                card.features.len()
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::card;

    #[test]
    fn requests_round_trip_and_name_what_is_wrong() {
        let c = ModelCard { window: 2, ..card(&["a", "b"]) };
        let windows = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let req = InvocationRequest::from_windows(&windows, 2, 2, &["X".into()]);
        assert_eq!(req.instances[0].symbol.as_deref(), Some("X"));
        assert_eq!(req.instances[1].symbol, None);
        let json = serde_json::to_string(&req).unwrap();
        let back: InvocationRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.windows(&c).unwrap(), windows);

        let short = InvocationRequest { instances: vec![Instance { symbol: None, window: vec![vec![1.0, 2.0]] }] };
        assert!(short.windows(&c).unwrap_err().contains("instance 0: window has 1 rows"));
        assert_eq!(windows_from_csv("1,2,3,4\n5,6,7,8\n", &c).unwrap(), windows);
        assert!(windows_from_csv("1,2,x,4", &c).unwrap_err().contains("line 1: value 3"));
        assert!(windows_from_csv("1,2,3", &c).unwrap_err().contains("3 values, the model reads 4"));
    }
}
