//! C2SP signed notes (c2sp.org/signed-note): text signed by one or more keys, and the Ed25519
//! keys that sign and check them in the text forms Go's `golang.org/x/mod/sumdb/note` uses.
//!
//! A note's text means nothing until a trusted key's signature over it has been checked:
//! [`Note::verify`] is the only way this crate reads a note as true.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Notes larger than this are refused before they are parsed (the spec asks verifiers for a
/// limit; 16 post-quantum signatures of ~5 kB fit).
pub const MAX_NOTE_BYTES: usize = 128 * 1024;
/// More signature lines than this are refused (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 64;

/// Signature type byte of plain Ed25519 note signatures.
pub const ED25519_TYPE: u8 = 0x01;

/// The text of a key file (a log or witness verifier key, one line): regular files only, opened
/// without blocking and read to at most 1 MiB, so a FIFO, a device such as `/dev/zero` or a
/// giant file given as a key is refused instead of hanging or exhausting memory.
///
/// # Errors
/// The file cannot be opened, is not a regular file, is larger than the cap, or is not UTF-8.
pub fn read_key_file(path: &std::path::Path) -> std::io::Result<String> {
    crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX)
}

/// Why a note, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteError(String);

impl NoteError {
    fn new(what: impl Into<String>) -> Self {
        NoteError(what.into())
    }
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoteError {}

/// One signature line: `— <key name> base64(key id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub key_name: String,
    /// The 4-byte key id (big-endian), telling keys with one name apart.
    pub key_id: [u8; 4],
    /// The signature bytes after the key id (algorithm-specific).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its newline.
    pub fn render(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!("— {} {}\n", self.key_name, STANDARD.encode(raw))
    }

    fn parse(line: &str) -> Result<NoteSignature, NoteError> {
        let rest = line
            .strip_prefix("— ")
            .ok_or_else(|| NoteError::new("signature line does not start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| NoteError::new("signature line has no signature"))?;
        if !valid_key_name(name) {
            return Err(NoteError::new("invalid key name in signature line"));
        }
        let raw = decode_canonical(b64)
            .ok_or_else(|| NoteError::new("signature is not canonical base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::new("signature too short"));
        }
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&raw[..4]);
        Ok(NoteSignature {
            key_name: name.to_owned(),
            key_id,
            signature: raw[4..].to_vec(),
        })
    }
}

/// Standard base64 that re-encodes to the same text (one note, one spelling).
pub(crate) fn decode_canonical(text: &str) -> Option<Vec<u8>> {
    let raw = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&raw) == text).then_some(raw)
}

/// Key names are non-empty and contain no Unicode space and no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// A signed note: the text (ending in a newline) and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    body: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note over `body`, which must be a valid note text: ending in a newline, no
    /// control characters but newlines.
    ///
    /// # Errors
    /// The text is not a valid note text.
    pub fn new(body: &str) -> Result<Note, NoteError> {
        check_text(body)?;
        if !body.ends_with('\n') {
            return Err(NoteError::new("note text does not end with a newline"));
        }
        Ok(Note {
            body: body.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (text, a blank line, one or more signature lines).
    ///
    /// # Errors
    /// The note is too large, malformed, or has no signature.
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::new("note too large"));
        }
        check_text(text)?;
        // The text is separated from the signatures by the last empty line.
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| NoteError::new("note has no signature block"))?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::new("note does not end with a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::new("too many signatures"));
            }
            signatures.push(NoteSignature::parse(line)?);
        }
        Ok(Note {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The signed text, with its final newline.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (a second line with the same key name and id replaces nothing:
    /// verifiers check every line of a known key).
    pub fn add_signature(&mut self, s: NoteSignature) {
        self.signatures.push(s);
    }

    /// The note as text: body, blank line, signature lines.
    pub fn render(&self) -> String {
        let mut out = self.body.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.render());
        }
        out
    }

    /// Checks the note against trusted Ed25519 keys, as the spec says: lines of unknown keys are
    /// ignored, every line of a known key must verify, and at least one must.
    ///
    /// Returns the verifiers whose signatures checked.
    ///
    /// # Errors
    /// A known key's signature fails, or no known key signed.
    pub fn verify<'a>(&self, verifiers: &'a [Verifier]) -> Result<Vec<&'a Verifier>, NoteError> {
        let mut ok: Vec<&Verifier> = Vec::new();
        for s in &self.signatures {
            let Some(v) = verifiers
                .iter()
                .find(|v| v.name == s.key_name && v.key_id == s.key_id)
            else {
                continue;
            };
            if !v.verify_text(self.body.as_bytes(), &s.signature) {
                return Err(NoteError::new(format!(
                    "signature of {} does not verify",
                    s.key_name
                )));
            }
            if !ok.iter().any(|o| std::ptr::eq(*o, v)) {
                ok.push(v);
            }
        }
        if ok.is_empty() {
            return Err(NoteError::new("no signature from a trusted key"));
        }
        Ok(ok)
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::new("note contains control characters"));
    }
    Ok(())
}

/// A key id: the first four bytes of `SHA-256(key name || 0x0A || type || public key)`.
pub fn key_id(key_name: &str, signature_type: u8, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(key_name.as_bytes());
    h.update([b'\n', signature_type]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The key id of an Ed25519 note key (signature type 0x01).
pub fn ed25519_key_id(key_name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    key_id(key_name, ED25519_TYPE, public_key)
}

fn parse_hex_id(hex: &str) -> Option<[u8; 4]> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(u32::to_be_bytes)
}

/// A trusted Ed25519 note key: name, id and public key, in the "vkey" text form
/// `<name>+<hex id>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Verifier {
    /// A verifier from a name and a public key (the id is computed).
    ///
    /// # Errors
    /// The name is invalid or the key is not a valid Ed25519 point.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Verifier, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::new("invalid key name"));
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::new("invalid Ed25519 public key"))?;
        Ok(Verifier {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, public_key),
            key,
        })
    }

    /// Parses a vkey; the id must match the one computed from name and key.
    ///
    /// # Errors
    /// Malformed text, a key type other than Ed25519, or a wrong id.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let vkey = vkey.trim_end_matches(['\n', '\r']);
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::new("verifier key is not name+id+key"));
        };
        let id = parse_hex_id(id).ok_or_else(|| NoteError::new("verifier key id is not hex"))?;
        let raw = decode_canonical(key)
            .ok_or_else(|| NoteError::new("verifier key is not canonical base64"))?;
        let pk: [u8; 32] = match raw.split_first() {
            Some((&ED25519_TYPE, pk)) => pk
                .try_into()
                .map_err(|_| NoteError::new("Ed25519 public key is not 32 bytes"))?,
            _ => return Err(NoteError::new("verifier key is not an Ed25519 key")),
        };
        let v = Verifier::new(name, &pk)?;
        if v.key_id != id {
            return Err(NoteError::new("verifier key id does not match its key"));
        }
        Ok(v)
    }

    /// The vkey text.
    pub fn render(&self) -> String {
        let mut raw = vec![ED25519_TYPE];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            crate::trail::hex::to_hex(&self.key_id),
            STANDARD.encode(raw)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks one signature over `text` (strict: no malleable or small-order signatures).
    pub fn verify_text(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }
}

/// An Ed25519 note signing key, in Go's "skey" text form
/// `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || 32-byte seed)>`. `Debug` hides the key.
pub struct Signer {
    name: String,
    key_id: [u8; 4],
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key", &"<hidden>")
            .finish()
    }
}

impl Signer {
    /// A fresh key from the operating system's generator.
    ///
    /// # Errors
    /// The name is invalid or the generator failed.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut seed[..])
            .map_err(|e| NoteError::new(format!("no random key: {e}")))?;
        Signer::from_seed(name, &seed)
    }

    /// A key from its 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// The name is invalid.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Signer, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::new("invalid key name"));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Signer {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses an skey; the id must match the key.
    ///
    /// # Errors
    /// Malformed text, not Ed25519, or a wrong id.
    pub fn parse(skey: &str) -> Result<Signer, NoteError> {
        let skey = skey.trim_end_matches(['\n', '\r']);
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| NoteError::new("signer key does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::new("signer key is not name+id+key"));
        };
        let id = parse_hex_id(id).ok_or_else(|| NoteError::new("signer key id is not hex"))?;
        let raw = Zeroizing::new(
            decode_canonical(key).ok_or_else(|| NoteError::new("signer key is not base64"))?,
        );
        let seed: Zeroizing<[u8; 32]> = match raw.split_first() {
            Some((&ED25519_TYPE, s)) => Zeroizing::new(
                s.try_into()
                    .map_err(|_| NoteError::new("Ed25519 seed is not 32 bytes"))?,
            ),
            _ => return Err(NoteError::new("signer key is not an Ed25519 key")),
        };
        let signer = Signer::from_seed(name, &seed)?;
        if signer.key_id != id {
            return Err(NoteError::new("signer key id does not match its key"));
        }
        Ok(signer)
    }

    /// The skey text (secret: write it only to a 0600 file).
    pub fn render_secret(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(vec![ED25519_TYPE]);
        raw.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            crate::trail::hex::to_hex(&self.key_id),
            STANDARD.encode(&*raw)
        ))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs a note text, returning its signature line.
    pub fn sign(&self, text: &str) -> NoteSignature {
        NoteSignature {
            key_name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_verifies() {
        // c2sp.org/signed-note, "Example".
        let v = Verifier::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let n = Note::parse(note).unwrap();
        assert_eq!(n.body(), "This is an example message.\n");
        assert_eq!(n.verify(std::slice::from_ref(&v)).unwrap().len(), 1);
        assert_eq!(n.render(), note);
        let bad = note.replace("example message", "exemple message");
        assert!(Note::parse(&bad).unwrap().verify(&[v]).is_err());
    }

    #[test]
    fn sign_render_parse_round_trip_and_unknown_keys_are_ignored() {
        let s = Signer::from_seed("log.example/a", &[7; 32]).unwrap();
        let other = Signer::from_seed("log.example/b", &[8; 32]).unwrap();
        let again = Signer::parse(&s.render_secret()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        assert_eq!(
            Verifier::parse(&s.verifier().render()).unwrap(),
            s.verifier()
        );
        let mut n = Note::new("hello\nworld\n").unwrap();
        n.add_signature(other.sign(n.body()));
        n.add_signature(s.sign(n.body()));
        let parsed = Note::parse(&n.render()).unwrap();
        assert_eq!(parsed, n);
        assert!(parsed.verify(&[s.verifier()]).is_ok());
        assert!(Note::new("no newline").is_err());
        assert!(Note::parse("a\tb\n\n— x AAAAAAA=\n").is_err());
    }
}
