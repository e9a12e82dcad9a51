//! `tracing-audit timeline --audit DIR [--debug DIR] (ID | --actor A [--since T] [--until T]) --html OUT`.

use super::correlate::{collect, resolve_id};
use super::output::warn;
use super::records::{open_trail, parse_time, warn_search};
use super::{CliError, EXIT_NOTHING, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use tracing_audit::investigate::{Query, Timeline};
use tracing_audit::trail::{Trail, Visible};
use tracing_audit::Stream;

#[derive(Args, Debug)]
pub(super) struct TimelineArgs {
    /// The audit trail directory.
    #[arg(long, value_name = "DIR")]
    audit: PathBuf,
    /// The debug log directory.
    #[arg(long, value_name = "DIR")]
    debug: Option<PathBuf>,
    /// One request: a correlation id, a trace id, or an audit record's `seq:N`.
    #[arg(required_unless_present = "actor", conflicts_with = "actor")]
    id: Option<String>,
    /// One actor's activity instead: their audit records, and the debug records of the same
    /// requests.
    #[arg(long, value_name = "A")]
    actor: Option<String>,
    /// With --actor: from T on (RFC 3339, or YYYY-MM-DD[THH:MM[:SS]] in UTC).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    since: Option<String>,
    /// With --actor: before T.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    until: Option<String>,
    /// Where to write the page.
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
    /// At most this many records (the oldest are kept); the page says when it was cut.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    max: usize,
    #[command(flatten)]
    key: super::records::KeyArgs,
}

pub(super) fn run(args: TimelineArgs) -> Result<u8, CliError> {
    let search = args.key.searcher()?;
    let audit = open_trail(&args.audit, None)?;
    let debug = args
        .debug
        .as_deref()
        .map(|d| open_trail(d, None))
        .transpose()?;
    let mut damaged = false;
    let (title, mut records): (String, Vec<(Stream, Value)>) = if let Some(id) = &args.id {
        let id = match resolve_id(&search, &args.audit, id)? {
            Ok(id) => id,
            Err(code) => return Ok(code),
        };
        let trails: Vec<&Trail> = std::iter::once(&audit).chain(debug.as_ref()).collect();
        let (hits, d) = collect(&search, &trails, &Query::new().id(id.clone()));
        damaged |= d;
        let recs = hits
            .into_iter()
            .map(|f| (stream_of(f.stream), f.record))
            .collect();
        (format!("request {id}"), recs)
    } else {
        let actor = args.actor.clone().unwrap_or_default();
        let mut window = Query::new();
        if let Some(s) = &args.since {
            window = window.clone().since(s).unwrap_or(window);
        }
        if let Some(u) = &args.until {
            window = window.clone().until(u).unwrap_or(window);
        }
        let (hits, d) = collect(&search, &[&audit], &window.clone().actor(actor.clone()));
        damaged |= d;
        let ids: HashSet<String> = hits
            .iter()
            .filter_map(|f| f.record.get("correlation_id")?.as_str().map(str::to_owned))
            .collect();
        let mut recs: Vec<(Stream, Value)> = hits
            .into_iter()
            .map(|f| (Stream::Audit, f.record))
            .collect();
        if let Some(debug) = &debug {
            let summary = search.run(&[debug], &window, |hit| {
                let v = hit.record();
                let id = v.get("correlation_id").and_then(Value::as_str);
                if id.is_some_and(|id| ids.contains(id)) {
                    recs.push((Stream::Debug, v));
                }
                ControlFlow::Continue(())
            });
            damaged |= warn_search(&summary);
        }
        let mut title = format!("actor {actor}");
        if let Some(s) = &args.since {
            title.push_str(&format!(" from {s}"));
        }
        if let Some(u) = &args.until {
            title.push_str(&format!(" until {u}"));
        }
        (title, recs)
    };
    if records.is_empty() {
        warn(format_args!("no records for the {title}"));
        return Ok(if damaged { EXIT_PARTIAL } else { EXIT_NOTHING });
    }
    let mut title = title;
    if records.len() > args.max {
        warn(format_args!(
            "{} records; the page shows the first {}",
            records.len(),
            args.max
        ));
        title.push_str(&format!(
            " (first {} of {} records)",
            args.max,
            records.len()
        ));
        records.truncate(args.max);
    }
    let mut page = Timeline::new(title);
    let n = records.len();
    for (stream, v) in records {
        page.add(stream, v);
    }
    super::output::write_private(&args.html, page.to_html().as_bytes())
        .map_err(|e| CliError(format!("cannot write {}: {e}", Visible::path(&args.html))))?;
    warn(format_args!(
        "{n} records written to {}",
        Visible::path(&args.html)
    ));
    Ok(if damaged { EXIT_PARTIAL } else { 0 })
}

fn stream_of(index: usize) -> Stream {
    if index == 0 {
        Stream::Audit
    } else {
        Stream::Debug
    }
}
