//! P5: download a large object (1 GiB by default) from the local OSS emulator on loopback with
//! `sparkoss-launcher fetch` and with `curl` of a presigned URL of the same object; print both
//! throughputs, their ratio (goal: launcher ≥ 0.9× curl, in each mode) and the launcher's peak
//! RSS (goal: ≤ 64 MiB, the `VmHWM` of the launcher process alone).
//!
//! ```text
//! cargo run --release -p sparkoss-acceptance-tests --bin bench-oss-download [-- --size-mib 1024 --runs 5 --baseline PATH | --quick]
//! ```
//! The launcher picks its mode by endpoint: on loopback its default splits into 4 parallel
//! ranges from the start, while users (a remote endpoint) get one stream that helper range
//! streams join only when its first part is slow. On loopback the first part is never slow, so
//! measuring only the default would never measure the users' path: each run fetches the object
//! with curl, then with the launcher forced into each mode by `SPARKOSS_DOWNLOAD_SPLIT`:
//! `if-slow` (the remote default), `always` (4 ranges; the loopback default) and `never` (one
//! stream, no helpers). `--baseline` adds another launcher binary (e.g. an older build), run in
//! the same three modes. Figures are medians over the runs (the best run is shown too), with the number
//! of streams the launcher reported. `--quick` (CI) is one run of 64 MiB. Not part of
//! `cargo test`. Needs `curl` and ~3× the object size of free disk in the temp dir.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sparkoss_aliyun::oss::{Client, ClientConfig, Endpoint};
use sparkoss_aliyun::signing::Credentials;
use sparkoss_localcloud::oss::testing::start_local;

const AK: &str = "LTAIbench";
const SK: &str = "bench-secret";

/// Elapsed time, CPU time and peak RSS of one child process.
#[derive(Clone, Copy)]
struct Run {
    elapsed: Duration,
    /// Streams the launcher said it used (1 for curl and for a launcher that did not say).
    streams: usize,
    cpu: Duration,
    /// `VmHWM` of the child's own address space, sampled from `/proc` while it runs. (rusage's
    /// `ru_maxrss` cannot be used: Linux carries the spawning process's high-water mark across
    /// `vfork`+`exec` into it, so it reports this bench's own RSS, emulator included.)
    peak_rss_kib: u64,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[allow(unsafe_code)]
fn run(cmd: &mut Command) -> Result<Run, String> {
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = i32::try_from(child.id()).map_err(|_| "pid out of range".to_owned())?;
    let mut status = 0;
    // SAFETY: wait4 only writes into the two locals we pass, and reaps our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // Sample the high-water mark until the child is a zombie (its /proc entry stays readable
    // until it is reaped, so the last sample is taken after it stopped growing).
    let mut peak = 0u64;
    let rc = loop {
        if let Some(h) = vm_hwm_kib(child.id()) {
            peak = peak.max(h);
        }
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if rc != 0 {
            break rc;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    if rc != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed with status {status}"));
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec.unsigned_abs()) + Duration::from_micros(t.tv_usec.unsigned_abs());
    Ok(Run { elapsed, streams: 1, cpu: tv(ru.ru_utime) + tv(ru.ru_stime), peak_rss_kib: peak })
}

fn launcher_bin() -> Result<PathBuf, String> {
    sparkoss_acceptance_tests::cargo_bin("sparkoss-launcher", "sparkoss-launcher").map_err(|e| e.to_string())
}

fn write_source(path: &Path, size: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    while written < size {
        // Cheap pseudo-random bytes so nothing along the way can compress or dedupe them.
        for chunk in block.chunks_exact_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
        let n = (size - written).min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        written += n as u64;
    }
    f.flush()
}

/// A launcher configuration to measure: label, program, `SPARKOSS_DOWNLOAD_*` settings.
type Variant = (String, PathBuf, Vec<(&'static str, &'static str)>);

/// The run with the median elapsed time (the upper one for an even count).
fn median(runs: &[Run]) -> Run {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by_key(|r| r.elapsed);
    sorted.get(runs.len() / 2).map_or(Run { elapsed: Duration::ZERO, streams: 0, cpu: Duration::ZERO, peak_rss_kib: 0 }, |r| **r)
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn main() -> std::process::ExitCode {
    match bench() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-oss-download: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    let mut size_mib = 1024u64;
    let mut runs = 5usize;
    let mut baseline: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size-mib" => size_mib = args.next().and_then(|v| v.parse().ok()).ok_or("--size-mib needs a number")?,
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).filter(|r| *r > 0).ok_or("--runs needs a positive number")?,
            "--baseline" => baseline = Some(args.next().map(PathBuf::from).ok_or("--baseline needs a launcher binary")?),
            "--quick" => {
                // Large enough to be split into parts (the split needs 64 MiB), small enough for CI.
                size_mib = 64;
                runs = 1;
            }
            other => return Err(format!("unknown argument {other:?} (use --size-mib N, --runs N, --baseline PATH, --quick)")),
        }
    }
    let size = size_mib << 20;
    let launcher = launcher_bin()?;
    let dir = tempfile::Builder::new().prefix("bench-oss-").tempdir().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
    let cloud = rt.block_on(start_local(&dir.path().join("cloud"), AK, SK)).map_err(|e| format!("starting the emulator: {e}"))?;
    let endpoint = cloud.endpoints.oss_endpoint.clone();
    let client =
        Client::new(ClientConfig::new(Endpoint::parse(&endpoint).map_err(|e| e.to_string())?, "cn-local"), Credentials::new(AK, SK))
            .map_err(|e| e.to_string())?;
    let source = dir.path().join("source.bin");
    write_source(&source, size).map_err(|e| format!("writing the source file: {e}"))?;
    let put = rt
        .block_on(async {
            client.create_bucket("bench").await?;
            client.upload_file("bench", "big.bin", &source, 16 << 20).await
        })
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(&source).map_err(|e| e.to_string())?;
    let url = client.presign_get("bench", "big.bin", Duration::from_secs(3600)).map_err(|e| e.to_string())?;
    let dest = dir.path().join("dest.bin");

    // (label, program, SPARKOSS_DOWNLOAD_* settings): the users' path first, as the goal is about it.
    let mut variants: Vec<Variant> = vec![
        (
            "launcher: one stream, helpers if slow (if-slow = remote default)".into(),
            launcher.clone(),
            vec![("SPARKOSS_DOWNLOAD_SPLIT", "if-slow")],
        ),
        ("launcher: 4 parallel ranges (always = loopback default)".into(), launcher.clone(), vec![("SPARKOSS_DOWNLOAD_SPLIT", "always")]),
        ("launcher: one stream, no helpers (never)".into(), launcher.clone(), vec![("SPARKOSS_DOWNLOAD_SPLIT", "never")]),
    ];
    if let Some(b) = &baseline {
        // The same three modes, so an older build is compared like for like in the same run.
        let base: Vec<Variant> =
            variants.iter().map(|(name, _, settings)| (name.replacen("launcher:", "baseline:", 1), b.clone(), settings.clone())).collect();
        variants.extend(base);
    }
    let log = dir.path().join("launcher.log");
    let mut curl_runs: Vec<Run> = Vec::new();
    let mut launcher_runs: Vec<Vec<Run>> = variants.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&dest);
        let c = run(Command::new("curl").args(["--silent", "--show-error", "--fail", "--noproxy", "*", "-o"]).arg(&dest).arg(&url))?;
        if std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0) != size {
            return Err("curl wrote the wrong number of bytes".into());
        }
        curl_runs.push(c);
        for ((_, program, settings), results) in variants.iter().zip(&mut launcher_runs) {
            let _ = std::fs::remove_file(&dest);
            let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let mut l = run(Command::new(program)
                .args(["fetch", "oss://bench/big.bin"])
                .arg(&dest)
                .env_clear()
                .env("SPARKOSS_OSS_ENDPOINT", &endpoint)
                .env("ALIBABA_CLOUD_REGION", "cn-local")
                .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
                .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SK)
                .envs(settings.iter().copied())
                .stderr(log_file))?;
            // "…, N parallel streams) in …" when it split; nothing when one stream did it all.
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            l.streams = said
                .split(" parallel streams")
                .next()
                .filter(|head| head.len() < said.len())
                .and_then(|head| head.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            if std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0) != size {
                return Err("the launcher wrote the wrong number of bytes".into());
            }
            results.push(l);
        }
    }
    let _ = std::fs::remove_file(&dest);
    println!("P5 OSS download: {size_mib} MiB object (multipart ETag {}), local emulator on loopback, median of {runs} runs", put.etag);
    let line = |name: &str, runs: &[Run]| {
        let m = median(runs);
        let best = runs.iter().map(|r| r.elapsed).min().unwrap_or_default();
        println!(
            "  {name:<66} {:6.2} s {:8.1} MiB/s  CPU {:5.2} s  streams {}  peak RSS {:5.1} MiB  (best {:.2} s)",
            m.elapsed.as_secs_f64(),
            mib_s(size, m.elapsed),
            m.cpu.as_secs_f64(),
            m.streams,
            runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
            best.as_secs_f64()
        )
    };
    line("curl of a presigned V4 URL (one stream)", &curl_runs);
    for ((name, _, _), results) in variants.iter().zip(&launcher_runs) {
        line(name, results);
    }
    let curl = median(&curl_runs).elapsed.as_secs_f64();
    println!("  throughput ratio launcher/curl (medians; goal >= 0.90 in each mode):");
    for ((name, _, _), r) in variants.iter().zip(&launcher_runs) {
        println!("    {:.2}  {name}", curl / median(r).elapsed.as_secs_f64());
    }
    let peak = launcher_runs.iter().flatten().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    println!("  launcher peak RSS {:.1} MiB  (goal <= 64 MiB; VmHWM, max over all launcher runs)", peak as f64 / 1024.0);
    rt.block_on(cloud.stop());
    Ok(())
}
