//! TLS for the shipper's connections: the server must present a certificate chaining to the
//! configured CA and naming the host; a client certificate is optional.

use super::error::{ShipError, ShipErrorKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to check the receiver, and how to prove who the shipper is.
///
/// There is no way to turn certificate verification off: a shipper that would send the audit
/// trail to whoever answers is not a configuration this crate offers.
///
/// ```no_run
/// use tracing_audit::ship::Tls;
///
/// let tls = Tls::ca_file("/etc/ssl/central-ca.pem")
///     .client_cert("/etc/myapp/ship.pem", "/etc/myapp/ship-key.pem");
/// # let _ = tls;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Tls {
    ca: PathBuf,
    client: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
}

impl Tls {
    /// Trusts the certificates in the PEM file `ca` (and nothing else) to sign the server's.
    pub fn ca_file(ca: impl Into<PathBuf>) -> Self {
        Tls {
            ca: ca.into(),
            client: None,
            server_name: None,
        }
    }

    /// Presents the certificate chain in `cert` (PEM) with the private key in `key` (PEM,
    /// PKCS#8, PKCS#1 or SEC1) to servers that ask for one.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client = Some((cert.into(), key.into()));
        self
    }

    /// The name the server's certificate must carry, when it differs from the host connected to.
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.to_owned());
        self
    }

    pub(crate) fn name_override(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Reads the PEM files and builds the rustls configuration.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, ShipError> {
        let mut roots = RootCertStore::empty();
        let cas = read_certs(&self.ca)?;
        if cas.is_empty() {
            return Err(ShipError::new(
                ShipErrorKind::Config,
                format!("no certificate in the CA file {}", self.ca.display()),
            ));
        }
        for ca in cas {
            roots.add(ca).map_err(|e| {
                ShipError::with_source(
                    ShipErrorKind::Config,
                    format!("unusable CA certificate in {}", self.ca.display()),
                    e,
                )
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ShipError::with_source(ShipErrorKind::Config, "TLS versions", e))?
            .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                if chain.is_empty() {
                    return Err(ShipError::new(
                        ShipErrorKind::Config,
                        format!("no certificate in {}", cert.display()),
                    ));
                }
                builder
                    .with_client_auth_cert(chain, read_key(key)?)
                    .map_err(|e| {
                        ShipError::with_source(
                            ShipErrorKind::Config,
                            format!(
                                "the client certificate {} does not fit the key {}",
                                cert.display(),
                                key.display()
                            ),
                            e,
                        )
                    })?
            }
        };
        Ok(Arc::new(config))
    }
}

fn open(path: &Path) -> Result<BufReader<File>, ShipError> {
    crate::trail::open::open_regular(path)
        .map(BufReader::new)
        .map_err(|e| {
            ShipError::with_source(
                ShipErrorKind::Config,
                format!("cannot read {}", path.display()),
                e,
            )
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ShipError> {
    rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ShipError::with_source(
                ShipErrorKind::Config,
                format!("{} is not a PEM certificate file", path.display()),
                e,
            )
        })
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ShipError> {
    match rustls_pemfile::private_key(&mut open(path)?) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(ShipError::new(
            ShipErrorKind::Config,
            format!("no private key in {}", path.display()),
        )),
        Err(e) => Err(ShipError::with_source(
            ShipErrorKind::Config,
            format!("{} is not a PEM private key file", path.display()),
            e,
        )),
    }
}
