//! A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries (scripts/install-tools
//! installs them) run on `127.0.0.1` on a free port, with their data and Unix socket in a fresh
//! temporary folder, and a role and database `meter` whose password is random.
//!
//! Every start takes a new folder and a new port, so a server left running by a killed test
//! never stands in the way of the next one; and every start first stops the servers whose test
//! process is gone (each folder names its owner's pid), so a killed test leaves no server behind
//! for longer than the next start. The password appears only in [`PostgresServer::url`]:
//! SQL that carries it goes to `psql` on stdin, and output quoted in errors is redacted.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs each major version's server binaries (`<root>/<version>/bin`).
const INSTALL_ROOT: &str = "/usr/lib/postgresql";
/// The role and database the server is made with.
const ROLE: &str = "meter";
/// Longest wait for a started server to accept TCP connections.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Ports are picked free but may be taken again before the server binds one: tries per start.
const PORT_TRIES: u32 = 3;
/// The prefix of every server folder, in the temporary folder.
const FOLDER_PREFIX: &str = "sparkoss-pg-";
/// The file in a server folder that holds the pid of the process that started the server.
const OWNER_FILE: &str = "owner.pid";

/// Why a server could not be started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// No server binaries under [`INSTALL_ROOT`].
    #[error("no PostgreSQL server (initdb, postgres, pg_ctl, psql) under {root}/<version>/bin: install the Debian package postgresql (scripts/install-tools does)")]
    NotInstalled {
        /// Where they were looked for.
        root: String,
    },
    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL command ran and failed.
    #[error("{what} failed ({status}): {output}")]
    Command {
        /// The command.
        what: String,
        /// Its exit status.
        status: String,
        /// Its output (and the server log's end), with the password redacted.
        output: String,
    },
    /// The server started but did not accept connections in time.
    #[error("the server on 127.0.0.1:{port} did not accept connections within {waited:?}; its log ends: {log}")]
    NotReady {
        /// Its port.
        port: u16,
        /// How long it was given.
        waited: Duration,
        /// The end of its log.
        log: String,
    },
}

/// A running PostgreSQL server, stopped (and its folder removed) on drop.
pub struct PostgresServer {
    /// Data, socket and log; `None` once stopped and removed.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    /// Run the server's commands as the `postgres` user (this process is root, which initdb
    /// and postgres refuse to run as).
    as_postgres: bool,
    port: u16,
    password: String,
}

impl fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresServer").field("port", &self.port).field("bin", &self.bin).field("password", &"<redacted>").finish()
    }
}

impl PostgresServer {
    /// Creates a cluster in a fresh temporary folder, starts it on 127.0.0.1 on a free port
    /// (waiting at most 30 s until it accepts connections) and creates the role `meter` with a
    /// random password and the database `meter` it owns.
    pub fn start() -> Result<PostgresServer, PostgresError> {
        let bin = find_bin(Path::new(INSTALL_ROOT))?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix(FOLDER_PREFIX)
            .tempdir()
            .map_err(|source| PostgresError::Io { what: "creating the server's folder".into(), source })?;
        std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
            .map_err(|source| PostgresError::Io { what: "recording the server's owner".into(), source })?;
        std::fs::create_dir(dir.path().join("socket"))
            .map_err(|source| PostgresError::Io { what: "creating the socket folder".into(), source })?;
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            for p in [dir.path().to_owned(), dir.path().join("socket")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                    .map_err(|source| PostgresError::Io { what: format!("giving {} to the postgres user", p.display()), source })?;
            }
        }
        let mut server = PostgresServer { dir: Some(dir), bin, as_postgres, port: 0, password: random_password()? };
        server.stop_orphans(&std::env::temp_dir());
        server.initdb()?;
        server.start_on_free_port()?;
        server.create_role_and_database()?;
        Ok(server)
    }

    /// `postgres://meter:<password>@127.0.0.1:<port>/meter`. It carries the password: do not log it.
    pub fn url(&self) -> String {
        format!("postgres://{ROLE}:{}@127.0.0.1:{}/{ROLE}", self.password, self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (`pg_ctl stop -m immediate`, at most 10 s) and removes its folder; drop
    /// does the same, ignoring failures.
    pub fn stop(mut self) -> Result<(), PostgresError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), PostgresError> {
        let Some(dir) = self.dir.take() else { return Ok(()) };
        let stopped = self.stop_server_in(dir.path());
        let removed = dir.close().map_err(|source| PostgresError::Io { what: "removing the server's folder".into(), source });
        stopped.and(removed)
    }

    /// Stops the server whose folder is `dir`, if one runs there (`pg_ctl stop -m immediate`,
    /// at most 10 s).
    fn stop_server_in(&self, dir: &Path) -> Result<(), PostgresError> {
        let data = dir.join("data");
        let pid_file = data.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(());
        }
        let out = self.run_pg(dir, "pg_ctl", &["stop", "-D", &data.display().to_string(), "-m", "immediate", "-w", "-t", "10"], None);
        match out {
            Ok(o) if o.status.success() => Ok(()),
            failed => {
                // The server must not outlive its test: kill the postmaster (its children exit
                // with it), then report why pg_ctl could not stop it.
                let pid = std::fs::read_to_string(&pid_file).ok().and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
                if let Some(pid) = pid.filter(|p| *p > 1) {
                    #[allow(unsafe_code)]
                    // SAFETY: kill(2) has no memory effects; the pid is the postmaster of a server this fixture started.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                Err(match failed {
                    Ok(o) => self.command_error("pg_ctl stop", &o),
                    Err(e) => e,
                })
            }
        }
    }

    /// Stops and removes the servers under `tmp` whose owner process is gone: a test killed
    /// before its fixture was dropped (a SIGKILL, a cancelled CI job) left them running. A folder
    /// without an owner file is being set up by a live start, or is not ours: left alone. Best
    /// effort: a server that cannot be stopped is reported and the new start goes on (it has its
    /// own folder and port).
    fn stop_orphans(&self, tmp: &Path) {
        let Ok(entries) = std::fs::read_dir(tmp) else { return };
        for entry in entries.flatten() {
            let dir = entry.path();
            // This server's own folder names this (live) process as its owner, so it is skipped below.
            if !entry.file_name().to_string_lossy().starts_with(FOLDER_PREFIX) {
                continue;
            }
            let Some(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)).ok().and_then(|t| t.trim().parse::<u32>().ok()) else {
                continue;
            };
            if Path::new(&format!("/proc/{owner}")).exists() {
                continue;
            }
            let stopped = self.stop_server_in(&dir);
            match stopped.and_then(|()| {
                std::fs::remove_dir_all(&dir).map_err(|source| PostgresError::Io { what: format!("removing {}", dir.display()), source })
            }) {
                Ok(()) => {
                    eprintln!("stopped the PostgreSQL test server in {}: the test (pid {owner}) that started it is gone", dir.display())
                }
                Err(e) => eprintln!("could not stop the orphaned PostgreSQL test server in {}: {e}", dir.display()),
            }
        }
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("/nonexistent"), |d| d.path())
    }

    fn data(&self) -> String {
        self.dir().join("data").display().to_string()
    }

    fn initdb(&self) -> Result<(), PostgresError> {
        let data = self.data();
        // Local (socket) connections are trusted, for the set-up below; TCP takes passwords, and
        // the superuser has none, so over TCP only `meter` gets in.
        let args =
            ["-D", &data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--locale=C", "-E", "UTF8", "--no-sync"];
        let out = self.run_pg(self.dir(), "initdb", &args, None)?;
        out.status.success().then_some(()).ok_or_else(|| self.command_error("initdb", &out))
    }

    fn start_on_free_port(&mut self) -> Result<(), PostgresError> {
        let log = self.dir().join("server.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = free_port()?;
            // A fresh log per attempt: an earlier attempt's bind failure must not decide this one.
            let _ = std::fs::remove_file(&log);
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off -c log_min_error_statement=panic",
                self.port,
                self.dir().join("socket").display()
            );
            let args = ["start", "-D", &self.data(), "-l", &log.display().to_string(), "-o", &options, "-w", "-t", "30"];
            let out = self.run_pg(self.dir(), "pg_ctl", &args, None)?;
            if out.status.success() {
                return self.wait_ready(&log);
            }
            let err = self.command_error("pg_ctl start", &out);
            // Another process took the port between our probe and the server's bind: a new port.
            if attempt >= PORT_TRIES || !self.log_tail(&log).contains("could not bind") {
                return Err(err);
            }
        }
    }

    /// Waits, bounded in time and tries, until the server accepts a TCP connection.
    fn wait_ready(&self, log: &Path) -> Result<(), PostgresError> {
        let started = Instant::now();
        for _ in 0..300 {
            let probe = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "1", "-q"])
                .current_dir(self.dir())
                .status();
            if probe.is_ok_and(|s| s.success()) {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(PostgresError::NotReady { port: self.port, waited: started.elapsed(), log: self.log_tail(log) })
    }

    fn create_role_and_database(&self) -> Result<(), PostgresError> {
        // On stdin, not in psql's arguments: the statement carries the password.
        let sql = format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{}';\nCREATE DATABASE {ROLE} OWNER {ROLE};\n", self.password);
        let socket = self.dir().join("socket").display().to_string();
        let port = self.port.to_string();
        let args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &socket, "-p", &port, "-U", "postgres", "-d", "postgres", "-f", "-"];
        let out = self.run(Command::new(self.bin.join("psql")), self.dir(), &args, Some(sql.as_bytes()), "psql")?;
        out.status.success().then_some(()).ok_or_else(|| self.command_error("creating the role and database", &out))
    }

    /// Runs one of the server's commands, as the `postgres` user when this process is root.
    fn run_pg(&self, cwd: &Path, tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, PostgresError> {
        let exe = self.bin.join(tool);
        let cmd = if self.as_postgres {
            let mut c = Command::new(runuser());
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        self.run(cmd, cwd, args, stdin, tool)
    }

    fn run(&self, mut cmd: Command, cwd: &Path, args: &[&str], stdin: Option<&[u8]>, what: &str) -> Result<Output, PostgresError> {
        // The postgres user may not be able to enter this process's working directory, and
        // initdb fails where it cannot tell its current directory.
        cmd.args(args).current_dir(cwd).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let io = |source| PostgresError::Io { what: format!("running {what}"), source };
        let mut child = cmd.spawn().map_err(io)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).map_err(io)?;
        }
        drop(child.stdin.take());
        child.wait_with_output().map_err(io)
    }

    fn command_error(&self, what: &str, out: &Output) -> PostgresError {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        PostgresError::Command {
            what: what.into(),
            status: out.status.to_string(),
            output: format!("{}; server log: {}", self.redact(text.trim()), self.log_tail(&self.dir().join("server.log"))),
        }
    }

    /// The last lines of the server log, redacted.
    fn log_tail(&self, log: &Path) -> String {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        self.redact(&lines[lines.len().saturating_sub(10)..].join("\n"))
    }

    fn redact(&self, text: &str) -> String {
        if self.password.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.password, "<redacted>")
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("stopping the test PostgreSQL server: {e}");
        }
    }
}

/// The highest version's `bin` folder under `root` that has every command the fixture runs.
fn find_bin(root: &Path) -> Result<PathBuf, PostgresError> {
    let not_installed = || PostgresError::NotInstalled { root: root.display().to_string() };
    let entries = std::fs::read_dir(root).map_err(|_| not_installed())?;
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `15`, `16`, or `9.6`: compared as numbers, part by part.
        let Ok(version) = name.split('.').map(str::parse::<u32>).collect::<Result<Vec<u32>, _>>() else { continue };
        let bin = entry.path().join("bin");
        let complete = ["initdb", "postgres", "pg_ctl", "psql", "pg_isready"].iter().all(|t| bin.join(t).is_file());
        if complete && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(not_installed)
}

fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// The uid and gid of the `postgres` user (Debian's package creates it), from `id`.
fn postgres_ids() -> Result<(u32, u32), PostgresError> {
    let id = |flag: &str| -> Result<u32, PostgresError> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|source| PostgresError::Io { what: "running id postgres".into(), source })?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().map_err(|_| PostgresError::Command {
            what: format!("id {flag} postgres"),
            status: out.status.to_string(),
            output: format!("{}{}", text.trim(), String::from_utf8_lossy(&out.stderr).trim()),
        })
    };
    Ok((id("-u")?, id("-g")?))
}

fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser"].iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("runuser"))
}

/// A port free on 127.0.0.1 right now (the kernel picks it).
fn free_port() -> Result<u16, PostgresError> {
    let l =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| PostgresError::Io { what: "finding a free port".into(), source })?;
    l.local_addr().map(|a| a.port()).map_err(|source| PostgresError::Io { what: "finding a free port".into(), source })
}

/// 32 hex digits from the OS random source (getrandom) (hex: nothing to quote in SQL or a URL).
fn random_password() -> Result<String, PostgresError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PostgresError::Io {
        what: "drawing the password from the OS random source".into(),
        source: std::io::Error::other(e),
    })?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_complete_version_is_chosen() {
        let root = tempfile::tempdir().expect("tempdir");
        for (version, tools) in [("9.6", 5), ("15", 5), ("16", 5), ("17", 2), ("latest", 5)] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("bin");
            for t in ["initdb", "postgres", "pg_ctl", "psql", "pg_isready"].iter().take(tools) {
                std::fs::write(bin.join(t), "").expect("tool");
            }
        }
        assert_eq!(find_bin(root.path()).expect("found"), root.path().join("16/bin"), "17 lacks tools; `latest` is no version");
        let err = find_bin(&root.path().join("none")).expect_err("nothing there");
        assert!(matches!(err, PostgresError::NotInstalled { .. }), "{err}");
    }

    #[test]
    fn passwords_are_random_and_never_shown() {
        let (a, b) = (random_password().expect("random"), random_password().expect("random"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let s = PostgresServer { dir: None, bin: PathBuf::from("/bin"), as_postgres: false, port: 5, password: a.clone() };
        assert!(!format!("{s:?}").contains(&a));
        assert_eq!(s.redact(&format!("ERROR near '{a}'")), "ERROR near '<redacted>'");
    }
}
