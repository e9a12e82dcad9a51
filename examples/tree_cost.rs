//! What the Merkle tree costs the audit writer per record, without the rest of the flood:
//! the leaf hash of each line, the frontier, and the tile hashes, next to the unkeyed chain's
//! own SHA-256 of the same line.
//!
//! ```text
//! cargo run --release --example tree_cost --features tlog -- FILE [N]
//! ```
//!
//! FILE is an audit trail file (its first 100,000 lines are cycled through); N records
//! (default 1,000,000).

use sha2::{Digest, Sha256};
use std::time::Instant;
use tracing_audit::tlog::merkle::{leaf_hash, Frontier};
use tracing_audit::tlog::tiles::TileWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: tree_cost FILE [N]")?;
    let n: usize = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let text = std::fs::read(&file)?;
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(100_000)
        .collect();
    let avg = lines.iter().map(|l| l.len()).sum::<usize>() / lines.len().max(1);
    println!(
        "{} distinct lines, {avg} bytes on average, {n} records",
        lines.len()
    );

    let t = Instant::now();
    let mut prev = [0u8; 32];
    for i in 0..n {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(lines[i % lines.len()]);
        prev = h.finalize().into();
    }
    report("chain SHA-256 (prev || line), for comparison", t, n, &prev);

    let t = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..n {
        acc = leaf_hash(lines[i % lines.len()]);
    }
    report("leaf hash", t, n, &acc);

    let t = Instant::now();
    let mut f = Frontier::new();
    for i in 0..n {
        f.push(leaf_hash(lines[i % lines.len()]));
    }
    report("leaf hash + frontier", t, n, &f.root());

    let dir = tempfile::tempdir()?;
    let mut w = TileWriter::open(dir.path())?;
    let t = Instant::now();
    let mut f = Frontier::new();
    for i in 0..n {
        f.push_at(i as u64, leaf_hash(lines[i % lines.len()]), |l, _, h| {
            w.completed(l, h)
        });
        if i % 1000 == 999 {
            w.flush()?;
        }
    }
    w.flush()?;
    report(
        "leaf hash + frontier + tiles (flushed every 1000)",
        t,
        n,
        &f.root(),
    );
    Ok(())
}

fn report(what: &str, t: Instant, n: usize, keep: &[u8; 32]) {
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("{what}: {ns:.0} ns/record ({:02x})", keep[0]);
}
