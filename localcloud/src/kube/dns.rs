//! The cluster DNS (what CoreDNS answers on a real cluster), for pods on the pod network: the
//! `kubernetes` service's names resolve to the API server's address on that network, and a
//! service's names (`<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`) to the IPs of
//! the running pods its selector picks (every service behaves as headless: there is no
//! kube-proxy to give a cluster IP meaning). Answers come from the store at query time, so a pod
//! that started a moment ago is found at once.
//!
//! Only `A` queries are answered with records; `AAAA` and others of a known name get an empty
//! answer (so resolvers do not wait), unknown names `NXDOMAIN`. Nothing is forwarded: nothing
//! outside the machine is reachable anyway.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

use super::store::{kind, Store};

/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Serves DNS on `socket` (UDP) until shutdown.
pub async fn serve(socket: UdpSocket, store: Arc<Mutex<Store>>, api_ip: Ipv4Addr, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut buf = [0u8; 1500];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.wait_for(|d| *d) => return,
        };
        let (n, peer): (usize, SocketAddr) = match received {
            Ok(x) => x,
            // A socket error (an ICMP answer to an earlier reply, say) is not fatal; pausing
            // keeps a persistent one from spinning the loop.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(query) = parse_query(&buf[..n]) else { continue };
        let answer = {
            let s = store.lock().unwrap_or_else(|p| p.into_inner());
            resolve(&s, api_ip, &query.name)
        };
        let _ = socket.send_to(&response(&buf[..n], &query, answer.as_deref()), peer).await;
    }
}

/// One question of a query.
#[derive(Debug, PartialEq)]
struct Query {
    name: String,
    qtype: u16,
    /// Where the question section ends in the packet.
    end: usize,
}

// Still hand-written (issue 24 asks for simple-dns or hickory-proto; not done yet): it reads one
// question and copies it back, every read bound-checked, fuzzed by the test below.
fn parse_query(p: &[u8]) -> Option<Query> {
    if p.len() < 12 || p[2] & 0x80 != 0 || u16::from_be_bytes([p[4], p[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *p.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers are not used in questions.
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(p.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]);
    // The class too must be there: `response` copies the whole question (a packet cut inside
    // it used to panic the DNS task for good).
    p.get(i + 2..i + 4)?;
    Some(Query { name: labels.join("."), qtype, end: i + 4 })
}

/// The addresses of `name`: `Some(vec![])` for a name that exists with no ready address,
/// `None` for a name the cluster does not know.
fn resolve(s: &Store, api_ip: Ipv4Addr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let name = name.trim_end_matches('.');
    let short = name.strip_suffix(&format!(".{CLUSTER_DOMAIN}")).unwrap_or(name);
    let short = short.strip_suffix(".svc").unwrap_or(short);
    let (svc, ns) = short.split_once('.')?;
    if ns.contains('.') {
        return None;
    }
    if svc == "kubernetes" && ns == "default" {
        return Some(vec![api_ip]);
    }
    let service = s.get(kind("", "services")?, ns, svc).ok()?;
    let selector = service["spec"]["selector"].as_object().cloned().unwrap_or_default();
    if selector.is_empty() {
        return Some(Vec::new());
    }
    let pods = s.list(kind("", "pods")?, Some(ns));
    let ips = pods
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p["metadata"]["labels"][k] == *v))
        .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["status"]["podIP"].as_str().and_then(|ip| ip.parse().ok()))
        .collect();
    Some(ips)
}

fn response(request: &[u8], q: &Query, answer: Option<&[Ipv4Addr]>) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + 16 * answer.map_or(0, <[Ipv4Addr]>::len));
    r.extend_from_slice(&request[..2]); // id
    let rd = request[2] & 0x01;
    r.push(0x84 | rd); // QR, AA, RD copied
    let rcode = if answer.is_some() { 0 } else { 3 };
    r.push(0x80 | rcode); // RA, rcode
    let records: &[Ipv4Addr] = if q.qtype == 1 { answer.unwrap_or(&[]) } else { &[] };
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(records.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&request[12..q.end]);
    for ip in records {
        r.extend_from_slice(&[0xc0, 12]); // the question's name
        r.extend_from_slice(&1u16.to_be_bytes()); // A
        r.extend_from_slice(&1u16.to_be_bytes()); // IN
        r.extend_from_slice(&5u32.to_be_bytes()); // TTL: pods come and go
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip.octets());
    }
    r
}

/// What a pod's resolver is configured with: the search path of a pod in `namespace`.
pub fn search_domains(namespace: &str) -> Vec<String> {
    vec![format!("{namespace}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.to_owned()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
        p
    }

    /// Random and truncated packets (a bounded, deterministic fuzz run): every one is either
    /// dropped or answered with a well-formed reply, and none panics.
    #[test]
    fn malformed_packets_are_dropped_or_answered_never_panic() {
        let s = Store::new();
        let api = Ipv4Addr::new(172, 30, 0, 1);
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = [query("kubernetes.default.svc.cluster.local", 1), query("a.b", 28), query("x", 255)];
        let mut answered = 0;
        for round in 0..20_000 {
            let mut p = valid[round % valid.len()].clone();
            match round % 3 {
                0 => p.truncate(next() as usize % (p.len() + 1)),
                1 => {
                    let i = next() as usize % p.len();
                    p[i] = next() as u8;
                }
                _ => p = (0..next() % 64).map(|_| next() as u8).collect(),
            }
            if let Some(q) = parse_query(&p) {
                let r = response(&p, &q, resolve(&s, api, &q.name).as_deref());
                assert!(r.len() >= q.end && r[..2] == p[..2], "a reply keeps the id and the question");
                answered += 1;
            }
        }
        assert!(answered > 100, "intact questions are still answered: {answered}");
    }

    #[test]
    fn services_resolve_to_their_running_pods() {
        let mut s = Store::new();
        let ns = kind("", "namespaces").unwrap();
        s.create(ns, "", json!({"metadata": {"name": "team"}})).unwrap();
        let svc = kind("", "services").unwrap();
        s.create(svc, "team", json!({"metadata": {"name": "etl-driver-svc"}, "spec": {"clusterIP": "None", "selector": {"job": "etl"}}}))
            .unwrap();
        let pods = kind("", "pods").unwrap();
        for (name, ip, phase) in [("d", "172.30.0.5", "Running"), ("old", "172.30.0.6", "Succeeded")] {
            s.create(pods, "team", json!({"metadata": {"name": name, "labels": {"job": "etl"}}, "spec": {"containers": [{"name": "c"}]}}))
                .unwrap();
            s.update_with(pods, "team", name, |p| {
                p["status"]["phase"] = json!(phase);
                p["status"]["podIP"] = json!(ip);
            });
        }
        let api = Ipv4Addr::new(172, 30, 0, 1);
        let want = Some(vec![Ipv4Addr::new(172, 30, 0, 5)]);
        for name in ["etl-driver-svc.team.svc", "etl-driver-svc.team.svc.cluster.local", "etl-driver-svc.team"] {
            assert_eq!(resolve(&s, api, name), want, "{name}");
        }
        assert_eq!(resolve(&s, api, "kubernetes.default.svc.cluster.local"), Some(vec![api]));
        assert_eq!(resolve(&s, api, "missing.team.svc"), None);
        assert_eq!(resolve(&s, api, "etl-driver-svc.team.svc.team.svc.cluster.local"), None, "search-path expansions are not found");

        let q = query("etl-driver-svc.team.svc.cluster.local", 1);
        let parsed = parse_query(&q).unwrap();
        let r = response(&q, &parsed, resolve(&s, api, &parsed.name).as_deref());
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[172, 30, 0, 5]);
        let q = query("nope.team.svc.cluster.local", 1);
        let parsed = parse_query(&q).unwrap();
        let r = response(&q, &parsed, resolve(&s, api, &parsed.name).as_deref());
        assert_eq!(r[3] & 0x0f, 3, "NXDOMAIN");
        let q = query("kubernetes.default.svc.cluster.local", 28);
        let parsed = parse_query(&q).unwrap();
        let r = response(&q, &parsed, resolve(&s, api, &parsed.name).as_deref());
        assert_eq!((r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]])), (0, 0), "AAAA: no records, no error");
    }
}
