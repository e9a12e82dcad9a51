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

use serde_json::Value;
#[cfg(feature = "ship")]
use serde_json::{json, Map};
use std::collections::BTreeMap;

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
