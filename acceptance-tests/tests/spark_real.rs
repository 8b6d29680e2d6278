//! The two real parts of the end-to-end demo, proven on their own: the example Spark job
//! (`examples/jobs/wordcount`, compiled by `scripts/build-example-job`) really runs with
//! `spark-submit` inside the local Spark base image (real JRE, real Spark 3.5 jars), offline, and
//! prints and writes the word counts this test computes independently.
//!
//! Needs Docker, the Debian JDK and network access to PyPI on the first run (pyspark, ~320 MB,
//! installed once into `.tools/pyspark`). The base image is kept as a cache; containers are removed.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sparkoss_quickstart::spark_base::{ensure_spark_base_image, example_job_jar, CONTENT_LABEL};

/// Removes the container when the test ends, however it ends.
struct ContainerGuard(String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A deterministic text: mixed case, punctuation and blank lines, so tokenising matters.
fn generate_input() -> String {
    const VOCAB: &[&str] =
        &["spark", "oss", "Kubernetes", "alibaba", "cloud", "jar", "driver", "executor", "pod", "bucket", "terraform", "image"];
    let mut state: u64 = 0x5eed_2026;
    let mut text = String::new();
    for line in 0..400u32 {
        let words = 1 + (line % 9);
        for i in 0..words {
            // A small LCG: reproducible without a crate; skewed so counts differ between words.
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let pick = ((state >> 33) % 100) as usize;
            let idx = (pick * pick / 100) * VOCAB.len() / 100;
            let word = VOCAB[idx];
            let word = if (state >> 20).is_multiple_of(3) { word.to_uppercase() } else { word.to_string() };
            text.push_str(&word);
            text.push_str(match (state >> 10) % 5 {
                0 => ", ",
                1 => "! ",
                2 if i + 1 < words => "--",
                _ => " ",
            });
        }
        text.push('\n');
        if line.is_multiple_of(50) {
            text.push('\n');
        }
    }
    text
}

/// The counts the job must find: lower-cased runs of letters and digits.
fn expected_counts(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Runs a command with a deadline; on timeout the container is removed (by the guard) and the test fails.
fn run_bounded(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("docker run starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("docker run output"),
        Err(_) => {
            // Only the docker CLI process we started; the container itself goes with the guard.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("docker run did not finish within {limit:?}");
        }
    }
}

#[test]
fn wordcount_runs_with_spark_submit_in_the_base_image() {
    let t0 = Instant::now();
    let jar = example_job_jar().expect("scripts/build-example-job builds the example job");
    let t_jar = t0.elapsed();
    assert!(jar.is_file(), "{} exists", jar.display());

    let t1 = Instant::now();
    let image = ensure_spark_base_image(None).expect("the local Spark base image is built or reused");
    let t_image = t1.elapsed();
    assert!(image.spark_version.starts_with("3.5."), "Spark 3.5.x in the image: {}", image.spark_version);

    // Idempotent: asking again reuses the image with the same content label.
    let again = ensure_spark_base_image(None).expect("second ensure");
    assert!(!again.built, "an image with the same content must be reused");
    assert_eq!(again.content, image.content);

    // The image looks like apache/spark to the builder and to Spark on Kubernetes.
    let fmt = format!(
        "{{{{.Config.User}}}}|{{{{json .Config.Entrypoint}}}}|{{{{.Config.WorkingDir}}}}|{{{{index .Config.Labels \"{CONTENT_LABEL}\"}}}}"
    );
    let inspect =
        Command::new("docker").args(["image", "inspect", "--format", &fmt, &image.reference]).output().expect("docker image inspect");
    assert!(inspect.status.success(), "inspect: {}", String::from_utf8_lossy(&inspect.stderr));
    let inspect = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    assert_eq!(inspect, format!("185|[\"/opt/entrypoint.sh\"]|/opt/spark/work-dir|{}", image.content));

    // Input and an output folder the container's uid 185 can use.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let text = generate_input();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, &text).expect("write input");
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o644)).expect("chmod input");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir out");
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod out");

    let expected = expected_counts(&text);
    let total: u64 = expected.values().sum();
    let mut ranked: Vec<(&String, &u64)> = expected.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    assert!(expected.len() > 5 && total > 1000, "the generated input is not trivial");

    let name = format!("sparkoss-spark-real-{}", std::process::id());
    let _guard = ContainerGuard(name.clone());
    let mount = |host: &Path, at: &str, mode: &str| format!("{}:{at}:{mode}", host.display());
    let t2 = Instant::now();
    // `driver` goes through the image's entrypoint the way Spark on Kubernetes starts a driver
    // (spark-submit in client mode bound to the given address). No network: everything is local.
    // `--hostname localhost`: without a network Docker does not put the container's own name in
    // /etc/hosts, and Spark resolves its host name at start.
    let out = run_bounded(
        Command::new("docker").args([
            "run",
            "--rm",
            "--name",
            &name,
            "--network",
            "none",
            "--hostname",
            "localhost",
            "-e",
            "SPARK_DRIVER_BIND_ADDRESS=127.0.0.1",
            "-v",
            &mount(&jar, "/opt/sparkoss/job/wordcount.jar", "ro"),
            "-v",
            &mount(&input, "/opt/sparkoss/input/input.txt", "ro"),
            "-v",
            &mount(&out_dir, "/opt/sparkoss/output", "rw"),
            &image.reference,
            "driver",
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            "--class",
            "io.sparkoss.examples.WordCount",
            "/opt/sparkoss/job/wordcount.jar",
            "/opt/sparkoss/input/input.txt",
            "/opt/sparkoss/output/counts",
        ]),
        Duration::from_secs(180),
    );
    let t_run = t2.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "spark-submit failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    // Spark really ran: its own log lines are there, next to the job's output.
    assert!(stderr.contains("Running Spark version 3.5."), "Spark's log in stderr:\n{stderr}");

    // The summary line, last of the job's output.
    let summary = format!("sparkoss-wordcount: total={total} distinct={}", expected.len());
    let job_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("sparkoss-wordcount: ")).collect();
    assert_eq!(job_lines.last().copied(), Some(summary.as_str()), "stdout:\n{stdout}");
    // The ranking: the ten most frequent words with their counts, ties by word.
    let top: Vec<String> = ranked.iter().take(10).map(|(w, c)| format!("sparkoss-wordcount: {w}\t{c}")).collect();
    let printed: Vec<String> = job_lines.iter().filter(|l| l.contains('\t')).map(|l| l.to_string()).collect();
    assert_eq!(printed, top, "stdout:\n{stdout}");

    // The written result: one `word<TAB>count` per distinct word across the part files.
    let counts_dir = out_dir.join("counts");
    assert!(counts_dir.join("_SUCCESS").is_file(), "Spark's _SUCCESS marker in {}", counts_dir.display());
    let mut written = BTreeMap::new();
    for entry in std::fs::read_dir(&counts_dir).expect("list output") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")) {
            for line in std::fs::read_to_string(&path).expect("read part").lines() {
                let (w, c) = line.split_once('\t').expect("word<TAB>count");
                written.insert(w.to_string(), c.parse::<u64>().expect("count"));
            }
        }
    }
    assert_eq!(written, expected, "the counts written by the job");

    // The container is gone (--rm), nothing left behind under our name.
    let ps = Command::new("docker").args(["ps", "-aq", "--filter", &format!("name={name}")]).output().expect("docker ps");
    assert!(String::from_utf8_lossy(&ps.stdout).trim().is_empty(), "container {name} left behind");

    eprintln!(
        "spark_real timings: job jar {:.1}s, base image {:.1}s ({}), spark-submit run {:.1}s",
        t_jar.as_secs_f64(),
        t_image.as_secs_f64(),
        if image.built { "built" } else { "reused" },
        t_run.as_secs_f64()
    );
}
