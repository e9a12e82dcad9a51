//! A writer that maps the audit lines written to it: OCSF or ECS straight from the layer.

use super::Format;
use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;

/// Wraps a `MakeWriter` so that each audit record written through it arrives mapped to
/// `format`; other lines (chain control records, debug records) are left out.
///
/// Give it to [`audit_to`](crate::layer::AuditLayerBuilder::audit_to) to ship OCSF or ECS from the
/// process itself (to a socket, a pipe, a collector's stdin), next to or instead of the files.
///
/// ```
/// use tracing_audit::export::{Format, Mapped};
/// use tracing_audit::layer::AuditLayer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (layer, _guard) = AuditLayer::builder()
///     .audit_to(Mapped::new(Format::Ocsf, std::io::stdout))
///     .debug_to(std::io::sink)
///     .build::<tracing_subscriber::Registry>()?;
/// # drop(layer);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Mapped<M> {
    format: Format,
    inner: M,
}

impl<M> Mapped<M> {
    /// Maps what is written through `inner` to `format`.
    pub fn new(format: Format, inner: M) -> Self {
        Mapped { format, inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Mapped<M> {
    type Writer = MappedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MappedWriter {
            format: self.format,
            inner: self.inner.make_writer(),
            pending: Vec::new(),
        }
    }
}

/// The writer of [`Mapped`]: keeps a line until its newline arrives, then writes its mapping.
#[derive(Debug)]
pub struct MappedWriter<W: Write> {
    format: Format,
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> MappedWriter<W> {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let Ok(text) = std::str::from_utf8(line) else {
            return Ok(());
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return Ok(());
        }
        if let Ok(Some(mapped)) = self.format.map_line(text) {
            let mut out = serde_json::to_vec(&mapped).map_err(io::Error::other)?;
            out.push(b'\n');
            self.inner.write_all(&out)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for MappedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            if self.pending.is_empty() {
                self.write_line(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.write_line(&whole)?;
            }
            rest = tail;
        }
        self.pending.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for MappedWriter<W> {
    fn drop(&mut self) {
        // Sinks write whole lines; a tail without its newline is still one record.
        if !self.pending.is_empty() {
            let tail = std::mem::take(&mut self.pending);
            let _ = self.write_line(&tail);
            let _ = self.inner.flush();
        }
    }
}
