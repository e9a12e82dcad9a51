//! Witness cosignatures, C2SP `tlog-cosignature` v1 (Ed25519, signature type `0x04`).
//!
//! A cosignature is a witness's statement "as of `time`, this is the largest tree I have seen
//! for this origin, and it extends every tree I saw before". It is an ordinary signed-note
//! signature line on the checkpoint, so a checkpoint carries the log's signature and any number
//! of witnesses' cosignatures side by side; verifiers ignore keys they do not know.
//!
//! The rules, from the specification (c2sp.org/tlog-cosignature):
//! - key ID = `SHA-256(name || "\n" || 0x04 || 32-byte public key)[:4]`;
//! - signed message = `"cosignature/v1\n" || "time " || decimal(t) || "\n" || checkpoint body`
//!   (the body with its final newline, no signature lines);
//! - signature field = 8-byte big-endian `t` || 64-byte Ed25519 signature, `t < 2^63`;
//! - a verifier key ("vkey") is `name+hex(key ID)+base64(0x04 || public key)`.
//!
//! The witness's secret key file mirrors the signed-note private key form,
//! `PRIVATE+KEY+name+hex(key ID)+base64(0x04 || 32-byte seed)`, one line, mode 0600.
//!
//! ```
//! use tracing_audit::tlog::cosignature::{Cosigner, CosignerVerifier};
//! let witness = Cosigner::generate("witness.example/w1")?;
//! let vkey = witness.verifier().vkey();
//! let body = b"example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
//! let cosig = witness.cosign(body, 1_700_000_000)?;
//! let verifier = CosignerVerifier::parse_vkey(&vkey)?;
//! assert_eq!(verifier.verify(body, cosig.signature_bytes())?, 1_700_000_000);
//! # Ok::<(), tracing_audit::tlog::cosignature::CosignatureError>(())
//! ```

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::note::NoteSignature;

/// The signed-note signature type byte of a timestamped Ed25519 checkpoint cosignature.
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;
/// Length of the signature field after the key ID: 8-byte time and 64-byte signature.
pub const COSIGNATURE_V1_LEN: usize = 8 + 64;
const HEADER: &[u8] = b"cosignature/v1\ntime ";
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a cosignature, a key or a key file was refused.
#[derive(Debug)]
pub struct CosignatureError {
    kind: CosignatureErrorKind,
    what: String,
}

/// The class of a [`CosignatureError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureErrorKind {
    /// A key, key name, signature or body that does not have the specified form.
    Malformed,
    /// The signature does not verify under the key.
    BadSignature,
    /// A key file could not be read or written.
    Io,
    /// The operating system's random generator failed.
    Random,
}

impl CosignatureError {
    fn new(kind: CosignatureErrorKind, what: impl Into<String>) -> Self {
        CosignatureError {
            kind,
            what: what.into(),
        }
    }

    /// The class of the error.
    pub fn kind(&self) -> CosignatureErrorKind {
        self.kind
    }
}

impl fmt::Display for CosignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.kind {
            CosignatureErrorKind::Malformed => "malformed",
            CosignatureErrorKind::BadSignature => "signature does not verify",
            CosignatureErrorKind::Io => "I/O error",
            CosignatureErrorKind::Random => "no randomness",
        };
        write!(f, "cosignature: {class}: {}", self.what)
    }
}

impl std::error::Error for CosignatureError {}

fn malformed(what: impl Into<String>) -> CosignatureError {
    CosignatureError::new(CosignatureErrorKind::Malformed, what)
}

/// The key ID of an Ed25519 cosigner key: `SHA-256(name || "\n" || 0x04 || key)[:4]`.
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    super::note::key_id(name, COSIGNATURE_V1_TYPE, public_key)
}

/// The message a v1 cosignature signs: header, time line, then the checkpoint body.
///
/// # Errors
/// `body` does not end with a newline (a note body always does), or `time` is 2^63 or more.
pub fn signed_message(body: &[u8], time: u64) -> Result<Vec<u8>, CosignatureError> {
    if body.last() != Some(&b'\n') {
        return Err(malformed("checkpoint body without its final newline"));
    }
    if time > i64::MAX as u64 {
        return Err(malformed("time beyond 2^63-1"));
    }
    let mut message = Vec::with_capacity(HEADER.len() + 21 + body.len());
    message.extend_from_slice(HEADER);
    message.extend_from_slice(itoa::Buffer::new().format(time).as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    Ok(message)
}

/// A witness's public key: what a log operator or verifier is configured with.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignerVerifier {
    name: String,
    key_id: [u8; 4],
    key: [u8; 32],
}

impl fmt::Debug for CosignerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignerVerifier({})", self.vkey())
    }
}

impl CosignerVerifier {
    /// A verifier for the key `public_key` named `name`.
    ///
    /// # Errors
    /// The name is not a valid key name.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, CosignatureError> {
        if !super::note::valid_key_name(name) {
            return Err(malformed("key name (empty, or with a space or '+')"));
        }
        Ok(CosignerVerifier {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, &public_key),
            key: public_key,
        })
    }

    /// Parses a vkey, `name+hex(key ID)+base64(0x04 || key)`; the key ID must be the one the
    /// name and key give (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// Not that form, another signature type, or a key ID that does not match.
    pub fn parse_vkey(text: &str) -> Result<Self, CosignatureError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("vkey is not name+id+key"));
        };
        let id = parse_key_id(id_hex)?;
        let raw = super::note::decode_canonical(key_b64)
            .ok_or_else(|| malformed("vkey key is not canonical base64"))?;
        let Some((&COSIGNATURE_V1_TYPE, key)) = raw.split_first() else {
            return Err(malformed(
                "vkey is not an Ed25519 cosignature (type 0x04) key",
            ));
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| malformed("vkey key is not 32 bytes"))?;
        let verifier = CosignerVerifier::new(name, key)?;
        if verifier.key_id != id {
            return Err(malformed("vkey key ID does not match its name and key"));
        }
        Ok(verifier)
    }

    /// Reads a vkey from a file (one line).
    ///
    /// # Errors
    /// The file cannot be read, or [`parse_vkey`](Self::parse_vkey) refuses it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CosignatureError> {
        let path = path.as_ref();
        let text =
            crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX)
                .map_err(|e| {
                    CosignatureError::new(
                        CosignatureErrorKind::Io,
                        format!("{}: {e}", path.display()),
                    )
                })?;
        CosignerVerifier::parse_vkey(&text)
    }

    /// The vkey text form.
    pub fn vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(COSIGNATURE_V1_TYPE);
        raw.extend_from_slice(&self.key);
        format!(
            "{}+{}+{}",
            self.name,
            hex_id(self.key_id),
            BASE64.encode(raw)
        )
    }

    /// The key name (the witness's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID that signature lines of this key carry.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Checks a cosignature on `body` (a checkpoint body with its final newline); `signature`
    /// is the signature field after the 4-byte key ID (8-byte time, 64-byte signature).
    /// Returns the time the witness signed at.
    ///
    /// # Errors
    /// The field is not 72 bytes, the time is beyond 2^63-1, or the signature does not verify
    /// (checked with `verify_strict`: no malleable or small-order signatures).
    pub fn verify(&self, body: &[u8], signature: &[u8]) -> Result<u64, CosignatureError> {
        let field: &[u8; COSIGNATURE_V1_LEN] = signature
            .try_into()
            .map_err(|_| malformed("cosignature is not 8+64 bytes"))?;
        let mut time = [0u8; 8];
        time.copy_from_slice(&field[..8]);
        let time = u64::from_be_bytes(time);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&field[8..]);
        let message = signed_message(body, time)?;
        let key = VerifyingKey::from_bytes(&self.key)
            .map_err(|_| malformed("public key is not a curve point"))?;
        key.verify_strict(&message, &Signature::from_bytes(&sig))
            .map_err(|_| {
                CosignatureError::new(CosignatureErrorKind::BadSignature, self.name.clone())
            })?;
        Ok(time)
    }
}

fn parse_key_id(hex: &str) -> Result<[u8; 4], CosignatureError> {
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(malformed("key ID is not 8 lowercase hex digits"));
    }
    u32::from_str_radix(hex, 16)
        .map(u32::to_be_bytes)
        .map_err(|_| malformed("key ID"))
}

fn hex_id(id: [u8; 4]) -> String {
    crate::trail::hex::to_hex(&id)
}

/// One cosignature made by a [`Cosigner`]: the key name, ID, time and signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Cosignature {
    name: String,
    key_id: [u8; 4],
    field: [u8; COSIGNATURE_V1_LEN],
}

impl fmt::Debug for Cosignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cosignature({}+{} time {})",
            self.name,
            hex_id(self.key_id),
            self.time()
        )
    }
}

impl Cosignature {
    /// The witness's key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The time the witness signed at (POSIX seconds).
    pub fn time(&self) -> u64 {
        let mut time = [0u8; 8];
        time.copy_from_slice(&self.field[..8]);
        u64::from_be_bytes(time)
    }

    /// The signature field after the key ID: 8-byte big-endian time || 64-byte signature.
    pub fn signature_bytes(&self) -> &[u8] {
        &self.field
    }

    /// As a signed-note signature (key ID, then time and signature).
    pub fn note_signature(&self) -> NoteSignature {
        NoteSignature {
            key_name: self.name.clone(),
            key_id: self.key_id,
            signature: self.field.to_vec(),
        }
    }

    /// The signed-note signature line, `— <name> base64(key ID || time || signature)\n`.
    pub fn line(&self) -> String {
        self.note_signature().render()
    }
}

/// A witness's secret key. `Debug` never shows it; the seed is wiped when dropped.
pub struct Cosigner {
    verifier: CosignerVerifier,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cosigner({})", self.verifier.vkey())
    }
}

impl Cosigner {
    /// A new key named `name` from the operating system's generator.
    ///
    /// # Errors
    /// The name is invalid, or no randomness could be had.
    pub fn generate(name: &str) -> Result<Self, CosignatureError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut seed[..])
            .map_err(|e| CosignatureError::new(CosignatureErrorKind::Random, e.to_string()))?;
        Cosigner::from_seed(name, &seed)
    }

    fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, CosignatureError> {
        let key = SigningKey::from_bytes(seed);
        let verifier = CosignerVerifier::new(name, key.verifying_key().to_bytes())?;
        Ok(Cosigner { verifier, key })
    }

    /// Parses the secret key form `PRIVATE+KEY+name+hex(key ID)+base64(0x04 || seed)`.
    ///
    /// # Errors
    /// Not that form, or a key ID that does not match the key.
    pub fn from_skey(text: &str) -> Result<Self, CosignatureError> {
        let rest = text
            .trim()
            .strip_prefix(SKEY_PREFIX)
            .ok_or_else(|| malformed("secret key does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(seed_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("secret key is not PRIVATE+KEY+name+id+key"));
        };
        let id = parse_key_id(id_hex)?;
        let raw = Zeroizing::new(
            super::note::decode_canonical(seed_b64)
                .ok_or_else(|| malformed("secret key is not canonical base64"))?,
        );
        let Some((&COSIGNATURE_V1_TYPE, seed)) = raw.split_first() else {
            return Err(malformed("secret key is not a type 0x04 cosigner key"));
        };
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| malformed("secret key is not 32 bytes"))?,
        );
        let cosigner = Cosigner::from_seed(name, &seed)?;
        if cosigner.verifier.key_id != id {
            return Err(malformed("secret key ID does not match its name and key"));
        }
        Ok(cosigner)
    }

    /// The secret key form (see [`from_skey`](Self::from_skey)).
    pub fn skey(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(33));
        raw.push(COSIGNATURE_V1_TYPE);
        raw.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "{SKEY_PREFIX}{}+{}+{}",
            self.verifier.name,
            hex_id(self.verifier.key_id),
            BASE64.encode(&raw[..])
        ))
    }

    /// Reads a secret key file.
    ///
    /// # Errors
    /// The file cannot be read or is not a secret key.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CosignatureError> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(
            crate::trail::open::read_capped(path, crate::trail::open::SMALL_FILE_MAX).map_err(
                |e| {
                    CosignatureError::new(
                        CosignatureErrorKind::Io,
                        format!("{}: {e}", path.display()),
                    )
                },
            )?,
        );
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed("secret key is not text"))?;
        Cosigner::from_skey(text)
    }

    /// Writes the secret key to a new file, mode 0600 (an existing file or symlink at `path`
    /// is never overwritten), and makes it durable.
    ///
    /// # Errors
    /// Something is already at `path`, or the file cannot be written.
    pub fn save_new(&self, path: impl AsRef<Path>) -> Result<(), CosignatureError> {
        use std::io::Write as _;
        let path = path.as_ref();
        let io = |e: std::io::Error| {
            CosignatureError::new(CosignatureErrorKind::Io, format!("{}: {e}", path.display()))
        };
        let mut file = crate::trail::write::create_new(path, 0o600).map_err(io)?;
        let mut text = self.skey();
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        crate::trail::write::sync_dir(dir.unwrap_or(Path::new("."))).map_err(io)
    }

    /// The public half.
    pub fn verifier(&self) -> &CosignerVerifier {
        &self.verifier
    }

    /// Cosigns a checkpoint `body` (with its final newline) at `time` (POSIX seconds).
    ///
    /// # Errors
    /// The body does not end with a newline, or `time` is 2^63 or more.
    pub fn cosign(&self, body: &[u8], time: u64) -> Result<Cosignature, CosignatureError> {
        let message = signed_message(body, time)?;
        let sig = self.key.sign(&message);
        let mut field = [0u8; COSIGNATURE_V1_LEN];
        field[..8].copy_from_slice(&time.to_be_bytes());
        field[8..].copy_from_slice(&sig.to_bytes());
        Ok(Cosignature {
            name: self.verifier.name.clone(),
            key_id: self.verifier.key_id,
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_signed_message_is_the_specified_one() {
        let message = signed_message(BODY, 1679315147).unwrap();
        let mut expected = b"cosignature/v1\ntime 1679315147\n".to_vec();
        expected.extend_from_slice(BODY);
        assert_eq!(message, expected);
        assert!(signed_message(b"no newline", 1).is_err());
        assert!(signed_message(BODY, 1 << 63).is_err());
    }

    #[test]
    fn keys_round_trip_and_a_changed_byte_fails() {
        let witness = Cosigner::generate("witness.example/w1").unwrap();
        let again = Cosigner::from_skey(&witness.skey()).unwrap();
        assert_eq!(again.verifier(), witness.verifier());
        let verifier = CosignerVerifier::parse_vkey(&witness.verifier().vkey()).unwrap();
        let cosig = witness.cosign(BODY, 7).unwrap();
        assert_eq!(cosig.time(), 7);
        assert_eq!(verifier.verify(BODY, cosig.signature_bytes()).unwrap(), 7);
        let mut other = BODY.to_vec();
        other[30] ^= 1;
        assert_eq!(
            verifier
                .verify(&other, cosig.signature_bytes())
                .unwrap_err()
                .kind(),
            CosignatureErrorKind::BadSignature
        );
        let mut field = cosig.signature_bytes().to_vec();
        field[7] ^= 1; // the time is signed too
        assert!(verifier.verify(BODY, &field).is_err());
        assert!(!format!("{witness:?}").contains(witness.skey().as_str()));
    }

    #[test]
    fn vkeys_with_a_wrong_id_type_or_name_are_refused() {
        let witness = Cosigner::generate("w.example/a").unwrap();
        let vkey = witness.verifier().vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        assert!(CosignerVerifier::parse_vkey(&format!("x{name}+{rest}")).is_err());
        let mut raw = vec![0x01];
        raw.extend_from_slice(witness.verifier().public_key());
        let id = cosigner_key_id(name, witness.verifier().public_key());
        let as_type1 = format!("{name}+{}+{}", hex_id(id), BASE64.encode(&raw));
        assert!(CosignerVerifier::parse_vkey(&as_type1).is_err());
        assert!(CosignerVerifier::new("has space", [1; 32]).is_err());
        assert!(CosignerVerifier::new("has+plus", [1; 32]).is_err());
    }

    #[test]
    fn a_signature_line_carries_the_key_id_then_the_field() {
        let witness = Cosigner::generate("w.example/a").unwrap();
        let line = witness.cosign(BODY, 9).unwrap().line();
        let b64 = line
            .strip_prefix("\u{2014} w.example/a ")
            .and_then(|l| l.strip_suffix('\n'))
            .unwrap();
        let raw = BASE64.decode(b64).unwrap();
        assert_eq!(raw.len(), 4 + 72);
        assert_eq!(raw[..4], witness.verifier().key_id());
        assert_eq!(raw[4..12], 9u64.to_be_bytes());
    }
}
