//! P2 benchmark: `terraform validate` on the quick start with the provider, against the same
//! Terraform on a configuration without it, side by side in one run; and the provider's peak
//! RSS during `validate`.
//!
//! Run: `cargo run --release -p sparkoss-acceptance-tests --bin bench-validate [-- RUNS | --quick]`
//! (`--quick`, for CI: 2 runs each.)
//!
//! To read the provider's peak RSS this binary also acts as a pass-through wrapper: a copy of
//! it named `terraform-provider-sparkoss` runs the real provider as its child, waits, and
//! records the child's `ru_maxrss`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sparkoss_acceptance_tests::{provider_bin, repo_root, Terraform, Workdir};

const REAL: &str = "SPARKOSS_BENCH_REAL_PROVIDER";
const RSS_FILE: &str = "SPARKOSS_BENCH_RSS_FILE";

#[allow(unsafe_code)]
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    if rc == 0 {
        ru.ru_maxrss
    } else {
        -1
    }
}

fn wrapper_main() -> std::process::ExitCode {
    let Some(real) = std::env::var_os(REAL) else {
        eprintln!("bench wrapper: {REAL} is not set");
        return std::process::ExitCode::from(1);
    };
    let status = Command::new(real).args(std::env::args_os().skip(1)).status();
    let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
    if let Some(file) = std::env::var_os(RSS_FILE) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
            let _ = writeln!(f, "{}", children_max_rss_kib());
        }
    }
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time_validate(wd: &Workdir) -> Duration {
    let out = wd.run(&["validate", "-no-color"]).expect("terraform runs");
    assert!(out.success, "validate failed: {}", out.stderr);
    out.elapsed
}

fn main() -> std::process::ExitCode {
    let me = std::env::args().next().unwrap_or_default();
    if Path::new(&me).file_name().is_some_and(|n| n == "terraform-provider-sparkoss") {
        return wrapper_main();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let runs: usize = std::env::args().skip(1).find(|a| a != "--quick").and_then(|s| s.parse().ok()).unwrap_or(if quick { 2 } else { 15 });

    let real = provider_bin().expect("provider builds");
    let wrap_dir = tempfile::tempdir().expect("tempdir");
    let wrapper: PathBuf = wrap_dir.path().join("terraform-provider-sparkoss");
    std::fs::copy(std::env::current_exe().expect("own path"), &wrapper).expect("copy wrapper");
    let rss_file = wrap_dir.path().join("rss.txt");

    println!("P2: terraform validate, provider vs no provider ({runs} runs each, alternating; median)");
    println!("{:<10} {:>16} {:>16} {:>12} {:>22}", "terraform", "quickstart ms", "baseline ms", "diff ms", "provider peak RSS MiB");
    for tf in Terraform::all().expect("terraform installed") {
        let with = Workdir::new(&tf, &real, "").expect("workdir");
        with.load_example(&repo_root().join("examples/quickstart")).expect("example");
        // Baseline: the same Terraform with no provider plugin to start. terraform_data is built
        // into Terraform 1.4+; 1.0 gets an equivalent configuration of locals and outputs.
        let baseline_tf = if tf.label == "1.0" {
            "locals {\n  a = \"x\"\n}\noutput \"a\" {\n  value = local.a\n}\n"
        } else {
            "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\nresource \"terraform_data\" \"b\" {\n  input = terraform_data.a.output\n}\n"
        };
        let without = Workdir::new(&tf, &real, baseline_tf).expect("workdir");
        let (_, _) = (time_validate(&with), time_validate(&without)); // warm caches
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            a.push(time_validate(&with));
            b.push(time_validate(&without));
        }
        let (ma, mb) = (median(&mut a), median(&mut b));

        let mut rss_wd = Workdir::new(&tf, &wrapper, "").expect("workdir");
        rss_wd.load_example(&repo_root().join("examples/quickstart")).expect("example");
        rss_wd.set_env(REAL, &real.display().to_string());
        rss_wd.set_env(RSS_FILE, &rss_file.display().to_string());
        let _ = std::fs::remove_file(&rss_file);
        for _ in 0..3 {
            time_validate(&rss_wd);
        }
        let peak_kib =
            std::fs::read_to_string(&rss_file).unwrap_or_default().lines().filter_map(|l| l.trim().parse::<i64>().ok()).max().unwrap_or(-1);
        println!(
            "{:<10} {:>16.1} {:>16.1} {:>+12.1} {:>22.1}",
            tf.version().unwrap_or_else(|_| tf.label.to_string()).trim_start_matches("Terraform "),
            ms(ma),
            ms(mb),
            ms(ma) - ms(mb),
            peak_kib as f64 / 1024.0
        );
    }
    println!("goal: diff <= +50 ms");
    std::process::ExitCode::SUCCESS
}
