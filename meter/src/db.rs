//! The usage database: SQLite (`sqlite://PATH`, embedded, the default) or PostgreSQL
//! (`postgres://…`, for a team that runs several meters or keeps years of data), one schema and
//! one set of queries for both through sqlx's `Any` driver. sqlx was chosen because it is async
//! (the watcher and the HTTP server share one runtime), carries migrations in the binary, and its
//! SQLite driver compiles SQLite in, so the default needs no server and no system library.
//!
//! Every write is idempotent: pods are upserted by uid and samples keyed by (pod uid, metrics
//! timestamp), so a restarted meter, a replayed watch event or a re-read metrics sample never
//! counts twice.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::MeterError;
use crate::pod::PodRecord;

/// The schema's migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows per multi-row INSERT: 17 × 100 = 1,700 parameters, far under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 100;

/// `($1, …, $k), ($k+1, …), …` for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A checked `--database` URL. `Display` shows it with the password replaced by `***`.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
    redacted: String,
    password: Option<String>,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl").field("url", &self.redacted).field("backend", &self.backend).finish()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl DatabaseUrl {
    /// Checks the scheme and shape of a `--database` value.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, MeterError> {
        let (redacted, password) = redact(raw);
        let bad = |detail: String| MeterError::Usage { flag: "--database", detail: format!("{redacted}: {detail}") };
        let (scheme, rest) = raw.split_once(':').ok_or_else(|| bad("not a URL: use sqlite://PATH or postgres://USER@HOST/DB".into()))?;
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            other => return Err(bad(format!("unsupported database {other:?}: use sqlite://PATH or postgres://USER@HOST/DB"))),
        };
        let url = match backend {
            Backend::Sqlite => {
                let path = rest.trim_start_matches("//");
                let file = path.split('?').next().unwrap_or("");
                if file.is_empty() {
                    return Err(bad("no file: use sqlite://PATH, e.g. sqlite://meter.db or sqlite:///var/lib/meter.db".into()));
                }
                // Create the file on first use (sqlx opens read-write without creating by default).
                if path.contains("mode=") {
                    format!("sqlite://{path}")
                } else if path.contains('?') {
                    format!("sqlite://{path}&mode=rwc")
                } else {
                    format!("sqlite://{path}?mode=rwc")
                }
            }
            Backend::Postgres => {
                let authority = rest.strip_prefix("//").ok_or_else(|| bad("expected postgres://USER@HOST[:PORT]/DB".into()))?;
                if authority.split(['/', '?']).next().unwrap_or("").rsplit('@').next().unwrap_or("").is_empty() {
                    return Err(bad("no host: expected postgres://USER@HOST[:PORT]/DB".into()));
                }
                raw.to_owned()
            }
        };
        Ok(DatabaseUrl { url, backend, redacted, password })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For the SQLite file's folder check: the path, when this is SQLite.
    fn sqlite_path(&self) -> Option<&str> {
        match self.backend {
            Backend::Sqlite => self.url.strip_prefix("sqlite://").and_then(|p| p.split('?').next()),
            Backend::Postgres => None,
        }
    }

    /// A database error as a [`MeterError`], its text scrubbed of the password.
    fn error(&self, what: &str, e: impl std::fmt::Display) -> MeterError {
        let mut detail = format!("{what}: {e}");
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            detail = detail.replace(p, "***");
        }
        MeterError::Database { url: self.redacted.clone(), detail }
    }
}

/// The URL with the password (userinfo after `:`, or a `password=` parameter) replaced by `***`,
/// and the password itself.
fn redact(raw: &str) -> (String, Option<String>) {
    let mut out = raw.to_owned();
    let mut password = None;
    if let Some(start) = raw.find("://").map(|i| i + 3) {
        let end = raw[start..].find(['/', '?']).map_or(raw.len(), |i| start + i);
        if let Some(at) = raw[start..end].rfind('@').map(|i| start + i) {
            if let Some(colon) = raw[start..at].find(':').map(|i| start + i) {
                password = Some(raw[colon + 1..at].to_owned());
                out = format!("{}***{}", &raw[..colon + 1], &raw[at..]);
            }
        }
    }
    if let Some(i) = out.find("password=") {
        let value_start = i + "password=".len();
        let value_end = out[value_start..].find('&').map_or(out.len(), |j| value_start + j);
        password.get_or_insert_with(|| out[value_start..value_end].to_owned());
        out.replace_range(value_start..value_end, "***");
    }
    (out, password)
}

/// A change to record, from the pod watcher.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The pod as it is now (created or updated).
    Upsert(Box<PodRecord>),
    /// The pod is gone (deleted, or missing from a relist) at this time; a row that has no end
    /// yet ends here, and is marked deleted.
    Gone {
        /// Pod uid.
        uid: String,
        /// When it was seen gone (ms since the epoch).
        at_ms: i64,
        /// The deletion was watched as it happened, so `at_ms` is the pod's end within the
        /// watch's latency. False for a pod found missing at a relist: it went at some unknown
        /// time while nobody watched, and `at_ms` is only when that was noticed.
        live: bool,
    },
}

/// One metrics sample of one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Pod uid.
    pub pod_uid: String,
    /// The metrics timestamp (ms since the epoch).
    pub at_ms: i64,
    /// CPU in nanocores (cores × 10⁹), summed over the pod's containers.
    pub cpu_nanocores: i64,
    /// Working-set memory in bytes, summed over the pod's containers.
    pub memory_bytes: i64,
    /// The time this sample stands for (ms).
    pub window_ms: i64,
}

/// A pod row as reports read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRow {
    /// Pod uid.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Job (`sparkoss.io/job`).
    pub job: String,
    /// User or team (`sparkoss.io/user`), empty when unlabelled.
    pub user: String,
    /// `driver`, `executor` or `other`.
    pub role: String,
    /// CPU requested, millicores.
    pub cpu_request_millis: i64,
    /// Memory requested, bytes.
    pub memory_request_bytes: i64,
    /// Created (ms).
    pub created_ms: i64,
    /// Started running (ms), if it did.
    pub started_ms: Option<i64>,
    /// Ended (ms), if it has.
    pub ended_ms: Option<i64>,
    /// Last phase seen.
    pub phase: String,
    /// Exit code of the main container, when it terminated.
    pub exit_code: Option<i64>,
    /// Whether the pod was deleted before it ended by itself.
    pub deleted: bool,
}

/// A pod the database holds as still running, for resync after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPod {
    /// Pod uid.
    pub uid: String,
    /// Its namespace: a meter watching some namespaces ends only the pods of those it relisted.
    pub namespace: String,
    /// The latest sample's timestamp, if any.
    pub last_sample_ms: Option<i64>,
}

/// Real usage of one pod over a report window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Used {
    /// Σ nanocores × ms.
    pub cpu_nanocore_ms: f64,
    /// Highest memory sample, bytes.
    pub peak_memory_bytes: i64,
}

/// Real usage of one pod on one UTC day.
#[derive(Debug, Clone, PartialEq)]
pub struct UsedOnDay {
    /// Pod uid.
    pub pod_uid: String,
    /// The day's start (ms since the epoch).
    pub day_ms: i64,
    /// Usage that day.
    pub used: Used,
}

/// An archived driver log.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// Namespace.
    pub namespace: String,
    /// Job.
    pub job: String,
    /// Pod name.
    pub pod: String,
    /// `oss://bucket/key`.
    pub url: String,
    /// Size in bytes.
    pub bytes: i64,
    /// When it was written (ms).
    pub archived_ms: i64,
}

/// A connected, migrated usage database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    url: DatabaseUrl,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("url", &self.url).finish()
    }
}

const POD_COLUMNS: &str = "uid, namespace, name, job, username, role, cpu_request_millis, memory_request_bytes, \
                           created_ms, started_ms, ended_ms, phase, exit_code, deleted";

impl Db {
    /// Connects (bounded by a timeout) and brings the schema up to date.
    pub async fn connect(url: &DatabaseUrl) -> Result<Db, MeterError> {
        sqlx::any::install_default_drivers();
        if let Some(path) = url.sqlite_path() {
            let parent = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent.filter(|d| !d.is_dir()) {
                return Err(url.error("cannot open", format!("folder {} does not exist", dir.display())));
            }
        }
        let sqlite = url.backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer: one connection avoids "database is locked" between our own tasks.
            .max_connections(if sqlite { 1 } else { 4 })
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets `report` read while `run` writes; NORMAL is durable across a
                        // process crash, which is what the meter must survive.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url.url);
        let pool = tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(2), pool)
            .await
            .map_err(|_| url.error("cannot connect", format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| url.error("cannot connect", e))?;
        MIGRATOR.run(&pool).await.map_err(|e| url.error("migrating the schema", e))?;
        Ok(Db { pool, url: url.clone() })
    }

    /// The URL, redacted, for messages.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), MeterError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(|e| self.url.error("ping", e))
    }

    /// Records a batch of changes in one transaction. Upserts go in multi-row statements (one
    /// round trip to the database per [`ROWS_PER_STATEMENT`] pods, which is most of the cost),
    /// keeping the last state of a pod that changed twice in the batch: a later state of a pod
    /// carries everything an earlier one did (a start time is never lost).
    pub async fn apply(&self, changes: &[Change]) -> Result<(), MeterError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut latest: Vec<&PodRecord> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for c in changes {
            if let Change::Upsert(p) = c {
                match index.get(p.uid.as_str()) {
                    Some(&i) => latest[i] = p,
                    None => {
                        index.insert(&p.uid, latest.len());
                        latest.push(p);
                    }
                }
            }
        }
        let err = |e| self.url.error("recording pods", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        for chunk in latest.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO pods (uid, namespace, name, job, username, role, cpu_request_millis, memory_request_bytes, \
                 cpu_limit_millis, memory_limit_bytes, created_ms, started_ms, ended_ms, phase, exit_code, deleted, updated_ms) \
                 VALUES {} \
                 ON CONFLICT (uid) DO UPDATE SET \
                   username = CASE WHEN excluded.username <> '' THEN excluded.username ELSE pods.username END, \
                   cpu_request_millis = excluded.cpu_request_millis, memory_request_bytes = excluded.memory_request_bytes, \
                   cpu_limit_millis = excluded.cpu_limit_millis, memory_limit_bytes = excluded.memory_limit_bytes, \
                   started_ms = COALESCE(pods.started_ms, excluded.started_ms), \
                   ended_ms = COALESCE(pods.ended_ms, excluded.ended_ms), \
                   phase = CASE WHEN pods.ended_ms IS NULL THEN excluded.phase ELSE pods.phase END, \
                   exit_code = COALESCE(pods.exit_code, excluded.exit_code), \
                   updated_ms = excluded.updated_ms",
                placeholders(chunk.len(), 17)
            );
            let mut q = sqlx::query(&sql);
            for p in chunk {
                q = q
                    .bind(&p.uid)
                    .bind(&p.namespace)
                    .bind(&p.name)
                    .bind(&p.job)
                    .bind(&p.user)
                    .bind(p.role.as_str())
                    .bind(p.cpu_request_millis)
                    .bind(p.memory_request_bytes)
                    .bind(p.cpu_limit_millis)
                    .bind(p.memory_limit_bytes)
                    .bind(p.created_ms)
                    .bind(p.started_ms)
                    .bind(p.ended_ms)
                    .bind(&p.phase)
                    .bind(p.exit_code)
                    .bind(0i64)
                    .bind(p.observed_ms);
            }
            q.execute(&mut *tx).await.map_err(err)?;
        }
        for c in changes {
            if let Change::Gone { uid, at_ms, .. } = c {
                // A pod that ended by itself keeps its end and its phase; one deleted while
                // it ran ends now and counts as deleted.
                sqlx::query(
                    "UPDATE pods SET deleted = CASE WHEN ended_ms IS NULL THEN 1 ELSE deleted END, \
                     ended_ms = COALESCE(ended_ms, $2), updated_ms = $2 WHERE uid = $1",
                )
                .bind(uid)
                .bind(*at_ms)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
        }
        // Pods whose end time is known: the stretch between their last sample and their end.
        let ended: Vec<&str> = latest
            .iter()
            .filter(|p| p.ended_ms.is_some())
            .map(|p| p.uid.as_str())
            .chain(changes.iter().filter_map(|c| match c {
                Change::Gone { uid, live: true, .. } => Some(uid.as_str()),
                _ => None,
            }))
            .collect();
        for chunk in ended.chunks(ROWS_PER_STATEMENT) {
            close_samples(&mut tx, chunk).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Records samples (in one transaction, multi-row statements); a sample already stored is
    /// left as it is.
    pub async fn add_samples(&self, samples: &[Sample]) -> Result<(), MeterError> {
        if samples.is_empty() {
            return Ok(());
        }
        let err = |e| self.url.error("recording samples", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        for chunk in samples.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO samples (pod_uid, at_ms, cpu_nanocores, memory_bytes, window_ms) VALUES {} \
                 ON CONFLICT (pod_uid, at_ms) DO NOTHING",
                placeholders(chunk.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q.bind(&s.pod_uid).bind(s.at_ms).bind(s.cpu_nanocores).bind(s.memory_bytes).bind(s.window_ms);
            }
            q.execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Pods the database holds as not ended, with their latest sample time.
    pub async fn open_pods(&self) -> Result<Vec<OpenPod>, MeterError> {
        let rows = sqlx::query(
            "SELECT p.uid, p.namespace, (SELECT MAX(s.at_ms) FROM samples s WHERE s.pod_uid = p.uid) FROM pods p WHERE p.ended_ms IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.url.error("reading open pods", e))?;
        rows.iter()
            .map(|r| Ok(OpenPod { uid: r.try_get(0)?, namespace: r.try_get(1)?, last_sample_ms: r.try_get(2)? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.url.error("reading open pods", e))
    }

    /// Pods that existed at some time in `[since, until)` (created before `until`, not ended
    /// before `since`).
    pub async fn pods_between(&self, since_ms: i64, until_ms: i64) -> Result<Vec<PodRow>, MeterError> {
        let sql = format!("SELECT {POD_COLUMNS} FROM pods WHERE created_ms < $1 AND (ended_ms IS NULL OR ended_ms >= $2)");
        let rows =
            sqlx::query(&sql).bind(until_ms).bind(since_ms).fetch_all(&self.pool).await.map_err(|e| self.url.error("reading pods", e))?;
        rows.iter().map(pod_row).collect::<Result<_, sqlx::Error>>().map_err(|e| self.url.error("reading pods", e))
    }

    /// Real usage per pod uid and UTC day (the day's start, ms) from the samples taken in
    /// `[since, until)`: one pass over the samples serves both the totals and the chart.
    pub async fn used_between(&self, since_ms: i64, until_ms: i64) -> Result<Vec<UsedOnDay>, MeterError> {
        let rows = sqlx::query(
            "SELECT pod_uid, (at_ms / 86400000) * 86400000, SUM(CAST(cpu_nanocores AS DOUBLE PRECISION) * window_ms), MAX(memory_bytes) \
             FROM samples WHERE at_ms >= $1 AND at_ms < $2 GROUP BY pod_uid, (at_ms / 86400000)",
        )
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.url.error("reading samples", e))?;
        rows.iter()
            .map(|r| {
                Ok(UsedOnDay {
                    pod_uid: r.try_get(0)?,
                    day_ms: r.try_get(1)?,
                    used: Used { cpu_nanocore_ms: r.try_get(2)?, peak_memory_bytes: r.try_get(3)? },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.url.error("reading samples", e))
    }

    /// How many samples are stored (for the benchmark and the tests).
    pub async fn sample_count(&self) -> Result<i64, MeterError> {
        sqlx::query("SELECT COUNT(*) FROM samples")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.url.error("counting samples", e))
    }

    /// Whether this driver's log is archived already.
    pub async fn is_archived(&self, pod_uid: &str) -> Result<bool, MeterError> {
        let row = sqlx::query("SELECT 1 FROM log_archives WHERE pod_uid = $1")
            .bind(pod_uid)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.url.error("reading log archives", e))?;
        Ok(row.is_some())
    }

    /// Records an archived driver log.
    pub async fn add_archive(&self, pod_uid: &str, a: &Archive) -> Result<(), MeterError> {
        sqlx::query(
            "INSERT INTO log_archives (pod_uid, namespace, job, pod, url, bytes, archived_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (pod_uid) DO NOTHING",
        )
        .bind(pod_uid)
        .bind(&a.namespace)
        .bind(&a.job)
        .bind(&a.pod)
        .bind(&a.url)
        .bind(a.bytes)
        .bind(a.archived_ms)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.url.error("recording a log archive", e))
    }

    /// Archived driver logs of a job (in any namespace unless one is given), newest first.
    pub async fn archives(&self, job: &str, namespace: Option<&str>) -> Result<Vec<Archive>, MeterError> {
        let rows = sqlx::query(
            "SELECT namespace, job, pod, url, bytes, archived_ms FROM log_archives \
             WHERE job = $1 AND ($2 = '' OR namespace = $2) ORDER BY archived_ms DESC",
        )
        .bind(job)
        .bind(namespace.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.url.error("reading log archives", e))?;
        rows.iter()
            .map(|r| {
                Ok(Archive {
                    namespace: r.try_get(0)?,
                    job: r.try_get(1)?,
                    pod: r.try_get(2)?,
                    url: r.try_get(3)?,
                    bytes: r.try_get(4)?,
                    archived_ms: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.url.error("reading log archives", e))
    }

    /// Closes the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn pod_row(r: &AnyRow) -> Result<PodRow, sqlx::Error> {
    Ok(PodRow {
        uid: r.try_get(0)?,
        namespace: r.try_get(1)?,
        name: r.try_get(2)?,
        job: r.try_get(3)?,
        user: r.try_get(4)?,
        role: r.try_get(5)?,
        cpu_request_millis: r.try_get(6)?,
        memory_request_bytes: r.try_get(7)?,
        created_ms: r.try_get(8)?,
        started_ms: r.try_get(9)?,
        ended_ms: r.try_get(10)?,
        phase: r.try_get(11)?,
        exit_code: r.try_get(12)?,
        deleted: r.try_get::<i64, _>(13)? != 0,
    })
}

/// Adds, for each of these ended pods, a closing sample at its end that carries its last
/// sample's CPU and memory over the time since that sample. Samples come every interval, so
/// without it a pod's last stretch (up to an interval, a large share of a short executor's life)
/// would count as requested but never as used. The last measured rate is the best estimate of
/// that stretch, as a scrape-based monitor holds a series' last value. Idempotent: once the
/// closing sample is there it is the pod's latest, which is not before its end, so nothing more
/// is added; a pod without samples, or sampled after its end, gets none.
async fn close_samples(tx: &mut sqlx::Transaction<'_, sqlx::Any>, uids: &[&str]) -> Result<(), sqlx::Error> {
    // One row of `uids.len()` values is the parenthesised list `IN` takes.
    let list = placeholders(1, uids.len());
    let sql = format!(
        "INSERT INTO samples (pod_uid, at_ms, cpu_nanocores, memory_bytes, window_ms) \
         SELECT s.pod_uid, p.ended_ms, s.cpu_nanocores, s.memory_bytes, p.ended_ms - s.at_ms \
         FROM pods p JOIN samples s ON s.pod_uid = p.uid \
         WHERE p.uid IN {list} AND p.ended_ms IS NOT NULL AND s.at_ms < p.ended_ms \
           AND s.at_ms = (SELECT MAX(m.at_ms) FROM samples m WHERE m.pod_uid = p.uid) \
         ON CONFLICT (pod_uid, at_ms) DO NOTHING"
    );
    let mut q = sqlx::query(&sql);
    for uid in uids {
        q = q.bind(*uid);
    }
    q.execute(&mut **tx).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn urls_are_checked_and_redacted() {
        let u = DatabaseUrl::parse("postgres://meter:s3cret@127.0.0.1:5432/meter").expect("valid");
        assert_eq!(u.backend(), Backend::Postgres);
        assert_eq!(u.to_string(), "postgres://meter:***@127.0.0.1:5432/meter");
        assert!(!format!("{u:?}").contains("s3cret"));

        let e = DatabaseUrl::parse("mysql://root:hunter2@db/x").expect_err("mysql is refused").to_string();
        assert!(e.starts_with("--database: mysql://root:***@db/x: unsupported database \"mysql\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");

        let e = DatabaseUrl::parse("postgres://h/db?password=pw1&sslmode=disable").expect("valid").to_string();
        assert_eq!(e, "postgres://h/db?password=***&sslmode=disable");

        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("meter.db").is_err());
        let s = DatabaseUrl::parse("sqlite://data/meter.db").expect("valid");
        assert_eq!(s.url, "sqlite://data/meter.db?mode=rwc");
        assert_eq!(s.sqlite_path(), Some("data/meter.db"));
    }

    fn pod(uid: &str, ended_ms: Option<i64>) -> PodRecord {
        PodRecord {
            uid: uid.into(),
            namespace: "n".into(),
            name: uid.into(),
            job: "j".into(),
            user: "u".into(),
            role: crate::pod::Role::Executor,
            cpu_request_millis: 1000,
            memory_request_bytes: 1 << 30,
            cpu_limit_millis: None,
            memory_limit_bytes: None,
            created_ms: 0,
            started_ms: Some(0),
            ended_ms,
            phase: if ended_ms.is_some() { "Succeeded".into() } else { "Running".into() },
            exit_code: ended_ms.map(|_| 0),
            observed_ms: 0,
        }
    }

    fn sample(uid: &str, at_ms: i64, window_ms: i64) -> Sample {
        Sample { pod_uid: uid.into(), at_ms, cpu_nanocores: 500_000_000, memory_bytes: 7, window_ms }
    }

    #[tokio::test]
    async fn an_ended_pod_is_used_up_to_its_end_at_its_last_rate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&DatabaseUrl::parse(&format!("sqlite://{}/m.db", dir.path().display())).expect("url")).await.expect("db");
        let up = |uid, end| Change::Upsert(Box::new(pod(uid, end)));
        db.apply(&[up("a", None), up("b", None), up("c", None), up("d", None)]).await.expect("pods");
        db.add_samples(&[sample("a", 10_000, 10_000), sample("a", 20_000, 10_000), sample("b", 5_000, 5_000), sample("c", 5_000, 5_000)])
            .await
            .expect("samples");

        // a ends by itself at 25 s, b's deletion is watched at 8 s, c is found missing at a
        // relist at 100 s, d ends without ever being sampled.
        let changes = [
            up("a", Some(25_000)),
            Change::Gone { uid: "b".into(), at_ms: 8_000, live: true },
            Change::Gone { uid: "c".into(), at_ms: 100_000, live: false },
            up("d", Some(30_000)),
        ];
        db.apply(&changes).await.expect("ends");
        db.apply(&changes).await.expect("the same ends again");
        let used: std::collections::HashMap<String, f64> =
            db.used_between(0, i64::MAX).await.expect("used").into_iter().map(|u| (u.pod_uid, u.used.cpu_nanocore_ms)).collect();
        let half_core_for = |ms: f64| 500_000_000.0 * ms;
        assert_eq!(used["a"], half_core_for(25_000.0), "20 s sampled plus 5 s at the last rate");
        assert_eq!(used["b"], half_core_for(8_000.0), "5 s sampled plus 3 s until the watched deletion");
        assert_eq!(used["c"], half_core_for(5_000.0), "nothing is guessed for the time nobody watched");
        assert!(!used.contains_key("d"), "no sample, no usage");
        assert_eq!(db.sample_count().await.expect("count"), 6, "two closing samples, added once");
    }

    #[tokio::test]
    async fn a_missing_sqlite_folder_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::parse(&format!("sqlite://{}/nope/meter.db", dir.path().display())).expect("valid");
        let e = Db::connect(&url).await.expect_err("no folder").to_string();
        assert!(e.contains("/nope does not exist"), "{e}");
    }
}
