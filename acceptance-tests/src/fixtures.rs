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
        std::fs::write(&path, kubeconfig_for(kubernetes_endpoint)?)?;
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

/// Imports `/bin/busybox` (Debian's busybox-static) as a one-layer image named `tag` with the
/// given applets as links, once: the engine here pulls nothing, so test images are made locally.
pub fn busybox_image(tag: &str, applets: &[&str]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let exists = Command::new("docker").args(["image", "inspect", tag]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if exists.is_ok_and(|s| s.success()) {
        return;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox-static)");
    let mut h = tar::Header::new_gnu();
    h.set_size(busybox.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(1_704_067_200);
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice()).expect("tar busybox");
    for applet in applets {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        l.set_mode(0o777);
        l.set_mtime(1_704_067_200);
        tar.append_link(&mut l, format!("bin/{applet}"), "busybox").expect("tar link");
    }
    let bytes = tar.into_inner().expect("tar");
    let mut child = Command::new("docker")
        .args(["import", "--change", "ENV PATH=/bin", "-", tag])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker import");
    child.stdin.take().expect("stdin").write_all(&bytes).expect("write tar");
    let out = child.wait_with_output().expect("docker import ends");
    assert!(out.status.success(), "docker import: {}", String::from_utf8_lossy(&out.stderr));
}
