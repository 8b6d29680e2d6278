//! P1 benchmark: `terraform plan` (refresh included) of 100 `sparkoss_job` resources against the
//! local cloud's Kubernetes API, next to two kinds of 100 `terraform_data`, same Terraform
//! (1.15), in one run, interleaved:
//!
//! - the floor: each `terraform_data`'s `input` is an object with the same attributes and values
//!   as a real `sparkoss_job`'s state (taken from the jobs' state after apply), so Terraform's own
//!   cost for that much state is in the comparison. Goal: sparkoss_job ≤ 1.0× the floor.
//! - the small one: `input` is one string (what P1 compared against before; shown for reference).
//!
//! Jobs are measured twice: with `local://` jars (a refresh is Kubernetes reads only) and with
//! one `oss://` jar on the local OSS emulator and the provider given OSS credentials (a refresh
//! also checks the jar's ETag, the drift check of a replaced jar).
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-job-plan [-- RUNS [COUNT [local|oss|both]]] [--quick]`
//! (`--quick`, for CI: one run of 10 resources each.)

use std::time::Duration;

use serde_json::json;
use sparkoss_acceptance_tests::{local_provider, provider_bin, KubeconfigFile, LocalCloudProcess, Terraform, Workdir, TERRAFORM_HEADER};
use sparkoss_testkit::kube_client::{request, set_kubelet_rule};

/// Bucket of the shared jar in `oss` mode.
const BUCKET: &str = "bench-jars";

/// Puts the jar every job of `oss` mode runs on the local OSS, with the keys it was started with.
fn upload_jar(lc: &LocalCloudProcess) -> Result<(), Box<dyn std::error::Error>> {
    use sparkoss_aliyun::oss::{Client, ClientConfig, Endpoint};
    let cfg = ClientConfig::new(Endpoint::parse(&lc.endpoints.oss_endpoint)?, "cn-local");
    let creds = sparkoss_aliyun::signing::Credentials {
        access_key_id: lc.endpoints.access_key_id.clone(),
        access_key_secret: lc.endpoints.access_key_secret.clone(),
        security_token: None,
    };
    let client = Client::new(cfg, creds)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        client.create_bucket(BUCKET).await?;
        client.put_object(BUCKET, "app.jar", b"not really a jar", None).await.map(|_| ())
    })?;
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `value` as an HCL expression: JSON is HCL's object and tuple syntax, less template sequences.
fn hcl(value: &serde_json::Value) -> String {
    value.to_string().replace("${", "$${").replace("%{", "%%{")
}

/// Leaf attributes of a state object (nested objects and lists counted by their leaves).
fn leaves(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(m) => m.values().map(leaves).sum::<usize>().max(1),
        serde_json::Value::Array(a) => a.iter().map(leaves).sum::<usize>().max(1),
        _ => 1,
    }
}

fn plan(wd: &Workdir) -> Result<Duration, Box<dyn std::error::Error>> {
    let out = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"])?;
    if !out.success {
        return Err(format!("plan should find no changes: {}\n{}", out.stdout, out.stderr).into());
    }
    Ok(out.elapsed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let positional: Vec<String> = std::env::args().skip(1).filter(|a| a != "--quick").collect();
    let (default_runs, default_n) = if quick { (1, 10) } else { (5, 100) };
    let runs: usize = positional.first().and_then(|s| s.parse().ok()).unwrap_or(default_runs).max(1);
    // The resource count (default 100; a small count shows the fixed cost of starting the provider).
    let n: usize = positional.get(1).and_then(|s| s.parse().ok()).unwrap_or(default_n).max(1);
    let (local, oss) = match positional.get(2).map(String::as_str) {
        None | Some("both") => (true, true),
        Some("local") => (true, false),
        Some("oss") => (false, true),
        Some(other) => return Err(format!("jar source {other:?}: use local, oss or both").into()),
    };
    let lc = LocalCloudProcess::start(&["--no-kubelet"])?;
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    set_kubelet_rule(&ep, &json!({"outcome": "succeed", "run_ms": 50, "log_lines": 1}))?;
    let (code, body) = request(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "bench"}})))?;
    if code != 201 {
        return Err(format!("creating the namespace: {code} {body}").into());
    }
    // Drivers run as this service account; the local cloud refuses pods whose account is missing.
    let sa = json!({"metadata": {"name": "spark-driver"}});
    let (code, body) = request(&ep, "POST", "/api/v1/namespaces/bench/serviceaccounts", Some(&sa))?;
    if code != 201 {
        return Err(format!("creating the service account: {code} {body}").into());
    }
    let tf = Terraform::all()?.into_iter().next().ok_or("no terraform")?;
    let provider = provider_bin()?;
    let kc = KubeconfigFile::new(&ep)?;
    if oss {
        upload_jar(&lc)?;
    }
    let jobs = |oss: bool| {
        let (provider_block, jar) = if oss {
            (local_provider(&lc.endpoints, &["oss"]), format!("oss://{BUCKET}/app.jar"))
        } else {
            ("provider \"sparkoss\" {}".to_owned(), "local:///opt/app.jar".to_owned())
        };
        // Different names per mode: both sets live in the same namespace at once.
        let prefix = if oss { "oss" } else { "local" };
        format!(
            r#"{TERRAFORM_HEADER}
{provider_block}
resource "sparkoss_job" "j" {{
  count            = {n}
  kubeconfig_path  = {:?}
  namespace        = "bench"
  name             = "{prefix}-${{count.index}}"
  image            = "registry.example.com/acme/spark-oss:3.5.3"
  main_application = "{jar}"
  executor {{
    instances = 0
  }}
}}
"#,
            kc.path.display().to_string()
        )
    };
    // (label, work dir): applied in this order, planned interleaved.
    let mut sets: Vec<(String, Workdir)> = Vec::new();
    for (on, is_oss, label) in [(local, false, "sparkoss_job, local:// jar"), (oss, true, "sparkoss_job, one oss:// jar")] {
        if on {
            sets.push((label.to_owned(), Workdir::new(&tf, &provider, &jobs(is_oss))?));
        }
    }
    for (what, wd) in &sets {
        let out = wd.apply(&[])?;
        if !out.success {
            return Err(format!("apply of {n} {what}: {}{}", out.stdout, out.stderr).into());
        }
        println!("apply {n} {what}: {:.2?}", out.elapsed);
    }
    // The floor's input: a real job's state, attribute for attribute.
    let state = sets
        .first()
        .and_then(|(_, wd)| wd.state_resources().first().and_then(|r| r["instances"][0]["attributes"].as_object().cloned()))
        .ok_or("no sparkoss_job in the state after apply")?;
    let state = serde_json::Value::Object(state);
    let (fields, leaf_count, bytes) = (state.as_object().map_or(0, |m| m.len()), leaves(&state), state.to_string().len());
    let floor = format!("resource \"terraform_data\" \"d\" {{\n  count = {n}\n  input = {}\n}}\n", hcl(&state));
    let small = format!("resource \"terraform_data\" \"d\" {{\n  count = {n}\n  input = \"job-${{count.index}}\"\n}}\n");
    let floor_label = format!("terraform_data, floor ({fields} top-level / {leaf_count} leaf attributes)");
    for (label, main_tf) in [(floor_label, floor), ("terraform_data, one string input".to_owned(), small)] {
        let wd = Workdir::new(&tf, &provider, &main_tf)?;
        let out = wd.apply(&[])?;
        if !out.success {
            return Err(format!("apply of {n} {label}: {}{}", out.stdout, out.stderr).into());
        }
        println!("apply {n} {label}: {:.2?}", out.elapsed);
        sets.push((label, wd));
    }
    let mut times: Vec<Vec<Duration>> = sets.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for ((_, wd), t) in sets.iter().zip(&mut times) {
            t.push(plan(wd)?);
        }
    }
    let medians: Vec<Duration> = times.iter().map(|t| median(t.clone())).collect();
    println!(
        "terraform {} plan (refresh) of {n} resources each, median of {runs} interleaved runs (a job's state: {fields} top-level attributes, {leaf_count} leaves, {bytes} bytes of JSON):",
        tf.label
    );
    for ((label, _), (m, t)) in sets.iter().zip(medians.iter().zip(&times)) {
        println!("  {label:<58} {m:>9.2?}  (all: {t:.2?})");
    }
    let jobs_count = usize::from(local) + usize::from(oss);
    let (floor_t, small_t) = (medians[jobs_count].as_secs_f64(), medians[jobs_count + 1].as_secs_f64());
    for ((label, _), m) in sets.iter().zip(&medians).take(jobs_count) {
        let r = m.as_secs_f64() / floor_t;
        println!(
            "  {label}: {r:.2}x the floor ({}: goal <= 1.0x), {:.2}x the one-string terraform_data",
            if r <= 1.0 { "met" } else { "not met" },
            m.as_secs_f64() / small_t
        );
    }
    for (_, wd) in sets.iter().take(jobs_count) {
        let _ = wd.destroy();
    }
    Ok(())
}
