//! AutoMTLS: a fresh self-signed server certificate per run, and a client verifier that
//! accepts exactly the certificate Terraform announced in `PLUGIN_CLIENT_CERT`.
//!
//! Terraform's certificate is a self-signed CA certificate (ECDSA P-521). Web PKI path
//! validation rejects a CA certificate used as an end entity, and pinning is what go-plugin
//! means anyway: the one certificate Terraform generated for this run, byte for byte. The
//! handshake signature is still verified against it, so only the holder of its key gets in.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` held no usable certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    ClientCert(String),
    /// Generating our certificate failed.
    #[error("could not generate the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration failed: {0}")]
    Config(#[from] rustls::Error),
}

/// The server's certificate and key for this run.
pub struct ServerIdentity {
    /// DER of the certificate (sent in the handshake line).
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

/// Generates a self-signed certificate for `localhost`, usable for server and client auth, as
/// go-plugin's client expects (it trusts exactly this certificate as a root).
pub fn generate_identity() -> Result<ServerIdentity, TlsError> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.distinguished_name.push(DnType::OrganizationName, "terraform-provider-sparkoss");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyAgreement];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(30);
    let cert = params.self_signed(&key)?;
    Ok(ServerIdentity { cert_der: cert.der().clone(), key_der: PrivatePkcs8KeyDer::from(key.serialize_der()) })
}

/// Parses the first certificate of a PEM document.
pub fn parse_client_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    match CertificateDer::pem_slice_iter(pem.as_bytes()).next() {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(e)) => Err(TlsError::ClientCert(e.to_string())),
        None => Err(TlsError::ClientCert("no CERTIFICATE block".into())),
    }
}

/// Signature verification: ring's algorithms plus ECDSA P-521 from aws-lc-rs.
///
/// Terraform's certificate is ECDSA P-521, which ring cannot verify. The P-521 algorithms come
/// from rustls-webpki's aws-lc-rs module rather than rustls's `aws_lc_rs` feature: with that
/// feature on, rustls has two back-ends and panics where a crate (kube-rs) asks for the
/// process default, in every binary built together with the provider. aws-lc-rs's random
/// generator also costs ~37 ms to seed on first use, and Terraform starts the provider several
/// times per command; verification needs no randomness (measured by `bench-validate`).
/// The table is rustls's ring table (`rustls::crypto::ring`) with aws-lc-rs's P-521 rows added.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P256_SHA384,
        webpki::ring::ECDSA_P384_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::aws_lc_rs::ECDSA_P521_SHA256,
        webpki::aws_lc_rs::ECDSA_P521_SHA384,
        webpki::aws_lc_rs::ECDSA_P521_SHA512,
        webpki::ring::ED25519,
        webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        webpki::ring::RSA_PKCS1_2048_8192_SHA384,
        webpki::ring::RSA_PKCS1_2048_8192_SHA512,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        // In TLS 1.2 the scheme does not fix the curve (in TLS 1.3 it does).
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[webpki::ring::ECDSA_P384_SHA384, webpki::ring::ECDSA_P256_SHA384, webpki::aws_lc_rs::ECDSA_P521_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[webpki::ring::ECDSA_P256_SHA256, webpki::ring::ECDSA_P384_SHA256, webpki::aws_lc_rs::ECDSA_P521_SHA256],
        ),
        (SignatureScheme::ECDSA_NISTP521_SHA512, &[webpki::aws_lc_rs::ECDSA_P521_SHA512]),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[webpki::ring::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[webpki::ring::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[webpki::ring::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// ring for key exchange, ciphers, keys and randomness; [`SIGNATURE_ALGORITHMS`] for verification.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.signature_verification_algorithms = SIGNATURE_ALGORITHMS;
    Arc::new(p)
}

/// Accepts one exact client certificate.
#[derive(Debug)]
pub struct PinnedClientCert {
    expected: CertificateDer<'static>,
    algs: WebPkiSupportedAlgorithms,
}

impl PinnedClientCert {
    /// A verifier that accepts only `expected`.
    pub fn new(expected: CertificateDer<'static>) -> Self {
        PinnedClientCert { expected, algs: provider().signature_verification_algorithms }
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The server TLS configuration: our identity, Terraform's pinned certificate, HTTP/2 by ALPN
/// (gRPC clients insist on it), TLS 1.2 or later.
pub fn server_config(identity: &ServerIdentity, client_cert: CertificateDer<'static>) -> Result<ServerConfig, TlsError> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(PinnedClientCert::new(client_cert)))
        .with_single_cert(vec![identity.cert_der.clone()], PrivateKeyDer::Pkcs8(identity.key_der.clone_key()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p521_is_verifiable() {
        // Terraform's AutoMTLS certificate uses P-521; without it the handshake cannot succeed.
        let schemes = PinnedClientCert::new(CertificateDer::from(vec![0u8])).supported_verify_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512), "{schemes:?}");
        // Every algorithm a scheme maps to is also in `all` (rustls checks certificates against it).
        for (scheme, algs) in SIGNATURE_ALGORITHMS.mapping {
            for a in *algs {
                let listed = SIGNATURE_ALGORITHMS
                    .all
                    .iter()
                    .any(|b| b.public_key_alg_id() == a.public_key_alg_id() && b.signature_alg_id() == a.signature_alg_id());
                assert!(listed, "{scheme:?}");
            }
        }
    }

    #[test]
    fn rustls_has_one_back_end() {
        // kube-rs asks rustls for the process default, which panics when two back-ends are
        // compiled in and none was installed: why P-521 comes from rustls-webpki instead.
        let _ = rustls::ClientConfig::builder();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted() {
        let a = generate_identity().expect("a");
        let b = generate_identity().expect("b");
        let v = PinnedClientCert::new(a.cert_der.clone());
        assert!(v.verify_client_cert(&a.cert_der, &[], UnixTime::now()).is_ok());
        assert!(v.verify_client_cert(&b.cert_der, &[], UnixTime::now()).is_err());
    }

    #[test]
    fn pem_parsing_reports_garbage() {
        assert!(parse_client_cert("not a pem").is_err());
    }
}
