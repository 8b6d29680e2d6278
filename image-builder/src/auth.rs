//! Registry credentials: `--registry-username` + password from stdin, or the Docker CLI's
//! `config.json` (`auths`, `credHelpers`, `credsStore`). Secrets stay in memory and go only into
//! the engine's `X-Registry-Auth` header.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use bollard::auth::DockerCredentials;

use crate::error::{Error, Result};

/// Docker Hub's key in `config.json`.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry host of an image reference (`docker.io` when it names none).
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// Explicit credentials for `registry`.
pub fn explicit(registry: &str, username: &str, password: String) -> DockerCredentials {
    DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    }
}

fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Credentials for `registry` from the Docker CLI configuration, if it has any.
pub fn from_docker_config(registry: &str) -> Result<Option<DockerCredentials>> {
    let Some(path) = config_path() else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let fail = |message: String| Error::Credentials { registry: registry.to_string(), message };
    let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let key_matches = |k: &str| {
        let host = k.trim_start_matches("https://").trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or_default();
        host == registry || (registry == "docker.io" && (k == DOCKER_HUB || host == "index.docker.io"))
    };
    let server = if registry == "docker.io" { DOCKER_HUB.to_string() } else { registry.to_string() };
    if let Some(helpers) = config.get("credHelpers").and_then(|h| h.as_object()) {
        if let Some(helper) = helpers.iter().find(|(k, _)| key_matches(k)).and_then(|(_, v)| v.as_str()) {
            return helper_get(helper, &server, registry).map(Some);
        }
    }
    if let Some(auths) = config.get("auths").and_then(|a| a.as_object()) {
        if let Some((_, entry)) = auths.iter().find(|(k, _)| key_matches(k)) {
            if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth)
                    .map_err(|_| fail(format!("{}: `auth` is not base64", path.display())))?;
                let decoded = String::from_utf8(decoded).map_err(|_| fail("`auth` is not UTF-8".into()))?;
                let (user, pass) = decoded.split_once(':').ok_or_else(|| fail("`auth` is not user:password".into()))?;
                return Ok(Some(explicit(registry, user, pass.to_string())));
            }
            if let Some(token) = entry.get("identitytoken").and_then(|a| a.as_str()) {
                return Ok(Some(DockerCredentials {
                    identitytoken: Some(token.to_string()),
                    serveraddress: Some(registry.to_string()),
                    ..Default::default()
                }));
            }
        }
    }
    if let Some(store) = config.get("credsStore").and_then(|s| s.as_str()).filter(|s| !s.is_empty()) {
        return match helper_get(store, &server, registry) {
            Ok(c) => Ok(Some(c)),
            // A store that knows nothing about this registry means anonymous, as with the Docker CLI.
            Err(_) => Ok(None),
        };
    }
    Ok(None)
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin (the helper protocol).
fn helper_get(helper: &str, server: &str, registry: &str) -> Result<DockerCredentials> {
    let fail = |message: String| Error::Credentials { registry: registry.to_string(), message };
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| fail(format!("{program}: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(format!("{program}: {e}")))?;
    if !out.status.success() {
        // Helpers print "credentials not found in native keychain" and the like; no secret there.
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Err(fail(format!("{program} get failed: {msg}")));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("{program} answered non-JSON: {e}")))?;
    let user = v.get("Username").and_then(|u| u.as_str()).unwrap_or_default();
    let secret = v.get("Secret").and_then(|u| u.as_str()).unwrap_or_default().to_string();
    if user == "<token>" {
        return Ok(DockerCredentials { identitytoken: Some(secret), serveraddress: Some(registry.to_string()), ..Default::default() });
    }
    Ok(explicit(registry, user, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3"), "registry.cn-hangzhou.aliyuncs.com");
        assert_eq!(registry_of("acme/spark-oss"), "docker.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
    }
}
