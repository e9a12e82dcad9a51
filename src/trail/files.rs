//! Finding the files of a trail (`<prefix>.<stamp>.<NNNN>.jsonl[.gz]`) and reading one.

use super::naming::{self, DataName, Form};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One file of a trail: sealed, compressed or still being written.
#[derive(Clone, Debug)]
pub struct TrailFile {
    pub(crate) path: PathBuf,
    /// The name on disk.
    pub(crate) name: String,
    /// The name it was written under (without `.gz`): what seals refer to.
    pub(crate) base: String,
    pub(crate) prefix: String,
    /// What the name says: when the file was started, its counter.
    data: DataName,
    pub(crate) gz: bool,
    pub(crate) len: u64,
}

/// What a directory holds for the trails in it.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Rotated files in time order.
    pub(crate) files: Vec<TrailFile>,
    /// Torn tails set aside by the sink (`<prefix>.torn-<nanos>.partial`).
    pub(crate) partials: Vec<PathBuf>,
    /// Plain files skipped because a `.gz` of the same name exists too (compression in progress).
    pub(crate) shadowed: Vec<String>,
}

/// Splits `<prefix>.<stamp>.<NNNN>.jsonl[.gz]` (an interrupted compression's `.gz.tmp` is no
/// trail file).
fn parse_name(name: &str) -> Option<(String, DataName)> {
    let (prefix, data) = naming::parse_any(name)?;
    (data.form != Form::GzTmp).then(|| (prefix.to_owned(), data))
}

/// Lists the trail files in `dir`, keeping only `prefix` when given.
pub(crate) fn list(dir: &Path, prefix: Option<&str>) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // The `<prefix>.current.jsonl` link and anything else that is not a regular file.
        let meta = match fs::symlink_metadata(entry.path()) {
            Ok(m) if m.file_type().is_file() => m,
            _ => continue,
        };
        if name.ends_with(".partial") {
            if prefix.is_none_or(|p| name.starts_with(&format!("{p}."))) {
                listing.partials.push(entry.path());
            }
            continue;
        }
        let Some((p, data)) = parse_name(&name) else {
            continue;
        };
        let gz = data.form == Form::Gz;
        if prefix.is_some_and(|want| want != p) {
            continue;
        }
        let base = if gz {
            name.trim_end_matches(".gz").to_owned()
        } else {
            name.clone()
        };
        listing.files.push(TrailFile {
            path: entry.path(),
            name,
            base,
            prefix: p,
            data,
            gz,
            len: meta.len(),
        });
    }
    listing.files.sort_by(|a, b| {
        a.prefix
            .cmp(&b.prefix)
            .then_with(|| a.data.cmp_age(&b.data))
            .then(a.gz.cmp(&b.gz))
    });
    // While a closed file is being compressed both forms exist; the plain one is complete.
    let mut kept: Vec<TrailFile> = Vec::with_capacity(listing.files.len());
    for f in listing.files {
        if let Some(last) = kept.last() {
            if last.base == f.base && last.prefix == f.prefix {
                listing.shadowed.push(f.name);
                continue;
            }
        }
        kept.push(f);
    }
    listing.files = kept;
    listing.partials.sort();
    Ok(listing)
}

/// The prefixes present in a listing, in order.
pub(crate) fn prefixes(listing: &Listing) -> Vec<String> {
    let mut out: Vec<String> = listing.files.iter().map(|f| f.prefix.clone()).collect();
    out.dedup();
    out
}

impl TrailFile {
    /// A file the operator named that holds one stream of records under any name (a copy a
    /// central receiver wrote): read whole, in order, like a trail file (`.gz` when its name
    /// says so). A symlink the operator named (`/var/log/central/current`) is resolved here,
    /// once: trail files are opened without following links, and this one is not in a trail.
    pub(crate) fn named(path: &Path) -> TrailFile {
        let resolved = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let path = resolved.as_path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let len = fs::metadata(path).map_or(0, |m| m.len());
        let gz = cfg!(feature = "gzip") && name.ends_with(".gz");
        TrailFile {
            path: path.to_path_buf(),
            base: name.strip_suffix(".gz").unwrap_or(&name).to_owned(),
            gz,
            name,
            prefix: String::new(),
            // Not a trail file's name: it is never ordered among others.
            data: DataName {
                stamp: String::new(),
                start: 0,
                counter: 0,
                form: if gz { Form::Gz } else { Form::Plain },
            },
            len,
        }
    }

    /// The file at `path`, which a writer knows to be one of its own (`None` when its name is
    /// not a trail file's).
    pub(crate) fn at(path: &Path) -> Option<TrailFile> {
        let name = path.file_name()?.to_str()?.to_owned();
        let (prefix, data) = parse_name(&name)?;
        let len = fs::symlink_metadata(path).map_or(0, |m| m.len());
        Some(TrailFile {
            path: path.to_path_buf(),
            base: name.strip_suffix(".gz").unwrap_or(&name).to_owned(),
            gz: data.form == Form::Gz,
            name,
            prefix,
            data,
            len,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name on disk (`audit.2026-11-26.0003.jsonl.gz`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name it was written under, without `.gz`: the name seals refer to.
    pub fn written_as(&self) -> &str {
        &self.base
    }

    /// The trail's file name prefix (`audit`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the file is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.gz
    }

    /// Its size on disk when it was listed, in bytes.
    pub fn len_on_disk(&self) -> u64 {
        self.len
    }

    /// The file's records as bytes, decompressed. The last line may be incomplete when the
    /// file is still being written. Holds the whole file in memory: for trails of any size use
    /// [`LineReader`](super::LineReader).
    ///
    /// # Errors
    /// The file cannot be read (pruned since it was listed, not a regular file, ...), is not
    /// valid gzip, inflates more than 200 times its compressed size (a gzip bomb), or holds
    /// more than 1 GiB of records.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        read(self)
    }
}

/// The most [`TrailFile::read`] holds: a larger file is read by [`LineReader`](super::LineReader)
/// in bounded memory, or not at all.
pub(crate) const WHOLE_FILE_MAX: u64 = 1 << 30;

/// Reads a trail file whole, inflating `.gz` files, up to [`WHOLE_FILE_MAX`] bytes.
pub(crate) fn read(file: &TrailFile) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let reader: Box<dyn Read> = if file.gz {
        Box::new(super::open::Inflate::open(&file.path)?)
    } else {
        Box::new(super::open::open_in_trail(&file.path)?)
    };
    reader.take(WHOLE_FILE_MAX + 1).read_to_end(&mut out)?;
    if out.len() as u64 > WHOLE_FILE_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("holds more than {WHOLE_FILE_MAX} bytes of records: read it with a LineReader"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_and_ordered_by_stamp_then_counter() {
        let (p, n) = parse_name("audit.2026-11-26.0003.jsonl").unwrap();
        assert_eq!(
            (p.as_str(), n.stamp.as_str(), n.counter),
            ("audit", "2026-11-26", 3)
        );
        let (p, n) = parse_name("my.app.2026-11-26T05-10.12345.jsonl.gz").unwrap();
        assert_eq!((p.as_str(), n.counter, n.form), ("my.app", 12345, Form::Gz));
        for bad in [
            "audit.current.jsonl",
            "audit.checkpoint",
            "audit.2026-11-26.12.jsonl",
            "audit.torn-123.partial",
            ".2026-11-26.0001.jsonl",
            "audit.2026-11-26T5.0001.jsonl",
            "audit.2026-11-26.0001.jsonl.gz.tmp",
        ] {
            assert!(parse_name(bad).is_none(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "audit.2026-11-26.10000.jsonl",
            "audit.2026-11-26.9999.jsonl",
            "audit.2026-11-25.0000.jsonl.gz",
            "audit.2026-11-26.0001.jsonl",
            "audit.2026-11-26.0001.jsonl.gz",
        ] {
            fs::write(dir.path().join(n), b"").unwrap();
        }
        let l = list(dir.path(), None).unwrap();
        let names: Vec<_> = l.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "audit.2026-11-25.0000.jsonl.gz",
                "audit.2026-11-26.0001.jsonl",
                "audit.2026-11-26.9999.jsonl",
                "audit.2026-11-26.10000.jsonl"
            ]
        );
        assert_eq!(l.shadowed, ["audit.2026-11-26.0001.jsonl.gz"]);
    }
}
