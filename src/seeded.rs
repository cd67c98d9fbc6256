//! Seeded randomness: every random choice the server makes comes from here,
//! as a pure function of the seed and a position.

use std::sync::{Mutex, MutexGuard};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ChaCha streams, one per purpose, so draws for one never shift another's.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub(crate) enum Stream {
    /// Route `i` uses stream `Route0 + i`.
    Route0 = 1,
    Duplicates = 10,
    Bot = 11,
    Inject = 12,
    ChatUuid = 13,
    MessageUuid = 14,
}

/// A fresh ChaCha generator that is a pure function of `(seed, stream, index)`.
pub(crate) fn rng_at(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"mockchat");
    ChaCha8Rng::from_seed(key)
}

/// A UUID v4 drawn from `rng`.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// A UUID v4 that is a pure function of `(seed, stream, index)`.
pub(crate) fn uuid_at(seed: u64, stream: Stream, index: u64) -> uuid::Uuid {
    uuid_from(&mut rng_at(seed, stream as u64, index))
}

/// 64-bit FNV-1a: a stable hash (unlike `DefaultHasher`, which may change
/// between Rust releases) for turning strings into RNG positions.
pub(crate) fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// leaves its data consistent, so a panic elsewhere must not take the server
/// down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_a_pure_function_of_its_position() {
        let a: u64 = rng_at(7, 1, 3).gen();
        assert_eq!(a, rng_at(7, 1, 3).gen::<u64>());
        assert_ne!(a, rng_at(7, 1, 4).gen::<u64>());
        assert_ne!(a, rng_at(8, 1, 3).gen::<u64>());
        assert_ne!(a, rng_at(7, 2, 3).gen::<u64>());
    }

    #[test]
    fn uuids_are_v4_and_reproducible() {
        let u = uuid_at(1, Stream::Bot, 2);
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u, uuid_at(1, Stream::Bot, 2));
        assert_ne!(u, uuid_at(1, Stream::Bot, 3));
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
