//! Input windows for sequence models: the last `window` model-input rows of each symbol.
//! Training, the backtest, the live runner and the model server's payloads are all built
//! by this one type, so a model sees the same windows wherever it runs.

use serde::{Deserialize, Serialize};

/// The last `window` rows of every symbol, by symbol index.
///
/// Each symbol's rows sit in one flat ring, written in place: a push is one copy of the row,
/// where a `VecDeque` drain-then-extend cost ~45 ns per tick in a 1,000-symbol replay.
/// Snapshots keep the earlier shape (rows oldest first), so checkpoints stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "SavedWindows", from = "SavedWindows")]
pub struct WindowBuffer {
    window: usize,
    width: usize,
    rings: Vec<Ring>,
}

/// One symbol's rows: `len` valid rows starting at row `head`, wrapping at `window`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Ring {
    data: Vec<f64>,
    head: usize,
    len: usize,
}

/// The snapshot form: each symbol's valid rows, oldest first, flattened.
#[derive(Serialize, Deserialize)]
struct SavedWindows {
    window: usize,
    width: usize,
    rows: Vec<Vec<f64>>,
}

impl From<WindowBuffer> for SavedWindows {
    fn from(b: WindowBuffer) -> Self {
        let rows = (0..b.rings.len())
            .map(|s| {
                let mut rows = Vec::new();
                b.append_rows(s, &mut rows);
                rows
            })
            .collect();
        SavedWindows { window: b.window, width: b.width, rows }
    }
}

impl From<SavedWindows> for WindowBuffer {
    fn from(saved: SavedWindows) -> Self {
        let mut b = WindowBuffer::new(saved.window.max(1), saved.width.max(1));
        for (symbol, rows) in saved.rows.iter().enumerate() {
            b.ring(symbol);
            for row in rows.chunks_exact(b.width) {
                b.push(symbol, row);
            }
        }
        b
    }
}

impl WindowBuffer {
    pub fn new(window: usize, width: usize) -> Self {
        assert!(window > 0 && width > 0, "a window has rows and columns");
        WindowBuffer { window, width, rings: Vec::new() }
    }

    fn ring(&mut self, symbol: usize) -> &mut Ring {
        if symbol >= self.rings.len() {
            self.rings.resize_with(symbol + 1, Ring::default);
        }
        &mut self.rings[symbol]
    }

    /// Appends a symbol's next row. A row with a non-finite value (a feature warming up)
    /// restarts the symbol's window: a model is never shown a gap.
    pub fn push(&mut self, symbol: usize, row: &[f64]) {
        assert_eq!(row.len(), self.width, "row width");
        let (window, width) = (self.window, self.width);
        let ring = self.ring(symbol);
        if row.iter().any(|x| !x.is_finite()) {
            ring.head = 0;
            ring.len = 0;
            return;
        }
        if ring.data.is_empty() {
            ring.data = vec![0.0; window * width];
        }
        let slot = (ring.head + ring.len) % window;
        ring.data[slot * width..(slot + 1) * width].copy_from_slice(row);
        if ring.len < window {
            ring.len += 1;
        } else {
            ring.head = (ring.head + 1) % window;
        }
    }

    /// Whether `symbol` has a full window.
    pub fn is_ready(&self, symbol: usize) -> bool {
        self.rings.get(symbol).is_some_and(|r| r.len == self.window)
    }

    /// Appends `symbol`'s window (oldest row first) to `out`; false if it is not full yet.
    pub fn write_window(&self, symbol: usize, out: &mut Vec<f64>) -> bool {
        if !self.is_ready(symbol) {
            return false;
        }
        self.append_rows(symbol, out);
        true
    }

    /// Appends `symbol`'s valid rows, oldest first.
    fn append_rows(&self, symbol: usize, out: &mut Vec<f64>) {
        let Some(ring) = self.rings.get(symbol) else { return };
        let width = self.width;
        let first = (ring.len).min(self.window - ring.head);
        out.extend_from_slice(&ring.data[ring.head * width..(ring.head + first) * width]);
        out.extend_from_slice(&ring.data[..(ring.len - first) * width]);
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
        b.push(1, &[4.0]);
        b.push(1, &[5.0]);
        out.clear();
        assert!(b.write_window(1, &mut out));
        assert_eq!(out, vec![4.0, 5.0], "the ring wrapped");
        b.push(1, &[f64::NAN]);
        assert!(!b.is_ready(1), "a warming-up row restarts the window");
        b.push(1, &[6.0]);
        b.push(1, &[7.0]);
        out.clear();
        assert!(b.write_window(1, &mut out));
        assert_eq!(out, vec![6.0, 7.0]);
    }

    /// The snapshot form is the one `Vec<VecDeque<f64>>` rows had, so checkpoints written
    /// before the ring still restore.
    #[test]
    fn snapshots_keep_the_earlier_shape_and_round_trip() {
        #[derive(Serialize)]
        struct Earlier {
            window: usize,
            width: usize,
            rows: Vec<std::collections::VecDeque<f64>>,
        }
        let mut b = WindowBuffer::new(3, 2);
        for i in 0..5 {
            b.push(0, &[f64::from(i), f64::from(i) + 0.5]);
        }
        b.push(2, &[7.0, 8.0]);
        let earlier = Earlier {
            window: 3,
            width: 2,
            rows: vec![[2.0, 2.5, 3.0, 3.5, 4.0, 4.5].into(), Default::default(), [7.0, 8.0].into()],
        };
        let bytes = postcard::to_stdvec(&b).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&earlier).unwrap());
        let back: WindowBuffer = postcard::from_bytes(&bytes).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        assert!(back.write_window(0, &mut x) && b.write_window(0, &mut y));
        assert_eq!(x, y);
        assert!(!back.is_ready(2));
    }
}
