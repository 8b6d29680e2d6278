//! The few protobuf request bodies clients send unasked: kubectl's typed commands
//! (`kubectl create namespace`, `serviceaccount`, `rolebinding`, `clusterrolebinding`, `secret`,
//! `token`) write
//! `application/vnd.kubernetes.protobuf` and do not fall back to JSON. Those objects are decoded
//! here into the JSON the store keeps; field numbers are those of Kubernetes' `generated.proto`.
//! Encoders write every field, empty ones too (`selfLink: ""`, `generation: 0`); an empty field
//! is what JSON leaves out. A field this decoder does not know and that carries a value is
//! refused (never dropped), so nothing is lost silently.
//!
//! Kept rather than k8s-pb (issue 24): k8s-pb 0.9 needs Rust 1.88 (the workspace's is 1.85), and
//! took 32 s of one core and 70 MB of target to compile (dev profile, measured) for these six kinds.

use serde_json::{json, Map, Value as Json};

/// The magic prefix of Kubernetes' protobuf encoding.
const MAGIC: &[u8] = b"k8s\0";

/// A decoding failure, with what was being read.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// One field of a message: number and value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl Field<'_> {
    /// Zero, empty, or a message of nothing but such fields (`status: {phase: ""}`): unset.
    fn is_empty(&self) -> bool {
        fn blank(b: &[u8], depth: u8) -> bool {
            b.is_empty()
                || depth < 8
                    && fields(b).is_ok_and(|fs| {
                        fs.iter().all(|(_, f)| match f {
                            Field::Varint(v) => *v == 0,
                            Field::Bytes(inner) => blank(inner, depth + 1),
                        })
                    })
        }
        match self {
            Field::Varint(v) => *v == 0,
            Field::Bytes(b) => blank(b, 0),
        }
    }
}

/// Refuses a field this decoder does not know, unless it is empty.
fn unknown(f: &Field, what: impl FnOnce() -> String) -> Result<(), DecodeError> {
    if f.is_empty() {
        Ok(())
    } else {
        Err(DecodeError(what()))
    }
}

fn varint(b: &[u8], i: &mut usize) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i).ok_or_else(|| DecodeError("truncated varint".into()))?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("varint too long".into()))
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Field<'_>)>, DecodeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(b, &mut i)?))),
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).map_err(|_| DecodeError("length".into()))?;
                let end = i.checked_add(len).filter(|e| *e <= b.len()).ok_or_else(|| DecodeError("truncated field".into()))?;
                out.push((num, Field::Bytes(&b[i..end])));
                i = end;
            }
            other => return Err(DecodeError(format!("wire type {other} of field {num} is not used by these objects"))),
        }
    }
    Ok(out)
}

fn text(f: &Field, what: &str) -> Result<String, DecodeError> {
    match f {
        Field::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| DecodeError(format!("{what} is not UTF-8"))),
        Field::Varint(_) => Err(DecodeError(format!("{what} is not a string"))),
    }
}

fn bytes<'a>(f: &Field<'a>, what: &str) -> Result<&'a [u8], DecodeError> {
    match f {
        Field::Bytes(b) => Ok(b),
        Field::Varint(_) => Err(DecodeError(format!("{what} is not a message"))),
    }
}

/// A message of string fields, by number → JSON name.
fn strings(b: &[u8], names: &[(u64, &str)], what: &str) -> Result<Json, DecodeError> {
    let mut m = Map::new();
    for (num, f) in fields(b)? {
        match names.iter().find(|(n, _)| *n == num) {
            Some((_, name)) if !f.is_empty() => drop(m.insert((*name).to_owned(), json!(text(&f, name)?))),
            Some(_) => {}
            None => unknown(&f, || format!("{what}: unknown field {num}"))?,
        }
    }
    Ok(Json::Object(m))
}

fn string_map_entry(b: &[u8]) -> Result<(String, String), DecodeError> {
    let mut k = String::new();
    let mut v = String::new();
    for (num, f) in fields(b)? {
        match num {
            1 => k = text(&f, "map key")?,
            2 => v = text(&f, "map value")?,
            _ => return Err(DecodeError(format!("map entry: unknown field {num}"))),
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Json, DecodeError> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (num, f) in fields(b)? {
        match num {
            1 => drop(m.insert("name".into(), json!(text(&f, "name")?))),
            2 => drop(m.insert("generateName".into(), json!(text(&f, "generateName")?))),
            3 => drop(m.insert("namespace".into(), json!(text(&f, "namespace")?))),
            11 => {
                let (k, v) = string_map_entry(bytes(&f, "labels")?)?;
                labels.insert(k, json!(v));
            }
            12 => {
                let (k, v) = string_map_entry(bytes(&f, "annotations")?)?;
                annotations.insert(k, json!(v));
            }
            // creationTimestamp is always written, as an empty Time when unset.
            8 => {}
            other => unknown(&f, || format!("metadata: field {other} is not decoded here"))?,
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Json::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Json::Object(annotations));
    }
    Ok(Json::Object(m))
}

fn binding(b: &[u8]) -> Result<Json, DecodeError> {
    let mut o = json!({});
    let mut subjects = Vec::new();
    for (num, f) in fields(b)? {
        match num {
            1 => o["metadata"] = object_meta(bytes(&f, "metadata")?)?,
            2 => subjects.push(strings(bytes(&f, "subject")?, &[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")], "subject")?),
            3 => o["roleRef"] = strings(bytes(&f, "roleRef")?, &[(1, "apiGroup"), (2, "kind"), (3, "name")], "roleRef")?,
            other => unknown(&f, || format!("binding: unknown field {other}"))?,
        }
    }
    if !subjects.is_empty() {
        o["subjects"] = Json::Array(subjects);
    }
    Ok(o)
}

/// A Secret (`kubectl create secret generic`): `data` values are bytes, base64 in JSON.
fn secret(b: &[u8]) -> Result<Json, DecodeError> {
    use base64::Engine as _;
    let mut o = json!({});
    let mut data = Map::new();
    let mut string_data = Map::new();
    for (num, f) in fields(b)? {
        match num {
            1 => o["metadata"] = object_meta(bytes(&f, "metadata")?)?,
            2 => {
                let (mut k, mut v) = (String::new(), Vec::new());
                for (n, e) in fields(bytes(&f, "data")?)? {
                    match n {
                        1 => k = text(&e, "data key")?,
                        2 => v = bytes(&e, "data value")?.to_vec(),
                        _ => return Err(DecodeError(format!("data entry: unknown field {n}"))),
                    }
                }
                data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(v)));
            }
            3 if !f.is_empty() => o["type"] = json!(text(&f, "type")?),
            4 => {
                let (k, v) = string_map_entry(bytes(&f, "stringData")?)?;
                string_data.insert(k, json!(v));
            }
            5 => {
                if let Field::Varint(v) = f {
                    o["immutable"] = json!(v != 0);
                }
            }
            other => unknown(&f, || format!("secret: unknown field {other}"))?,
        }
    }
    if !data.is_empty() {
        o["data"] = Json::Object(data);
    }
    if !string_data.is_empty() {
        o["stringData"] = Json::Object(string_data);
    }
    Ok(o)
}

/// An object of which `kubectl create` sets only the metadata (ServiceAccount, Namespace).
fn metadata_only(b: &[u8], kind: &str) -> Result<Json, DecodeError> {
    let mut o = json!({});
    for (num, f) in fields(b)? {
        match num {
            1 => o["metadata"] = object_meta(bytes(&f, "metadata")?)?,
            other => unknown(&f, || format!("{kind}: field {other} is not decoded here"))?,
        }
    }
    Ok(o)
}

/// A TokenRequest (`kubectl create token`). `expirationSeconds` is a pointer in Go: written only
/// when set, so a present field counts even when zero.
fn token_request(b: &[u8]) -> Result<Json, DecodeError> {
    let mut o = json!({"spec": {}});
    for (num, f) in fields(b)? {
        match num {
            1 => o["metadata"] = object_meta(bytes(&f, "metadata")?)?,
            2 => {
                let mut audiences = Vec::new();
                for (n, sf) in fields(bytes(&f, "spec")?)? {
                    match n {
                        1 => audiences.push(json!(text(&sf, "audience")?)),
                        3 => {
                            let names = [(1, "kind"), (2, "apiVersion"), (3, "name"), (4, "uid")];
                            o["spec"]["boundObjectRef"] = strings(bytes(&sf, "boundObjectRef")?, &names, "boundObjectRef")?;
                        }
                        // int64 on the wire: a negative value is its two's complement.
                        4 => match sf {
                            Field::Varint(v) => o["spec"]["expirationSeconds"] = json!(v as i64),
                            Field::Bytes(_) => return Err(DecodeError("expirationSeconds is not a number".into())),
                        },
                        other => unknown(&sf, || format!("token request spec: unknown field {other}"))?,
                    }
                }
                if !audiences.is_empty() {
                    o["spec"]["audiences"] = Json::Array(audiences);
                }
            }
            // The status is the server's to fill: it clears whatever a client sent.
            3 => {}
            other => unknown(&f, || format!("token request: unknown field {other}"))?,
        }
    }
    Ok(o)
}

/// Decodes a protobuf-encoded object into its JSON form (with `apiVersion` and `kind`).
pub fn decode(body: &[u8]) -> Result<Json, DecodeError> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| DecodeError("no k8s protobuf prefix".into()))?;
    let mut type_meta = json!({});
    let mut raw: &[u8] = &[];
    for (num, f) in fields(envelope)? {
        match num {
            1 => type_meta = strings(bytes(&f, "typeMeta")?, &[(1, "apiVersion"), (2, "kind")], "typeMeta")?,
            2 => raw = bytes(&f, "raw")?,
            // contentEncoding, contentType: empty for plain objects.
            3 | 4 => {}
            other => unknown(&f, || format!("envelope: unknown field {other}"))?,
        }
    }
    let kind = type_meta["kind"].as_str().unwrap_or("").to_owned();
    let mut obj = match kind.as_str() {
        "RoleBinding" | "ClusterRoleBinding" => binding(raw)?,
        "ServiceAccount" | "Namespace" => metadata_only(raw, &kind)?,
        "Secret" => secret(raw)?,
        "TokenRequest" => token_request(raw)?,
        other => return Err(DecodeError(format!("{other} objects are accepted as JSON only"))),
    };
    obj["apiVersion"] = type_meta["apiVersion"].clone();
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(num << 3 | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn a_rolebinding_as_kubectl_encodes_it() {
        let meta = [field(1, b"spark-edit"), field(3, b"team"), field(11, &[field(1, b"a"), field(2, b"b")].concat())].concat();
        let subject = [field(1, b"ServiceAccount"), field(3, b"spark"), field(4, b"team")].concat();
        let role_ref = [field(1, b"rbac.authorization.k8s.io"), field(2, b"ClusterRole"), field(3, b"edit")].concat();
        let raw = [field(1, &meta), field(2, &subject), field(3, &role_ref)].concat();
        let tm = [field(1, b"rbac.authorization.k8s.io/v1"), field(2, b"RoleBinding")].concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &raw)].concat();
        let o = decode(&body).unwrap();
        assert_eq!(
            o,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "spark-edit", "namespace": "team", "labels": {"a": "b"}},
                   "subjects": [{"kind": "ServiceAccount", "name": "spark", "namespace": "team"}],
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}})
        );
        let pod = [MAGIC.to_vec(), field(1, &[field(1, b"v1"), field(2, b"Pod")].concat()), field(2, &[])].concat();
        assert!(decode(&pod).unwrap_err().0.contains("JSON only"));
        let sa = |raw: &[u8]| [MAGIC.to_vec(), field(1, &[field(1, b"v1"), field(2, b"ServiceAccount")].concat()), field(2, raw)].concat();
        assert!(decode(&sa(&field(3, b"x"))).is_err(), "an unknown field with a value is refused, not dropped");
        let empty_fields = [field(1, &[field(1, b"spark"), field(4, b""), field(8, b"")].concat()), field(3, &field(1, b""))].concat();
        assert_eq!(decode(&sa(&empty_fields)).unwrap()["metadata"], json!({"name": "spark"}), "empty fields are unset ones");
    }

    #[test]
    fn a_token_request_as_kubectl_create_token_encodes_it() {
        let tm = [field(1, b"authentication.k8s.io/v1"), field(2, b"TokenRequest")].concat();
        let bound = [field(1, b"Pod"), field(2, b"v1"), field(3, b"driver")].concat();
        // --audience a --audience b --duration 20m --bound-object-kind Pod ...; empty status.
        let spec = [field(1, b"a"), field(1, b"b"), field(3, &bound), vec![4 << 3, 0xb0, 0x09]].concat();
        let raw = [field(1, &field(8, b"")), field(2, &spec), field(3, &[field(1, b""), field(2, b"")].concat())].concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &raw)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                   "spec": {"audiences": ["a", "b"], "expirationSeconds": 1200,
                            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "driver"}}})
        );
        // kubectl create token without flags: an empty spec, the server's defaults apply.
        let raw = [field(1, &[]), field(2, &[])].concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &raw)].concat();
        assert_eq!(decode(&body).unwrap()["spec"], json!({}));
    }

    #[test]
    fn a_secret_as_kubectl_create_secret_generic_encodes_it() {
        let meta = [field(1, b"db"), field(3, b"team")].concat();
        // A value that is not UTF-8: secret data are bytes.
        let entry = [field(1, b"url"), field(2, &[0xff, b'p', b'g'])].concat();
        let raw = [field(1, &meta), field(2, &entry), field(3, b"Opaque"), vec![5 << 3, 1]].concat();
        let body = [MAGIC.to_vec(), field(1, &[field(1, b"v1"), field(2, b"Secret")].concat()), field(2, &raw)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "team"},
                   "data": {"url": "/3Bn"}, "type": "Opaque", "immutable": true})
        );
    }
}
