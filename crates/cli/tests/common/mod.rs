//! Helpers shared by the `tickloop` binary's integration tests.

// Each test target compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::process::Command;

pub mod kafka;

/// The binary under test.
pub fn tickloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tickloop"))
}

/// Runs `cmd`, fails the test with its output unless it succeeds, returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tickloop runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
