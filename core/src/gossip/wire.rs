//! Protobuf size arithmetic, so `wire_size` reports what an encoding would take.

/// Bytes of `v` as a varint.
pub(crate) fn varint(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A non-zero integer field (zero is omitted by protobuf).
pub(crate) fn uint(v: u64) -> usize {
    if v == 0 { 0 } else { 1 + varint(v) }
}

/// A length-delimited field of `len` bytes.
pub(crate) fn bytes(len: usize) -> usize {
    1 + varint(len as u64) + len
}

/// An embedded message whose body is `len` bytes.
pub(crate) fn embedded(len: usize) -> usize {
    bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_sizes_follow_seven_bit_groups() {
        assert_eq!(varint(0), 1);
        assert_eq!(varint(127), 1);
        assert_eq!(varint(128), 2);
        assert_eq!(varint(u64::MAX), 10);
        assert_eq!(uint(0), 0);
        assert_eq!(bytes(3), 5);
    }
}
