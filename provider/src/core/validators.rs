//! Attribute validators shared by the resource schemas.
//!
//! Each names what it accepts and, on failure, says what was given and what would be right, so
//! `terraform validate` is enough to fix a configuration.

use std::sync::Arc;

use super::diag::{AttrPath, Diagnostics};
use super::schema::Validator;
use super::value::Value;

fn validator(description: impl Into<String>, check: impl Fn(&Value, &AttrPath, &mut Diagnostics) + Send + Sync + 'static) -> Validator {
    Validator { description: description.into(), check: Arc::new(check) }
}

/// A validator of known strings: `f` returns the reason a string is wrong.
fn string_check(description: &str, summary: &'static str, f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Validator {
    validator(description, move |v, p, d| {
        if let Some(s) = v.as_str() {
            if let Some(why) = f(s) {
                d.attr_error(p, summary, why);
            }
        }
    })
}

/// Applies a string validator to every known element of a list or set, or value of a map.
pub fn each(inner: Validator) -> Validator {
    let check = inner.check.clone();
    validator(format!("each element: {}", inner.description), move |v, p, d| {
        if let Some(items) = v.elements() {
            for (i, item) in items.iter().enumerate() {
                if !item.is_null() && !item.is_unknown() {
                    check(item, &p.index(i), d);
                }
            }
        } else if let Some(m) = v.entries() {
            for (k, item) in m {
                if !item.is_null() && !item.is_unknown() {
                    check(item, &p.key(k), d);
                }
            }
        }
    })
}

/// Checks every key of a known map.
fn keys_check(description: &str, summary: &'static str, f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Validator {
    validator(description, move |v, p, d| {
        if let Some(m) = v.entries() {
            for k in m.keys() {
                if let Some(why) = f(k) {
                    d.attr_error(&p.key(k), summary, why);
                }
            }
        }
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes object name (RFC 1123 label): at most 63 lowercase letters, digits and hyphens.
pub fn k8s_name() -> Validator {
    string_check("a Kubernetes name (RFC 1123 label)", "Invalid name", |s| {
        (!is_dns_label(s)).then(|| {
            format!("{s:?} is not a valid Kubernetes name: use 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit")
        })
    })
}

fn label_value_error(s: &str) -> Option<String> {
    let ok_inner = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    let ok = s.is_empty()
        || (s.len() <= 63
            && s.bytes().all(ok_inner)
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric()));
    (!ok).then(|| {
        format!(
            "{s:?} is not a valid label value: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    })
}

/// A Kubernetes label value.
pub fn k8s_label_value() -> Validator {
    string_check("a Kubernetes label value", "Invalid label value", label_value_error)
}

/// A map of Kubernetes labels: keys are (optionally prefixed) label names, values label values.
pub fn k8s_labels() -> Validator {
    let keys = keys_check("Kubernetes label keys", "Invalid label key", |k| key_error(k, "label key"));
    let values = each(k8s_label_value());
    validator("Kubernetes labels", move |v, p, d| {
        (keys.check)(v, p, d);
        (values.check)(v, p, d);
    })
}

/// Why `k` is not a Kubernetes qualified name (`[prefix/]name`, the rule for label and taint
/// keys), naming it as `what`.
fn key_error(k: &str, what: &str) -> Option<String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(is_dns_label));
    let name_ok = !name.is_empty() && label_value_error(name).is_none();
    (!(prefix_ok && name_ok))
        .then(|| format!("{k:?} is not a valid {what}: use [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.'"))
}

/// A taint key: a label key (`[prefix/]name`).
pub fn taint_key() -> Validator {
    string_check("a taint key ([prefix/]name)", "Invalid taint key", |k| key_error(k, "key"))
}

/// A price: a positive decimal (`"0.5"`, `"12"`).
pub fn price() -> Validator {
    string_check("a positive decimal price", "Invalid price", |s| {
        (!(is_decimal(s) && s.parse::<f64>().is_ok_and(|p| p > 0.0)))
            .then(|| format!("{s:?} is not a price: write a positive decimal such as \"0.62\""))
    })
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn is_decimal(n: &str) -> bool {
    let mut parts = n.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A Kubernetes CPU quantity: `2`, `0.5`, `500m`.
pub fn cpu_quantity() -> Validator {
    string_check("a Kubernetes CPU quantity such as \"4\", \"0.5\" or \"500m\"", "Invalid CPU quantity", |s| {
        let (n, unit) = split_number(s);
        (!(is_decimal(n) && (unit.is_empty() || unit == "m")))
            .then(|| format!("{s:?} is not a CPU quantity: use cores (\"4\", \"0.5\") or millicores (\"500m\")"))
    })
}

/// A Kubernetes memory quantity: `256Gi`, `512Mi`, `1G`, or bytes.
pub fn memory_quantity() -> Validator {
    string_check("a Kubernetes memory quantity such as \"256Gi\" or \"512Mi\"", "Invalid memory quantity", |s| {
        const UNITS: [&str; 13] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E"];
        let (n, unit) = split_number(s);
        (!(is_decimal(n) && UNITS.contains(&unit))).then(|| {
            format!("{s:?} is not a memory quantity: use a number with a suffix such as Mi, Gi or Ti, like \"512Mi\" or \"256Gi\"")
        })
    })
}

/// A count of Kubernetes objects (e.g. the `pods` quota): a whole number.
pub fn count_quantity() -> Validator {
    string_check("a whole number", "Invalid count", |s| {
        (s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{s:?} is not a whole number"))
    })
}

/// A JVM/Spark memory size: `512m`, `4g`, `4gb`, `1024k`.
pub fn jvm_memory() -> Validator {
    string_check("a Spark memory size such as \"512m\" or \"4g\"", "Invalid memory size", |s| {
        const UNITS: [&str; 11] = ["", "b", "k", "kb", "m", "mb", "g", "gb", "t", "tb", "p"];
        let lower = s.to_ascii_lowercase();
        let end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
        let (n, unit) = lower.split_at(end);
        let ok = !n.is_empty() && n.bytes().any(|b| b != b'0') && (UNITS.contains(&unit) || unit == "pb");
        (!ok).then(|| {
            format!("{s:?} is not a memory size: use a whole number with an optional k, m, g or t suffix, like \"512m\" or \"4g\"")
        })
    })
}

/// A whole number within `[min, max]` (`max = None`: no upper bound).
pub fn int_between(min: i64, max: Option<i64>) -> Validator {
    let range = match max {
        Some(m) => format!("between {min} and {m}"),
        None => format!("at least {min}"),
    };
    validator(format!("a whole number {range}"), move |v, p, d| {
        if let Some(n) = v.as_number() {
            match n.as_i64() {
                None => d.attr_error(p, "Invalid number", format!("{} is not a whole number", n.as_f64())),
                Some(i) if i < min || max.is_some_and(|m| i > m) => {
                    d.attr_error(p, "Value out of range", format!("{i} is out of range: must be {range}"))
                }
                Some(_) => {}
            }
        }
    })
}

/// One of a fixed set of strings.
pub fn one_of(allowed: &'static [&'static str]) -> Validator {
    string_check(&format!("one of {}", allowed.join(", ")), "Unsupported value", move |s| {
        (!allowed.contains(&s)).then(|| format!("{s:?} is not supported: use one of {}", allowed.join(", ")))
    })
}

/// Parses an IPv4 CIDR into (network address, prefix length).
pub fn parse_cidr_v4(s: &str) -> Result<(u32, u8), String> {
    let bad = || format!("{s:?} is not an IPv4 CIDR block like \"172.20.0.0/16\"");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let octets: Vec<u8> = addr.split('.').map(|o| o.parse::<u8>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    if octets.len() != 4 {
        return Err(bad());
    }
    let ip = u32::from_be_bytes([octets[0], octets[1], octets[2], octets[3]]);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if ip & !mask != 0 {
        let net = std::net::Ipv4Addr::from(ip & mask);
        return Err(format!("{s:?} has host bits set: the network is \"{net}/{len}\""));
    }
    Ok((ip, len))
}

/// True when two CIDR blocks share any address.
pub fn cidrs_overlap(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

/// An IPv4 CIDR block.
pub fn cidr_v4() -> Validator {
    string_check("an IPv4 CIDR block", "Invalid CIDR block", |s| parse_cidr_v4(s).err())
}

/// Parses a Go-style duration (`90s`, `15m`, `1h30m`) into seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a duration: use a number and a unit (s, m, h), like \"90s\", \"15m\" or \"1h30m\"");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let (n, after) = split_number(rest);
        if !is_decimal(n) {
            return Err(bad());
        }
        let unit_end = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n.parse::<f64>().map_err(|_| bad())? * scale;
        rest = next;
    }
    Ok(total)
}

/// A positive Go-style duration.
pub fn duration() -> Validator {
    string_check("a duration such as \"90s\", \"15m\" or \"1h\"", "Invalid duration", |s| match parse_duration(s) {
        Err(e) => Some(e),
        Ok(secs) if secs <= 0.0 => Some(format!("{s:?} must be longer than zero")),
        Ok(_) => None,
    })
}

/// A container image reference: `[registry[:port]/]path[:tag][@sha256:digest]`.
pub fn container_image() -> Validator {
    string_check("a container image reference", "Invalid image reference", |s| {
        let bad = |why: &str| Some(format!("{s:?} is not a valid image reference: {why}"));
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return bad("it is empty or contains white space");
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            let hex = d.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return bad("the digest must be sha256: followed by 64 lowercase hex digits");
            }
        }
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
                && !t.starts_with(['.', '-']);
            if !ok {
                return bad("the tag must be 1-128 letters, digits, '_', '.' or '-'");
            }
        }
        let mut comps: Vec<&str> = path.split('/').collect();
        // The first component is a registry host when it has a dot, a port or is localhost.
        if comps.len() > 1 && (comps[0].contains(['.', ':']) || comps[0] == "localhost") {
            comps.remove(0);
        }
        let comp_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !comps.iter().all(|c| comp_ok(c)) {
            return bad("repository path components must be lowercase letters, digits and separators");
        }
        None
    })
}

/// Where a Spark application or extra jar comes from: `oss://bucket/key`, `https://...` or `local:///path`.
pub fn app_uri() -> Validator {
    string_check("oss://bucket/key, https://host/path or local:///path", "Invalid application URI", |s| {
        if s.starts_with("oss://") {
            return sparkoss_aliyun::oss_uri::OssUri::parse(s).err().map(|e| e.to_string());
        }
        if let Some(rest) = s.strip_prefix("https://") {
            let host = rest.split('/').next().unwrap_or("");
            // Without its query string: a presigned URL's signature stays out of diagnostics.
            let shown = s.split(['?', '#']).next().unwrap_or(s);
            return (host.is_empty() || rest.len() == host.len())
                .then(|| format!("{shown:?} is not a valid https URI: it needs a host and a path"));
        }
        if let Some(path) = s.strip_prefix("local://") {
            return (!path.starts_with('/') || path.len() < 2)
                .then(|| format!("{s:?} is not a valid local URI: use local:///absolute/path/in/the/image.jar"));
        }
        Some(format!(
            "{:?} is not supported: use oss://bucket/key, https://host/path or local:///path",
            s.split(['?', '#']).next().unwrap_or(s)
        ))
    })
}

/// A fully qualified Java class name.
pub fn java_class() -> Validator {
    string_check("a Java class name such as com.acme.Etl", "Invalid class name", |s| {
        let ident = |p: &str| {
            !p.is_empty()
                && p.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                && p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        };
        (!s.split('.').all(ident)).then(|| format!("{s:?} is not a Java class name like \"com.acme.Etl\""))
    })
}

/// Keys of a Spark configuration map: each starts with `spark.`.
pub fn spark_conf_keys() -> Validator {
    keys_check("keys starting with spark.", "Invalid Spark configuration key", |k| {
        (!k.starts_with("spark.") || k.len() <= "spark.".len() || k.chars().any(char::is_whitespace))
            .then(|| format!("{k:?} is not a Spark configuration key: keys start with \"spark.\""))
    })
}

/// Keys of an environment map: valid variable names.
pub fn env_names() -> Validator {
    keys_check("environment variable names", "Invalid environment variable name", |k| {
        let ok = k.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (!ok).then(|| format!("{k:?} is not a valid environment variable name: use letters, digits and '_', not starting with a digit"))
    })
}

/// An ACK cluster name: 1-63 characters of letters, digits, Chinese characters, '_' and '-',
/// starting with a letter, digit or Chinese character.
pub fn cluster_name() -> Validator {
    string_check("an ACK cluster name", "Invalid cluster name", |s| {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || ('\u{4e00}'..='\u{9fa5}').contains(&c);
        let n = s.chars().count();
        let ok = (1..=63).contains(&n) && s.chars().all(ok_char) && s.chars().next().is_some_and(|c| c != '_' && c != '-');
        (!ok).then(|| format!("{s:?} is not a valid cluster name: use 1-63 letters, digits, Chinese characters, '_' or '-', starting with a letter, digit or Chinese character"))
    })
}

/// A string that is not empty.
pub fn not_empty() -> Validator {
    string_check("a non-empty string", "Empty value", |s| s.trim().is_empty().then(|| "must not be empty".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::value::Number;

    fn errors(v: &Validator, value: Value) -> Vec<String> {
        let mut d = Diagnostics::new();
        (v.check)(&value, &AttrPath::root().attr("x"), &mut d);
        d.0.into_iter().map(|d| d.detail).collect()
    }

    fn accepts(v: &Validator, ok: &[&str], bad: &[&str]) {
        for s in ok {
            assert!(errors(v, Value::string(*s)).is_empty(), "{} should accept {s:?}", v.description);
        }
        for s in bad {
            assert_eq!(errors(v, Value::string(*s)).len(), 1, "{} should reject {s:?}", v.description);
        }
    }

    #[test]
    fn names_and_labels() {
        accepts(&k8s_name(), &["team-a", "a", "a1"], &["Team", "-a", "a-", "", &"a".repeat(64), "a_b"]);
        accepts(&k8s_label_value(), &["", "alice", "a.b_c-d"], &["-x", "x y", &"a".repeat(64)]);
        accepts(&cluster_name(), &["analytics", "数据-1", "a_b"], &["", "-a", "a b", &"a".repeat(64)]);
    }

    #[test]
    fn quantities_and_sizes() {
        accepts(&cpu_quantity(), &["64", "0.5", "500m"], &["", "1.", "4 cores", "5Gi", "m"]);
        accepts(&memory_quantity(), &["256Gi", "512Mi", "1G", "1024"], &["4gg", "Gi", "1 Gi", "1.5.0Gi"]);
        accepts(&jvm_memory(), &["512m", "4g", "4G", "4gb", "1024"], &["4gg", "g", "0", "-1g", "1.5g", "4 g"]);
    }

    #[test]
    fn uris_images_classes() {
        accepts(
            &app_uri(),
            &["oss://acme-jobs/etl/etl-1.4.jar", "https://h.example/x.jar", "local:///opt/app.jar"],
            &["s3://b/k", "oss://", "oss://Bad_Bucket/x.jar", "oss://bucket", "https://", "local://rel.jar"],
        );
        accepts(
            &container_image(),
            &[
                "registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3",
                "127.0.0.1:5000/spark-oss:3.5.3",
                "spark",
                "localhost/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            &["Spark:1", "a b", "x:", "x@sha256:12", "acme//x"],
        );
        accepts(&java_class(), &["com.acme.Etl", "Main", "a.b$C"], &["com..acme", "1abc", "com.acme.", ""]);
    }

    #[test]
    fn cidrs_and_durations() {
        accepts(&cidr_v4(), &["172.20.0.0/16", "10.0.0.0/8", "0.0.0.0/0"], &["172.20.0.1/16", "10.0.0.0", "10.0.0.0/33", "300.0.0.0/8"]);
        let a = parse_cidr_v4("172.16.0.0/12").expect("cidr");
        let b = parse_cidr_v4("172.20.0.0/16").expect("cidr");
        let c = parse_cidr_v4("192.168.0.0/16").expect("cidr");
        assert!(cidrs_overlap(a, b) && cidrs_overlap(b, a));
        assert!(!cidrs_overlap(a, c));
        accepts(&duration(), &["90s", "15m", "1h30m", "0.5h"], &["", "15", "m", "0s", "1d"]);
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
    }

    #[test]
    fn numbers_and_maps() {
        let v = int_between(1, Some(10));
        assert!(errors(&v, Value::Number(Number::Int(5))).is_empty());
        assert_eq!(errors(&v, Value::Number(Number::Int(0))).len(), 1);
        assert_eq!(errors(&v, Value::Number(Number::Float(1.5))).len(), 1);
        let conf =
            Value::Map([("spark.sql.x".to_string(), Value::string("1")), ("sql.x".to_string(), Value::string("1"))].into_iter().collect());
        let errs = errors(&spark_conf_keys(), conf);
        assert_eq!(errs, vec![r#"x["sql.x"]: "sql.x" is not a Spark configuration key: keys start with "spark.""#.to_string()]);
        let labels = Value::Map([("sparkoss.io/user".to_string(), Value::string("-bad"))].into_iter().collect());
        assert_eq!(errors(&k8s_labels(), labels).len(), 1);
        let list = Value::List(vec![Value::string("oss://bkt/k.jar"), Value::Unknown, Value::string("ftp://x")]);
        assert_eq!(
            errors(&each(app_uri()), list),
            vec![r#"x[2]: "ftp://x" is not supported: use oss://bucket/key, https://host/path or local:///path"#.to_string()]
        );
    }
}
