//! Alibaba's own OSS SDK for Java (`aliyun-sdk-oss` 3.14.0, installed by
//! `scripts/install-oss-java-sdk`) against the local cloud's OSS emulator: the Java program
//! `acceptance-tests/java/OssJudge.java`, compiled here with the JDK's `javac`, makes the calls
//! Hadoop's OSS connector makes (put, ranged get, head, list V1/V2 with delimiter and paging,
//! copy, multipart with a part copy, abort, delete of many keys) with each signature version the
//! SDK offers, and a client with a wrong secret must be refused with `SignatureDoesNotMatch`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sparkoss_acceptance_tests::{get_text, repo_root, LocalCloudProcess};

/// The signature versions aliyun-sdk-oss 3.14.0 offers (`SignVersion`; V4 came with 3.17.4).
const SIGNATURES: &[(&str, &str)] = &[("V1", "v1")];

/// Every check the judge prints per round, in order.
const CHECKS: &[&str] = &[
    "create_bucket",
    "put",
    "head",
    "get",
    "get_range",
    "missing",
    "list_v1_plain",
    "list_v2_plain",
    "list_v1_url",
    "list_v2_url",
    "list_v2_start_after",
    "copy",
    "multipart",
    "multipart_abort",
    "delete_objects",
    "delete",
    "wrong_secret",
];

/// The SDK's classpath: its classes under `.tools/oss-java-sdk` and Debian's JAXB runtime.
fn sdk_classpath() -> String {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/install-oss-java-sdk"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/install-oss-java-sdk runs");
    assert!(out.status.success(), "scripts/install-oss-java-sdk failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().expect("a classpath line").to_owned()
}

fn compile(classpath: &str, out: &Path) {
    let source = repo_root().join("acceptance-tests/java/OssJudge.java");
    let javac = Command::new("javac")
        .args(["-nowarn", "-encoding", "UTF-8", "-cp", classpath, "-d"])
        .arg(out)
        .arg(&source)
        .stdin(Stdio::null())
        .output()
        .expect("javac (openjdk-17-jdk-headless, scripts/install-tools) runs");
    assert!(javac.status.success(), "javac {}:\n{}", source.display(), String::from_utf8_lossy(&javac.stderr));
}

#[test]
fn java_sdk_judges_the_oss_emulator() {
    let classpath = sdk_classpath();
    let build = tempfile::tempdir().unwrap();
    compile(&classpath, build.path());

    let (ak, sk) = ("LTAIjavajudge", "java-judge-secret-7");
    let lc = LocalCloudProcess::start_with_keys(&["--no-kubelet"], Some((ak, sk))).expect("localcloud starts");
    let versions: Vec<&str> = SIGNATURES.iter().map(|(v, _)| *v).collect();
    let run = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{classpath}", build.path().display()))
        .arg("OssJudge")
        .env("OSS_ENDPOINT", &lc.endpoints.oss_endpoint)
        .env("OSS_ACCESS_KEY_ID", ak)
        .env("OSS_ACCESS_KEY_SECRET", sk)
        .env("OSS_SIGNATURES", versions.join(","))
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .output()
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    eprintln!("{stdout}");
    assert!(run.status.success(), "the Java judge failed:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(stdout.lines().last(), Some("done"), "the judge did not finish");

    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    let mut expected = Vec::new();
    for (_, round) in SIGNATURES {
        expected.extend(CHECKS.iter().map(|c| format!("ok {round} {c}:")));
    }
    let seen: Vec<String> = lines.iter().map(|l| l.split_inclusive(':').next().unwrap_or_default().to_owned()).collect();
    assert_eq!(seen, expected, "the judge's checks, in order");
    for (_, round) in SIGNATURES {
        let refused = lines.iter().find(|l| l.starts_with(&format!("ok {round} wrong_secret:"))).unwrap();
        assert!(refused.contains("code=SignatureDoesNotMatch"), "{refused}");
    }

    // The emulator's own record: every request was signed the way the round said, and the wrong
    // secret's requests were answered 403.
    let log: Vec<Value> = serde_json::from_str(&get_text(&lc.endpoints.oss_endpoint, "/_localcloud/access-log")).unwrap();
    for (_, round) in SIGNATURES {
        let bucket = format!("judge-{round}");
        let mine: Vec<&Value> = log.iter().filter(|e| e["bucket"] == bucket.as_str()).collect();
        assert!(mine.len() > 40, "{round}: only {} requests logged", mine.len());
        for e in &mine {
            assert_eq!(e["auth"], *round, "{round}: {e}");
        }
        let refused: Vec<&&Value> = mine.iter().filter(|e| e["status"] == 403).collect();
        assert_eq!(refused.len(), 2, "{round}: the wrong secret's HEAD and GET, nothing else: {refused:?}");
        for sub in ["uploadId=", "delete", "list-type=2", "marker=", "continuation-token="] {
            assert!(mine.iter().any(|e| e["query"].as_str().unwrap_or("").contains(sub)), "{round}: no request with {sub}");
        }
    }
}
