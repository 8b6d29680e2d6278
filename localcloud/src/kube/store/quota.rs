//! Quota accounting on exact quantities: what a pod asks of a quota, what a namespace's pods
//! use, and a quota's `status` (`hard`, `used`) written back as the API server prints amounts.
//! Amounts are sparkoss-quantity's exact nano-units, so sums and comparisons never round (a
//! float cannot tell 2^53 bytes from one byte more).

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

use serde_json::{json, Map, Value as Json};
use sparkoss_quantity::Quantity;

use super::{kind, Store};

/// Nano-units in one unit (a core, a byte, a pod).
const NANOS: i128 = 1_000_000_000;

/// An exact, non-negative amount of a resource in nano-units (10^-9 of a core, a byte, a pod).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i128);

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);

    /// A quantity field (`500m`, `2`, `1.5`, `2Gi`, `512M`, `1e3`); `None` when it is not a
    /// quantity, or is negative: the API server refuses negative requests and quotas, so they
    /// never count.
    pub fn parse(s: &str) -> Option<Amount> {
        Quantity::parse_trimmed(s).ok().filter(|q| !q.is_negative()).map(|q| Amount(q.nanos()))
    }

    /// A quantity as an API object holds it: a string, or a JSON number written as one.
    fn of_json(v: &Json) -> Option<Amount> {
        match v {
            Json::String(s) => Amount::parse(s),
            Json::Number(n) => Amount::parse(&n.to_string()),
            _ => None,
        }
    }

    /// The nearest amount to `v` base units (for callers that keep floats, such as node sizes).
    fn from_f64(v: f64) -> Amount {
        // `as` saturates, and makes NaN zero.
        Amount((v * NANOS as f64).round() as i128)
    }

    /// The amount in base units as the nearest `f64` (for the scheduler's arithmetic).
    pub fn as_f64(self) -> f64 {
        Quantity::from_nanos(self.0).as_f64()
    }

    /// Whole `1/per`ths of a unit, rounded half away from zero (as `f64::round` did).
    fn rounded(self, per: i128) -> i128 {
        let step = NANOS / per;
        let q = (self.0.abs() + step / 2) / step;
        if self.0 < 0 {
            -q
        } else {
            q
        }
    }
}

impl Add for Amount {
    type Output = Amount;

    fn add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        *self = *self + other;
    }
}

/// A quantity field in base units as an `f64`; `None` as for [`Amount::parse`].
pub fn parse_quantity(s: &str) -> Option<f64> {
    Amount::parse(s).map(Amount::as_f64)
}

/// A quota's `spec.hard` value: as written (for the messages) and as an amount.
pub(super) fn hard_amount(v: &Json) -> Option<(String, Amount)> {
    let written = v.as_str().map(str::to_owned).or_else(|| v.as_f64().map(|f| f.to_string()))?;
    let amount = Amount::parse(&written)?;
    Some((written, amount))
}

/// The quota resource name the usage map is keyed by (`cpu` is `requests.cpu`).
pub(super) fn canonical(res: &str) -> &str {
    match res {
        "cpu" => "requests.cpu",
        "memory" => "requests.memory",
        other => other,
    }
}

/// Formats `v` base units the way the API server prints it for that resource.
pub fn format_quantity(res: &str, v: f64) -> String {
    format_amount(res, Amount::from_f64(v))
}

/// Formats an amount the way the API server prints it for that resource: CPU in whole cores or
/// millicores, memory in the largest binary suffix that divides it, anything else in units.
pub fn format_amount(res: &str, a: Amount) -> String {
    if res.ends_with("cpu") {
        let milli = a.rounded(1000);
        if milli % 1000 == 0 {
            format!("{}", milli / 1000)
        } else {
            format!("{milli}m")
        }
    } else if res.ends_with("memory") {
        let b = a.rounded(1);
        for (suf, m) in [("Gi", 1i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if b != 0 && b % m == 0 {
                return format!("{}{suf}", b / m);
            }
        }
        format!("{b}")
    } else {
        format!("{}", a.rounded(1))
    }
}

/// What a pod asks of a quota: `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory`, `pods`.
pub fn pod_usage(pod: &Json) -> BTreeMap<&'static str, Amount> {
    let mut u = BTreeMap::new();
    u.insert("pods", Amount(NANOS));
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (kind, res, key) in [
            ("requests", "cpu", "requests.cpu"),
            ("requests", "memory", "requests.memory"),
            ("limits", "cpu", "limits.cpu"),
            ("limits", "memory", "limits.memory"),
        ] {
            if let Some(q) = Amount::of_json(&c["resources"][kind][res]) {
                *u.entry(key).or_default() += q;
            }
        }
    }
    u
}

/// Usage of the pods that still count against quota (not finished).
pub fn usage<'a>(pods: impl IntoIterator<Item = &'a Json>) -> BTreeMap<&'static str, Amount> {
    let mut total = BTreeMap::new();
    for p in pods {
        let phase = p["status"]["phase"].as_str().unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        for (k, v) in pod_usage(p) {
            *total.entry(k).or_default() += v;
        }
    }
    total
}

impl Store {
    /// Writes `status.hard` / `status.used` of every quota in the namespace from its pods.
    pub fn refresh_quotas(&mut self, ns: &str) {
        let (Some(rq), Some(pods)) = (kind("", "resourcequotas"), kind("", "pods")) else { return };
        let quotas = self.list(rq, Some(ns));
        if quotas.is_empty() {
            return;
        }
        let used = usage(self.iter(pods, Some(ns)));
        for q in quotas {
            let name = q["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let hard = q["spec"]["hard"].as_object().cloned().unwrap_or_default();
            let mut hard_out = Map::new();
            let mut used_out = Map::new();
            for (res, v) in &hard {
                hard_out.insert(res.clone(), v.clone());
                used_out.insert(res.clone(), json!(format_amount(res, used.get(canonical(res)).copied().unwrap_or_default())));
            }
            self.update_with(rq, ns, &name, |o| {
                o["status"] = json!({"hard": hard_out, "used": used_out});
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_round_trip() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2Gi"), Some(2147483648.0));
        assert_eq!(format_quantity("requests.cpu", 1.5), "1500m");
        assert_eq!(format_quantity("limits.memory", 3.0 * 1073741824.0), "3Gi");
        assert_eq!(parse_quantity("x"), None);
        assert_eq!(parse_quantity(" 1Ei "), Some(1152921504606846976.0), "white space is trimmed, as the API server's decoder does");
        assert_eq!(parse_quantity("-1"), None, "negative amounts never count");
        // The float parser took any float before a suffix, which Kubernetes refuses.
        assert_eq!(parse_quantity("1e3Gi"), None);
        assert_eq!(parse_quantity("1.5e3m"), None);
        assert_eq!(parse_quantity("0.07"), Some(0.07));
    }

    #[test]
    fn sums_are_exact_where_floats_round() {
        let pod = |mem: &str| json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"memory": mem}}}, {"name": "b", "resources": {"requests": {"memory": "1"}}}]}});
        // 2^53 + 1 bytes: an f64 rounds it back to 2^53.
        let u = usage([&pod("9007199254740992"), &json!({"spec": {}, "status": {"phase": "Succeeded"}})]);
        assert_eq!(u["requests.memory"], Amount::parse("9007199254740993").expect("amount"));
        assert_eq!(format_amount("requests.memory", u["requests.memory"]), "9007199254740993");
        assert_eq!(u["pods"], Amount::parse("1").expect("one pod"), "a finished pod no longer counts");
        let tenth = Amount::parse("100m").expect("100m");
        let mut sum = Amount::ZERO;
        for _ in 0..3 {
            sum += tenth;
        }
        assert_eq!(sum, Amount::parse("0.3").expect("0.3"), "0.1 + 0.1 + 0.1 is 0.3");
        assert_eq!(
            pod_usage(&json!({"spec": {"containers": [{"resources": {"limits": {"cpu": 1.5}}}]}}))["limits.cpu"],
            Amount::parse("1500m").expect("1500m"),
            "a JSON number counts as the quantity it writes"
        );
        assert_eq!(format_amount("limits.cpu", Amount::parse("1.0005").expect("cpu")), "1001m", "millicores round half away from zero");
    }
}
