//! Progress over ticks for long jobs (training data, backtests): hidden when stderr is not a
//! terminal, and advanced only every 64 Ki ticks so it stays off the hot path.

use indicatif::{ProgressBar, ProgressStyle};
use tickloop_core::{Outputs, Sink, SinkError, Source, SourceError, SymbolTable, Tick};

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

/// Ticks between two moves of a bar.
const EVERY: u64 = 0xFFFF;

/// An engine sink that advances a progress bar.
#[derive(Debug)]
pub struct ProgressSink {
    pub bar: ProgressBar,
    seen: u64,
}

impl ProgressSink {
    pub fn new(bar: ProgressBar) -> Self {
        ProgressSink { bar, seen: 0 }
    }
}

impl Sink for ProgressSink {
    fn on_outputs(&mut self, _input: &Tick, _out: &Outputs) -> Result<(), SinkError> {
        self.seen += 1;
        if self.seen & EVERY == 0 {
            self.bar.set_position(self.seen);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.bar.set_position(self.seen);
        self.bar.finish();
        Ok(())
    }

    fn reads_features(&self) -> bool {
        false
    }
}

/// A source that advances a progress bar as it is read (for engines whose sinks are not
/// ours to add to).
pub(crate) struct Counted<'a, S> {
    pub inner: &'a mut S,
    pub bar: &'a ProgressBar,
    pub seen: u64,
}

impl<S: Source> Source for Counted<'_, S> {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        self.seen += 1;
        if self.seen & EVERY == 0 {
            self.bar.set_position(self.seen);
        }
        self.inner.next_tick()
    }

    fn symbols(&self) -> &SymbolTable {
        self.inner.symbols()
    }
}
