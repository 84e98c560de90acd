//! The run's fingerprint: every delivered message and machine event folded into one hash.

use std::hash::{Hash, Hasher};

/// A fast, stable, non-cryptographic hasher for trace fingerprints.
///
/// `std`'s `DefaultHasher` is randomly keyed per process only through `RandomState`, but its
/// algorithm may change between Rust releases; this one is written here so that a hash
/// printed by CI can be compared with one printed on a laptop running the same commit.
#[derive(Clone, Debug)]
pub struct TraceHasher {
    state: u64,
    records: u64,
}

const SEED: u64 = 0x6f6d_6e69_7265_6c61; // "omnirela"
const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher {
            state: SEED,
            records: 0,
        }
    }
}

impl TraceHasher {
    /// Folds one trace record (anything hashable) into the fingerprint.
    pub fn record<T: Hash + ?Sized>(&mut self, record: &T) {
        self.records += 1;
        record.hash(self);
        // Separate records so that (a, b)(c) and (a)(b, c) hash differently.
        self.mix(0xff ^ self.records);
    }

    /// The fingerprint so far.
    pub fn value(&self) -> u64 {
        // A final avalanche so that nearby states print visibly different hashes.
        let mut x = self.state ^ self.records;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    /// How many records were folded in.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The fingerprint as printed in reports: 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.value()
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_boundaries_change_the_hash() {
        let mut a = TraceHasher::default();
        a.record(&(1u64, 2u64));
        a.record(&3u64);
        let mut b = TraceHasher::default();
        b.record(&1u64);
        b.record(&(2u64, 3u64));
        assert_ne!(a.value(), b.value());
    }

    #[test]
    fn the_same_records_give_the_same_hash() {
        let run = || {
            let mut h = TraceHasher::default();
            for i in 0..100u64 {
                h.record(&(i, "delivered", vec![i as u8; (i % 13) as usize]));
            }
            h.value()
        };
        assert_eq!(run(), run());
    }
}
