//! Our witness's cosignatures (C2SP tlog-cosignature v1), checked by an implementation that is
//! not ours: Cloudflare's `signed_note` parses the cosigned checkpoint, computes the key ID and
//! dispatches each line to a verifier; the cosignature verifier below is written here from the
//! specification alone (message, key ID, timestamped signature), with ed25519-dalek directly,
//! sharing no code with `tracing_audit::tlog::cosignature`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use signed_note::{Note as CfNote, NoteError, StandardVerifier, VerifierList};
use tracing_audit::tlog::checkpoint::Checkpoint;
use tracing_audit::tlog::cosignature::Cosigner;
use tracing_audit::tlog::merkle::MemoryHashes;
use tracing_audit::tlog::note::{Note, Signer};
use tracing_audit::tlog::submit::request_body;
use tracing_audit::tlog::witness::{LogConfig, Witness};

/// A tlog-cosignature/v1 verifier from the spec: key ID = SHA-256(name || "\n" || 0x04 ||
/// key)[:4]; message = "cosignature/v1\ntime <t>\n" || body; signature = u64 BE t || Ed25519.
struct SpecCosignatureV1 {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl SpecCosignatureV1 {
    fn from_vkey(vkey: &str) -> SpecCosignatureV1 {
        let mut parts = vkey.splitn(3, '+');
        let (name, id, key) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let raw = STANDARD.decode(key).unwrap();
        assert_eq!(raw[0], 0x04, "a cosignature vkey has signature type 0x04");
        let id = u32::from_str_radix(id, 16).unwrap();
        assert_eq!(id, signed_note::key_id(name, &raw), "key ID per the spec");
        SpecCosignatureV1 {
            name: name.to_owned(),
            id,
            key: VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap(),
        }
    }
}

impl signed_note::Verifier for SpecCosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 72 {
            return false;
        }
        let time = u64::from_be_bytes(sig[..8].try_into().unwrap());
        let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
        message.extend_from_slice(msg);
        let sig = Signature::from_bytes(sig[8..].try_into().unwrap());
        self.key.verify_strict(&message, &sig).is_ok()
    }
}

/// A checkpoint of a 7-record log, cosigned by our witness through its `add-checkpoint`.
fn cosigned_checkpoint() -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = Signer::generate("host.example/audit").unwrap();
    let mut tree = MemoryHashes::new();
    for i in 0..7 {
        tree.push_entry(format!("{{\"seq\":{i}}}").as_bytes());
    }
    let cp = Checkpoint {
        origin: "host.example/audit".into(),
        size: 7,
        root: tree.root(),
        extensions: vec![],
    };
    let mut note = Note::new(&cp.body()).unwrap();
    note.add_signature(log.sign(note.body()));
    let cosigner = Cosigner::generate("witness.example/w1").unwrap();
    let witness_vkey = cosigner.verifier().vkey();
    let config = LogConfig::new("host.example/audit", vec![log.verifier()]);
    let witness = Witness::open(dir.path(), cosigner, vec![config]).unwrap();
    let reply = witness.handle("POST", "/add-checkpoint", &request_body(0, &[], &note));
    assert_eq!(reply.status, 200);
    let mut text = note.render();
    text.push_str(std::str::from_utf8(&reply.body).unwrap());
    (text, log.verifier().render(), witness_vkey)
}

#[test]
fn cloudflare_signed_note_verifies_our_witness_cosignature() {
    let (text, log_vkey, witness_vkey) = cosigned_checkpoint();
    let note = CfNote::from_bytes(text.as_bytes()).unwrap();
    let known = VerifierList::new(vec![
        Box::new(StandardVerifier::new(&log_vkey).unwrap()),
        Box::new(SpecCosignatureV1::from_vkey(&witness_vkey)),
    ]);
    let (verified, unverified) = note.verify(&known).unwrap();
    let names: Vec<&str> = verified.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["host.example/audit", "witness.example/w1"]);
    assert!(unverified.is_empty());

    // Only the cosignature known: the log's line is ignored as unknown, ours still verifies.
    let only_witness =
        VerifierList::new(vec![Box::new(SpecCosignatureV1::from_vkey(&witness_vkey))]);
    let (verified, unverified) = note.verify(&only_witness).unwrap();
    assert_eq!((verified.len(), unverified.len()), (1, 1));
}

#[test]
fn a_changed_cosignature_time_fails_their_check() {
    let (text, _, witness_vkey) = cosigned_checkpoint();
    let line = text.lines().last().unwrap();
    let (head, b64) = line.rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(b64).unwrap();
    raw[4 + 7] ^= 1; // the last byte of the timestamp
    let forged = text.replace(line, &format!("{head} {}", STANDARD.encode(&raw)));
    let note = CfNote::from_bytes(forged.as_bytes()).unwrap();
    let known = VerifierList::new(vec![Box::new(SpecCosignatureV1::from_vkey(&witness_vkey))]);
    assert!(matches!(
        note.verify(&known),
        Err(NoteError::InvalidSignature { .. })
    ));
}
