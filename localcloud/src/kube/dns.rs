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
//!
//! The wire format is simple-dns's (parsing and writing, every read bound-checked); what is
//! dropped without an answer: a datagram that is not a DNS message, a response, a message with
//! other than one question, and a question whose type or class simple-dns does not know.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};
use tokio::net::UdpSocket;

use super::store::{kind, Store};

/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// How long resolvers may keep an answer: pods come and go.
const TTL_SECS: u32 = 5;

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
        if let Some(reply) = answer(&buf[..n], &store, api_ip) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The reply to one datagram, or `None` when it is dropped.
fn answer(datagram: &[u8], store: &Mutex<Store>, api_ip: Ipv4Addr) -> Option<Vec<u8>> {
    let query = parse_query(datagram)?;
    let addresses = {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        resolve(&s, api_ip, &query_name(&query))
    };
    response(&query, addresses.as_deref())
}

/// A query with exactly one question (what stub resolvers send), or `None`.
fn parse_query(datagram: &[u8]) -> Option<Packet<'_>> {
    let query = Packet::parse(datagram).ok()?;
    (!query.has_flags(PacketFlag::RESPONSE) && query.questions.len() == 1).then_some(query)
}

/// The question's name, lower case (names are case-insensitive; the reply keeps the asker's case).
fn query_name(query: &Packet<'_>) -> String {
    let Some(q) = query.questions.first() else { return String::new() };
    q.qname.get_labels().iter().map(|l| String::from_utf8_lossy(l.as_ref()).to_ascii_lowercase()).collect::<Vec<_>>().join(".")
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

/// The authoritative reply to `query`: its id, `RD` copied, the question as asked, one `A` record
/// per address for an `A` question, `NXDOMAIN` when `answer` is `None`.
fn response(query: &Packet<'_>, answer: Option<&[Ipv4Addr]>) -> Option<Vec<u8>> {
    let question = query.questions.first()?;
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
    if query.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    if answer.is_none() {
        *reply.rcode_mut() = RCODE::NameError;
    }
    if question.qtype == QTYPE::TYPE(TYPE::A) {
        for ip in answer.unwrap_or(&[]) {
            reply.answers.push(ResourceRecord::new(question.qname.clone(), CLASS::IN, TTL_SECS, RData::A(A::from(*ip))));
        }
    }
    reply.questions.push(question.clone());
    // Compressed: each record's name points at the question's, as CoreDNS writes it.
    reply.build_bytes_vec_compressed().ok()
}

/// What a pod's resolver is configured with: the search path of a pod in `namespace`.
pub fn search_domains(namespace: &str) -> Vec<String> {
    vec![format!("{namespace}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.to_owned()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::json;

    use super::*;

    /// A query as glibc's stub resolver writes it (RD set, one question, class IN).
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for l in name.split('.') {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p
    }

    /// A store with namespace `team`, service `etl-driver-svc` selecting `job=etl`, a running pod
    /// at 172.30.0.5 and a finished one at 172.30.0.6.
    fn store_with_service() -> Store {
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
        s
    }

    const API: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 1);

    /// Read from the wire by hand (not through simple-dns): flags byte 3's rcode, the answer
    /// count and the last 4 bytes.
    fn rcode_count_tail(r: &[u8]) -> (u8, u16, [u8; 4]) {
        let tail = r[r.len() - 4..].try_into().unwrap();
        (r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]]), tail)
    }

    #[test]
    fn services_resolve_to_their_running_pods() {
        let s = store_with_service();
        let want = Some(vec![Ipv4Addr::new(172, 30, 0, 5)]);
        for name in ["etl-driver-svc.team.svc", "etl-driver-svc.team.svc.cluster.local", "etl-driver-svc.team"] {
            assert_eq!(resolve(&s, API, name), want, "{name}");
        }
        assert_eq!(resolve(&s, API, "kubernetes.default.svc.cluster.local"), Some(vec![API]));
        assert_eq!(resolve(&s, API, "missing.team.svc"), None);
        assert_eq!(resolve(&s, API, "etl-driver-svc.team.svc.team.svc.cluster.local"), None, "search-path expansions are not found");

        let s = Mutex::new(s);
        let q = query(0x1234, "ETL-Driver-Svc.team.svc.cluster.local", 1);
        let r = answer(&q, &s, API).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34], "the id");
        assert_eq!(r[2], 0x85, "QR, AA, RD copied");
        assert_eq!(r[3] & 0x80, 0x80, "RA");
        assert_eq!(&r[12..q.len()], &q[12..], "the question as asked, case kept");
        assert_eq!(rcode_count_tail(&r), (0, 1, [172, 30, 0, 5]), "NOERROR, one answer: the running pod");
        // The record: a pointer to the question's name, A, IN, the TTL, 4 bytes.
        assert_eq!(&r[q.len()..q.len() + 12], &[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        assert_eq!(r.len(), q.len() + 16, "nothing else");

        let q = query(7, "nope.team.svc.cluster.local", 1);
        assert_eq!(rcode_count_tail(&answer(&q, &s, API).unwrap()).0, 3, "NXDOMAIN");
        let q = query(7, "kubernetes.default.svc.cluster.local", 28);
        let r = answer(&q, &s, API).unwrap();
        let (rcode, count, _) = rcode_count_tail(&r);
        assert_eq!((rcode, count), (0, 0), "AAAA: no records, no error");
        assert_eq!(r.len(), q.len(), "nothing but the question");
        let q = query(7, "kubernetes.default", 1);
        assert_eq!(rcode_count_tail(&answer(&q, &s, API).unwrap()), (0, 1, [172, 30, 0, 1]), "the API server");

        let mut response = query(7, "kubernetes.default", 1);
        response[2] |= 0x80;
        assert_eq!(answer(&response, &s, API), None, "a response is not answered");
        let mut two = query(7, "kubernetes.default", 1);
        two[5] = 2;
        assert_eq!(answer(&two, &s, API), None, "two questions announced, one there: dropped");
    }

    /// Random and truncated packets through the codec alone (a bounded, deterministic run, fast
    /// enough for many rounds): every one is either dropped or answered with its id, and none panics.
    #[test]
    fn malformed_packets_are_dropped_or_answered_never_panic() {
        let s = Mutex::new(Store::new());
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = [query(1, "kubernetes.default.svc.cluster.local", 1), query(2, "a.b", 28), query(3, "x", 255)];
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
            if let Some(r) = answer(&p, &s, API) {
                assert!(r.len() >= 12 && r[..2] == p[..2] && r[2] & 0x80 != 0, "a reply with the query's id");
                answered += 1;
            }
        }
        assert!(answered > 100, "intact questions are still answered: {answered}");
    }

    /// Packets: valid queries of random names and types, the same truncated anywhere, with
    /// bytes overwritten, and random bytes.
    fn packets() -> impl Strategy<Value = Vec<u8>> {
        let names = prop_oneof![
            Just("kubernetes.default.svc.cluster.local".to_owned()),
            Just("etl-driver-svc.team.svc".to_owned()),
            proptest::collection::vec("[a-z0-9-]{1,20}", 1..6).prop_map(|l| l.join(".")),
        ];
        let qtypes = prop_oneof![Just(1u16), Just(28), Just(255), Just(33), Just(65), any::<u16>()];
        let valid = (any::<u16>(), names, qtypes).prop_map(|(id, name, qtype)| query(id, &name, qtype));
        prop_oneof![
            valid.clone(),
            (valid.clone(), any::<proptest::sample::Index>()).prop_map(|(mut p, at)| {
                p.truncate(at.index(p.len()));
                p
            }),
            (valid, proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8)).prop_map(|(mut p, edits)| {
                for (at, byte) in edits {
                    let i = at.index(p.len());
                    p[i] = byte;
                }
                p
            }),
            proptest::collection::vec(any::<u8>(), 0..600),
        ]
    }

    /// The real server task on a loopback socket, fed a barrage of random, truncated and mutated
    /// packets: after each one a valid query is answered (the task is alive), and before that
    /// answer comes exactly what the codec makes of the packet (a reply, or nothing when dropped).
    /// Bounded: a fixed number of cases, each waiting at most 5 s for an answer.
    #[test]
    fn the_server_answers_or_drops_every_packet_and_keeps_serving() {
        let store = Arc::new(Mutex::new(store_with_service()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let socket = rt.block_on(UdpSocket::bind("127.0.0.1:0")).unwrap();
        let server = socket.local_addr().unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = rt.spawn(serve(socket, store.clone(), API, shutdown));
        let runner = std::thread::spawn(move || rt.block_on(task));

        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let probe = query(0xbeef, "etl-driver-svc.team.svc.cluster.local", 1);
        let recv = || -> Result<Vec<u8>, TestCaseError> {
            let mut buf = [0u8; 1500];
            let n = client.recv(&mut buf).map_err(|e| TestCaseError::fail(format!("no answer within 5 s: {e}")))?;
            Ok(buf[..n].to_vec())
        };
        let config = Config { cases: 2_000, failure_persistence: None, ..Config::default() };
        let answered = std::cell::Cell::new(0u32);
        let result = TestRunner::new(config).run(&packets(), |packet| {
            let expected = answer(&packet, &store, API);
            client.send(&packet).map_err(|e| TestCaseError::fail(e.to_string()))?;
            client.send(&probe).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Some(expected) = expected {
                let reply = recv()?;
                prop_assert_eq!(&reply, &expected, "the reply the codec makes");
                prop_assert!(reply[..2] == packet[..2] && reply[2] & 0x80 != 0, "a response with the query's id");
                answered.set(answered.get() + 1);
            }
            let reply = recv()?;
            prop_assert_eq!(&reply[..2], &[0xbe, 0xef], "the probe's answer comes next");
            prop_assert_eq!(rcode_count_tail(&reply), (0, 1, [172, 30, 0, 5]));
            Ok(())
        });
        stop.send(true).unwrap();
        let served = runner.join();
        // The failing packet (shrunk) first, then how the task ended.
        result.unwrap();
        served.unwrap().unwrap();
        let answered = answered.get();
        assert!(answered > 200, "intact and lightly damaged queries are answered: {answered}");
    }
}
