//! Buckets and objects on disk: one folder per bucket, each object a data file and a JSON
//! [`Meta`] named by the SHA-256 of its key; PutObject (streamed in, MD5 and CRC-64 on the way),
//! GetObject (streamed out, with `Range` and the body faults), HeadObject, DeleteObject,
//! ListBuckets, bucket create, delete and ACL.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use sparkoss_aliyun::checksum::crc64::Crc64;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::faults::FaultKind;
use super::{drain, err, http_date, internal, iso_date, now_unix, user_meta, xml_response, Meta, Oss, OssErr, Req, OWNER};

impl Oss {
    /// PutBucket: the bucket's folder (creating one that exists is fine, as for its owner on OSS).
    pub(super) fn create_bucket(&self, bucket: &str) -> Result<Response, OssErr> {
        std::fs::create_dir_all(self.bucket_dir(bucket).join("objects")).map_err(internal)?;
        Ok(StatusCode::OK.into_response())
    }

    /// DeleteBucket: only an empty one.
    pub(super) fn delete_bucket(&self, bucket: &str) -> Result<Response, OssErr> {
        let dir = self.require_bucket(bucket)?;
        let empty = std::fs::read_dir(dir.join("objects")).map(|mut d| d.next().is_none()).unwrap_or(true);
        if !empty {
            return Err(err(StatusCode::CONFLICT, "BucketNotEmpty", "The bucket you tried to delete is not empty."));
        }
        std::fs::remove_dir_all(&dir).map_err(internal)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// DeleteObject: `204` whether or not the key existed, as OSS answers.
    pub(super) fn delete_object(&self, bucket: &str, key: &str) -> Result<Response, OssErr> {
        self.require_bucket(bucket)?;
        let (data, meta) = self.object_paths(bucket, key);
        let _ = std::fs::remove_file(meta);
        let _ = std::fs::remove_file(data);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    pub(super) fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    pub(super) fn object_paths(&self, bucket: &str, key: &str) -> (PathBuf, PathBuf) {
        let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
        let dir = self.bucket_dir(bucket).join("objects");
        (dir.join(&name), dir.join(format!("{name}.json")))
    }

    pub(super) fn require_bucket(&self, bucket: &str) -> Result<PathBuf, OssErr> {
        let dir = self.bucket_dir(bucket);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(err(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist."))
        }
    }

    pub(super) fn read_meta(&self, bucket: &str, key: &str) -> Result<(PathBuf, Meta), OssErr> {
        self.require_bucket(bucket)?;
        let (data, meta) = self.object_paths(bucket, key);
        let text =
            std::fs::read_to_string(&meta).map_err(|_| err(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."))?;
        let meta: Meta = serde_json::from_str(&text).map_err(internal)?;
        Ok((data, meta))
    }

    pub(super) fn list_buckets(&self) -> Result<Response, OssErr> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.sort();
        let mut doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult>{OWNER}<Buckets>");
        for n in names {
            doc.push_str(&format!(
                "<Bucket><Name>{n}</Name><Location>oss-{r}</Location><Region>{r}</Region><CreationDate>{}</CreationDate><StorageClass>Standard</StorageClass></Bucket>",
                iso_date(0),
                r = self.shared.endpoints.region
            ));
        }
        doc.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(xml_response(doc))
    }

    /// GetBucketAcl: the emulator keeps no ACLs, every bucket is `private` to the one AccessKey.
    pub(super) fn bucket_acl(&self, bucket: &str) -> Result<Response, OssErr> {
        self.require_bucket(bucket)?;
        Ok(xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy>{OWNER}<AccessControlList><Grant>private</Grant></AccessControlList></AccessControlPolicy>"
        )))
    }

    pub(super) fn object_headers(meta: &Meta, h: &mut HeaderMap) {
        let mut set = |n: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(n, v);
            }
        };
        set("etag", &format!("\"{}\"", meta.etag));
        set("x-oss-hash-crc64ecma", &meta.crc64.to_string());
        set("last-modified", &http_date(meta.last_modified));
        set("content-type", &meta.content_type);
        set("x-oss-object-type", &meta.object_type);
        set("x-oss-storage-class", "Standard");
        set("accept-ranges", "bytes");
        for (k, v) in &meta.user_meta {
            if let (Ok(n), Ok(v)) = (axum::http::HeaderName::from_bytes(format!("x-oss-meta-{k}").as_bytes()), HeaderValue::from_str(v)) {
                h.insert(n, v);
            }
        }
    }

    pub(super) fn head_object(&self, bucket: &str, key: &str) -> Result<Response, OssErr> {
        let (_, meta) = self.read_meta(bucket, key)?;
        let mut resp = Response::new(Body::empty());
        Self::object_headers(&meta, resp.headers_mut());
        if let Ok(v) = HeaderValue::from_str(&meta.size.to_string()) {
            resp.headers_mut().insert("content-length", v);
        }
        Ok(resp)
    }

    pub(super) async fn get_object(&self, req: &Req, bucket: &str, key: &str, fault: Option<FaultKind>) -> Result<Response, OssErr> {
        let (data, meta) = self.read_meta(bucket, key)?;
        if let Some(want) = req.header("if-match") {
            if want.trim_matches('"') != meta.etag && want != "*" {
                return Err(err(
                    StatusCode::PRECONDITION_FAILED,
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold.",
                ));
            }
        }
        let size = meta.size;
        let range = match req.header("range") {
            Some(r) => parse_range(&r, size)?,
            None => None,
        };
        let (start, len) = range.map_or((0, size), |(s, e)| (s, e - s + 1));
        let mut file = tokio::fs::File::open(&data).await.map_err(internal)?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await.map_err(internal)?;
        }
        let (drop_after, corrupt) = match fault {
            Some(FaultKind::Drop { after_bytes }) => (Some(after_bytes), false),
            Some(FaultKind::Corrupt) => (None, true),
            _ => (None, false),
        };
        let body = Body::from_stream(file_stream(file, len, drop_after, corrupt));
        let mut resp = Response::new(body);
        Self::object_headers(&meta, resp.headers_mut());
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            h.insert("content-length", v);
        }
        if let Some((s, e)) = range {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{size}")) {
                resp.headers_mut().insert("content-range", v);
            }
        }
        Ok(resp)
    }

    /// Streams `body` into a temporary file in the bucket; returns its path, size, MD5 and CRC-64.
    pub(super) async fn receive(&self, bucket: &str, body: Body) -> Result<(PathBuf, u64, [u8; 16], u64), OssErr> {
        let dir = match self.require_bucket(bucket) {
            Ok(d) => d.join("tmp"),
            Err(e) => {
                drain(body).await;
                return Err(e);
            }
        };
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let tmp = dir.join(format!("{}-{}", now_unix(), self.counter.fetch_add(1, Ordering::Relaxed)));
        let file = tokio::fs::File::create(&tmp).await.map_err(internal)?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut md5 = Md5::new();
        let mut crc = Crc64::new();
        let mut size = 0u64;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(err(StatusCode::BAD_REQUEST, "IncompleteBody", format!("The request body was cut: {e}")));
                }
            };
            md5.update(&chunk);
            crc.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(internal)?;
        }
        out.flush().await.map_err(internal)?;
        Ok((tmp, size, md5.finalize().into(), crc.finish()))
    }

    pub(super) async fn put_object(&self, req: &Req, bucket: &str, key: &str, body: Body) -> Result<Response, OssErr> {
        let (tmp, size, md5, crc) = self.receive(bucket, body).await?;
        if let Some(want) = req.header("content-md5") {
            if want != base64::engine::general_purpose::STANDARD.encode(md5) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(StatusCode::BAD_REQUEST, "InvalidDigest", "The Content-MD5 you specified was invalid."));
            }
        }
        let user_meta = user_meta(req);
        let meta = Meta {
            key: key.to_owned(),
            size,
            etag: hex::encode_upper(md5),
            crc64: crc,
            content_type: req.header("content-type").unwrap_or_else(|| "application/octet-stream".into()),
            last_modified: now_unix(),
            object_type: "Normal".into(),
            user_meta,
        };
        self.store(bucket, &tmp, &meta)?;
        let mut resp = StatusCode::OK.into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
            h.insert("etag", v);
        }
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            h.insert("x-oss-hash-crc64ecma", v);
        }
        if let Ok(v) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(md5)) {
            h.insert("content-md5", v);
        }
        Ok(resp)
    }

    pub(super) fn store(&self, bucket: &str, data_tmp: &Path, meta: &Meta) -> Result<(), OssErr> {
        let (data, meta_path) = self.object_paths(bucket, &meta.key);
        if let Some(dir) = data.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        std::fs::rename(data_tmp, &data).map_err(internal)?;
        let tmp_meta = meta_path.with_extension("json.tmp");
        std::fs::write(&tmp_meta, serde_json::to_vec(meta).map_err(internal)?).map_err(internal)?;
        std::fs::rename(&tmp_meta, &meta_path).map_err(internal)
    }
}

/// One `bytes=` range as inclusive `(start, end)`. Like OSS, an unparsable range is ignored
/// (the whole object is sent); a range starting past the end is `416 InvalidRange`.
pub(super) fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, OssErr> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let invalid = || err(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange", "The requested range cannot be satisfied");
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else { return Ok(None) };
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        return Ok(Some((size.saturating_sub(n), size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else { return Ok(None) };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

/// Streams `len` bytes from `file` in 256 KiB chunks; a `drop_after` fault ends the stream with
/// an error (the server then closes the connection mid-body), `corrupt` flips the first byte.
fn file_stream(
    file: tokio::fs::File,
    len: u64,
    drop_after: Option<u64>,
    corrupt: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct St {
        file: tokio::fs::File,
        remaining: u64,
        sent: u64,
        drop_after: Option<u64>,
        corrupt: bool,
    }
    futures_util::stream::unfold(St { file, remaining: len, sent: 0, drop_after, corrupt }, |mut st| async move {
        if st.remaining == 0 {
            return None;
        }
        let mut want = st.remaining.min(256 * 1024);
        if let Some(d) = st.drop_after {
            if st.sent >= d {
                st.remaining = 0;
                // Let the server flush what was sent (it does while the body is pending) so the
                // client really holds the first `d` bytes when the connection drops.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some((Err(std::io::Error::other("fault injected: connection dropped")), st));
            }
            want = want.min(d - st.sent);
        }
        let mut buf = bytes::BytesMut::with_capacity(usize::try_from(want).unwrap_or(256 * 1024));
        while (buf.len() as u64) < want {
            match st.file.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    st.remaining = 0;
                    return Some((Err(e), st));
                }
            }
        }
        if buf.is_empty() {
            st.remaining = 0;
            return Some((Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "object file shorter than its metadata")), st));
        }
        if st.corrupt && st.sent == 0 {
            buf[0] ^= 0xff;
        }
        st.sent += buf.len() as u64;
        st.remaining -= buf.len() as u64;
        Some((Ok(buf.freeze()), st))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 99)));
        assert_eq!(parse_range("bytes=9-1", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=100-", 100).unwrap_err().code, "InvalidRange");
    }
}
