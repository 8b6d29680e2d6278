//! Digests as the tests compare them.

use sha2::{Digest, Sha256};

/// Hex sha256.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
