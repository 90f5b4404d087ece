//! The JSON bodies of `INFO` (server -> client) and `CONNECT` (client -> server).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Deserializer, Serialize};

/// The 2.x protocol version we advertise (clients gate features on it). Deliberately not the
/// reference's 2.15.1: clients would then use 2.12+ features natrix refuses (atomic/batched
/// publish, counters, schedules). Raise it only with the features (also `_nats.ver` in
/// stream/consumer metadata follows it).
pub const ADVERTISED_VERSION: &str = "2.11.0";

/// What the server tells each client on accept (and again after CONNECT for `protocol:1`).
/// Field names and omission rules match nats-server 2.15.1.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerInfo {
    /// nkey-style server id (see [`new_server_id`]).
    pub server_id: String,
    /// Configured server name, or the server id.
    pub server_name: String,
    /// Advertised server version; clients gate features on it.
    pub version: String,
    /// Protocol level; `1` enables async INFO and no-echo in clients.
    pub proto: u32,
    /// Build commit (cosmetic).
    pub git_commit: String,
    /// Toolchain string (cosmetic; nats-server reports its Go version).
    pub go: String,
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Must be true: clients refuse headers (and no-responders) otherwise.
    pub headers: bool,
    /// Clients must authenticate in CONNECT; omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    /// Clients must speak TLS (`[tls]` configured); omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    /// Clients must present a certificate (`tls.verify`); omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    /// Largest payload (headers included) a client may publish.
    pub max_payload: usize,
    /// JetStream enabled; omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub jetstream: bool,
    /// Per-connection id.
    pub client_id: u64,
    /// Peer IP as seen by the server.
    pub client_ip: String,
    /// Per-connection challenge an nkey user signs; only when nkey users exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// JetStream domain, when configured (as nats-server's client INFO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// JetStream API level, when JetStream is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_lvl: Option<u32>,
    /// Set in the post-CONNECT INFO only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_info: Option<bool>,
    /// Account the connection is bound to; post-CONNECT INFO only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_account: Option<String>,
    /// Lame duck mode: the server is about to close this connection (reconnect elsewhere).
    #[serde(rename = "ldm", skip_serializing_if = "std::ops::Not::not")]
    pub lame_duck_mode: bool,
}

/// The client's `CONNECT` options; unknown fields are ignored and absent (or `null`) fields
/// take nats-server's defaults: `verbose`, `pedantic`, `echo` true, the rest false/None/0.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConnectOptions {
    /// Send `+OK` after every CONNECT/SUB/UNSUB/PUB.
    #[serde(deserialize_with = "null_as_true")]
    pub verbose: bool,
    /// Report invalid publish subjects (the publish still goes through).
    #[serde(deserialize_with = "null_as_true")]
    pub pedantic: bool,
    /// Deliver the connection's own publishes to its own subscriptions.
    #[serde(deserialize_with = "null_as_true")]
    pub echo: bool,
    /// Client understands HPUB/HMSG.
    #[serde(deserialize_with = "null_as_false")]
    pub headers: bool,
    /// Client wants 503 statuses for requests nobody answers (requires `headers`).
    #[serde(deserialize_with = "null_as_false")]
    pub no_responders: bool,
    /// Client connection name (monitoring/logs).
    pub name: Option<String>,
    /// Client library language.
    pub lang: Option<String>,
    /// Client library version.
    pub version: Option<String>,
    /// Client protocol level: 0 or 1, anything else is rejected by the session.
    #[serde(deserialize_with = "null_as_zero")]
    pub protocol: i64,
    /// Username for user/password auth.
    pub user: Option<String>,
    /// Password for user/password auth.
    pub pass: Option<String>,
    /// Token auth.
    pub auth_token: Option<String>,
    /// nkey public key for nkey auth.
    pub nkey: Option<String>,
    /// Signature of the INFO nonce by the nkey (base64url raw or standard base64).
    pub sig: Option<String>,
    /// User JWT (operator mode); `sig` then signs the nonce with the JWT subject's key.
    pub jwt: Option<String>,
    /// Client requires TLS.
    #[serde(deserialize_with = "null_as_false")]
    pub tls_required: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            user: None,
            pass: None,
            auth_token: None,
            nkey: None,
            sig: None,
            jwt: None,
            tls_required: false,
        }
    }
}

// Go's encoding/json leaves a field at its prior (default) value on `null`; do the same.
fn null_as_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

fn null_as_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(0))
}

/// RFC 4648 base32 alphabet, as used by nkeys.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// nkeys prefix byte for server public keys; encodes to a leading 'N'.
const NKEY_PREFIX_SERVER: u8 = 13 << 3;

/// A fresh nkey-style server id: 56 chars, starting with 'N', base32 alphabet [A-Z2-7].
/// It is a well-formed nkey server public key (prefix, 32 random bytes, CRC-16) so tools
/// that validate server ids accept it.
pub fn new_server_id() -> String {
    let mut raw = [0u8; 35];
    raw[0] = NKEY_PREFIX_SERVER;
    seeded_rng().fill_bytes(&mut raw[1..33]);
    let crc = crc16_xmodem(&raw[..33]);
    raw[33..].copy_from_slice(&crc.to_le_bytes());
    let id = base32_encode(&raw);
    debug_assert!(id.len() == 56 && id.starts_with('N'));
    id
}

/// A per-call RNG seeded from std's per-process random hash keys, the clock and a counter
/// (rand's OS entropy feature is not enabled in this crate).
fn seeded_rng() -> SmallRng {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    SmallRng::seed_from_u64(hasher.finish())
}

/// CRC-16/XMODEM (poly 0x1021, init 0), the checksum nkeys append.
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Unpadded base32 (RFC 4648 alphabet).
fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32_ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32_ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ConnectOptions {
        serde_json::from_str(json).expect("valid CONNECT")
    }

    #[test]
    fn connect_defaults_match_nats_server() {
        let o = parse("{}");
        assert!(o.verbose && o.pedantic && o.echo);
        assert!(!o.headers && !o.no_responders && !o.tls_required);
        assert_eq!(o.protocol, 0);
        assert!(o.name.is_none() && o.user.is_none() && o.pass.is_none());
        let d = ConnectOptions::default();
        assert!(d.verbose && d.pedantic && d.echo && !d.headers && d.auth_token.is_none());
    }

    #[test]
    fn connect_from_nats_py() {
        let o = parse(
            r#"{"echo": true, "headers": true, "lang": "python3", "name": "probe-py", "no_responders": true, "pedantic": false, "protocol": 1, "verbose": false, "version": "2.16.0"}"#,
        );
        assert!(!o.verbose && !o.pedantic && o.echo && o.headers && o.no_responders);
        assert_eq!(o.protocol, 1);
        assert_eq!(o.lang.as_deref(), Some("python3"));
        assert_eq!(o.name.as_deref(), Some("probe-py"));
        assert_eq!(o.version.as_deref(), Some("2.16.0"));
    }

    #[test]
    fn connect_ignores_unknown_fields_and_nulls() {
        let o = parse(
            r#"{"verbose":null,"echo":false,"user":"u","pass":"p","auth_token":null,"jwt":"x","sig":"y","tls_required":true,"protocol":null,"nested":{"a":[1]}}"#,
        );
        assert!(o.verbose && !o.echo && o.tls_required);
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(o.pass.as_deref(), Some("p"));
        assert_eq!(o.auth_token, None);
        assert_eq!(o.protocol, 0);
        assert!(serde_json::from_str::<ConnectOptions>("{\"verbose\":\"yes\"}").is_err());
        assert!(serde_json::from_str::<ConnectOptions>("not json").is_err());
    }

    fn base32_decode(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes() {
            let v = BASE32_ALPHABET
                .iter()
                .position(|&a| a == c)
                .expect("base32 char") as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn checksum_and_base32_known_vectors() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b""), "");
        assert_eq!(base32_decode("MZXW6YTBOI"), b"foobar");
    }

    #[test]
    fn server_ids_are_valid_nkeys() {
        let a = new_server_id();
        let b = new_server_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 56);
            assert!(id.starts_with('N'));
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
            let raw = base32_decode(id);
            assert_eq!(raw.len(), 35);
            assert_eq!(raw[0], NKEY_PREFIX_SERVER);
            assert_eq!(crc16_xmodem(&raw[..33]).to_le_bytes(), [raw[33], raw[34]]);
        }
    }

    #[test]
    fn advertised_version_is_2x() {
        assert!(ADVERTISED_VERSION.starts_with("2."));
    }
}
