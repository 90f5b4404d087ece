//! A soliciting link's settings (sans-IO): hub URLs (`nats-leaf://user:pass@host:port`),
//! `.creds` files (user JWT + nkey seed; the seed signs the hub's nonce) and the reconnect
//! delay (bounded exponential backoff with jitter).

use std::time::Duration;

use base64::Engine as _;

/// nats-server's default leaf port.
pub const DEFAULT_LEAF_PORT: u16 = 7422;
/// First reconnect delay.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest reconnect delay (before jitter).
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// After the hub reported a loop, nats-server waits this long before soliciting again.
pub const LOOP_DELAY: Duration = Duration::from_secs(30);

/// Why a remote's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The URL is not `nats-leaf://`/`nats://` with a host.
    #[error("invalid leaf URL {0:?}: {1}")]
    Url(String, &'static str),
    /// The `.creds` file lacks a JWT or a seed.
    #[error("invalid credentials file: {0}")]
    Creds(&'static str),
}

/// One `[[leafnodes.remotes]]` entry, ready to dial.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// Hub URLs, tried in turn.
    pub urls: Vec<LeafUrl>,
    /// Local account bound to the link (`$G` until accounts land).
    pub account: String,
    /// `.creds` contents, when configured.
    pub creds: Option<std::sync::Arc<Creds>>,
    /// `deny_exports` / `deny_imports`.
    pub perms: super::perms::LinkPerms,
    /// TLS to the hub (the remote's `tls` table), when configured.
    pub tls: Option<std::sync::Arc<super::tls::RemoteTls>>,
}

/// One hub URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafUrl {
    /// Host name or address.
    pub host: String,
    /// Port (7422 when absent).
    pub port: u16,
    /// User from the URL.
    pub user: Option<String>,
    /// Password from the URL.
    pub pass: Option<String>,
    /// `tls://`: the link must be TLS (the remote's `tls` table says how).
    pub tls: bool,
}

impl LeafUrl {
    /// Parses `nats-leaf://[user[:pass]@]host[:port]` (also `nats://`, `leafnode://`, and
    /// `tls://` for a TLS link).
    pub fn parse(url: &str) -> Result<LeafUrl, RemoteError> {
        let err = |why| RemoteError::Url(url.to_string(), why);
        let tls = url.starts_with("tls://");
        let rest = ["nats-leaf://", "nats://", "leafnode://", "tls://"]
            .iter()
            .find_map(|p| url.strip_prefix(p))
            .ok_or_else(|| {
                if url.starts_with("wss://") || url.starts_with("ws://") {
                    err("websocket leaf links are not supported")
                } else {
                    err("expected nats-leaf://host:port or tls://host:port")
                }
            })?;
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (user, pass) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse().map_err(|_| err("bad port"))?)
            }
            _ => (hostport, DEFAULT_LEAF_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(err("missing host"));
        }
        Ok(LeafUrl {
            host: host.to_string(),
            port,
            user,
            pass,
            tls,
        })
    }

    /// `host:port` for connecting.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A user JWT and its nkey seed, from a `.creds` file.
#[derive(Clone)]
pub struct Creds {
    /// The user JWT sent in CONNECT.
    pub jwt: String,
    seed: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds").field("jwt", &self.jwt).finish()
    }
}

impl Creds {
    /// Parses the text of a `.creds` file (the JWT block, then the seed block).
    pub fn parse(text: &str) -> Result<Creds, RemoteError> {
        let mut blocks = Vec::new();
        let mut in_block = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("---") || line.starts_with("***") {
                if line.contains("BEGIN") {
                    in_block = true;
                } else if line.contains("END") {
                    in_block = false;
                }
                continue;
            }
            if in_block && !line.is_empty() {
                blocks.push(line.to_string());
            }
        }
        let jwt = blocks
            .iter()
            .find(|b| b.starts_with("ey"))
            .ok_or(RemoteError::Creds("no user JWT"))?
            .clone();
        let seed = blocks
            .iter()
            .find(|b| b.starts_with("SU"))
            .ok_or(RemoteError::Creds("no user nkey seed"))?
            .clone();
        nkeys::KeyPair::from_seed(&seed).map_err(|_| RemoteError::Creds("bad nkey seed"))?;
        Ok(Creds { jwt, seed })
    }

    /// Signs the hub's nonce with the seed: base64url without padding, as nats-server expects.
    pub fn sign(&self, nonce: &str) -> String {
        let kp = nkeys::KeyPair::from_seed(&self.seed).expect("seed checked at parse");
        let sig = kp.sign(nonce.as_bytes()).expect("a seed key pair can sign");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    }
}

/// Reconnect delay after `failures` consecutive failed attempts (0 = the first retry):
/// 250 ms doubling to at most 2 s, plus up to a quarter more of jitter (`jitter` in 0..1),
/// so links of many leafs to one restarted hub do not come back in lockstep.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let base = BACKOFF_BASE
        .saturating_mul(1u32 << failures.min(8))
        .min(BACKOFF_MAX);
    base + base.mul_f64(jitter.clamp(0.0, 1.0) / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = LeafUrl::parse("nats-leaf://127.0.0.1:7422").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.user), ("127.0.0.1", 7422, None));
        let u = LeafUrl::parse("nats-leaf://al:s3cret@hub.example:7000").unwrap();
        assert_eq!(u.user.as_deref(), Some("al"));
        assert_eq!(u.pass.as_deref(), Some("s3cret"));
        assert_eq!(u.addr(), "hub.example:7000");
        assert_eq!(LeafUrl::parse("nats://h").unwrap().port, DEFAULT_LEAF_PORT);
        assert!(LeafUrl::parse("tls://h:1").unwrap().tls);
        assert!(!LeafUrl::parse("nats-leaf://h:1").unwrap().tls);
        assert!(LeafUrl::parse("wss://h:1").is_err());
        assert!(LeafUrl::parse("http://h:1").is_err());
        assert!(LeafUrl::parse("nats-leaf://:1").is_err());
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(30, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(30, 1.0), Duration::from_millis(2500));
    }

    #[test]
    fn creds_sign_nonce() {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJhbGciOi.fake.jwt\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\nNKEY Seed printed below\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let c = Creds::parse(&text).unwrap();
        assert_eq!(c.jwt, "eyJhbGciOi.fake.jwt");
        let sig = c.sign("abcdefg");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        kp.verify(b"abcdefg", &raw).unwrap();
        assert!(Creds::parse("nothing").is_err());
    }
}
