//! The holes found by attacking the verifier with write access to the trail directory: each
//! test is one class of attack, on a real trail written through the layer.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::Path;
use tracing_audit::verify::{Keys, ProblemKind, Report, Verifier};

fn trail(dir: &Path) {
    let chain = tracing_audit::chain::ChainConfig::new()
        .key(key())
        .checkpoint_every(10);
    // Two runs, so the trail holds at least two checkpoints (each run's shutdown one).
    write_trail(dir, chain.clone(), 0..30, 4 * 1024);
    write_trail(dir, chain, 30..60, 4 * 1024);
}

fn newest(dir: &Path) -> std::path::PathBuf {
    trail_files(dir).pop().unwrap()
}

fn is_checkpoint(l: &[u8]) -> bool {
    String::from_utf8_lossy(l).contains("\"record\":\"checkpoint\"")
}

fn complete_lines(dir: &Path) -> usize {
    let trail = tracing_audit::trail::Trail::open(dir, None).unwrap();
    let mut n = 0;
    trail
        .for_each_line(|_, _| {
            n += 1;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    n
}

fn kinds(r: &Report) -> Vec<ProblemKind> {
    r.problems().iter().map(|p| p.kind()).collect()
}

#[test]
fn a_forged_record_appended_without_its_newline_is_tampering_not_a_torn_line() {
    let d = tempfile::tempdir().unwrap();
    trail(d.path());
    let last = newest(d.path());
    let lines = read_lines(&last);
    // Forgeries of every shape: a whole copied record, a record with a bad MAC, a record with a
    // raw control byte, something that does not start like a record at all.
    let whole = lines[lines.len() - 2].clone();
    let mut bad_mac = whole.clone();
    let n = bad_mac.len();
    bad_mac[n - 4] = if bad_mac[n - 4] == b'0' { b'1' } else { b'0' };
    let forgeries: Vec<Vec<u8>> = vec![
        whole,
        bad_mac,
        b"{\"seq\":999,\"ts\":\"x\",\"outcome\":\"success\"\x0b".to_vec(),
        b"outcome=success".to_vec(),
    ];
    let before = complete_lines(d.path());
    for forged in forgeries {
        let mut content = fs::read(&last).unwrap();
        content.extend_from_slice(&forged);
        fs::write(&last, &content).unwrap();
        let r = verify(d.path(), &Keys::from(key())).unwrap();
        assert!(
            kinds(&r).contains(&ProblemKind::Inserted),
            "{}: {r}",
            String::from_utf8_lossy(&forged)
        );
        // And no reader presents it as a record.
        assert_eq!(complete_lines(d.path()), before);
        content.truncate(content.len() - forged.len());
        fs::write(&last, &content).unwrap();
    }
    // A real tear (the start of a record cut short) is still only a warning.
    let mut content = fs::read(&last).unwrap();
    content.extend_from_slice(b"{\"seq\":61,\"ts\":\"2026-");
    fs::write(&last, &content).unwrap();
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
    assert!(r.warnings().iter().any(|w| w.message().contains("torn")));
}

#[test]
fn the_side_file_accepts_only_checkpoint_records_and_every_line_of_a_checkpoint_file_is_read() {
    let d = tempfile::tempdir().unwrap();
    trail(d.path());
    let side = d.path().join("audit.checkpoint");
    let original = fs::read(&side).unwrap();
    assert!(verify(d.path(), &Keys::from(key())).unwrap().intact());
    // A body record (authentic, from the trail) in place of the checkpoint.
    let body = read_lines(&trail_files(d.path())[0])[3].clone();
    fs::write(&side, &body).unwrap();
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Inserted], "{r}");
    // Deleted.
    fs::remove_file(&side).unwrap();
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Deleted], "{r}");
    fs::write(&side, &original).unwrap();
    // An off-host file of many checkpoint lines: every line counts, not only the last.
    let checkpoints: Vec<Vec<u8>> = trail_files(d.path())
        .iter()
        .flat_map(|f| read_lines(f))
        .filter(|l| is_checkpoint(l))
        .collect();
    assert!(checkpoints.len() >= 2);
    let copy = tempfile::NamedTempFile::new().unwrap();
    let mut many = Vec::new();
    for (i, c) in checkpoints.iter().enumerate() {
        let mut c = c.clone();
        if i == 0 {
            // The first line altered: only a reader of every line sees it.
            let at = c.len() - 5;
            c[at] = if c[at] == b'a' { b'b' } else { b'a' };
        }
        many.extend_from_slice(&c);
        many.push(b'\n');
    }
    fs::write(copy.path(), &many).unwrap();
    let r = every_way(|| {
        Verifier::new(d.path())
            .keys(Keys::from(key()))
            .checkpoint(copy.path())
    })
    .unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Modified], "{r}");
    assert_eq!(r.problems()[0].line(), Some(1), "{r}");
}

#[cfg(unix)]
#[test]
fn a_fifo_as_checkpoint_or_side_file_is_refused_not_waited_on() {
    let d = tempfile::tempdir().unwrap();
    trail(d.path());
    let fifo = d.path().join("x.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = every_way(|| {
        Verifier::new(d.path())
            .keys(Keys::from(key()))
            .checkpoint(&fifo)
    })
    .unwrap_err();
    assert!(err.to_string().contains("x.fifo"), "{err}");
    // The side file itself replaced by a FIFO.
    let side = d.path().join("audit.checkpoint");
    fs::remove_file(&side).unwrap();
    fs::rename(&fifo, &side).unwrap();
    assert!(verify(d.path(), &Keys::from(key())).is_err());
    // A FIFO named like a trail file is not read either.
    fs::remove_file(&side).unwrap();
    let c = std::ffi::CString::new(
        d.path()
            .join("audit.2099-01-01.0001.jsonl")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let r = verify(d.path(), &Keys::from(key()));
    assert!(r.is_err() || !r.unwrap().intact());
}

#[test]
fn head_deletion_fails_against_an_older_off_host_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    // Two runs: the first one's shutdown checkpoint is the one the auditor kept.
    write_trail(d.path(), keyed(), 0..30, 2 * 1024);
    write_trail(d.path(), keyed(), 30..90, 2 * 1024);
    let files = trail_files(d.path());
    // The auditor kept a checkpoint from the first file.
    let first_checkpoint = files
        .iter()
        .flat_map(|f| read_lines(f))
        .find(|l| is_checkpoint(l))
        .unwrap();
    let kept = tempfile::NamedTempFile::new().unwrap();
    fs::write(kept.path(), &first_checkpoint).unwrap();
    // Everything up to and past that checkpoint deleted, as retention would, but not by it.
    let cp_seq: u64 = serde_json::from_slice::<serde_json::Value>(&first_checkpoint).unwrap()
        ["seq"]
        .as_u64()
        .unwrap();
    for f in &files[..files.len() - 1] {
        let last: serde_json::Value =
            serde_json::from_slice(read_lines(f).last().unwrap()).unwrap();
        fs::remove_file(f).unwrap();
        if last["seq"].as_u64().unwrap() > cp_seq {
            break;
        }
    }
    let r = every_way(|| {
        Verifier::new(d.path())
            .keys(Keys::from(key()))
            .checkpoint(kept.path())
    })
    .unwrap();
    assert!(
        kinds(&r).contains(&ProblemKind::Deleted),
        "{r} {}",
        String::from_utf8_lossy(&first_checkpoint)
    );
}

#[test]
fn a_cut_tail_is_recorded_on_restart_never_laundered() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), keyed(), 0..30, 64 * 1024);
    let side: serde_json::Value =
        serde_json::from_slice(&fs::read(d.path().join("audit.checkpoint")).unwrap()).unwrap();
    let published = side["seq"].as_u64().unwrap();
    // Cut the last ten lines of the newest file (the published checkpoint among them).
    let last = newest(d.path());
    let mut lines = read_lines(&last);
    lines.truncate(lines.len() - 10);
    let mut content = Vec::new();
    for l in &lines {
        content.extend_from_slice(l);
        content.push(b'\n');
    }
    fs::write(&last, &content).unwrap();
    // The service starts again and writes on; it republishes the side file itself.
    write_trail(d.path(), keyed(), 30..40, 64 * 1024);
    let all: Vec<serde_json::Value> = trail_files(d.path())
        .iter()
        .flat_map(|f| read_lines(f))
        .map(|l| serde_json::from_slice(&l).unwrap())
        .collect();
    let repair = all
        .iter()
        .find(|v| v["repair"] == "cut")
        .expect("a repair record names the cut");
    assert_eq!(repair["missing_to"].as_u64(), Some(published));
    assert!(
        repair["seq"].as_u64().unwrap() > published,
        "the removed sequence numbers are not reused"
    );
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(kinds(&r).contains(&ProblemKind::Deleted), "{r}");
}
