//! DeleteMultipleObjects (`POST /?delete`): up to 1,000 keys in one request, as Hadoop's OSS
//! connector deletes a directory's contents. A key that does not exist counts as deleted, as on
//! OSS; quiet mode lists nothing when everything was deleted (and then sends no body).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use md5::{Digest, Md5};
use sparkoss_aliyun::oss::xml;

use sparkoss_aliyun::percent_encode;

use super::{err, internal, xml_response, Oss, OssErr, Req, MAX_DELETE_KEYS};

/// A parsed `<Delete>` document.
#[derive(Debug, PartialEq, Eq)]
struct DeleteList {
    quiet: bool,
    keys: Vec<String>,
}

fn malformed() -> OssErr {
    err(
        StatusCode::BAD_REQUEST,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

/// `<Delete><Quiet>true|false</Quiet><Object><Key>k</Key></Object>…</Delete>`; the keys are
/// XML text (`encoding-type=url` encodes the answer's keys, not the request's).
fn parse(doc: &str) -> Result<DeleteList, OssErr> {
    let body = xml::elements(doc, "Delete").first().copied().ok_or_else(malformed)?;
    let quiet = match xml::text(body, "Quiet").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    let keys = xml::elements(body, "Object")
        .into_iter()
        .map(|o| xml::text(o, "Key").filter(|k| !k.is_empty()).ok_or_else(malformed))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(malformed());
    }
    Ok(DeleteList { quiet, keys })
}

impl Oss {
    pub(super) async fn delete_objects(&self, req: &Req, bucket: &str, body: Body) -> Result<Response, OssErr> {
        self.require_bucket(bucket)?;
        let bytes = axum::body::to_bytes(body, 2 << 20).await.map_err(|_| malformed())?;
        if let Some(want) = req.header("content-md5") {
            if want != base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes)) {
                return Err(err(StatusCode::BAD_REQUEST, "InvalidDigest", "The Content-MD5 you specified was invalid."));
            }
        }
        let list = parse(&String::from_utf8_lossy(&bytes))?;
        for key in &list.keys {
            let (data, meta) = self.object_paths(bucket, key);
            for path in [meta, data] {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(internal(e)),
                }
            }
        }
        if list.quiet {
            return Ok(StatusCode::OK.into_response());
        }
        // OSS documents `Encoding-type` as a request header (the Java SDK sends it so); older
        // documents and other clients put it in the query.
        let url = req.header("encoding-type").as_deref().or(req.q("encoding-type")) == Some("url");
        let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>");
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        for key in &list.keys {
            let k = if url { percent_encode(key, true) } else { xml::escape(key) };
            doc.push_str(&format!("<Deleted><Key>{k}</Key></Deleted>"));
        }
        doc.push_str("</DeleteResult>");
        Ok(xml_response(doc))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_delete_document() {
        let doc = "<?xml version=\"1.0\"?><Delete><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key>c/d</Key></Object></Delete>";
        assert_eq!(parse(doc).unwrap(), DeleteList { quiet: true, keys: vec!["a & b".into(), "c/d".into()] });
        let verbose = parse("<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!verbose.quiet);
        for bad in [
            "<Delete></Delete>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>",
            "nothing",
        ] {
            assert_eq!(parse(bad).unwrap_err().code, "MalformedXML", "{bad}");
        }
        let many: String = (0..=MAX_DELETE_KEYS).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
        assert_eq!(parse(&format!("<Delete>{many}</Delete>")).unwrap_err().code, "MalformedXML");
    }
}
