//! Passwords given on a command line and in `.netrc` lines: `mysql -p<pw>`, `sshpass -p <pw>`,
//! `curl -u user:<pw>`, `redis-cli -a <pw>`, `ldapsearch -w <pw>`, `sqlcmd -P <pw>`,
//! `smbclient -U user%<pw>`, `machine h login u password <pw>`.
//!
//! A short flag means a password only for the command that defines it (`-p` is a port for
//! `ssh`, `-a` is "all" for `ls`), so the flag is read together with the command that starts its
//! segment of the line: the first word after the line start or a `|`, `;`, `&`, `(`, `` ` `` or
//! quote, its directory and a `sudo`/`env` prefix skipped. Long forms (`--password=…`,
//! `--user u:pw`) are the keyword rule's.

use super::engine::Hits;
use super::keyword::is_placeholder;
use super::tokens::run_end;
use super::Detector;

/// How far back a flag looks for its command: bytes, and words (the command's other options and
/// their arguments, `mysql -h db -P 3306 -u root -p…`).
const MAX_SEGMENT: usize = 256;
const MAX_WORDS_BACK: usize = 12;

/// How a command takes its password.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `-p<pw>` glued (a bare `-p` prompts): MySQL and MariaDB clients.
    Glued,
    /// `-p <pw>` or `-p<pw>`.
    Value,
    /// `-u user:<pw>` (curl), `-U user%<pw>` (smbclient): the part after the separator.
    UserPass(u8),
}

/// Commands whose short flag carries a password, the flag and how.
const COMMANDS: &[(&[u8], u8, Takes)] = &[
    (b"mysql", b'p', Takes::Glued),
    (b"mysqldump", b'p', Takes::Glued),
    (b"mysqladmin", b'p', Takes::Glued),
    (b"mysqlimport", b'p', Takes::Glued),
    (b"mysqlcheck", b'p', Takes::Glued),
    (b"mariadb", b'p', Takes::Glued),
    (b"mariadb-dump", b'p', Takes::Glued),
    (b"sshpass", b'p', Takes::Value),
    (b"redis-cli", b'a', Takes::Value),
    (b"valkey-cli", b'a', Takes::Value),
    (b"ldapsearch", b'w', Takes::Value),
    (b"ldapmodify", b'w', Takes::Value),
    (b"ldapadd", b'w', Takes::Value),
    (b"ldapdelete", b'w', Takes::Value),
    (b"ldapwhoami", b'w', Takes::Value),
    (b"ldappasswd", b'w', Takes::Value),
    (b"ldapmodrdn", b'w', Takes::Value),
    (b"ldapcompare", b'w', Takes::Value),
    (b"sqlcmd", b'P', Takes::Value),
    (b"bcp", b'P', Takes::Value),
    (b"mongo", b'p', Takes::Value),
    (b"mongosh", b'p', Takes::Value),
    (b"mongodump", b'p', Takes::Value),
    (b"mongorestore", b'p', Takes::Value),
    (b"curl", b'u', Takes::UserPass(b':')),
    (b"smbclient", b'U', Takes::UserPass(b'%')),
];

/// Whether `b[i]` (a `-` after a blank) starts a short flag this module reads. A necessary
/// condition used by the prefilter.
pub(super) fn may_start_flag(b: &[u8], i: usize) -> bool {
    i > 0
        && matches!(b[i - 1], b' ' | b'\t')
        && matches!(b.get(i + 1), Some(b'p' | b'a' | b'w' | b'u' | b'P' | b'U'))
}

/// Whether the word `password` (a `.netrc` line) starts at `i`, after a blank. A necessary
/// condition used by the prefilter.
pub(super) fn may_start_netrc(b: &[u8], i: usize) -> bool {
    i > 0 && matches!(b[i - 1], b' ' | b'\t') && b[i..].starts_with(b"password ")
}

pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    for i in memchr::memchr_iter(b'-', b) {
        if may_start_flag(b, i) && b.get(i + 2).is_none_or(|&c| c != b'-') {
            flag(b, i, hits);
        }
    }
    // `curl --user u:pw`, `smbclient --user u%pw`: long forms that carry no secret word.
    for i in memchr::memmem::find_iter(b, b"--user ") {
        user_flag(b, i, hits);
    }
    let finder = memchr::memmem::Finder::new(b"password ");
    for i in finder.find_iter(b) {
        if may_start_netrc(b, i) {
            netrc(b, i, hits);
        }
    }
}

/// The password of the short flag at `dash`, if the segment's command takes one there.
fn flag(b: &[u8], dash: usize, hits: &mut Hits) {
    let letter = b[dash + 1];
    let Some(takes) = command_before(b, dash).and_then(|command| {
        COMMANDS
            .iter()
            .find(|(name, flag, _)| *name == command && *flag == letter)
            .map(|&(_, _, takes)| takes)
    }) else {
        return;
    };
    let glued = dash + 2;
    let start = match b.get(glued) {
        Some(b' ') if takes != Takes::Glued => glued + 1,
        Some(&c) if is_arg_byte(c) || matches!(c, b'\'' | b'"') => glued,
        _ => return,
    };
    let (start, end) = argument(b, start);
    let (start, end) = match takes {
        Takes::UserPass(sep) => match memchr::memchr(sep, &b[start..end]) {
            Some(at) => (start + at + 1, end),
            None => return,
        },
        _ => (start, end),
    };
    push(b, start, end, hits);
}

/// `--user u:pw` for the commands whose `-u`/`-U` takes a user and a password.
fn user_flag(b: &[u8], dash: usize, hits: &mut Hits) {
    let Some(sep) = command_before(b, dash).and_then(|command| {
        COMMANDS.iter().find_map(|&(name, _, takes)| match takes {
            Takes::UserPass(sep) if name == command => Some(sep),
            _ => None,
        })
    }) else {
        return;
    };
    let (start, end) = argument(b, dash + b"--user ".len());
    if let Some(at) = memchr::memchr(sep, &b[start..end]) {
        push(b, start + at + 1, end, hits);
    }
}

/// `machine h login u password <pw>`: the word after `password` in a line that names a
/// `machine` (or `default`) and a `login` before it.
fn netrc(b: &[u8], at: usize, hits: &mut Hits) {
    let from = at.saturating_sub(MAX_SEGMENT);
    let line_start = memchr::memrchr(b'\n', &b[from..at]).map_or(from, |n| from + n + 1);
    let before = &b[line_start..at];
    let names_host = memchr::memmem::find(before, b"machine ").is_some()
        || memchr::memmem::find(before, b"default ").is_some();
    if !(names_host && memchr::memmem::find(before, b"login ").is_some()) {
        return;
    }
    let (start, end) = argument(b, at + b"password ".len());
    push(b, start, end, hits);
}

fn push(b: &[u8], start: usize, end: usize, hits: &mut Hits) {
    let value = &b[start..end];
    if value.len() >= 3 && !is_placeholder(value) {
        hits.push(Detector::KeywordSecret, start, end);
    }
}

/// Bytes of an unquoted shell argument as logs show it.
fn is_arg_byte(c: u8) -> bool {
    c.is_ascii_graphic() && !matches!(c, b'"' | b'\'' | b'`' | b'|' | b';' | b'&' | b'\\')
}

/// The argument starting at `start`, quoted or bare, without its quotes.
fn argument(b: &[u8], start: usize) -> (usize, usize) {
    // `\'pw\'` in a `Debug` rendering: the backslash escapes the quote.
    let mut i = start;
    if b.get(i) == Some(&b'\\') && matches!(b.get(i + 1), Some(b'"' | b'\'')) {
        i += 1;
    }
    match b.get(i) {
        Some(&quote @ (b'"' | b'\'')) => {
            let body = i + 1;
            let end = run_end(b, body, |c| c != quote && c != b'\n' && c != b'\\');
            (body, end)
        }
        _ => (start, run_end(b, start, is_arg_byte)),
    }
}

/// The nearest command before `at` in its shell segment (after the line start or a `|`, `;`,
/// `&`, `(`, `` ` `` or `$`) that takes a password flag, as its last path component
/// (`/usr/bin/mysql`). The words between are the command's other options and arguments; at most
/// [`MAX_WORDS_BACK`] of them and [`MAX_SEGMENT`] bytes are looked at.
fn command_before(b: &[u8], at: usize) -> Option<&[u8]> {
    let floor = at.saturating_sub(MAX_SEGMENT);
    let is_delimiter = |c: u8| matches!(c, b'\n' | b'|' | b';' | b'&' | b'(' | b'`' | b'$');
    let mut end = at;
    for _ in 0..MAX_WORDS_BACK {
        while end > floor && !b[end - 1].is_ascii_graphic() {
            if is_delimiter(b[end - 1]) {
                return None;
            }
            end -= 1;
        }
        let mut start = end;
        while start > floor && b[start - 1].is_ascii_graphic() && !is_delimiter(b[start - 1]) {
            start -= 1;
        }
        if start == end {
            return None;
        }
        let word = &b[start..end];
        let name = word
            .iter()
            .rposition(|&c| matches!(c, b'/' | b'"' | b'\'' | b':'))
            .map_or(word, |s| &word[s + 1..]);
        // Every command name is 3 to 12 bytes and starts with a lower-case letter.
        let plausible = (3..=12).contains(&name.len()) && name[0].is_ascii_lowercase();
        if plausible && COMMANDS.iter().any(|(command, _, _)| *command == name) {
            return Some(name);
        }
        end = start;
    }
    None
}
