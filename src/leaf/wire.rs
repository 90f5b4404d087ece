//! Leaf link framing (what we send): `LS+`/`LS-`, `LMSG`/`HMSG` in their leaf form, and the
//! JSON of the hub's `INFO` and the soliciting side's `CONNECT`, with nats-server 2.15.1's
//! field names.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

fn put_num(out: &mut BytesMut, n: usize) {
    let mut b = itoa::Buffer::new();
    out.put_slice(b.format(n).as_bytes());
}

/// `LS+ <subject>` or `LS+ <subject> <queue> <weight>`.
pub fn write_ls_plus(out: &mut BytesMut, subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.put_slice(b"LS+ ");
    out.put_slice(subject);
    if let Some((q, w)) = queue {
        out.put_u8(b' ');
        out.put_slice(q);
        out.put_u8(b' ');
        put_num(out, w as usize);
    }
    out.put_slice(b"\r\n");
}

/// `LS- <subject>` or `LS- <subject> <queue>`.
pub fn write_ls_minus(out: &mut BytesMut, subject: &[u8], queue: Option<&[u8]>) {
    out.put_slice(b"LS- ");
    out.put_slice(subject);
    if let Some(q) = queue {
        out.put_u8(b' ');
        out.put_slice(q);
    }
    out.put_slice(b"\r\n");
}

/// One message across the link: `LMSG <subject> [<reply>] <size>`, with queue groups
/// `LMSG <subject> + <reply> <q>... <size>` or `LMSG <subject> | <q>... <size>`; with
/// headers `HMSG` in the same positions ending `<hdr_size> <total_size>`.
pub fn write_lmsg(
    out: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[Bytes],
    header_len: usize,
    message: &[u8],
) {
    out.reserve(subject.len() + message.len() + 48);
    out.put_slice(if header_len > 0 { b"HMSG " } else { b"LMSG " });
    out.put_slice(subject);
    out.put_u8(b' ');
    if queues.is_empty() {
        if let Some(r) = reply {
            out.put_slice(r);
            out.put_u8(b' ');
        }
    } else {
        match reply {
            Some(r) => {
                out.put_slice(b"+ ");
                out.put_slice(r);
                out.put_u8(b' ');
            }
            None => out.put_slice(b"| "),
        }
        for q in queues {
            out.put_slice(q);
            out.put_u8(b' ');
        }
    }
    if header_len > 0 {
        put_num(out, header_len);
        out.put_u8(b' ');
    }
    put_num(out, message.len());
    out.put_slice(b"\r\n");
    out.put_slice(message);
    out.put_slice(b"\r\n");
}

/// The prefix of a JetStream ack reply.
const JS_ACK_PREFIX: &[u8] = b"$JS.ACK.";

/// Where the `@` of a JetStream delivery's encoded reply is, if `reply` has that form:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>@<stored subject>`
/// (nats-server's `jsAckDeliverIdx`: the first `@` after the eighth dot, since names and
/// subjects may hold `@` too).
pub fn js_ack_deliver_idx(reply: &[u8]) -> Option<usize> {
    if reply.len() <= JS_ACK_PREFIX.len() || !reply.starts_with(JS_ACK_PREFIX) {
        return None;
    }
    let mut dots = 0;
    for (i, b) in reply.iter().enumerate() {
        match b {
            b'.' => dots += 1,
            b'@' if dots >= 8 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A JetStream delivery crosses a link with the subscriber's (delivery) subject as the
/// LMSG subject and the stored subject after an `@` in its ack reply, as nats-server
/// writes it: puts the reply to send for a delivery shown as `shown` into `scratch`; false
/// when the reply goes unchanged (not an ack reply, or already encoded).
pub fn encode_js_deliver(reply: &[u8], shown: &[u8], scratch: &mut Vec<u8>) -> bool {
    if !reply.starts_with(JS_ACK_PREFIX) || js_ack_deliver_idx(reply).is_some() {
        return false;
    }
    scratch.clear();
    scratch.extend_from_slice(reply);
    scratch.push(b'@');
    scratch.extend_from_slice(shown);
    true
}

/// The reverse of [`encode_js_deliver`] on an incoming LMSG's reply: (ack reply, stored
/// subject to show) when it carries one.
pub fn decode_js_deliver(reply: &Bytes) -> Option<(Bytes, Bytes)> {
    let at = js_ack_deliver_idx(reply)?;
    if at + 1 >= reply.len() {
        return None;
    }
    Some((reply.slice(..at), reply.slice(at + 1..)))
}

/// The `INFO` a hub sends on its leaf port. A nats-server leaf drops the link unless
/// `client_id` is non-zero and `leafnode_urls` is present. `compression` is always "off"
/// (natrix has no S2): a nats-server leaf configured for S2 then settles on "off" too
/// (nats-server's `selectCompressionMode`) and sends no compression INFO.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LeafInfo {
    /// The hub's server id.
    pub server_id: String,
    /// The hub's server name.
    #[serde(default)]
    pub server_name: String,
    /// Version string.
    #[serde(default)]
    pub version: String,
    /// Protocol level.
    #[serde(default)]
    pub proto: u32,
    /// Listen host of the leaf port.
    #[serde(default)]
    pub host: String,
    /// The leaf port.
    #[serde(default)]
    pub port: u16,
    /// Headers supported.
    #[serde(default)]
    pub headers: bool,
    /// Credentials are checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    /// The link must switch to TLS after this INFO.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    /// The hub checks the leaf's certificate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    /// Largest message.
    #[serde(default)]
    pub max_payload: usize,
    /// Non-zero link id.
    #[serde(default)]
    pub client_id: u64,
    /// Challenge the leaf signs with an nkey or `.creds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// JetStream enabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jetstream: bool,
    /// JetStream domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Cluster name (only a clustered hub sends one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Leaf URLs of the hub's cluster.
    #[serde(default)]
    pub leafnode_urls: Vec<String>,
    /// The hub's compression mode (`off`, `accept`, `s2_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// The only compression mode natrix negotiates (no S2 codec), in INFO and CONNECT.
pub const COMPRESSION_OFF: &str = "off";

/// The `CONNECT` a soliciting leaf sends (and a hub reads).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LeafConnect {
    /// Version string.
    #[serde(default)]
    pub version: String,
    /// User (from the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password (from the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// User JWT (from `.creds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Token (a URL with a user name only sends it as the token too, as nats-server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User nkey (public key) whose seed signed the nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Signature of the hub's nonce, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Leaf's server id.
    #[serde(default)]
    pub server_id: String,
    /// Leaf's server name.
    #[serde(default)]
    pub name: String,
    /// Leaf's cluster name (a standalone server uses its name).
    #[serde(default)]
    pub cluster: String,
    /// Headers supported.
    #[serde(default)]
    pub headers: bool,
    /// JetStream enabled on the leaf.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jetstream: bool,
    /// The leaf's JetStream domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Always "off" from natrix (no S2): the hub then compresses nothing either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress_mode: Option<String>,
    /// Subjects the leaf will not take (its `deny_imports`): the hub does not send them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_pub: Vec<String>,
    /// The hub account the leaf asks to be bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_account: Option<String>,
    /// Leaf protocol level.
    #[serde(default)]
    pub protocol: u32,
    /// Set by clients only: a client on the leaf port is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Set by gateways only: refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// Writes `VERB <json>\r\n`.
pub fn write_json_line<T: Serialize>(out: &mut BytesMut, verb: &str, body: &T) {
    out.put_slice(verb.as_bytes());
    out.put_u8(b' ');
    out.put_slice(&serde_json::to_vec(body).expect("leaf JSON serialises"));
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lmsg(subject: &str, reply: Option<&str>, queues: &[&str], hdr: usize, msg: &str) -> String {
        let mut out = BytesMut::new();
        let q: Vec<Bytes> = queues
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        write_lmsg(
            &mut out,
            subject.as_bytes(),
            reply.map(str::as_bytes),
            &q,
            hdr,
            msg.as_bytes(),
        );
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn lmsg_forms_match_nats_server() {
        // As captured from nats-server 2.15.1 on a leaf link.
        assert_eq!(lmsg("foo", None, &[], 0, "hi"), "LMSG foo 2\r\nhi\r\n");
        assert_eq!(
            lmsg("foo", Some("_INBOX.x.1"), &[], 0, "hello"),
            "LMSG foo _INBOX.x.1 5\r\nhello\r\n"
        );
        assert_eq!(
            lmsg("qq", None, &["grp"], 0, "ab"),
            "LMSG qq | grp 2\r\nab\r\n"
        );
        assert_eq!(
            lmsg("qq", Some("rep"), &["grp", "g2"], 0, "cd"),
            "LMSG qq + rep grp g2 2\r\ncd\r\n"
        );
        assert_eq!(
            lmsg("foo", None, &[], 12, "NATS/1.0\r\n\r\nhi"),
            "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn js_deliver_reply_round_trips() {
        let ack = b"$JS.ACK.O.c@x.1.5.5.1700000000.0";
        // An `@` before the eighth dot belongs to a name.
        assert_eq!(js_ack_deliver_idx(ack), None);
        let mut scratch = Vec::new();
        assert!(encode_js_deliver(ack, b"o.5", &mut scratch));
        assert_eq!(&scratch[..], b"$JS.ACK.O.c@x.1.5.5.1700000000.0@o.5");
        let encoded = Bytes::from(scratch.clone());
        let (reply, shown) = decode_js_deliver(&encoded).unwrap();
        assert_eq!((&reply[..], &shown[..]), (&ack[..], &b"o.5"[..]));
        // Not twice, not for other replies, nothing after a trailing `@`.
        assert!(!encode_js_deliver(&encoded, b"o.5", &mut scratch));
        assert!(!encode_js_deliver(b"_INBOX.a", b"o.5", &mut scratch));
        assert_eq!(decode_js_deliver(&Bytes::from_static(b"_INBOX.a@b")), None);
        assert_eq!(
            decode_js_deliver(&Bytes::from_static(b"$JS.ACK.O.c.1.5.5.1.0@")),
            None
        );
    }

    #[test]
    fn ls_lines() {
        let mut out = BytesMut::new();
        write_ls_plus(&mut out, b"foo", None);
        write_ls_plus(&mut out, b"w", Some((b"g", 2)));
        write_ls_minus(&mut out, b"foo", None);
        write_ls_minus(&mut out, b"w", Some(b"g"));
        assert_eq!(&out[..], b"LS+ foo\r\nLS+ w g 2\r\nLS- foo\r\nLS- w g\r\n");
    }

    #[test]
    fn connect_omits_absent_credentials() {
        let c = LeafConnect {
            version: "2.11.0".into(),
            server_id: "N".into(),
            name: "a".into(),
            cluster: "a".into(),
            headers: true,
            compress_mode: Some(COMPRESSION_OFF.into()),
            remote_account: Some("$G".into()),
            protocol: 3,
            ..Default::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("user") && !json.contains("jwt") && !json.contains("lang"));
        assert!(json.contains("\"compress_mode\":\"off\""));
    }
}
