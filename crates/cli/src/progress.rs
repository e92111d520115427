use indicatif::{ProgressBar, ProgressStyle};
use tickloop_core::{Outputs, Sink, SinkError, Tick};

/// A progress bar over ticks; hidden when stderr is not a terminal.
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

/// An engine sink that advances a progress bar (every 64 Ki ticks, to stay off the hot path).
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
        if self.seen & 0xFFFF == 0 {
            self.bar.set_position(self.seen);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.bar.set_position(self.seen);
        self.bar.finish();
        Ok(())
    }
}
