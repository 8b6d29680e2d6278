//! Maven repositories named by `--maven-repo`, and the credentials of private mirrors.
//!
//! Credentials come from the URL's user info (`https://user:password@host/path`), else from the
//! netrc file (`$NETRC`, default `~/.netrc`) entry of the host, else from [`USERNAME_ENV`] +
//! [`PASSWORD_ENV`]. They are kept apart from the URL, which is what output, errors and the lock
//! file show, and are sent only to a repository that asked for them (HTTP 401), never to one that
//! serves files anonymously (Maven Central, say).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Env var holding the user name for a Maven repository that asks for credentials.
pub const USERNAME_ENV: &str = "SPARKOSS_MAVEN_USERNAME";
/// Env var holding the password (or token) for a Maven repository that asks for credentials.
pub const PASSWORD_ENV: &str = "SPARKOSS_MAVEN_PASSWORD";
/// Env var naming the netrc file (default `~/.netrc`), as curl and git read it.
pub const NETRC_ENV: &str = "NETRC";

/// Where a repository's credentials came from (shown instead of the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// The user info of the `--maven-repo` URL.
    Url,
    /// A `machine` (or `default`) entry of this netrc file.
    Netrc(PathBuf),
    /// [`USERNAME_ENV`] and [`PASSWORD_ENV`].
    Env,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Url => write!(f, "the --maven-repo URL"),
            CredentialSource::Netrc(p) => write!(f, "{}", p.display()),
            CredentialSource::Env => write!(f, "{USERNAME_ENV}/{PASSWORD_ENV}"),
        }
    }
}

/// A user name and password for HTTP basic authentication. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    password: String,
    /// Where they came from.
    pub source: CredentialSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// Where credentials may come from besides the URL: the environment and a netrc file.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    env: Option<(String, String)>,
    netrc: Option<(PathBuf, Vec<NetrcEntry>)>,
}

impl CredentialSources {
    /// Reads [`USERNAME_ENV`], [`PASSWORD_ENV`] and the netrc file (`$NETRC` or `~/.netrc`).
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let env = match (var(USERNAME_ENV), var(PASSWORD_ENV)) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::InvalidArgument {
                    flag: "--maven-repo",
                    message: format!("{USERNAME_ENV} and {PASSWORD_ENV} must be set together"),
                })
            }
        };
        let path = match std::env::var_os(NETRC_ENV).filter(|v| !v.is_empty()) {
            Some(p) => Some(PathBuf::from(p)),
            None => std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".netrc")),
        };
        let netrc = match path {
            Some(p) => match std::fs::read_to_string(&p) {
                Ok(text) => Some((p, parse_netrc(&text))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(p, e)),
            },
            None => None,
        };
        Ok(Self { env, netrc })
    }

    /// Sources from explicit values (tests, embedding).
    pub fn new(env: Option<(String, String)>, netrc: Option<(PathBuf, &str)>) -> Self {
        Self { env, netrc: netrc.map(|(p, text)| (p, parse_netrc(text))) }
    }

    fn for_host(&self, host: &str) -> Option<Credentials> {
        if let Some((path, entries)) = &self.netrc {
            let entry =
                entries.iter().find(|e| e.machine.as_deref() == Some(host)).or_else(|| entries.iter().find(|e| e.machine.is_none()));
            if let Some(e) = entry {
                return Some(Credentials {
                    username: e.login.clone(),
                    password: e.password.clone(),
                    source: CredentialSource::Netrc(path.clone()),
                });
            }
        }
        self.env.as_ref().map(|(u, p)| Credentials { username: u.clone(), password: p.clone(), source: CredentialSource::Env })
    }
}

/// One netrc entry; `machine` is `None` for `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NetrcEntry {
    machine: Option<String>,
    login: String,
    password: String,
}

/// Parses netrc text (`machine`, `default`, `login`, `password`, `account`, `macdef`). Entries
/// without a password are dropped; unknown tokens are skipped, as curl does.
fn parse_netrc(text: &str) -> Vec<NetrcEntry> {
    let mut tokens = Vec::new();
    let mut in_macro = false;
    for line in text.lines() {
        if in_macro {
            // A macro definition ends at the first empty line.
            in_macro = !line.trim().is_empty();
            continue;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "macdef") {
            tokens.extend(words[..i].iter().map(|w| w.trim_matches('"').to_string()));
            in_macro = true;
            continue;
        }
        tokens.extend(words.iter().map(|w| w.trim_matches('"').to_string()));
    }
    // (machine, login, password) of the entry being read.
    type Pending = Option<(Option<String>, Option<String>, Option<String>)>;
    fn flush(c: Pending, entries: &mut Vec<NetrcEntry>) {
        if let Some((machine, Some(login), Some(password))) = c {
            entries.push(NetrcEntry { machine, login, password });
        }
    }
    let mut entries = Vec::new();
    let mut current: Pending = None;
    let mut it = tokens.into_iter();
    while let Some(t) = it.next() {
        match t.as_str() {
            "machine" => {
                flush(current.take(), &mut entries);
                current = it.next().map(|m| (Some(m), None, None));
            }
            "default" => {
                flush(current.take(), &mut entries);
                current = Some((None, None, None));
            }
            "login" => {
                if let (Some(c), Some(v)) = (current.as_mut(), it.next()) {
                    c.1 = Some(v);
                }
            }
            "password" => {
                if let (Some(c), Some(v)) = (current.as_mut(), it.next()) {
                    c.2 = Some(v);
                }
            }
            "account" => {
                it.next();
            }
            _ => {}
        }
    }
    flush(current, &mut entries);
    entries
}

/// Decodes `%XX` escapes (URL user info is percent-encoded); invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// A Maven repository root: its URL without credentials, and the credentials to answer a challenge.
#[derive(Debug)]
pub struct Repository {
    /// The root URL without user info and without a trailing `/`: what output and the lock show.
    pub url: String,
    credentials: Option<Credentials>,
    /// Set once the repository has asked for credentials: later requests send them up front.
    challenged: AtomicBool,
}

/// The answer to one GET.
#[derive(Debug)]
pub enum Fetched {
    /// HTTP 200 with this body.
    Found(Vec<u8>),
    /// HTTP 404 (or 410): the repository does not have it.
    Missing,
}

impl Repository {
    /// Parses one `--maven-repo` value, taking credentials out of the URL or from `sources`.
    ///
    /// Errors never repeat the value: it may hold a password.
    pub fn parse(arg: &str, sources: &CredentialSources) -> Result<Self> {
        let bad = |message: String| Error::InvalidArgument { flag: "--maven-repo", message };
        let mut url = reqwest::Url::parse(arg.trim())
            .map_err(|e| bad(format!("not a URL ({e}); the value is not shown as it may hold credentials")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad(format!("scheme {:?} is not http or https", url.scheme())));
        }
        let host = url.host_str().map(str::to_string).ok_or_else(|| bad("the URL has no host".into()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!("{host}: a repository root takes no query or fragment")));
        }
        let from_url = if !url.username().is_empty() || url.password().is_some() {
            Some(Credentials {
                username: percent_decode(url.username()),
                password: percent_decode(url.password().unwrap_or_default()),
                source: CredentialSource::Url,
            })
        } else {
            None
        };
        url.set_username("").map_err(|_| bad(format!("{host}: cannot remove the user name from the URL")))?;
        url.set_password(None).map_err(|_| bad(format!("{host}: cannot remove the password from the URL")))?;
        let credentials = from_url.or_else(|| sources.for_host(&host));
        Ok(Self { url: url.as_str().trim_end_matches('/').to_string(), credentials, challenged: AtomicBool::new(false) })
    }

    /// Parses every `--maven-repo` value, in order.
    pub fn parse_all(args: &[String], sources: &CredentialSources) -> Result<Vec<Self>> {
        if args.is_empty() {
            return Err(Error::InvalidArgument { flag: "--maven-repo", message: "at least one repository is needed".into() });
        }
        args.iter().map(|a| Self::parse(a, sources)).collect()
    }

    /// Where credentials would come from if the repository asks, if anywhere.
    pub fn credential_source(&self) -> Option<&CredentialSource> {
        self.credentials.as_ref().map(|c| &c.source)
    }

    /// The URL of `path` below this root.
    pub fn url_of(&self, path: &str) -> String {
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }

    /// GETs `path`: [`Fetched::Missing`] on 404/410; credentials only after a 401 challenge (one
    /// retry, then this repository gets them up front).
    pub async fn get(&self, client: &reqwest::Client, path: &str) -> Result<Fetched> {
        let url = self.url_of(path);
        let err = |message: String| Error::Download { url: url.clone(), message };
        let send = |with_credentials: bool| {
            let mut req = client.get(&url);
            if let (true, Some(c)) = (with_credentials, &self.credentials) {
                req = req.basic_auth(&c.username, Some(&c.password));
            }
            req.send()
        };
        let mut authenticated = self.challenged.load(Ordering::SeqCst) && self.credentials.is_some();
        let mut resp = send(authenticated).await.map_err(|e| err(e.without_url().to_string()))?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED && !authenticated {
            if self.credentials.is_none() {
                return Err(Error::MavenCredentials {
                    url,
                    message: format!(
                        "HTTP 401: the repository needs credentials; give them in the URL (https://USER:PASSWORD@host/...), \
                         in the netrc file ($NETRC or ~/.netrc), or in {USERNAME_ENV} and {PASSWORD_ENV}"
                    ),
                });
            }
            self.challenged.store(true, Ordering::SeqCst);
            authenticated = true;
            resp = send(true).await.map_err(|e| err(e.without_url().to_string()))?;
        }
        let status = resp.status();
        if authenticated && (status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN) {
            let source = self.credential_source().map(ToString::to_string).unwrap_or_default();
            return Err(Error::MavenCredentials {
                url,
                message: format!("HTTP {status}: the repository refused the credentials from {source}"),
            });
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(Fetched::Missing);
        }
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        let body = resp.bytes().await.map_err(|e| err(e.without_url().to_string()))?;
        Ok(Fetched::Found(body.to_vec()))
    }
}

/// The HTTP client for Maven repositories: bounded connect and total time.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|e| Error::Download { url: "-".into(), message: format!("cannot create the HTTP client: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_taken_out_of_the_url() {
        let r = Repository::parse("https://ci%40acme:p%3Ass@mirror.example.com/maven2/", &CredentialSources::default()).expect("parse");
        assert_eq!(r.url, "https://mirror.example.com/maven2");
        let c = r.credentials.as_ref().expect("credentials");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("ci@acme", "p:ss"));
        assert_eq!(c.source, CredentialSource::Url);
        assert!(!format!("{r:?}").contains("p:ss"), "Debug hides the password");
    }

    #[test]
    fn netrc_then_env() {
        let netrc = "# company mirror\nmachine mirror.example.com login alice password from-netrc\n\
                     macdef init\ncd /tmp\n\nmachine other.example.com\n  login bob\n  password bobs\n";
        let sources = CredentialSources::new(Some(("env-user".into(), "env-pw".into())), Some((PathBuf::from("/n/.netrc"), netrc)));
        let m = Repository::parse("https://mirror.example.com/m2", &sources).expect("parse");
        let c = m.credentials.as_ref().expect("netrc");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("alice", "from-netrc"));
        let o = Repository::parse("https://other.example.com/m2", &sources).expect("parse");
        assert_eq!(o.credentials.as_ref().map(|c| c.username.as_str()), Some("bob"));
        let e = Repository::parse("https://third.example.com/m2", &sources).expect("parse");
        assert_eq!(e.credential_source(), Some(&CredentialSource::Env));
        let with_default = CredentialSources::new(None, Some((PathBuf::from("n"), "default login d password dp")));
        let d = Repository::parse("https://any.example.com", &with_default).expect("parse");
        assert_eq!(d.credentials.as_ref().map(|c| c.password.as_str()), Some("dp"));
    }

    #[test]
    fn bad_urls_do_not_echo_the_value() {
        let none = CredentialSources::default();
        for bad in ["ftp://u:secret-pw@h/x", "not a url secret-pw", "https://u:secret-pw@h/x?q=1"] {
            let e = Repository::parse(bad, &none).expect_err(bad).to_string();
            assert!(e.contains("--maven-repo") && !e.contains("secret-pw"), "{e}");
        }
    }
}
