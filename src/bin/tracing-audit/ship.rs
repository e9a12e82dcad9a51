//! `tracing-audit ship --dir DIR --to relp://host:port`: the sidecar shipper.

use super::CliError;
use clap::Args;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_audit::ship::{Destination, Health, ShipError, Shipper, Tls};
use tracing_audit::tlog::submit::{Submitter, WitnessEndpoint};
use tracing_audit::trail::Trail;
use tracing_audit::Stream;

/// Exit code of `ship --until-idle` when records were refused (oversize) or skipped (deleted
/// before they were shipped): everything else was acknowledged.
const EXIT_INCOMPLETE: u8 = 4;

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
    /// Also send each checkpoint the writer publishes (`<prefix>.tlog-checkpoint`) to this C2SP
    /// witness, `http://HOST:PORT=VKEY` (may be repeated); cosignatures go to
    /// `<prefix>.cosigned`, alarms to stderr. Writers given `FileSink::witness` do this
    /// themselves (and record alarms in the trail).
    #[arg(long, value_name = "URL=VKEY")]
    witness: Vec<String>,
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
                .max_message_size(args.max_message_size);
            if let Some(t) = &tls {
                s = s.tls(t.clone());
            }
            if let Some(c) = &args.state {
                s = s.cursor(c);
            }
            (p, s)
        })
        .collect();

    if args.until_idle {
        let results: Vec<(String, Option<Result<Health, ShipError>>)> =
            std::thread::scope(|scope| {
                let running: Vec<_> = shippers
                    .into_iter()
                    .map(|(p, s)| (p, scope.spawn(move || s.run_until_idle())))
                    .collect();
                running
                    .into_iter()
                    .map(|(p, t)| (p, t.join().ok()))
                    .collect()
            });
        stop_witnesses(witnesses, Duration::from_secs(10));
        let mut code = 0;
        for (p, r) in results {
            let h =
                r.ok_or_else(|| CliError(format!("the {p} shipper stopped unexpectedly")))??;
            report(&p, &h);
            if h.refused_oversize > 0 || h.skipped > 0 {
                code = EXIT_INCOMPLETE;
            }
        }
        return Ok(code);
    }

    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    let mut handles = Vec::new();
    for (p, s) in shippers {
        handles.push((p, s.spawn()?));
    }
    while !STOP.load(Ordering::SeqCst) && !handles.iter().all(|(_, h)| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for (p, h) in handles {
        report(&p, &h.shutdown(Duration::from_secs(5)));
    }
    stop_witnesses(witnesses, Duration::from_secs(5));
    Ok(0)
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
        format_args!(
            "tracing-audit ship: {}\n",
            tracing_audit::trail::Visible::str(&line)
        ),
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
