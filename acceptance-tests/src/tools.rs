//! Locating the project-local tools and the provider binary.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::{cargo_bin, repo_root, HarnessError};

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

/// The provider binary, built once per process (see [`cargo_bin`]).
pub fn provider_bin() -> Result<PathBuf, HarnessError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("terraform-provider-sparkoss", "terraform-provider-sparkoss").map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| HarnessError::Command { what: "building terraform-provider-sparkoss".into(), detail })
}
