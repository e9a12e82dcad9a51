//! The few top-level fields a [`Query`](super::Query) decides on, read from a line without
//! building a `serde_json::Value` tree.
//!
//! A query that matches most records confirms every line it reads. Parsing each into a `Value`
//! allocates a map, a string per key and per value, and a node per nested span field, only to
//! look at seven keys: that was 3.7x `grep -F` over a trail where every record matched. A
//! [`Probe`] is one pass of the same parser that keeps those seven fields (borrowed from the line
//! when they hold no escapes) and skips everything else without allocating. The line is still
//! parsed whole, so a line that is not one JSON object is still refused exactly as before.
//!
//! The probe reads values the way `Value::get(..).and_then(Value::as_str / as_u64)` does: a
//! field of another type counts as absent for equality but present for "is a control record",
//! and a repeated key keeps its last value (what `serde_json::Value` keeps).

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// The fields of one record a query looks at.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Probe<'a> {
    /// `seq` was present (with any value).
    pub(crate) has_seq: bool,
    /// `seq`, when it is an unsigned integer.
    pub(crate) seq: Option<u64>,
    /// `record` was present (with any value): with `seq`, a chain control record.
    pub(crate) has_record: bool,
    pub(crate) ts: Option<Cow<'a, str>>,
    pub(crate) actor: Option<Cow<'a, str>>,
    pub(crate) action: Option<Cow<'a, str>>,
    pub(crate) outcome: Option<Cow<'a, str>>,
    pub(crate) correlation_id: Option<Cow<'a, str>>,
    pub(crate) trace_id: Option<Cow<'a, str>>,
}

impl<'a> Probe<'a> {
    /// Reads `line`; `None` when it is not one JSON object.
    pub(crate) fn read(line: &'a [u8]) -> Option<Probe<'a>> {
        serde_json::from_slice(line).ok()
    }

    /// The same fields of an already parsed record; `None` when it is not an object.
    pub(crate) fn of_value(v: &'a Value) -> Option<Probe<'a>> {
        let map = v.as_object()?;
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(Cow::Borrowed);
        Some(Probe {
            has_seq: map.contains_key("seq"),
            seq: map.get("seq").and_then(Value::as_u64),
            has_record: map.contains_key("record"),
            ts: text("ts"),
            actor: text("actor"),
            action: text("action"),
            outcome: text("outcome"),
            correlation_id: text("correlation_id"),
            trace_id: text("trace_id"),
        })
    }

    /// A chain control record (genesis, seal, epoch_seal, checkpoint, repair, prune).
    pub(crate) fn is_control(&self) -> bool {
        self.has_seq && self.has_record
    }
}

/// The keys a probe keeps.
enum Key {
    Seq,
    Record,
    Ts,
    Actor,
    Action,
    Outcome,
    CorrelationId,
    TraceId,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "seq" => Key::Seq,
                    "record" => Key::Record,
                    "ts" => Key::Ts,
                    "actor" => Key::Actor,
                    "action" => Key::Action,
                    "outcome" => Key::Outcome,
                    "correlation_id" => Key::CorrelationId,
                    "trace_id" => Key::TraceId,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A value of any type, kept only when it is a string (`Value::as_str`).
struct AnyText<'a>(Option<Cow<'a, str>>);

/// A value of any type, kept only when it is an unsigned integer (`Value::as_u64`).
struct AnyU64(Option<u64>);

/// Drains a nested array or object without keeping it.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements a visitor that accepts every JSON value and maps it to `$keep` or `$none`.
macro_rules! any_value_visitor {
    ($name:ident, $out:ty, $none:expr, { $($keep:item)* }) => {
        impl<'de> Visitor<'de> for $name {
            type Value = $out;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            $($keep)*
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<$out, E> {
                Ok($none)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<$out, E> {
                Ok($none)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<$out, E> {
                Ok($none)
            }
            fn visit_unit<E: de::Error>(self) -> Result<$out, E> {
                Ok($none)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<$out, A::Error> {
                skip_seq(seq).map(|()| $none)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$out, A::Error> {
                skip_map(map).map(|()| $none)
            }
        }
    };
}

struct TextVisitor;
any_value_visitor!(TextVisitor, AnyText<'de>, AnyText(None), {
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<AnyText<'de>, E> {
        Ok(AnyText(Some(Cow::Borrowed(s))))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<AnyText<'de>, E> {
        Ok(AnyText(Some(Cow::Owned(s.to_owned()))))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<AnyText<'de>, E> {
        Ok(AnyText(None))
    }
});

struct U64Visitor;
any_value_visitor!(U64Visitor, AnyU64, AnyU64(None), {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<AnyU64, E> {
        Ok(AnyU64(Some(n)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyU64, E> {
        Ok(AnyU64(None))
    }
});

impl<'de> Deserialize<'de> for AnyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for AnyU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(U64Visitor)
    }
}

struct ProbeVisitor;

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = Probe<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe<'de>, A::Error> {
        let mut p = Probe::default();
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Seq => {
                    p.has_seq = true;
                    p.seq = map.next_value::<AnyU64>()?.0;
                    continue;
                }
                Key::Record => {
                    p.has_record = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Key::Ts => &mut p.ts,
                Key::Actor => &mut p.actor,
                Key::Action => &mut p.action,
                Key::Outcome => &mut p.outcome,
                Key::CorrelationId => &mut p.correlation_id,
                Key::TraceId => &mut p.trace_id,
            };
            *slot = map.next_value::<AnyText<'de>>()?.0;
        }
        Ok(p)
    }
}

impl<'de> Deserialize<'de> for Probe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProbeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The probe of a line and of its parsed `Value` agree, whatever the line holds.
    fn agrees(line: &str) {
        let parsed: Option<Value> = serde_json::from_str(line).ok();
        let from_value = parsed.as_ref().and_then(Probe::of_value);
        assert_eq!(Probe::read(line.as_bytes()), from_value, "{line}");
    }

    #[test]
    fn reads_what_value_reads_for_every_shape_of_field() {
        agrees(
            r#"{"seq":3,"ts":"2026-11-26T05:00:00.000000000Z","actor":"alice","x":{"actor":"bob"}}"#,
        );
        agrees(r#"{"seq":"3","record":null,"actor":7,"action":["a"],"outcome":{"o":1}}"#);
        agrees(r#"{"seq":-1,"trace_id":"t","correlation_id":"c\u0041","actor":"a","actor":"b"}"#);
        agrees(r#"{"seq":1.5,"ts":true,"actor":"esc\"aped\n"}"#);
        agrees(r#"[1,2]"#);
        agrees(r#""text""#);
        agrees(r#"{"actor":"a"} trailing"#);
        agrees(r#"{"actor":"a""#);
        agrees(r#"{}"#);
    }

    #[test]
    fn a_control_record_needs_both_seq_and_record() {
        let p = Probe::read(br#"{"seq":4,"record":null}"#).unwrap();
        assert!(p.is_control());
        assert!(!Probe::read(br#"{"record":"seal"}"#).unwrap().is_control());
        assert!(!Probe::read(br#"{"seq":4}"#).unwrap().is_control());
    }

    #[test]
    fn plain_values_are_borrowed_from_the_line() {
        let p = Probe::read(br#"{"actor":"alice","action":"a\"b"}"#).unwrap();
        assert!(matches!(p.actor, Some(Cow::Borrowed("alice"))));
        assert_eq!(p.action.as_deref(), Some("a\"b"));
    }

    proptest! {
        #[test]
        fn agrees_with_value_on_generated_records(
            fields in proptest::collection::vec(
                (
                    prop::sample::select(vec!["seq", "record", "ts", "actor", "action", "outcome", "correlation_id", "trace_id", "other"]),
                    prop_oneof![
                        any::<u64>().prop_map(|n| n.to_string()),
                        any::<i64>().prop_map(|n| n.to_string()),
                        "[a-z\\\\\"é\u{2028}]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                        Just("null".to_owned()),
                        Just("[1,{\"actor\":\"x\"}]".to_owned()),
                        Just("{\"seq\":1}".to_owned()),
                        Just("1.25".to_owned()),
                    ],
                ),
                0..10,
            )
        ) {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            agrees(&format!("{{{}}}", body.join(",")));
        }
    }
}
