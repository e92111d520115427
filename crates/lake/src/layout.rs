use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_HOUR, Timestamp};

use crate::LakeError;
use crate::store::{LakeObject, LocalStore, ObjectMeta, ObjectStore};

/// A table of the lake. Each lives under its own prefix and is partitioned by hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LakeTable {
    RawTicks,
    Features,
    Predictions,
    Alerts,
    /// The simulator's planted anomalies (JSON lines), to score alert rules against.
    AnomalyLabels,
}

impl LakeTable {
    pub fn prefix(self) -> &'static str {
        match self {
            LakeTable::RawTicks => "raw/ticks",
            LakeTable::Features => "processed/features",
            LakeTable::Predictions => "processed/predictions",
            LakeTable::Alerts => "processed/alerts",
            LakeTable::AnomalyLabels => "labels/anomalies",
        }
    }
}

/// One `date=YYYY-MM-DD/hour=HH` partition of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HourPartition {
    /// The first instant of the hour.
    pub hour: Timestamp,
}

impl HourPartition {
    pub fn containing(ts: Timestamp) -> Self {
        HourPartition { hour: ts.floor_hour() }
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
        Some(HourPartition { hour: ts })
    }
}

/// A lake: datasets of hourly partitions on an [`ObjectStore`] (a local directory by default,
/// or S3 through `tickloop-s3`).
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl Lake {
    /// A lake in a local directory (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Lake { description: root.display().to_string(), store: Arc::new(LocalStore::new(root)) }
    }

    /// A lake on any store; `description` (a path or URL) names it in messages.
    pub fn on(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        Lake { store, description: description.into() }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The lake's root as the user named it (a path or an `s3://` URL).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The object at `key` (relative to the root).
    pub fn object_at(&self, key: impl Into<String>) -> LakeObject {
        LakeObject { store: self.store.clone(), key: key.into() }
    }

    /// The object `file_name` in a partition of a dataset.
    pub fn object(&self, dataset: LakeTable, partition: HourPartition, file_name: &str) -> LakeObject {
        self.object_at(format!("{}/{}/{file_name}", dataset.prefix(), partition.relative_dir()))
    }

    /// The partitions of `dataset` that exist, oldest first, overlapping `[from, to)`.
    pub fn partitions(
        &self,
        dataset: LakeTable,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<HourPartition>, LakeError> {
        let prefix = format!("{}/", dataset.prefix());
        let mut found = BTreeSet::new();
        for meta in self.store.list(&prefix)? {
            let mut parts = meta.key[prefix.len()..].split('/');
            if let (Some(date_dir), Some(hour_dir), Some(_file)) = (parts.next(), parts.next(), parts.next())
                && let Some(p) = HourPartition::parse(date_dir, hour_dir)
                && p.end() > from
                && p.hour < to
            {
                found.insert(p);
            }
        }
        Ok(found.into_iter().collect())
    }

    /// The data files of one partition whose names end in `ext`, by name.
    pub fn partition_files(
        &self,
        dataset: LakeTable,
        partition: HourPartition,
        ext: &str,
    ) -> Result<Vec<ObjectMeta>, LakeError> {
        let prefix = format!("{}/{}/", dataset.prefix(), partition.relative_dir());
        Ok(self
            .store
            .list(&prefix)?
            .into_iter()
            .filter(|m| m.key.ends_with(ext) && !m.key[prefix.len()..].contains('/'))
            .collect())
    }

    /// Writes `items` as JSON lines to `file_name` in a partition, atomically.
    pub fn write_json_lines<T: Serialize>(
        &self,
        dataset: LakeTable,
        partition: HourPartition,
        file_name: &str,
        items: &[T],
    ) -> Result<LakeObject, LakeError> {
        let object = self.object(dataset, partition, file_name);
        let mut buf = Vec::new();
        for item in items {
            serde_json::to_writer(&mut buf, item)
                .map_err(|source| LakeError::Json { path: object.location(), source })?;
            buf.push(b'\n');
        }
        self.store.put(&object.key, &buf)?;
        Ok(object)
    }

    /// Every JSON line of every `.jsonl` file of `dataset` in the partitions overlapping
    /// `[from, to)`, oldest partition first; a line that does not decode is an error naming
    /// the file and line.
    pub fn read_json_lines<T: serde::de::DeserializeOwned>(
        &self,
        dataset: LakeTable,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<T>, LakeError> {
        let mut items = Vec::new();
        for partition in self.partitions(dataset, from, to)? {
            for meta in self.partition_files(dataset, partition, ".jsonl")? {
                let bytes = self.store.get(&meta.key)?.unwrap_or_default();
                for (n, line) in bytes.split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
                    let item = serde_json::from_slice(line).map_err(|source| LakeError::Json {
                        path: self.store.location(&format!("{}:{}", meta.key, n + 1)),
                        source,
                    })?;
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    /// Writes a small JSON document at `key` under the root, atomically.
    pub fn write_json<T: Serialize>(&self, key: &str, value: &T) -> Result<LakeObject, LakeError> {
        let object = self.object_at(key);
        let buf =
            serde_json::to_vec_pretty(value).map_err(|source| LakeError::Json { path: object.location(), source })?;
        self.store.put(key, &buf)?;
        Ok(object)
    }

    /// A job's manifest: the JSON at `key`, or the default when there is none yet.
    pub(crate) fn read_manifest<T: serde::de::DeserializeOwned + Default>(&self, key: &str) -> Result<T, LakeError> {
        Ok(self.read_json(key)?.unwrap_or_default())
    }

    /// The JSON object at `key` (as [`Lake::write_json`] wrote it), or `None` if absent.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, LakeError> {
        match self.store.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| LakeError::Json { path: self.store.location(key), source }),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_found_in_time_order_and_filtered_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        let t0 = Timestamp::parse("2024-01-02T23:00:00Z").unwrap();
        let hours: Vec<HourPartition> =
            (0..3).map(|h| HourPartition::containing(t0.add_nanos(h * NANOS_PER_HOUR))).collect();
        for p in hours.iter().rev() {
            lake.store().put(lake.object(LakeTable::RawTicks, *p, "part-0.parquet").key(), b"").unwrap();
        }
        lake.store().put("raw/ticks/date=2024-01-03/hour=xx/part-0.parquet", b"").unwrap();
        assert_eq!(lake.partitions(LakeTable::RawTicks, Timestamp::MIN, Timestamp::MAX).unwrap(), hours);
        let from = t0.add_nanos(NANOS_PER_HOUR + 1);
        assert_eq!(lake.partitions(LakeTable::RawTicks, from, Timestamp::MAX).unwrap(), hours[1..]);
        assert_eq!(hours[1].relative_dir(), "date=2024-01-03/hour=00");
    }
}
