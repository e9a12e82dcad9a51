//! RFC 5424 over TLS (RFC 5425) to rsyslog's imtcp, and RELP over TLS to imrelp, with a CA
//! generated here: the receiver is verified, and one signed by another CA is refused.

mod ship_support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use ship_support::{local_records, write_trail, Input, Rsyslog, TlsFiles};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;
use tracing_audit::ship::{Destination, ShipErrorKind, Shipper, Tls};

/// A CA and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
fn pki(dir: &Path, name: &str) -> TlsFiles {
    std::fs::create_dir_all(dir).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server
        .distinguished_name
        .push(DnType::CommonName, "central.test");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    let mut client = CertificateParams::new(vec!["app.test".to_owned()]).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "app.test");
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    let files = TlsFiles {
        ca: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}-server.pem")),
        key: dir.join(format!("{name}-server-key.pem")),
        client_cert: dir.join(format!("{name}-client.pem")),
        client_key: dir.join(format!("{name}-client-key.pem")),
    };
    std::fs::write(&files.client_cert, client_cert.pem()).unwrap();
    std::fs::write(&files.client_key, client_key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, server_cert.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    files
}

fn to(scheme: &str, port: u16) -> Destination {
    format!("{scheme}://127.0.0.1:{port}").parse().unwrap()
}

fn quick(trail: &Path, to: Destination, ca: &Path) -> Shipper {
    Shipper::new(trail, to)
        .tls(Tls::ca_file(ca))
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
}

#[test]
fn rfc5424_over_tls_to_imtcp_arrives_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 2_000, 256 << 10);
    let written = local_records(&trail);
    let pki = pki(&tmp.path().join("pki"), "central");
    let central = Rsyslog::start(
        &tmp.path().join("central"),
        Input::TcpTls(pki.clone()),
        64 * 1024,
    );
    let h = ship_support::until_idle(
        quick(&trail, to("syslog+tls", central.port), &pki.ca),
        Duration::from_secs(60),
        &central,
    );
    assert_eq!(
        h.acknowledged as usize,
        ship_support::lines(&written),
        "{h:?}"
    );
    ship_support::assert_arrived_intact(&central, &written);
}

#[test]
fn relp_over_tls_with_a_client_certificate_to_imrelp_arrives_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 2_000, 256 << 10);
    let written = local_records(&trail);
    let pki = pki(&tmp.path().join("pki"), "central");
    let central = Rsyslog::start(
        &tmp.path().join("central"),
        Input::RelpTls(pki.clone()),
        64 * 1024,
    );
    // imrelp with certificates requires the client's, signed by the same CA.
    let shipper = Shipper::new(&trail, to("relp", central.port))
        .tls(Tls::ca_file(&pki.ca).client_cert(&pki.client_cert, &pki.client_key))
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(50), Duration::from_millis(200));
    let h = ship_support::until_idle(shipper, Duration::from_secs(60), &central);
    assert_eq!(
        h.acknowledged as usize,
        ship_support::lines(&written),
        "{h:?}"
    );
    ship_support::assert_arrived_intact(&central, &written);
}

#[test]
fn a_server_certificate_not_signed_by_the_given_ca_is_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 10, 256 << 10);
    let real = pki(&tmp.path().join("pki"), "central");
    let other = pki(&tmp.path().join("pki"), "impostor");
    let central = Rsyslog::start(&tmp.path().join("central"), Input::TcpTls(real), 64 * 1024);
    let shipper = quick(&trail, to("syslog+tls", central.port), &other.ca)
        .spawn()
        .unwrap();
    ship_support::wait_until(
        Duration::from_secs(30),
        || shipper.health().errors >= 2,
        || format!("{:?}", shipper.health()),
    );
    let h = shipper.shutdown(Duration::ZERO);
    assert_eq!((h.shipped, h.acknowledged, h.sessions), (0, 0, 0), "{h:?}");
    let err = h.last_error.unwrap_or_default();
    assert!(
        err.contains("TLS handshake") && err.contains("UnknownIssuer"),
        "unclear error: {err}"
    );
    assert_eq!(
        std::fs::metadata(central.audit_log())
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );

    // Configuration that cannot verify anything is refused before anything starts.
    let e = Shipper::new(&trail, to("syslog+tls", central.port))
        .spawn()
        .unwrap_err();
    assert_eq!(e.kind(), ShipErrorKind::Config);
    let e = quick(
        &trail,
        to("syslog+tls", central.port),
        &trail.join("missing.pem"),
    )
    .spawn()
    .unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
