use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tickloop_core::{NANOS_PER_HOUR, Timestamp};

use crate::LakeError;

/// A table of the lake. Each lives under its own prefix and is partitioned by hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dataset {
    RawTicks,
    Features,
    Predictions,
    Alerts,
    /// The simulator's planted anomalies (JSON lines), to score alert rules against.
    AnomalyLabels,
}

impl Dataset {
    pub fn prefix(self) -> &'static str {
        match self {
            Dataset::RawTicks => "raw/ticks",
            Dataset::Features => "processed/features",
            Dataset::Predictions => "processed/predictions",
            Dataset::Alerts => "processed/alerts",
            Dataset::AnomalyLabels => "labels/anomalies",
        }
    }
}

/// One `date=YYYY-MM-DD/hour=HH` partition of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// The first instant of the hour.
    pub hour: Timestamp,
}

impl Partition {
    pub fn containing(ts: Timestamp) -> Self {
        Partition { hour: ts.floor_hour() }
    }

    pub fn end(self) -> Timestamp {
        self.hour.add_nanos(NANOS_PER_HOUR)
    }

    pub fn relative_dir(self) -> String {
        let (y, m, d, h) = self.hour.date_hour();
        format!("date={y:04}-{m:02}-{d:02}/hour={h:02}")
    }

    /// Parses `date=YYYY-MM-DD` and `hour=HH` directory names.
    fn parse(date_dir: &str, hour_dir: &str) -> Option<Self> {
        let date = date_dir.strip_prefix("date=")?;
        let hour: u32 = hour_dir.strip_prefix("hour=")?.parse().ok()?;
        if hour > 23 {
            return None;
        }
        let ts = Timestamp::parse(&format!("{date}T{hour:02}:00:00Z")).ok()?;
        Some(Partition { hour: ts })
    }
}

/// A lake on local disk. (S3 arrives behind the same methods in a later step.)
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Lake { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn partition_dir(&self, dataset: Dataset, partition: Partition) -> PathBuf {
        self.root.join(dataset.prefix()).join(partition.relative_dir())
    }

    /// The partitions of `dataset` that exist, oldest first, overlapping `[from, to)`.
    pub fn partitions(&self, dataset: Dataset, from: Timestamp, to: Timestamp) -> Result<Vec<Partition>, LakeError> {
        let base = self.root.join(dataset.prefix());
        let mut found = Vec::new();
        for date_dir in sorted_dir_names(&base)? {
            for hour_dir in sorted_dir_names(&base.join(&date_dir))? {
                if let Some(p) = Partition::parse(&date_dir, &hour_dir)
                    && p.end() > from
                    && p.hour < to
                {
                    found.push(p);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// The data files of one partition, by name, ignoring temporary and hidden files.
    pub fn partition_files(
        &self,
        dataset: Dataset,
        partition: Partition,
        ext: &str,
    ) -> Result<Vec<PathBuf>, LakeError> {
        let dir = self.partition_dir(dataset, partition);
        Ok(sorted_dir_names(&dir)?
            .into_iter()
            .filter(|n| !n.starts_with('.') && n.ends_with(ext))
            .map(|n| dir.join(n))
            .collect())
    }

    /// Writes `items` as JSON lines to `file_name` in a partition, atomically.
    pub fn write_json_lines<T: Serialize>(
        &self,
        dataset: Dataset,
        partition: Partition,
        file_name: &str,
        items: &[T],
    ) -> Result<PathBuf, LakeError> {
        let path = self.partition_dir(dataset, partition).join(file_name);
        let mut buf = Vec::new();
        for item in items {
            serde_json::to_writer(&mut buf, item).map_err(|source| LakeError::Json { path: path.clone(), source })?;
            buf.push(b'\n');
        }
        write_atomically(&path, &buf)?;
        Ok(path)
    }

    /// Writes a small JSON document at `relative` under the root, atomically.
    pub fn write_json<T: Serialize>(&self, relative: &str, value: &T) -> Result<PathBuf, LakeError> {
        let path = self.root.join(relative);
        let buf = serde_json::to_vec_pretty(value).map_err(|source| LakeError::Json { path: path.clone(), source })?;
        write_atomically(&path, &buf)?;
        Ok(path)
    }
}

/// A job's manifest: the JSON at `path`, or the default when there is none yet.
pub(crate) fn read_manifest<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, LakeError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LakeError::Json { path: path.to_owned(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(LakeError::io(path)(e)),
    }
}

/// Saves a job's manifest atomically.
pub(crate) fn write_manifest<T: Serialize>(path: &Path, manifest: &T) -> Result<(), LakeError> {
    write_atomically(path, &serde_json::to_vec_pretty(manifest).expect("manifests serialise"))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Names of the entries of `dir`, sorted; an absent directory has none.
fn sorted_dir_names(dir: &Path) -> Result<Vec<String>, LakeError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LakeError::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(LakeError::io(dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The temporary name a file is written under before it is renamed into place. Starts with
/// a dot so readers listing a partition skip it.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
    }
    let tmp = temp_path(path);
    let mut file = fs::File::create(&tmp).map_err(LakeError::io(&tmp))?;
    file.write_all(bytes).map_err(LakeError::io(&tmp))?;
    file.sync_all().map_err(LakeError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(LakeError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_found_in_time_order_and_filtered_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        let t0 = Timestamp::parse("2024-01-02T23:00:00Z").unwrap();
        let hours: Vec<Partition> = (0..3).map(|h| Partition::containing(t0.add_nanos(h * NANOS_PER_HOUR))).collect();
        for p in hours.iter().rev() {
            fs::create_dir_all(lake.partition_dir(Dataset::RawTicks, *p)).unwrap();
        }
        fs::create_dir_all(dir.path().join("raw/ticks/date=2024-01-03/hour=xx")).unwrap();
        assert_eq!(lake.partitions(Dataset::RawTicks, Timestamp::MIN, Timestamp::MAX).unwrap(), hours);
        let from = t0.add_nanos(NANOS_PER_HOUR + 1);
        assert_eq!(lake.partitions(Dataset::RawTicks, from, Timestamp::MAX).unwrap(), hours[1..]);
        assert_eq!(hours[1].relative_dir(), "date=2024-01-03/hour=00");
    }
}
