//! A listener that must never be contacted.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{fail, Result};

/// A TCP listener that counts connections and never answers: stands in for a Docker Engine that
/// must not be contacted.
pub struct Tripwire {
    /// `tcp://127.0.0.1:PORT`, for `DOCKER_HOST`.
    pub docker_host: String,
    hits: Arc<AtomicU64>,
}

impl Tripwire {
    /// Starts listening.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        let port = listener.local_addr().map_err(fail)?.port();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                drop(c);
            }
        });
        Ok(Self { docker_host: format!("tcp://127.0.0.1:{port}"), hits })
    }

    /// Connections received.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}
