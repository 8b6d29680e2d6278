//! Multipart upload: initiate, upload a part (UploadPartCopy is in [`super::copy`]), complete
//! (parts concatenated off the async workers, the `<md5-of-md5s>-<n>` ETag), abort.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_aliyun::oss::xml;

use super::{drain, err, internal, now_unix, xml_response, Meta, Oss, OssErr, Req};

/// Multipart parts other than the last must be at least this large (OSS's 100 KB).
const MIN_PART: u64 = 100 * 1024;

impl Oss {
    /// AbortMultipartUpload: the upload's parts are dropped.
    pub(super) fn abort(&self, bucket: &str, key: &str, upload: &str) -> Result<Response, OssErr> {
        let dir = self.upload_dir(bucket, upload, key)?;
        std::fs::remove_dir_all(dir).map_err(internal)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    pub(super) fn upload_dir(&self, bucket: &str, upload: &str, key: &str) -> Result<PathBuf, OssErr> {
        let dir = self.require_bucket(bucket)?.join("uploads").join(upload);
        let no_upload = || {
            err(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
        };
        if !upload.bytes().all(|b| b.is_ascii_hexdigit()) || upload.is_empty() {
            return Err(no_upload());
        }
        let owner = std::fs::read_to_string(dir.join("key")).map_err(|_| no_upload())?;
        if owner != key {
            return Err(no_upload());
        }
        Ok(dir)
    }

    pub(super) fn initiate(&self, bucket: &str, key: &str) -> Result<Response, OssErr> {
        let upload = hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{key}/{}/{}", now_unix(), self.counter.fetch_add(1, Ordering::Relaxed)).as_bytes(),
        ));
        let upload = &upload[..32];
        let dir = self.require_bucket(bucket)?.join("uploads").join(upload);
        std::fs::create_dir_all(&dir).map_err(internal)?;
        std::fs::write(dir.join("key"), key).map_err(internal)?;
        Ok(xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>",
            xml::escape(bucket),
            xml::escape(key)
        )))
    }

    pub(super) async fn upload_part(&self, req: &Req, bucket: &str, key: &str, upload: &str, body: Body) -> Result<Response, OssErr> {
        let checked = self.upload_dir(bucket, upload, key).and_then(|dir| Ok((dir, part_number(req)?)));
        let (dir, number) = match checked {
            Ok(c) => c,
            Err(e) => {
                drain(body).await;
                return Err(e);
            }
        };
        let (tmp, size, md5, crc) = self.receive(bucket, body).await?;
        let etag = Self::record_part(&dir, number, &tmp, size, md5, crc)?;
        let mut resp = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            resp.headers_mut().insert("etag", v);
        }
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        Ok(resp)
    }

    /// Moves a received part (`tmp`) into its upload's folder with its ETag, size and CRC-64;
    /// returns the ETag.
    pub(super) fn record_part(dir: &Path, number: u32, tmp: &Path, size: u64, md5: [u8; 16], crc: u64) -> Result<String, OssErr> {
        std::fs::rename(tmp, dir.join(format!("{number}"))).map_err(internal)?;
        let etag = hex::encode_upper(md5);
        std::fs::write(dir.join(format!("{number}.json")), serde_json::json!({"etag": etag, "size": size, "crc64": crc}).to_string())
            .map_err(internal)?;
        Ok(etag)
    }

    pub(super) async fn complete(&self, bucket: &str, key: &str, upload: &str, body: Body) -> Result<Response, OssErr> {
        let dir = self.upload_dir(bucket, upload, key)?;
        let bytes = axum::body::to_bytes(body, 4 << 20).await.map_err(|e| err(StatusCode::BAD_REQUEST, "MalformedXML", e.to_string()))?;
        let doc = String::from_utf8_lossy(&bytes).into_owned();
        let mut parts: Vec<(u32, String)> = Vec::new();
        for p in xml::elements(&doc, "Part") {
            let n = xml::text(p, "PartNumber").and_then(|n| n.trim().parse().ok());
            let e = xml::text(p, "ETag").map(|e| e.trim().trim_matches('"').to_ascii_uppercase());
            match (n, e) {
                (Some(n), Some(e)) => parts.push((n, e)),
                _ => return Err(err(StatusCode::BAD_REQUEST, "MalformedXML", "The XML you provided was not well-formed.")),
            }
        }
        if parts.is_empty() || parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(err(StatusCode::BAD_REQUEST, "InvalidPartOrder", "The list of parts was not in ascending order or was empty."));
        }
        let mut infos = Vec::new();
        for (i, (n, etag)) in parts.iter().enumerate() {
            let info: serde_json::Value = std::fs::read_to_string(dir.join(format!("{n}.json")))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, "InvalidPart", format!("Part {n} was not uploaded.")))?;
            if info["etag"].as_str() != Some(etag.as_str()) {
                return Err(err(StatusCode::BAD_REQUEST, "InvalidPart", format!("The ETag of part {n} does not match.")));
            }
            let size = info["size"].as_u64().unwrap_or(0);
            if i + 1 < parts.len() && size < MIN_PART {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                ));
            }
            infos.push((*n, etag.clone()));
        }
        let tmp = self.require_bucket(bucket)?.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(internal)?;
        let out_path = tmp.join(format!("complete-{upload}"));
        let dir2 = dir.clone();
        let out2 = out_path.clone();
        let numbers: Vec<u32> = infos.iter().map(|(n, _)| *n).collect();
        // Concatenating a GiB is blocking file IO: keep it off the async workers.
        let (size, crc) = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, u64)> {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out2)?);
            let mut crc = Crc64::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 1 << 20];
            for n in numbers {
                let mut f = std::fs::File::open(dir2.join(format!("{n}")))?;
                loop {
                    let r = f.read(&mut buf)?;
                    if r == 0 {
                        break;
                    }
                    crc.update(&buf[..r]);
                    out.write_all(&buf[..r])?;
                    size += r as u64;
                }
            }
            out.flush()?;
            Ok((size, crc.finish()))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let mut md5 = Md5::new();
        for (_, etag) in &infos {
            md5.update(hex::decode(etag).unwrap_or_default());
        }
        let etag = format!("{}-{}", hex::encode_upper(md5.finalize()), infos.len());
        let meta = Meta {
            key: key.to_owned(),
            size,
            etag: etag.clone(),
            crc64: crc,
            content_type: "application/octet-stream".into(),
            last_modified: now_unix(),
            object_type: "Multipart".into(),
            user_meta: BTreeMap::new(),
        };
        self.store(bucket, &out_path, &meta)?;
        let _ = std::fs::remove_dir_all(&dir);
        let mut resp = xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>http://{b}.localcloud/{k}</Location><Bucket>{b}</Bucket><Key>{k}</Key><ETag>\"{etag}\"</ETag></CompleteMultipartUploadResult>",
            b = xml::escape(bucket),
            k = xml::escape(key)
        ));
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            resp.headers_mut().insert("etag", v);
        }
        Ok(resp)
    }
}

/// The `partNumber` of a part upload, 1 to 10,000.
pub(super) fn part_number(req: &Req) -> Result<u32, OssErr> {
    req.q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive."))
}
