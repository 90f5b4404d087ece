//! Server -> client framing (`MSG`, `HMSG`, `-ERR`, `INFO`, ...), appended to an output buffer.
//!
//! Hot-path encoders reserve once and copy slices; numbers go through `itoa`, never `format!`.

use bytes::{BufMut, BytesMut};

use super::info::ServerInfo;

/// Keepalive probe, sent by the server and answered by clients.
pub const PING: &[u8] = b"PING\r\n";
/// Answer to a client `PING`.
pub const PONG: &[u8] = b"PONG\r\n";
/// Acknowledgement for clients that asked for `verbose` mode.
pub const OK: &[u8] = b"+OK\r\n";

/// Header block of a 503 no-responders status, up to the `Nats-Subject` value.
const NO_RESPONDERS_HEAD: &[u8] = b"NATS/1.0 503\r\nNats-Subject: ";

/// Appends `MSG <subject> <sid> [reply] <#bytes>\r\n<payload>\r\n`: one delivery to a subscription.
pub fn write_msg(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    payload: &[u8],
) {
    write_msg_head(out, subject, sid, reply, payload.len(), payload.len() + 2);
    out.put_slice(payload);
    out.put_slice(b"\r\n");
}

/// Appends only the control line of a `MSG` announcing `len` payload bytes (the caller
/// queues the payload and its CR LF), reserving `extra` bytes more after it.
pub fn write_msg_head(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    len: usize,
    extra: usize,
) {
    let mut len_buf = itoa::Buffer::new();
    let len = len_buf.format(len).as_bytes();
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    out.reserve(4 + subject.len() + 1 + sid.len() + 1 + reply_len + len.len() + 2 + extra);
    out.put_slice(b"MSG ");
    out.put_slice(subject);
    out.put_u8(b' ');
    out.put_slice(sid);
    out.put_u8(b' ');
    if let Some(reply) = reply {
        out.put_slice(reply);
        out.put_u8(b' ');
    }
    out.put_slice(len);
    out.put_slice(b"\r\n");
}

/// Appends `HMSG <subject> <sid> [reply] <#hdr> <#total>\r\n<message>\r\n`: a delivery with
/// headers, where `message` is the header block followed by the payload.
pub fn write_hmsg(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    message: &[u8],
) {
    debug_assert!(header_len <= message.len());
    write_hmsg_head(
        out,
        subject,
        sid,
        reply,
        header_len,
        message.len(),
        message.len() + 2,
    );
    out.put_slice(message);
    out.put_slice(b"\r\n");
}

/// Appends only the control line of an `HMSG` announcing `total` bytes of which `header_len`
/// are headers (the caller queues the message and its CR LF), reserving `extra` bytes more.
pub fn write_hmsg_head(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    total: usize,
    extra: usize,
) {
    let mut hdr_buf = itoa::Buffer::new();
    let hdr = hdr_buf.format(header_len).as_bytes();
    let mut total_buf = itoa::Buffer::new();
    let total = total_buf.format(total).as_bytes();
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    out.reserve(
        5 + subject.len() + 1 + sid.len() + 1 + reply_len + hdr.len() + 1 + total.len() + 2 + extra,
    );
    out.put_slice(b"HMSG ");
    out.put_slice(subject);
    out.put_u8(b' ');
    out.put_slice(sid);
    out.put_u8(b' ');
    if let Some(reply) = reply {
        out.put_slice(reply);
        out.put_u8(b' ');
    }
    out.put_slice(hdr);
    out.put_u8(b' ');
    out.put_slice(total);
    out.put_slice(b"\r\n");
}

/// Appends `-ERR '<text>'\r\n`, the only way the server reports protocol errors.
pub fn write_err(out: &mut BytesMut, text: &str) {
    out.reserve(6 + text.len() + 3);
    out.put_slice(b"-ERR '");
    out.put_slice(text.as_bytes());
    out.put_slice(b"'\r\n");
}

/// Appends `INFO {json} \r\n` (with the space before CR LF, as nats-server sends it).
pub fn write_info(out: &mut BytesMut, info: &ServerInfo) {
    out.put_slice(b"INFO ");
    let mut writer = out.writer();
    let written = serde_json::to_writer(&mut writer, info);
    // Plain fields into an infallible in-memory writer: serialisation cannot fail.
    debug_assert!(written.is_ok(), "INFO serialisation failed: {written:?}");
    let out = writer.into_inner();
    out.put_slice(b" \r\n");
}

/// Appends the 503 no-responders status message (nats-server 2.12+ form, with the
/// `Nats-Subject` header) that tells a requester nobody is listening on `published_subject`.
pub fn write_no_responders(out: &mut BytesMut, reply: &[u8], sid: &[u8], published_subject: &[u8]) {
    // Header block: status line, Nats-Subject line, blank line; the payload is empty.
    let header_len = NO_RESPONDERS_HEAD.len() + published_subject.len() + 4;
    let mut len_buf = itoa::Buffer::new();
    let len = len_buf.format(header_len).as_bytes();
    out.reserve(5 + reply.len() + 1 + sid.len() + 1 + 2 * len.len() + 1 + 2 + header_len + 2);
    out.put_slice(b"HMSG ");
    out.put_slice(reply);
    out.put_u8(b' ');
    out.put_slice(sid);
    out.put_u8(b' ');
    out.put_slice(len);
    out.put_u8(b' ');
    out.put_slice(len);
    out.put_slice(b"\r\n");
    out.put_slice(NO_RESPONDERS_HEAD);
    out.put_slice(published_subject);
    out.put_slice(b"\r\n\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    #[test]
    fn msg_frames() {
        assert_eq!(
            encoded(|o| write_msg(o, b"foo", b"1", None, b"hi")),
            b"MSG foo 1 2\r\nhi\r\n"
        );
        assert_eq!(
            encoded(|o| write_msg(o, b"foo.bar", b"22", Some(b"_INBOX.x"), b"a\r\nb")),
            b"MSG foo.bar 22 _INBOX.x 4\r\na\r\nb\r\n"
        );
        assert_eq!(
            encoded(|o| write_msg(o, b"foo", b"1", None, b"")),
            b"MSG foo 1 0\r\n\r\n"
        );
        let big = vec![b'x'; 12345];
        let out = encoded(|o| write_msg(o, b"s", b"9", None, &big));
        assert!(out.starts_with(b"MSG s 9 12345\r\nxxx"));
        assert_eq!(out.len(), 15 + 12345 + 2);
    }

    #[test]
    fn hmsg_frames() {
        let message = b"NATS/1.0\r\n\r\nhi";
        assert_eq!(
            encoded(|o| write_hmsg(o, b"foo", b"1", None, 12, message)),
            b"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
        assert_eq!(
            encoded(|o| write_hmsg(o, b"$KV.cfg.a", b"2", Some(b"$JS.ACK.x"), 12, message)),
            b"HMSG $KV.cfg.a 2 $JS.ACK.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = BytesMut::from(&b"PONG\r\n"[..]);
        write_msg(&mut out, b"a", b"1", None, b"x");
        out.extend_from_slice(OK);
        assert_eq!(&out[..], b"PONG\r\nMSG a 1 1\r\nx\r\n+OK\r\n");
    }

    #[test]
    fn err_frame() {
        assert_eq!(
            encoded(|o| write_err(o, "Unknown Protocol Operation")),
            b"-ERR 'Unknown Protocol Operation'\r\n"
        );
    }

    #[test]
    fn constants() {
        assert_eq!(PING, b"PING\r\n");
        assert_eq!(PONG, b"PONG\r\n");
        assert_eq!(OK, b"+OK\r\n");
    }

    #[test]
    fn no_responders_exact_bytes() {
        assert_eq!(
            encoded(|o| write_no_responders(o, b"_INBOX.abc.1", b"1", b"nobody")),
            b"HMSG _INBOX.abc.1 1 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n"
        );
        // hdr_len = 32 + len(subject), and the header block really has that length.
        let subject = vec![b's'; 100];
        let out = encoded(|o| write_no_responders(o, b"r", b"7", &subject));
        let head = b"HMSG r 7 132 132\r\n";
        assert!(out.starts_with(head));
        assert_eq!(out.len() - head.len() - 2, 132);
        assert!(out.ends_with(b"\r\n\r\n\r\n"));
    }

    #[test]
    fn info_frame() {
        let info = ServerInfo {
            server_id: "NABC".into(),
            server_name: "n1".into(),
            version: crate::protocol::info::ADVERTISED_VERSION.into(),
            proto: 1,
            git_commit: String::new(),
            go: "rust".into(),
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            auth_required: false,
            max_payload: 1_048_576,
            jetstream: false,
            client_id: 5,
            client_ip: "127.0.0.1".into(),
            nonce: None,
            domain: None,
            api_lvl: None,
            connect_info: None,
            remote_account: None,
            lame_duck_mode: false,
            tls_required: false,
            tls_verify: false,
        };
        let out = encoded(|o| write_info(o, &info));
        assert_eq!(
            out,
            concat!(
                "INFO {\"server_id\":\"NABC\",\"server_name\":\"n1\",\"version\":\"2.11.0\",",
                "\"proto\":1,\"git_commit\":\"\",\"go\":\"rust\",\"host\":\"127.0.0.1\",\"port\":4222,",
                "\"headers\":true,\"max_payload\":1048576,\"client_id\":5,\"client_ip\":\"127.0.0.1\"} \r\n"
            )
            .as_bytes()
        );
        let info = ServerInfo {
            jetstream: true,
            api_lvl: Some(5),
            connect_info: Some(true),
            remote_account: Some("$G".into()),
            ..info
        };
        let out = String::from_utf8(encoded(|o| write_info(o, &info))).expect("utf-8");
        assert!(out.contains(",\"jetstream\":true,"), "{out}");
        assert!(
            out.ends_with(",\"api_lvl\":5,\"connect_info\":true,\"remote_account\":\"$G\"} \r\n"),
            "{out}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&out["INFO ".len()..out.len() - 3]).expect("valid JSON");
        assert_eq!(json["port"], 4222);
    }
}
