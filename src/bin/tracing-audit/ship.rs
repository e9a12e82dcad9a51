//! `tracing-audit ship --dir DIR --to relp://host:port`: the sidecar shipper.

use super::CliError;
use clap::Args;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_audit::ship::{Destination, Health, ShipErrorKind, Shipper, Tls};
use tracing_audit::tlog::submit::{Submitter, WitnessEndpoint};
use tracing_audit::trail::{Trail, Visible};
use tracing_audit::Stream;

/// Exit code of `ship --until-idle` when records were refused (oversize) or skipped (deleted
/// before they were shipped): everything else was acknowledged.
const EXIT_INCOMPLETE: u8 = 4;
/// Exit code when the cursor does not match the trail: nothing was shipped, the cursor is left
/// as it was.
const EXIT_CURSOR: u8 = 5;
/// Exit code of `ship --until-idle` stopped by SIGTERM or SIGINT before everything was
/// acknowledged (the cursor is saved at the last acknowledged record).
const EXIT_STOPPED: u8 = 6;

#[derive(Args, Debug)]
pub(super) struct ShipArgs {
    /// The directory the file sinks write to.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The receiver: relp://HOST:PORT, syslog+tcp://HOST:PORT or syslog+tls://HOST:PORT.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Verify the receiver's certificate against the CA certificates in this PEM file
    /// (required for syslog+tls://; turns TLS on for relp://).
    #[arg(long, value_name = "F")]
    tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for receivers that ask for one.
    #[arg(long, value_name = "F", requires_all = ["client_key", "tls_ca"])]
    client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "F", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// The cursor file (default: DIR/ship.cursor).
    #[arg(long, value_name = "F")]
    state: Option<PathBuf>,
    /// Exit 0 once everything in DIR has been acknowledged (for batch jobs).
    #[arg(long)]
    until_idle: bool,
    /// Ship only these file name prefixes (default: every trail in DIR, or audit and debug).
    #[arg(long, value_name = "P")]
    prefix: Vec<String>,
    /// The largest message the receiver accepts (rsyslog's maxMessageSize); larger records are
    /// refused and reported, never truncated.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    max_message_size: usize,
    /// Seconds to resolve the receiver and connect to it (also the longest one write blocks).
    #[arg(long, value_name = "S", default_value = "5", value_parser = seconds)]
    connect_timeout: Duration,
    /// Seconds for the whole TLS handshake, however slowly the server sends.
    #[arg(long, value_name = "S", default_value = "10", value_parser = seconds)]
    tls_handshake_timeout: Duration,
    /// Seconds for the receiver to answer RELP open.
    #[arg(long, value_name = "S", default_value = "10", value_parser = seconds)]
    open_timeout: Duration,
    /// Seconds without an acknowledgement, while messages are in flight, before the session
    /// is dropped and they are sent again on a new one.
    #[arg(long, value_name = "S", default_value = "30", value_parser = seconds)]
    ack_timeout: Duration,
    /// Seconds SIGTERM or SIGINT wait for the acknowledgements of what is in flight (nothing
    /// more is sent) before the cursor is saved and the process exits.
    #[arg(long, value_name = "S", default_value = "5", value_parser = seconds)]
    drain: Duration,
    /// Start at the record with this sequence number on purpose, ignoring the saved cursor
    /// (needs exactly one --prefix, an audit trail). The receiver gets a ship_start marker
    /// first, so `verify --received` reports a deliberate start, not a cut head.
    #[arg(long, value_name = "SEQ", requires = "prefix")]
    start_at_seq: Option<u64>,
    /// Also send each checkpoint the writer publishes (`<prefix>.tlog-checkpoint`) to this C2SP
    /// witness, `http://HOST:PORT=VKEY` (may be repeated); cosignatures go to
    /// `<prefix>.cosigned`, alarms to stderr. Writers given `FileSink::witness` do this
    /// themselves (and record alarms in the trail).
    #[arg(long, value_name = "URL=VKEY")]
    witness: Vec<String>,
}

/// A number of seconds (fractions allowed), at most a day.
fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{s} seconds is out of range (0 to 86400)"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// One submission thread per audit trail that publishes checkpoints, for `--witness`.
fn start_witnesses(
    args: &ShipArgs,
    prefixes: &[String],
) -> Result<Vec<(String, Submitter)>, CliError> {
    if args.witness.is_empty() {
        return Ok(Vec::new());
    }
    let endpoints = args
        .witness
        .iter()
        .map(|w| WitnessEndpoint::parse(w).map_err(CliError))
        .collect::<Result<Vec<_>, _>>()?;
    let mut started = Vec::new();
    for p in prefixes {
        if stream_of(args, p) != Stream::Audit {
            continue;
        }
        let prefix = p.clone();
        let hook = Box::new(move |why: &str| {
            super::output::warn(format!("{prefix}: witness alarm: {why}"));
        });
        let submitter = Submitter::watch(&args.dir, p, endpoints.clone(), hook)?;
        started.push((p.clone(), submitter));
    }
    Ok(started)
}

/// Gives the witnesses `drain` to settle the newest checkpoint, then reports their counters.
fn stop_witnesses(witnesses: Vec<(String, Submitter)>, drain: Duration) {
    for (p, s) in witnesses {
        let settled = s.settle_published(drain);
        let h = s.health();
        let line = format!(
            "{p}: witnesses: {} cosigned, {} pending, {} refused, {} alarms{}",
            h.cosigned,
            h.pending,
            h.refused,
            h.alarms,
            if settled { "" } else { " (not settled)" }
        );
        super::output::warn(format!("ship: {line}"));
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub(super) fn run(args: ShipArgs) -> Result<u8, CliError> {
    let to: Destination = args.to.parse()?;
    let tls = args.tls_ca.as_ref().map(|ca| {
        let tls = Tls::ca_file(ca);
        match (&args.client_cert, &args.client_key) {
            (Some(c), Some(k)) => tls.client_cert(c, k),
            _ => tls,
        }
    });
    if args.start_at_seq.is_some() && args.prefix.len() != 1 {
        return Err(CliError(
            "--start-at-seq applies to one trail: give exactly one --prefix".to_owned(),
        ));
    }
    let prefixes = if args.prefix.is_empty() {
        found_prefixes(&args)
    } else {
        args.prefix.clone()
    };
    let witnesses = start_witnesses(&args, &prefixes)?;
    let shippers: Vec<(String, Shipper)> = prefixes
        .into_iter()
        .map(|p| {
            let mut s = Shipper::new(&args.dir, to.clone())
                .stream(stream_of(&args, &p))
                .prefix(&p)
                .max_message_size(args.max_message_size)
                .connect_timeout(args.connect_timeout)
                .tls_handshake_timeout(args.tls_handshake_timeout)
                .open_timeout(args.open_timeout)
                .ack_timeout(args.ack_timeout);
            if let Some(seq) = args.start_at_seq {
                s = s.start_at_seq(seq);
            }
            if let Some(t) = &tls {
                s = s.tls(t.clone());
            }
            if let Some(c) = &args.state {
                s = s.cursor(c);
            }
            (p, s)
        })
        .collect();

    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    let mut handles = Vec::new();
    for (p, s) in shippers {
        let started = if args.until_idle {
            s.spawn_until_idle()
        } else {
            s.spawn()
        };
        match started {
            Ok(h) => handles.push((p, h)),
            Err(e) => {
                // The others stop at once (nothing more sent), their cursors saved.
                for (p, h) in handles {
                    report(&p, &h.stop(args.drain));
                }
                let code = if e.kind() == ShipErrorKind::Cursor {
                    EXIT_CURSOR
                } else {
                    super::EXIT_ERROR
                };
                let _ = std::io::Write::write_fmt(
                    &mut std::io::stderr().lock(),
                    format_args!("tracing-audit ship: {p}: {}\n", Visible::str(&chain(&e))),
                );
                return Ok(code);
            }
        }
    }
    if let Some(seq) = args.start_at_seq {
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr().lock(),
            format_args!("tracing-audit ship: starting at seq {seq} on purpose; the receiver is told so first (ship_start)\n"),
        );
    }
    while !STOP.load(Ordering::SeqCst) && !handles.iter().all(|(_, h)| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped = STOP.load(Ordering::SeqCst);
    let mut code = 0;
    for (p, h) in handles {
        let idle = h.is_finished();
        let health = h.stop(args.drain);
        report(&p, &health);
        if args.until_idle && (health.refused_oversize > 0 || health.skipped > 0) {
            code = EXIT_INCOMPLETE;
        }
        if args.until_idle && stopped && !idle {
            code = EXIT_STOPPED;
        }
    }
    stop_witnesses(witnesses, args.drain);
    Ok(code)
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// One line on stderr per trail shipped; the prefix and the last error may come from file
/// names in the directory, so the line is escaped like every other view.
fn report(prefix: &str, h: &Health) {
    let line = format!(
        "{prefix}: {} acknowledged, {} shipped, {} resent, {} refused (oversize), {} skipped, lag {} records / {} bytes{}",
        h.acknowledged,
        h.shipped,
        h.resent,
        h.refused_oversize,
        h.skipped,
        h.lag_records,
        h.lag_bytes,
        h.last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    );
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr().lock(),
        format_args!("tracing-audit ship: {}\n", Visible::str(&line)),
    );
}

/// Every trail in the directory; the sink's default prefixes when it is still empty.
fn found_prefixes(args: &ShipArgs) -> Vec<String> {
    let found = Trail::prefixes_in(&args.dir).unwrap_or_default();
    if found.is_empty() {
        vec!["audit".to_owned(), "debug".to_owned()]
    } else {
        found
    }
}

/// Audit when the trail's first record is chained (`{"seq":`), else debug; by name when empty.
fn stream_of(args: &ShipArgs, prefix: &str) -> Stream {
    let mut first = None;
    if let Ok(t) = Trail::open(&args.dir, Some(prefix)) {
        let _ = t.for_each_line(|_, line| {
            first = Some(line.starts_with(b"{\"seq\":"));
            ControlFlow::Break(())
        });
    }
    match first {
        Some(true) => Stream::Audit,
        Some(false) => Stream::Debug,
        None if prefix == "debug" => Stream::Debug,
        None => Stream::Audit,
    }
}
