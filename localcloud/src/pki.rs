//! The cluster's credentials, as a real control plane keeps them: a cluster CA that signs the API
//! server's certificate (clients trust it through `ca.crt` and the kubeconfig's
//! `certificate-authority-data`), the admin token the kubeconfigs carry, and the key that signs
//! service-account tokens. All of it lives in `<data-dir>/kube/pki/`, so a restarted local cloud
//! still accepts the kubeconfigs Terraform keeps in its state.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::{json, Value as Json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What can go wrong making or reading the credentials.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file under the pki folder.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate.
    #[error("cluster CA: {0}")]
    Cert(#[from] rcgen::Error),
    /// No random source for the admin token or the signing key.
    #[error(transparent)]
    Random(#[from] crate::random::NoRandomness),
}

/// The cluster's CA, admin token and token-signing key.
pub struct Pki {
    ca_key: KeyPair,
    /// The CA certificate, PEM (what pods find as `ca.crt`).
    pub ca_pem: String,
    admin_token: String,
    sa_key: Vec<u8>,
}

impl std::fmt::Debug for Pki {
    // Keys and tokens stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

/// What one service-account token grants: who, bound to which pod, for whom, and when.
#[derive(Debug, Clone, Copy)]
pub struct TokenGrant<'a> {
    /// The service account's namespace.
    pub namespace: &'a str,
    /// The service account's name.
    pub name: &'a str,
    /// The service account's uid: a token outlives neither it nor a namesake created later.
    pub sa_uid: &'a str,
    /// The pod (name, uid) the token is bound to, if any: it stops working when the pod goes.
    pub pod: Option<(&'a str, &'a str)>,
    /// The `aud` claim: who may accept the token.
    pub audiences: &'a [String],
    /// `iat` and `nbf`, seconds since the epoch.
    pub issued_at: i64,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

/// The issuer name every certificate and token of the cluster names.
const CA_NAME: &str = "localcloud-kubernetes-ca";
/// The `iss` of service-account tokens, as on a cluster whose DNS domain is `cluster.local`.
pub const TOKEN_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    Ok(p)
}

fn read_or_create(path: &Path, make: impl FnOnce() -> Result<String, PkiError>) -> Result<String, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = make()?;
            write_private(path, &s)?;
            Ok(s)
        }
        Err(source) => Err(PkiError::Io { path: path.to_owned(), source }),
    }
}

/// Writes a file only its owner may read (mode 0600): keys, tokens, kubeconfigs.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io { path: path.to_owned(), source };
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(io)?;
    // `mode` applies only when the file is created; one left by an older version is narrowed too.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::io::Write::write_all(&mut f, contents.as_bytes()).map_err(io)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Pki {
    /// Loads the credentials from `<data_dir>/kube/pki`, making what is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Pki, PkiError> {
        let dir = data_dir.join("kube").join("pki");
        std::fs::create_dir_all(&dir).map_err(|source| PkiError::Io { path: dir.clone(), source })?;
        let key_pem = read_or_create(&dir.join("ca.key"), || Ok(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_pem()))?;
        let ca_key = KeyPair::from_pem(&key_pem)?;
        let ca_pem = read_or_create(&dir.join("ca.crt"), || Ok(ca_params()?.self_signed(&ca_key)?.pem()))?;
        let admin_token = read_or_create(&dir.join("admin.token"), || Ok(crate::random::hex(24)?))?.trim().to_owned();
        let sa_key = hex::decode(read_or_create(&dir.join("sa.key"), || Ok(crate::random::hex(32)?))?.trim()).unwrap_or_default();
        Ok(Pki { ca_key, ca_pem, admin_token, sa_key })
    }

    /// The CA as a kubeconfig carries it (`certificate-authority-data`).
    pub fn ca_data(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }

    /// The bearer token of the cluster's administrator (group `system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A fresh serving certificate for the API server, signed by the CA, valid for the in-cluster
    /// names of the `kubernetes` service and for `ips`. Returns (certificate chain PEM, key PEM).
    pub fn serving_cert(&self, ips: &[IpAddr]) -> Result<(String, String), PkiError> {
        let mut names: Vec<String> =
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        names.extend(ips.iter().map(IpAddr::to_string));
        let mut p = CertificateParams::new(names)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let issuer = Issuer::new(ca_params()?, &self.ca_key);
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    fn mac(&self, input: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.sa_key).expect("HMAC takes keys of any length");
        mac.update(input.as_bytes());
        mac
    }

    fn sign(&self, input: &str) -> String {
        b64url(&self.mac(input).finalize().into_bytes())
    }

    /// A service-account token (a JWT, as a kubelet mounts one) for the service account
    /// `namespace/name` (uid `sa_uid`), bound to the pod `pod` (name, uid) when given; valid a week
    /// for the API server's own audience.
    pub fn service_account_token(&self, namespace: &str, name: &str, sa_uid: &str, pod: Option<(&str, &str)>) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let grant = TokenGrant {
            namespace,
            name,
            sa_uid,
            pod,
            audiences: &[TOKEN_ISSUER.to_owned()],
            issued_at: now,
            expires_at: now + 7 * 24 * 3600,
        };
        self.issue_token(&grant)
    }

    /// A signed service-account token for `grant` (what the TokenRequest API answers).
    pub fn issue_token(&self, grant: &TokenGrant) -> String {
        let TokenGrant { namespace, name, sa_uid, pod, audiences, issued_at, expires_at } = *grant;
        let mut k8s = json!({"namespace": namespace, "serviceaccount": {"name": name, "uid": sa_uid}});
        if let Some((pod_name, pod_uid)) = pod {
            k8s["pod"] = json!({"name": pod_name, "uid": pod_uid});
        }
        let claims = json!({
            "iss": TOKEN_ISSUER, "aud": audiences, "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "iat": issued_at, "nbf": issued_at, "exp": expires_at, "kubernetes.io": k8s,
        });
        let header = json!({"alg": "HS256", "kid": "localcloud", "typ": "JWT"});
        let body = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let sig = self.sign(&body);
        format!("{body}.{sig}")
    }

    /// The claims of a token this cluster signed and that has not expired; `None` otherwise.
    pub fn verify_token(&self, token: &str) -> Option<Json> {
        let (body, sig) = token.rsplit_once('.')?;
        let (_, claims) = body.split_once('.')?;
        // The decoder refuses non-canonical trailing bits, so one signature has one spelling;
        // `verify_slice` compares in constant time (a token is a secret).
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(body).verify_slice(&sig).ok()?;
        let claims: Json = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        (claims["exp"].as_i64()? > now && claims["iss"] == TOKEN_ISSUER).then_some(claims)
    }

    /// True when `token` is the admin token (constant time).
    pub fn is_admin_token(&self, token: &str) -> bool {
        bool::from(self.admin_token.as_bytes().ct_eq(token.as_bytes()))
    }

    /// An admin kubeconfig for the API server at `server`.
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: localcloud\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts:\n- name: localcloud\n  context:\n    cluster: localcloud\n    user: localcloud-admin\ncurrent-context: localcloud\nusers:\n- name: localcloud-admin\n  user:\n    token: {}\n",
            self.ca_data(),
            self.admin_token
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_tampered_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path()).unwrap();
        let t = pki.service_account_token("team", "spark", "uid-1", Some(("driver", "uid-2")));
        let claims = pki.verify_token(&t).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:team:spark");
        assert_eq!(claims["kubernetes.io"]["pod"]["uid"], "uid-2");
        let mut forged = t.clone();
        forged.replace_range(t.len() - 2.., "AA");
        assert!(pki.verify_token(&forged).is_none());
        assert!(pki.verify_token("not.a.jwt").is_none());
        let again = Pki::load_or_create(dir.path()).unwrap();
        assert!(again.verify_token(&t).is_some(), "the signing key persists");
        assert_eq!(again.ca_pem, pki.ca_pem);
        assert!(again.is_admin_token(pki.admin_token()) && !again.is_admin_token("x"));
    }

    #[test]
    fn serving_certificates_chain_to_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path()).unwrap();
        let (cert, key) = pki.serving_cert(&["127.0.0.1".parse().unwrap()]).unwrap();
        assert!(cert.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
        let kc = pki.admin_kubeconfig("https://127.0.0.1:6443");
        assert!(kc.contains("certificate-authority-data: ") && kc.contains(pki.admin_token()));
    }
}
