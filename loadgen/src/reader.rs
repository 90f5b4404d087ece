//! Buffered, zero-copy frame reader over any `Read`.
//!
//! The reader owns one large buffer; frames are parsed in place and handed
//! out as borrowed slices, so a subscriber touches each byte once. IO and
//! parsing are separate calls ([`FrameReader::fill`] and
//! [`FrameReader::next_server`]) so the caller decides when to flush its own
//! writes (typically: after every frame already buffered has been handled).

use std::io::{ErrorKind, Read};

use crate::proto::{self, ClientFrame, Parsed, ProtoError, ServerFrame};

/// Default buffer size: big enough that one `read` moves many small messages.
pub const DEFAULT_READ_BUF_BYTES: usize = 256 * 1024;

/// Largest frame the reader will grow its buffer for (max_payload plus slack).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Outcome of one [`FrameReader::fill`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This many new bytes were read.
    Data(usize),
    /// The read timed out (socket read timeout); nothing new.
    Timeout,
    /// The peer closed the connection.
    Eof,
}

/// Why reading frames failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Socket error.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not NATS.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// A single frame would exceed [`MAX_FRAME_BYTES`].
    #[error("frame larger than {max_bytes} bytes")]
    FrameTooLarge {
        /// The limit.
        max_bytes: usize,
    },
}

/// A read buffer plus the source it refills from.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> FrameReader<R> {
    /// Wraps `inner` with a buffer of [`DEFAULT_READ_BUF_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, DEFAULT_READ_BUF_BYTES)
    }

    /// Wraps `inner` with a buffer of `cap_bytes` (grown on demand for big frames).
    pub fn with_capacity(inner: R, cap_bytes: usize) -> Self {
        Self {
            inner,
            buf: vec![0; cap_bytes.max(64)],
            start: 0,
            end: 0,
        }
    }

    /// The wrapped source (e.g. to change socket options).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Bytes received but not yet consumed as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Performs one `read` into the free part of the buffer.
    pub fn fill(&mut self) -> Result<Fill, ReadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let cap = self.buf.len();
        if cap - self.end < cap / 4 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if cap - self.end < cap / 4 {
                if cap >= MAX_FRAME_BYTES {
                    return Err(ReadError::FrameTooLarge {
                        max_bytes: MAX_FRAME_BYTES,
                    });
                }
                self.buf.resize(cap * 2, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.end += n;
                    debug_assert!(self.end <= self.buf.len());
                    return Ok(Fill::Data(n));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Fill::Timeout)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    #[inline(always)]
    fn next_with<'s, T>(
        &'s mut self,
        parse: impl FnOnce(&'s [u8]) -> Result<Parsed<T>, ProtoError>,
    ) -> Result<Option<(T, &'s [u8])>, ProtoError> {
        let avail = &self.buf[self.start..self.end];
        match parse(avail)? {
            Some((frame, used)) => {
                debug_assert!(used > 0 && used <= avail.len());
                self.start += used;
                Ok(Some((frame, &avail[..used])))
            }
            None => Ok(None),
        }
    }

    /// Next complete server frame already in the buffer (no IO).
    #[inline]
    pub fn next_server(&mut self) -> Result<Option<ServerFrame<'_>>, ProtoError> {
        Ok(self.next_with(proto::parse_server_frame)?.map(|(f, _)| f))
    }

    /// Next complete server frame plus its raw bytes (for forwarding).
    pub fn next_server_raw(&mut self) -> Result<Option<(ServerFrame<'_>, &[u8])>, ProtoError> {
        self.next_with(proto::parse_server_frame)
    }

    /// Next complete client frame already in the buffer (no IO).
    #[inline]
    pub fn next_client(&mut self) -> Result<Option<ClientFrame<'_>>, ProtoError> {
        Ok(self.next_with(proto::parse_client_frame)?.map(|(f, _)| f))
    }

    /// Next complete client frame plus its raw bytes (for forwarding).
    pub fn next_client_raw(&mut self) -> Result<Option<(ClientFrame<'_>, &[u8])>, ProtoError> {
        self.next_with(proto::parse_client_frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Read` that hands out its data in chunks of a fixed size and
    /// reports a timeout between chunks, like a slow socket.
    struct Chunked {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
        timeout_next: bool,
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.timeout_next {
                self.timeout_next = false;
                return Err(ErrorKind::WouldBlock.into());
            }
            self.timeout_next = true;
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn stream(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let payload = vec![b'x'; i % 300];
            proto::push_msg(
                &mut v,
                b"bench.x",
                i.to_string().as_bytes(),
                None,
                None,
                &payload,
            );
            if i % 7 == 0 {
                v.extend_from_slice(b"PING\r\n");
            }
        }
        v
    }

    fn drain(chunk: usize, cap: usize, data: Vec<u8>) -> (usize, usize, u64) {
        let mut r = FrameReader::with_capacity(
            Chunked {
                data,
                pos: 0,
                chunk,
                timeout_next: false,
            },
            cap,
        );
        let (mut msgs, mut pings, mut sid_sum) = (0, 0, 0u64);
        let mut timeouts = 0;
        loop {
            while let Some(f) = r.next_server().unwrap() {
                match f {
                    ServerFrame::Msg(m) => {
                        assert_eq!(m.payload.len() as u64, m.sid % 300);
                        msgs += 1;
                        sid_sum += m.sid;
                    }
                    ServerFrame::Ping => pings += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            match r.fill().unwrap() {
                Fill::Data(_) => {}
                Fill::Timeout => {
                    timeouts += 1;
                    assert!(timeouts < 1_000_000, "reader made no progress");
                }
                Fill::Eof => break,
            }
        }
        assert_eq!(r.buffered(), 0);
        (msgs, pings, sid_sum)
    }

    #[test]
    fn split_reads_of_every_size_yield_the_same_frames() {
        let data = stream(500);
        let want = (
            500,
            (0..500).filter(|i| i % 7 == 0).count(),
            (0..500u64).sum(),
        );
        for chunk in [1, 2, 3, 5, 17, 64, 333, 4096, 1 << 20] {
            assert_eq!(drain(chunk, 64, data.clone()), want, "chunk {chunk}");
            assert_eq!(drain(chunk, 4096, data.clone()), want, "chunk {chunk}");
        }
    }

    #[test]
    fn buffer_grows_for_a_frame_bigger_than_itself() {
        let mut data = Vec::new();
        proto::push_msg(&mut data, b"big", b"300", None, None, &[7u8; 300]);
        let mut r = FrameReader::with_capacity(&data[..], 64);
        loop {
            if let Some(ServerFrame::Msg(m)) = r.next_server().unwrap() {
                assert_eq!(m.payload.len(), 300);
                break;
            }
            assert_ne!(r.fill().unwrap(), Fill::Eof, "frame never completed");
        }
    }

    #[test]
    fn protocol_garbage_surfaces_as_error() {
        let mut r = FrameReader::new(&b"MSG a 1 3\r\nabcXX"[..]);
        r.fill().unwrap();
        assert!(matches!(
            r.next_server(),
            Err(ProtoError::BadPayloadEnd { .. })
        ));
    }

    #[test]
    fn raw_bytes_cover_exactly_one_frame() {
        let data = b"PUB a 2\r\nhi\r\nPING\r\n";
        let mut r = FrameReader::new(&data[..]);
        r.fill().unwrap();
        let (_, raw) = r.next_client_raw().unwrap().unwrap();
        assert_eq!(raw, b"PUB a 2\r\nhi\r\n");
        let (f, raw) = r.next_client_raw().unwrap().unwrap();
        assert_eq!(f, ClientFrame::Ping);
        assert_eq!(raw, b"PING\r\n");
    }
}
