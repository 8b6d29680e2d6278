//! The `provider "sparkoss"` block: its schema and how it resolves, with environment fallbacks,
//! into the configuration the resources use.

use std::fmt;

use crate::core::validators::{int_between, not_empty};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Validator, Value};

/// A secret string: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where credentials come from, as far as the configuration decides it.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSource {
    /// An access key pair, optionally with an STS token.
    Static {
        /// AccessKey ID.
        access_key_id: Secret,
        /// AccessKey secret.
        access_key_secret: Secret,
        /// STS security token for temporary credentials.
        security_token: Option<Secret>,
    },
    /// A profile of the Alibaba Cloud CLI configuration file.
    Profile {
        /// Profile name (`None`: the file's current profile).
        name: Option<String>,
        /// The file (`None`: `~/.aliyun/config.json`).
        file: Option<String>,
    },
    /// RRSA: an OIDC token exchanged for an STS token with AssumeRoleWithOIDC.
    Oidc {
        /// The RAM role to assume.
        role_arn: String,
        /// The OIDC provider of the cluster.
        oidc_provider_arn: String,
        /// The file holding the projected service account token.
        oidc_token_file: String,
        /// Session name recorded in ActionTrail.
        session_name: String,
        /// Requested STS lifetime in seconds.
        session_expiration: i64,
    },
    /// Nothing configured: the default chain (CLI default profile, then the ECS RAM role).
    DefaultChain,
}

/// Service endpoints that override the region's public ones (local cloud, private clouds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// ACK (CS) OpenAPI endpoint.
    pub ack: Option<String>,
    /// OSS endpoint.
    pub oss: Option<String>,
    /// STS endpoint (for role assumption).
    pub sts: Option<String>,
}

/// The resolved provider configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// Region id such as `cn-hangzhou`; needed by cluster and OSS operations only.
    pub region: Option<String>,
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// True when some configuration was unknown at configure time (it depends on resources not
    /// created yet): plan goes on, and operations that need the unknown part fail with a clear error.
    pub has_unknowns: bool,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig { region: None, credentials: CredentialSource::DefaultChain, endpoints: Endpoints::default(), has_unknowns: false }
    }
}

fn url() -> Validator {
    Validator {
        description: "an http(s) URL".into(),
        check: std::sync::Arc::new(|v, p, d| {
            if let Some(s) = v.as_str() {
                let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
                if rest.is_none_or(|r| r.split('/').next().unwrap_or("").is_empty()) {
                    d.attr_error(p, "Invalid endpoint", format!("{s:?} is not an endpoint URL: use http(s)://host[:port]"));
                }
            }
        }),
    }
}

/// The provider block's schema.
pub fn schema() -> Schema {
    let oidc = Block::new("Assume a RAM role with an OIDC token (RRSA, as inside ACK pods). Falls back to `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and `ALIBABA_CLOUD_OIDC_TOKEN_FILE`.")
        .attr(Attribute::required("role_arn", Type::String, "ARN of the RAM role to assume.").validate(not_empty()))
        .attr(Attribute::required("oidc_provider_arn", Type::String, "ARN of the cluster's OIDC provider.").validate(not_empty()))
        .attr(Attribute::required("oidc_token_file", Type::String, "Path of the OIDC token file.").validate(not_empty()))
        .attr(Attribute::optional("role_session_name", Type::String, "Session name (default `terraform-provider-sparkoss`)."))
        .attr(Attribute::optional("session_expiration", Type::Number, "STS token lifetime in seconds, 900 to 43200 (default 3600).").validate(int_between(900, Some(43200))));
    let endpoints = Block::new("Endpoint overrides, for the local cloud, private clouds or VPC endpoints.")
        .attr(
            Attribute::optional(
                "ack",
                Type::String,
                "ACK (Container Service) OpenAPI endpoint, default `https://cs.<region>.aliyuncs.com`.",
            )
            .validate(url()),
        )
        .attr(Attribute::optional("oss", Type::String, "OSS endpoint, default `https://oss-<region>.aliyuncs.com`.").validate(url()))
        .attr(Attribute::optional("sts", Type::String, "STS endpoint, default `https://sts.<region>.aliyuncs.com`.").validate(url()));
    let block = Block::new("Runs Spark on Kubernetes with Alibaba Cloud: ACK clusters, team namespaces and Spark jobs whose jars live on OSS. Credentials follow the usual Alibaba Cloud chain.")
        .attr(Attribute::optional("region", Type::String, "Region id such as `cn-hangzhou`. Falls back to `ALIBABA_CLOUD_REGION`, then `ALICLOUD_REGION`."))
        .attr(Attribute::optional("access_key", Type::String, "AccessKey ID. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_ID`, then `ALICLOUD_ACCESS_KEY`.").sensitive())
        .attr(Attribute::optional("secret_key", Type::String, "AccessKey secret. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, then `ALICLOUD_SECRET_KEY`.").sensitive())
        .attr(Attribute::optional("security_token", Type::String, "STS token for temporary credentials. Falls back to `ALIBABA_CLOUD_SECURITY_TOKEN`, then `ALICLOUD_SECURITY_TOKEN`.").sensitive())
        .attr(Attribute::optional("profile", Type::String, "Profile of the Alibaba Cloud CLI configuration. Falls back to `ALIBABA_CLOUD_PROFILE`, then `ALICLOUD_PROFILE`."))
        .attr(Attribute::optional("shared_credentials_file", Type::String, "CLI configuration file (default `~/.aliyun/config.json`). Falls back to `ALICLOUD_SHARED_CREDENTIALS_FILE`."))
        .block(NestedBlock::single("assume_role_with_oidc", oidc))
        .block(NestedBlock::single("endpoints", endpoints));
    Schema { version: 0, block }
}

/// Cross-attribute checks of the provider block.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let set = |n: &str| !config.attr(n).is_null();
    if set("access_key") && !set("secret_key") {
        diags.attr_error(
            &AttrPath::root().attr("secret_key"),
            "Incomplete credentials",
            "access_key is set, so secret_key must be set too",
        );
    }
    if set("secret_key") && !set("access_key") {
        diags.attr_error(
            &AttrPath::root().attr("access_key"),
            "Incomplete credentials",
            "secret_key is set, so access_key must be set too",
        );
    }
    if set("security_token") && !set("access_key") && !set("secret_key") {
        diags.attr_error(
            &AttrPath::root().attr("security_token"),
            "Incomplete credentials",
            "security_token needs access_key and secret_key",
        );
    }
}

/// Resolves the configuration, falling back to the environment read through `env`.
///
/// Unknown values (provider configuration computed from resources not created yet) resolve as
/// unset and set `has_unknowns`; nothing here fails plan because of them.
pub fn resolve(config: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<ProviderConfig, Diagnostics> {
    let mut has_unknowns = !config.is_wholly_known();
    let attr = |v: &Value, n: &str| -> Option<String> { v.attr(n).as_str().map(str::to_owned).filter(|s| !s.is_empty()) };
    let first_env = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|s| !s.is_empty()));
    let pick = |n: &str, names: &[&str]| -> Option<String> {
        if config.attr(n).is_unknown() {
            return None;
        }
        attr(config, n).or_else(|| first_env(names))
    };

    let region = pick("region", &["ALIBABA_CLOUD_REGION", "ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION"]);
    let ak = pick("access_key", &["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"]);
    let sk = pick("secret_key", &["ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"]);
    let token = pick("security_token", &["ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN"]);
    let profile = pick("profile", &["ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE"]);
    let cred_file = pick("shared_credentials_file", &["ALIBABA_CLOUD_CREDENTIALS_FILE", "ALICLOUD_SHARED_CREDENTIALS_FILE"]);

    let oidc_block = config.attr("assume_role_with_oidc");
    let oidc = if oidc_block.is_unknown() {
        has_unknowns = true;
        None
    } else {
        let role = attr(oidc_block, "role_arn").or_else(|| first_env(&["ALIBABA_CLOUD_ROLE_ARN"]));
        let provider = attr(oidc_block, "oidc_provider_arn").or_else(|| first_env(&["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"]));
        let file = attr(oidc_block, "oidc_token_file").or_else(|| first_env(&["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]));
        match (role, provider, file) {
            (Some(role_arn), Some(oidc_provider_arn), Some(oidc_token_file)) => Some(CredentialSource::Oidc {
                role_arn,
                oidc_provider_arn,
                oidc_token_file,
                session_name: attr(oidc_block, "role_session_name")
                    .or_else(|| first_env(&["ALIBABA_CLOUD_ROLE_SESSION_NAME"]))
                    .unwrap_or_else(|| "terraform-provider-sparkoss".into()),
                session_expiration: oidc_block.attr("session_expiration").as_number().and_then(|n| n.as_i64()).unwrap_or(3600),
            }),
            _ => None,
        }
    };

    let mut diags = Diagnostics::new();
    let credentials = match (ak, sk) {
        (Some(ak), Some(sk)) => CredentialSource::Static {
            access_key_id: Secret::new(ak),
            access_key_secret: Secret::new(sk),
            security_token: token.map(Secret::new),
        },
        (Some(_), None) if !has_unknowns => {
            diags.attr_error(
                &AttrPath::root().attr("secret_key"),
                "Incomplete credentials",
                "an AccessKey ID is set (in the provider block or the environment) but no AccessKey secret",
            );
            CredentialSource::DefaultChain
        }
        _ => match (oidc, profile.is_some() || cred_file.is_some()) {
            (Some(o), _) => o,
            (None, true) => CredentialSource::Profile { name: profile, file: cred_file },
            (None, false) => CredentialSource::DefaultChain,
        },
    };
    if diags.has_errors() {
        return Err(diags);
    }

    let ep = config.attr("endpoints");
    if ep.is_unknown() {
        has_unknowns = true;
    }
    let endpoints = Endpoints { ack: attr(ep, "ack"), oss: attr(ep, "oss"), sts: attr(ep, "sts") };
    Ok(ProviderConfig { region, credentials, endpoints, has_unknowns })
}

impl ProviderConfig {
    /// The credentials chain this configuration selects, as a caching provider: static keys,
    /// a CLI profile, RRSA, or the default chain (environment, `~/.aliyun/config.json`, RRSA
    /// variables, ECS RAM role). STS is the `endpoints.sts` override or the region's; the
    /// metadata service is `SPARKOSS_ECS_METADATA_ENDPOINT` or ECS's own.
    pub fn credentials_provider(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::sync::Arc<sparkoss_aliyun::credentials::CredentialsProvider> {
        use sparkoss_aliyun::credentials::{CredentialsProvider, Endpoints as CredEndpoints, OidcRole, Source};
        let source = match &self.credentials {
            CredentialSource::Static { access_key_id, access_key_secret, security_token } => {
                Source::Static(sparkoss_aliyun::signing::Credentials {
                    access_key_id: access_key_id.expose().to_owned(),
                    access_key_secret: access_key_secret.expose().to_owned(),
                    security_token: security_token.as_ref().map(|t| t.expose().to_owned()),
                })
            }
            CredentialSource::Profile { name, file } => {
                Source::Profile { name: name.clone(), file: file.as_ref().map(std::path::PathBuf::from) }
            }
            CredentialSource::Oidc { role_arn, oidc_provider_arn, oidc_token_file, session_name, session_expiration } => {
                Source::Oidc(OidcRole {
                    role_arn: role_arn.clone(),
                    oidc_provider_arn: oidc_provider_arn.clone(),
                    oidc_token_file: oidc_token_file.clone(),
                    session_name: session_name.clone(),
                    duration_seconds: *session_expiration,
                })
            }
            CredentialSource::DefaultChain => Source::default_chain(env),
        };
        let sts = self.endpoints.sts.clone().unwrap_or_else(|| match &self.region {
            Some(r) => format!("https://sts.{r}.aliyuncs.com"),
            None => CredEndpoints::default().sts,
        });
        let metadata = env("SPARKOSS_ECS_METADATA_ENDPOINT").unwrap_or_else(|| CredEndpoints::default().metadata);
        CredentialsProvider::new(source, CredEndpoints { metadata, sts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(pairs: &[(&str, Value)]) -> Value {
        let mut m: BTreeMap<String, Value> = schema().block.attributes.iter().map(|a| (a.name.clone(), Value::Null)).collect();
        m.insert("assume_role_with_oidc".into(), Value::Null);
        m.insert("endpoints".into(), Value::Null);
        for (k, v) in pairs {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
    }

    #[test]
    fn block_values_win_over_environment() {
        let env = env_of(&[
            ("ALIBABA_CLOUD_REGION", "cn-beijing"),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "envak"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "envsk"),
        ]);
        let c = resolve(&cfg(&[("region", Value::string("cn-hangzhou"))]), &env).expect("resolves");
        assert_eq!(c.region.as_deref(), Some("cn-hangzhou"));
        match c.credentials {
            CredentialSource::Static { access_key_id, .. } => assert_eq!(access_key_id.expose(), "envak"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn alicloud_names_are_honoured() {
        let env = env_of(&[
            ("ALICLOUD_REGION", "cn-shanghai"),
            ("ALICLOUD_ACCESS_KEY", "a"),
            ("ALICLOUD_SECRET_KEY", "s"),
            ("ALICLOUD_SECURITY_TOKEN", "t"),
        ]);
        let c = resolve(&cfg(&[]), &env).expect("resolves");
        assert_eq!(c.region.as_deref(), Some("cn-shanghai"));
        assert!(matches!(c.credentials, CredentialSource::Static { security_token: Some(_), .. }));
    }

    #[test]
    fn unknown_values_do_not_fail_and_are_flagged() {
        let c =
            resolve(&cfg(&[("access_key", Value::Unknown), ("secret_key", Value::Unknown), ("endpoints", Value::Unknown)]), &env_of(&[]))
                .expect("resolves");
        assert!(c.has_unknowns);
        assert_eq!(c.credentials, CredentialSource::DefaultChain);
    }

    #[test]
    fn half_a_key_pair_is_an_error_naming_the_attribute() {
        let mut d = Diagnostics::new();
        validate(&cfg(&[("access_key", Value::string("a"))]), &mut d);
        assert_eq!(d.0[0].path, Some(AttrPath::root().attr("secret_key")));
        let err = resolve(&cfg(&[]), &env_of(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "a")])).expect_err("must fail");
        assert!(err.0[0].detail.contains("secret"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = resolve(&cfg(&[("access_key", Value::string("AKID")), ("secret_key", Value::string("hunter2"))]), &env_of(&[]))
            .expect("resolves");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn rrsa_from_environment() {
        let env = env_of(&[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/p"),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/token"),
        ]);
        let c = resolve(&cfg(&[]), &env).expect("resolves");
        assert!(matches!(c.credentials, CredentialSource::Oidc { session_expiration: 3600, .. }));
    }

    #[tokio::test]
    async fn resolved_credentials_feed_the_chain() {
        let c =
            resolve(&cfg(&[("access_key", Value::string("AKID")), ("secret_key", Value::string("sk"))]), &env_of(&[])).expect("resolves");
        let got = c.credentials_provider(&|_| None).get().await.expect("static keys");
        assert_eq!((got.access_key_id.as_str(), got.access_key_secret.as_str()), ("AKID", "sk"));
        let env = env_of(&[("ALICLOUD_ACCESS_KEY", "envak"), ("ALICLOUD_SECRET_KEY", "envsk")]);
        let d = ProviderConfig::default().credentials_provider(&env).get().await.expect("default chain reads the environment");
        assert_eq!(d.access_key_id, "envak");
    }
}
