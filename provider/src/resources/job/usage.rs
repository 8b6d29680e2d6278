//! What the job really used: each pod's requests × the time it ran, as the meter counts it
//! (from `status.startTime` to its container's finish), keyed by pod uid. With dynamic
//! allocation executors come and go while the driver runs, so they are followed while the
//! provider waits; a fixed set of executors runs as long as the driver.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use sparkoss_quantity::Quantity as Amount;

use super::spec::{JobSpec, PodSize};
use super::wait::rfc3339_seconds;

/// One pod's run: requests and the seconds it ran.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    cores: f64,
    gib: f64,
    start: i64,
    end: Option<i64>,
    last_seen: i64,
}

/// Core-seconds and GiB-seconds, summed over pods and attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Usage {
    pub(super) core_seconds: f64,
    pub(super) gib_seconds: f64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.core_seconds += o.core_seconds;
        self.gib_seconds += o.gib_seconds;
    }
}

/// The executors seen so far, by pod uid: the same pod seen twice counts once.
#[derive(Debug, Default)]
pub(super) struct ExecutorRuns {
    runs: BTreeMap<String, Run>,
    /// The most executors seen running at once.
    pub(super) peak: usize,
}

fn requests(pod: &Pod) -> (f64, f64) {
    let mut cores = 0.0;
    let mut bytes = 0.0;
    for c in pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default() {
        let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let get = |k: &str| req.and_then(|r| r.get(k)).and_then(|q| Amount::parse_trimmed(&q.0).ok()).map_or(0.0, |a| a.as_f64());
        cores += get("cpu");
        bytes += get("memory");
    }
    (cores, bytes / 1_073_741_824.0)
}

/// When a pod's run ended, if it did: its container's finish, or its deletion.
fn end_of(pod: &Pod) -> Option<i64> {
    let status = pod.status.as_ref();
    let finished = status.and_then(|s| s.container_statuses.as_ref()).and_then(|cs| {
        cs.iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()).map(|t| t.0.as_second()).max()
    });
    finished.or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0.as_second()))
}

impl ExecutorRuns {
    /// Records a listing of the job's executor pods taken at `now` (Unix seconds). A pod that
    /// was running and is no longer listed ended between the last listing and this one; it is
    /// counted until the last time it was seen.
    pub(super) fn observe(&mut self, pods: &[Pod], now: i64) {
        let mut listed = std::collections::BTreeSet::new();
        let mut running = 0;
        for p in pods {
            let Some(uid) = p.metadata.uid.clone() else { continue };
            let Some(start) = p.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0.as_second()) else { continue };
            let end = end_of(p);
            if end.is_none() {
                running += 1;
            }
            listed.insert(uid.clone());
            let (cores, gib) = requests(p);
            let run = self.runs.entry(uid).or_insert(Run { cores, gib, start, end: None, last_seen: now });
            run.last_seen = now;
            if run.end.is_none() {
                run.end = end;
            }
        }
        for (uid, run) in self.runs.iter_mut() {
            if run.end.is_none() && !listed.contains(uid) {
                run.end = Some(run.last_seen);
            }
        }
        self.peak = self.peak.max(running);
    }

    /// Closes every run still open at `now` (the driver ended: its executors end with it).
    pub(super) fn finish(&mut self, now: i64) {
        for run in self.runs.values_mut() {
            if run.end.is_none() {
                run.end = Some(now.max(run.start));
            }
        }
    }

    /// The usage of every executor seen (open runs until their last sighting).
    pub(super) fn usage(&self) -> Usage {
        let mut u = Usage::default();
        for r in self.runs.values() {
            let secs = (r.end.unwrap_or(r.last_seen) - r.start).max(0) as f64;
            u.core_seconds += r.cores * secs;
            u.gib_seconds += r.gib * secs;
        }
        u
    }
}

/// The seconds a driver pod ran (until `now` while it runs), from its container's start.
pub(super) fn driver_seconds(pod: &Pod, now: i64) -> i64 {
    let o = super::wait::observe(pod);
    let start = o.started_at.as_deref().and_then(rfc3339_seconds);
    let end = o.finished_at.as_deref().and_then(rfc3339_seconds).or(start.map(|_| now));
    match (start, end) {
        (Some(s), Some(e)) => (e - s).max(0),
        _ => 0,
    }
}

fn size_usage(size: PodSize, count: u64, secs: i64) -> Usage {
    Usage { core_seconds: (size.cores * count) as f64 * secs as f64, gib_seconds: (size.mib * count) as f64 / 1024.0 * secs as f64 }
}

/// One attempt's usage: the driver's requests × its run time, plus the executors followed
/// (dynamic allocation) or the fixed executors for the driver's run time.
pub(super) fn attempt_usage(spec: &JobSpec, driver: &Pod, executors: &ExecutorRuns, now: i64) -> Usage {
    let secs = driver_seconds(driver, now);
    let mut u = size_usage(spec.driver, 1, secs);
    if spec.allocation.is_some() {
        u += executors.usage();
    } else {
        u += size_usage(spec.executor, spec.instances, secs);
    }
    u
}

/// Writes the usage attributes.
pub(super) fn set_usage(state: &mut crate::core::Value, u: Usage) {
    use crate::core::{Number, Value};
    if let Some(m) = state.attrs_mut() {
        m.insert("cpu_core_seconds".into(), Value::Number(Number::Int(u.core_seconds.round() as i64)));
        m.insert("memory_gib_seconds".into(), Value::Number(Number::Float(u.gib_seconds)));
    }
}
