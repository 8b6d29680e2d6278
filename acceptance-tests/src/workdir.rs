//! A temporary Terraform working directory wired to the provider under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::tools::Terraform;
use crate::HarnessError;

/// What a Terraform command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status was zero.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Output {
    /// The JSON documents of a `-json` run (one per line; other lines skipped).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Error diagnostics of a `-json` run: (summary, detail) pairs.
    pub fn json_errors(&self) -> Vec<(String, String)> {
        self.json_lines()
            .iter()
            .filter(|m| m["type"] == "diagnostic" && m["diagnostic"]["severity"] == "error")
            .map(|m| {
                (
                    m["diagnostic"]["summary"].as_str().unwrap_or_default().to_owned(),
                    m["diagnostic"]["detail"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// A diagnostic from `terraform validate -json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub severity: String,
    /// Headline.
    pub summary: String,
    /// Explanation.
    #[serde(default)]
    pub detail: String,
    /// Where in the configuration.
    #[serde(default)]
    pub range: Option<serde_json::Value>,
    /// The source excerpt.
    #[serde(default)]
    pub snippet: Option<serde_json::Value>,
}

impl Diagnostic {
    /// The line of the configuration the diagnostic points at.
    pub fn line(&self) -> Option<u64> {
        self.range.as_ref()?.get("start")?.get("line")?.as_u64()
    }
}

/// The result of `terraform validate -json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Validation {
    /// No errors.
    pub valid: bool,
    /// All diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    /// Errors only (with `dev_overrides`, Terraform always adds a warning).
    pub fn errors(&self) -> Vec<&Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == "error").collect()
    }
}

/// A temporary working directory for one Terraform version.
pub struct Workdir {
    dir: tempfile::TempDir,
    tf: Terraform,
    env: BTreeMap<String, String>,
}

impl Workdir {
    /// A new directory holding `main.tf`, with a CLI configuration that overrides
    /// `sparkoss/sparkoss` to the folder of `provider` (a `terraform-provider-sparkoss` binary).
    pub fn new(tf: &Terraform, provider: &Path, main_tf: &str) -> Result<Workdir, HarnessError> {
        let provider_dir = provider.parent().unwrap_or(Path::new("."));
        let cli = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"sparkoss/sparkoss\" = {:?}\n  }}\n  direct {{}}\n}}\n",
            provider_dir.display().to_string()
        );
        Workdir::with_cli_config(tf, &cli, main_tf)
    }

    /// A new directory holding `main.tf`, with a CLI configuration that installs
    /// `registry.terraform.io/sparkoss/*` from the filesystem mirror `mirror` and from nowhere
    /// else (no registry, no `dev_overrides`): `terraform init` is needed, as for users.
    pub fn from_mirror(tf: &Terraform, mirror: &Path, main_tf: &str) -> Result<Workdir, HarnessError> {
        let cli = format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = {:?}\n    include = [\"registry.terraform.io/sparkoss/*\"]\n  }}\n}}\n",
            mirror.display().to_string()
        );
        Workdir::with_cli_config(tf, &cli, main_tf)
    }

    /// A new directory holding `main.tf` and the CLI configuration `cli_tfrc` (`TF_CLI_CONFIG_FILE`).
    pub fn with_cli_config(tf: &Terraform, cli_tfrc: &str, main_tf: &str) -> Result<Workdir, HarnessError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| HarnessError::Io { what, source }
        };
        let dir = tempfile::Builder::new().prefix("sparkoss-tf-").tempdir().map_err(io("creating a temp dir"))?;
        std::fs::write(dir.path().join("cli.tfrc"), cli_tfrc).map_err(io("writing cli.tfrc"))?;
        std::fs::write(dir.path().join("main.tf"), main_tf).map_err(io("writing main.tf"))?;
        let mut env = BTreeMap::new();
        env.insert("TF_CLI_CONFIG_FILE".into(), dir.path().join("cli.tfrc").display().to_string());
        env.insert("TF_IN_AUTOMATION".into(), "1".into());
        env.insert("CHECKPOINT_DISABLE".into(), "1".into());
        env.insert("TF_DATA_DIR".into(), dir.path().join(".terraform").display().to_string());
        Ok(Workdir { dir, tf: tf.clone(), env })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets an environment variable for every command run here.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.insert(k.to_owned(), v.to_owned());
    }

    /// Copies every `*.tf` file of `dir` into the working directory (replacing main.tf).
    pub fn load_example(&self, dir: &Path) -> Result<(), HarnessError> {
        let io = |source| HarnessError::Io { what: format!("copying {}", dir.display()), source };
        let _ = std::fs::remove_file(self.path().join("main.tf"));
        for e in std::fs::read_dir(dir).map_err(io)? {
            let p = e.map_err(io)?.path();
            if p.extension().is_some_and(|x| x == "tf") {
                if let Some(name) = p.file_name() {
                    std::fs::copy(&p, self.path().join(name)).map_err(io)?;
                }
            }
        }
        Ok(())
    }

    /// Runs Terraform with `args` in this directory. Provider-only environment variables from the
    /// test process (credentials) are not inherited: each test sets what it means.
    pub fn run(&self, args: &[&str]) -> Result<Output, HarnessError> {
        let started = Instant::now();
        let mut cmd = Command::new(&self.tf.bin);
        cmd.current_dir(self.path()).args(args).stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("ALIBABA_CLOUD_") || k.starts_with("ALICLOUD_") || k.starts_with("TF_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(&self.env);
        let out = cmd.output().map_err(|source| HarnessError::Io { what: format!("running terraform {}", args.join(" ")), source })?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        })
    }

    /// `terraform validate -json`, parsed.
    pub fn validate(&self) -> Result<Validation, HarnessError> {
        let out = self.run(&["validate", "-json", "-no-color"])?;
        serde_json::from_str(&out.stdout).map_err(|e| HarnessError::Output {
            what: format!("terraform {} validate -json", self.tf.label),
            detail: format!("{e}; stdout: {}; stderr: {}", out.stdout, out.stderr),
        })
    }

    /// `terraform providers schema -json`: the sparkoss provider's schema document.
    pub fn provider_schema(&self) -> Result<serde_json::Value, HarnessError> {
        let out = self.run(&["providers", "schema", "-json"])?;
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| HarnessError::Output {
            what: "terraform providers schema -json".into(),
            detail: format!("{e}; stderr: {}", out.stderr),
        })?;
        Ok(doc["provider_schemas"]["registry.terraform.io/sparkoss/sparkoss"].clone())
    }

    /// `terraform plan -out` then `terraform show -json` of the plan.
    pub fn plan_json(&self) -> Result<serde_json::Value, HarnessError> {
        let plan = self.run(&["plan", "-input=false", "-no-color", "-out=tfplan"])?;
        if !plan.success {
            return Err(HarnessError::Command { what: format!("terraform {} plan", self.tf.label), detail: plan.stderr });
        }
        let show = self.run(&["show", "-json", "tfplan"])?;
        serde_json::from_str(&show.stdout).map_err(|e| HarnessError::Output { what: "terraform show -json".into(), detail: e.to_string() })
    }

    /// `terraform apply -auto-approve -json` with extra arguments; the output's JSON lines are
    /// in [`Output::json_lines`].
    pub fn apply(&self, extra: &[&str]) -> Result<Output, HarnessError> {
        let mut args = vec!["apply", "-auto-approve", "-input=false", "-no-color", "-json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `terraform destroy -auto-approve -json`.
    pub fn destroy(&self) -> Result<Output, HarnessError> {
        self.run(&["destroy", "-auto-approve", "-input=false", "-no-color", "-json"])
    }

    /// `terraform import ADDRESS ID`.
    pub fn import(&self, address: &str, id: &str) -> Result<Output, HarnessError> {
        self.run(&["import", "-input=false", "-no-color", address, id])
    }

    /// The state file's resources (empty when there is no state).
    pub fn state_resources(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path().join("terraform.tfstate"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["resources"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Path of a file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}
