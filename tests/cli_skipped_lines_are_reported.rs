//! Lines a read command cannot use — longer than the line limit (8 MiB), or not a record — are
//! counted per file on stderr, and the command ends with exit 4 ("ran, but did not read
//! everything"), never silently with exit 0. The other records are all still shown.

mod chain_support;
mod support;

use chain_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 40 records over several files; into the middle file go a line of 9 MiB that names `user3`
/// and a line that is not JSON but names `user3` too (what a search has to look at). Returns
/// the middle file's name.
fn trail_with_bad_lines(dir: &Path) -> String {
    write_trail(dir, keyed(), 0..40, 4096);
    let files: Vec<PathBuf> = trail_files(dir);
    assert!(files.len() >= 3);
    let middle = &files[files.len() / 2];
    let mut giant = br#"{"actor":"user3","message":""#.to_vec();
    giant.resize(9 << 20, b'x');
    giant.extend_from_slice(b"\"}\n");
    let garbage = b"{\"actor\":\"user3\",\"action\":\"read\" and then not JSON\n";
    let content = fs::read(middle).unwrap();
    fs::write(middle, [content.as_slice(), &giant, garbage].concat()).unwrap();
    middle.file_name().unwrap().to_string_lossy().into_owned()
}

fn assert_reported(args: &[&str], o: &Output, middle: &str, unreadable: bool) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(4), "{args:?}: {err}");
    let want = if unreadable {
        format!("{middle}: 1 line skipped as longer than the line limit, 1 as not a record")
    } else {
        format!("{middle}: 1 line skipped as longer than the line limit")
    };
    assert!(err.contains(&want), "{args:?}: wanted {want:?} in\n{err}");
}

#[test]
fn query_counts_giant_and_unreadable_lines_per_file_and_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let middle = trail_with_bad_lines(dir.path());
    let d = dir.path().to_str().unwrap();
    let args = ["query", d];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, true);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 40);

    let args = ["query", d, "--actor", "user3"];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, true);
    let shown = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(shown, (0..40).filter(|i| i % 7 == 3).count());
}

#[test]
fn export_report_correlate_and_timeline_count_them_too() {
    let dir = tempfile::tempdir().unwrap();
    let middle = trail_with_bad_lines(dir.path());
    let d = dir.path().to_str().unwrap();

    let args = ["export", "--format", "ecs", d];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, true);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 40);

    let args = ["report", d];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, true);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("40 records"));

    let q = tool(&["query", d, "--actor", "user3"]);
    let first = String::from_utf8_lossy(&q.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    let id = v["correlation_id"].as_str().unwrap();
    let args = ["correlate", "--audit", d, id];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, false);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);

    let page = tempfile::tempdir().unwrap();
    let html = page.path().join("t.html");
    let args = [
        "timeline",
        "--audit",
        d,
        id,
        "--html",
        html.to_str().unwrap(),
    ];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, false);
    assert!(fs::read_to_string(&html).unwrap().contains("user3"));
}

#[test]
fn tail_counts_a_giant_line_it_passes_on_its_way_back() {
    let dir = tempfile::tempdir().unwrap();
    let middle = trail_with_bad_lines(dir.path());
    let d = dir.path().to_str().unwrap();
    let args = ["tail", d, "-n", "40"];
    let o = tool(&args);
    assert_reported(&args, &o, &middle, false);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 40);
}

#[test]
fn tail_follow_reports_a_line_that_is_not_a_record_as_it_arrives() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..5, 1 << 20);
    let d = dir.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(["tail", d, "-n", "1", "--follow", "--poll-ms", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = support::stdout_lines(&mut child);
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, warnings) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(err).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The last record is shown: the follower knows where the trail ended; append after it.
    let first = lines.recv_timeout(Duration::from_secs(30));
    assert!(
        first.as_deref().is_ok_and(|l| l.contains("user")),
        "{first:?}"
    );
    let newest = trail_files(dir.path()).pop().unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&newest).unwrap();
    f.write_all(b"not a record\n{\"ts\":\"2099-01-01T00:00:00.000000000Z\",\"actor\":\"late\"}\n")
        .unwrap();
    let shown = lines.recv_timeout(Duration::from_secs(30));
    let warning = warnings.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        shown.as_deref().is_ok_and(|l| l.contains("actor=late")),
        "{shown:?}"
    );
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        warning
            .as_deref()
            .is_ok_and(|w| w.contains(&format!("{name}: 1 line skipped as not a record"))),
        "{warning:?}"
    );
}
