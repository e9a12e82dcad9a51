//! The record-level cap: an event with ten thousand fields, or under ten thousand nested spans,
//! still becomes one record no larger than the cap, so every record the layer writes can be
//! shipped (the shipper refuses larger ones, which would leave a permanent hole in the central
//! copy).
//!
//! Only an oversize record pays anything here: the parts are re-read and cut at element
//! boundaries, never inside a value, so the record stays one valid JSON object that the chain
//! frames like any other. What goes first: the innermost spans (the request span at the root
//! usually carries the ids and the user), then the event's last fields, then the root span, and
//! only when that is not enough, the tail of the message and the lifted audit keys.

/// Default cap on one record, before the chain's trailer (`seq`, `prev`, `kid`, `mac`: about
/// 250 bytes): below the shipper's default `max_message_size` of 64 KiB with room for the
/// syslog header.
pub(crate) const DEFAULT_MAX_RECORD_LEN: usize = 60 << 10;

/// The smallest cap `build()` accepts: room for the fixed keys and a few values.
pub(crate) const MIN_MAX_RECORD_LEN: usize = 4 << 10;

/// Bytes kept free for the `"cut"` marker the record carries when something was dropped.
const MARKER_RESERVE: usize = 80;

/// What was dropped to fit the cap.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) fields: usize,
    pub(crate) spans: usize,
    pub(crate) values: usize,
}

impl Cut {
    pub(crate) fn any(&self) -> bool {
        *self != Cut::default()
    }

    /// `,"cut":{"fields":F,"spans":S,"values":V}`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"cut\":{\"fields\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.fields).as_bytes());
        out.extend_from_slice(b",\"spans\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.spans).as_bytes());
        out.extend_from_slice(b",\"values\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.values).as_bytes());
        out.push(b'}');
    }
}

/// Shrinks the parts of a record whose assembled length is `total` so that it fits `cap`:
/// `spans` (comma-separated `{...}` objects, root first), `fields` (comma-separated
/// `"name":value` pairs), then the JSON strings in `strings` (the message and lifted keys,
/// each `"..."` or empty).
pub(crate) fn shrink(
    cap: usize,
    total: usize,
    spans: &mut Vec<u8>,
    fields: &mut Vec<u8>,
    strings: &mut [&mut Vec<u8>],
) -> Cut {
    let mut cut = Cut::default();
    let mut excess = (total + MARKER_RESERVE).saturating_sub(cap);
    // The root span stays until the fields are gone too.
    let (dropped, freed) = drop_last_elements(spans, excess, 1);
    cut.spans += dropped;
    excess = excess.saturating_sub(freed);
    let (dropped, freed) = drop_last_elements(fields, excess, 0);
    cut.fields += dropped;
    excess = excess.saturating_sub(freed);
    let (dropped, freed) = drop_last_elements(spans, excess, 0);
    cut.spans += dropped;
    excess = excess.saturating_sub(freed);
    // Longest first: the message and a few huge lifted values share what is left.
    while excess > 0 {
        let Some(longest) = strings
            .iter_mut()
            .filter(|s| s.len() > 2)
            .max_by_key(|s| s.len())
        else {
            break;
        };
        let before = longest.len();
        let keep = before.saturating_sub(excess).max(2);
        truncate_json_string(longest, keep);
        cut.values += 1;
        excess = excess.saturating_sub(before.saturating_sub(longest.len()));
        if before == longest.len() {
            break;
        }
    }
    cut
}

/// Drops elements from the end of a comma-separated list of JSON values, keeping the first
/// `keep`, until at least `need` bytes are freed. Returns how many were dropped and the bytes
/// freed.
fn drop_last_elements(list: &mut Vec<u8>, need: usize, keep: usize) -> (usize, usize) {
    if need == 0 || list.is_empty() {
        return (0, 0);
    }
    let starts = element_starts(list);
    let before = list.len();
    let mut dropped = 0;
    for &start in starts.iter().skip(keep).rev() {
        if before - list.len() >= need {
            break;
        }
        // The comma before the element goes with it.
        list.truncate(start.saturating_sub(1));
        dropped += 1;
    }
    (dropped, before - list.len())
}

/// Offsets where each top-level element of a comma-separated JSON list begins.
fn element_starts(list: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in list.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => starts.push(i + 1),
            _ => {}
        }
    }
    starts
}

/// Cuts a JSON string literal (`"..."`, escaped as the crate writes it) to at most `max` bytes
/// with its closing quote and a `…` marker, never inside an escape or a UTF-8 sequence.
fn truncate_json_string(s: &mut Vec<u8>, max: usize) {
    const MARK: &[u8] = "…\"".as_bytes();
    if s.len() <= max || s.len() < 2 {
        return;
    }
    let body_end = s.len() - 1;
    let cut = max.saturating_sub(MARK.len());
    // The end of the last whole character or escape that fits before `cut`.
    let mut end = 1;
    while end < body_end {
        let step = match s[end] {
            b'\\' if s.get(end + 1) == Some(&b'u') => 6,
            b'\\' => 2,
            b if b < 0x80 => 1,
            b if b >= 0xf0 => 4,
            b if b >= 0xe0 => 3,
            _ => 2,
        };
        if end + step > cut {
            break;
        }
        end += step;
    }
    s.truncate(end);
    s.extend_from_slice(MARK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_lose_their_last_elements_whole() {
        let mut fields = br#""a":"x,y","b":{"c":[1,2]},"d":"\"}""#.to_vec();
        assert_eq!(element_starts(&fields), [0, 10, 26]);
        let (dropped, freed) = drop_last_elements(&mut fields, 3, 0);
        assert_eq!((dropped, freed), (1, 10));
        assert_eq!(fields, br#""a":"x,y","b":{"c":[1,2]}"#);
        let (dropped, _) = drop_last_elements(&mut fields, 1000, 1);
        assert_eq!(dropped, 1);
        assert_eq!(fields, br#""a":"x,y""#);
        let (dropped, _) = drop_last_elements(&mut fields, 1000, 0);
        assert_eq!(dropped, 1);
        assert!(fields.is_empty());
    }

    #[test]
    fn strings_are_cut_outside_escapes_and_characters() {
        for original in [r#""abc\u001bdef""#, "\"ééééé\"", r#""a\"b\\c\nd""#] {
            for max in 2..original.len() {
                let mut s = original.as_bytes().to_vec();
                truncate_json_string(&mut s, max);
                let v: String = serde_json::from_slice(&s)
                    .unwrap_or_else(|e| panic!("{original} at {max}: {e}: {s:?}"));
                assert!(v.ends_with('…'), "{v}");
                assert!(
                    s.len() <= max.max(5),
                    "{original} at {max}: {} bytes",
                    s.len()
                );
            }
        }
    }

    #[test]
    fn shrinking_takes_spans_then_fields_then_strings() {
        let mut spans = br#"{"name":"a","fields":{}},{"name":"b","fields":{"x":1}}"#.to_vec();
        let mut fields = br#""f1":"aaaa","f2":"bbbb""#.to_vec();
        let mut message = format!("\"{}\"", "m".repeat(200)).into_bytes();
        let total = spans.len() + fields.len() + message.len() + 50;
        let cut = shrink(
            total + MARKER_RESERVE - 10,
            total,
            &mut spans,
            &mut fields,
            &mut [&mut message],
        );
        assert_eq!(
            cut,
            Cut {
                fields: 0,
                spans: 1,
                values: 0
            }
        );
        let total = spans.len() + fields.len() + message.len() + 50;
        let cut = shrink(
            150 + MARKER_RESERVE,
            total,
            &mut spans,
            &mut fields,
            &mut [&mut message],
        );
        assert_eq!((cut.spans, cut.fields, cut.values), (1, 2, 1));
        assert!(spans.is_empty() && fields.is_empty());
        let total = message.len() + 50;
        assert!(total <= 150, "{total}");
        let m: String = serde_json::from_slice(&message).unwrap();
        assert!(m.ends_with('…'));
    }
}
