//! TLS on a soliciting leaf link: a remote's `tls` table (nats-server's per-remote
//! `tls { cert_file key_file ca_file timeout handshake_first }`), loaded once at start-up
//! into a rustls `ClientConfig`. The accepting side's `[leafnodes.tls]` is the client port's
//! schema ([`crate::tls::TlsConfig`]). The I/O is `shell::tls_io`, shared by both roles.
//!
//! ```toml
//! [[leafnodes.remotes]]
//! urls = ["tls://hub.example:7422"]
//! [leafnodes.remotes.tls]
//! ca_file = "ca.pem"                 # the CA the hub's certificate must chain to
//! cert_file = "leaf-cert.pem"        # optional: a client certificate (hub `verify`)
//! key_file = "leaf-key.pem"
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::LeafConfigError;
use crate::auth::config::Seconds;

/// A remote's `tls` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteTlsConfig {
    /// PEM file with the CA certificates the hub's certificate must chain to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented to a hub that verifies leafs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Its private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Seconds the handshake may take (default 2, as nats-server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Start TLS before the hub's INFO (the hub must have `handshake_first` too).
    pub handshake_first: bool,
}

/// A remote's loaded TLS settings.
#[derive(Debug)]
pub struct RemoteTls {
    /// Roots, client certificate, protocol versions.
    pub config: Arc<rustls::ClientConfig>,
    /// Handshake before INFO.
    pub handshake_first: bool,
    /// Longest a handshake may take.
    pub timeout: Duration,
}

impl RemoteTlsConfig {
    /// Loads the files (start-up only); `key` is the table's dotted key for errors.
    pub fn load(&self, key: &str) -> Result<RemoteTls, LeafConfigError> {
        let bad = |field: &str, reason: String| LeafConfigError {
            key: format!("{key}.{field}"),
            reason,
        };
        let Some(ca) = &self.ca_file else {
            return Err(bad(
                "ca_file",
                "needed: the CA the hub's certificate is checked against".into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            crate::tls::read_certs("tls.ca_file", ca).map_err(|e| bad("ca_file", e.reason))?
        {
            roots
                .add(cert)
                .map_err(|e| bad("ca_file", format!("{}: not a usable CA: {e}", ca.display())))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("ca_file", format!("no usable TLS version: {e}")))?
            .with_root_certificates(roots);
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(keyf)) => {
                let certs = crate::tls::read_certs("tls.cert_file", cert)
                    .map_err(|e| bad("cert_file", e.reason))?;
                let k = crate::tls::read_key(keyf).map_err(|e| bad("key_file", e.reason))?;
                builder
                    .with_client_auth_cert(certs, k)
                    .map_err(|e| bad("key_file", format!("does not fit cert_file: {e}")))?
            }
            (Some(_), None) => return Err(bad("key_file", "needed with cert_file".into())),
            (None, Some(_)) => return Err(bad("cert_file", "needed with key_file".into())),
        };
        let secs = self
            .timeout
            .map_or(crate::tls::DEFAULT_HANDSHAKE_TIMEOUT_SECS, |s| s.0);
        if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
            return Err(bad(
                "timeout",
                format!("must be in (0, 3600] seconds, got {secs}"),
            ));
        }
        Ok(RemoteTls {
            config: Arc::new(config),
            handshake_first: self.handshake_first,
            timeout: Duration::from_secs_f64(secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn loads_and_names_the_bad_key() {
        let ok = RemoteTlsConfig {
            ca_file: Some(fixture("ca.pem")),
            cert_file: Some(fixture("client-cert.pem")),
            key_file: Some(fixture("client-key.pem")),
            ..Default::default()
        };
        assert!(ok.load("leafnodes.remotes[0].tls").is_ok());
        let no_ca = RemoteTlsConfig::default();
        assert_eq!(
            no_ca.load("leafnodes.remotes[0].tls").unwrap_err().key,
            "leafnodes.remotes[0].tls.ca_file"
        );
        let half = RemoteTlsConfig {
            ca_file: Some(fixture("ca.pem")),
            cert_file: Some(fixture("client-cert.pem")),
            ..Default::default()
        };
        assert_eq!(half.load("r.tls").unwrap_err().key, "r.tls.key_file");
        let parsed: RemoteTlsConfig =
            toml::from_str("ca_file = \"a.pem\"\nhandshake_first = true\n").unwrap();
        assert!(parsed.handshake_first);
        assert!(toml::from_str::<RemoteTlsConfig>("verify = true").is_err());
    }
}
