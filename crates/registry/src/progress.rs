//! Progress over ticks for long jobs (training data, backtests): hidden when stderr is not a
//! terminal, and advanced once a block of ticks (or every 64 Ki ticks read one by one) so it
//! stays off the hot path.

use indicatif::{ProgressBar, ProgressStyle};
use tickloop_core::{Source, SourceError, SymbolTable, Tick};

/// A progress bar over `total` ticks, labelled `what`.
pub fn tick_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{bar:40.cyan/blue}} {{human_pos}}/{{human_len}} ticks ({{per_sec}}, eta {{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Ticks between two moves of a bar when ticks are read one at a time.
const EVERY: u64 = 0xFFFF;

/// A source that advances a progress bar as it is read: a bar over a run's ticks without a
/// sink called for every one of them.
pub struct ProgressSource<'a, S: ?Sized> {
    inner: &'a mut S,
    bar: &'a ProgressBar,
    seen: u64,
}

impl<S: ?Sized> std::fmt::Debug for ProgressSource<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressSource").field("seen", &self.seen).finish_non_exhaustive()
    }
}

impl<'a, S: Source + ?Sized> ProgressSource<'a, S> {
    pub fn new(inner: &'a mut S, bar: &'a ProgressBar) -> Self {
        ProgressSource { inner, bar, seen: 0 }
    }
}

impl<S: Source + ?Sized> Source for ProgressSource<'_, S> {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        let tick = self.inner.next_tick()?;
        if tick.is_some() {
            self.seen += 1;
            if self.seen & EVERY == 0 {
                self.bar.set_position(self.seen);
            }
        }
        Ok(tick)
    }

    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        self.inner.next_block(block, max)?;
        self.seen += block.len() as u64;
        self.bar.set_position(self.seen);
        Ok(())
    }

    fn symbols(&self) -> &SymbolTable {
        self.inner.symbols()
    }

    fn remaining_hint(&self) -> Option<u64> {
        self.inner.remaining_hint()
    }
}
