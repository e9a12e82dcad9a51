//! The OCSF and ECS mappings of single records, of a rotated and gzipped trail read as a
//! stream, and of records mapped in process as the layer writes them.

mod support;

use serde_json::{json, Value};
use support::Capture;
use tracing_audit::export::{export_trail, ExportErrorKind, ExportOptions, Format, Mapped};
use tracing_audit::layer::AuditLayer;
use tracing_subscriber::prelude::*;

fn line(extra: Value) -> String {
    let mut base = json!({
        "seq": 12,
        "ts": "2026-11-26T07:14:47.647112753Z",
        "stream": "audit",
        "level": "INFO",
        "target": "audit",
        "fields": {},
        "spans": [],
        "mac": "sha256:0000000000000000000000000000000000000000000000000000000000000000"
    });
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_string(&base).unwrap()
}

fn ocsf(extra: Value) -> Value {
    Format::Ocsf.map_line(&line(extra)).unwrap().unwrap()
}

fn ecs(extra: Value) -> Value {
    Format::Ecs.map_line(&line(extra)).unwrap().unwrap()
}

#[test]
fn crud_verbs_map_to_api_activity_activities() {
    for (action, activity, name) in [
        ("create", 1, "Create"),
        ("user.add", 1, "Create"),
        ("read", 2, "Read"),
        ("report:download", 2, "Read"),
        ("update_role", 3, "Update"),
        ("delete", 4, "Delete"),
        ("RemoveMember", 4, "Delete"),
    ] {
        let o = ocsf(json!({"actor": "alice", "action": action, "outcome": "success"}));
        assert_eq!(o["class_uid"], 6003, "{action}");
        assert_eq!(o["category_uid"], 6);
        assert_eq!(o["activity_id"], activity, "{action}");
        assert_eq!(o["activity_name"], name);
        assert_eq!(o["type_uid"], 600300 + activity);
        assert_eq!(o["api"]["operation"], action);
    }
}

#[test]
fn login_and_logout_map_to_authentication() {
    let o = ocsf(
        json!({"actor": "alice", "action": "login", "outcome": "success", "session": "s-1", "src_ip": "2001:db8::1"}),
    );
    assert_eq!(
        (&o["class_uid"], &o["category_uid"], &o["type_uid"]),
        (&json!(3002), &json!(3), &json!(300201))
    );
    assert_eq!(o["user"]["name"], "alice");
    assert_eq!(o["session"]["uid"], "s-1");
    assert_eq!(o["src_endpoint"]["ip"], "2001:db8::1");
    let o = ocsf(json!({"actor": "alice", "action": "sign_out", "outcome": "success"}));
    assert_eq!(o["type_uid"], 300202);
    assert_eq!(o["activity_name"], "Logoff");
}

#[test]
fn unknown_actions_map_to_other_keeping_their_name() {
    let o = ocsf(json!({"actor": "alice", "action": "approve_invoice", "outcome": "success"}));
    assert_eq!(o["activity_id"], 99);
    assert_eq!(o["activity_name"], "approve_invoice");
    assert_eq!(o["type_uid"], 600399);
    assert_eq!(o["api"]["operation"], "approve_invoice");
    let e = ecs(json!({"actor": "alice", "action": "approve_invoice", "outcome": "success"}));
    assert_eq!(e["event"]["action"], "approve_invoice");
    assert_eq!(e["event"]["type"][0], "info");
}

#[test]
fn outcomes_map_to_status_ids_and_ecs_outcomes() {
    for (outcome, status_id, ecs_outcome) in [
        ("success", 1, "success"),
        ("denied", 2, "failure"),
        ("failure", 2, "failure"),
        ("partial", 99, "unknown"),
    ] {
        let o = ocsf(json!({"actor": "a", "action": "read", "outcome": outcome}));
        assert_eq!(o["status_id"], status_id, "{outcome}");
        assert_eq!(o["status_code"], outcome);
        let e = ecs(json!({"actor": "a", "action": "read", "outcome": outcome}));
        assert_eq!(e["event"]["outcome"], ecs_outcome);
    }
    let o = ocsf(json!({"actor": "a", "action": "read"}));
    assert_eq!(o["status_id"], 0);
    let e = ecs(json!({"actor": "a", "action": "read", "outcome": "denied"}));
    assert!(e["event"]["type"]
        .as_array()
        .unwrap()
        .contains(&json!("denied")));
}

#[test]
fn trace_ids_and_chain_keys_are_carried() {
    let extra = json!({
        "actor": "a", "action": "read", "outcome": "success",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
        "correlation_id": "80d3ff2aad36392e", "prev": "sha256:11", "kid": "k1"
    });
    let o = ocsf(extra.clone());
    assert_eq!(o["trace"]["uid"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(o["trace"]["span"]["uid"], "00f067aa0ba902b7");
    assert_eq!(o["metadata"]["correlation_uid"], "80d3ff2aad36392e");
    assert_eq!(o["metadata"]["sequence"], 12);
    assert_eq!(o["unmapped"]["kid"], "k1");
    assert_eq!(o["unmapped"]["prev"], "sha256:11");
    assert_eq!(o["time"], 1_795_677_287_647_i64);
    let e = ecs(extra);
    assert_eq!(e["trace"]["id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(e["span"]["id"], "00f067aa0ba902b7");
    assert_eq!(e["event"]["sequence"], 12);
    assert_eq!(
        e["tracing_audit"]["mac"].as_str().map(|m| m.len()),
        Some(71)
    );
}

#[test]
fn a_pseudonymized_address_is_not_written_as_an_ip() {
    let o = ocsf(
        json!({"actor": "a", "action": "read", "outcome": "success", "src_ip": "hmac-sha256:ab12"}),
    );
    assert!(o["src_endpoint"]["ip"].is_null());
    assert_eq!(o["src_endpoint"]["name"], "hmac-sha256:ab12");
    let e = ecs(
        json!({"actor": "a", "action": "read", "outcome": "success", "src_ip": "hmac-sha256:ab12"}),
    );
    assert!(e["source"]["ip"].is_null());
    assert_eq!(e["source"]["address"], "hmac-sha256:ab12");
}

#[test]
fn debug_and_control_records_map_to_nothing() {
    let debug = r#"{"ts":"2026-11-26T07:14:47.647112753Z","stream":"debug","level":"INFO","target":"x","fields":{},"spans":[]}"#;
    let seal =
        r#"{"seq":3,"ts":"2026-11-26T07:14:47.647112753Z","stream":"audit","record":"seal"}"#;
    for format in [Format::Ocsf, Format::Ecs] {
        assert!(format.map_line(debug).unwrap().is_none());
        assert!(format.map_line(seal).unwrap().is_none());
        assert_eq!(
            format.map_line("{torn").unwrap_err().kind(),
            ExportErrorKind::Parse
        );
    }
}

/// Writes `n` audit records through the layer into small, rotated, compressed files.
#[cfg(feature = "gzip")]
fn write_trail(dir: &std::path::Path, n: usize) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            tracing_audit::sink::FileSink::new(dir)
                .rotation(tracing_audit::sink::Rotation::Never)
                .max_file_size(4 << 10)
                .compress(true),
        )
        .debug_to(std::io::sink)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            tracing::info!(target: "audit", actor = "alice", action = "read", resource = %format!("/doc/{i}"), outcome = "success", i);
        }
    });
    drop(guard);
}

#[test]
#[cfg(feature = "gzip")]
fn a_rotated_and_gzipped_trail_exports_every_audit_record_in_order() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write_trail(dir, 200);
    // Make sure at least one file is gzipped, whatever the background compressor got to.
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    if !names.iter().any(|n| n.ends_with(".gz")) {
        let first = names
            .iter()
            .filter(|n| n.ends_with(".jsonl") && !n.contains("current"))
            .min()
            .unwrap()
            .clone();
        let raw = std::fs::read(dir.join(&first)).unwrap();
        let gz = std::fs::File::create(dir.join(format!("{first}.gz"))).unwrap();
        let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &raw).unwrap();
        enc.finish().unwrap();
        std::fs::remove_file(dir.join(&first)).unwrap();
    }
    let files = std::fs::read_dir(dir).unwrap().count();
    assert!(files > 3, "the trail rotated");

    let mut out = Vec::new();
    let summary = export_trail(
        dir,
        ExportOptions::new(Format::Ocsf).filter(|r| r["resource"] != "/doc/7"),
        &mut out,
    )
    .unwrap();
    assert_eq!(summary.exported, 199);
    let objects: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let resources: Vec<String> = objects
        .iter()
        .map(|o| o["resources"][0]["name"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (0..200)
        .filter(|&i| i != 7)
        .map(|i| format!("/doc/{i}"))
        .collect();
    assert_eq!(resources, want, "every record once, in the order written");
    let seqs: Vec<u64> = objects
        .iter()
        .map(|o| o["metadata"]["sequence"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn records_are_mapped_in_process_as_the_layer_writes_them() {
    let out = Capture::default();
    let (layer, guard) = AuditLayer::builder()
        .audit_to(Mapped::new(Format::Ocsf, out.clone()))
        .debug_to(std::io::sink)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "audit", actor = "alice", action = "login", outcome = "denied", src_ip = "203.0.113.7");
        tracing::info!(target: "audit", actor = "alice", action = "read", resource = "/r", outcome = "success");
    });
    drop(guard);
    let objects = out.records();
    assert_eq!(objects.len(), 2, "control records are left out");
    assert_eq!(objects[0]["type_uid"], 300201);
    assert_eq!(objects[0]["status_id"], 2);
    assert_eq!(objects[1]["type_uid"], 600302);
}

#[test]
fn a_directory_with_several_trails_needs_a_prefix() {
    let root = tempfile::tempdir().unwrap();
    for p in ["a", "b"] {
        std::fs::write(root.path().join(format!("{p}.2026-11-26.0001.jsonl")), "").unwrap();
    }
    let err = export_trail(root.path(), ExportOptions::new(Format::Ecs), Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::SeveralTrails);
    let ok = export_trail(
        root.path(),
        ExportOptions::new(Format::Ecs).prefix("a"),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(ok.exported, 0);
}
