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
