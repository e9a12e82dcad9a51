//! Verifying the copy a central receiver wrote: the audit records in the order they arrived,
//! with the duplicates that resends after a reconnection cause.
//!
//! Unlike a trail directory, a received file has no seals, checkpoints or file boundaries, may
//! start anywhere in the chain (the first record shipped), and may hold a record twice when a
//! session ended before its acknowledgement arrived. The check: every record chains to the one
//! before it by `seq` and MAC, `seq` has no gap from the first received record on, an exact
//! repeat of a record already seen is tolerated and counted, and anything else (a different
//! record under a `seq` already seen, a line that is not a chained record, a MAC that does not
//! match, a gap, a `seq` going backwards) is a problem.

use super::report::{Problem, ProblemKind, Warning};
use super::{Keys, VerifyError};
use crate::chain::{self, Alg, GENESIS_PREV};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// What [`verify_received`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedReport {
    records: u64,
    duplicates: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

impl ReceivedReport {
    /// True when no problem was found (duplicates are not problems).
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
    /// Distinct records received.
    pub fn records(&self) -> u64 {
        self.records
    }
    /// Exact repeats of records already received (resends after a reconnection).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
    /// The first received record's `seq`.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_seq
    }
    /// The highest `seq` received.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }
    /// Tampering or loss, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
    /// Things worth knowing that are not tampering.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// Verifies a file written by a central receiver (rsyslog's `omfile` with the raw `%msg%`
/// template): one audit record per line, in arrival order, duplicates allowed.
///
/// ```no_run
/// use std::path::Path;
/// use tracing_audit::verify::{verify_received, Keys};
///
/// let report = verify_received(Path::new("/var/log/central/myapp-audit.log"), &Keys::none())?;
/// println!("{} records, {} duplicates", report.records(), report.duplicates());
/// for p in report.problems() {
///     eprintln!("{p}");
/// }
/// # Ok::<(), tracing_audit::verify::VerifyError>(())
/// ```
pub fn verify_received(file: &Path, keys: &Keys) -> Result<ReceivedReport, VerifyError> {
    let bytes = std::fs::read(file)
        .map_err(|e| VerifyError::io(format!("cannot read {}", file.display()), e))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    Ok(check(&bytes, &name, keys))
}

struct Walk<'a> {
    name: &'a str,
    keys: &'a Keys,
    report: ReceivedReport,
    /// seq -> (line, SHA-256 of the line, first 16 bytes).
    seen: HashMap<u64, (u64, [u8; 16])>,
    /// The next seq expected and the MAC it must chain to.
    next: Option<(u64, [u8; 32])>,
    unverifiable: u64,
}

impl Walk<'_> {
    fn problem(&mut self, kind: ProblemKind, line: u64, seq: Option<u64>, detail: String) {
        self.report.problems.push(Problem {
            kind,
            file: Some(self.name.to_owned()),
            line: Some(line),
            seq,
            detail,
        });
    }

    fn warn(&mut self, line: Option<u64>, message: String) {
        self.report.warnings.push(Warning {
            file: Some(self.name.to_owned()),
            line,
            message,
        });
    }

    fn line(&mut self, n: u64, line: &[u8]) {
        let Some(t) = chain::parse_trailer(line) else {
            self.problem(
                ProblemKind::Inserted,
                n,
                None,
                "not a chained audit record".to_owned(),
            );
            return;
        };
        let digest: [u8; 16] = Sha256::digest(line)[..16].try_into().unwrap_or_default();
        if let Some(&(first, d)) = self.seen.get(&t.seq) {
            if d == digest {
                self.report.duplicates += 1;
            } else {
                self.problem(
                    ProblemKind::Modified,
                    n,
                    Some(t.seq),
                    format!("differs from the record with the same seq at line {first}"),
                );
            }
            return;
        }
        let key = match (t.alg, t.kid.as_deref()) {
            (Alg::HmacSha256, kid) => match self.keys.lookup(kid.unwrap_or("")) {
                Some(k) => Some(k.mac()),
                None => {
                    self.unverifiable += 1;
                    None
                }
            },
            (Alg::Sha256, _) => {
                if !self.keys.is_empty() {
                    self.unverifiable += 1;
                }
                None
            }
        };
        let checkable = t.alg == Alg::Sha256 || key.is_some();
        let genesis = chain::control_kind(line) == Some(&b"genesis"[..]);
        // What this record must chain to: its predecessor when it is the one expected, else
        // what it says about itself (a `prev` key, or the zero MAC of a chain start).
        let pred = match self.next {
            Some((want, mac)) if want == t.seq => {
                if t.prev.is_some_and(|p| p != mac) {
                    self.problem(
                        ProblemKind::Spliced,
                        n,
                        Some(t.seq),
                        "its prev key names another predecessor than the record received before it"
                            .to_owned(),
                    );
                }
                Some(mac)
            }
            Some((want, _)) => {
                if t.seq > want {
                    let detail = if t.seq - want == 1 {
                        format!("record {want} was never received")
                    } else {
                        format!("records {want} to {} were never received", t.seq - 1)
                    };
                    self.problem(ProblemKind::Deleted, n, Some(t.seq), detail);
                } else {
                    self.problem(
                        ProblemKind::Reordered,
                        n,
                        Some(t.seq),
                        format!("arrived after seq {}", want - 1),
                    );
                }
                if genesis {
                    Some(GENESIS_PREV)
                } else {
                    t.prev
                }
            }
            None => {
                self.report.first_seq = Some(t.seq);
                if genesis {
                    Some(GENESIS_PREV)
                } else {
                    if t.prev.is_none() {
                        self.warn(
                            Some(n),
                            format!("the first received record (seq {}) starts mid-chain: it is checked only through the records after it", t.seq),
                        );
                    }
                    t.prev
                }
            }
        };
        if let (true, Some(pred)) = (checkable, pred) {
            let signed = &line[..t.signed_len];
            if chain::compute(key.as_ref(), &pred, signed) != t.mac {
                self.problem(
                    ProblemKind::Modified,
                    n,
                    Some(t.seq),
                    "the MAC does not match: changed, forged, or not chained to the record before it".to_owned(),
                );
            }
        }
        self.seen.insert(t.seq, (n, digest));
        self.report.records += 1;
        self.report.last_seq = Some(self.report.last_seq.map_or(t.seq, |l| l.max(t.seq)));
        if self.next.is_none_or(|(want, _)| t.seq >= want) {
            self.next = Some((t.seq.saturating_add(1), t.mac));
        }
    }
}

fn check(bytes: &[u8], name: &str, keys: &Keys) -> ReceivedReport {
    let mut w = Walk {
        name,
        keys,
        report: ReceivedReport::default(),
        seen: HashMap::new(),
        next: None,
        unverifiable: 0,
    };
    let mut n = 0u64;
    let mut rest = bytes;
    while !rest.is_empty() {
        n += 1;
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => {
                w.warn(
                    Some(n),
                    "the last line has no newline (the receiver may still be writing it)"
                        .to_owned(),
                );
                (rest, &rest[rest.len()..])
            }
        };
        w.line(n, line);
        rest = after;
    }
    if w.unverifiable > 0 {
        let detail = if keys.is_empty() {
            format!("{} keyed records, and no key was given", w.unverifiable)
        } else {
            format!(
                "{} records with no matching key, or unkeyed where a key was given",
                w.unverifiable
            )
        };
        w.report.problems.push(Problem {
            kind: ProblemKind::Unverifiable,
            file: Some(name.to_owned()),
            line: None,
            seq: None,
            detail,
        });
    }
    if w.report.duplicates > 0 {
        let d = w.report.duplicates;
        w.warn(
            None,
            format!("{d} exact duplicates (resent after a reconnection) were skipped"),
        );
    }
    w.report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainKey;

    /// A keyed chain of `n` records, the way the framer writes them.
    fn chain_lines(key: &ChainKey, n: u64) -> Vec<Vec<u8>> {
        let mut prev = GENESIS_PREV;
        let mut out = Vec::new();
        for seq in 1..=n {
            let mut signed = format!(
                "{{\"seq\":{seq},\"ts\":\"2026-12-01T00:00:00.000000000Z\",\"msg\":\"m{seq}\""
            );
            if seq == 1 {
                signed.push_str(&format!(",\"prev\":\"{}\"", hex(&prev)));
            }
            signed.push_str(",\"kid\":\"k1\"");
            let mac = chain::compute(Some(&key.mac()), &prev, signed.as_bytes());
            out.push(format!("{signed},\"mac\":\"hmac-sha256:{}\"}}", hex(&mac)).into_bytes());
            prev = mac;
        }
        out
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn join(lines: &[&Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn resent_duplicates_are_counted_not_reported() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 6);
        let file = join(&[&l[0], &l[1], &l[2], &l[3], &l[2], &l[3], &l[4], &l[5]]);
        let r = check(&file, "audit.log", &Keys::from(key));
        assert!(r.intact(), "{:?}", r.problems());
        assert_eq!((r.records(), r.duplicates()), (6, 2));
        assert_eq!((r.first_seq(), r.last_seq()), (Some(1), Some(6)));
    }

    #[test]
    fn a_gap_a_changed_duplicate_and_a_changed_record_are_reported() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 6);
        let mut changed = l[1].clone();
        let at = changed.iter().position(|&b| b == b'm').unwrap();
        changed[at + 1] = b'X';
        let file = join(&[&l[0], &l[1], &changed, &l[2], &l[4], &l[5]]);
        let r = check(&file, "audit.log", &Keys::from(key.clone()));
        let kinds: Vec<_> = r.problems().iter().map(|p| (p.kind(), p.seq())).collect();
        assert_eq!(
            kinds,
            [
                (ProblemKind::Modified, Some(2)),
                (ProblemKind::Deleted, Some(5))
            ]
        );
        // Without the key, keyed records cannot be checked: said so, not passed.
        let r = check(&join(&[&l[0]]), "audit.log", &Keys::none());
        assert_eq!(r.problems()[0].kind(), ProblemKind::Unverifiable);
    }

    #[test]
    fn a_copy_starting_mid_chain_is_checked_from_its_first_record() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 5);
        let r = check(
            &join(&[&l[2], &l[3], &l[4]]),
            "audit.log",
            &Keys::from(key.clone()),
        );
        assert!(r.intact(), "{:?}", r.problems());
        assert_eq!(r.warnings().len(), 1);
        let mut forged = l[3].clone();
        let len = forged.len();
        forged[len - 3] = if forged[len - 3] == b'0' { b'1' } else { b'0' };
        let r = check(
            &join(&[&l[2], &forged, &l[4]]),
            "audit.log",
            &Keys::from(key),
        );
        assert_eq!(r.problems()[0].kind(), ProblemKind::Modified);
        assert!(!r.intact());
        let r = check(b"hello\n", "x", &Keys::none());
        assert_eq!(r.problems()[0].kind(), ProblemKind::Inserted);
    }
}
