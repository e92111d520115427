//! Run outputs on disk as JSON lines: dead letters (every rejected record with its reason)
//! and alerts and predictions (in the same JSON as the live runner publishes).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tickloop_core::{CalledFor, Outputs, RejectReason, Sink, SinkError, SymbolTable, Tick, Timestamp};

use crate::LakeError;

/// A dead letter as written: the reason first, then the record as it arrived (decoded, or
/// raw when it could not be decoded).
#[derive(Serialize)]
struct Letter<'a> {
    reason: RejectReason,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", with = "optional_rfc3339")]
    ts_event: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ohlcv: Option<[f64; 5]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
}

mod optional_rfc3339 {
    use serde::Serializer;
    use tickloop_core::Timestamp;

    pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.collect_str(ts),
            None => s.serialize_none(),
        }
    }
}

/// A JSON-lines file created on its first line, so a run with nothing to say leaves none.
#[derive(Debug)]
pub struct JsonLinesFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
}

impl JsonLinesFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLinesFile { path: path.into(), out: None, written: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn append<T: Serialize>(&mut self, line: &T) -> Result<(), LakeError> {
        let path = &self.path;
        let w = Self::opened(&mut self.out, path)?;
        serde_json::to_writer(&mut *w, line).map_err(|source| LakeError::Json { path: path.clone(), source })?;
        w.write_all(b"\n").map_err(LakeError::io(path))?;
        self.written += 1;
        Ok(())
    }

    /// Appends one line already written as JSON (without its newline).
    pub fn append_json(&mut self, line: &[u8]) -> Result<(), LakeError> {
        let path = &self.path;
        let w = Self::opened(&mut self.out, path)?;
        w.write_all(line).and_then(|()| w.write_all(b"\n")).map_err(LakeError::io(path))?;
        self.written += 1;
        Ok(())
    }

    /// The file's writer, the file (and its folder) created on the first line.
    fn opened<'w>(out: &'w mut Option<BufWriter<File>>, path: &Path) -> Result<&'w mut BufWriter<File>, LakeError> {
        if out.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
            }
            let file = File::create(path).map_err(LakeError::io(path))?;
            *out = Some(BufWriter::new(file));
        }
        Ok(out.as_mut().expect("opened above"))
    }

    pub fn flush(&mut self) -> Result<(), LakeError> {
        if let Some(w) = &mut self.out {
            w.flush().map_err(LakeError::io(&self.path))?;
        }
        Ok(())
    }
}

/// A [`Sink`] that appends the pipeline's rejections to a JSON-lines file (created on the
/// first rejection only).
#[derive(Debug)]
pub struct DeadLetterFile {
    file: JsonLinesFile,
    symbols: SymbolTable,
}

impl DeadLetterFile {
    pub fn new(path: impl Into<PathBuf>, symbols: SymbolTable) -> Self {
        DeadLetterFile { file: JsonLinesFile::new(path), symbols }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn written(&self) -> u64 {
        self.file.written()
    }

    fn write(&mut self, out: &Outputs) -> Result<(), LakeError> {
        for rejection in &out.rejects {
            let t = rejection.tick.as_ref();
            let letter = Letter {
                reason: rejection.reason,
                detail: &rejection.detail,
                symbol: t.filter(|t| t.symbol.index() < self.symbols.len()).map(|t| self.symbols.name(t.symbol)),
                ts_event: t.map(|t| t.ts_event),
                ohlcv: t.map(|t| [t.open.get(), t.high.get(), t.low.get(), t.close.get(), t.volume.get()]),
                raw: rejection.raw.as_deref(),
            };
            self.file.append(&letter)?;
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
        self.file.flush().map_err(SinkError::new)
    }

    fn reads_features(&self) -> bool {
        false
    }

    fn called_for(&self) -> CalledFor {
        CalledFor::REJECTS
    }
}

/// Which of the pipeline's outputs an [`OutputFile`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Every alert ([`tickloop_alerts::alert_json`]).
    Alerts,
    /// Every prediction ([`tickloop_models::prediction_json`]), including those a final
    /// flush produces.
    Predictions,
}

/// A [`Sink`] that writes alerts or predictions as JSON lines, in the JSON the live runner
/// publishes (without its receive/emit stamps), so a backtest's outputs can be compared
/// with the topics record for record.
#[derive(Debug)]
pub struct OutputFile {
    kind: OutputKind,
    file: JsonLinesFile,
    symbols: SymbolTable,
    /// A line's bytes, reused from line to line.
    line: Vec<u8>,
}

impl OutputFile {
    pub fn new(kind: OutputKind, path: impl Into<PathBuf>, symbols: SymbolTable) -> Self {
        OutputFile { kind, file: JsonLinesFile::new(path), symbols, line: Vec::new() }
    }

    pub fn alerts(path: impl Into<PathBuf>, symbols: SymbolTable) -> Self {
        Self::new(OutputKind::Alerts, path, symbols)
    }

    pub fn predictions(path: impl Into<PathBuf>, symbols: SymbolTable) -> Self {
        Self::new(OutputKind::Predictions, path, symbols)
    }

    pub fn written(&self) -> u64 {
        self.file.written()
    }

    /// Called for every tick: no allocation unless there is something to write.
    fn write(&mut self, out: &Outputs) -> Result<(), SinkError> {
        let symbols = &self.symbols;
        match self.kind {
            OutputKind::Alerts => {
                for a in &out.alerts {
                    self.file
                        .append(&tickloop_alerts::alert_json(symbols.name(a.symbol), a))
                        .map_err(SinkError::new)?;
                }
            }
            OutputKind::Predictions => {
                for p in &out.predictions {
                    self.line.clear();
                    tickloop_models::write_prediction_json(symbols.name(p.symbol), p, &mut self.line);
                    self.file.append_json(&self.line).map_err(SinkError::new)?;
                }
            }
        }
        Ok(())
    }
}

impl Sink for OutputFile {
    fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
        self.write(out)
    }

    fn on_flush(&mut self, out: &Outputs) -> Result<(), SinkError> {
        self.write(out)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.file.flush().map_err(SinkError::new)
    }

    fn reads_features(&self) -> bool {
        false
    }

    fn called_for(&self) -> CalledFor {
        match self.kind {
            OutputKind::Alerts => CalledFor::ALERTS,
            OutputKind::Predictions => CalledFor::PREDICTIONS,
        }
    }
}
