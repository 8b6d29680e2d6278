//! CopyObject (`PUT` with `x-oss-copy-source`) and UploadPartCopy (the same header on a part
//! upload, with an optional `x-oss-copy-source-range`): what Hadoop's OSS connector uses to
//! rename (small files with one copy, large ones part by part).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use md5::{Digest, Md5};
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_aliyun::percent_decode;

use super::storage::parse_range;
use super::{err, internal, iso_date, now_unix, user_meta, xml_response, Meta, Oss, OssErr, Req, COPY_SOURCE};

/// Where a copy reads from.
struct Source {
    bucket: String,
    key: String,
}

/// `x-oss-copy-source: /bucket/key` with the key URL-encoded (a `?versionId=` suffix is
/// ignored: the emulator keeps no versions).
fn source(req: &Req) -> Result<Source, OssErr> {
    let raw = req.header(COPY_SOURCE).unwrap_or_default();
    let path = raw.split_once('?').map_or(raw.as_str(), |(p, _)| p);
    let invalid = || {
        err(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "x-oss-copy-source must be /SourceBucketName/SourceObjectName (the name URL-encoded).",
        )
    };
    let (bucket, key) = path.strip_prefix('/').and_then(|p| p.split_once('/')).ok_or_else(invalid)?;
    let key = percent_decode(key);
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok(Source { bucket: bucket.to_owned(), key })
}

/// What a copy wrote: size, MD5 and CRC-64 of the copied bytes.
struct Copied {
    size: u64,
    md5: [u8; 16],
    crc64: u64,
}

/// Copies `len` bytes of `src` from `start` into a new file `dst`, hashing them (blocking IO).
fn copy_range(src: &Path, start: u64, len: u64, dst: &Path) -> std::io::Result<Copied> {
    let mut input = std::fs::File::open(src)?;
    input.seek(std::io::SeekFrom::Start(start))?;
    let mut input = input.take(len);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dst)?);
    let (mut md5, mut crc, mut size) = (Md5::new(), Crc64::new(), 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    out.flush()?;
    if size != len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "object file shorter than its metadata"));
    }
    Ok(Copied { size, md5: md5.finalize().into(), crc64: crc.finish() })
}

impl Oss {
    /// A fresh temporary path in `bucket`'s scratch folder.
    fn scratch(&self, bucket: &str) -> Result<PathBuf, OssErr> {
        let dir = self.require_bucket(bucket)?.join("tmp");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        Ok(dir.join(format!("copy-{}-{}", now_unix(), self.counter.fetch_add(1, Ordering::Relaxed))))
    }

    async fn copy_file(&self, src: PathBuf, start: u64, len: u64, dst: PathBuf) -> Result<Copied, OssErr> {
        // A copy of a GiB is blocking file IO: keep it off the async workers.
        let cleanup = dst.clone();
        let copied = tokio::task::spawn_blocking(move || copy_range(&src, start, len, &dst)).await.map_err(internal)?;
        copied.map_err(|e| {
            let _ = std::fs::remove_file(&cleanup);
            internal(e)
        })
    }

    /// CopyObject: the source's bytes under a new key; metadata copied (`x-oss-metadata-directive:
    /// COPY`, the default) or taken from the request (`REPLACE`).
    pub(super) async fn copy_object(&self, req: &Req, bucket: &str, key: &str) -> Result<Response, OssErr> {
        let from = source(req)?;
        let replace = match req.header("x-oss-metadata-directive").as_deref() {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    format!("x-oss-metadata-directive must be COPY or REPLACE, not {other:?}."),
                ))
            }
        };
        let (data, src_meta) = self.read_meta(&from.bucket, &from.key)?;
        let tmp = self.scratch(bucket)?;
        let copied = self.copy_file(data, 0, src_meta.size, tmp.clone()).await?;
        let (content_type, user_meta) = if replace {
            (req.header("content-type").unwrap_or_else(|| "application/octet-stream".into()), user_meta(req))
        } else {
            (src_meta.content_type.clone(), src_meta.user_meta.clone())
        };
        // The bytes are the source's, so are its ETag and type (a copy of a multipart object keeps
        // its `-N` ETag).
        let meta = Meta {
            key: key.to_owned(),
            size: copied.size,
            etag: src_meta.etag.clone(),
            crc64: copied.crc64,
            content_type,
            last_modified: now_unix(),
            object_type: src_meta.object_type.clone(),
            user_meta,
        };
        self.store(bucket, &tmp, &meta)?;
        let mut resp = xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><ETag>\"{}\"</ETag><LastModified>{}</LastModified></CopyObjectResult>",
            meta.etag,
            iso_date(meta.last_modified)
        ));
        if let Ok(v) = HeaderValue::from_str(&meta.crc64.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        Ok(resp)
    }

    /// UploadPartCopy: a part of `upload` made of a byte range of an existing object.
    pub(super) async fn upload_part_copy(&self, req: &Req, bucket: &str, key: &str, upload: &str) -> Result<Response, OssErr> {
        let dir = self.upload_dir(bucket, upload, key)?;
        let number = super::multipart::part_number(req)?;
        let from = source(req)?;
        let (data, src_meta) = self.read_meta(&from.bucket, &from.key)?;
        let range = match req.header("x-oss-copy-source-range") {
            Some(r) => parse_range(&r, src_meta.size)?,
            None => None,
        };
        let (start, len) = range.map_or((0, src_meta.size), |(s, e)| (s, e - s + 1));
        let tmp = self.scratch(bucket)?;
        let copied = self.copy_file(data, start, len, tmp.clone()).await?;
        let etag = Self::record_part(&dir, number, &tmp, copied.size, copied.md5, copied.crc64)?;
        let mut resp = xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult><LastModified>{}</LastModified><ETag>\"{etag}\"</ETag></CopyPartResult>",
            iso_date(now_unix())
        ));
        if let Ok(v) = HeaderValue::from_str(&copied.crc64.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        Ok(resp)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn copies_a_range_and_hashes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::write(&src, b"0123456789").unwrap();
        let c = copy_range(&src, 2, 5, &dst).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"23456");
        assert_eq!(c.size, 5);
        assert_eq!(hex::encode(c.md5), hex::encode(Md5::digest(b"23456")));
        assert_eq!(c.crc64, Crc64::checksum(b"23456"));
        assert!(copy_range(&src, 8, 5, &dst).is_err(), "a range past the end of the file is an error");
    }

    fn with_source(value: &str) -> Req {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(COPY_SOURCE, HeaderValue::from_str(value).unwrap());
        Req {
            method: axum::http::Method::PUT,
            bucket: None,
            key: None,
            raw_query: String::new(),
            query: Vec::new(),
            headers,
            host: String::new(),
        }
    }

    #[test]
    fn reads_the_copy_source() {
        let s = source(&with_source("/src-bucket/dir/a%20b%2Bc%C3%A9?versionId=null")).unwrap();
        assert_eq!((s.bucket.as_str(), s.key.as_str()), ("src-bucket", "dir/a b+cé"));
        for bad in ["src-bucket/key", "/src-bucket", "/src-bucket/", "//key"] {
            assert_eq!(source(&with_source(bad)).err().map(|e| e.code), Some("InvalidArgument".to_owned()), "{bad}");
        }
    }
}
