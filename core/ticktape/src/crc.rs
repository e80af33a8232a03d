//! The journal's checksum: CRC-32 (zlib's polynomial) from 0, no final xor.

/// CRC-32 of `data` with initial value 0 and no final xor: 0 for a whole sealed value.
pub fn crc(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
    h.update(data);
    h.finalize() ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero() {
        assert_eq!(crc(b""), 0);
    }
}
