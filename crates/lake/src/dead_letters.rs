//! Dead letters on disk: every rejected record, one JSON line each, with its reason.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tickloop_core::{Outputs, RejectReason, Sink, SinkError, SymbolTable, Tick, Timestamp};

use crate::LakeError;

/// A dead letter as written: the reason first, then the record as it arrived.
#[derive(Serialize)]
struct Letter<'a> {
    reason: RejectReason,
    detail: &'a str,
    symbol: &'a str,
    #[serde(with = "tickloop_core::rfc3339")]
    ts_event: Timestamp,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

/// A [`Sink`] that appends the pipeline's rejections to a JSON-lines file. The file is
/// created on the first rejection only, so a clean run leaves none behind.
#[derive(Debug)]
pub struct DeadLetterFile {
    path: PathBuf,
    symbols: SymbolTable,
    out: Option<BufWriter<File>>,
    written: u64,
}

impl DeadLetterFile {
    pub fn new(path: impl Into<PathBuf>, symbols: SymbolTable) -> Self {
        DeadLetterFile { path: path.into(), symbols, out: None, written: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    fn write(&mut self, out: &Outputs) -> Result<(), LakeError> {
        for rejection in &out.rejects {
            let Some(t) = rejection.tick else { continue };
            if self.out.is_none() {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
                }
                let file = File::create(&self.path).map_err(LakeError::io(&self.path))?;
                self.out = Some(BufWriter::new(file));
            }
            let letter = Letter {
                reason: rejection.reason,
                detail: &rejection.detail,
                symbol: if t.symbol.index() < self.symbols.len() { self.symbols.name(t.symbol) } else { "" },
                ts_event: t.ts_event,
                open: t.open.get(),
                high: t.high.get(),
                low: t.low.get(),
                close: t.close.get(),
                volume: t.volume.get(),
            };
            let w = self.out.as_mut().expect("opened above");
            serde_json::to_writer(&mut *w, &letter)
                .map_err(|source| LakeError::Json { path: self.path.clone(), source })?;
            w.write_all(b"\n").map_err(LakeError::io(&self.path))?;
            self.written += 1;
        }
        Ok(())
    }
}

impl Sink for DeadLetterFile {
    fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
        if out.rejects.is_empty() {
            return Ok(());
        }
        self.write(out).map_err(SinkError::new)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(w) = &mut self.out {
            w.flush().map_err(|e| SinkError::new(LakeError::io(&self.path)(e)))?;
        }
        Ok(())
    }
}
