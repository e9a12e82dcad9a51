//! Many threads flooding both streams: AUDIT loses nothing; for DEBUG, the lines written plus
//! the counted drops equal the events emitted, and the drops are reported in the stream.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_audit::sink::testing;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const THREADS: usize = 4;
const AUDIT_PER_THREAD: usize = 25_000;

#[test]
fn flood_loses_no_audit_record_and_accounts_for_every_debug_record() {
    let audit_out = Capture::default();
    let debug_out = Capture::default();
    let (audit, audit_guard) = {
        let c = audit_out.clone();
        testing::spawn_writer(
            Stream::Audit,
            BoxMakeWriter::new(move || c.clone()),
            16 << 10,
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let (debug, debug_guard) = {
        let c = debug_out.clone();
        // A tiny queue forces drops.
        testing::spawn_writer(
            Stream::Debug,
            BoxMakeWriter::new(move || c.clone()),
            512,
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (audit, debug) = (audit.clone(), debug.clone());
            std::thread::spawn(move || {
                for i in 0..AUDIT_PER_THREAD {
                    let rec = format!("{{\"t\":{t},\"i\":{i},\"user\":\"alice\"}}");
                    testing::submit(&audit, rec.as_bytes());
                    if i % 2 == 0 {
                        testing::submit(&debug, rec.as_bytes());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(audit_guard);
    drop(debug_guard);

    let audit_text = String::from_utf8(audit_out.0.lock().unwrap().clone()).unwrap();
    let audit_lines = audit_text.lines().count();
    assert_eq!(audit_lines, THREADS * AUDIT_PER_THREAD);
    let ah = audit.health();
    assert_eq!(ah.written as usize, audit_lines);
    assert_eq!((ah.dropped, ah.failed), (0, 0));
    // Per thread, audit records keep their emission order.
    let mut next = [0u64; THREADS];
    for line in audit_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["t"].as_u64().unwrap() as usize;
        assert_eq!(v["i"].as_u64().unwrap(), next[t]);
        next[t] += 1;
    }

    let debug_text = String::from_utf8(debug_out.0.lock().unwrap().clone()).unwrap();
    let mut records = 0u64;
    let mut reported = 0u64;
    for line in debug_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["target"] == "tracing_audit::sink" {
            reported += v["fields"]["dropped"].as_u64().unwrap();
        } else {
            records += 1;
        }
    }
    let dh = debug.health();
    let emitted = (THREADS * AUDIT_PER_THREAD / 2) as u64;
    assert!(dh.dropped > 0, "the tiny queue must have dropped something");
    assert_eq!(records + dh.dropped, emitted);
    assert_eq!(reported, dh.dropped, "every drop is reported in the stream");
    assert_eq!(dh.written, records);
}
