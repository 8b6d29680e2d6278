//! Starting the `sparkoss-meter` binary from a test against a local cloud, killing it (as a
//! crash would) and starting it again on the same database.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sparkoss_localcloud::Endpoints;

use crate::HarnessError;

/// The `sparkoss-meter` binary, built once per process.
pub fn meter_bin() -> Result<PathBuf, HarnessError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| crate::cargo_bin("sparkoss-meter", "sparkoss-meter").map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| HarnessError::Command { what: "building sparkoss-meter".into(), detail })
}

/// The meter's environment for the local cloud: the database URL (never an argument: it may
/// carry a password), and OSS reached with the local cloud's keys for the log archive.
fn meter_command(database: &str, ep: &Endpoints) -> Result<Command, HarnessError> {
    let mut cmd = Command::new(meter_bin()?);
    cmd.env("SPARKOSS_METER_DATABASE", database)
        .env("SPARKOSS_OSS_ENDPOINT", &ep.oss_endpoint)
        .env("ALIBABA_CLOUD_REGION", &ep.region)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &ep.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &ep.access_key_secret)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    Ok(cmd)
}

/// Runs a one-shot meter command (`report`, `logs`) on `database`; returns its output.
pub fn meter_command_output(database: &str, ep: &Endpoints, args: &[&str]) -> Result<Output, HarnessError> {
    let mut cmd = meter_command(database, ep)?;
    cmd.args(args).output().map_err(|source| HarnessError::Io { what: "running sparkoss-meter".into(), source })
}

/// What a `sparkoss-meter run` that stopped by itself left: its exit status and standard error.
#[derive(Debug)]
pub struct MeterExit {
    /// How it ended.
    pub status: std::process::ExitStatus,
    /// Its standard error (logs and the final error line).
    pub stderr: String,
}

/// Runs `sparkoss-meter run --kubeconfig F` with `extra` arguments, expecting it to stop by itself
/// within `limit` (a refused watch, a bad flag); a meter still running then is killed, and that
/// is an error. Standard error goes to a file, so a chatty meter cannot block on a full pipe.
pub fn meter_run_to_exit(
    database: &str,
    ep: &Endpoints,
    kubeconfig: &Path,
    extra: &[&str],
    limit: Duration,
) -> Result<MeterExit, HarnessError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| HarnessError::Io { what, source }
    };
    let dir = tempfile::tempdir().map_err(io("a folder for the meter's stderr"))?;
    let log = dir.path().join("stderr");
    let file = std::fs::File::create(&log).map_err(io("the meter's stderr file"))?;
    let mut child = meter_command(database, ep)?
        .arg("run")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .map_err(io("starting sparkoss-meter"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io("waiting for sparkoss-meter"))? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(HarnessError::Output {
                what: "sparkoss-meter run".into(),
                detail: format!("still running after {limit:?}:\n{stderr}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).map_err(io("reading the meter's stderr"))?;
    Ok(MeterExit { status, stderr })
}

/// A running `sparkoss-meter run`; killed on drop.
pub struct MeterProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl MeterProcess {
    /// Starts `sparkoss-meter run` with `extra` arguments and waits (at most 30 s) until its
    /// `/healthz` says the first listing is recorded.
    pub fn start(database: &str, ep: &Endpoints, kubeconfig: &Path, extra: &[&str]) -> Result<MeterProcess, HarnessError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|source| HarnessError::Io { what: "picking a port".into(), source })?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = meter_command(database, ep)?;
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--listen", &listen])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().map_err(|source| HarnessError::Io { what: "starting sparkoss-meter".into(), source })?;
        let mut m = MeterProcess { child, url: format!("http://{listen}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = m.child.try_wait() {
                return Err(HarnessError::Output { what: "sparkoss-meter run".into(), detail: format!("exited early: {status}") });
            }
            if let Ok((200, body)) = m.get("/healthz") {
                if body.contains("\"synced\":true") {
                    return Ok(m);
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Output { what: "sparkoss-meter run".into(), detail: "not synced within 30 s".into() });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// GET on the meter's HTTP server: status and body.
    pub fn get(&self, path: &str) -> Result<(u16, String), HarnessError> {
        crate::fixtures::http_get(&self.url, path).map_err(|source| HarnessError::Io { what: format!("GET {path} from the meter"), source })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or an OOM kill would end it; waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MeterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
