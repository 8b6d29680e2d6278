//! `oss://` URI parsing: one test per error kind, messages included.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use sparkoss_aliyun::oss_uri::OssUri;
use sparkoss_aliyun::{Error, OssUriProblem};

fn problem(s: &str) -> OssUriProblem {
    match OssUri::parse(s) {
        Err(Error::InvalidOssUri { uri, problem }) => {
            assert_eq!(uri, s);
            problem
        }
        other => panic!("{s:?}: expected an invalid URI error, got {other:?}"),
    }
}

#[test]
fn parses_and_displays() {
    let u = OssUri::parse("oss://acme-jobs/etl/etl-1.4.jar").unwrap();
    assert_eq!((u.bucket(), u.key()), ("acme-jobs", "etl/etl-1.4.jar"));
    assert_eq!(u.to_string(), "oss://acme-jobs/etl/etl-1.4.jar");
    let odd = "oss://a1-b/dir one/naïve 文件 %20.jar";
    assert_eq!(OssUri::parse(odd).unwrap().to_string(), odd);
    assert_eq!(OssUri::parse("oss://abc/k").unwrap().bucket(), "abc");
    let long = format!("oss://{}/k", "a".repeat(63));
    assert!(OssUri::parse(&long).is_ok());
    let key = "k".repeat(1023);
    assert_eq!(OssUri::parse(&format!("oss://abc/{key}")).unwrap().key(), key);
    assert_eq!("oss://abc/k".parse::<OssUri>().unwrap().key(), "k");
}

#[test]
fn missing_scheme() {
    assert_eq!(problem("s3://bucket/key"), OssUriProblem::MissingScheme);
    assert_eq!(problem("bucket/key"), OssUriProblem::MissingScheme);
    assert_eq!(problem("OSS://bucket/key"), OssUriProblem::MissingScheme);
}

#[test]
fn empty_bucket() {
    assert_eq!(problem("oss:///key"), OssUriProblem::EmptyBucket);
    assert_eq!(problem("oss://"), OssUriProblem::EmptyBucket);
}

#[test]
fn invalid_bucket_names() {
    for b in ["Bad_Bucket", "ab", &"a".repeat(64), "-abc", "abc-", "ab.c", "abC", "a b"] {
        assert_eq!(problem(&format!("oss://{b}/k")), OssUriProblem::InvalidBucketName, "{b}");
    }
    let err = OssUri::parse("oss://Bad_Bucket/x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"oss://Bad_Bucket/x\": bucket name must be 3-63 characters of lowercase letters, \
         digits and hyphens, not starting or ending with a hyphen"
    );
}

#[test]
fn empty_key() {
    assert_eq!(problem("oss://bucket"), OssUriProblem::EmptyKey);
    assert_eq!(problem("oss://bucket/"), OssUriProblem::EmptyKey);
    assert_eq!(OssUri::parse("oss://bucket/").unwrap_err().to_string(), "\"oss://bucket/\": the object key is empty");
}

#[test]
fn key_starting_with_slash() {
    assert_eq!(problem("oss://bucket//key"), OssUriProblem::KeyStartsWithSlash);
    assert_eq!(problem("oss://bucket/\\key"), OssUriProblem::KeyStartsWithSlash);
}

#[test]
fn key_too_long() {
    // 1024 bytes, also when made of multi-byte characters (342 × 3 bytes = 1026).
    assert_eq!(problem(&format!("oss://bucket/{}", "k".repeat(1024))), OssUriProblem::KeyTooLong);
    assert_eq!(problem(&format!("oss://bucket/{}", "文".repeat(342))), OssUriProblem::KeyTooLong);
    let msg = OssUri::parse(&format!("oss://bucket/{}", "k".repeat(1024))).unwrap_err().to_string();
    assert!(msg.ends_with(": the object key is longer than 1023 bytes"), "{msg}");
}
