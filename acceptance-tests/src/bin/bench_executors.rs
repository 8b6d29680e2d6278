//! P7 benchmark: the quick start's word count with 2 executors, on one local cloud (Docker
//! kubelet), run alternately by
//! - **sparkoss**: `terraform apply` of `examples/quickstart` (`sparkoss_job`: the provider makes
//!   the driver pod, the launcher fetches the jar and input and starts Spark), replaced each run;
//! - **spark-submit**: `examples/spark-submit/submit.sh` (Spark's own cluster mode; the image's
//!   entrypoint fetches the jar and input).
//!
//! For each run, from a watch on the pods: the driver pod's life (first seen → `Succeeded`) and
//! the time from the driver running to both executors running; also Terraform's and
//! spark-submit's own wall time. Prints every run and the medians, and the ratio of the driver
//! lives (goal: sparkoss ≤ 1.1 × spark-submit).
//!
//! With `--pyspark` the workload is `examples/pyspark` instead (`wordcount.py`, its Python UDF on
//! the 2 executors, `textutil.zip` as `py_files`), against `examples/spark-submit/submit-pyspark.sh`
//! (which returns once the driver exists: the driver's life is taken from the watch all the same).
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-executors [-- RUNS | --quick] [--pyspark]`
//! (default 3 runs of each; `--quick`, for CI: one run of each).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use sparkoss_acceptance_tests::{
    input_text, oss_put, pyspark_workdir, quickstart_workdir, repo_root, submit_pyspark, submit_wordcount, watch_pods, LocalCloudProcess,
    PodWatch, Terraform,
};
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-executors: {e}");
            ExitCode::from(1)
        }
    }
}

/// One run's figures, in seconds.
#[derive(Debug, Clone, Copy)]
struct Figures {
    /// What the user waits for: `terraform apply` or `spark-submit`.
    command: f64,
    /// The driver pod from first seen to `Succeeded`.
    driver_life: f64,
    /// From the driver running to both executors running.
    executors_up: f64,
}

/// The figures of the driver pod the watch saw first after `since` (the run's own).
fn figures(watch: &PodWatch, since: Instant, command: f64) -> Result<Figures, String> {
    let events = watch.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let role = |o: &Value| o["metadata"]["labels"]["spark-role"].as_str().unwrap_or("").to_owned();
    let uid = |o: &Value| o["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let driver =
        events.iter().filter(|(at, o)| *at >= since && role(o) == "driver").map(|(_, o)| uid(o)).next().ok_or("no driver pod was seen")?;
    let first = |pred: &dyn Fn(&Value) -> bool| events.iter().find(|(_, o)| pred(o)).map(|(at, _)| *at);
    let seen = first(&|o| uid(o) == driver).ok_or("driver never seen")?;
    let running = first(&|o| uid(o) == driver && o["status"]["phase"] == "Running").ok_or("the driver never ran")?;
    let done = first(&|o| uid(o) == driver && o["status"]["phase"] == "Succeeded").ok_or("the driver did not succeed")?;
    let mut executor_running: BTreeMap<String, Instant> = BTreeMap::new();
    for (at, o) in &events {
        let owned = o["metadata"]["ownerReferences"].as_array().is_some_and(|r| r.iter().any(|r| r["uid"] == driver.as_str()));
        if owned && role(o) == "executor" && o["status"]["phase"] == "Running" {
            executor_running.entry(uid(o)).or_insert(*at);
        }
    }
    if executor_running.len() != 2 {
        return Err(format!("{} executors ran, not 2", executor_running.len()));
    }
    let last_executor = executor_running.values().max().copied().unwrap_or(running);
    Ok(Figures {
        command,
        driver_life: (done - seen).as_secs_f64(),
        executors_up: last_executor.saturating_duration_since(running).as_secs_f64(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn run() -> Result<(), String> {
    let quick = std::env::args().any(|a| a == "--quick");
    let pyspark = std::env::args().any(|a| a == "--pyspark");
    let runs: usize = match std::env::args().skip(1).find(|a| a != "--quick" && a != "--pyspark") {
        None if quick => 1,
        Some(a) => a.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("RUNS {a:?} is not a positive number"))?,
        None => 3,
    };
    let jar = example_job_jar().map_err(|e| e.to_string())?;
    let image = build_quickstart_image(&mut |l| eprintln!("    {l}")).map_err(|e| e.to_string())?;
    let mut cloud =
        LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "1s", "--node-cpus", "4"]).map_err(|e| e.to_string())?;
    let ep = cloud.endpoints.clone();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let input = dir.path().join("words.txt");
    std::fs::write(&input, input_text()).map_err(|e| e.to_string())?;
    oss_put(&ep, "sparkoss-demo", &[("jobs/wordcount.jar", &jar), ("input/words.txt", &input)]);
    oss_put(&ep, "submit-jobs", &[("apps/wordcount.jar", &jar), ("data/words.txt", &input)]);
    if pyspark {
        let zip = dir.path().join("textutil.zip");
        let example = repo_root().join("examples/pyspark");
        let zipped = std::process::Command::new("zip")
            .arg("-q")
            .arg("-j")
            .arg(&zip)
            .arg(example.join("textutil/textutil.py"))
            .status()
            .map_err(|e| format!("running zip: {e}"))?;
        if !zipped.success() {
            return Err("zip failed".into());
        }
        oss_put(&ep, "sparkoss-demo", &[("pyspark/wordcount.py", &example.join("wordcount.py")), ("pyspark/textutil.zip", &zip)]);
    }
    let job = if pyspark { "pywordcount" } else { "wordcount" };
    let sparkoss_watch = watch_pods(&ep.kubernetes_endpoint, "team-a", &format!("sparkoss.io/job={job}"));
    let submit_watch = watch_pods(&ep.kubernetes_endpoint, "spark-jobs", &format!("sparkoss.io/job={job}"));

    let tf = Terraform::all().map_err(|e| e.to_string())?.into_iter().next().ok_or("no terraform")?;
    let wd = if pyspark { pyspark_workdir(&tf, &ep, &image.reference) } else { quickstart_workdir(&tf, &ep, &image.reference) }
        .map_err(|e| e.to_string())?;
    let mut sparkoss = Vec::new();
    let mut submit = Vec::new();
    for i in 0..runs {
        // sparkoss_job: the first apply makes the cluster and namespace too; later ones replace the job.
        let since = Instant::now();
        let out = if i == 0 { wd.apply(&[]) } else { wd.apply(&["-replace=sparkoss_job.wordcount"]) }.map_err(|e| e.to_string())?;
        if !out.success {
            return Err(format!("terraform apply failed:\n{}", out.stderr));
        }
        std::thread::sleep(Duration::from_millis(500));
        let f = figures(&sparkoss_watch, since, since.elapsed().as_secs_f64())?;
        println!(
            "run {}: sparkoss_job  apply {:6.1}s  driver life {:5.1}s  executors up {:4.1}s",
            i + 1,
            f.command,
            f.driver_life,
            f.executors_up
        );
        sparkoss.push(f);

        let since = Instant::now();
        let f = if pyspark {
            // The script returns once the driver exists; its end comes from the watch (bounded).
            let out = submit_pyspark(&ep, &image.reference, false).map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("spark-submit failed:\n{}", String::from_utf8_lossy(&out.stderr)));
            }
            let command = since.elapsed().as_secs_f64();
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                std::thread::sleep(Duration::from_millis(500));
                match figures(&submit_watch, since, command) {
                    Ok(f) => break f,
                    Err(e) if Instant::now() > deadline => return Err(format!("spark-submit's driver: {e}")),
                    Err(_) => {}
                }
            }
        } else {
            let out = submit_wordcount(&ep, &image.reference, "oss://submit-jobs/apps/wordcount.jar", "oss://submit-jobs/data/words.txt")
                .map_err(|e| e.to_string())?;
            if !out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("phase: Succeeded") {
                return Err(format!("spark-submit failed:\n{}", String::from_utf8_lossy(&out.stderr)));
            }
            std::thread::sleep(Duration::from_millis(500));
            figures(&submit_watch, since, since.elapsed().as_secs_f64())?
        };
        println!(
            "run {}: spark-submit  submit {:5.1}s  driver life {:5.1}s  executors up {:4.1}s",
            i + 1,
            f.command,
            f.driver_life,
            f.executors_up
        );
        submit.push(f);
    }
    let med = |v: &[Figures], f: fn(&Figures) -> f64| median(v.iter().map(f).collect());
    let (a, b) = (med(&sparkoss, |f| f.driver_life), med(&submit, |f| f.driver_life));
    println!(
        "\nP7{}, medians of {runs} runs each (2 executors, 1 core each, on a {}-CPU machine):",
        if pyspark { " (PySpark: wordcount.py, Python UDF)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("  driver life (job creation to completion): sparkoss_job {a:.1}s, spark-submit {b:.1}s, ratio {:.2} (goal <= 1.10)", a / b);
    println!(
        "  driver running -> both executors running: sparkoss_job {:.1}s, spark-submit {:.1}s",
        med(&sparkoss, |f| f.executors_up),
        med(&submit, |f| f.executors_up)
    );
    println!(
        "  the user's command: terraform apply {:.1}s (first run includes the cluster), spark-submit {:.1}s",
        med(&sparkoss, |f| f.command),
        med(&submit, |f| f.command)
    );
    let out = wd.destroy().map_err(|e| e.to_string())?;
    if !out.success {
        eprintln!("bench-executors: terraform destroy failed: {}", out.stderr);
    }
    cloud.stop();
    Ok(())
}
