//! Input windows for sequence models: the last `window` model-input rows of each symbol.
//! Training, the backtest, the live runner and the model server's payloads are all built
//! by this one type, so a model sees the same windows wherever it runs.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The last `window` rows of every symbol, by symbol index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowBuffer {
    window: usize,
    width: usize,
    rows: Vec<VecDeque<f64>>,
}

impl WindowBuffer {
    pub fn new(window: usize, width: usize) -> Self {
        assert!(window > 0 && width > 0, "a window has rows and columns");
        WindowBuffer { window, width, rows: Vec::new() }
    }

    /// Appends a symbol's next row. A row with a non-finite value (a feature warming up)
    /// restarts the symbol's window: a model is never shown a gap.
    pub fn push(&mut self, symbol: usize, row: &[f64]) {
        assert_eq!(row.len(), self.width, "row width");
        if symbol >= self.rows.len() {
            self.rows.resize_with(symbol + 1, VecDeque::new);
        }
        let q = &mut self.rows[symbol];
        if row.iter().any(|x| !x.is_finite()) {
            q.clear();
            return;
        }
        if q.len() == self.window * self.width {
            q.drain(..self.width);
        }
        q.extend(row);
    }

    /// Whether `symbol` has a full window.
    pub fn is_ready(&self, symbol: usize) -> bool {
        self.rows.get(symbol).is_some_and(|q| q.len() == self.window * self.width)
    }

    /// Appends `symbol`'s window (oldest row first) to `out`; false if it is not full yet.
    pub fn write_window(&self, symbol: usize, out: &mut Vec<f64>) -> bool {
        if !self.is_ready(symbol) {
            return false;
        }
        out.extend(&self.rows[symbol]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide_per_symbol_and_restart_after_a_gap() {
        let mut b = WindowBuffer::new(2, 1);
        let mut out = Vec::new();
        b.push(1, &[1.0]);
        assert!(!b.write_window(1, &mut out) && !b.is_ready(0));
        b.push(1, &[2.0]);
        b.push(0, &[9.0]);
        b.push(1, &[3.0]);
        assert!(b.write_window(1, &mut out));
        assert_eq!(out, vec![2.0, 3.0]);
        b.push(1, &[f64::NAN]);
        assert!(!b.is_ready(1), "a warming-up row restarts the window");
    }
}
