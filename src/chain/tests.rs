use super::{ChainConfig, ChainKey};
use crate::chain::framing::TornTail;
use crate::trail::trailer::{self, Alg};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn lines(out: &[u8]) -> Vec<&[u8]> {
    assert!(out.is_empty() || out.ends_with(b"\n"));
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn key() -> ChainKey {
    ChainKey::new("k1", b"secret key")
}

/// Recomputes every MAC from the raw bytes, as a verifier would.
fn assert_chain(all: &[&[u8]], key: Option<&ChainKey>) {
    let mut prev = trailer::GENESIS_PREV;
    let mut seq = None;
    for line in all {
        let tr =
            trailer::parse(line).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(line)));
        if super::framer::control_kind(line) == Some(b"genesis") {
            prev = trailer::GENESIS_PREV;
        } else if let Some(s) = seq {
            assert_eq!(tr.seq, s + 1);
        }
        let mac = trailer::compute(key.map(|k| k.mac()).as_ref(), &prev, &line[..tr.signed_len]);
        assert_eq!(mac, tr.mac, "{}", String::from_utf8_lossy(line));
        serde_json::from_slice::<serde_json::Value>(line).unwrap();
        prev = tr.mac;
        seq = Some(tr.seq);
    }
}

#[test]
fn fresh_chain_starts_with_genesis_and_numbers_records_from_zero() {
    let mut f = ChainConfig::new().key(key()).framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(
        br#"{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","action":"login"}"#,
        &mut out,
    );
    let all = lines(&out);
    assert_eq!(all.len(), 2);
    assert!(all[0].starts_with(br#"{"seq":0,"ts":""#));
    assert_eq!(super::framer::control_kind(all[0]), Some(&b"genesis"[..]));
    assert!(all[1].starts_with(br#"{"seq":1,"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","action":"login","kid":"k1","mac":"hmac-sha256:"#));
    assert_chain(&all, Some(&key()));
}

#[test]
fn unkeyed_chain_is_marked_sha256_and_has_no_key_id() {
    let mut f = ChainConfig::new().framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(br#"{"a":1}"#, &mut out);
    let all = lines(&out);
    let tr = trailer::parse(all[1]).unwrap();
    assert_eq!(tr.alg, Alg::Sha256);
    assert!(tr.kid.is_none());
    assert!(!all[1].windows(5).any(|w| w == b"\"kid\""));
    assert_chain(&all, None);
}

#[test]
fn seal_states_file_range_and_next_file_then_next_record_carries_prev() {
    let mut f = ChainConfig::new().key(key()).framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(br#"{"a":1}"#, &mut out);
    f.seal(
        "audit.2026-11-26.0000.jsonl",
        "audit.2026-11-26.0001.jsonl",
        t(1),
        &mut out,
    );
    f.frame(br#"{"a":2}"#, &mut out);
    let all = lines(&out);
    assert_chain(&all, Some(&key()));
    let seal: serde_json::Value = serde_json::from_slice(all[2]).unwrap();
    assert_eq!(seal["record"], "seal");
    assert_eq!(seal["file"], "audit.2026-11-26.0000.jsonl");
    assert_eq!(seal["next"], "audit.2026-11-26.0001.jsonl");
    assert_eq!(seal["first_seq"], 0);
    assert_eq!(seal["last_seq"], 2);
    assert_eq!(seal["count"], 3);
    let prev_mac = trailer::parse(all[1]).unwrap().mac;
    let mut hex = Vec::new();
    crate::trail::hex::push_hex(&prev_mac, &mut hex);
    assert_eq!(seal["last_mac"].as_str().unwrap().as_bytes(), &hex[..]);
    let first_of_next = trailer::parse(all[3]).unwrap();
    assert_eq!(
        first_of_next.prev,
        Some(trailer::parse(all[2]).unwrap().mac)
    );
    assert!(trailer::parse(all[1]).unwrap().prev.is_none());
}

#[test]
fn checkpoint_every_n_records_and_after_interval_and_forced_at_shutdown() {
    let mut f = ChainConfig::new()
        .checkpoint_every(3)
        .checkpoint_interval(Duration::from_secs(60))
        .framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(br#"{"a":1}"#, &mut out);
    assert!(
        f.checkpoint(t(1), false, &mut out).is_none(),
        "2 records < 3"
    );
    f.frame(br#"{"a":2}"#, &mut out);
    let r = f.checkpoint(t(2), false, &mut out).expect("3 records");
    let cp: serde_json::Value = serde_json::from_slice(&out[r.start..r.end - 1]).unwrap();
    assert_eq!(
        (cp["record"].as_str(), cp["reason"].as_str()),
        (Some("checkpoint"), Some("records"))
    );
    assert!(out[r.clone()].ends_with(b"\n") && r.end == out.len());
    assert!(
        f.checkpoint(t(100), true, &mut out).is_none(),
        "nothing new since the checkpoint"
    );
    f.frame(br#"{"a":3}"#, &mut out);
    assert!(f.checkpoint(t(30), false, &mut out).is_none());
    let r = f
        .checkpoint(t(62), false, &mut out)
        .expect("interval passed");
    assert!(String::from_utf8_lossy(&out[r]).contains(r#""reason":"interval""#));
    f.frame(br#"{"a":4}"#, &mut out);
    let r = f.checkpoint(t(63), true, &mut out).expect("forced");
    assert!(String::from_utf8_lossy(&out[r]).contains(r#""reason":"shutdown""#));
    assert_chain(&lines(&out), None);
}

#[test]
fn resume_continues_seq_and_mac_from_last_line_on_disk() {
    let mut f = ChainConfig::new().key(key()).framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(br#"{"a":1}"#, &mut out);
    let first_run = out.clone();
    let last = lines(&first_run).last().copied().unwrap().to_vec();
    let mut g = ChainConfig::new().key(key()).framer();
    g.resume(Some(&last), None, t(5), &mut out);
    assert_eq!(out.len(), first_run.len(), "nothing to repair");
    g.frame(br#"{"a":2}"#, &mut out);
    let all = lines(&out);
    assert_eq!(trailer::parse(all[2]).unwrap().seq, 2);
    assert_chain(&all, Some(&key()));
}

#[test]
fn resume_after_torn_tail_writes_repair_record() {
    let mut f = ChainConfig::new().framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    let last = lines(&out)[0].to_vec();
    let torn = TornTail {
        file: "audit.2026-11-26.0000.jsonl".into(),
        set_aside: "/logs/audit.torn-1.partial".into(),
        bytes: 17,
    };
    let mut g = ChainConfig::new().framer();
    g.resume(Some(&last), Some(&torn), t(1), &mut out);
    let all = lines(&out);
    assert_eq!(all.len(), 2);
    let repair: serde_json::Value = serde_json::from_slice(all[1]).unwrap();
    assert_eq!(repair["record"], "repair");
    assert_eq!(repair["repair"], "torn_tail");
    assert_eq!(repair["file"], "audit.2026-11-26.0000.jsonl");
    assert_eq!(repair["set_aside"], "/logs/audit.torn-1.partial");
    assert_eq!(repair["bytes"], 17);
    assert_chain(&all, None);
}

#[test]
fn resume_from_unchained_line_starts_new_segment_with_repair_record() {
    let mut f = ChainConfig::new().framer();
    let mut out = Vec::new();
    f.resume(Some(br#"{"seq":41,"garbage"}"#), None, t(0), &mut out);
    f.frame(br#"{"a":1}"#, &mut out);
    let all = lines(&out);
    assert_eq!(super::framer::control_kind(all[0]), Some(&b"genesis"[..]));
    assert_eq!(trailer::parse(all[0]).unwrap().seq, 42);
    let repair: serde_json::Value = serde_json::from_slice(all[1]).unwrap();
    assert_eq!(repair["repair"], "new_chain");
    assert_eq!(repair["prev_line_bytes"], 20);
    assert_chain(&all, None);
}

#[test]
fn resume_after_seal_opens_next_file_with_prev() {
    let mut f = ChainConfig::new().framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.seal("a.jsonl", "b.jsonl", t(1), &mut out);
    let seal = lines(&out)[1].to_vec();
    let mut g = ChainConfig::new().framer();
    g.resume(Some(&seal), None, t(2), &mut out);
    g.frame(b"{}", &mut out);
    let all = lines(&out);
    assert_eq!(
        trailer::parse(all[2]).unwrap().prev,
        Some(trailer::parse(all[1]).unwrap().mac)
    );
    assert_chain(&all, None);
}

#[test]
fn bodies_that_are_not_objects_are_kept_escaped() {
    let mut f = ChainConfig::new().framer();
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    f.frame(b"not json\r\x1b", &mut out);
    f.frame(b"", &mut out);
    f.frame(b"{}", &mut out);
    f.frame(b"{ }  ", &mut out);
    let all = lines(&out);
    assert_eq!(all.len(), 5);
    let v: serde_json::Value = serde_json::from_slice(all[1]).unwrap();
    assert_eq!(v["invalid_body"], "not json\r\u{1b}");
    assert!(all[3].starts_with(br#"{"seq":3,"mac":"sha256:"#));
    assert_chain(&all, None);
}

#[test]
fn key_files_lose_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    std::fs::write(&p, b"abc\r\n").unwrap();
    let a = ChainKey::from_file("k", &p).unwrap();
    let b = ChainKey::new("k", b"abc");
    assert_eq!(
        trailer::compute(Some(&a.mac()), &[0; 32], b"x"),
        trailer::compute(Some(&b.mac()), &[0; 32], b"x")
    );
    std::fs::write(&p, b"\n").unwrap();
    assert!(ChainKey::from_file("k", &p).is_err());
    let err = ChainKey::from_file("k", dir.path().join("missing")).unwrap_err();
    assert!(std::error::Error::source(&err).is_some());
    assert!(ChainKey::from_env("k", "TRACING_AUDIT_SURELY_UNSET_VAR").is_err());
}

#[test]
fn key_ids_are_restricted_to_safe_characters() {
    assert_eq!(ChainKey::new("a\"b c/d", b"k").key_id(), "a_b_c/d");
    assert_eq!(ChainKey::new("", b"k").key_id(), "_");
    assert!(!format!("{:?}", ChainKey::new("id", b"hunter2")).contains("hunter2"));
}
