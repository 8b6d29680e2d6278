//! The provider process: refuses to run by hand, and exits when Terraform is done with it.

use std::path::Path;
use std::process::Command;

use sparkoss_acceptance_tests::procs::processes_linking;
use sparkoss_acceptance_tests::{provider_bin, Terraform, Workdir};

#[test]
fn run_by_hand_it_explains_itself_and_exits_1() {
    let bin = provider_bin().expect("builds");
    let out = Command::new(&bin).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("Terraform starts it"), "{err}");
    assert!(out.stdout.is_empty());
}

/// Pids of running processes whose executable is `exe` (an error when `/proc` cannot be read).
fn processes_of(exe: &Path) -> std::io::Result<Vec<u32>> {
    processes_linking("exe", exe)
}

#[test]
fn no_provider_process_outlives_terraform() {
    // A private copy of the binary, so processes of other tests running in parallel don't count.
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("terraform-provider-sparkoss");
    std::fs::copy(provider_bin().expect("builds"), &exe).expect("copies");
    let exe = exe.canonicalize().expect("canonical");
    for tf in Terraform::all().expect("terraform") {
        let wd = Workdir::new(&tf, &exe, "terraform {\n required_providers {\n sparkoss = { source = \"sparkoss/sparkoss\" }\n }\n}\nprovider \"sparkoss\" {}\nresource \"sparkoss_namespace\" \"n\" { name = \"a\" }\n").expect("workdir");
        for args in [&["validate"][..], &["plan", "-input=false"][..]] {
            let out = wd.run(args).expect("runs");
            assert!(out.success, "terraform {} {args:?}: {}", tf.label, out.stderr);
            // Terraform waits for its plugins before exiting; allow a moment for the kernel.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while !processes_of(&exe).expect("reads /proc").is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let left = processes_of(&exe).expect("reads /proc");
            assert_eq!(left, Vec::<u32>::new(), "terraform {} {args:?} left the provider running", tf.label);
        }
    }
}
