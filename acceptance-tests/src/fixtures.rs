//! Set-ups the Terraform tests and benchmarks share: the `required_providers` header, a
//! `provider "sparkoss"` block aimed at the local cloud, and a kubeconfig file for its Kubernetes
//! API.

use std::path::PathBuf;

use sparkoss_localcloud::kube::kubeconfig_for;
use sparkoss_localcloud::Endpoints;

/// The `terraform { required_providers { ... } }` block every configuration starts with.
pub const TERRAFORM_HEADER: &str = r#"
terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss" }
  }
}
"#;

/// `provider "sparkoss"` for the local cloud at `ep`: region `cn-local`, the local cloud's keys as
/// arguments, and `endpoints` naming each of `services` (`"ack"`, `"oss"`).
pub fn local_provider(ep: &Endpoints, services: &[&str]) -> String {
    let endpoints: String = services
        .iter()
        .map(|s| {
            let url = if *s == "ack" { &ep.ack_endpoint } else { &ep.oss_endpoint };
            format!("    {s} = {url:?}\n")
        })
        .collect();
    format!(
        "provider \"sparkoss\" {{\n  region     = \"cn-local\"\n  access_key = {:?}\n  secret_key = {:?}\n  endpoints {{\n{endpoints}  }}\n}}\n",
        ep.access_key_id, ep.access_key_secret
    )
}

/// An admin kubeconfig for the local cloud's Kubernetes API, in a temporary folder that lives as
/// long as this value.
pub struct KubeconfigFile {
    _dir: tempfile::TempDir,
    /// The file.
    pub path: PathBuf,
}

impl KubeconfigFile {
    /// Writes the kubeconfig for the API server at `kubernetes_endpoint`.
    pub fn new(kubernetes_endpoint: &str) -> std::io::Result<KubeconfigFile> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig_for(kubernetes_endpoint))?;
        Ok(KubeconfigFile { _dir: dir, path })
    }

    /// The resource argument that connects through this file: `kubeconfig_path = "..."`.
    pub fn argument(&self) -> String {
        format!("kubeconfig_path = {:?}", self.path.display().to_string())
    }
}

/// A configuration with one `sparkoss_cluster.c` named `name` (resource arguments in `body`) on
/// the local cloud's ACK at `ack_endpoint`. The provider block names no keys: cluster tests pass
/// them through the environment, the way most users do.
pub fn cluster_config(ack_endpoint: &str, name: &str, body: &str) -> String {
    format!(
        "{TERRAFORM_HEADER}provider \"sparkoss\" {{\n  region = \"cn-local\"\n  endpoints {{\n    ack = {ack_endpoint:?}\n  }}\n}}\nresource \"sparkoss_cluster\" \"c\" {{\n  name = {name:?}\n{body}\n}}\n"
    )
}
