//! P6 benchmark: `sparkoss_cluster` creates through real Terraform against the ACK emulator,
//! with ACK's "15 minutes" scaled down by `SCALE` (default 60, so the emulated create takes
//! 15 s and the provider's poll schedule shrinks by the same factor through
//! `SPARKOSS_POLL_SCALE`). Prints the ACK calls made during each create, by action, and the
//! delay between the cluster turning `running` and the provider's first look at it in that
//! state, both as measured and scaled back to real time.
//!
//! With `RUNS` > 1 the creates last 15 minutes plus `i * 45 s / RUNS` (real time), spread over
//! one interval of the provider's longest poll wait: the delay of a single create depends on
//! where its end falls between two polls, so the spread shows the delay's real range and mean.
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-cluster-create [-- SCALE [RUNS] | --quick]`
//! (`--quick`, for CI: one create at SCALE 900, about a second of emulated create.)

use std::process::ExitCode;
use std::time::Instant;

use sparkoss_acceptance_tests::{cluster_config, provider_bin, LocalCloudProcess, Terraform, Workdir};
use sparkoss_localcloud::ack::Control;

const REAL_CREATE_SECS: f64 = 15.0 * 60.0;
/// The provider's longest wait between two polls, at real scale.
const REAL_MAX_POLL_SECS: f64 = 45.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-cluster-create: {e}");
            ExitCode::from(1)
        }
    }
}

/// What one create cost.
struct Figures {
    calls: usize,
    notice_real_secs: f64,
}

fn run() -> Result<(), String> {
    let quick = std::env::args().any(|a| a == "--quick");
    let positional: Vec<String> = std::env::args().skip(1).filter(|a| a != "--quick").collect();
    let arg = |i: usize, what: &str| -> Result<Option<f64>, String> {
        positional.get(i).map(|s| s.parse::<f64>().map_err(|_| format!("{what} {s:?} is not a number"))).transpose()
    };
    let scale = arg(0, "SCALE")?.unwrap_or(if quick { 900.0 } else { 60.0 });
    if !(1.0..=3600.0).contains(&scale) {
        return Err("SCALE must be between 1 and 3600".into());
    }
    let runs = arg(1, "RUNS")?.unwrap_or(1.0);
    if !(1.0..=20.0).contains(&runs) || runs.fract() != 0.0 {
        return Err("RUNS must be a whole number between 1 and 20".into());
    }
    let runs = runs as usize;
    let tf = Terraform::all().map_err(|e| e.to_string())?.into_iter().next().ok_or("no Terraform installed")?;
    let mut all = Vec::new();
    for i in 0..runs {
        let real_secs = REAL_CREATE_SECS + REAL_MAX_POLL_SECS * i as f64 / runs as f64;
        all.push(one(&tf, scale, real_secs)?);
    }
    if runs > 1 {
        let delays: Vec<f64> = all.iter().map(|f| f.notice_real_secs).collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        let max = delays.iter().cloned().fold(0.0, f64::max);
        let min = delays.iter().cloned().fold(f64::INFINITY, f64::min);
        let calls = all.iter().map(|f| f.calls).max().unwrap_or(0);
        let last = REAL_CREATE_SECS + REAL_MAX_POLL_SECS * (runs - 1) as f64 / runs as f64;
        println!(
            "P6 over {runs} creates lasting {REAL_CREATE_SECS:.0} s to {last:.0} s (real): running -> noticed \
             min {min:.1} s, mean {mean:.1} s, max {max:.1} s (real); at most {calls} ACK calls per create"
        );
    }
    Ok(())
}

fn one(tf: &Terraform, scale: f64, real_secs: f64) -> Result<Figures, String> {
    let delay_ms = (real_secs / scale * 1000.0).round() as u64;
    let cloud = LocalCloudProcess::start_with_keys(
        &["--create-delay", &format!("{delay_ms}ms"), "--no-kubelet"],
        Some(("LTAIbench", "bench-secret")),
    )
    .map_err(|e| e.to_string())?;
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    let pool = "  worker_pool {\n    name           = \"workers\"\n    instance_types = [\"ecs.g7.xlarge\"]\n    min_size       = 1\n    max_size       = 10\n  }";
    let main_tf = cluster_config(&cloud.endpoints.ack_endpoint, "bench", pool);
    let mut wd = Workdir::new(tf, &provider_bin().map_err(|e| e.to_string())?, &main_tf).map_err(|e| e.to_string())?;
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIbench");
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "bench-secret");
    wd.set_env("SPARKOSS_POLL_SCALE", &format!("{}", 1.0 / scale));

    let started = Instant::now();
    let out = wd.apply(&[]).map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    if !out.success {
        return Err(format!("terraform apply failed: {}", out.stdout));
    }
    let calls = ctl.calls()?;
    let clusters = ctl.clusters()?;
    let c = clusters.first().ok_or("no cluster was created")?;
    let running_at = c["running_at_ms"].as_u64().ok_or("no running time")?;
    let noticed = c["noticed_running_ms"].as_u64().ok_or("the provider never saw the cluster running")?;
    let notice_ms = noticed.saturating_sub(running_at);

    let mut by_action = std::collections::BTreeMap::<String, usize>::new();
    for call in &calls {
        *by_action.entry(call["action"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
    }
    let (m, s) = ((real_secs / 60.0).floor(), real_secs % 60.0);
    println!("P6 cluster create (terraform {}, emulated {m:.0}:{s:04.1} min create scaled 1/{scale} = {delay_ms} ms)", tf.label);
    println!("  ACK calls during create: {} (goal <= 30)", calls.len());
    for (action, n) in &by_action {
        println!("    {action}: {n}");
    }
    let notice_real_secs = notice_ms as f64 * scale / 1000.0;
    println!("  running -> provider noticed: {notice_ms} ms measured = {notice_real_secs:.1} s at real scale (goal <= 2 s real)");
    println!("  terraform apply wall time: {:.2} s", wall.as_secs_f64());

    // The deletion is not measured: skip its wait by removing the cluster out of band first.
    if let Some(id) = c["cluster_id"].as_str() {
        ctl.remove_cluster(id)?;
    }
    let out = wd.destroy().map_err(|e| e.to_string())?;
    if !out.success {
        return Err(format!("terraform destroy failed: {}", out.stdout));
    }
    Ok(Figures { calls: calls.len(), notice_real_secs })
}
