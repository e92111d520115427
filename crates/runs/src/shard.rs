//! One run split across machines: the array jobs of AWS Batch or a Kubernetes Indexed Job.
//!
//! Shard `i` of `n` runs every `n`-th grid point of a `[sweep]` (point `k` when
//! `k mod n = i`) or every `n`-th fold of a `[walk_forward]`, writes each member's directory
//! under the run's prefix (a directory, or `s3://bucket/prefix`) exactly as one machine lays
//! it out, and ends by writing its record, `shards/IIII-of-NNNN.json`: what it ran, the files
//! it wrote, and the results the merge needs. [`merge`] builds `ranking.json` or the stitched
//! walk-forward report from the records alone, with the same code and the same bytes as a
//! run on one machine.
//!
//! Retries are safe: a shard first deletes its record (so a merge stops counting it), then
//! each member's old files, then writes new ones, and the record last. A shard killed midway
//! therefore has no record: the merge names it as missing, and its rerun replaces whatever
//! it left. Objects appear whole (an S3 upload, a local rename), so no file is ever torn.
//!
//! Backtests are not split by symbol: every strategy here trades one portfolio, whose cash,
//! exposure caps and equity couple all the symbols it holds.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tickloop_backtest::{EquityPoint, ExperimentConfig, Report, SweepPoint, write_report};
use tickloop_core::{Clock, Timestamp, WallClock};
use tickloop_lake::{Lake, LocalStore, ObjectStore};

use crate::RunError;
use crate::provenance::git_commit;
use crate::run::{Provenance, write_manifest};
use crate::sweep::{SweepRow, experiment_toml, member_dir, run_points, write_ranking};
use crate::walk_forward::{FoldOutput, fold_name, run_fold, stitch_folds};

/// The environment variables array jobs number their tasks with, in the order they are read:
/// AWS Batch's, then a Kubernetes Indexed Job's.
pub const SHARD_INDEX_VARIABLES: [&str; 2] = ["AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX"];

/// The experiment every shard of a prefix runs (the merge reads it back).
const EXPERIMENT_FILE: &str = "experiment.toml";
const SHARDS_DIR: &str = "shards";

/// Which part of a run this process does: shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self, RunError> {
        if count == 0 {
            return Err(RunError::Config("--shards must be at least 1".into()));
        }
        if index >= count {
            return Err(RunError::Config(format!(
                "shard index {index} is out of range for {count} shards (0..={})",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Shard `index` of `count`, or, without an index, the one the array job's environment
    /// (`var`, e.g. `std::env::var`) names.
    pub fn resolve(index: Option<usize>, count: usize, var: impl Fn(&str) -> Option<String>) -> Result<Self, RunError> {
        let index = match index {
            Some(index) => index,
            None => {
                let (name, value) = SHARD_INDEX_VARIABLES
                    .iter()
                    .find_map(|name| var(name).map(|value| (*name, value)))
                    .ok_or_else(|| {
                        RunError::Config(format!(
                            "which of the {count} shards is this? Pass --shard I, or run it as an array job \
                             ({} is set by AWS Batch, {} by a Kubernetes Indexed Job)",
                            SHARD_INDEX_VARIABLES[0], SHARD_INDEX_VARIABLES[1]
                        ))
                    })?;
                value.trim().parse().map_err(|_| RunError::Config(format!("{name}={value:?} is not a shard index")))?
            }
        };
        Shard::new(index, count)
    }

    /// Whether grid point or fold `item` (numbered from 0) is this shard's.
    pub fn owns(self, item: usize) -> bool {
        item % self.count == self.index
    }

    fn record_key(self) -> String {
        format!("{SHARDS_DIR}/{:04}-of-{:04}.json", self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} of {}", self.index, self.count)
    }
}

/// Where a sharded run's files go: a local directory or an S3 prefix.
#[derive(Debug, Clone)]
pub struct RunPrefix {
    store: Arc<dyn ObjectStore>,
    root: String,
}

impl RunPrefix {
    /// `store`, described in messages as `root`.
    pub fn new(store: Arc<dyn ObjectStore>, root: impl Into<String>) -> Self {
        RunPrefix { store, root: root.into() }
    }

    pub fn local(dir: &Path) -> Self {
        RunPrefix::new(Arc::new(LocalStore::new(dir)), dir.display().to_string())
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The prefix's last path component: the run's name in its manifest.
    fn name(&self) -> String {
        self.root.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned()
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), RunError> {
        Ok(self.store.put(key, bytes)?)
    }

    /// Uploads every file under `local` as `under/<relative path>` (`under` empty: at the
    /// root), in name order, adding the keys to `keys`.
    fn upload_dir(&self, local: &Path, under: &str, keys: &mut Vec<String>) -> Result<(), RunError> {
        let mut entries: Vec<_> = std::fs::read_dir(local)
            .map_err(RunError::io(local))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(RunError::io(local))?;
        entries.sort();
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let key = if under.is_empty() { name } else { format!("{under}/{name}") };
            if path.is_dir() {
                self.upload_dir(&path, &key, keys)?;
            } else {
                self.put(&key, &std::fs::read(&path).map_err(RunError::io(&path))?)?;
                keys.push(key);
            }
        }
        Ok(())
    }

    /// Removes every object under `dir/`.
    fn clear(&self, dir: &str) -> Result<(), RunError> {
        for object in self.store.list(&format!("{dir}/"))? {
            self.store.delete(&object.key)?;
        }
        Ok(())
    }

    fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, RunError> {
        let Some(bytes) = self.store.get(key)? else { return Ok(None) };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| RunError::Json { path: self.store.location(key), source })
    }
}

/// What one shard ran and wrote, as `shards/IIII-of-NNNN.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub experiment: String,
    /// The resolved config's hash: every shard of a run must have run the same.
    pub config_sha256: String,
    pub shard: Shard,
    pub lake: String,
    pub git_commit: Option<String>,
    pub tickloop_version: String,
    #[serde(with = "tickloop_core::rfc3339")]
    pub started_at: Timestamp,
    pub wall_secs: f64,
    /// Every object it wrote, relative to the prefix.
    pub files: Vec<String>,
    pub work: ShardWork,
}

/// A shard's results: what the merge needs from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShardWork {
    Sweep { rows: Vec<ShardRow> },
    WalkForward { folds: Vec<FoldOutput> },
}

impl ShardWork {
    /// The grid points or fold numbers it covers.
    pub fn items(&self) -> Vec<usize> {
        match self {
            ShardWork::Sweep { rows } => rows.iter().map(|r| r.row.index).collect(),
            ShardWork::WalkForward { folds } => folds.iter().map(|f| f.result.fold).collect(),
        }
    }
}

/// A sweep member's ranking row, with the equity curve `ranking.html` draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRow {
    pub row: SweepRow,
    pub equity: Vec<EquityPoint>,
}

/// Runs `shard`'s part of `config` (a sweep's grid points or a walk-forward's folds) into
/// `prefix`, `jobs` backtests at a time, and writes its record last.
pub fn run_shard(
    config: &ExperimentConfig,
    lake: &Lake,
    lake_root: &str,
    prefix: &RunPrefix,
    shard: Shard,
    jobs: Option<usize>,
) -> Result<ShardRecord, RunError> {
    if config.sweep.is_none() && config.walk_forward.is_none() {
        return Err(RunError::Config(
            "--shards splits a [sweep] grid (by point) or a [walk_forward] (by fold); this experiment is one \
             backtest, and its symbols share one portfolio, so it runs whole"
                .into(),
        ));
    }
    let started_at = WallClock.now();
    let started = Instant::now();
    prefix.store.delete(&shard.record_key())?;
    claim(prefix, config)?;
    let scratch =
        tempfile::Builder::new().prefix("tickloop-shard-").tempdir().map_err(RunError::io("a temporary directory"))?;
    let mut files = Vec::new();
    let work = if let Some(sweep) = &config.sweep {
        let points = config.sweep_points();
        let mine: Vec<&SweepPoint> = points.iter().filter(|p| shard.owns(p.index)).collect();
        for point in &mine {
            prefix.clear(&member_dir(point.index))?;
        }
        let destination = format!("{} ({shard})", prefix.root());
        let mut rows = run_points(&mine, sweep, lake, lake_root, scratch.path(), jobs, &destination, |row, dir| {
            prefix.upload_dir(dir, &row.run_dir, &mut files)?;
            eprintln!("{shard}: {} written under {}", row.run_dir, prefix.root());
            // Uploaded: the member's local copy is not needed any more.
            let _ = std::fs::remove_dir_all(dir);
            Ok(())
        })?;
        rows.sort_by_key(|r| r.index);
        let rows = rows.into_iter().map(|mut row| ShardRow { equity: std::mem::take(&mut row.equity), row }).collect();
        ShardWork::Sweep { rows }
    } else {
        let wf = config.walk_forward.as_ref().expect("checked above");
        let windows = wf.windows(config.data.start, config.data.end).map_err(RunError::Config)?;
        let mut folds = Vec::new();
        for fold in (1..=windows.len()).filter(|fold| shard.owns(fold - 1)) {
            let name = fold_name(fold);
            prefix.clear(&name)?;
            let dir = scratch.path().join(&name);
            folds.push(run_fold(config, wf, &windows, fold, lake, lake_root, &dir, crate::Share::alone())?);
            prefix.upload_dir(&dir, &name, &mut files)?;
            eprintln!("{shard}: {name} written under {}", prefix.root());
        }
        ShardWork::WalkForward { folds }
    };
    files.sort();
    let record = ShardRecord {
        experiment: config.name.clone(),
        config_sha256: config.config_sha256(),
        shard,
        lake: lake_root.to_owned(),
        git_commit: git_commit(),
        tickloop_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        wall_secs: started.elapsed().as_secs_f64(),
        files,
        work,
    };
    let mut json = serde_json::to_vec_pretty(&record).expect("a shard record serialises");
    json.push(b'\n');
    prefix.put(&shard.record_key(), &json)?;
    Ok(record)
}

/// Writes the experiment at the prefix's root, or checks that the one there is the same: two
/// different experiments under one prefix would merge into nonsense.
fn claim(prefix: &RunPrefix, config: &ExperimentConfig) -> Result<(), RunError> {
    let toml = experiment_toml(config)?;
    match prefix.store.get(EXPERIMENT_FILE)? {
        Some(existing) if existing != toml.as_bytes() => Err(RunError::Config(format!(
            "{}/{EXPERIMENT_FILE} holds another experiment: give each run its own prefix",
            prefix.root()
        ))),
        Some(_) => Ok(()),
        None => prefix.put(EXPERIMENT_FILE, toml.as_bytes()),
    }
}

/// A merged run: what it was, how many shards, and what to show.
#[derive(Debug)]
pub struct MergeOutcome {
    pub experiment: String,
    pub shards: usize,
    /// The ranking table of a sweep; the stitched report of a walk-forward.
    pub table: Option<String>,
    pub report: Option<Report>,
    /// What the merge wrote, relative to the prefix.
    pub files: Vec<String>,
}

/// Builds a sharded run's results from its shards' records: a sweep's `ranking.*` and
/// `results.jsonl`, or a walk-forward's stitched `report.*` and `manifest.json`, at the
/// prefix's root. Fails, naming them, when shards have not finished.
pub fn merge(prefix: &RunPrefix) -> Result<MergeOutcome, RunError> {
    let text = prefix.store.get(EXPERIMENT_FILE)?.ok_or_else(|| {
        RunError::Config(format!(
            "{}: no {EXPERIMENT_FILE}, so no shard of a run has started here (check the prefix)",
            prefix.root()
        ))
    })?;
    let config = ExperimentConfig::parse(&String::from_utf8_lossy(&text))?;
    let records = records(prefix, &config)?;
    let count = records[0].shard.count;
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), RunError> {
        files.push(name.to_owned());
        prefix.put(name, bytes)
    };
    let (table, report) = if config.sweep.is_some() {
        let mut rows = Vec::new();
        for record in &records {
            if let ShardWork::Sweep { rows: part } = &record.work {
                rows.extend(part.iter().cloned().map(|ShardRow { mut row, equity }| {
                    row.equity = equity;
                    row
                }));
            }
        }
        rows.sort_by_key(|r| r.index);
        covers(prefix, "grid points", rows.iter().map(|r| r.index), 0..config.sweep_points().len())?;
        let mut results = Vec::new();
        for row in &rows {
            serde_json::to_writer(&mut results, row).expect("rows serialise");
            results.push(b'\n');
        }
        put("results.jsonl", &results)?;
        // The shards' experiment.toml is the bytes one machine writes as sweep.toml.
        put("sweep.toml", &text)?;
        let (_, table) = write_ranking(&config, rows, &mut put)?;
        (Some(table), None)
    } else {
        let wf = config.walk_forward.as_ref().ok_or_else(|| {
            RunError::Config(
                "the experiment has neither a [sweep] grid nor a [walk_forward]: nothing was sharded".into(),
            )
        })?;
        let mut folds = Vec::new();
        for record in &records {
            if let ShardWork::WalkForward { folds: part } = &record.work {
                folds.extend(part.iter().cloned());
            }
        }
        folds.sort_by_key(|f| f.result.fold);
        let windows = wf.windows(config.data.start, config.data.end).map_err(RunError::Config)?;
        covers(prefix, "folds", folds.iter().map(|f| f.result.fold), 1..windows.len() + 1)?;
        let outcome = stitch_folds(&config, wf, folds);
        let scratch = tempfile::Builder::new()
            .prefix("tickloop-merge-")
            .tempdir()
            .map_err(RunError::io("a temporary directory"))?;
        write_report(scratch.path(), &config, &outcome.report)?;
        let provenance = Provenance {
            experiment_file: None,
            lake_root: &records[0].lake,
            run_id: prefix.name(),
            started_at: records.iter().map(|r| r.started_at).min().expect("at least one record"),
            // The compute the shards spent, not how long the slowest took.
            wall_secs: records.iter().map(|r| r.wall_secs).sum(),
        };
        write_manifest(scratch.path(), &config, &outcome, provenance)?;
        prefix.upload_dir(scratch.path(), "", &mut files)?;
        (None, Some(outcome.report))
    };
    Ok(MergeOutcome { experiment: config.name, shards: count, table, report, files })
}

/// Every shard's record, checked to belong together and to be all there.
fn records(prefix: &RunPrefix, config: &ExperimentConfig) -> Result<Vec<ShardRecord>, RunError> {
    let mut records = Vec::new();
    for object in prefix.store.list(&format!("{SHARDS_DIR}/"))? {
        if let Some(record) = prefix.json::<ShardRecord>(&object.key)? {
            records.push(record);
        }
    }
    let Some(first) = records.first() else {
        return Err(RunError::Config(format!(
            "{}: no shard has finished yet (nothing under {SHARDS_DIR}/)",
            prefix.root()
        )));
    };
    let count = first.shard.count;
    if let Some(other) = records.iter().find(|r| r.shard.count != count) {
        return Err(RunError::Config(format!(
            "{}: records of {count} and of {} shards: the run was started twice with different --shards; \
             rerun into a fresh prefix",
            prefix.root(),
            other.shard.count
        )));
    }
    let sha = config.config_sha256();
    if let Some(other) = records.iter().find(|r| r.config_sha256 != sha) {
        return Err(RunError::Config(format!(
            "{}: {} ran another config (sha256 {}) than {EXPERIMENT_FILE} ({sha})",
            prefix.root(),
            other.shard,
            other.config_sha256
        )));
    }
    let missing: Vec<usize> = (0..count).filter(|i| !records.iter().any(|r| r.shard.index == *i)).collect();
    if !missing.is_empty() {
        return Err(RunError::MissingShards {
            prefix: prefix.root().to_owned(),
            count,
            missing: missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        });
    }
    records.sort_by_key(|r| r.shard.index);
    Ok(records)
}

/// Checks that the shards' items are exactly `expected`, each once.
fn covers(
    prefix: &RunPrefix,
    what: &str,
    items: impl Iterator<Item = usize>,
    expected: std::ops::Range<usize>,
) -> Result<(), RunError> {
    let items: Vec<usize> = items.collect();
    if items != expected.clone().collect::<Vec<_>>() {
        return Err(RunError::Config(format!(
            "{}: the shards' records hold {what} {items:?}, the experiment has {expected:?}",
            prefix.root()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_index_comes_from_the_flag_else_from_the_array_job() {
        let none = |_: &str| None;
        assert_eq!(Shard::resolve(Some(2), 4, none).unwrap(), Shard { index: 2, count: 4 });
        let batch = |name: &str| (name == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "3".to_owned());
        assert_eq!(Shard::resolve(None, 4, batch).unwrap().index, 3);
        let k8s = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "1\n".to_owned());
        assert_eq!(Shard::resolve(None, 4, k8s).unwrap().index, 1);
        let error = |r: Result<Shard, RunError>| r.unwrap_err().to_string();
        assert!(error(Shard::resolve(None, 4, none)).contains("--shard I"));
        assert!(error(Shard::resolve(None, 4, batch_says("x"))).contains("AWS_BATCH_JOB_ARRAY_INDEX=\"x\""));
        assert!(error(Shard::resolve(Some(4), 4, none)).contains("out of range for 4 shards"));
        assert!(error(Shard::new(0, 0)).contains("at least 1"));
    }

    fn batch_says(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |name| (name == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| value.to_owned())
    }

    #[test]
    fn every_item_belongs_to_exactly_one_shard() {
        for count in 1..6 {
            for item in 0..20 {
                let owners = (0..count).filter(|&i| Shard::new(i, count).unwrap().owns(item)).count();
                assert_eq!(owners, 1, "item {item} of {count} shards");
            }
        }
    }

    #[test]
    fn a_merge_names_the_shards_that_have_not_finished() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = RunPrefix::local(dir.path());
        let config = ExperimentConfig::parse(
            "name = \"s\"\n[data]\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T15:00:00Z\"\n\
             [sweep]\nrank_by = \"sharpe\"\n[sweep.grid]\n\"strategy.fast\" = [10, 20, 30]\n",
        )
        .unwrap();
        assert!(merge(&prefix).unwrap_err().to_string().contains("no shard of a run has started"));
        claim(&prefix, &config).unwrap();
        assert!(merge(&prefix).unwrap_err().to_string().contains("no shard has finished"));
        let record = |index| ShardRecord {
            experiment: "s".into(),
            config_sha256: config.config_sha256(),
            shard: Shard::new(index, 3).unwrap(),
            lake: "lake".into(),
            git_commit: None,
            tickloop_version: "0".into(),
            started_at: Timestamp::from_secs(0),
            wall_secs: 1.0,
            files: Vec::new(),
            work: ShardWork::Sweep { rows: Vec::new() },
        };
        let write = |r: &ShardRecord| prefix.put(&r.shard.record_key(), &serde_json::to_vec(r).unwrap()).unwrap();
        write(&record(1));
        let err = merge(&prefix).unwrap_err().to_string();
        assert!(err.contains("shards 0, 2 of 3 have not finished"), "{err}");
        // A record from another config is refused, whatever else is missing.
        write(&ShardRecord { config_sha256: "other".into(), ..record(0) });
        assert!(merge(&prefix).unwrap_err().to_string().contains("ran another config"));
        // Another experiment cannot start under the same prefix.
        let mut other = config.clone();
        other.name = "t".into();
        assert!(claim(&prefix, &other).unwrap_err().to_string().contains("holds another experiment"));
    }
}
