//! Benchmarks of `sparkoss-meter` (issue 13), printed as figures, not asserted:
//!
//! 1. ingest: pod events per second into SQLite and PostgreSQL, through the collector's own
//!    write path (`Db::apply`, batches of up to 512 events in one transaction);
//! 2. `report --by user` over one million samples (goal < 1 s on SQLite), and PostgreSQL's time;
//! 3. the meter's peak RSS (VmHWM) with 10,000 pods watched on the local cloud (goal ≤ 100 MiB).
//!
//! `--quick` runs small sizes (for CI: it checks the bench still runs and prints). PostgreSQL is
//! Debian's server, started on 127.0.0.1 by the harness.
//!
//! ```text
//! cargo run --release -p sparkoss-acceptance-tests --bin bench-meter [-- --quick]
//! ```

use std::time::{Duration, Instant};

use serde_json::json;
use sparkoss_acceptance_tests::{KubeconfigFile, LocalCloudProcess, MeterProcess, PostgresServer};
use sparkoss_meter::db::{Change, DatabaseUrl, Db, Sample};
use sparkoss_meter::pod::{PodRecord, Role};
use sparkoss_meter::report::{self, By};

struct Sizes {
    events: usize,
    pods: usize,
    samples_per_pod: usize,
    watched: usize,
}

fn record(i: usize, now: i64, ended: bool) -> PodRecord {
    PodRecord {
        uid: format!("uid-{i:07}"),
        namespace: format!("team-{}", i % 20),
        name: format!("job-{}-exec-{}", i / 10, i % 10),
        job: format!("job-{}", i / 10),
        user: format!("user-{}", i % 50),
        role: if i.is_multiple_of(10) { Role::Driver } else { Role::Executor },
        cpu_request_millis: 1000,
        memory_request_bytes: 1 << 30,
        cpu_limit_millis: None,
        memory_limit_bytes: Some(1 << 30),
        created_ms: now - 3_600_000,
        started_ms: Some(now - 3_590_000),
        ended_ms: ended.then_some(now - 60_000),
        phase: if ended { "Succeeded".into() } else { "Running".into() },
        exit_code: ended.then_some(0),
        observed_ms: now,
    }
}

/// Events per second through `Db::apply`: each pod is created, then updated to its end.
async fn ingest(db: &Db, events: usize) -> f64 {
    let now = sparkoss_meter::collect::now_ms();
    let pods = events / 2;
    let all: Vec<Change> = (0..pods)
        .map(|i| Change::Upsert(Box::new(record(i, now, false))))
        .chain((0..pods).map(|i| Change::Upsert(Box::new(record(i, now, true)))))
        .collect();
    let started = Instant::now();
    for batch in all.chunks(512) {
        db.apply(batch).await.expect("ingest");
    }
    all.len() as f64 / started.elapsed().as_secs_f64()
}

/// Fills `pods` pods with `per_pod` samples each, then times `report --by user` (best of 3).
async fn report_time(db: &Db, pods: usize, per_pod: usize) -> (usize, Duration, Duration) {
    let now = sparkoss_meter::collect::now_ms();
    let base = 2_000_000;
    let changes: Vec<Change> = (0..pods).map(|i| Change::Upsert(Box::new(record(base + i, now, true)))).collect();
    for batch in changes.chunks(512) {
        db.apply(batch).await.expect("pods");
    }
    let fill = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..pods {
        for s in 0..per_pod {
            batch.push(Sample {
                pod_uid: format!("uid-{:07}", base + i),
                at_ms: now - 3_590_000 + (s as i64) * 3_000,
                cpu_nanocores: 500_000_000 + (s as i64 % 7) * 1_000_000,
                memory_bytes: 700 << 20,
                window_ms: 3_000,
            });
            if batch.len() == 5000 {
                db.add_samples(&batch).await.expect("samples");
                batch.clear();
            }
        }
    }
    db.add_samples(&batch).await.expect("samples");
    let filled = fill.elapsed();
    let count = db.sample_count().await.expect("count") as usize;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = report::build(db, By::User, 0, now + 1, now + 1).await.expect("report");
        best = best.min(t.elapsed());
        assert!(r.usage_sampled && !r.rows.is_empty(), "the report read the samples");
    }
    (count, filled, best)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Creates `n` labelled pods in namespace `bench`, 8 requests at a time over kept-alive
/// connections (the loopback listener serves plain HTTP as the administrator).
fn create_pods(kubernetes_endpoint: &str, n: usize) {
    use futures_util::StreamExt;
    let base = kubernetes_endpoint.replacen("https://", "http://", 1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        futures_util::stream::iter(0..n)
            .map(|i| {
                let (client, url) = (client.clone(), format!("{base}/api/v1/namespaces/bench/pods"));
                async move {
                    let role = if i.is_multiple_of(10) { "driver" } else { "executor" };
                    let pod = json!({"metadata": {"name": format!("p-{i}"), "labels": {"app.kubernetes.io/managed-by": "sparkoss",
                                     "sparkoss.io/job": format!("job-{}", i / 10), "sparkoss.io/user": format!("user-{}", i % 50), "spark-role": role}},
                                     "spec": {"containers": [{"name": "spark", "image": "spark:bench", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}});
                    let resp = client.post(url).json(&pod).send().await.expect("create pod");
                    assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().await.unwrap_or_default());
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    });
}

/// The meter's peak RSS once it has recorded `n` running pods.
fn watched_rss(n: usize, db_url: &str) -> (u64, Duration) {
    let lc = LocalCloudProcess::start(&[]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let k = &ep.kubernetes_endpoint;
    // Pods stay Running for an hour: the meter tracks all of them at once.
    sparkoss_testkit::kube_client::set_kubelet_rule(k, &json!({"outcome": "succeed", "run_ms": 3_600_000})).expect("kubelet rule");
    let (code, _) =
        sparkoss_testkit::kube_client::request(k, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "bench"}}))).expect("ns");
    assert_eq!(code, 201);
    let created = Instant::now();
    create_pods(k, n);
    eprintln!("created {n} pods in {:.1?}", created.elapsed());
    let kc = KubeconfigFile::new(k).expect("kubeconfig");
    // Built before the clock starts: "tracked all after" is the meter's time, not cargo's.
    sparkoss_acceptance_tests::meter_bin().expect("sparkoss-meter builds");
    let started = Instant::now();
    let meter = MeterProcess::start(db_url, &ep, &kc.path, &["--interval", "5s"]).expect("meter starts");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, body) = meter.get("/healthz").expect("healthz");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["pods_watched"].as_u64() == Some(n as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "the meter did not track {n} pods: {body}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let synced = started.elapsed();
    // A few sampling rounds and watch events on top of the initial list.
    std::thread::sleep(Duration::from_secs(6));
    (vm_hwm_kib(meter.pid()).expect("VmHWM"), synced)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes { events: 4_000, pods: 100, samples_per_pod: 200, watched: 500 }
    } else {
        Sizes { events: 100_000, pods: 1_000, samples_per_pod: 1_000, watched: 10_000 }
    };
    println!("bench-meter{} (2 cores; release build recommended)", if quick { " --quick" } else { "" });
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
    let sqlite_report = format!("sqlite://{}/report.db", dir.path().display());
    // Separate databases for the two measures: the report's reads only its own pods and samples.
    let (pg, pg_report) = (PostgresServer::start().expect("PostgreSQL starts"), PostgresServer::start().expect("PostgreSQL starts"));
    for (name, url, report_url) in [("SQLite", sqlite.clone(), sqlite_report), ("PostgreSQL", pg.url(), pg_report.url())] {
        let db = Db::connect(&DatabaseUrl::parse(&url).expect("url")).await.expect("connect");
        let rate = ingest(&db, sizes.events).await;
        println!("ingest      {name:<10}  {:>7} pod events   {rate:>9.0} events/s", sizes.events);
        db.close().await;
        let db = Db::connect(&DatabaseUrl::parse(&report_url).expect("url")).await.expect("connect");
        let (count, filled, best) = report_time(&db, sizes.pods, sizes.samples_per_pod).await;
        println!(
            "report      {name:<10}  {count:>7} samples    --by user best of 3: {:>7.3} s   (filling took {:.1} s)",
            best.as_secs_f64(),
            filled.as_secs_f64()
        );
        db.close().await;
    }
    let sqlite_watch = format!("sqlite://{}/watch.db", dir.path().display());
    let (kib, synced) = tokio::task::spawn_blocking(move || watched_rss(sizes.watched, &sqlite_watch)).await.expect("rss bench");
    println!(
        "peak RSS    meter       {:>7} pods watched  VmHWM {:>6.1} MiB   (tracked all after {:.1} s)",
        sizes.watched,
        kib as f64 / 1024.0,
        synced.as_secs_f64()
    );
}
