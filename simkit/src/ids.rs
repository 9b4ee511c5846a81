//! Identifiers drawn from a seeded stream, so that replays produce the same ids.

use rand::{Rng, RngCore};
use uuid::Uuid;

/// A random (version 4) UUID drawn from `rng`.
pub fn uuid_v4(rng: &mut impl RngCore) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A Cal.com-style booking uid: 22 characters of the base-58 alphabet short-uuid uses.
pub fn short_uid(rng: &mut impl RngCore) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeedStreams;

    #[test]
    fn ids_are_seeded_and_well_formed() {
        let mut a = SeedStreams::new(7).stream("ids");
        let mut b = SeedStreams::new(7).stream("ids");
        let id = uuid_v4(&mut a);
        assert_eq!(id, uuid_v4(&mut b));
        assert_eq!(id.get_version_num(), 4);
        let uid = short_uid(&mut a);
        assert_eq!(uid.len(), 22);
        assert!(
            uid.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c))
        );
    }
}
