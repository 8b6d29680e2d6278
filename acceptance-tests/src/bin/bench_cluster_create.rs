//! P6 benchmark: one `sparkoss_cluster` create through real Terraform against the ACK emulator,
//! with ACK's "15 minutes" scaled down by `SCALE` (default 60, so the emulated create takes
//! 15 s and the provider's poll schedule shrinks by the same factor through
//! `SPARKOSS_POLL_SCALE`). Prints the ACK calls made during the create, by action, and the delay
//! between the cluster turning `running` and the provider's first look at it in that state,
//! both as measured and scaled back to real time.
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-cluster-create [-- SCALE]`

use std::process::ExitCode;
use std::time::Instant;

use sparkoss_acceptance_tests::localcloud::ack::Control;
use sparkoss_acceptance_tests::{provider_bin, LocalCloudProcess, Terraform, Workdir};

const REAL_CREATE_SECS: f64 = 15.0 * 60.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-cluster-create: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let scale: f64 =
        std::env::args().nth(1).map(|s| s.parse().map_err(|_| format!("SCALE {s:?} is not a number"))).transpose()?.unwrap_or(60.0);
    if !(1.0..=3600.0).contains(&scale) {
        return Err("SCALE must be between 1 and 3600".into());
    }
    let delay_ms = (REAL_CREATE_SECS / scale * 1000.0).round() as u64;
    let cloud = LocalCloudProcess::start(&[
        "--access-key-id",
        "LTAIbench",
        "--access-key-secret",
        "bench-secret",
        "--create-delay",
        &format!("{delay_ms}ms"),
        "--no-kubelet",
    ])
    .map_err(|e| e.to_string())?;
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    let tf = Terraform::all().map_err(|e| e.to_string())?.into_iter().next().ok_or("no Terraform installed")?;
    let main_tf = format!(
        r#"terraform {{
  required_providers {{
    sparkoss = {{ source = "sparkoss/sparkoss" }}
  }}
}}
provider "sparkoss" {{
  region = "cn-local"
  endpoints {{
    ack = "{}"
  }}
}}
resource "sparkoss_cluster" "bench" {{
  name = "bench"
  worker_pool {{
    name           = "workers"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = 1
    max_size       = 10
  }}
}}
"#,
        cloud.endpoints.ack_endpoint
    );
    let mut wd = Workdir::new(&tf, &provider_bin().map_err(|e| e.to_string())?, &main_tf).map_err(|e| e.to_string())?;
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
    println!("P6 cluster create (terraform {}, emulated 15 min create scaled 1/{scale} = {delay_ms} ms)", tf.label);
    println!("  ACK calls during create: {} (goal <= 30)", calls.len());
    for (action, n) in &by_action {
        println!("    {action}: {n}");
    }
    println!(
        "  running -> provider noticed: {notice_ms} ms measured = {:.1} s at real scale (goal <= 2 s real)",
        notice_ms as f64 * scale / 1000.0
    );
    println!("  terraform apply wall time: {:.2} s", wall.as_secs_f64());

    let out = wd.destroy().map_err(|e| e.to_string())?;
    if !out.success {
        return Err(format!("terraform destroy failed: {}", out.stdout));
    }
    Ok(())
}
