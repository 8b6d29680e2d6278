//! Usage reports: per user, job or namespace over a time window, from the database.
//!
//! Requested usage is each pod's requests × the time it ran (from `status.startTime` to the
//! end of its last container, or now while it runs), clipped to the window. Used CPU is the
//! metrics samples' CPU × the time each stands for; peak memory is the highest sample of a single
//! pod in the group. A job run is a driver pod; its state is the driver's final phase, `Deleted`
//! when the driver was deleted before it ended, or its current phase while it runs.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::db::{Db, PodRow, Used};
use crate::error::MeterError;

const MS_PER_HOUR: f64 = 3_600_000.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MS_PER_DAY: i64 = 86_400_000;

/// What rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// `sparkoss.io/user`.
    User,
    /// Namespace and `sparkoss.io/job`.
    Job,
    /// Namespace.
    Namespace,
}

impl By {
    /// As written in flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            By::User => "user",
            By::Job => "job",
            By::Namespace => "namespace",
        }
    }
}

/// Usage of one user, job or namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The user (`(none)` when unlabelled), `namespace/job`, or the namespace.
    pub key: String,
    /// For job rows: the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// For job rows: the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// For job rows: the user of the newest run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Pods counted.
    pub pods: u64,
    /// Job runs (driver pods) by state.
    pub jobs: BTreeMap<String, u64>,
    /// The newest run's state (job rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_state: Option<String>,
    /// CPU requested × time run, core-seconds.
    pub requested_cpu_core_seconds: f64,
    /// Memory requested × time run, GiB-seconds.
    pub requested_memory_gib_seconds: f64,
    /// Requested core-hours.
    pub requested_core_hours: f64,
    /// Requested GiB-hours.
    pub requested_gib_hours: f64,
    /// CPU used (from samples), core-seconds; `None` without samples.
    pub used_cpu_core_seconds: Option<f64>,
    /// Used core-hours.
    pub used_core_hours: Option<f64>,
    /// The highest memory sample of one pod, bytes.
    pub peak_pod_memory_bytes: Option<i64>,
    /// First run start (RFC 3339).
    pub first_run: Option<String>,
    /// Last run start (RFC 3339).
    pub last_run: Option<String>,
}

/// Requested and used core-hours of one key on one UTC day, for the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Daily {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The row key.
    pub key: String,
    /// Requested core-hours that day.
    pub requested_core_hours: f64,
    /// Used core-hours that day (samples taken that day).
    pub used_core_hours: f64,
}

/// A report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Grouping.
    pub by: By,
    /// Window start (RFC 3339).
    pub since: String,
    /// Window end (RFC 3339).
    pub until: String,
    /// Whether any real usage samples fell in the window (else: requests only).
    pub usage_sampled: bool,
    /// Rows, by key.
    pub rows: Vec<Row>,
    /// Per key per day.
    pub daily: Vec<Daily>,
}

/// `ms` as RFC 3339 (seconds).
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn day_of(ms: i64) -> String {
    rfc3339(ms.div_euclid(MS_PER_DAY) * MS_PER_DAY)[..10].to_owned()
}

/// The time a pod ran inside `[since, until)`, as (from, to), if any.
fn ran(p: &PodRow, since: i64, until: i64, now: i64) -> Option<(i64, i64)> {
    let start = p.started_ms?.max(since);
    let end = p.ended_ms.unwrap_or(now).min(until);
    (end > start).then_some((start, end))
}

fn job_state(p: &PodRow) -> String {
    if p.deleted {
        "Deleted".into()
    } else {
        p.phase.clone()
    }
}

#[derive(Default)]
struct Acc {
    pods: u64,
    jobs: BTreeMap<String, u64>,
    newest_driver: Option<(i64, String, String)>,
    namespace: Option<String>,
    job: Option<String>,
    req_cpu_milli_ms: f64,
    req_mem_byte_ms: f64,
    used: Option<f64>,
    peak: Option<i64>,
    first: Option<i64>,
    last: Option<i64>,
}

/// Builds a report over `[since_ms, until_ms)` as of `now_ms`.
pub async fn build(db: &Db, by: By, since_ms: i64, until_ms: i64, now_ms: i64) -> Result<Report, MeterError> {
    let pods = db.pods_between(since_ms, until_ms).await?;
    let mut used: HashMap<String, Used> = HashMap::new();
    let mut daily_used: HashMap<(String, i64), f64> = HashMap::new();
    for d in db.used_between(since_ms, until_ms).await? {
        let u = used.entry(d.pod_uid.clone()).or_default();
        u.cpu_nanocore_ms += d.used.cpu_nanocore_ms;
        u.peak_memory_bytes = u.peak_memory_bytes.max(d.used.peak_memory_bytes);
        daily_used.insert((d.pod_uid, d.day_ms), d.used.cpu_nanocore_ms);
    }
    Ok(aggregate(by, &pods, &used, &daily_used, since_ms, until_ms, now_ms))
}

/// The key of a pod for `by`.
fn key_of(by: By, p: &PodRow) -> String {
    match by {
        By::User if p.user.is_empty() => "(none)".into(),
        By::User => p.user.clone(),
        By::Job => format!("{}/{}", p.namespace, p.job),
        By::Namespace => p.namespace.clone(),
    }
}

/// The report from rows already read (separate from [`build`] so it is tested without a database).
pub fn aggregate(
    by: By,
    pods: &[PodRow],
    used: &HashMap<String, Used>,
    daily_used: &HashMap<(String, i64), f64>,
    since_ms: i64,
    until_ms: i64,
    now_ms: i64,
) -> Report {
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let mut daily: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let mut key_by_uid: HashMap<&str, String> = HashMap::new();
    for p in pods {
        let key = key_of(by, p);
        key_by_uid.insert(&p.uid, key.clone());
        let a = acc.entry(key.clone()).or_default();
        a.pods += 1;
        if by == By::Job {
            a.namespace = Some(p.namespace.clone());
            a.job = Some(p.job.clone());
        }
        let run_start = p.started_ms.unwrap_or(p.created_ms);
        if p.role == "driver" {
            *a.jobs.entry(job_state(p)).or_default() += 1;
            if a.newest_driver.as_ref().is_none_or(|(t, _, _)| run_start >= *t) {
                a.newest_driver = Some((run_start, job_state(p), p.user.clone()));
            }
            a.first = Some(a.first.map_or(run_start, |f| f.min(run_start)));
            a.last = Some(a.last.map_or(run_start, |l| l.max(run_start)));
        }
        if let Some((from, to)) = ran(p, since_ms, until_ms, now_ms) {
            a.req_cpu_milli_ms += p.cpu_request_millis as f64 * (to - from) as f64;
            a.req_mem_byte_ms += p.memory_request_bytes as f64 * (to - from) as f64;
            // Split the run across UTC days for the chart.
            let mut t = from;
            while t < to {
                let day_end = (t.div_euclid(MS_PER_DAY) + 1) * MS_PER_DAY;
                let slice = day_end.min(to) - t;
                daily.entry((day_of(t), key.clone())).or_default().0 += p.cpu_request_millis as f64 * slice as f64 / 1000.0 / MS_PER_HOUR;
                t = day_end;
            }
        }
        if let Some(u) = used.get(&p.uid) {
            a.used = Some(a.used.unwrap_or(0.0) + u.cpu_nanocore_ms);
            a.peak = Some(a.peak.map_or(u.peak_memory_bytes, |m| m.max(u.peak_memory_bytes)));
        }
    }
    for ((uid, day_start), nanocore_ms) in daily_used {
        if let Some(key) = key_by_uid.get(uid.as_str()) {
            daily.entry((day_of(*day_start), key.clone())).or_default().1 += nanocore_ms / 1e9 / MS_PER_HOUR;
        }
    }
    let rows = acc
        .into_iter()
        .map(|(key, a)| {
            let req_core_s = a.req_cpu_milli_ms / 1000.0 / 1000.0;
            let req_gib_s = a.req_mem_byte_ms / GIB / 1000.0;
            let used_core_s = a.used.map(|u| u / 1e9 / 1000.0);
            let (latest_state, user) = match (by, a.newest_driver) {
                (By::Job, Some((_, state, user))) => (Some(state), Some(user)),
                _ => (None, None),
            };
            Row {
                key,
                namespace: a.namespace,
                job: a.job,
                user,
                pods: a.pods,
                jobs: a.jobs,
                latest_state,
                requested_cpu_core_seconds: req_core_s,
                requested_memory_gib_seconds: req_gib_s,
                requested_core_hours: req_core_s / 3600.0,
                requested_gib_hours: req_gib_s / 3600.0,
                used_cpu_core_seconds: used_core_s,
                used_core_hours: used_core_s.map(|s| s / 3600.0),
                peak_pod_memory_bytes: a.peak,
                first_run: a.first.map(rfc3339),
                last_run: a.last.map(rfc3339),
            }
        })
        .collect();
    Report {
        by,
        since: rfc3339(since_ms),
        until: rfc3339(until_ms.min(now_ms)),
        usage_sampled: !used.is_empty(),
        rows,
        daily: daily.into_iter().map(|((day, key), (r, u))| Daily { day, key, requested_core_hours: r, used_core_hours: u }).collect(),
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// The [`Report`] as JSON.
    Json,
    /// One self-contained HTML page with a chart per user per day.
    Html,
}

/// The states counted in the table and CSV, in order (others are summed in `other`).
const STATES: [&str; 5] = ["Succeeded", "Failed", "Deleted", "Running", "Pending"];

fn count(r: &Row, state: &str) -> u64 {
    if state == "other" {
        r.jobs.iter().filter(|(s, _)| !STATES.contains(&s.as_str())).map(|(_, n)| n).sum()
    } else {
        r.jobs.get(state).copied().unwrap_or(0)
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn gib(b: Option<i64>) -> Option<f64> {
    b.map(|b| b as f64 / GIB)
}

/// Renders `r` in `format`.
pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Table => table(r),
        Format::Csv => csv(r),
        Format::Json => serde_json::to_string_pretty(r).unwrap_or_default() + "\n",
        Format::Html => crate::html::page(r),
    }
}

fn jobs_summary(r: &Row) -> String {
    let mut parts: Vec<String> =
        STATES.iter().filter(|s| count(r, s) > 0).map(|s| format!("{} {}", count(r, s), s.to_lowercase())).collect();
    let other = count(r, "other");
    if other > 0 {
        parts.push(format!("{other} other"));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn table(r: &Report) -> String {
    let header = [
        r.by.as_str().to_uppercase(),
        "PODS".into(),
        "JOBS".into(),
        "REQ CORE-H".into(),
        "REQ GIB-H".into(),
        "USED CORE-H".into(),
        "PEAK POD GIB".into(),
        "FIRST RUN".into(),
        "LAST RUN".into(),
    ];
    let mut lines: Vec<Vec<String>> = vec![header.to_vec()];
    for row in &r.rows {
        lines.push(vec![
            row.key.clone(),
            row.pods.to_string(),
            jobs_summary(row),
            format!("{:.4}", row.requested_core_hours),
            format!("{:.4}", row.requested_gib_hours),
            opt(row.used_core_hours, 4),
            opt(gib(row.peak_pod_memory_bytes), 3),
            row.first_run.clone().unwrap_or_else(|| "-".into()),
            row.last_run.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..lines[0].len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("usage by {} from {} to {}\n", r.by.as_str(), r.since, r.until);
    for l in &lines {
        let cells: Vec<String> = l.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if r.rows.is_empty() {
        out.push_str("(no sparkoss pods ran in this window)\n");
    }
    if !r.usage_sampled {
        out.push_str("used CPU and memory: no metrics.k8s.io samples in this window (requests only)\n");
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(r: &Report) -> String {
    let mut out = String::from("by,key,pods,jobs_succeeded,jobs_failed,jobs_deleted,jobs_running,jobs_pending,jobs_other,requested_core_hours,requested_gib_hours,used_core_hours,peak_pod_memory_gib,first_run,last_run\n");
    for row in &r.rows {
        let mut cells = vec![r.by.as_str().to_owned(), csv_field(&row.key), row.pods.to_string()];
        cells.extend(STATES.iter().chain(&["other"]).map(|s| count(row, s).to_string()));
        cells.push(format!("{:.6}", row.requested_core_hours));
        cells.push(format!("{:.6}", row.requested_gib_hours));
        cells.push(row.used_core_hours.map(|v| format!("{v:.6}")).unwrap_or_default());
        cells.push(gib(row.peak_pod_memory_bytes).map(|v| format!("{v:.6}")).unwrap_or_default());
        cells.push(row.first_run.clone().unwrap_or_default());
        cells.push(row.last_run.clone().unwrap_or_default());
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Parses `--since`/`--until`: a duration back from now (`90s`, `30m`, `12h`, `7d`, `2w`), an RFC
/// 3339 time, or a date (`2026-11-01`, midnight UTC). Returns ms since the epoch.
pub fn parse_time(flag: &'static str, value: &str, now_ms: i64) -> Result<i64, MeterError> {
    let v = value.trim();
    let bad = || MeterError::Usage {
        flag,
        detail: format!("{value:?} is not a duration (90s, 30m, 12h, 7d, 2w), an RFC 3339 time or a date (2026-11-01)"),
    };
    if let Some(unit) = v.chars().last().filter(char::is_ascii_alphabetic) {
        if let Ok(n) = v[..v.len() - 1].parse::<u32>() {
            let ms = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => MS_PER_DAY,
                'w' => 7 * MS_PER_DAY,
                _ => return Err(bad()),
            };
            return Ok(now_ms - i64::from(n) * ms);
        }
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(v, &fmt).map_err(|_| bad())?;
    Ok(d.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)] // a test's row builder: every column is an argument
    fn pod(uid: &str, user: &str, role: &str, cpu: i64, mem: i64, start: Option<i64>, end: Option<i64>, phase: &str) -> PodRow {
        PodRow {
            uid: uid.into(),
            namespace: "team-a".into(),
            name: uid.into(),
            job: "etl".into(),
            user: user.into(),
            role: role.into(),
            cpu_request_millis: cpu,
            memory_request_bytes: mem,
            created_ms: start.unwrap_or(0),
            started_ms: start,
            ended_ms: end,
            phase: phase.into(),
            exit_code: None,
            deleted: false,
        }
    }

    #[test]
    fn requested_usage_is_requests_times_run_time_clipped_to_the_window() {
        let h = 3_600_000;
        let pods = vec![
            pod("d", "ana", "driver", 1000, 1 << 30, Some(0), Some(2 * h), "Succeeded"),
            pod("e", "ana", "executor", 500, 2 << 30, Some(0), Some(2 * h), "Succeeded"),
            pod("x", "", "driver", 2000, 0, Some(h), None, "Running"),
            pod("p", "bo", "driver", 1000, 0, None, None, "Pending"),
        ];
        let used: HashMap<String, Used> = [("d".to_owned(), Used { cpu_nanocore_ms: 0.5e9 * h as f64, peak_memory_bytes: 7 })].into();
        // Window [0, 3h) as of 3h: the running pod counts 2 hours.
        let r = aggregate(By::User, &pods, &used, &HashMap::new(), 0, 3 * h, 3 * h);
        let ana = r.rows.iter().find(|r| r.key == "ana").expect("ana");
        assert!((ana.requested_core_hours - 3.0).abs() < 1e-9, "{ana:?}");
        assert!((ana.requested_gib_hours - 6.0).abs() < 1e-9, "{ana:?}");
        assert_eq!(ana.used_core_hours, Some(0.5));
        assert_eq!(ana.peak_pod_memory_bytes, Some(7));
        assert_eq!(ana.jobs.get("Succeeded"), Some(&1));
        let none = r.rows.iter().find(|r| r.key == "(none)").expect("unlabelled");
        assert!((none.requested_core_hours - 4.0).abs() < 1e-9);
        assert_eq!(none.used_core_hours, None);
        let bo = r.rows.iter().find(|r| r.key == "bo").expect("bo");
        assert_eq!((bo.requested_core_hours, bo.jobs.get("Pending")), (0.0, Some(&1)));
        // Clipped: window [1h, 2h) counts one hour of each of ana's pods.
        let r = aggregate(By::User, &pods, &HashMap::new(), &HashMap::new(), h, 2 * h, 3 * h);
        let ana = r.rows.iter().find(|r| r.key == "ana").expect("ana");
        assert!((ana.requested_core_hours - 1.5).abs() < 1e-9);
        assert!(!r.usage_sampled);
    }

    #[test]
    fn a_run_across_midnight_is_split_by_day() {
        let h = 3_600_000;
        let pods = vec![pod("d", "ana", "driver", 1000, 0, Some(23 * h), Some(26 * h), "Failed")];
        let r = aggregate(By::Job, &pods, &HashMap::new(), &HashMap::new(), 0, 48 * h, 48 * h);
        let days: Vec<(&str, f64)> = r.daily.iter().map(|d| (d.day.as_str(), d.requested_core_hours)).collect();
        assert_eq!(days, vec![("1970-01-01", 1.0), ("1970-01-02", 2.0)]);
        assert_eq!(r.rows[0].key, "team-a/etl");
        assert_eq!(r.rows[0].latest_state.as_deref(), Some("Failed"));
        let csv = render(&r, Format::Csv);
        assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with("job,team-a/etl,1,0,1,0,0,0,0,3.000000,")), "{csv}");
    }

    #[test]
    fn times() {
        let now = 10 * MS_PER_DAY;
        assert_eq!(parse_time("--since", "7d", now).ok(), Some(3 * MS_PER_DAY));
        assert_eq!(parse_time("--since", "90s", now).ok(), Some(now - 90_000));
        assert_eq!(parse_time("--since", "1970-01-02", now).ok(), Some(MS_PER_DAY));
        assert_eq!(parse_time("--until", "1970-01-01T00:00:01Z", now).ok(), Some(1000));
        let e = parse_time("--since", "yesterday", now).expect_err("bad").to_string();
        assert!(e.starts_with("--since: \"yesterday\" is not a duration"), "{e}");
    }
}
