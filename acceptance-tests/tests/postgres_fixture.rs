//! The PostgreSQL fixture: a real server on 127.0.0.1 that the role `meter` reaches with the
//! password of the fixture's URL (given to psql through PGPASSWORD, never its arguments), and
//! that is gone, port and all, once the fixture is dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sparkoss_acceptance_tests::PostgresServer;

/// The parts of `postgres://user:password@host:port/db`.
struct Url {
    user: String,
    password: String,
    host: String,
    port: u16,
    db: String,
}

fn parse(url: &str) -> Url {
    let rest = url.strip_prefix("postgres://").expect("postgres:// URL");
    let (auth, rest) = rest.split_once('@').expect("user info");
    let (user, password) = auth.split_once(':').expect("user:password");
    let (host_port, db) = rest.split_once('/').expect("database");
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    Url { user: user.into(), password: password.into(), host: host.into(), port: port.parse().expect("port"), db: db.into() }
}

/// psql as `u.user` over TCP with the password in its environment; one command, unaligned output.
fn psql(u: &Url, sql: &str) -> Output {
    Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, "-d", &u.db, "-c", sql])
        .env("PGPASSWORD", &u.password)
        // Nothing from the caller's environment may pick another server or a password file.
        .env_remove("PGSERVICE")
        .env("PGPASSFILE", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs (Debian package postgresql-client)")
}

#[test]
fn a_fresh_server_takes_the_meter_role_and_is_gone_after_drop() {
    let started = Instant::now();
    let pg = PostgresServer::start().expect("PostgreSQL starts");
    let took = started.elapsed();
    let u = parse(&pg.url());
    assert_eq!((u.user.as_str(), u.host.as_str(), u.db.as_str(), u.port), ("meter", "127.0.0.1", "meter", pg.port()));
    assert_eq!(u.password.len(), 32, "a random password");
    assert!(!format!("{pg:?}").contains(&u.password), "Debug must not show the password");

    for sql in ["CREATE TABLE usage (job text PRIMARY KEY, cpu_seconds double precision)", "INSERT INTO usage VALUES ('etl', 12.5)"] {
        let out = psql(&u, sql);
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = psql(&u, "SELECT job || '=' || cpu_seconds FROM usage");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "etl=12.5", "{}", String::from_utf8_lossy(&out.stderr));
    let owner = psql(&u, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()");
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "meter");

    // The password is checked: a wrong one is refused.
    let wrong = psql(&Url { password: "wrong".into(), ..parse(&pg.url()) }, "SELECT 1");
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    // The superuser has no password, so it cannot come in over TCP.
    let superuser = psql(&Url { user: "postgres".into(), ..parse(&pg.url()) }, "SELECT 1");
    assert!(!superuser.status.success(), "the superuser must not log in over TCP");

    // A second server at the same time gets its own port and folder.
    let other = PostgresServer::start().expect("a second server");
    assert_ne!(other.port(), pg.port());
    assert_ne!(other.url(), pg.url(), "each server has its own password");
    drop(other);

    let port = pg.port();
    let stopping = Instant::now();
    drop(pg);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "port {port} still accepts connections after drop");
    eprintln!("postgres fixture: start {took:?}, stop {:?}, whole test {:?}", stopping.elapsed(), started.elapsed());
}

/// Set in the copy of this test binary that plays the killed test.
const CHILD_ENV: &str = "SPARKOSS_PG_FIXTURE_CHILD";
const KILLED_TEST: &str = "a_server_left_by_a_killed_test_is_stopped_by_the_next_start";

#[test]
fn a_server_left_by_a_killed_test_is_stopped_by_the_next_start() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // The child: start a server, say where it is, and wait to be killed (bounded, should the
        // parent be gone).
        let pg = PostgresServer::start().expect("PostgreSQL starts in the child");
        println!("port={}", pg.port());
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let exe = std::env::current_exe().expect("this test binary");
    let mut child = Command::new(exe)
        .args([KILLED_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child test starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        // Not at the start of a line: libtest's "test <name> ... " comes first, on the same line.
        let port = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.rsplit_once("port=").map(|(_, p)| p.trim().to_owned()));
        let _ = tx.send(port);
    });
    let port: u16 = rx.recv_timeout(Duration::from_secs(60)).ok().flatten().and_then(|p| p.parse().ok()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the child test did not report its server's port within 60 s")
    });
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok(),
        "the killed test's server should still run on {port} (no drop ran): nothing left to sweep, the test proves nothing"
    );

    let next = PostgresServer::start().expect("the next server starts");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "the orphaned server on {port} still accepts connections");
    let left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sparkoss-pg-"))
        .filter(|e| std::fs::read_to_string(e.path().join("owner.pid")).is_ok_and(|p| p.trim() == child.id().to_string()))
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(left.is_empty(), "the killed test's server folder is still there: {left:?}");
    drop(next);
}
