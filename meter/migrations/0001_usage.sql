-- One schema for SQLite and PostgreSQL: only types both read the same way (TEXT, BIGINT) and
-- times as milliseconds since the Unix epoch (UTC), so reports never depend on a driver's
-- timestamp handling.

-- One row per pod, keyed by its uid: every write is an idempotent upsert, so a restarted meter
-- or a replayed watch event never adds a second row for the same pod.
CREATE TABLE pods (
    uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    job TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    cpu_request_millis BIGINT NOT NULL,
    memory_request_bytes BIGINT NOT NULL,
    cpu_limit_millis BIGINT,
    memory_limit_bytes BIGINT,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    ended_ms BIGINT,
    phase TEXT NOT NULL,
    exit_code BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX pods_by_user ON pods (username);
CREATE INDEX pods_by_job ON pods (namespace, job);
CREATE INDEX pods_by_end ON pods (ended_ms);

-- Real usage from metrics.k8s.io, one row per pod and metrics timestamp (a re-read of the same
-- sample is a no-op). window_ms is the time the sample stands for: since the pod's previous
-- sample, or since it started for the first one.
CREATE TABLE samples (
    pod_uid TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    cpu_nanocores BIGINT NOT NULL,
    memory_bytes BIGINT NOT NULL,
    window_ms BIGINT NOT NULL,
    PRIMARY KEY (pod_uid, at_ms)
);
-- Covering: a report reads every column it needs from this index, in time order, without a
-- lookup into the table per sample (measured with SQLite over 1M samples: 1.75 s with an index
-- on at_ms alone, 0.63 s with this one).
CREATE INDEX samples_by_time ON samples (at_ms, pod_uid, cpu_nanocores, memory_bytes, window_ms);

-- Driver logs written to OSS when the driver ended.
CREATE TABLE log_archives (
    pod_uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    job TEXT NOT NULL,
    pod TEXT NOT NULL,
    url TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    archived_ms BIGINT NOT NULL
);
CREATE INDEX log_archives_by_job ON log_archives (job, namespace);
