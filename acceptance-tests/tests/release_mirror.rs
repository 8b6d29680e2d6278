//! The provider as Terraform users install it: `scripts/release` writes the provider's zip,
//! SHA256SUMS, manifest and a filesystem mirror; real Terraform 1.15.x and 1.0.3 `init` from that
//! mirror (no `dev_overrides`, no registry), lock the package's hashes, verify them on the next
//! `init`, and refuse a package changed after locking and a version constraint the release does
//! not satisfy. Nothing leaves the machine: the CLI configuration names the mirror and nothing
//! else, and every proxy variable points at a closed port on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use sparkoss_acceptance_tests::{repo_root, Output, Terraform, Workdir};
use sparkoss_testkit::digest::sha256_hex;

/// The workspace version, which the provider crate inherits.
const VERSION: &str = env!("CARGO_PKG_VERSION");

const REQUIRED: &str =
    "terraform {\n  required_providers {\n    sparkoss = { source = \"sparkoss/sparkoss\", version = \"~> 0.1\" }\n  }\n}\n";

fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux_{arch}")
}

fn binary_name() -> String {
    format!("terraform-provider-sparkoss_v{VERSION}")
}

fn zip_name() -> String {
    format!("terraform-provider-sparkoss_{VERSION}_{}.zip", platform())
}

fn sums_name() -> String {
    format!("terraform-provider-sparkoss_{VERSION}_SHA256SUMS")
}

/// Runs `scripts/release --provider-only --dist DIST` with extra environment variables.
fn run_release(dist: &Path, env: &[(&str, &str)]) -> Output {
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/release")).args(["--provider-only", "--dist"]).arg(dist).stdin(Stdio::null());
    // What cargo sets for this test's own package is not the release build's (see there).
    sparkoss_quickstart::workspace::without_package_env(&mut cmd);
    let out = cmd.envs(env.iter().copied()).output().expect("running scripts/release");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// The release every test installs from, made once per test process (the release build of the
/// provider is cargo's, so a second run only packages).
fn dist() -> &'static Path {
    static DIST: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dist = DIST.get_or_init(|| {
        let dist = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("release-mirror").join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        let out = run_release(&dist, &[]);
        eprintln!("scripts/release --provider-only: {:.1}s", out.elapsed.as_secs_f64());
        if out.success {
            Ok(dist)
        } else {
            Err(format!("scripts/release failed:\n{}\n{}", out.stdout, out.stderr))
        }
    });
    match dist {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs a command that must succeed and returns its stdout.
fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The one file of a provider zip, read with `unzip`.
fn unzip_binary(zip: &Path) -> Vec<u8> {
    run_ok(Command::new("unzip").arg("-p").arg(zip).arg(binary_name()))
}

/// Terraform's `h1:` hash of a package (Go's dirhash.Hash1): sha256 over the lines
/// "<sha256 hex>  <name>\n" of its files, sorted by name.
fn h1(files: &[(String, Vec<u8>)]) -> String {
    let mut files: Vec<_> = files.iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let summary: String = files.iter().map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes))).collect();
    format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary.as_bytes())))
}

/// The hashes in a lock file (which names only `sparkoss/sparkoss` here), sorted.
fn locked_hashes(lock: &str) -> Vec<String> {
    let mut hashes: Vec<String> = lock
        .lines()
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"'))
        .filter(|l| l.starts_with("h1:") || l.starts_with("zh:"))
        .map(str::to_owned)
        .collect();
    hashes.sort();
    hashes
}

/// A mirror of its own (a copy of the release's), for a test that changes it.
fn own_mirror() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::Builder::new().prefix("sparkoss-mirror-").tempdir().expect("temp dir");
    let pkg_dir = root.path().join("registry.terraform.io/sparkoss/sparkoss");
    std::fs::create_dir_all(&pkg_dir).expect("mirror dir");
    std::fs::copy(dist().join("mirror/registry.terraform.io/sparkoss/sparkoss").join(zip_name()), pkg_dir.join(zip_name()))
        .expect("copying the zip");
    (root, pkg_dir.join(zip_name()))
}

fn workdir(tf: &Terraform, mirror: &Path, main_tf: &str) -> Workdir {
    let mut wd = Workdir::from_mirror(tf, mirror, main_tf).expect("workdir");
    // No ~/.terraformrc, ~/.terraform.d or plugin cache of this machine takes part.
    let home = wd.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    wd.set_env("HOME", &home.display().to_string());
    // Any attempt to reach a registry would go to a closed port and fail the test.
    for proxy in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        wd.set_env(proxy, "http://127.0.0.1:9");
    }
    wd.set_env("NO_PROXY", "");
    wd.set_env("no_proxy", "");
    wd
}

/// Stdout and stderr with every run of whitespace made one space (Terraform wraps its messages).
fn flat(out: &Output) -> String {
    format!("{} {}", out.stdout, out.stderr).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn init(wd: &Workdir, tf: &Terraform) -> Output {
    let out = wd.run(&["init", "-input=false", "-no-color"]).expect("terraform init");
    eprintln!("terraform {} init: {:.1}s, success {}", tf.label, out.elapsed.as_secs_f64(), out.success);
    out
}

#[test]
fn the_release_holds_the_zip_sums_manifest_and_mirror_terraform_expects() {
    let dist = dist();
    let zip = dist.join(zip_name());
    let manifest = dist.join(format!("terraform-provider-sparkoss_{VERSION}_manifest.json"));

    let doc: serde_json::Value = serde_json::from_slice(&read(&manifest)).expect("manifest is JSON");
    assert_eq!(doc, serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}}));

    // SHA256SUMS: the zip and the manifest, in sha256sum's format, with their real hashes.
    let sums = String::from_utf8(read(&dist.join(sums_name()))).expect("utf-8");
    let mut listed: Vec<(String, String)> =
        sums.lines().map(|l| l.split_once("  ").map(|(h, n)| (n.to_owned(), h.to_owned())).expect("<hash>  <name>")).collect();
    listed.sort();
    let manifest_name = format!("terraform-provider-sparkoss_{VERSION}_manifest.json");
    let mut expected = vec![(zip_name(), sha256_hex(&read(&zip))), (manifest_name, sha256_hex(&read(&manifest)))];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(!dist.join(format!("{}.sig", sums_name())).exists(), "no signature without a key");

    // The zip holds exactly the binary, executable, and the binary reports the release's version.
    let names = String::from_utf8(run_ok(Command::new("unzip").arg("-Z1").arg(&zip))).expect("utf-8");
    assert_eq!(names.lines().collect::<Vec<_>>(), [binary_name()]);
    let details = String::from_utf8(run_ok(Command::new("unzip").arg("-Z").arg(&zip))).expect("utf-8");
    assert!(details.lines().any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(&binary_name())), "{details}");
    let unpacked = tempfile::tempdir().expect("temp dir");
    run_ok(Command::new("unzip").arg("-q").arg(&zip).arg("-d").arg(unpacked.path()));
    let version = run_ok(Command::new(unpacked.path().join(binary_name())).arg("--version"));
    assert_eq!(String::from_utf8_lossy(&version).trim(), format!("terraform-provider-sparkoss {VERSION}"));

    // The mirror's packed layout holds the same zip.
    let mirrored = dist.join("mirror/registry.terraform.io/sparkoss/sparkoss").join(zip_name());
    assert_eq!(read(&mirrored), read(&zip));
}

#[test]
fn init_from_the_mirror_locks_the_package_hashes_the_next_init_verifies_them_and_validate_warns_of_nothing() {
    let dist = dist();
    let zip = dist.join(zip_name());
    let binary = unzip_binary(&zip);
    let h1_of_zip = h1(&[(binary_name(), binary.clone())]);
    // The same binary through dev_overrides: the warning this test expects init to remove.
    let dev = tempfile::tempdir().expect("temp dir");
    let dev_bin = dev.path().join("terraform-provider-sparkoss");
    std::fs::write(&dev_bin, &binary).expect("writing the binary");
    std::fs::set_permissions(&dev_bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    for tf in Terraform::all().expect("terraform") {
        let overridden = Workdir::new(&tf, &dev_bin, REQUIRED).expect("workdir").run(&["validate", "-no-color"]).expect("validate");
        assert!(flat(&overridden).contains("Provider development overrides are in effect"), "terraform {}: {overridden:?}", tf.label);

        let wd = workdir(&tf, &dist.join("mirror"), REQUIRED);
        let first = init(&wd, &tf);
        assert!(first.success, "terraform {} init:\n{}\n{}", tf.label, first.stdout, first.stderr);
        let all = flat(&first);
        assert!(all.contains(&format!("Installing sparkoss/sparkoss v{VERSION}")), "{all}");
        assert!(!all.contains("development overrides"), "{all}");

        let lock = std::fs::read_to_string(wd.file(".terraform.lock.hcl")).expect("init writes .terraform.lock.hcl");
        assert!(lock.contains("provider \"registry.terraform.io/sparkoss/sparkoss\""), "{lock}");
        assert!(lock.contains(&format!("version     = \"{VERSION}\"")), "{lock}");
        assert!(lock.contains("constraints = \"~> 0.1\""), "{lock}");
        // A package from a filesystem mirror is recorded by its h1: hash alone (computed over
        // the unpacked files; zh: hashes come only from a registry's signed SHA256SUMS).
        assert_eq!(locked_hashes(&lock), std::slice::from_ref(&h1_of_zip), "terraform {}", tf.label);

        let validation = wd.validate().expect("validate");
        assert!(validation.valid, "{validation:?}");
        assert!(validation.diagnostics.is_empty(), "terraform {}: {:?}", tf.label, validation.diagnostics);
        let plain = wd.run(&["validate", "-no-color"]).expect("validate");
        assert!(plain.success && !flat(&plain).contains("development overrides"), "{plain:?}");
        assert!(flat(&plain).contains("The configuration is valid"), "{plain:?}");

        // Installed again from the mirror (nothing cached), checked against the lock, lock unchanged.
        std::fs::remove_dir_all(wd.file(".terraform")).expect("removing .terraform");
        let second = init(&wd, &tf);
        assert!(second.success, "terraform {} second init:\n{}\n{}", tf.label, second.stdout, second.stderr);
        assert!(flat(&second).contains("Reusing previous version of sparkoss/sparkoss from the dependency lock file"), "{second:?}");
        assert_eq!(std::fs::read_to_string(wd.file(".terraform.lock.hcl")).expect("lock"), lock);
    }
}

#[test]
fn a_package_changed_after_locking_is_refused_by_init() {
    for tf in Terraform::all().expect("terraform") {
        let (mirror, zip) = own_mirror();
        let wd = workdir(&tf, mirror.path(), REQUIRED);
        let first = init(&wd, &tf);
        assert!(first.success, "{}\n{}", first.stdout, first.stderr);
        let lock = std::fs::read_to_string(wd.file(".terraform.lock.hcl")).expect("lock");

        // Same name, same version, one byte more in the binary.
        let stage = tempfile::tempdir().expect("temp dir");
        let mut binary = unzip_binary(&zip);
        binary.push(0);
        std::fs::write(stage.path().join(binary_name()), &binary).expect("writing the changed binary");
        std::fs::remove_file(&zip).expect("removing the zip");
        run_ok(Command::new("zip").current_dir(stage.path()).arg("-q").arg(&zip).arg(binary_name()));

        std::fs::remove_dir_all(wd.file(".terraform")).expect("removing .terraform");
        let second = init(&wd, &tf);
        let all = flat(&second);
        assert!(!second.success, "terraform {} installed a changed package:\n{all}", tf.label);
        assert!(all.contains("doesn't match any of the checksums previously recorded in the dependency lock file"), "{all}");
        assert_eq!(std::fs::read_to_string(wd.file(".terraform.lock.hcl")).expect("lock"), lock, "the lock is left as it was");
    }
}

#[test]
fn a_version_constraint_the_release_does_not_satisfy_fails_at_init() {
    let main_tf = REQUIRED.replace("~> 0.1", "~> 0.2");
    for tf in Terraform::all().expect("terraform") {
        let wd = workdir(&tf, &dist().join("mirror"), &main_tf);
        let out = init(&wd, &tf);
        let all = flat(&out);
        assert!(!out.success, "{all}");
        assert!(all.contains("no available releases match the given constraints ~> 0.2"), "terraform {}:\n{all}", tf.label);
        let lock = std::fs::read_to_string(wd.file(".terraform.lock.hcl")).unwrap_or_default();
        assert!(!lock.contains("sparkoss"), "nothing is locked: {lock}");
    }
}

/// A throwaway GnuPG home; its agent is stopped on drop.
struct GnupgHome(tempfile::TempDir);

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").args(["--kill", "gpg-agent"]).env("GNUPGHOME", self.0.path()).status();
    }
}

#[test]
fn a_signing_key_signs_the_sums_no_passphrase_is_printed_and_the_packages_are_reproducible() {
    let shared = dist();
    // Short path: gpg-agent's socket lives in GNUPGHOME.
    let home = GnupgHome(tempfile::Builder::new().prefix("gpg-").tempdir_in("/tmp").expect("temp dir"));
    let gnupg = home.0.path().display().to_string();
    let passphrase = "correct horse battery staple 7f3a";
    let mut gen = Command::new("gpg")
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0"])
        .args(["--quick-gen-key", "sparkoss release test <release-test@sparkoss.invalid>", "ed25519", "sign", "1d"])
        .env("GNUPGHOME", &gnupg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpg");
    {
        use std::io::Write as _;
        let mut stdin = gen.stdin.take().expect("stdin");
        stdin.write_all(passphrase.as_bytes()).expect("passphrase to gpg");
    }
    let done = gen.wait_with_output().expect("gpg --quick-gen-key");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let keys =
        String::from_utf8(run_ok(Command::new("gpg").args(["--batch", "--with-colons", "--list-secret-keys"]).env("GNUPGHOME", &gnupg)))
            .expect("utf-8");
    let fingerprint = keys.lines().find_map(|l| l.strip_prefix("fpr:")).map(|l| l.trim_matches(':').to_owned()).expect("a key fingerprint");

    let dist = tempfile::tempdir().expect("temp dir");
    let out =
        run_release(dist.path(), &[("GNUPGHOME", &gnupg), ("SPARKOSS_GPG_KEY", &fingerprint), ("SPARKOSS_GPG_PASSPHRASE", passphrase)]);
    eprintln!("scripts/release --provider-only with a key: {:.1}s", out.elapsed.as_secs_f64());
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains(passphrase) && !out.stderr.contains(passphrase), "the passphrase was printed");

    let sums = dist.path().join(sums_name());
    let sig = dist.path().join(format!("{}.sig", sums_name()));
    let verify = Command::new("gpg")
        .args(["--batch", "--status-fd", "1", "--verify"])
        .arg(&sig)
        .arg(&sums)
        .env("GNUPGHOME", &gnupg)
        .output()
        .expect("gpg --verify");
    let status = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && status.contains(&format!("VALIDSIG {fingerprint}")),
        "{status}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // A changed SUMS file no longer verifies.
    let mut forged = read(&sums);
    forged.extend_from_slice(b"0000  extra\n");
    std::fs::write(&sums, forged).expect("writing");
    let bad =
        Command::new("gpg").args(["--batch", "--verify"]).arg(&sig).arg(&sums).env("GNUPGHOME", &gnupg).output().expect("gpg --verify");
    assert!(!bad.status.success(), "a changed SHA256SUMS verified");

    // The same binary packaged again gives the same bytes (fixed mtimes and attributes).
    assert_eq!(read(&dist.path().join(zip_name())), read(&shared.join(zip_name())), "the zip is not reproducible");
}
