//! A sink whose target is `/dev/full` (every write fails with ENOSPC): no panic, every failure
//! counted, the error kept, `sync()` fails closed, and nothing counted as written.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use tracing_audit::sink::testing;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

struct SharedFile(Arc<File>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

fn dev_full() -> BoxMakeWriter {
    let file = Arc::new(OpenOptions::new().write(true).open("/dev/full").unwrap());
    BoxMakeWriter::new(move || SharedFile(Arc::clone(&file)))
}

#[test]
fn audit_sink_on_dev_full_fails_closed_and_counts_everything() {
    let (handle, guard) = testing::spawn_writer(
        Stream::Audit,
        dev_full(),
        1 << 20,
        Duration::from_millis(300),
    )
    .unwrap();
    for i in 0..5 {
        testing::submit(&handle, format!("{{\"i\":{i}}}").as_bytes());
    }
    let err = handle
        .sync()
        .expect_err("nothing can be written to /dev/full");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(err.kind(), tracing_audit::sink::SinkErrorKind::Io);
    // A second sync while the records are still pending fails the same way.
    assert_eq!(
        handle.sync().unwrap_err().raw_os_error(),
        Some(libc::ENOSPC)
    );

    let health = handle.health();
    assert!(health.failing);
    assert_eq!(health.written, 0);
    let last = health.last_error.expect("the error is kept");
    assert!(last.contains("No space left on device"), "{last}");

    drop(guard);
    let health = handle.health();
    assert_eq!(health.written, 0, "written must not be inflated");
    assert_eq!(
        health.failed, 5,
        "unwritten audit records are counted at shutdown"
    );
    assert!(health.retried >= 1);
    assert!(
        handle.sync().is_err(),
        "still failing closed after shutdown"
    );
}

#[test]
fn debug_sink_on_dev_full_gives_up_and_counts_failed() {
    let (handle, guard) =
        testing::spawn_writer(Stream::Debug, dev_full(), 1 << 20, Duration::from_secs(10)).unwrap();
    for i in 0..5 {
        testing::submit(&handle, format!("{{\"i\":{i}}}").as_bytes());
    }
    assert!(handle.sync().is_err());
    drop(guard);
    let health = handle.health();
    assert_eq!(health.written, 0);
    assert_eq!(health.failed, 5);
    assert!(health.retried >= 1);
    assert!(health.last_error.is_some());
}
