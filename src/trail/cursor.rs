//! The shipping cursor file: where shipping of each stream stands. Written by the shipper, read
//! by it, by the file sink's retention (`Retention::keep_unshipped`) and by `verify --received
//! --cursor`: one format, one parser.
//!
//! ```text
//! {"version":1,"streams":{"audit":{"file":"audit.2026-12-01.0003.jsonl","offset":52311,"seq":1041,"mac":"hmac-sha256:…"}}}
//! ```
//!
//! `file` is the name the file was written under (without `.gz`), `offset` the byte offset, in
//! its uncompressed content, just past the last acknowledged record's newline; `seq` and `mac`
//! are that record's (audit stream only).
//!
//! A cursor is only a claim: anyone who can write the trail directory can write one. Before
//! resuming, the shipper [`check`]s it against the trail: the record ending exactly at `offset`
//! must carry the cursor's `seq` and `mac`.
//!
//! Starting mid-trail on purpose (`ship --start-at-seq N`) is announced to the receiver by a
//! **start marker**, one JSON line sent as the first message of the session (it is not a
//! chained record; the received walk recognises it by its only key):
//!
//! ```text
//! {"ship_start":{"ts":"2026-12-06T07:00:00.000000000Z","seq":500,"mac":"hmac-sha256:…","prefix":"audit","host":"web1"}}
//! ```
//!
//! `seq` and `mac` name the first record shipped after it (so the marker cannot be moved onto
//! another gap), `prefix` and `host` where it comes from, `ts` when the shipper started.

#[cfg(feature = "ship")]
use super::{read::LineReader, trailer, Trail, TrailFile};
use serde_json::Value;
#[cfg(feature = "ship")]
use serde_json::{json, Map};
use std::collections::BTreeMap;
#[cfg(feature = "ship")]
use std::{fmt, ops::ControlFlow, path::Path};

/// The position just past the last acknowledged record of one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
// Public through `ship::Position`; without the `ship` feature only the crate reads cursors.
#[cfg_attr(not(feature = "ship"), allow(unreachable_pub))]
pub struct Position {
    /// The file's name as written (`<prefix>.<stamp>.<NNNN>.jsonl`), without `.gz`.
    pub file: String,
    /// Offset in the file's uncompressed content, just past a newline.
    pub offset: u64,
    /// The last acknowledged record's sequence number (audit stream).
    pub seq: Option<u64>,
    /// The last acknowledged record's MAC (audit stream), as written in the record.
    pub mac: Option<String>,
}

#[cfg(feature = "ship")]
pub(crate) fn render(streams: &BTreeMap<String, Position>) -> Vec<u8> {
    let mut map = Map::new();
    for (prefix, pos) in streams {
        let mut o = Map::new();
        o.insert("file".into(), json!(pos.file));
        o.insert("offset".into(), json!(pos.offset));
        if let Some(seq) = pos.seq {
            o.insert("seq".into(), json!(seq));
        }
        if let Some(mac) = &pos.mac {
            o.insert("mac".into(), json!(mac));
        }
        map.insert(prefix.clone(), Value::Object(o));
    }
    let mut out = json!({"version": 1, "streams": map})
        .to_string()
        .into_bytes();
    out.push(b'\n');
    out
}

/// Parses a cursor file; `None` when it is not one.
pub(crate) fn parse(bytes: &[u8]) -> Option<BTreeMap<String, Position>> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if v.get("version")?.as_u64()? != 1 {
        return None;
    }
    let mut out = BTreeMap::new();
    for (prefix, p) in v.get("streams")?.as_object()? {
        let file = p.get("file")?.as_str()?;
        if file.contains('/') || file.is_empty() {
            return None;
        }
        out.insert(
            prefix.clone(),
            Position {
                file: file.to_owned(),
                offset: p.get("offset")?.as_u64()?,
                seq: p.get("seq").and_then(Value::as_u64),
                mac: p.get("mac").and_then(Value::as_str).map(str::to_owned),
            },
        );
    }
    Some(out)
}

#[cfg(feature = "ship")]
/// Why a cursor does not fit the trail: where it points, what it expects, what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The cursor's file and offset.
    pub(crate) file: String,
    pub(crate) offset: u64,
    /// The cursor's seq and MAC.
    pub(crate) expected: (Option<u64>, Option<String>),
    /// What is at that position.
    pub(crate) found: String,
}

#[cfg(feature = "ship")]
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seq, mac) = &self.expected;
        write!(
            f,
            "it names {} at offset {}, just past record seq {} with MAC {}, but {}",
            self.file,
            self.offset,
            seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            mac.as_deref().unwrap_or("-"),
            self.found
        )
    }
}

#[cfg(feature = "ship")]
/// Checks `pos` against the trail `prefix` in `dir`: the file must be there, `offset` must be
/// just past a newline within it, and the line ending there must have the `seq` and `mac` the
/// cursor names (both absent for a debug stream's lines).
pub(crate) fn check(dir: &Path, prefix: &str, pos: &Position) -> Result<(), Mismatch> {
    let mismatch = |found: String| Mismatch {
        file: pos.file.clone(),
        offset: pos.offset,
        expected: (pos.seq, pos.mac.clone()),
        found,
    };
    let trail = Trail::open(dir, Some(prefix))
        .map_err(|e| mismatch(format!("the trail cannot be listed: {e}")))?;
    let Some(file) = trail.files().iter().find(|f| f.written_as() == pos.file) else {
        return Err(mismatch("that file is not in the trail".to_owned()));
    };
    if pos.offset == 0 {
        return Err(mismatch("offset 0 is before any record".to_owned()));
    }
    let line = line_ending_at(file, pos.offset).map_err(mismatch)?;
    let found_seq = trailer::parse(&line).map(|t| t.seq);
    let found_mac = trailer::mac_text(&line).map(str::to_owned);
    if (found_seq, found_mac.as_deref()) == (pos.seq, pos.mac.as_deref()) {
        return Ok(());
    }
    Err(mismatch(format!(
        "the record there has seq {} and MAC {}",
        found_seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        found_mac.as_deref().unwrap_or("-")
    )))
}

#[cfg(feature = "ship")]
/// The complete line of `file` whose newline is the byte just before `offset` (data offset,
/// inflated for a `.gz`); an error saying what is there otherwise.
fn line_ending_at(file: &TrailFile, offset: u64) -> Result<Vec<u8>, String> {
    let mut found: Option<Vec<u8>> = None;
    let mut base = 0u64;
    let mut inside = false;
    let reader = LineReader::new();
    let read = if file.is_compressed() {
        // Forward through the inflated data up to the offset.
        reader.read_chunks(file, |chunk| {
            let end = base + chunk.len() as u64;
            if end < offset {
                base = end;
                return ControlFlow::Continue(());
            }
            let at = (offset - base) as usize;
            if chunk[at - 1] != b'\n' {
                inside = true;
            } else {
                let start = memchr::memrchr(b'\n', &chunk[..at - 1]).map_or(0, |i| i + 1);
                found = Some(chunk[start..at - 1].to_vec());
            }
            ControlFlow::Break(())
        })
    } else {
        if offset > file.len_on_disk() {
            return Err(format!(
                "the file holds only {} bytes: the offset is past its end",
                file.len_on_disk()
            ));
        }
        let read = reader.read_lines_backward(file, offset, |line| {
            found = Some(line.to_vec());
            ControlFlow::Break(())
        });
        inside = read.torn_tail;
        read
    };
    if let Some(p) = read.problem() {
        return Err(format!("the file cannot be read: {p}"));
    }
    if inside {
        return Err("the offset is inside a line, not just past a record".to_owned());
    }
    // A compressed file's chunks start at line starts; an empty line before the offset is no
    // record either.
    match found {
        Some(line) if !line.is_empty() => Ok(line),
        Some(_) => Err("the line ending there is empty, not a record".to_owned()),
        None if file.is_compressed() => {
            Err("the offset is past the end of the file's data".to_owned())
        }
        None => Err("no record ends there".to_owned()),
    }
}

/// The key a start marker line begins with.
const START_MARKER_HEAD: &[u8] = b"{\"ship_start\":{";

/// A deliberate start, as announced to the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StartMarker {
    pub(crate) seq: u64,
    pub(crate) mac: Option<String>,
    pub(crate) prefix: String,
    pub(crate) host: String,
    pub(crate) ts: String,
}

/// The marker announcing that shipping starts at record `seq` (whose MAC is `mac`) on purpose.
#[cfg(feature = "ship")]
pub(crate) fn start_marker(prefix: &str, host: &str, seq: u64, mac: Option<&str>) -> Vec<u8> {
    let mut ts = Vec::new();
    super::time::write_rfc3339(std::time::SystemTime::now(), &mut ts);
    let mut o = Map::new();
    o.insert("ts".into(), json!(String::from_utf8_lossy(&ts)));
    o.insert("seq".into(), json!(seq));
    if let Some(mac) = mac {
        o.insert("mac".into(), json!(mac));
    }
    o.insert("prefix".into(), json!(prefix));
    o.insert("host".into(), json!(host));
    json!({ "ship_start": o }).to_string().into_bytes()
}

/// Parses a start marker line; `None` when the line is not one.
pub(crate) fn parse_start_marker(line: &[u8]) -> Option<StartMarker> {
    if !line.starts_with(START_MARKER_HEAD) {
        return None;
    }
    let v: Value = serde_json::from_slice(line).ok()?;
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let m = o.get("ship_start")?;
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(StartMarker {
        seq: m.get("seq")?.as_u64()?,
        mac: text("mac"),
        prefix: text("prefix").unwrap_or_default(),
        host: text("host").unwrap_or_default(),
        ts: text("ts").unwrap_or_default(),
    })
}

#[cfg(all(test, feature = "ship"))]
mod tests {
    use super::*;
    use std::fs;

    const NAME: &str = "audit.2026-12-01.0001.jsonl";

    /// Three framed records (seq 0-2) in one file; the offsets just past each.
    fn trail(dir: &Path) -> (Vec<Vec<u8>>, Vec<u64>) {
        let mut lines = Vec::new();
        let mut content = Vec::new();
        let mut ends = Vec::new();
        for seq in 0..3u64 {
            let line = format!(
                "{{\"seq\":{seq},\"msg\":\"m\",\"mac\":\"sha256:{}\"}}",
                format!("{seq:02x}").repeat(32)
            )
            .into_bytes();
            content.extend_from_slice(&line);
            content.push(b'\n');
            ends.push(content.len() as u64);
            lines.push(line);
        }
        fs::write(dir.join(NAME), &content).unwrap();
        (lines, ends)
    }

    fn at(file: &str, offset: u64, seq: u64) -> Position {
        Position {
            file: file.into(),
            offset,
            seq: Some(seq),
            mac: Some(format!("sha256:{}", format!("{seq:02x}").repeat(32))),
        }
    }

    #[test]
    fn a_cursor_matches_only_the_record_ending_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (_, ends) = trail(dir.path());
        assert_eq!(check(dir.path(), "audit", &at(NAME, ends[1], 1)), Ok(()));
        let refused = |p: Position, why: &str| {
            let e = check(dir.path(), "audit", &p).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        };
        refused(at(NAME, ends[2], 1), "has seq 2");
        let mut bogus = at(NAME, ends[1], 1);
        bogus.mac = Some(format!("sha256:{}", "ff".repeat(32)));
        refused(bogus, "the record there has seq 1 and MAC sha256:0101");
        refused(at(NAME, ends[2] + 10, 2), "past its end");
        refused(at(NAME, ends[1] - 3, 1), "inside a line");
        refused(at(NAME, 0, 0), "before any record");
        refused(
            at("audit.2026-11-30.0001.jsonl", ends[0], 0),
            "not in the trail",
        );
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn a_cursor_into_a_compressed_file_is_checked_in_its_inflated_data() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let (_, ends) = trail(dir.path());
        let plain = fs::read(dir.path().join(NAME)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        fs::write(dir.path().join(format!("{NAME}.gz")), gz.finish().unwrap()).unwrap();
        fs::remove_file(dir.path().join(NAME)).unwrap();
        assert_eq!(check(dir.path(), "audit", &at(NAME, ends[2], 2)), Ok(()));
        assert_eq!(check(dir.path(), "audit", &at(NAME, ends[0], 0)), Ok(()));
        let e = check(dir.path(), "audit", &at(NAME, ends[1] - 1, 1)).unwrap_err();
        assert!(e.to_string().contains("inside a line"), "{e}");
        let e = check(dir.path(), "audit", &at(NAME, ends[2] + 5, 2)).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
    }

    #[test]
    fn the_start_marker_reads_back_and_nothing_else_is_one() {
        let m = start_marker("audit", "web\"1", 500, Some("hmac-sha256:ab"));
        let p = parse_start_marker(&m).unwrap();
        assert_eq!(
            (p.seq, p.mac.as_deref(), p.prefix.as_str(), p.host.as_str()),
            (500, Some("hmac-sha256:ab"), "audit", "web\"1")
        );
        assert!(parse_start_marker(b"{\"ship_start\":{\"seq\":1},\"x\":1}").is_none());
        assert!(parse_start_marker(b"{\"seq\":1}").is_none());
    }
}
