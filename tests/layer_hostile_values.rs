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
