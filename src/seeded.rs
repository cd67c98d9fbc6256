//! Seeded randomness: every random choice the server makes comes from here,
//! as a pure function of the seed and a position, so one draw never shifts
//! another.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a draw is for: each purpose has its own sequence of draws, by
/// its number. Numbers 1 to 8 are the routes' (their table's `draws`:
/// the JSON routes' faults and delays, the stream's cuts and ends); never
/// renumber one (the same seed would draw otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Purpose {
    /// The order of the k-th `GET /chats`.
    ChatOrder = 9,
    /// Copies of a published message, by idempotency key.
    Duplicates = 10,
    /// The n-th bot answer: delay, line, key, id.
    Bot = 11,
    /// The n-th injected message: key, id.
    Inject = 12,
    /// Chat ids (fixtures, then added chats).
    ChatUuid = 13,
    /// The id of the n-th user message.
    UserMessageUuid = 14,
    /// The ids of fixture messages.
    FixtureMessage = 15,
    /// The idempotency keys of fixture messages.
    FixtureKey = 16,
    /// The id of the n-th bot answer.
    BotMessageUuid = 17,
    /// The id of the n-th injected message.
    InjectedMessageUuid = 18,
    /// The order of the `Allow` lines of the n-th 405 that has two.
    AllowOrder = 19,
}

/// A fresh ChaCha generator that is a pure function of
/// `(seed, purpose, epoch, index)`; `epoch` counts resets.
pub(crate) fn rng_at(seed: u64, purpose: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&purpose.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(&epoch.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Shuffles `items` as a pure function of `(seed, purpose, epoch, index)`,
/// like [`rng_at`] but through SplitMix64: a handful of items per request
/// (the chat list) does not need a ChaCha block computed for it.
pub(crate) fn shuffle_at<T>(seed: u64, purpose: u64, epoch: u64, index: u64, items: &mut [T]) {
    let mut state = splitmix(seed ^ splitmix(purpose ^ splitmix(epoch ^ splitmix(index))));
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let draw = splitmix(state);
        // Lemire's multiply-shift: a uniform pick in 0..=i.
        let j = ((u128::from(draw) * (i as u128 + 1)) >> 64) as usize;
        items.swap(i, j);
    }
}

/// SplitMix64's output function.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UUID v4 drawn from `rng`.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// 64-bit FNV-1a: a stable hash (unlike `DefaultHasher`, which may change
/// between Rust releases) for turning strings into RNG positions. It hashes
/// bytes, so a text and its UTF-8 bytes (an idempotency key that is text,
/// or one that is not) hash alike.
pub(crate) fn stable_hash(bytes: impl AsRef<[u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes.as_ref() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_a_pure_function_of_its_position() {
        let a: u64 = rng_at(7, 1, 0, 3).gen();
        assert_eq!(a, rng_at(7, 1, 0, 3).gen::<u64>());
        assert_ne!(a, rng_at(7, 1, 0, 4).gen::<u64>());
        assert_ne!(a, rng_at(8, 1, 0, 3).gen::<u64>());
        assert_ne!(a, rng_at(7, 2, 0, 3).gen::<u64>());
        assert_ne!(a, rng_at(7, 1, 1, 3).gen::<u64>());
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"a"), stable_hash("a"));
        assert_ne!(stable_hash(b"\xe9"), stable_hash(b"\xea"));
    }

    #[test]
    fn shuffles_are_pure_and_cover_every_order() {
        let order = |index| {
            let mut items = [0, 1, 2, 3];
            shuffle_at(7, 9, 0, index, &mut items);
            items
        };
        assert_eq!(order(3), order(3));
        let mut seen = std::collections::HashSet::new();
        let mut first = [0usize; 4];
        for index in 0..4_800 {
            let o = order(index);
            let mut sorted = o;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3]);
            first[o[0]] += 1;
            seen.insert(o);
        }
        assert_eq!(seen.len(), 24, "every order of 4 comes up");
        // Each item leads about a quarter of the time.
        assert!(
            first.iter().all(|&n| (1_000..1_400).contains(&n)),
            "{first:?}"
        );
        let mut other = [0, 1, 2, 3];
        shuffle_at(8, 9, 0, 3, &mut other);
        let mut epoch = [0, 1, 2, 3];
        shuffle_at(7, 9, 1, 3, &mut epoch);
        // Another seed or epoch: other orders (for these positions).
        assert_ne!(other, order(3));
        assert_ne!(epoch, order(3));
    }
}
