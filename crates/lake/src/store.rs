//! Where the lake's bytes live: a local directory or an object store such as S3.
//!
//! The lake's code speaks only in keys (`raw/ticks/date=2024-01-02/hour=14/part-0.parquet`)
//! and goes through [`ObjectStore`], so every job runs unchanged on either backend. The S3
//! implementation lives in its own crate (`tickloop-s3`) so that the AWS SDK is compiled
//! only into the binaries that use it.
//!
//! Atomicity is each backend's job: a local file is written under a hidden temporary name
//! and renamed into place; an S3 object appears whole when its upload completes. Either
//! way readers never see a partial file.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::LakeError;

/// How to reach S3 or an S3-compatible server: the one set of client settings shared by the
/// S3 store (`tickloop-s3`) and SQL over an S3 lake (`tickloop-sql`). Credentials are not
/// here: they come from the standard AWS chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Overrides the region of the AWS chain (`us-east-1` when neither says).
    pub region: Option<String>,
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:8333`.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub path_style: bool,
    /// Attempts per request (the first try included) before an error is returned; retries
    /// back off exponentially with jitter. See [`S3Options::DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// How long one attempt may take before it is abandoned and retried: a server that
    /// accepts a request and then stalls costs this, not a stuck run.
    pub attempt_timeout: std::time::Duration,
}

impl S3Options {
    /// Enough to ride out a restarting or throttling server (about half a minute of
    /// backoff), few enough that a run that cannot write fails within a minute or so.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
    /// Generous for an hour's parquet file (tens of MB) on a slow link.
    pub const DEFAULT_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            region: None,
            endpoint: None,
            path_style: false,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

/// One stored object, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key relative to the lake's root, with `/` separators.
    pub key: String,
    pub size: u64,
    /// Changes whenever the content may have changed (a modification time, an ETag).
    pub version: String,
}

/// The storage a [`Lake`](crate::Lake) sits on.
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// A description of `key`'s location for messages: a path or an `s3://` URL.
    fn location(&self, key: &str) -> PathBuf;

    /// Every object under `prefix` (a key prefix ending in `/`), sorted by key. Hidden
    /// objects (a path component starting with `.`) are left out.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, LakeError>;

    /// The object's bytes, or `None` when there is no such object.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError>;

    /// A local file holding the object, for readers that seek (parquet footers).
    fn fetch(&self, key: &str) -> Result<LocalCopy, LakeError>;

    /// Stores `bytes` as `key`, atomically.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError>;

    /// A fresh local path to write a new version of `key` to before [`ObjectStore::commit`].
    fn staging_path(&self, key: &str) -> Result<PathBuf, LakeError>;

    /// Publishes the finished file at `staging` as `key` atomically; the staging file is
    /// consumed.
    fn commit(&self, staging: &Path, key: &str) -> Result<(), LakeError>;

    /// Removes `key`; an absent key is not an error.
    fn delete(&self, key: &str) -> Result<(), LakeError>;
}

/// A local file holding an object's bytes: the file itself for a local store, a temporary
/// download (removed on drop) for a remote one.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    temporary: bool,
}

impl LocalCopy {
    /// The store's own file, left alone on drop.
    pub fn borrowed(path: PathBuf) -> Self {
        LocalCopy { path, temporary: false }
    }

    /// A download that is deleted when dropped.
    pub fn temporary(path: PathBuf) -> Self {
        LocalCopy { path, temporary: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A lake in a directory of the local file system.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<ObjectMeta>) -> Result<(), LakeError> {
        for name in sorted_dir_names(dir)? {
            if name.starts_with('.') {
                continue;
            }
            let path = dir.join(&name);
            let key = format!("{rel}{name}");
            let meta = fs::metadata(&path).map_err(LakeError::io(&path))?;
            if meta.is_dir() {
                self.walk(&path, &format!("{key}/"), out)?;
            } else {
                let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let version = modified.map(|d| d.as_nanos().to_string()).unwrap_or_default();
                out.push(ObjectMeta { key, size: meta.len(), version });
            }
        }
        Ok(())
    }
}

impl ObjectStore for LocalStore {
    fn location(&self, key: &str) -> PathBuf {
        self.path(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, LakeError> {
        let mut out = Vec::new();
        self.walk(&self.path(prefix), prefix, &mut out)?;
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        let path = self.path(key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LakeError::io(path)(e)),
        }
    }

    fn fetch(&self, key: &str) -> Result<LocalCopy, LakeError> {
        Ok(LocalCopy::borrowed(self.path(key)))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let staging = self.staging_path(key)?;
        let written = (|| {
            let mut file = fs::File::create(&staging)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&staging);
            return Err(LakeError::io(staging)(e));
        }
        self.commit(&staging, key)
    }

    fn staging_path(&self, key: &str) -> Result<PathBuf, LakeError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
            remove_orphaned_temp_files(dir);
        }
        Ok(hidden_temp_name(&path))
    }

    fn commit(&self, staging: &Path, key: &str) -> Result<(), LakeError> {
        let path = self.path(key);
        fs::rename(staging, &path).map_err(LakeError::io(&path))
    }

    fn delete(&self, key: &str) -> Result<(), LakeError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LakeError::io(path)(e)),
            _ => Ok(()),
        }
    }
}

/// A handle on one object of a lake: what writers write to and readers read from.
#[derive(Debug, Clone)]
pub struct LakeObject {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) key: String,
}

impl LakeObject {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where the object lives, for messages.
    pub fn location(&self) -> PathBuf {
        self.store.location(&self.key)
    }
}

/// The temporary name a file is written under before it is renamed into place. Starts with
/// a dot so listings skip it; carries the process id and a counter so concurrent writers
/// never share one.
pub(crate) fn hidden_temp_name(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// The process id in a [`hidden_temp_name`] (`.name.<pid>.<n>.tmp`).
fn temp_file_owner(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = stem.rsplitn(3, '.');
    let _counter: u64 = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

/// Removes the temporary files in `dir` left by processes that no longer run (a writer
/// killed with SIGKILL cannot clean up after itself; its successor does, on its next write
/// to the directory). Where process liveness cannot be checked (no `/proc`), nothing is
/// removed: a live writer's file must never go.
fn remove_orphaned_temp_files(dir: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_owner) else { continue };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            match fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %entry.path().display(), pid, "removed a dead writer's temporary file"),
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a dead writer's temporary file")
                }
            }
        }
    }
}

/// Names of the entries of `dir`, sorted; an absent directory has none.
pub(crate) fn sorted_dir_names(dir: &Path) -> Result<Vec<String>, LakeError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_writers_temporary_files_go_on_the_next_write_and_a_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.put("p/a.parquet", b"a").unwrap();
        // No process has pid 4,000,000 (above Linux's maximum): a writer killed mid-write.
        let dead = dir.path().join("p/.a.parquet.4000000.7.tmp");
        let live = dir.path().join(format!("p/.b.parquet.{}.99.tmp", std::process::id()));
        let foreign = dir.path().join("p/.notes.tmp");
        for f in [&dead, &live, &foreign] {
            fs::write(f, b"partial").unwrap();
        }
        store.put("p/c.parquet", b"c").unwrap();
        assert_eq!(dead.exists(), !Path::new("/proc/self").exists(), "removed wherever liveness can be checked");
        assert!(live.exists() && foreign.exists(), "a running writer's file and other files stay");
        assert_eq!(temp_file_owner(".x.parquet.123.4.tmp"), Some(123));
        assert_eq!(temp_file_owner(".x.tmp"), None);
    }

    #[test]
    fn local_store_lists_recursively_skips_hidden_files_and_puts_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.put("a/date=x/one.txt", b"1").unwrap();
        store.put("a/two.txt", b"22").unwrap();
        fs::write(dir.path().join("a/.three.tmp"), b"partial").unwrap();
        let keys: Vec<(String, u64)> = store.list("a/").unwrap().into_iter().map(|m| (m.key, m.size)).collect();
        assert_eq!(keys, vec![("a/date=x/one.txt".to_owned(), 1), ("a/two.txt".to_owned(), 2)]);
        assert_eq!(store.get("a/two.txt").unwrap().as_deref(), Some(&b"22"[..]));
        assert_eq!(store.get("a/missing").unwrap(), None);
        assert!(store.list("nothing/").unwrap().is_empty());
        store.delete("a/two.txt").unwrap();
        store.delete("a/two.txt").unwrap();
        assert_eq!(store.list("a/").unwrap().len(), 1);
    }
}
