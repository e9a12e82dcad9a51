//! A small simulated service writing an audit trail and a debug log.
//!
//! ```text
//! cargo run --example quickstart            # writes ./logs/audit/ and ./logs/debug/
//! cargo run --example quickstart -- DIR     # writes DIR/audit/ and DIR/debug/
//! ```
//!
//! The service logs a failed and a successful login, reads and denies data access, and serves
//! one odd request: a support role reading payroll at 03:12 from an unknown address, allowed
//! because a session was misconfigured. The debug stream shows why; `tracing-audit correlate`
//! joins the two.
//!
//! The trail is signed by default: the first start creates DIR/keys/ (the forward-secure
//! signing state and the log key, 0600; `audit.pk0` and `audit.logkey.pub`, to copy off the
//! host or register with a witness), then
//!
//! ```text
//! tracing-audit verify logs/audit --public-key logs/keys/audit.pk0 --log-key logs/keys/audit.logkey.pub
//! tracing-audit prove logs/audit --seq 3 -o seq3.tlog-proof
//! tracing-audit check-proof seq3.tlog-proof --log-key logs/keys/audit.logkey.pub
//! ```
//!
//! To use a signing state made elsewhere, name it: `AUDIT_SIGNING_STATE=audit.signing` (made by
//! `tracing-audit keygen --state audit.signing`).

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;
use tracing::{debug, info, instrument, warn};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::{Durability, FileSink, Retention, Rotation};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("logs"));

    // Audit: daily files kept at least a year, fsync per batch. Debug: hourly, 3 days, 512 MiB.
    let audit_files = FileSink::new(dir.join("audit"))
        .rotation(Rotation::Daily)
        .retention(Retention::keep_all().min_age(Duration::from_secs(366 * 24 * 3600)))
        .compress(true)
        .durability(Durability::EveryBatch);
    let debug_files = FileSink::new(dir.join("debug"))
        .rotation(Rotation::Hourly)
        .retention(
            Retention::keep_all()
                .max_age(Duration::from_secs(3 * 24 * 3600))
                .max_total_bytes(512 << 20),
        );

    // Signed by default (features `signed-seals` and `tlog`, both default): forward-secure epoch
    // seals and Merkle checkpoints, with keys created in DIR/keys on the first start.
    let mut chain = ChainConfig::new();
    #[cfg(feature = "tlog")]
    if std::env::var_os("AUDIT_SIGNING_STATE").is_none() {
        let keys =
            tracing_audit::chain::SignedDefaults::load_or_create(&dir.join("keys"), "audit")?;
        if keys.created() {
            for advice in keys.advice() {
                eprintln!("note: {advice}");
            }
        }
        chain = keys.chain();
    }
    // A chain key and a pseudonym key from the environment when set (see docs/verification.md).
    if std::env::var_os("AUDIT_CHAIN_KEY").is_some() {
        chain = chain.key(ChainKey::from_env("k1", "AUDIT_CHAIN_KEY")?);
    }
    // Signed epoch seals when a signing state made by `tracing-audit keygen` is named.
    if std::env::var_os("AUDIT_SIGNING_STATE").is_some() {
        #[cfg(feature = "signed-seals")]
        {
            let state = tracing_audit::chain::SigningState::from_env("AUDIT_SIGNING_STATE")?;
            chain = chain.signing(state);
        }
        #[cfg(not(feature = "signed-seals"))]
        return Err("AUDIT_SIGNING_STATE is set: build with --features signed-seals".into());
    }
    let mut builder = AuditLayer::builder()
        .audit_to_files(audit_files)
        .debug_to_files(debug_files)
        .debug_filter("info,quickstart=debug")
        .chain(chain);
    if std::env::var_os("AUDIT_HASH_KEY").is_some() {
        builder = builder.hash_key(tracing_audit::KeySource::env("AUDIT_HASH_KEY"));
    }
    let (layer, guard) = builder.build()?;
    let audit = guard.handle();
    tracing_subscriber::registry().with(layer).init();
    // Refuse to run if another filter hides audit events; say what the set-up does not promise.
    audit.check_filters()?;
    for note in audit.notes() {
        eprintln!("note: {note}");
    }

    login("req-1001", "alice", "wrong-password", "203.0.113.7");
    login(
        "req-1002",
        "alice",
        "correct horse battery staple",
        "203.0.113.7",
    );
    read_report("req-1003", "alice", "analyst", "/reports/q3", "203.0.113.7");
    read_report(
        "req-1004",
        "bob",
        "intern",
        "/payroll/2026-11",
        "198.51.100.23",
    );
    night_access("req-1005", "carol", "/payroll/2026-11", "192.0.2.250");

    // Fail closed: a service would refuse the request when the trail cannot be written.
    audit.sync()?;
    let health = audit.health(tracing_audit::Stream::Audit);
    drop(guard);

    println!("audit trail: {}", dir.join("audit").display());
    println!("debug log:   {}", dir.join("debug").display());
    println!("audit records written: {}", health.written);
    println!(
        "next: cargo run --features cli --bin tracing-audit -- verify {}",
        dir.join("audit").display()
    );
    #[cfg(feature = "tlog")]
    println!(
        "      add --public-key {} --log-key {} to check the seals and checkpoints",
        dir.join("keys/audit.pk0").display(),
        dir.join("keys/audit.logkey.pub").display()
    );
    Ok(())
}

#[instrument(fields(src_ip = %src_ip, user = %user))]
fn login(request_id: &str, user: &str, password: &str, src_ip: &str) {
    // The password field is masked by the default field-name rules; it never reaches a file.
    debug!(password, "checking credentials");
    let ok = password.starts_with("correct");
    if ok {
        info!(target: "audit", actor = user, action = "login", resource = "session", outcome = "success", session = "s-8f2a");
    } else {
        warn!(attempt = 1, "password mismatch");
        info!(target: "audit", actor = user, action = "login", resource = "session", outcome = "denied", reason = "bad_password");
    }
}

#[instrument(fields(src_ip = %src_ip, actor = %user))]
fn read_report(request_id: &str, user: &str, role: &str, path: &str, src_ip: &str) {
    debug!(role, path, "evaluating policy");
    if role == "intern" && path.starts_with("/payroll") {
        info!(target: "audit", action = "read", resource = path, outcome = "denied", reason = "role_not_allowed");
        return;
    }
    let rows = query_db(path);
    info!(target: "audit", action = "read", resource = path, outcome = "success", rows);
}

#[instrument]
fn query_db(path: &str) -> u64 {
    debug!(
        url = "postgres://app:s3cr3t-db-pass@db.internal:5432/reports",
        "outbound query"
    );
    42
}

#[instrument(fields(src_ip = %src_ip, actor = %user, local_time = "03:12"))]
fn night_access(request_id: &str, user: &str, path: &str, src_ip: &str) {
    // What the debug stream shows and the audit trail cannot: why the policy let this through.
    warn!(
        session_role = "support",
        session_source = "legacy-sso",
        "session role claims missing; falling back to the legacy SSO default role"
    );
    debug!(
        effective_role = "payroll-admin",
        "role mapping from legacy default"
    );
    let rows = query_db(path);
    info!(target: "audit", action = "read", resource = path, outcome = "success", rows);
}
