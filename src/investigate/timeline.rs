//! One request's or one actor's records as a self-contained HTML page: both streams on a
//! shared time axis, outcomes coloured, fields on click, the span tree.

use super::query::{parse_nanos, record_time};
use crate::trail::{is_hidden, Visible};
use crate::Stream;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A timeline page in the making: add records, then [`to_html`](Timeline::to_html).
///
/// The page is one file with inline CSS and a few lines of inline JavaScript (filtering only;
/// it reads fine without), and loads nothing from the network. Every value from a record is
/// HTML-escaped, its control, bidi and invisible characters are shown as visible escapes
/// (`\u{202e}`, as [`Visible`] shows them), and each value of a row is its own bidi-isolated
/// `<bdi>` on a left-to-right page: a value can neither run script nor reorder its
/// neighbours.
///
/// ```
/// use tracing_audit::investigate::Timeline;
/// use tracing_audit::Stream;
///
/// let mut t = Timeline::new("request 06b5c49e3d1a5b8b");
/// t.add(Stream::Audit, serde_json::json!({"ts":"2026-11-26T03:12:00.000000000Z","actor":"carol","outcome":"success"}));
/// let html = t.to_html();
/// assert!(html.contains("carol") && !html.contains("http://") && !html.contains("https://"));
/// ```
#[derive(Debug)]
#[must_use]
pub struct Timeline {
    title: String,
    records: Vec<(Stream, Value)>,
}

impl Timeline {
    /// An empty timeline titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Timeline {
            title: title.into(),
            records: Vec::new(),
        }
    }

    /// Adds one record of `stream`.
    pub fn add(&mut self, stream: Stream, record: Value) {
        self.records.push((stream, record));
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The page.
    pub fn to_html(&self) -> String {
        let mut recs: Vec<(i64, &Stream, &Value)> = self
            .records
            .iter()
            .map(|(s, v)| {
                let t = record_time(v).and_then(|t| parse_nanos(&t)).unwrap_or(0);
                (t, s, v)
            })
            .collect();
        recs.sort_by_key(|r| (r.0, *r.1 == Stream::Debug));
        let t0 = recs.first().map_or(0, |r| r.0);
        let t1 = recs.last().map_or(0, |r| r.0);
        let span = (t1 - t0).max(1) as f64;
        let pos = |t: i64| (t - t0) as f64 * 100.0 / span;
        let audit_n = recs.iter().filter(|r| *r.1 == Stream::Audit).count();

        let mut h = String::with_capacity(4096 + recs.len() * 1500);
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\"><head><meta charset=\"utf-8\">");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width\">");
        let _ = write!(h, "<title>Timeline: {}</title>", esc(&self.title));
        h.push_str(STYLE);
        h.push_str("</head><body>");
        let _ = write!(
            h,
            "<header><h1>Timeline: {}</h1><p class=\"sum\">{} records: <b>{}</b> audit, <b>{}</b> debug",
            esc(&self.title),
            recs.len(),
            audit_n,
            recs.len() - audit_n
        );
        if let (Some(a), Some(b)) = (recs.first(), recs.last()) {
            let _ = write!(
                h,
                ", from {} to {} ({})",
                esc(&time_of(a.2)),
                esc(&time_of(b.2)),
                esc(&duration((b.0 - a.0).max(0)))
            );
        }
        h.push_str("</p><div class=\"controls\">");
        h.push_str("<label><input type=\"checkbox\" id=\"show-audit\" checked> audit</label>");
        h.push_str("<label><input type=\"checkbox\" id=\"show-debug\" checked> debug</label>");
        h.push_str("<input type=\"search\" id=\"filter\" placeholder=\"filter records (text)\">");
        h.push_str("<span class=\"legend\"><i class=\"o-ok\"></i>success <i class=\"o-bad\"></i>denied / failed <i class=\"o-warn\"></i>warning <i class=\"o-none\"></i>other</span>");
        h.push_str("</div></header>");

        // The shared axis: one lane per stream, a mark per record, linked to its row.
        h.push_str("<section id=\"axis\" aria-label=\"time axis\">");
        for (lane, stream) in [("audit", Stream::Audit), ("debug", Stream::Debug)] {
            let _ = write!(
                h,
                "<div class=\"lane\"><span class=\"lane-name\">{lane}</span><div class=\"track\">"
            );
            for (i, r) in recs.iter().enumerate().filter(|r| *r.1 .1 == stream) {
                let _ = write!(
                    h,
                    "<a class=\"mark {} {}\" style=\"left:{:.3}%\" href=\"#r{i}\" title=\"{}\"></a>",
                    lane,
                    outcome_class(r.2),
                    pos(r.0),
                    esc(&summary(r.2))
                );
            }
            h.push_str("</div></div>");
        }
        h.push_str("<div class=\"ticks\">");
        for k in 0..=4 {
            let d = ((t1 - t0) as f64 * f64::from(k) / 4.0) as i64;
            let label = if k == 0 {
                clock(t0)
            } else {
                format!("+{}", duration(d))
            };
            let _ = write!(h, "<span style=\"left:{}%\">{}</span>", k * 25, esc(&label));
        }
        h.push_str("</div></section>");

        // The rows: one per record, in time order, fields on click.
        h.push_str("<section id=\"rows\"><h2>Records</h2>");
        for (i, (t, stream, v)) in recs.iter().enumerate() {
            let depth = v.get("spans").and_then(Value::as_array).map_or(0, Vec::len);
            let path = span_path(v);
            let _ = write!(
                h,
                "<details class=\"rec {} {}\" id=\"r{i}\" data-stream=\"{}\"><summary><span class=\"t\">{}</span><span class=\"bar\"><i style=\"left:{:.3}%\"></i></span><span class=\"s\">{}</span><span class=\"sp\" style=\"padding-left:{}em\">{}</span><span class=\"w\">{}</span></summary><pre>{}</pre></details>",
                stream.as_str(),
                outcome_class(v),
                stream.as_str(),
                esc(&clock(*t)),
                pos(*t),
                stream.as_str(),
                depth.saturating_sub(1),
                esc(&path),
                summary_html(v),
                esc(&serde_json::to_string_pretty(v).unwrap_or_default())
            );
        }
        h.push_str("</section>");

        // The span tree: per request (correlation id), every span path seen, with the records
        // under it; a span's fields are shown as the first record that carries it has them.
        let mut tree = Node::default();
        for (i, (_, stream, v)) in recs.iter().enumerate() {
            let request = str_of(v, "correlation_id").unwrap_or("(no request)");
            let mut node = tree
                .children
                .entry(format!("request {request}"))
                .or_default();
            for s in v
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
                node = node.children.entry(name.to_owned()).or_default();
                if node.fields.is_empty() {
                    node.fields = s.get("fields").map(Value::to_string).unwrap_or_default();
                }
            }
            node.records.push((i, **stream));
        }
        h.push_str("<section id=\"spans\"><h2>Span tree</h2>");
        render_node(&tree, &recs, &mut h);
        h.push_str("</section>");
        h.push_str(SCRIPT);
        h.push_str("</body></html>\n");
        h
    }
}

#[derive(Default)]
struct Node {
    fields: String,
    children: BTreeMap<String, Node>,
    records: Vec<(usize, Stream)>,
}

fn render_node(node: &Node, recs: &[(i64, &Stream, &Value)], h: &mut String) {
    h.push_str("<ul class=\"tree\">");
    for &(i, stream) in &node.records {
        let _ = write!(
            h,
            "<li class=\"leaf {}\"><a href=\"#r{i}\">{} {}</a></li>",
            stream.as_str(),
            stream.as_str(),
            summary_html(recs[i].2)
        );
    }
    for (name, child) in &node.children {
        let _ = write!(
            h,
            "<li><span class=\"span-name\"><bdi>{}</bdi></span> <code><bdi>{}</bdi></code>",
            esc(name),
            esc(&child.fields)
        );
        render_node(child, recs, h);
        h.push_str("</li>");
    }
    h.push_str("</ul>");
}

/// HTML-escapes text for element content and attribute values; hidden characters (controls,
/// bidi, invisible format characters) become their visible escape, as [`Visible`] shows them.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => {
                let _ = write!(out, "{}", Visible::str(c.encode_utf8(&mut [0; 4])));
            }
            c => out.push(c),
        }
    }
    out
}

fn time_of(v: &Value) -> String {
    record_time(v).unwrap_or_else(|| "(no time)".to_owned())
}

/// `HH:MM:SS.mmm` of a time in nanoseconds (UTC).
fn clock(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format("%H:%M:%S%.3f")
        .to_string()
}

fn duration(nanos: i64) -> String {
    if nanos < 1_000_000 {
        format!("{} µs", nanos / 1000)
    } else if nanos < 10_000_000_000 {
        format!("{:.1} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.1} s", nanos as f64 / 1e9)
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `o-ok`, `o-bad`, `o-warn` or `o-none`, by outcome, else by level.
fn outcome_class(v: &Value) -> &'static str {
    if let Some(o) = str_of(v, "outcome") {
        return match o.to_ascii_lowercase().as_str() {
            "success" | "ok" | "allowed" | "allow" | "granted" => "o-ok",
            "failure" | "failed" | "denied" | "deny" | "error" | "rejected" => "o-bad",
            _ => "o-none",
        };
    }
    match str_of(v, "level") {
        Some("ERROR") => "o-bad",
        Some("WARN") => "o-warn",
        _ => "o-none",
    }
}

fn span_path(v: &Value) -> String {
    v.get("spans")
        .and_then(Value::as_array)
        .map(|spans| {
            spans
                .iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" › ")
        })
        .unwrap_or_default()
}

/// One line saying what the record is.
fn summary(v: &Value) -> String {
    let mut s = String::new();
    if let Some(r) = str_of(v, "record") {
        let _ = write!(s, "[{r}] ");
    } else if let Some(l) = str_of(v, "level") {
        let _ = write!(s, "{l} ");
    }
    for k in ["actor", "action", "resource", "outcome", "reason", "src_ip"] {
        if let Some(x) = v.get(k) {
            let x = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
            let _ = write!(s, "{k}={x} ");
        }
    }
    if let Some(m) = str_of(v, "message") {
        s.push_str(m);
    }
    s.trim_end().to_owned()
}

/// [`summary`] as HTML: every value escaped ([`esc`]) in its own `<bdi>`, so that
/// right-to-left text in one value cannot reorder the keys and values around it.
fn summary_html(v: &Value) -> String {
    let mut s = String::new();
    if let Some(r) = str_of(v, "record") {
        let _ = write!(s, "[<bdi>{}</bdi>] ", esc(r));
    } else if let Some(l) = str_of(v, "level") {
        let _ = write!(s, "<bdi>{}</bdi> ", esc(l));
    }
    for k in ["actor", "action", "resource", "outcome", "reason", "src_ip"] {
        if let Some(x) = v.get(k) {
            let x = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
            let _ = write!(s, "{k}=<bdi>{}</bdi> ", esc(&x));
        }
    }
    if let Some(m) = str_of(v, "message") {
        let _ = write!(s, "<bdi>{}</bdi>", esc(m));
    }
    s.trim_end().to_owned()
}

const STYLE: &str = r#"<style>
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#bf8700;--none:#6e7781;--audit:#0550ae;--debug:#8250df}
*{box-sizing:border-box}body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}
header{position:sticky;top:0;background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:8px 16px;z-index:2}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:16px 0 6px}.sum{margin:0 0 6px}
.controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap}#filter{width:260px;padding:3px 6px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 3px 0 8px;vertical-align:middle}
.o-ok.mark,.legend .o-ok,.rec.o-ok .bar i{background:var(--ok)}.o-bad.mark,.legend .o-bad,.rec.o-bad .bar i{background:var(--bad)}
.o-warn.mark,.legend .o-warn,.rec.o-warn .bar i{background:var(--warn)}.o-none.mark,.legend .o-none,.rec.o-none .bar i{background:var(--none)}
#axis{padding:8px 16px 24px;border-bottom:1px solid #d0d7de;position:relative}
.lane{display:flex;align-items:center;height:22px}.lane-name{width:60px;font-weight:600}
.track{position:relative;flex:1;height:14px;border-bottom:1px dashed #d0d7de}
.mark{position:absolute;top:1px;width:10px;height:10px;margin-left:-5px;border-radius:50%;opacity:.85}
.mark.audit{border-radius:2px;outline:1px solid var(--audit)}
.ticks{position:relative;margin-left:60px;height:14px;color:#57606a;font-size:11px}.ticks span{position:absolute;transform:translateX(-50%);white-space:nowrap}
.ticks span:first-child{transform:none}.ticks span:last-child{transform:translateX(-100%)}
#rows,#spans{padding:0 16px}
.rec{border-bottom:1px solid #eaeef2;content-visibility:auto;contain-intrinsic-size:auto 23px}
.tree>li{content-visibility:auto;contain-intrinsic-size:auto 40px}.rec summary{display:flex;gap:8px;align-items:center;cursor:pointer;padding:2px 0;list-style:none}
.rec summary::-webkit-details-marker{display:none}.rec[open]{background:#f6f8fa}
.rec .t{font-family:ui-monospace,monospace;color:#57606a;width:92px;flex:none}
.rec .bar{position:relative;width:160px;height:10px;flex:none;background:#f0f3f6;border-radius:5px}
.rec .bar i{position:absolute;top:1px;width:8px;height:8px;margin-left:-4px;border-radius:50%}
.rec .s{width:44px;flex:none;font-weight:600}.rec.audit .s{color:var(--audit)}.rec.debug .s{color:var(--debug)}
.rec .sp{color:#57606a;flex:none;max-width:260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.rec .w{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.rec.o-bad .w{color:var(--bad)}.rec.o-ok.audit .w{color:var(--ok)}
.rec pre{margin:4px 0 8px 100px;padding:8px;background:#fff;border:1px solid #d0d7de;overflow:auto;max-height:400px}
.tree{list-style:none;padding-left:18px;margin:2px 0}.span-name{font-weight:600}.tree code{color:#57606a;font-size:11px}
.leaf.audit a{color:var(--audit)}.leaf.debug a{color:var(--debug)}.hidden{display:none}
</style>"#;

const SCRIPT: &str = r#"<script>
(function(){
  var rows=[].slice.call(document.querySelectorAll('.rec'));
  var marks=[].slice.call(document.querySelectorAll('.mark'));
  function apply(){
    var a=document.getElementById('show-audit').checked,d=document.getElementById('show-debug').checked;
    var q=document.getElementById('filter').value.toLowerCase();
    rows.forEach(function(r){
      var s=r.getAttribute('data-stream');
      var on=(s==='audit'?a:d)&&(!q||r.textContent.toLowerCase().indexOf(q)>=0);
      r.classList.toggle('hidden',!on);
    });
    marks.forEach(function(m){
      var r=document.getElementById(m.getAttribute('href').slice(1));
      m.classList.toggle('hidden',!r||r.classList.contains('hidden'));
    });
  }
  ['show-audit','show-debug'].forEach(function(id){document.getElementById(id).addEventListener('change',apply)});
  document.getElementById('filter').addEventListener('input',apply);
  marks.forEach(function(m){m.addEventListener('click',function(){
    var r=document.getElementById(m.getAttribute('href').slice(1)); if(r){r.open=true;}
  })});
})();
</script>"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_escaped_and_both_streams_are_laid_on_one_axis() {
        let mut t = Timeline::new("x<script>");
        t.add(
            Stream::Audit,
            json!({"ts":"2026-11-26T03:12:00.000000000Z","actor":"<img onerror=1>","outcome":"denied","spans":[{"name":"req","fields":{"a":1}}]}),
        );
        t.add(
            Stream::Debug,
            json!({"ts":"2026-11-26T03:11:59.000000000Z","level":"WARN","message":"a\"b</pre>","spans":[{"name":"req","fields":{"a":1}}]}),
        );
        let h = t.to_html();
        assert!(!h.contains("<img") && !h.contains("x<script>") && !h.contains("b</pre>"));
        assert!(h.contains("&lt;img onerror=1&gt;"));
        assert!(
            h.contains("class=\"mark audit o-bad\" style=\"left:100.000%\""),
            "{h}"
        );
        assert!(
            h.contains("class=\"mark debug o-warn\" style=\"left:0.000%\""),
            "{h}"
        );
        // One span node holding both records (neither has a correlation id: one request node).
        assert_eq!(
            h.matches("<span class=\"span-name\"><bdi>req</bdi></span>")
                .count(),
            1
        );
        assert_eq!(h.matches("request (no request)").count(), 1);
    }
    #[test]
    fn bidi_and_control_characters_are_shown_as_escapes_in_isolated_values() {
        let mut t = Timeline::new("actor \u{202e}eve");
        t.add(
            Stream::Audit,
            json!({"ts":"2026-11-26T03:12:00.000000000Z","actor":"\u{202e}eve","resource":"/a\u{1b}[2K\u{9b}\u{2028}","outcome":"denied"}),
        );
        let h = t.to_html();
        assert!(h.chars().all(|c| c == '\n' || !is_hidden(c)));
        assert!(h.contains("actor=<bdi>\\u{202e}eve</bdi>"), "{h}");
        assert!(h.contains("\\u{1b}[2K\\u{9b}\\u{2028}"), "{h}");
    }
}
