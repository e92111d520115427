//! Job 1, raw landing: newline-delimited JSON ticks (as they come from Kafka or files) →
//! cleaned parquet in `raw/ticks/`, refused lines in `rejects/` with line number and reason.
//!
//! Incremental and idempotent: a manifest (`_etl/landing.json`) remembers each input's size
//! and content hash, so unchanged inputs are skipped; an input's rows always land in files
//! named after it (`part-<input>.parquet`), so re-landing replaces rather than duplicates.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tickloop_core::{SymbolId, SymbolTable, Tick, Timestamp};
use tickloop_features::{Cleaner, CleaningPolicy, decode_json_tick};

use crate::{HourPartition, Lake, LakeError, LakeTable, TickFileWriter};
use tickloop_core::hex;

const MANIFEST: &str = "_etl/landing.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    inputs: BTreeMap<String, Landed>,
}

/// One landed input: its content hash, and the partitions its rows went to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Landed {
    sha256: String,
    partitions: Vec<String>,
}

/// What one landing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LandingSummary {
    pub landed: Vec<String>,
    pub skipped_unchanged: Vec<String>,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub partitions_written: usize,
}

/// A refused line, as written to `rejects/<input>.jsonl`.
#[derive(Debug, Serialize)]
struct RejectedLine<'a> {
    input: &'a str,
    line: usize,
    reason: tickloop_core::RejectReason,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
}

fn hash_file(path: &Path) -> Result<String, LakeError> {
    let bytes = std::fs::read(path).map_err(LakeError::io(path))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Lands every `*.ndjson` / `*.jsonl` file of `inputs` (files or directories) that is new or
/// changed since the last run.
pub fn land_ndjson(lake: &Lake, inputs: &[PathBuf]) -> Result<LandingSummary, LakeError> {
    let mut manifest: Manifest = lake.read_manifest(MANIFEST)?;
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(LakeError::io(input))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ndjson" || x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    let mut summary = LandingSummary::default();
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| SymbolTable::is_valid_name(s))
            .ok_or_else(|| LakeError::invalid(&file, "input names must be 1-32 characters of A-Z a-z 0-9 . - _"))?
            .to_owned();
        let hash = hash_file(&file)?;
        let before = manifest.inputs.remove(&name).unwrap_or_default();
        if before.sha256 == hash {
            manifest.inputs.insert(name.clone(), before);
            summary.skipped_unchanged.push(name);
            continue;
        }
        let partitions = land_one(lake, &file, &name, &mut summary)?;
        // Rows of an earlier version of this input in hours it no longer covers must go.
        for old in before.partitions.iter().filter(|p| !partitions.contains(p)) {
            lake.store().delete(&format!("{}/{old}/part-{name}.parquet", LakeTable::RawTicks.prefix()))?;
        }
        manifest.inputs.insert(name.clone(), Landed { sha256: hash, partitions });
        // Record progress after each input: an interrupted run redoes only unfinished inputs.
        lake.write_json(MANIFEST, &manifest)?;
        summary.landed.push(name);
    }
    Ok(summary)
}

/// Lands one input; returns the partitions (relative dirs) it wrote.
fn land_one(lake: &Lake, path: &Path, name: &str, summary: &mut LandingSummary) -> Result<Vec<String>, LakeError> {
    let file = std::fs::File::open(path).map_err(LakeError::io(path))?;
    let mut symbols = SymbolTable::new();
    let mut decoded: Vec<(usize, Tick)> = Vec::new();
    let mut rejects = Vec::new();
    let mut buf = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(LakeError::io(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        // Batch landing has no receive time: the record's own time stands in for it.
        match decode_json_tick(line, &mut symbols, Timestamp::MAX) {
            Ok(mut tick) => {
                tick.ts_recv = tick.ts_event;
                decoded.push((line_no, tick));
            }
            Err(r) => rejects.push((line_no, *r)),
        }
    }
    // Per symbol in time order (a file may interleave symbols or arrive unsorted); the
    // cleaner then refuses duplicates and bad values.
    decoded.sort_by_key(|(line, t)| (t.symbol, t.ts_event, *line));
    let mut cleaner =
        Cleaner::new(CleaningPolicy { allowed_lateness_secs: f64::INFINITY, ..CleaningPolicy::default() });
    let mut hours: BTreeMap<HourPartition, BTreeMap<SymbolId, Vec<Tick>>> = BTreeMap::new();
    for (line, tick) in &decoded {
        match cleaner.check(tick) {
            Ok(clean) => hours
                .entry(HourPartition::containing(clean.ts_event))
                .or_default()
                .entry(clean.symbol)
                .or_default()
                .push(clean),
            Err(r) => rejects.push((*line, *r)),
        }
    }
    // Symbol ids follow first appearance; row groups go in name order.
    let mut by_name: Vec<SymbolId> = symbols.iter().map(|(id, _)| id).collect();
    by_name.sort_by(|a, b| symbols.name(*a).cmp(symbols.name(*b)));
    let mut written = Vec::new();
    for (partition, runs) in &hours {
        written.push(partition.relative_dir());
        let mut writer =
            TickFileWriter::create(lake.object(LakeTable::RawTicks, *partition, &format!("part-{name}.parquet")))?;
        for id in &by_name {
            if let Some(run) = runs.get(id) {
                writer.write_run(symbols.meta(*id), run)?;
            }
        }
        summary.rows_written += writer.rows();
        writer.finish()?;
        summary.partitions_written += 1;
    }
    rejects.sort_by_key(|(line, _)| *line);
    let reject_key = format!("rejects/{name}.jsonl");
    if rejects.is_empty() {
        lake.store().delete(&reject_key)?;
    } else {
        let mut out = Vec::new();
        for (line, r) in &rejects {
            let letter =
                RejectedLine { input: name, line: *line, reason: r.reason, detail: &r.detail, raw: r.raw.as_deref() };
            serde_json::to_writer(&mut out, &letter).expect("rejects serialise");
            out.push(b'\n');
        }
        lake.store().put(&reject_key, &out)?;
    }
    summary.rows_rejected += rejects.len() as u64;
    tracing::info!(input = name, rows = summary.rows_written, rejected = rejects.len(), "landed");
    Ok(written)
}
