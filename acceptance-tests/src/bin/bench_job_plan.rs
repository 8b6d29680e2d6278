//! P1 benchmark: `terraform plan` (refresh included) on 100 `sparkoss_job` resources against the
//! local cloud's Kubernetes API, next to 100 `terraform_data` resources, same Terraform (1.15),
//! one run side by side. Goal: at most 1.2×.
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-job-plan [-- RUNS [COUNT [local|oss]]]`
//!
//! `local` (the default) runs jobs whose jar is in the image, so a refresh is Kubernetes reads
//! only; `oss` gives every job the same `oss://` jar on the local OSS and the provider OSS
//! credentials, so a refresh also checks the jar's ETag (the drift check of a replaced jar).

use std::time::Duration;

use serde_json::json;
use sparkoss_acceptance_tests::{local_provider, provider_bin, KubeconfigFile, LocalCloudProcess, Terraform, Workdir, TERRAFORM_HEADER};
use sparkoss_localcloud::kube::{request, set_kubelet_rule};

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
    // The resource count (default 100; a small count shows the fixed cost of starting the provider).
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100).max(1);
    let oss = match std::env::args().nth(3).as_deref() {
        None | Some("local") => false,
        Some("oss") => true,
        Some(other) => return Err(format!("jar source {other:?}: use local or oss").into()),
    };
    let lc = LocalCloudProcess::start(&["--no-kubelet"])?;
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    set_kubelet_rule(&ep, &json!({"outcome": "succeed", "run_ms": 50, "log_lines": 1}))?;
    let (code, body) = request(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "bench"}})))?;
    if code != 201 {
        return Err(format!("creating the namespace: {code} {body}").into());
    }
    let tf = Terraform::all()?.into_iter().next().ok_or("no terraform")?;
    let provider = provider_bin()?;
    let kc = KubeconfigFile::new(&ep)?;
    let (provider_block, jar) = if oss {
        upload_jar(&lc)?;
        (local_provider(&lc.endpoints, &["oss"]), format!("oss://{BUCKET}/app.jar"))
    } else {
        ("provider \"sparkoss\" {}".to_owned(), "local:///opt/app.jar".to_owned())
    };

    let jobs = format!(
        r#"{TERRAFORM_HEADER}
{provider_block}
resource "sparkoss_job" "j" {{
  count            = {n}
  kubeconfig_path  = {:?}
  namespace        = "bench"
  name             = "job-${{count.index}}"
  image            = "registry.example.com/acme/spark-oss:3.5.3"
  main_application = "{jar}"
  executor {{
    instances = 0
  }}
}}
"#,
        kc.path.display().to_string()
    );
    let data = format!("resource \"terraform_data\" \"d\" {{\n  count = {n}\n  input = \"job-${{count.index}}\"\n}}\n");
    let wd_jobs = Workdir::new(&tf, &provider, &jobs)?;
    let wd_data = Workdir::new(&tf, &provider, &data)?;
    for (what, wd) in [("sparkoss_job", &wd_jobs), ("terraform_data", &wd_data)] {
        let out = wd.apply(&[])?;
        if !out.success {
            return Err(format!("apply of {n} {what}: {}", out.stderr).into());
        }
        println!("apply {n} {what}: {:.2?}", out.elapsed);
    }
    let mut t_jobs = Vec::new();
    let mut t_data = Vec::new();
    for _ in 0..runs {
        for (wd, times) in [(&wd_jobs, &mut t_jobs), (&wd_data, &mut t_data)] {
            let out = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"])?;
            if !out.success {
                return Err(format!("plan should find no changes: {}\n{}", out.stdout, out.stderr).into());
            }
            times.push(out.elapsed);
        }
    }
    let (j, d) = (median(t_jobs.clone()), median(t_data.clone()));
    let source = if oss { "one oss:// jar" } else { "local:// jars" };
    println!("terraform {} plan (refresh) of {n} resources ({source}), median of {runs} runs:", tf.label);
    println!("  sparkoss_job   {j:.2?}  (all: {t_jobs:.2?})");
    println!("  terraform_data {d:.2?}  (all: {t_data:.2?})");
    println!("  ratio {:.2}x (goal <= 1.2x)", j.as_secs_f64() / d.as_secs_f64());
    let _ = wd_jobs.destroy();
    Ok(())
}
