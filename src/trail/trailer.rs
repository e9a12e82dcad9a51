//! The framed line format, shared by the framer (writing) and the verifier (reading).
//!
//! ```text
//! {"seq":N,<body keys>[,"prev":"<64 hex>"][,"kid":"<key id>"],"mac":"<alg>:<64 hex>"}
//! ```
//! `mac` = HMAC-SHA256(key, P || B) (`hmac-sha256:`) or SHA-256(P || B) (`sha256:`, unkeyed), where
//! P is the previous record's MAC as 32 raw bytes (32 zero bytes for a `genesis` record) and B the
//! exact bytes of the line before `,"mac":"`. A verifier recomputes it from the raw bytes without
//! re-serializing anything.

use super::hex::decode_hex32;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The separator before the MAC; a verifier looks for its last occurrence.
pub(crate) const MAC_SEP: &[u8] = b",\"mac\":\"";
const KID_SEP: &[u8] = b",\"kid\":\"";
const PREV_SEP: &[u8] = b",\"prev\":\"";
/// The separator before an epoch seal's signature; the signature covers the line before it.
#[cfg(feature = "signed-seals")]
pub(crate) const SIG_SEP: &[u8] = b",\"sig\":\"";
/// The epoch a record of a signed trail belongs to, written before `prev` and `kid`.
pub(crate) const EPOCH_SEP: &[u8] = b",\"epoch\":";
const SEQ_OPEN: &[u8] = b"{\"seq\":";
/// Label of a keyed MAC.
pub(crate) const HMAC_LABEL: &str = "hmac-sha256:";
/// Label of an unkeyed chain hash.
pub(crate) const SHA_LABEL: &str = "sha256:";
/// The predecessor of a `genesis` record.
pub(crate) const GENESIS_PREV: [u8; 32] = [0; 32];

/// How a record's MAC was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    HmacSha256,
    Sha256,
}

impl Alg {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Alg::HmacSha256 => HMAC_LABEL,
            Alg::Sha256 => SHA_LABEL,
        }
    }
}

/// Computes the chain MAC of `signed` (the line before `,"mac":"`) after `prev`.
pub(crate) fn compute(key: Option<&Hmac<Sha256>>, prev: &[u8; 32], signed: &[u8]) -> [u8; 32] {
    match key {
        Some(key) => {
            let mut mac = key.clone();
            mac.update(prev);
            mac.update(signed);
            mac.finalize().into_bytes().into()
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(signed);
            h.finalize().into()
        }
    }
}

/// The chain keys of one framed line, parsed from its raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Trailer {
    pub(crate) seq: u64,
    /// Length of B, the signed part of the line.
    pub(crate) signed_len: usize,
    pub(crate) alg: Alg,
    pub(crate) mac: [u8; 32],
    pub(crate) kid: Option<String>,
    /// The predecessor's MAC, written into the first record of every file.
    pub(crate) prev: Option<[u8; 32]>,
    /// The epoch of a record of a signed trail.
    pub(crate) epoch: Option<u64>,
}

/// [`Trailer`] without allocating: the key id is borrowed from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawTrailer<'a> {
    pub(crate) seq: u64,
    pub(crate) signed_len: usize,
    pub(crate) alg: Alg,
    pub(crate) mac: [u8; 32],
    pub(crate) kid: Option<&'a [u8]>,
    pub(crate) prev: Option<[u8; 32]>,
    pub(crate) epoch: Option<u64>,
}

/// Parses the chain keys out of a line (without its newline); `None` when it is not a framed line.
pub(crate) fn parse(line: &[u8]) -> Option<Trailer> {
    let t = parse_raw(line)?;
    Some(Trailer {
        seq: t.seq,
        signed_len: t.signed_len,
        alg: t.alg,
        mac: t.mac,
        kid: t.kid.map(|k| String::from_utf8_lossy(k).into_owned()),
        prev: t.prev,
        epoch: t.epoch,
    })
}

/// Where `,"mac":"` starts in a line the writer framed: at a fixed distance from the end, so the
/// common case needs no search. Nothing after that position can hold the separator again, so
/// this is the last occurrence whenever it matches.
fn mac_sep_at_end(line: &[u8]) -> Option<usize> {
    for label in [HMAC_LABEL, SHA_LABEL] {
        let at = line
            .len()
            .checked_sub(MAC_SEP.len() + label.len() + 64 + 2)?;
        if line[at..].starts_with(MAC_SEP)
            && line[at + MAC_SEP.len()..].starts_with(label.as_bytes())
        {
            return Some(at);
        }
    }
    None
}

/// The `"mac"` value of a framed line as written (`hmac-sha256:<hex>` or `sha256:<hex>`), when
/// the line has a well-formed trailer.
#[cfg(feature = "ship")]
pub(crate) fn mac_text(line: &[u8]) -> Option<&str> {
    parse_raw(line)?;
    let at = rfind(line, MAC_SEP)? + MAC_SEP.len();
    std::str::from_utf8(&line[at..line.len() - 2]).ok()
}

/// [`parse`] without allocating (the verifier's per-line path).
pub(crate) fn parse_raw(line: &[u8]) -> Option<RawTrailer<'_>> {
    let seq = parse_seq(line)?;
    let signed_len = match mac_sep_at_end(line) {
        Some(at) => at,
        None => rfind(line, MAC_SEP)?,
    };
    let tail = &line[signed_len + MAC_SEP.len()..];
    let (alg, hex) = if let Some(rest) = tail.strip_prefix(HMAC_LABEL.as_bytes()) {
        (Alg::HmacSha256, rest)
    } else if let Some(rest) = tail.strip_prefix(SHA_LABEL.as_bytes()) {
        (Alg::Sha256, rest)
    } else {
        return None;
    };
    if hex.len() != 64 + 2 || &hex[64..] != b"\"}" {
        return None;
    }
    let mac = decode_hex32(&hex[..64])?;
    let mut signed = &line[..signed_len];
    // Only a keyed MAC has a key id (an unkeyed line is not searched for one).
    let kid = match alg {
        Alg::HmacSha256 => {
            static KID: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
                std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new(KID_SEP));
            let at = KID.rfind(signed)?;
            let id = signed[at + KID_SEP.len()..].strip_suffix(b"\"")?;
            if id.is_empty()
                || !id
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b".-_:/@+=".contains(&b))
            {
                return None;
            }
            signed = &signed[..at];
            Some(id)
        }
        Alg::Sha256 => None,
    };
    let prev = match signed.len().checked_sub(PREV_SEP.len() + 64 + 1) {
        Some(at) if signed[at..].starts_with(PREV_SEP) && signed.ends_with(b"\"") => {
            let prev = decode_hex32(&signed[at + PREV_SEP.len()..signed.len() - 1])?;
            signed = &signed[..at];
            Some(prev)
        }
        _ => None,
    };
    let digits = signed
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let (rest, digits) = signed.split_at(signed.len() - digits);
    let epoch = if rest.ends_with(EPOCH_SEP) {
        Some(parse_digits(digits)?)
    } else {
        None
    };
    Some(RawTrailer {
        seq,
        signed_len,
        alg,
        mac,
        kid,
        prev,
        epoch,
    })
}

/// A whole slice of canonical decimal digits (no sign, no leading zero) as a `u64`.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty()
        || digits.len() > 20
        || (digits.len() > 1 && digits[0] == b'0')
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The `seq` of a line that starts with `{"seq":N`, even when the rest is not a framed line.
pub(crate) fn parse_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(SEQ_OPEN)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    match rest.get(digits) {
        Some(b',') | Some(b'}') => {}
        _ => return None,
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Writes `<label><hex>` of a MAC.
pub(crate) fn push_mac(alg: Alg, mac: &[u8; 32], out: &mut Vec<u8>) {
    out.extend_from_slice(alg.label().as_bytes());
    super::hex::push_hex(mac, out);
}

/// Position of the last occurrence of `needle` in `hay`.
pub(crate) fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(hay, needle)
}

/// Whether bytes after the last newline of a trail can be what a crash leaves behind: the start
/// of a framed line, cut short. A complete record (its MAC's closing `"}` present), a raw control
/// byte (the writer escapes them all), or anything that does not start like a framed line was
/// put there by something other than the writer.
pub(crate) fn plausibly_torn(tail: &[u8]) -> bool {
    let starts_like_a_record = SEQ_OPEN.starts_with(&tail[..tail.len().min(SEQ_OPEN.len())])
        && (tail.len() <= SEQ_OPEN.len() || tail[SEQ_OPEN.len()].is_ascii_digit());
    let complete =
        rfind(tail, MAC_SEP).is_some_and(|at| memchr::memmem::find(&tail[at..], b"\"}").is_some());
    starts_like_a_record && !complete && !tail.iter().any(|&b| b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_seq_prev_kid_and_mac() {
        let mac = "ab".repeat(32);
        let prev = "01".repeat(32);
        let line = format!(
            "{{\"seq\":17,\"ts\":\"x\",\"prev\":\"{prev}\",\"kid\":\"k1\",\"mac\":\"hmac-sha256:{mac}\"}}"
        );
        let t = parse(line.as_bytes()).unwrap();
        assert_eq!(t.seq, 17);
        assert_eq!(t.alg, Alg::HmacSha256);
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert_eq!(t.prev, Some([1; 32]));
        assert_eq!(t.mac, [0xab; 32]);
        assert_eq!(
            &line.as_bytes()[t.signed_len..t.signed_len + 7],
            b",\"mac\":"
        );
    }

    #[cfg(feature = "ship")]
    #[test]
    fn the_mac_is_read_as_written() {
        let mac = "ab".repeat(32);
        let line = format!("{{\"seq\":3,\"ts\":\"x\",\"mac\":\"sha256:{mac}\"}}");
        assert_eq!(
            mac_text(line.as_bytes()),
            Some(format!("sha256:{mac}").as_str())
        );
        assert_eq!(mac_text(b"{\"seq\":3,\"mac\":\"sha256:00\"}"), None);
    }

    #[test]
    fn parse_rejects_damaged_trailers() {
        let mac = "ab".repeat(32);
        for line in [
            format!("{{\"seq\":01,\"mac\":\"sha256:{mac}\"}}"),
            format!("{{\"seq\":1,\"mac\":\"sha256:{}\"}}", &mac[1..]),
            format!("{{\"seq\":1,\"mac\":\"sha256:{mac}\"}} "),
            format!("{{\"seq\":1,\"mac\":\"hmac-sha256:{mac}\"}}"),
            format!("{{\"seq\":1,\"mac\":\"md5:{mac}\"}}"),
            format!("{{\"seq\":1,\"mac\":\"sha256:{}\"}}", mac.to_uppercase()),
            format!("{{\"sec\":1,\"mac\":\"sha256:{mac}\"}}"),
        ] {
            assert!(parse(line.as_bytes()).is_none(), "{line}");
        }
    }
}
