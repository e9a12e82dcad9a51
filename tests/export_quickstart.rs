//! Every audit record the quickstart example writes exports to an OCSF object that validates
//! against `tests/ocsf_schema.json` and to an ECS document with the fields a SIEM indexes; the
//! login, the read and the denial land where the mapping table says.

mod support;

use serde_json::Value;
use std::path::Path;
use support::run_quickstart;
use tracing_audit::export::{export_trail, ExportOptions, Format};

fn ocsf_schema() -> jsonschema::JSONSchema {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ocsf_schema.json"
    ))
    .unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    jsonschema::JSONSchema::compile(&value).expect("tests/ocsf_schema.json compiles")
}

fn export(dir: &Path, format: Format) -> Vec<Value> {
    let mut out = Vec::new();
    let summary = export_trail(dir, ExportOptions::new(format), &mut out).expect("export");
    let objects: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(summary.exported, objects.len() as u64);
    assert_eq!(summary.unreadable, 0);
    objects
}

/// The audit event records of the trail, as written (without chain control records).
fn audit_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jsonl") && !n.contains("current"))
        .collect();
    names.sort();
    for n in names {
        for l in std::fs::read_to_string(dir.join(n)).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            if v.get("record").is_none() {
                lines.push(l.to_owned());
            }
        }
    }
    lines
}

#[test]
fn quickstart_audit_records_export_to_schema_valid_ocsf_and_to_ecs() {
    let root = tempfile::tempdir().unwrap();
    run_quickstart(root.path());
    let dir = root.path().join("audit");
    let originals = audit_lines(&dir);
    assert!(originals.len() >= 5, "{originals:?}");

    let schema = ocsf_schema();
    let ocsf = export(&dir, Format::Ocsf);
    assert_eq!(ocsf.len(), originals.len(), "one object per audit record");
    for (o, line) in ocsf.iter().zip(&originals) {
        if let Err(errors) = schema.validate(o) {
            let msgs: Vec<String> = errors
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            panic!("violates tests/ocsf_schema.json: {msgs:?}\n{o:#}");
        }
        let original: Value = serde_json::from_str(line).unwrap();
        // The original line verbatim, its chain keys alongside: the MAC can still be checked.
        assert_eq!(o["raw_data"].as_str(), Some(line.as_str()));
        assert_eq!(o["metadata"]["sequence"], original["seq"]);
        assert_eq!(o["unmapped"]["seq"], original["seq"]);
        assert_eq!(o["unmapped"]["mac"], original["mac"]);
        assert!(o["unmapped"]["mac"].is_string());
        assert_eq!(
            o["type_uid"].as_u64().unwrap(),
            o["class_uid"].as_u64().unwrap() * 100 + o["activity_id"].as_u64().unwrap()
        );
    }

    // The schema is not vacuous: a wrong type_uid, a missing metadata or an unknown status fail.
    let mut bad = ocsf[0].clone();
    bad["type_uid"] = (bad["type_uid"].as_u64().unwrap() + 1).into();
    assert!(!schema.is_valid(&bad));
    let mut bad = ocsf[0].clone();
    bad.as_object_mut().unwrap().remove("metadata");
    assert!(!schema.is_valid(&bad));
    let mut bad = ocsf[0].clone();
    bad["status_id"] = 3.into();
    assert!(!schema.is_valid(&bad));

    let logins: Vec<&Value> = ocsf
        .iter()
        .filter(|o| o["unmapped"]["seq"].is_u64() && o["api"].is_null())
        .collect();
    assert_eq!(logins.len(), 2, "two logins in the quickstart");
    for login in &logins {
        assert_eq!(login["class_uid"], 3002);
        assert_eq!(login["activity_id"], 1);
        assert_eq!(login["type_uid"], 300201);
        assert_eq!(login["user"]["name"], "alice");
        assert_eq!(login["src_endpoint"]["ip"], "203.0.113.7");
    }
    let denied_login = logins
        .iter()
        .find(|o| o["status_code"] == "denied")
        .unwrap();
    assert_eq!(denied_login["status_id"], 2);
    assert_eq!(denied_login["status_detail"], "bad_password");
    let ok_login = logins
        .iter()
        .find(|o| o["status_code"] == "success")
        .unwrap();
    assert_eq!(ok_login["status_id"], 1);
    assert_eq!(ok_login["session"]["uid"], "s-8f2a");

    let reads: Vec<&Value> = ocsf
        .iter()
        .filter(|o| o["api"]["operation"] == "read")
        .collect();
    assert_eq!(reads.len(), 3);
    for read in &reads {
        assert_eq!(read["class_uid"], 6003);
        assert_eq!(read["activity_id"], 2);
        assert_eq!(read["type_uid"], 600302);
        assert!(read["actor"]["user"]["name"].is_string());
        assert!(read["resources"][0]["name"].is_string());
    }
    let denied_read = reads
        .iter()
        .find(|o| o["resources"][0]["name"] == "/payroll/2026-11" && o["status_id"] == 2)
        .expect("bob's denied payroll read");
    assert_eq!(denied_read["actor"]["user"]["name"], "bob");
    assert_eq!(denied_read["src_endpoint"]["ip"], "198.51.100.23");

    let ecs = export(&dir, Format::Ecs);
    assert_eq!(ecs.len(), originals.len());
    for (e, line) in ecs.iter().zip(&originals) {
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["@timestamp"], original["ts"]);
        assert_eq!(e["event"]["action"], original["action"]);
        assert!(
            ["success", "failure", "unknown"].contains(&e["event"]["outcome"].as_str().unwrap())
        );
        assert!(e["event"]["category"]
            .as_array()
            .is_some_and(|c| !c.is_empty()));
        assert!(e["event"]["type"].as_array().is_some_and(|t| !t.is_empty()));
        assert_eq!(e["event"]["sequence"], original["seq"]);
        assert_eq!(e["user"]["name"], original["actor"]);
        assert_eq!(e["source"]["ip"], original["src_ip"]);
        assert_eq!(e["event"]["original"].as_str(), Some(line.as_str()));
        assert_eq!(e["ecs"]["version"], "8.11.0");
    }
    let ecs_login = ecs
        .iter()
        .find(|e| e["event"]["action"] == "login" && e["event"]["outcome"] == "failure")
        .expect("the denied login");
    assert_eq!(ecs_login["event"]["category"][0], "authentication");
    assert_eq!(ecs_login["event"]["type"][0], "start");
}
