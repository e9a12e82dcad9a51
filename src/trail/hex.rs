//! Lowercase hex, the one encoding of MACs, digests, keys and signatures in a trail.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex form of `bytes`.
pub(crate) fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 0xf) as usize];
    }
}

/// Decodes 64 lowercase hex digits.
pub(crate) fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    // Any byte that is not a lowercase hex digit sets the high bit: one check at the end.
    let mut bad = 0u8;
    for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= hi | lo;
        *slot = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Lowercase hex digit values; 0xff for every other byte.
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The lowercase hex form of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the lowercase hex form of `bytes` to a string.
pub(crate) fn push_hex_str(bytes: &[u8], out: &mut String) {
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(64) {
        let hex = &mut buf[..chunk.len() * 2];
        for (pair, b) in hex.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[(b >> 4) as usize];
            pair[1] = DIGITS[(b & 0xf) as usize];
        }
        out.push_str(std::str::from_utf8(hex).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_anything_but_lowercase_digits() {
        let bytes: Vec<u8> = (0..32).map(|i| i * 8 + 3).collect();
        let hex = to_hex(&bytes);
        let mut s = String::new();
        push_hex_str(&bytes, &mut s);
        assert_eq!(hex, s);
        assert_eq!(decode_hex32(hex.as_bytes()).unwrap().to_vec(), bytes);
        assert!(decode_hex32(hex.to_uppercase().as_bytes()).is_none());
        assert!(decode_hex32(&hex.as_bytes()[1..]).is_none());
        let mut bad = hex.into_bytes();
        bad[5] = b'g';
        assert!(decode_hex32(&bad).is_none());
    }
}
