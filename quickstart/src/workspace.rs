//! The workspace this crate lives in: its root, and its binaries built by the cargo that runs us.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The repository root (the workspace folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// Builds binary `bin` of package `package` with the same cargo that runs the tests (a debug
/// build for tests, a release build when the harness itself is optimised, as in benchmarks) and
/// returns the executable cargo reports, with no guessing about target directories.
pub fn cargo_bin(package: &str, bin: &str) -> Result<PathBuf, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    without_package_env(&mut cmd);
    cmd.current_dir(repo_root()).args(["build", "--quiet", "-p", package, "--bin", bin, "--message-format=json"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let what = || format!("building {bin}");
    let out = cmd.output().map_err(|source| Error::Io { what: what(), source })?;
    if !out.status.success() {
        return Err(Error::Command { what: what(), detail: String::from_utf8_lossy(&out.stderr).into_owned() });
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| Error::Output { what: what(), detail: format!("cargo reported no {bin} executable") })
}

/// Removes what cargo sets for the running test's own package from a command that runs cargo
/// (or a script that does): ring's build script watches `CARGO_MANIFEST_DIR`, and a value that
/// differs from a plain build's makes cargo rebuild ring, rustls and everything above them.
pub fn without_package_env(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_PKG_")
            || ["CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"]
                .contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
}
