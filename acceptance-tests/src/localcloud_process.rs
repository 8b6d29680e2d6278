//! Starting the `localcloud` binary from a test, and stopping it when the test is done.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::HarnessError;
use sparkoss_localcloud::Endpoints;

/// The `localcloud` binary, built once per process.
pub fn localcloud_bin() -> Result<std::path::PathBuf, HarnessError> {
    static BIN: OnceLock<Result<std::path::PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| crate::cargo_bin("sparkoss-localcloud", "localcloud").map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| HarnessError::Command { what: "building localcloud".into(), detail })
}

/// A running `localcloud` process; SIGTERM and wait on drop.
pub struct LocalCloudProcess {
    child: Child,
    /// What it printed when ready.
    pub endpoints: Endpoints,
}

impl LocalCloudProcess {
    /// Starts `localcloud` with extra arguments and waits (at most 30 s) for its ready line.
    pub fn start(args: &[&str]) -> Result<LocalCloudProcess, HarnessError> {
        Self::start_with_keys(args, None)
    }

    /// Like [`LocalCloudProcess::start`], with the emulator's access keys chosen by the test:
    /// the id as `--access-key-id`, the secret through `LOCALCLOUD_ACCESS_KEY_SECRET` (never an
    /// argument).
    pub fn start_with_keys(args: &[&str], keys: Option<(&str, &str)>) -> Result<LocalCloudProcess, HarnessError> {
        let bin = localcloud_bin()?;
        let mut cmd = Command::new(&bin);
        cmd.env_remove("LOCALCLOUD_ACCESS_KEY_SECRET");
        if let Some((id, secret)) = keys {
            cmd.args(["--access-key-id", id]).env("LOCALCLOUD_ACCESS_KEY_SECRET", secret);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| HarnessError::Io { what: format!("starting {}", bin.display()), source })?;
        let stdout = child.stdout.take().ok_or_else(|| HarnessError::Output { what: "localcloud".into(), detail: "no stdout".into() })?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let started = Instant::now();
        let line = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| HarnessError::Output {
            what: "localcloud".into(),
            detail: format!("no ready line after {:?}", started.elapsed()),
        })?;
        let endpoints: Endpoints = match serde_json::from_str(line.trim()) {
            Ok(e) => e,
            Err(e) => {
                let _ = child.kill();
                return Err(HarnessError::Output { what: "localcloud ready line".into(), detail: format!("{e}: {line:?}") });
            }
        };
        Ok(LocalCloudProcess { child, endpoints })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most 20 s, then SIGKILL); returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for LocalCloudProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}
