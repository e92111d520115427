//! For tickloop's own tests. A test that needs an outside service (Kafka, S3, Chromium,
//! DuckDB) returns early without it; the harness can only count that as passed. [`skip`]
//! says why on stderr and, under `cargo xtask test`, appends a line to the file named by
//! `TICKLOOP_SKIP_LOG`, so the suite's summary counts the test as skipped, not passed.

use std::io::Write;

pub mod browser;

/// The directory of the package whose test is running, as cargo says when it runs the test.
///
/// Not `env!("CARGO_MANIFEST_DIR")`: that is where the test was *compiled*, and a build
/// directory shared between checkouts (CI's clone and a developer's, `CARGO_TARGET_DIR`
/// under `$HOME/.cache`) reuses a test binary compiled in the other checkout, whose files
/// may be gone.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("CARGO_MANIFEST_DIR is unset: run the tests with cargo test"))
}

/// The variable `cargo xtask test` sets to the file skips are recorded in.
pub const SKIP_LOG: &str = "TICKLOOP_SKIP_LOG";

/// Records that the running test (or a part of it, named in `why`) was skipped.
pub fn skip(why: &str) {
    let thread = std::thread::current();
    eprintln!("skipped: {why}");
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        record(std::path::Path::new(&path), thread.name().unwrap_or("?"), why);
    }
}

/// Appends `test<TAB>why` to `log`: one short append per line, so lines from tests running
/// at once do not interleave.
fn record(log: &std::path::Path, test: &str, why: &str) {
    let line = format!("{test}\t{}\n", why.replace(['\n', '\t'], " "));
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = file.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_appended_one_line_each() {
        let dir = std::env::temp_dir().join(format!("tickloop-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        record(&log, "lake::duckdb", "no Python\twith duckdb");
        record(&log, "cli::browser", "no chromium\n");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "lake::duckdb\tno Python with duckdb\ncli::browser\tno chromium \n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
