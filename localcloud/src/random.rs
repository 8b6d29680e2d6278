//! Randomness for keys, tokens and secrets: the operating system's generator (`getrandom`), with
//! no fallback. [`check`] runs at start-up, so a local cloud on a system without a random source
//! refuses to start instead of making keys of zeros.

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system has no usable random source ({0}): refusing to make keys, tokens or secrets without one")]
pub struct NoRandomness(getrandom::Error);

/// `n` random bytes.
pub fn bytes(n: usize) -> Result<Vec<u8>, NoRandomness> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out).map_err(NoRandomness)?;
    Ok(out)
}

/// `n` random bytes as lowercase hex (`2n` digits).
pub fn hex(n: usize) -> Result<String, NoRandomness> {
    bytes(n).map(hex::encode)
}

/// Fails when the operating system has no random source (checked once at start-up).
pub fn check() -> Result<(), NoRandomness> {
    bytes(16).map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_random_and_of_the_asked_length() {
        let (a, b) = (super::hex(16).expect("random"), super::hex(16).expect("random"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b, "two draws differ");
        assert_ne!(a, "0".repeat(32));
    }
}
