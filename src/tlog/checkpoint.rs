//! C2SP checkpoints (c2sp.org/tlog-checkpoint): the body of a signed note naming a log's
//! origin, its tree size and its root hash.

use super::merkle::Hash;
use super::note::decode_canonical;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;

/// Why a checkpoint body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError(&'static str);

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CheckpointError {}

/// A tree head: origin, size and root hash, plus opaque extension lines.
///
/// ```
/// use tracing_audit::tlog::checkpoint::Checkpoint;
/// let c = Checkpoint { origin: "host/audit".into(), size: 2, root: [0; 32], extensions: vec![] };
/// assert_eq!(Checkpoint::parse_body(&c.body()).unwrap(), c);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (no spaces, no `+`, by this crate's choice).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash of those leaves.
    pub root: Hash,
    /// Extension lines (non-empty, opaque); this crate writes none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Parses a checkpoint body (the text of a note, with its final newline).
    ///
    /// # Errors
    /// Fewer than three lines, an empty origin, a size with leading zeroes or not decimal, a
    /// root that is not the canonical base64 of 32 bytes, or an empty extension line.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let text = body
            .strip_suffix('\n')
            .ok_or(CheckpointError("checkpoint does not end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(CheckpointError("checkpoint origin is empty"));
        }
        let size = parse_size(lines.next().unwrap_or_default())?;
        let root = lines
            .next()
            .and_then(decode_canonical)
            .and_then(|raw| <Hash>::try_from(raw.as_slice()).ok())
            .ok_or(CheckpointError(
                "checkpoint root is not a base64 SHA-256 hash",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError("checkpoint has an empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The body text: origin, size and base64 root, each on its own line, then extensions.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    const BAD: CheckpointError = CheckpointError("checkpoint size is not a decimal number");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(BAD);
    }
    s.parse().map_err(|_| BAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_parses_and_renders_back() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse_body(body).unwrap();
        assert_eq!(c.size, 20852163);
        assert_eq!(c.body(), body);
        for bad in [
            "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
            "o\n1\n",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }
}
