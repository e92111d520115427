//! What a run is made of, as hashes and names: a manifest's provenance.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tickloop_core::Timestamp;

use crate::RunError;

pub fn sha256_hex(bytes: &[u8]) -> String {
    tickloop_core::hex(&Sha256::digest(bytes))
}

/// SHA-256 over a directory's files (names and contents, in name order; subdirectories are
/// not entered).
pub fn hash_dir(dir: &Path) -> Result<String, RunError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(RunError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for path in entries {
        hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update(std::fs::read(&path).map_err(RunError::io(&path))?);
    }
    Ok(tickloop_core::hex(&hasher.finalize()))
}

/// The commit the working directory is at, if it is a git checkout.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A name safe in a path: ASCII letters, digits and `-`, anything else `_`.
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// A new directory name under `runs_dir` for `name` started `at`: `name-YYYYMMDDTHHMMSS`,
/// with `-2`, `-3`… when that exists already.
pub fn run_id(runs_dir: &Path, name: &str, at: Timestamp) -> String {
    let stamp: String = at.to_string().chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    let base = format!("{}-{stamp}", slug(name));
    let mut id = base.clone();
    let mut n = 2;
    while runs_dir.join(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_path_safe_stamped_and_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let at = Timestamp::parse("2026-12-02T04:03:12.5Z").unwrap();
        let first = run_id(dir.path(), "my exp/1", at);
        assert_eq!(first, "my_exp_1-20261202T040312");
        std::fs::create_dir(dir.path().join(&first)).unwrap();
        assert_eq!(run_id(dir.path(), "my exp/1", at), "my_exp_1-20261202T040312-2");
    }

    #[test]
    fn a_directory_hash_covers_names_and_contents_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "2").unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let hash = hash_dir(dir.path()).unwrap();
        assert_eq!(hash, sha256_hex(b"a1b2"), "files in name order, subdirectories left out");
        std::fs::write(dir.path().join("a"), "x").unwrap();
        assert_ne!(hash_dir(dir.path()).unwrap(), hash);
        assert!(matches!(hash_dir(&dir.path().join("nope")), Err(RunError::Io { .. })));
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
