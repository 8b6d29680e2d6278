//! ListObjects (V1, `marker`) and ListObjectsV2 (`list-type=2`, `continuation-token`): prefix,
//! delimiter roll-up into common prefixes, paging, and `encoding-type=url`.

use axum::http::StatusCode;
use axum::response::Response;
use sparkoss_aliyun::oss::xml;
use sparkoss_aliyun::percent_encode;

use super::{err, internal, iso_date, xml_response, Meta, Oss, OssErr, Req, OWNER};

impl Oss {
    /// ListObjects (V1, `marker`) and ListObjectsV2 (`list-type=2`, `continuation-token`).
    pub(super) fn list_objects(&self, req: &Req, bucket: &str) -> Result<Response, OssErr> {
        let dir = self.require_bucket(bucket)?.join("objects");
        let v2 = req.q("list-type") == Some("2");
        let prefix = req.q("prefix").unwrap_or("").to_owned();
        let delimiter = req.q("delimiter").unwrap_or("").to_owned();
        let max_keys: usize = req.q("max-keys").and_then(|m| m.parse().ok()).unwrap_or(100).clamp(1, 1000);
        let url = req.q("encoding-type") == Some("url");
        let after = if v2 {
            match req.q("continuation-token") {
                Some(t) => String::from_utf8(
                    hex::decode(t).map_err(|_| err(StatusCode::BAD_REQUEST, "InvalidArgument", "The continuation token is not valid."))?,
                )
                .map_err(|_| err(StatusCode::BAD_REQUEST, "InvalidArgument", "The continuation token is not valid."))?,
                None => req.q("start-after").unwrap_or("").to_owned(),
            }
        } else {
            req.q("marker").unwrap_or("").to_owned()
        };
        let mut metas: Vec<Meta> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") {
                    if let Ok(m) =
                        std::fs::read_to_string(&p).map_err(internal).and_then(|t| serde_json::from_str::<Meta>(&t).map_err(internal))
                    {
                        if m.key.starts_with(&prefix) && m.key > after {
                            metas.push(m);
                        }
                    }
                }
            }
        }
        metas.sort_by(|a, b| a.key.cmp(&b.key));
        let enc = |s: &str| if url { percent_encode(s, true) } else { xml::escape(s) };
        // ListObjects (V1) names each object's owner; V2 only with `fetch-owner=true`. The Java
        // SDK's V1 parser reads `Owner` unconditionally.
        let owner = if !v2 || req.q("fetch-owner") == Some("true") { OWNER } else { "" };
        let mut contents = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut last = String::new();
        let mut truncated = false;
        for m in &metas {
            let rolled = if delimiter.is_empty() {
                None
            } else {
                m.key[prefix.len()..].find(&delimiter).map(|i| m.key[..prefix.len() + i + delimiter.len()].to_owned())
            };
            if let Some(p) = &rolled {
                if prefixes.last() == Some(p) {
                    continue;
                }
            }
            if count == max_keys {
                truncated = true;
                break;
            }
            count += 1;
            match rolled {
                Some(p) => {
                    last = p.clone();
                    prefixes.push(p);
                }
                None => {
                    last = m.key.clone();
                    contents.push_str(&format!(
                        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Type>{}</Type><Size>{}</Size><StorageClass>Standard</StorageClass>{owner}</Contents>",
                        enc(&m.key),
                        iso_date(m.last_modified),
                        m.etag,
                        m.object_type,
                        m.size
                    ));
                }
            }
        }
        // A rolled-up prefix is listed once: continue after everything under it.
        if truncated && last.ends_with(&delimiter) && !delimiter.is_empty() {
            last.push(char::MAX);
        }
        let mut doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>{}</Name><Prefix>{}</Prefix>",
            xml::escape(bucket),
            enc(&prefix)
        );
        if v2 {
            doc.push_str(&format!("<MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter>", enc(&delimiter)));
            if url {
                doc.push_str("<EncodingType>url</EncodingType>");
            }
            doc.push_str(&format!("<IsTruncated>{truncated}</IsTruncated><KeyCount>{count}</KeyCount>"));
            if let Some(t) = req.q("continuation-token") {
                doc.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", xml::escape(t)));
            }
            if truncated {
                doc.push_str(&format!("<NextContinuationToken>{}</NextContinuationToken>", hex::encode(last.as_bytes())));
            }
        } else {
            doc.push_str(&format!(
                "<Marker>{}</Marker><MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter>",
                enc(&after),
                enc(&delimiter)
            ));
            if url {
                doc.push_str("<EncodingType>url</EncodingType>");
            }
            doc.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
            if truncated {
                doc.push_str(&format!("<NextMarker>{}</NextMarker>", enc(&last)));
            }
        }
        doc.push_str(&contents);
        for p in prefixes {
            doc.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(&p)));
        }
        doc.push_str("</ListBucketResult>");
        Ok(xml_response(doc))
    }
}
