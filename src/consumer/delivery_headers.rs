//! Header and token helpers of deliveries: the flow-control reply token, the headers of a
//! headers-only delivery (`Nats-Msg-Size`), and appending one header to a stored block.

use bytes::Bytes;

/// Four characters of a flow-control reply token.
pub(super) fn fc_token(n: u64) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::with_capacity(4);
    let mut v = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4 {
        s.push(ALPHA[(v % ALPHA.len() as u64) as usize] as char);
        v /= ALPHA.len() as u64;
    }
    s
}

/// Headers for a headers-only delivery: the stored headers plus `Nats-Msg-Size`.
pub(super) fn with_msg_size(headers: &Bytes, payload_len: usize) -> Bytes {
    with_header(
        headers,
        b"Nats-Msg-Size",
        itoa::Buffer::new().format(payload_len).as_bytes(),
    )
}

/// `headers` (possibly empty) with `name: value` appended.
pub(super) fn with_header(headers: &Bytes, name: &[u8], value: &[u8]) -> Bytes {
    let mut h = Vec::with_capacity(headers.len() + name.len() + value.len() + 16);
    if headers.is_empty() {
        h.extend_from_slice(b"NATS/1.0\r\n");
    } else {
        // Drop the terminating blank line, append, terminate again.
        let body = headers.strip_suffix(b"\r\n").unwrap_or(headers);
        h.extend_from_slice(body);
    }
    h.extend_from_slice(name);
    h.extend_from_slice(b": ");
    h.extend_from_slice(value);
    h.extend_from_slice(b"\r\n\r\n");
    Bytes::from(h)
}
