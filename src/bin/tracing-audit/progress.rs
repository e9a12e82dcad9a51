//! Progress on stderr for long runs, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shows `label: n/N files, X MB` on one rewritten stderr line once a run takes long enough.
pub(super) struct Progress {
    label: &'static str,
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub(super) fn new(label: &'static str) -> Self {
        Progress {
            label,
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            shown: false,
        }
    }

    pub(super) fn update(&mut self, files_done: usize, files_total: usize, bytes: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_millis(300) {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        let mb = bytes as f64 / 1_048_576.0;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{}: {files_done}/{files_total} files, {mb:.1} MB\x1b[K",
            self.label
        );
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
