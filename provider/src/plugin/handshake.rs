//! The go-plugin handshake: what Terraform puts in the environment and the line we answer with.

use base64::Engine;

/// The magic cookie Terraform sets so a provider knows it was started by Terraform.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Its value.
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The go-plugin core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol version we speak.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Why the provider cannot start as a plugin.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Run by hand instead of by Terraform.
    #[error(
        "terraform-provider-sparkoss is a Terraform provider: Terraform starts it. Declare sparkoss/sparkoss in required_providers and run terraform (or use --debug to attach Terraform to it)."
    )]
    NotStartedByTerraform,
    /// Terraform offers no protocol version we speak.
    #[error("Terraform offers plugin protocol versions {offered}, but this provider speaks version 6 (Terraform 1.0 or later)")]
    NoCommonVersion {
        /// What Terraform offered.
        offered: String,
    },
    /// A port range that cannot be used.
    #[error("invalid plugin port range: {0}")]
    PortRange(String),
}

/// What Terraform asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// PEM of the client certificate for AutoMTLS (`None`: plain TCP).
    pub client_cert_pem: Option<String>,
    /// Ports we may listen on (inclusive); `None` lets the OS choose.
    pub port_range: Option<(u16, u16)>,
}

/// Reads and checks the handshake environment through `env`.
pub fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<HandshakeRequest, HandshakeError> {
    if env(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotStartedByTerraform);
    }
    if let Some(offered) = env("PLUGIN_PROTOCOL_VERSIONS").filter(|s| !s.trim().is_empty()) {
        let speaks = offered.split(',').any(|v| v.trim().parse::<u32>().ok() == Some(APP_PROTOCOL_VERSION));
        if !speaks {
            return Err(HandshakeError::NoCommonVersion { offered });
        }
    }
    let port = |k: &str| -> Result<Option<u16>, HandshakeError> {
        match env(k).filter(|s| !s.trim().is_empty()) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u16>().map(Some).map_err(|_| HandshakeError::PortRange(format!("{k}={v:?} is not a port number"))),
        }
    };
    let port_range = match (port("PLUGIN_MIN_PORT")?, port("PLUGIN_MAX_PORT")?) {
        (None | Some(0), None | Some(0)) => None,
        (min, max) => {
            let (min, max) = (min.unwrap_or(1024), max.unwrap_or(u16::MAX));
            if min > max {
                return Err(HandshakeError::PortRange(format!("PLUGIN_MIN_PORT {min} is above PLUGIN_MAX_PORT {max}")));
            }
            Some((min, max))
        }
    };
    let client_cert_pem = env("PLUGIN_CLIENT_CERT").filter(|s| !s.trim().is_empty());
    Ok(HandshakeRequest { client_cert_pem, port_range })
}

/// The line that tells Terraform where we listen: `1|6|tcp|ADDR|grpc|CERT`.
pub fn line(addr: &std::net::SocketAddr, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der.map(|d| base64::engine::general_purpose::STANDARD_NO_PAD.encode(d)).unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|{addr}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
    }

    #[test]
    fn refuses_to_start_without_the_cookie() {
        assert_eq!(read(&env(&[])), Err(HandshakeError::NotStartedByTerraform));
        assert_eq!(read(&env(&[(MAGIC_COOKIE_KEY, "nope")])), Err(HandshakeError::NotStartedByTerraform));
    }

    #[test]
    fn negotiates_protocol_six() {
        let ok = read(&env(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "5,6")]));
        assert!(ok.is_ok());
        let no = read(&env(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "4,5")]));
        assert!(matches!(no, Err(HandshakeError::NoCommonVersion { .. })));
    }

    #[test]
    fn reads_port_range_and_certificate() {
        let r = read(&env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_MIN_PORT", "10000"),
            ("PLUGIN_MAX_PORT", "10010"),
            ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----"),
        ]))
        .expect("reads");
        assert_eq!(r.port_range, Some((10000, 10010)));
        assert!(r.client_cert_pem.is_some());
        let bad = read(&env(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_MIN_PORT", "9"), ("PLUGIN_MAX_PORT", "8")]));
        assert!(matches!(bad, Err(HandshakeError::PortRange(_))));
    }

    #[test]
    fn handshake_line_has_six_fields_and_unpadded_base64() {
        let addr: std::net::SocketAddr = "127.0.0.1:1234".parse().expect("addr");
        assert_eq!(line(&addr, Some(&[1, 2, 3, 4])), "1|6|tcp|127.0.0.1:1234|grpc|AQIDBA");
        assert_eq!(line(&addr, None), "1|6|tcp|127.0.0.1:1234|grpc|");
    }
}
