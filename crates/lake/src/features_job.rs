//! Job 2, feature engineering: `raw/ticks` → `processed/features` with the batch twin of the
//! pipeline's feature code.
//!
//! Features are computed per symbol over each UTC day (state starts fresh at the day's
//! first tick, as a live runner started at midnight would have it), then written per hour,
//! one row group per symbol. Incremental: a manifest keeps, per day, a fingerprint of the
//! raw files (keys, sizes, versions) and of the feature set; only days whose
//! fingerprint changed are recomputed, and a recomputed day's old hours are replaced.
//!
//! Days are independent, so the job shards by day ([`build_features_where`]: the tasks of an
//! array job each take every n-th day). Each day keeps its fingerprint in its own object,
//! `_etl/features/date=YYYY-MM-DD.json`, so shards never read-modify-write one shared
//! manifest; the one-file manifest of earlier versions, `_etl/features.json`, is still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tickloop_core::{NANOS_PER_HOUR, SymbolId, Tick, Timestamp};
use tickloop_features::FeatureSetDef;
use tickloop_features::batch::{Columns, compute};

use crate::store::LakeObject;
use crate::tick_file::TickFileReader;
use crate::{FeatureFileWriter, FeaturePrecision, HourPartition, Lake, LakeError, LakeTable};
use tickloop_core::hex;

/// The manifest of earlier versions: every day's fingerprint in one object (read, no longer
/// written).
const MANIFEST: &str = "_etl/features.json";
/// A day's fingerprint, one object per day.
fn day_manifest(label: &str) -> String {
    format!("_etl/features/date={label}.json")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DayManifest {
    fingerprint: String,
}
const DAY: i64 = 24 * NANOS_PER_HOUR;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    /// `YYYY-MM-DD` → fingerprint of that day's inputs and feature set.
    days: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeatureJobSummary {
    pub days_built: Vec<String>,
    pub days_unchanged: Vec<String>,
    pub rows: u64,
    pub files: usize,
}

/// Builds `processed/features` for every day of raw ticks in `[from, to)` that changed.
pub fn build_features(
    lake: &Lake,
    set: &FeatureSetDef,
    from: Timestamp,
    to: Timestamp,
) -> Result<FeatureJobSummary, LakeError> {
    build_features_where(lake, set, from, to, |_| true)
}

/// [`build_features`] for the days `owns` takes, by their number since 1970-01-01 (a shard
/// of `n` takes `|day| day % n == i`).
pub fn build_features_where(
    lake: &Lake,
    set: &FeatureSetDef,
    from: Timestamp,
    to: Timestamp,
    owns: impl Fn(u64) -> bool,
) -> Result<FeatureJobSummary, LakeError> {
    build_features_with(lake, set, FeaturePrecision::F64, from, to, owns)
}

/// [`build_features_where`], storing the values at `precision`. A day built at another
/// precision is built again.
pub fn build_features_with(
    lake: &Lake,
    set: &FeatureSetDef,
    precision: FeaturePrecision,
    from: Timestamp,
    to: Timestamp,
    owns: impl Fn(u64) -> bool,
) -> Result<FeatureJobSummary, LakeError> {
    let legacy: Manifest = lake.read_manifest(MANIFEST)?;
    let mut days: BTreeMap<Timestamp, Vec<HourPartition>> = BTreeMap::new();
    for p in lake.partitions(LakeTable::RawTicks, from, to)? {
        let day = p.hour.floor_to(DAY);
        if owns(u64::try_from(day.as_nanos() / DAY).unwrap_or(0)) {
            days.entry(day).or_default().push(p);
        }
    }
    let mut summary = FeatureJobSummary::default();
    for (day, partitions) in days {
        let label = HourPartition { hour: day }.relative_dir()[5..15].to_owned();
        let mut hasher = Sha256::new();
        hasher.update(format!("{}@{}:{:?}", set.name, set.version, set.columns()).as_bytes());
        // Doubles hash as they always did, so lakes built before are not rebuilt.
        if precision != FeaturePrecision::F64 {
            hasher.update(format!(" stored as {precision}").as_bytes());
        }
        let mut files = Vec::new();
        for &p in &partitions {
            for meta in lake.partition_files(LakeTable::RawTicks, p, ".parquet")? {
                hasher.update(format!("{}|{}|{}\n", meta.key, meta.size, meta.version).as_bytes());
                files.push(lake.object_at(meta.key));
            }
        }
        let fingerprint = hex(&hasher.finalize());
        let built = match lake.read_json::<DayManifest>(&day_manifest(&label))? {
            Some(day) => Some(day.fingerprint),
            None => legacy.days.get(&label).cloned(),
        };
        if built.as_ref() == Some(&fingerprint) {
            summary.days_unchanged.push(label);
            continue;
        }
        let (rows, written) = build_day(lake, set, precision, day, &files)?;
        summary.rows += rows;
        summary.files += written;
        lake.write_json(&day_manifest(&label), &DayManifest { fingerprint })?;
        summary.days_built.push(label);
    }
    Ok(summary)
}

/// Computes one day: every symbol's ticks (from all of the day's files, in time order,
/// first of any duplicate kept), the batch features, split into hours.
fn build_day(
    lake: &Lake,
    set: &FeatureSetDef,
    precision: FeaturePrecision,
    day: Timestamp,
    files: &[LakeObject],
) -> Result<(u64, usize), LakeError> {
    let mut readers: Vec<TickFileReader> = files.iter().map(TickFileReader::open).collect::<Result<_, _>>()?;
    let mut runs_by_symbol: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (f, reader) in readers.iter().enumerate() {
        for (r, info) in reader.runs().iter().enumerate() {
            runs_by_symbol.entry(info.symbol.clone()).or_default().push((f, r));
        }
    }
    let columns = set.columns();
    let mut writers: BTreeMap<HourPartition, FeatureFileWriter> = BTreeMap::new();
    let mut rows = 0;
    for (symbol, runs) in &runs_by_symbol {
        let mut ticks: Vec<Tick> = Vec::new();
        for &(f, r) in runs {
            let mut run = readers[f].open_run(r, SymbolId::new(0))?;
            while let Some(t) = run.next_tick() {
                ticks.push(t);
            }
        }
        ticks.sort_by_key(|t| t.ts_event);
        ticks.dedup_by_key(|t| t.ts_event);
        let pick = |f: fn(&Tick) -> f64| ticks.iter().map(f).collect::<Vec<f64>>();
        let ts: Vec<i64> = ticks.iter().map(|t| t.ts_event.as_nanos()).collect();
        let (open, high, low, close, volume) =
            (pick(|t| t.open.0), pick(|t| t.high.0), pick(|t| t.low.0), pick(|t| t.close.0), pick(|t| t.volume.0));
        let cols = Columns { ts_nanos: &ts, open: &open, high: &high, low: &low, close: &close, volume: &volume };
        let values: Vec<Vec<f64>> = set.features.iter().map(|&spec| compute(spec, &cols)).collect();
        // Split the day into hours.
        let mut start = 0;
        while start < ts.len() {
            let hour = HourPartition::containing(Timestamp::from_nanos(ts[start]));
            let end = start + ts[start..].partition_point(|&t| t < hour.end().as_nanos());
            let writer = match writers.entry(hour) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(FeatureFileWriter::create_with(
                    lake.object(LakeTable::Features, hour, "part-0.parquet"),
                    &columns,
                    precision,
                )?),
            };
            let slices: Vec<Vec<f64>> = values.iter().map(|v| v[start..end].to_vec()).collect();
            writer.write_symbol(symbol, &ts[start..end], &slices)?;
            rows += (end - start) as u64;
            start = end;
        }
    }
    let written = writers.len();
    for hour in (0..24).map(|h| HourPartition { hour: day.add_nanos(h * NANOS_PER_HOUR) }) {
        match writers.remove(&hour) {
            Some(w) => {
                w.finish()?;
            }
            None => lake.store().delete(lake.object(LakeTable::Features, hour, "part-0.parquet").key())?,
        }
    }
    Ok((rows, written))
}
