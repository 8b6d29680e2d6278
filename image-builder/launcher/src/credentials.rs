//! Where the launcher's credentials come from, in order: the environment
//! (`ALIBABA_CLOUD_ACCESS_KEY_ID` / `_ACCESS_KEY_SECRET` / `_SECURITY_TOKEN`), RRSA
//! (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`
//! → STS `AssumeRoleWithOIDC`), then the ECS metadata service (RAM role of the node; endpoint
//! `SPARKOSS_METADATA_ENDPOINT`, default `http://100.100.100.200`, off with
//! `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`). Never from arguments; never printed.

use std::time::Duration;

use serde::Deserialize;
use sparkoss_aliyun::signing::Credentials;

use crate::LauncherError;

/// The default ECS metadata service.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";

fn fail(m: impl Into<String>) -> LauncherError {
    LauncherError::Credentials(m.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TempKeys {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
}

#[derive(Deserialize)]
struct StsAnswer {
    #[serde(rename = "Credentials")]
    credentials: Option<TempKeys>,
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct MetadataAnswer {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(flatten)]
    keys: Option<TempKeys>,
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Finds credentials; `env` looks variables up.
pub async fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, LauncherError> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (get("ALIBABA_CLOUD_ACCESS_KEY_ID"), get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")) {
        return Ok(match get("ALIBABA_CLOUD_SECURITY_TOKEN") {
            Some(token) => Credentials::with_security_token(id, secret, token),
            None => Credentials::new(id, secret),
        });
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail(format!("cannot set up HTTP: {e}")))?;
    if let (Some(role), Some(provider), Some(token_file)) =
        (get("ALIBABA_CLOUD_ROLE_ARN"), get("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"), get("ALIBABA_CLOUD_OIDC_TOKEN_FILE"))
    {
        return rrsa(&http, env, &role, &provider, &token_file).await;
    }
    if get("ALIBABA_CLOUD_ECS_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(fail("none found: set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, the RRSA variables, or allow the ECS metadata service"));
    }
    let endpoint = get("SPARKOSS_METADATA_ENDPOINT").unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_owned());
    metadata(&http, endpoint.trim_end_matches('/'), get("ALIBABA_CLOUD_ECS_METADATA")).await
}

async fn rrsa(
    http: &reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
    role: &str,
    provider: &str,
    token_file: &str,
) -> Result<Credentials, LauncherError> {
    let token = std::fs::read_to_string(token_file).map_err(|e| fail(format!("cannot read the OIDC token file {token_file}: {e}")))?;
    let endpoint = match env("ALIBABA_CLOUD_STS_ENDPOINT").filter(|v| !v.is_empty()) {
        Some(e) if e.contains("://") => e,
        Some(e) => format!("https://{e}"),
        None => match env("ALIBABA_CLOUD_REGION").filter(|v| !v.is_empty()) {
            Some(r) => format!("https://sts-vpc.{r}.aliyuncs.com"),
            None => "https://sts.aliyuncs.com".to_owned(),
        },
    };
    let now = time::OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let session = env("ALIBABA_CLOUD_ROLE_SESSION_NAME").filter(|v| !v.is_empty()).unwrap_or_else(|| "sparkoss-launcher".to_owned());
    let query = [("Action", "AssumeRoleWithOIDC"), ("Format", "JSON"), ("Version", "2015-04-01"), ("Timestamp", timestamp.as_str())];
    let body = [
        ("RoleArn", role),
        ("OIDCProviderArn", provider),
        ("OIDCToken", token.trim()),
        ("RoleSessionName", session.as_str()),
        ("DurationSeconds", "3600"),
    ];
    let enc = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect::<Vec<_>>().join("&");
    let url = format!("{}/?{}", endpoint.trim_end_matches('/'), enc(&query));
    let resp = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&body))
        .send()
        .await
        .map_err(|e| fail(format!("RRSA: cannot reach STS at {endpoint}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| fail(format!("RRSA: reading the STS answer: {e}")))?;
    let answer: StsAnswer =
        serde_json::from_str(&text).map_err(|_| fail(format!("RRSA: STS answered HTTP {status} with something that is not JSON")))?;
    match answer.credentials {
        Some(k) => Ok(Credentials::with_security_token(k.access_key_id, k.access_key_secret, k.security_token)),
        None => Err(fail(format!(
            "RRSA: AssumeRoleWithOIDC for {role} failed: {} (HTTP {status}, request id {}): {}",
            answer.code.unwrap_or_default(),
            answer.request_id.unwrap_or_default(),
            answer.message.unwrap_or_default()
        ))),
    }
}

async fn metadata(http: &reqwest::Client, endpoint: &str, role: Option<String>) -> Result<Credentials, LauncherError> {
    let unreachable = |e: reqwest::Error| {
        fail(format!(
            "none in the environment (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET), no RRSA variables, and the metadata service at {endpoint} failed: {e}"
        ))
    };
    // Hardened mode: a session token first; older metadata services do not have it.
    let token = match http.put(format!("{endpoint}/latest/api/token")).header("X-aliyun-ecs-metadata-token-ttl-seconds", "300").send().await
    {
        Ok(r) if r.status().is_success() => r.text().await.ok(),
        _ => None,
    };
    let get = |path: String| {
        let mut rb = http.get(format!("{endpoint}{path}"));
        if let Some(t) = &token {
            rb = rb.header("X-aliyun-ecs-metadata-token", t.as_str());
        }
        rb
    };
    let role = match role {
        Some(r) => r,
        None => {
            let r = get("/latest/meta-data/ram/security-credentials/".into()).send().await.map_err(unreachable)?;
            if !r.status().is_success() {
                return Err(fail(format!(
                    "the metadata service at {endpoint} reports no RAM role for this node (HTTP {})",
                    r.status().as_u16()
                )));
            }
            r.text().await.map_err(unreachable)?.lines().next().unwrap_or("").trim().to_owned()
        }
    };
    if role.is_empty() {
        return Err(fail(format!("the metadata service at {endpoint} reports no RAM role for this node")));
    }
    let r = get(format!("/latest/meta-data/ram/security-credentials/{role}")).send().await.map_err(unreachable)?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(unreachable)?;
    let answer: MetadataAnswer = serde_json::from_str(&text)
        .map_err(|_| fail(format!("the metadata service answered HTTP {status} for role {role} with something that is not JSON")))?;
    match (answer.code.as_deref(), answer.keys) {
        (Some("Success") | None, Some(k)) => Ok(Credentials::with_security_token(k.access_key_id, k.access_key_secret, k.security_token)),
        (code, _) => {
            Err(fail(format!("the metadata service refused credentials for role {role}: {} (HTTP {status})", code.unwrap_or("no code"))))
        }
    }
}
