//! Locating the project-local tools and the provider binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::HarnessError;

/// The repository root (the workspace folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn tools_dir() -> PathBuf {
    std::env::var_os("SPARKOSS_TOOLS").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".tools"))
}

/// Runs `scripts/install-tools` once per process when a tool is missing.
fn ensure_tools() -> Result<(), HarnessError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bin = tools_dir().join("bin");
        if bin.join("terraform-1.15").exists() && bin.join("terraform-1.0").exists() {
            return Ok(());
        }
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/install-tools"))
            .output()
            .map_err(|e| format!("cannot run scripts/install-tools: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("scripts/install-tools failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    })
    .clone()
    .map_err(|detail| HarnessError::Command { what: "installing Terraform".into(), detail })
}

/// A Terraform CLI under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terraform {
    /// Short version label: `1.15` or `1.0`.
    pub label: &'static str,
    /// The command.
    pub bin: PathBuf,
}

impl Terraform {
    /// Both Terraform versions the project supports, installing them on first use.
    pub fn all() -> Result<Vec<Terraform>, HarnessError> {
        ensure_tools()?;
        let bin = tools_dir().join("bin");
        Ok(vec![Terraform { label: "1.15", bin: bin.join("terraform-1.15") }, Terraform { label: "1.0", bin: bin.join("terraform-1.0") }])
    }

    /// The full version string (`terraform version`'s first line).
    pub fn version(&self) -> Result<String, HarnessError> {
        let out = Command::new(&self.bin)
            .arg("version")
            .output()
            .map_err(|source| HarnessError::Io { what: format!("running {}", self.bin.display()), source })?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned())
    }
}

/// Builds binary `bin` of package `package` with the same cargo that runs the tests (a debug
/// build for tests, a release build when the harness itself is optimised, as in benchmarks) and
/// returns the executable cargo reports, with no guessing about target directories.
pub fn cargo_bin(package: &str, bin: &str) -> Result<PathBuf, HarnessError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args(["build", "--quiet", "-p", package, "--bin", bin, "--message-format=json"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let what = || format!("building {bin}");
    let out = cmd.output().map_err(|source| HarnessError::Io { what: what(), source })?;
    if !out.status.success() {
        return Err(HarnessError::Command { what: what(), detail: String::from_utf8_lossy(&out.stderr).into_owned() });
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| HarnessError::Output { what: what(), detail: format!("cargo reported no {bin} executable") })
}

/// The provider binary, built once per process (see [`cargo_bin`]).
pub fn provider_bin() -> Result<PathBuf, HarnessError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("terraform-provider-sparkoss", "terraform-provider-sparkoss").map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| HarnessError::Command { what: "building terraform-provider-sparkoss".into(), detail })
}
