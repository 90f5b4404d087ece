//! `[tls]`: TLS on client connections with rustls. This module is the configuration half: the
//! TOML schema (nats-server's `tls { ... }` block, key for key) and the loading of certificates
//! and keys into a `rustls::ServerConfig`, done once at start-up before any core runs. The I/O
//! half (moving bytes through a `rustls::ServerConnection`) is `shell::tls_io`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::{Deserialize, Serialize};

use crate::auth::config::Seconds;

/// nats-server's TLS handshake timeout when `timeout` is not given.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: f64 = 2.0;

/// `[tls]`: the server's certificate and key, the CA client certificates are checked against,
/// and how the handshake happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates client certificates must chain to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Require a client certificate signed by `ca_file` (mutual TLS).
    #[serde(default)]
    pub verify: bool,
    /// Map the verified client certificate to a user of `[authorization] users` (its email
    /// SANs, then DNS SANs, then its subject); implies `verify`.
    #[serde(default)]
    pub verify_and_map: bool,
    /// TLS handshake before the server's INFO (clients: async-nats `tls_first()`, nats.go
    /// `TLSHandshakeFirst()`); otherwise INFO goes out in plaintext and the client starts TLS.
    #[serde(default)]
    pub handshake_first: bool,
    /// Seconds the handshake may take (default 2, as nats-server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
}

/// A `[tls]` value that cannot be used: the dotted key to blame and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsConfigError {
    /// Dotted key, e.g. `tls.key_file`.
    pub key: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn err(key: &'static str, reason: String) -> TlsConfigError {
    TlsConfigError { key, reason }
}

/// What every core needs to serve TLS: the loaded rustls configuration and the flow.
#[derive(Debug)]
pub struct TlsSetup {
    /// Certificates, key and client verifier, shared by every connection of every core.
    pub config: Arc<rustls::ServerConfig>,
    /// Handshake before INFO.
    pub handshake_first: bool,
    /// Longest a handshake may take before the connection is closed.
    pub timeout: Duration,
    /// A client certificate is required (advertised as `tls_verify`).
    pub verify: bool,
    /// The verified certificate names the user (`verify_and_map`).
    pub map_user: bool,
}

impl TlsConfig {
    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        let secs = self.timeout.map_or(DEFAULT_HANDSHAKE_TIMEOUT_SECS, |s| s.0);
        Duration::from_secs_f64(secs)
    }

    /// Checks the values and loads the files: certificates, key (and that it matches the
    /// certificate), CA. Reads files, so it runs at start-up only.
    pub fn load(&self) -> Result<TlsSetup, TlsConfigError> {
        if let Some(t) = self.timeout {
            if !(t.0.is_finite() && t.0 > 0.0 && t.0 <= 3600.0) {
                return Err(err(
                    "tls.timeout",
                    format!(
                        "must be a number of seconds above 0 and at most 3600, got {}",
                        t.0
                    ),
                ));
            }
        }
        let verify = self.verify || self.verify_and_map;
        let certs = read_certs("tls.cert_file", &self.cert_file)?;
        let key = read_key(&self.key_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("tls", format!("no usable TLS version: {e}")))?;
        let builder = match (&self.ca_file, verify) {
            (None, true) => {
                let key = if self.verify {
                    "tls.verify"
                } else {
                    "tls.verify_and_map"
                };
                return Err(err(
                    key,
                    "needs tls.ca_file: the CA client certificates are checked against".to_owned(),
                ));
            }
            (None, false) => builder.with_no_client_auth(),
            (Some(ca), _) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs("tls.ca_file", ca)? {
                    roots.add(cert).map_err(|e| {
                        err(
                            "tls.ca_file",
                            format!("{}: not a usable CA certificate: {e}", ca.display()),
                        )
                    })?;
                }
                if verify {
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                            .build()
                            .map_err(|e| err("tls.ca_file", format!("{}: {e}", ca.display())))?;
                    builder.with_client_cert_verifier(verifier)
                } else {
                    // nats-server without `verify` asks for no client certificate.
                    builder.with_no_client_auth()
                }
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            err(
                "tls.key_file",
                format!(
                    "{} cannot be used with the certificate of {}: {e}",
                    self.key_file.display(),
                    self.cert_file.display()
                ),
            )
        })?;
        Ok(TlsSetup {
            config: Arc::new(config),
            handshake_first: self.handshake_first,
            timeout: self.handshake_timeout(),
            verify,
            map_user: self.verify_and_map,
        })
    }
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| err(key, format!("cannot read {}: {e}", path.display())))
}

pub(crate) fn read_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let pem = read_file(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(key, format!("{}: bad PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(
            key,
            format!(
                "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let pem = read_file("tls.key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        err(
            "tls.key_file",
            format!("{}: no usable PEM private key: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    fn cfg() -> TlsConfig {
        TlsConfig {
            cert_file: fixture("server-cert.pem"),
            key_file: fixture("server-key.pem"),
            ca_file: Some(fixture("ca.pem")),
            verify: true,
            verify_and_map: false,
            handshake_first: false,
            timeout: None,
        }
    }

    #[test]
    fn fixtures_load() {
        let setup = cfg().load().unwrap();
        assert!(setup.verify);
        assert_eq!(setup.timeout, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let mut c = cfg();
        c.cert_file = fixture("missing.pem");
        let e = c.load().unwrap_err();
        assert_eq!(e.key, "tls.cert_file");
        assert!(e.reason.contains("missing.pem"), "{e}");

        let mut c = cfg();
        c.key_file = fixture("client-key.pem");
        let e = c.load().unwrap_err();
        assert_eq!(e.key, "tls.key_file", "{e}");

        let mut c = cfg();
        c.key_file = fixture("server-cert.pem");
        assert_eq!(c.load().unwrap_err().key, "tls.key_file");

        let mut c = cfg();
        c.cert_file = fixture("server-key.pem");
        let e = c.load().unwrap_err();
        assert_eq!(e.key, "tls.cert_file");
        assert!(e.reason.contains("no PEM certificate"), "{e}");

        let mut c = cfg();
        c.ca_file = None;
        assert_eq!(c.load().unwrap_err().key, "tls.verify");

        let mut c = cfg();
        c.timeout = Some(Seconds(0.0));
        assert_eq!(c.load().unwrap_err().key, "tls.timeout");
    }

    #[test]
    fn shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tls.toml");
        let text = std::fs::read_to_string(path).unwrap();
        // Its paths are relative to the repository root.
        let text = text.replace(
            "\"tests/",
            &format!("\"{}/tests/", env!("CARGO_MANIFEST_DIR")),
        );
        let cfg = crate::config::Config::from_toml_str(&text, "tls.toml").unwrap();
        assert!(cfg.tls.is_some());
    }

    #[test]
    fn config_errors_name_file_line_and_key() {
        let text = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            fixture("server-cert.pem"),
            fixture("ca.pem"),
        );
        let e = crate::config::Config::from_toml_str(&text, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:3: tls.key_file: "), "{e}");
        let text = "[tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"k.pem\"\n";
        let e = crate::config::Config::from_toml_str(text, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml:2: tls.cert_file: cannot read /nonexistent/cert.pem"),
            "{e}"
        );
        let e = crate::config::Config::from_toml_str("[tls]\nverify = true\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cert_file"), "{e}");
    }
}
