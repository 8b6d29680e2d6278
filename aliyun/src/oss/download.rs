//! Downloading an object to a file: streamed, resumed with `Range` after a dropped connection,
//! in parallel ranged parts when one stream is too slow, and checked against the object's CRC-64.
//!
//! How a large object is fetched ([`Split`]): one "leader" stream reads the object from the
//! front, one part-sized slice after another, over a single request. By default it times its
//! first part; when that arrived slower than a threshold, single-stream throughput is the limit
//! (a long or lossy path, a per-connection cap), so helper streams start taking ranged parts
//! from the back of the object while the leader keeps reading from the front, until they meet.
//! On loopback (an emulator on this machine) the limit of one stream is the CPU of one thread at
//! each end, not the network, and a rate says nothing about it: the default splits there from
//! the start (measured with the SIMD CRC-64, 1 GiB on a shared 2-core machine, two runs: 4 ranges
//! 0.86 and 1.19x curl, one stream 1.03 and 0.91x; `bench-oss-download`, which forces each mode
//! with the launcher's `SPARKOSS_DOWNLOAD_SPLIT`). Every stream resumes after a cut on its own; each part's
//! CRC-64 is computed as it arrives and the parts' CRCs are combined into the whole file's.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::client::{target, Client};
use super::OssError;
use crate::checksum::crc64::{self, Crc64};

/// When a download uses more than one stream (objects of at least
/// [`DownloadOptions::parallel_threshold`] bytes and more than one part only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One stream, whatever the size.
    Never,
    /// [`DownloadOptions::parallelism`] streams from the start.
    Always,
    /// One stream first; the others join when its first part arrived slower than this many
    /// bytes per second (time from sending the request to the part's last byte).
    IfSlowerThan(u64),
    /// [`Split::Always`] when the endpoint is a loopback address or `localhost` (see the module
    /// docs), [`Split::IfSlowerThan`] with this rate otherwise.
    Auto(u64),
}

/// How [`Client::download_to_file`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Objects smaller than this are always fetched as one stream.
    pub parallel_threshold: u64,
    /// Size of each ranged part (at least 1 MiB).
    pub part_size: u64,
    /// The most streams in flight at once (1: never split).
    pub parallelism: usize,
    /// When to split ([`Split::Auto`] at 256 MiB/s by default).
    pub split: Split,
    /// How many times one stream may be resumed after it was cut.
    pub max_resumes: u32,
    /// Compare the CRC-64 of what arrived with `x-oss-hash-crc64ecma`.
    pub verify_crc: bool,
}

/// The default [`Split::Auto`] rate: a remote stream slower than this is worth helping; one
/// already this fast gains little from more connections.
pub const DEFAULT_SPLIT_BELOW: u64 = 256 << 20;

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            parallel_threshold: 64 << 20,
            part_size: 16 << 20,
            parallelism: 4,
            split: Split::Auto(DEFAULT_SPLIT_BELOW),
            max_resumes: 5,
            verify_crc: true,
        }
    }
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// Bytes written.
    pub size: u64,
    /// The object's ETag.
    pub etag: String,
    /// CRC-64 of the file (equal to OSS's when it reported one and verification was on).
    pub crc64: u64,
    /// Whether OSS reported a CRC-64 that was checked.
    pub crc_verified: bool,
    /// How many times a cut stream was resumed.
    pub resumes: u32,
    /// How many parts the object was fetched as: 1 when one stream did it all.
    pub parts: usize,
    /// How many streams ran (at most [`DownloadOptions::parallelism`]).
    pub streams: usize,
}

/// Bytes are written to the file in batches of this size (bounds memory per stream).
const WRITE_BUFFER: usize = 1 << 20;

struct Job {
    client: Client,
    bucket: String,
    key: String,
    etag: String,
    size: u64,
    file: std::fs::File,
    path: PathBuf,
    max_resumes: u32,
    resumes: AtomicU32,
}

/// Collects one stream's contiguous bytes and writes them at their offsets in batches.
struct Writer<'a> {
    job: &'a Job,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    at: u64,
}

impl<'a> Writer<'a> {
    fn new(job: &'a Job, at: u64) -> Self {
        Writer { job, buf: Vec::with_capacity(WRITE_BUFFER), at }
    }

    fn push(&mut self, data: &[u8]) -> Result<(), OssError> {
        // Large pieces go straight to the file: no copy through the buffer.
        if self.buf.is_empty() && data.len() >= WRITE_BUFFER / 4 {
            self.job.write(data, self.at)?;
            self.at += data.len() as u64;
            return Ok(());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OssError> {
        if !self.buf.is_empty() {
            self.job.write(&self.buf, self.at)?;
            self.at += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Job {
    fn target(&self) -> String {
        target(&self.bucket, Some(&self.key))
    }

    fn write(&self, buf: &[u8], at: u64) -> Result<(), OssError> {
        self.file.write_all_at(buf, at).map_err(|source| OssError::Io { path: self.path.clone(), what: "writing", source })
    }

    /// Streams bytes `start..end` of the object to `sink` in order, resuming with `Range` after
    /// a cut (at most `max_resumes` times), until the end or until `sink` answers `false`.
    /// `whole`: the first request may omit `Range` (the stream starts at 0 and ends at the end).
    async fn stream(
        &self,
        start: u64,
        end: u64,
        whole: bool,
        sink: &mut (dyn FnMut(&[u8]) -> Result<bool, OssError> + Send),
    ) -> Result<(), OssError> {
        let mut offset = start;
        let mut cuts = 0u32;
        while offset < end {
            let range = if whole && offset == 0 { None } else { Some((offset, Some(end - 1))) };
            let failure = match self.client.get_object(&self.bucket, &self.key, range, Some(&self.etag)).await {
                Ok(mut resp) => {
                    if range.is_some() {
                        let expected = format!("bytes {offset}-{}/", end - 1);
                        let got = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("");
                        if resp.status().as_u16() != 206 || !got.starts_with(&expected) {
                            return Err(OssError::InvalidResponse {
                                target: self.target(),
                                detail: format!(
                                    "asked for bytes {offset}-{}, got HTTP {} with Content-Range {got:?}",
                                    end - 1,
                                    resp.status().as_u16()
                                ),
                            });
                        }
                    }
                    let failure = loop {
                        match resp.chunk().await {
                            Ok(Some(chunk)) => {
                                if chunk.len() as u64 > end - offset {
                                    return Err(OssError::InvalidResponse {
                                        target: self.target(),
                                        detail: "more bytes than the object has".into(),
                                    });
                                }
                                offset += chunk.len() as u64;
                                if !sink(&chunk)? {
                                    // The sink has what it wants: dropping the response ends the request.
                                    return Ok(());
                                }
                            }
                            Ok(None) => break None,
                            Err(e) => break Some(e.to_string()),
                        }
                    };
                    // Whatever arrived before a cut is good: the next request starts after it.
                    match failure {
                        Some(f) => f,
                        None if offset < end => format!("the connection closed at byte {offset}"),
                        None => break,
                    }
                }
                Err(e @ OssError::Transport { .. }) => e.to_string(),
                Err(e) => return Err(e),
            };
            cuts += 1;
            if cuts > self.max_resumes {
                return Err(OssError::Interrupted { target: self.target(), attempts: cuts, offset, size: self.size, last: failure });
            }
            self.resumes.fetch_add(1, Ordering::Relaxed);
            tracing::info!("{}: resuming at byte {offset} after: {failure}", self.target());
            tokio::time::sleep(self.client.cfg.retry.delay(cuts, crate::retry::jitter_unit())).await;
        }
        Ok(())
    }

    /// Fetches bytes `start..end` into the file at the same offsets; returns their CRC-64.
    async fn fetch(&self, start: u64, end: u64, whole: bool) -> Result<u64, OssError> {
        let mut crc = Crc64::new();
        let mut out = Writer::new(self, start);
        self.stream(start, end, whole, &mut |chunk| {
            // Checksum while the chunk is still in cache.
            crc.update(chunk);
            out.push(chunk)?;
            Ok(true)
        })
        .await?;
        out.flush()?;
        Ok(crc.finish())
    }
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".sparkoss-partial");
    dest.with_file_name(name)
}

impl Client {
    /// Downloads `oss://bucket/key` to `dest` (written under a temporary name and renamed when
    /// complete and verified, so `dest` never holds a partial object).
    pub async fn download_to_file(&self, bucket: &str, key: &str, dest: &Path, opts: &DownloadOptions) -> Result<DownloadReport, OssError> {
        let head = self.head_object(bucket, key).await?;
        let tmp = partial_path(dest);
        let file = std::fs::File::create(&tmp).map_err(|source| OssError::Io { path: tmp.clone(), what: "creating", source })?;
        let job = Arc::new(Job {
            client: self.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            etag: head.etag.clone(),
            size: head.size,
            file,
            path: tmp.clone(),
            max_resumes: opts.max_resumes,
            resumes: AtomicU32::new(0),
        });
        let result = run(&job, opts, self.is_loopback()).await;
        let (crc, parts, streams) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let verified = opts.verify_crc && head.crc64.is_some();
        if let Some(expected) = head.crc64.filter(|_| opts.verify_crc) {
            if expected != crc {
                let _ = std::fs::remove_file(&tmp);
                return Err(OssError::ChecksumMismatch { target: job.target(), expected, actual: crc, size: head.size });
            }
        }
        // No fsync: readers on this machine see the page cache, and after a crash the partial
        // name or a re-download covers it; syncing a GiB would double the download time.
        std::fs::rename(&tmp, dest).map_err(|source| OssError::Io {
            path: dest.to_owned(),
            what: "renaming the finished download to",
            source,
        })?;
        Ok(DownloadReport {
            size: head.size,
            etag: head.etag,
            crc64: crc,
            crc_verified: verified,
            resumes: job.resumes.load(Ordering::Relaxed),
            parts,
            streams,
        })
    }
}

/// Which parts are still unclaimed: `next..back`. The leader takes from the front, helpers
/// from the back, so the leader's parts stay contiguous and its one request keeps flowing.
struct Claims {
    next: usize,
    back: usize,
}

impl Claims {
    fn front(&mut self) -> Option<usize> {
        (self.next < self.back).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn back(&mut self) -> Option<usize> {
        (self.back > self.next).then(|| {
            self.back -= 1;
            self.back
        })
    }
}

/// Shared by the streams of one split download.
struct Parts {
    size: u64,
    part: u64,
    claims: Mutex<Claims>,
    crcs: Mutex<Vec<Option<u64>>>,
    /// Set when a stream failed: the others stop at their next part boundary.
    stop: AtomicBool,
}

impl Parts {
    fn bounds(&self, i: usize) -> (u64, u64) {
        let start = i as u64 * self.part;
        (start, (start + self.part).min(self.size))
    }

    fn claim(&self, from_front: bool) -> Option<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let mut c = self.claims.lock().ok()?;
        if from_front {
            c.front()
        } else {
            c.back()
        }
    }

    fn done(&self, i: usize, crc: u64) {
        if let Ok(mut v) = self.crcs.lock() {
            v[i] = Some(crc);
        }
    }
}

/// Helpers wait for the leader's verdict on its first part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pending,
    Split,
    Alone,
}

/// Downloads the object; returns its CRC-64, the number of parts and of streams.
async fn run(job: &Arc<Job>, opts: &DownloadOptions, loopback: bool) -> Result<(u64, usize, usize), OssError> {
    let size = job.size;
    if size == 0 {
        return Ok((0, 0, 0));
    }
    let part = opts.part_size.max(1 << 20);
    // None: one stream; Some(None): split from the start; Some(Some(rate)): split if slower.
    let threshold = match opts.split {
        Split::Never => None,
        Split::Always => Some(None),
        Split::IfSlowerThan(rate) => Some(Some(rate)),
        Split::Auto(_) if loopback => Some(None),
        Split::Auto(rate) => Some(Some(rate)),
    };
    let threshold = threshold.filter(|_| size >= opts.parallel_threshold && opts.parallelism > 1 && size > part);
    let Some(threshold) = threshold else {
        // On a runtime worker, not inline: a caller's `block_on` thread would be woken by a worker
        // for every chunk that arrives, which costs more CPU than the CRC on a fast link.
        let stream = job.clone();
        let crc = tokio::spawn(async move { stream.fetch(0, size, true).await })
            .await
            .map_err(|join| OssError::InvalidResponse { target: job.target(), detail: format!("the download task failed: {join}") })??;
        return Ok((crc, 1, 1));
    };
    let count = usize::try_from(size.div_ceil(part)).unwrap_or(usize::MAX);
    let parts = Arc::new(Parts {
        size,
        part,
        claims: Mutex::new(Claims { next: 0, back: count }),
        crcs: Mutex::new(vec![None; count]),
        stop: AtomicBool::new(false),
    });
    // No rate to beat: split from the start.
    let initial = if threshold.is_none() { Verdict::Split } else { Verdict::Pending };
    let threshold = threshold.unwrap_or(u64::MAX);
    let (verdict_tx, verdict_rx) = tokio::sync::watch::channel(initial);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 1..opts.parallelism.min(count) {
        let (job, parts, mut rx) = (job.clone(), parts.clone(), verdict_rx.clone());
        tasks.spawn(async move {
            // A dropped sender (the leader finished or failed first) means: not needed.
            if !matches!(rx.wait_for(|v| *v != Verdict::Pending).await.map(|v| *v), Ok(Verdict::Split)) {
                return Ok(false);
            }
            while let Some(i) = parts.claim(false) {
                let (start, end) = parts.bounds(i);
                match job.fetch(start, end, false).await {
                    Ok(crc) => parts.done(i, crc),
                    Err(e) => {
                        parts.stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(true)
        });
    }
    {
        let (job, parts) = (job.clone(), parts.clone());
        tasks.spawn(async move {
            let r = lead(&job, &parts, threshold, &verdict_tx).await;
            if r.is_err() {
                parts.stop.store(true, Ordering::Relaxed);
            }
            r.map(|()| true)
        });
    }
    let mut first_err = None;
    let mut streams = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(ran)) => streams += usize::from(ran),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(join) => {
                first_err
                    .get_or_insert(OssError::InvalidResponse { target: job.target(), detail: format!("a download task failed: {join}") });
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let crcs = parts.crcs.lock().map_err(|_| OssError::InvalidResponse { target: job.target(), detail: "part table poisoned".into() })?;
    let mut whole = 0u64;
    for (i, c) in crcs.iter().enumerate() {
        let c = c.ok_or_else(|| OssError::InvalidResponse { target: job.target(), detail: format!("part {i} missing") })?;
        let (start, end) = parts.bounds(i);
        whole = if i == 0 { c } else { crc64::combine(whole, c, end - start) };
    }
    // One stream that read everything fetched the object as one part, whatever the bookkeeping.
    let count = if streams == 1 { 1 } else { count };
    Ok((whole, count, streams))
}

/// The leader: reads parts from the front over one request (resumed after cuts), times the
/// first part and tells the helpers whether to join.
async fn lead(job: &Job, parts: &Parts, threshold: u64, verdict: &tokio::sync::watch::Sender<Verdict>) -> Result<(), OssError> {
    let Some(first) = parts.claim(true) else { return Ok(()) };
    let started = Instant::now();
    let mut current = first;
    let (mut part_start, mut part_end) = parts.bounds(current);
    let mut pos = part_start;
    let mut crc = Crc64::new();
    let mut out = Writer::new(job, part_start);
    job.stream(part_start, parts.size, part_start == 0, &mut |mut chunk: &[u8]| {
        while !chunk.is_empty() {
            let take = usize::try_from(part_end - pos).unwrap_or(usize::MAX).min(chunk.len());
            let (mine, rest) = chunk.split_at(take);
            crc.update(mine);
            out.push(mine)?;
            pos += take as u64;
            chunk = rest;
            if pos < part_end {
                continue;
            }
            parts.done(current, crc.finish());
            crc = Crc64::new();
            if current == first {
                let secs = started.elapsed().as_secs_f64();
                let rate = (part_end - part_start) as f64 / secs.max(1e-9);
                let split = rate < threshold as f64;
                tracing::debug!("{}: first part at {:.0} MiB/s, split: {split}", job.target(), rate / 1048576.0);
                verdict.send_if_modified(|v| {
                    let changed = *v == Verdict::Pending;
                    if changed {
                        *v = if split { Verdict::Split } else { Verdict::Alone };
                    }
                    changed
                });
            }
            match parts.claim(true) {
                // Front claims are contiguous: the same request carries on into the next part.
                Some(next) => {
                    current = next;
                    (part_start, part_end) = parts.bounds(next);
                    debug_assert_eq!(part_start, pos);
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    })
    .await?;
    out.flush()
}
