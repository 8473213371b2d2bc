//! 64-bit FNV-1a, ebb's one hash of names and records: fixed by its
//! definition, so every host and every build agrees on it (std's
//! `DefaultHasher` may change between Rust releases). Shards, spreading
//! per-target work over time and the history files' record checks use it.

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
