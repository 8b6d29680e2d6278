//! Downloading an object to a file: streamed, resumed with `Range` after a dropped connection,
//! in parallel ranged parts when large, and checked against the object's CRC-64.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::client::{target, Client};
use super::OssError;
use crate::checksum::crc64::{self, Crc64};

/// How [`Client::download_to_file`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Objects at least this large are fetched as parallel ranged parts.
    pub parallel_threshold: u64,
    /// Size of each ranged part.
    pub part_size: u64,
    /// How many parts are in flight at once.
    pub parallelism: usize,
    /// How many times one stream (the whole object, or one part) may be resumed after it was cut.
    pub max_resumes: u32,
    /// Compare the CRC-64 of what arrived with `x-oss-hash-crc64ecma`.
    pub verify_crc: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions { parallel_threshold: 64 << 20, part_size: 16 << 20, parallelism: 4, max_resumes: 5, verify_crc: true }
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
    /// How many ranged parts were fetched (1 for a single stream).
    pub parts: usize,
}

/// Flush buffered bytes to the file every this many bytes (bounds memory per stream).
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

impl Job {
    fn target(&self) -> String {
        target(&self.bucket, Some(&self.key))
    }

    fn write(&self, buf: &[u8], at: u64) -> Result<(), OssError> {
        self.file.write_all_at(buf, at).map_err(|source| OssError::Io { path: self.path.clone(), what: "writing", source })
    }

    /// Fetches bytes `start..end` into the file at the same offsets; returns their CRC-64.
    async fn fetch(&self, start: u64, end: u64, whole: bool) -> Result<u64, OssError> {
        let mut offset = start;
        let mut crc = Crc64::new();
        let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BUFFER);
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
                    let mut buf_start = offset;
                    let failure = loop {
                        match resp.chunk().await {
                            Ok(Some(chunk)) => {
                                let room = end - buf_start - buf.len() as u64;
                                if chunk.len() as u64 > room {
                                    return Err(OssError::InvalidResponse {
                                        target: self.target(),
                                        detail: "more bytes than the object has".into(),
                                    });
                                }
                                // Checksum while the chunk is still in cache; batch the writes.
                                crc.update(&chunk);
                                if buf.is_empty() && chunk.len() >= WRITE_BUFFER / 4 {
                                    self.write(&chunk, buf_start)?;
                                    buf_start += chunk.len() as u64;
                                    continue;
                                }
                                buf.extend_from_slice(&chunk);
                                if buf.len() >= WRITE_BUFFER {
                                    self.write(&buf, buf_start)?;
                                    buf_start += buf.len() as u64;
                                    buf.clear();
                                }
                            }
                            Ok(None) => break None,
                            Err(e) => break Some(e.to_string()),
                        }
                    };
                    // Whatever arrived before a cut is good: keep it and resume after it.
                    self.write(&buf, buf_start)?;
                    offset = buf_start + buf.len() as u64;
                    buf.clear();
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
            tokio::time::sleep(self.client.cfg.retry.delay(cuts, offset)).await;
        }
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
        let result = run(&job, opts).await;
        let (crc, parts) = match result {
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
        })
    }
}

async fn run(job: &Arc<Job>, opts: &DownloadOptions) -> Result<(u64, usize), OssError> {
    let size = job.size;
    if size == 0 {
        return Ok((0, 0));
    }
    let part = opts.part_size.max(1 << 20);
    if size < opts.parallel_threshold || opts.parallelism <= 1 || size <= part {
        return Ok((job.fetch(0, size, true).await?, 1));
    }
    let count = usize::try_from(size.div_ceil(part)).unwrap_or(usize::MAX);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let crcs = Arc::new(Mutex::new(vec![None::<u64>; count]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.parallelism.min(count) {
        let (job, next, stop, crcs) = (job.clone(), next.clone(), stop.clone(), crcs.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let start = i as u64 * part;
                let end = (start + part).min(size);
                match job.fetch(start, end, false).await {
                    Ok(c) => {
                        if let Ok(mut v) = crcs.lock() {
                            v[i] = Some(c);
                        }
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        });
    }
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
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
    let crcs = crcs.lock().map_err(|_| OssError::InvalidResponse { target: job.target(), detail: "part table poisoned".into() })?;
    let mut whole = 0u64;
    for (i, c) in crcs.iter().enumerate() {
        let c = c.ok_or_else(|| OssError::InvalidResponse { target: job.target(), detail: format!("part {i} missing") })?;
        let len = (size - i as u64 * part).min(part);
        whole = if i == 0 { c } else { crc64::combine(whole, c, len) };
    }
    Ok((whole, count))
}
