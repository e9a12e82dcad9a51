//! Values that misbehave while they are formatted: one that never stops writing, one that
//! panics. No value can make the layer hold more than its cap, and a panicking value costs its
//! own text, never the record.

mod support;

use std::fmt;
use support::Harness;
use tracing::{info, info_span};
use tracing_audit::Stream;

/// Writes `total` bytes in 64 KiB pieces, ignoring the formatter's errors, like a `Debug` of a
/// huge collection written by hand would.
struct Endless {
    total: usize,
}

impl fmt::Debug for Endless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let piece = "a".repeat(64 << 10);
        let mut written = 0;
        while written < self.total {
            let _ = f.write_str(&piece);
            written += piece.len();
        }
        Ok(())
    }
}

/// Writes a prefix, then panics.
struct Panicking;

impl fmt::Display for Panicking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("half written")?;
        panic!("a Display that panics");
    }
}

/// The largest resident set of this process so far, in bytes.
fn peak_rss() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    u64::try_from(usage.ru_maxrss).unwrap() * 1024
}

#[test]
fn a_value_that_keeps_writing_is_cut_while_it_writes_not_after() {
    const GIB: usize = 1 << 30;
    let mut h = Harness::new(|b| b.max_value_len(1024));
    h.run(|| {
        let _s = info_span!("request", body = ?Endless { total: GIB }).entered();
        info!(
            target: "audit",
            actor = "alice",
            action = "upload",
            outcome = "success",
            payload = ?Endless { total: GIB },
        );
        tracing::debug!(payload = ?Endless { total: GIB }, "debug too");
    });
    // A GiB offered three times: had it been buffered before the cap, this process would
    // have held at least one whole.
    let peak = peak_rss();
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
    let audit = h.audit_records();
    assert_eq!(audit.len(), 1);
    for value in [
        &audit[0]["fields"]["payload"],
        &audit[0]["spans"][0]["fields"]["body"],
    ] {
        let text = value.as_str().unwrap();
        assert!(text.starts_with(&"a".repeat(1024)), "{}", &text[..40]);
        assert!(text.ends_with(" bytes]"), "{text:.80}…");
        assert!(text.contains("…[truncated "), "{}", &text[1000..]);
        assert!(text.len() < 1100, "{} bytes", text.len());
    }
    let debug = h.debug_records();
    assert_eq!(debug.len(), 1);
    assert!(debug[0]["fields"]["payload"]
        .as_str()
        .unwrap()
        .contains("…[truncated "));
}

#[test]
fn a_value_that_panics_while_formatting_leaves_a_marker_and_a_count() {
    let mut h = Harness::new(|b| b);
    // The panic hook would print each panic on this test's stderr; the counter is the check.
    h.run(|| {
        let _s = info_span!("request", who = %Panicking).entered();
        info!(
            target: "audit",
            actor = "alice",
            action = "read",
            outcome = "success",
            resource = %Panicking,
            "{}",
            "message kept"
        );
    });
    let health = h.handle.health(Stream::Audit);
    assert_eq!(health.formatting_panics, 2, "{health:?}");
    let audit = h.audit_records();
    assert_eq!(audit.len(), 1, "the event is written");
    assert_eq!(audit[0]["message"], "message kept");
    assert_eq!(
        audit[0]["resource"], "half written[formatting panicked]",
        "{:#}",
        audit[0]
    );
    assert_eq!(
        audit[0]["spans"][0]["fields"]["who"],
        "half written[formatting panicked]"
    );
    assert_eq!(h.handle.health(Stream::Audit).written, 1);
}

#[test]
fn a_record_with_ten_thousand_fields_or_spans_fits_the_cap_and_stays_valid() {
    let h = Harness::new(|b| b);
    let dispatch = h.dispatch();
    // Ten thousand nested spans need more stack than a test thread has (the registry closes
    // them recursively), whatever this crate does.
    let deep = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                // Ten thousand nested spans, then an event with a few large fields.
                let mut guards = Vec::new();
                for i in 0..10_000 {
                    guards.push(info_span!("nested", depth = i).entered());
                }
                let big = "v".repeat(8 << 10);
                info!(
                    target: "audit",
                    actor = "alice",
                    action = "read",
                    outcome = "success",
                    f1 = %big,
                    f2 = %big,
                    f3 = %big,
                    f4 = %big,
                    f5 = %big,
                    f6 = %big,
                    f7 = %big,
                    f8 = %big,
                    "deep"
                );
                drop(guards);
            });
        });
    deep.unwrap().join().unwrap();
    let health = h.handle.health(Stream::Audit);
    assert_eq!(health.records_cut, 1, "{health:?}");
    let text = h.audit.text();
    let line = text
        .lines()
        .find(|l| l.contains("\"deep\""))
        .expect("the record is written");
    assert!(line.len() <= 60 << 10, "{} bytes", line.len());
    let record: serde_json::Value = serde_json::from_str(line).expect("one valid JSON line");
    assert_eq!(record["actor"], "alice");
    let spans = record["spans"].as_array().unwrap();
    assert!(!spans.is_empty() && spans.len() < 10_000);
    assert_eq!(spans[0]["fields"]["depth"], 0, "the root span stays");
    let cut = &record["cut"];
    assert_eq!(
        cut["spans"].as_u64().unwrap() as usize,
        10_000 - spans.len(),
        "{cut}"
    );
}
