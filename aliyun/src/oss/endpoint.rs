//! Where requests go: the endpoint and how the bucket is addressed.

use super::OssError;

/// How the bucket appears in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `https://<bucket>.<endpoint>/<key>`: what OSS expects on its own endpoints.
    VirtualHosted,
    /// `http://<endpoint>/<bucket>/<key>`: for IP-address and `localhost` endpoints (emulators).
    PathStyle,
}

/// An OSS endpoint: scheme and `host[:port]`, without path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: String,
    authority: String,
}

impl Endpoint {
    /// Parses `https://oss-cn-hangzhou.aliyuncs.com`, `http://127.0.0.1:9000` or a bare
    /// `oss-cn-hangzhou.aliyuncs.com` (HTTPS then).
    pub fn parse(text: &str) -> Result<Endpoint, OssError> {
        let bad = |reason| OssError::InvalidEndpoint { endpoint: text.to_owned(), reason };
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("https".to_owned(), text),
        };
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("the host is empty"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("give only scheme://host[:port], without path, query or user"));
        }
        Ok(Endpoint { scheme, authority: authority.to_ascii_lowercase() })
    }

    /// The public endpoint of `region`: `https://oss-<region>.aliyuncs.com`.
    pub fn public(region: &str) -> Endpoint {
        Endpoint { scheme: "https".into(), authority: format!("oss-{region}.aliyuncs.com") }
    }

    /// The internal (VPC) endpoint of `region`: `https://oss-<region>-internal.aliyuncs.com`,
    /// free of traffic charges inside Alibaba Cloud.
    pub fn internal(region: &str) -> Endpoint {
        Endpoint { scheme: "https".into(), authority: format!("oss-{region}-internal.aliyuncs.com") }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host[:port]`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        if let Some(rest) = self.authority.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        self.authority.rsplit_once(':').map_or(self.authority.as_str(), |(h, _)| h)
    }

    /// Whether the host is `localhost` or a loopback address (an emulator on this machine).
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Path-style for IP addresses and `localhost` (no DNS names for buckets there), virtual-hosted
    /// otherwise, as the official SDKs decide.
    pub fn default_addressing(&self) -> Addressing {
        let host = self.host();
        if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() {
            Addressing::PathStyle
        } else {
            Addressing::VirtualHosted
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_addressing() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!((e.scheme(), e.authority(), e.host()), ("http", "127.0.0.1:9000", "127.0.0.1"));
        assert_eq!(e.default_addressing(), Addressing::PathStyle);
        assert!(e.is_loopback());
        let e = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com").unwrap();
        assert!(!e.is_loopback());
        assert_eq!(e.to_string(), "https://oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(e.default_addressing(), Addressing::VirtualHosted);
        assert_eq!(Endpoint::internal("cn-beijing").to_string(), "https://oss-cn-beijing-internal.aliyuncs.com");
        assert_eq!(Endpoint::parse("http://[::1]:80").unwrap().host(), "::1");
        assert!(Endpoint::parse("http://[::1]:80").unwrap().is_loopback() && Endpoint::parse("http://localhost:9").unwrap().is_loopback());
        assert!(!Endpoint::parse("http://10.0.0.1:9").unwrap().is_loopback());
        for bad in ["ftp://x", "https://", "https://h/path", "https://u@h"] {
            assert!(matches!(Endpoint::parse(bad), Err(OssError::InvalidEndpoint { .. })), "{bad}");
        }
    }
}
