//! Blocking NATS client connections on plain std sockets.
//!
//! The load generator avoids an async runtime on purpose: on a small machine
//! that also runs the server under test, a thread blocked in `read`/`write`
//! costs nothing, and big buffered writes keep the syscall count low.
//! [`Conn`] is a connection driven by one thread (subscribers, requesters);
//! [`PubConn`] is a write-mostly connection whose reads (PING, PONG, -ERR)
//! are handled by a small background thread.

use std::io::Write;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::proto::{self, ServerFrame};
use crate::reader::{Fill, FrameReader, ReadError};

/// How long a blocked read waits before the caller re-checks its stop flags.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Why talking to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The URL is not `nats://host:port`, `host:port` or `tcp://host:port`.
    #[error("bad server url {0:?}")]
    BadUrl(String),
    /// Socket error.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// Reading failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The server sent something that is not NATS.
    #[error(transparent)]
    Proto(#[from] crate::proto::ProtoError),
    /// The server answered the handshake with something unexpected.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The server sent `-ERR`.
    #[error("server error: -ERR '{0}'")]
    Server(String),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// Nothing arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// A request was published to a subject nobody listens on (503).
    #[error("no responders for {0}")]
    NoResponders(String),
}

/// The fields of the server's INFO that the load generator uses.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    /// `server_name` (defaults to the server id on nats-server).
    pub server_name: String,
    /// Advertised protocol-compatible version.
    pub version: String,
    /// Largest accepted payload.
    pub max_payload: u64,
    /// Whether HPUB/HMSG are supported.
    pub headers: bool,
    /// Whether JetStream is enabled.
    pub jetstream: bool,
}

impl ServerInfo {
    fn from_json(body: &[u8]) -> Result<Self, ConnError> {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ConnError::Handshake(format!("INFO is not JSON: {e}")))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        Ok(Self {
            server_name: s("server_name"),
            version: s("version"),
            max_payload: v.get("max_payload").and_then(|x| x.as_u64()).unwrap_or(0),
            headers: v.get("headers").and_then(|x| x.as_bool()).unwrap_or(false),
            jetstream: v
                .get("jetstream")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
        })
    }
}

/// Extracts `host:port` from a server URL (port defaults to 4222).
pub fn host_port(url: &str) -> Result<String, ConnError> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let rest = rest.split('/').next().unwrap_or("");
    // `user:pass@` (see [`credentials`]) is not part of the address.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    if rest.is_empty() || rest.contains('@') || rest.contains("://") {
        return Err(ConnError::BadUrl(url.to_owned()));
    }
    if rest
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        Ok(rest.to_owned())
    } else if rest.contains(':') && !rest.starts_with('[') {
        Err(ConnError::BadUrl(url.to_owned()))
    } else {
        Ok(format!("{rest}:4222"))
    }
}

/// The `user:pass@` of a `nats://user:pass@host:port` URL, sent in CONNECT.
pub fn credentials(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let (userinfo, _) = rest.split('/').next()?.rsplit_once('@')?;
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    Some((user.to_owned(), pass.to_owned()))
}

/// A unique-enough token for inbox names: process id plus clock.
pub fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{c:x}", std::process::id(), t & 0xffff_ffff_ffff)
}

/// A delivered message copied out of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMsg {
    /// Subject it was published to.
    pub subject: Vec<u8>,
    /// Reply subject.
    pub reply: Option<Vec<u8>>,
    /// Header block.
    pub headers: Option<Vec<u8>>,
    /// Body.
    pub payload: Vec<u8>,
}

/// A connection driven by a single thread: it reads frames and writes its
/// own batched output.
pub struct Conn {
    /// Buffered frame reader over the socket.
    pub reader: FrameReader<TcpStream>,
    /// Write half (a clone of the same socket).
    pub writer: TcpStream,
    /// What the server announced.
    pub info: ServerInfo,
    /// Pending output, written by [`Conn::flush_out`].
    pub out: Vec<u8>,
}

impl Conn {
    /// Connects, performs INFO / CONNECT / PING-PONG and returns a ready
    /// connection whose reads time out every [`POLL_INTERVAL`].
    pub fn connect(url: &str, name: &str, timeout: Duration) -> Result<Self, ConnError> {
        let addr = host_port(url)?;
        let socks: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|_| ConnError::BadUrl(url.to_owned()))?
            .collect();
        // Try every resolved address (localhost may resolve to ::1 first).
        let mut last = None;
        let mut stream = None;
        for sock in &socks {
            match TcpStream::connect_timeout(sock, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => return Err(ConnError::BadUrl(url.to_owned())),
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        let writer = stream.try_clone()?;
        let mut conn = Conn {
            reader: FrameReader::new(stream),
            writer,
            info: ServerInfo::default(),
            out: Vec::with_capacity(64 * 1024),
        };
        let deadline = Instant::now() + timeout;
        // INFO first.
        loop {
            if let Some(f) = conn.reader.next_server()? {
                match f {
                    ServerFrame::Info(body) => {
                        conn.info = ServerInfo::from_json(body)?;
                        break;
                    }
                    other => {
                        return Err(ConnError::Handshake(format!(
                            "expected INFO, got {other:?}"
                        )))
                    }
                }
            }
            conn.fill_until(deadline, "INFO")?;
        }
        let mut connect = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "echo": true,
            "headers": true,
            "no_responders": true,
            "protocol": 1,
            "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"),
            "name": name,
        });
        if let Some((user, pass)) = credentials(url) {
            connect["user"] = user.into();
            connect["pass"] = pass.into();
        }
        conn.out.extend_from_slice(b"CONNECT ");
        conn.out.extend_from_slice(connect.to_string().as_bytes());
        conn.out.extend_from_slice(b"\r\n");
        conn.roundtrip(deadline.saturating_duration_since(Instant::now()))?;
        Ok(conn)
    }

    /// One read, failing on EOF or when `deadline` has passed.
    fn fill_until(&mut self, deadline: Instant, what: &'static str) -> Result<(), ConnError> {
        match self.reader.fill()? {
            Fill::Data(_) => Ok(()),
            Fill::Eof => Err(ConnError::Closed),
            Fill::Timeout if Instant::now() >= deadline => Err(ConnError::Timeout(what)),
            Fill::Timeout => Ok(()),
        }
    }

    /// Writes everything queued in `out`.
    pub fn flush_out(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends `PING` (after anything queued) and waits for the `PONG`:
    /// everything written before is then processed by the server.
    /// Messages that arrive meanwhile are discarded; use it before data flows.
    pub fn roundtrip(&mut self, timeout: Duration) -> Result<(), ConnError> {
        self.out.extend_from_slice(b"PING\r\n");
        self.flush_out()?;
        let deadline = Instant::now() + timeout;
        loop {
            let mut pong = false;
            while let Some(f) = self.reader.next_server()? {
                match f {
                    ServerFrame::Pong => {
                        pong = true;
                        break;
                    }
                    ServerFrame::Ping => self.out.extend_from_slice(b"PONG\r\n"),
                    ServerFrame::Err(e) => {
                        return Err(ConnError::Server(String::from_utf8_lossy(e).into_owned()))
                    }
                    _ => {}
                }
            }
            self.flush_out()?;
            if pong {
                return Ok(());
            }
            self.fill_until(deadline, "PONG")?;
        }
    }

    /// Turns this connection into a write-mostly [`PubConn`].
    pub fn into_pub_conn(self) -> PubConn {
        PubConn::new(self)
    }

    /// Closes both directions (wakes a blocked reader).
    pub fn shutdown(&self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// Events the background reader of a [`PubConn`] reports.
#[derive(Debug)]
enum PubEvent {
    Pong,
}

/// A connection used mostly for writing; a background thread answers
/// server PINGs, collects `-ERR`s and signals PONGs for flushes.
pub struct PubConn {
    writer: Arc<Mutex<TcpStream>>,
    pongs: Receiver<PubEvent>,
    errors: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    /// What the server announced.
    pub info: ServerInfo,
}

impl PubConn {
    fn new(conn: Conn) -> Self {
        let Conn {
            mut reader,
            writer,
            info,
            ..
        } = conn;
        let writer = Arc::new(Mutex::new(writer));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let handle = {
            let writer = Arc::clone(&writer);
            let errors = Arc::clone(&errors);
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new()
                .name("pub-reader".into())
                .spawn(move || {
                    let push = |e: String| errors.lock().expect("errors lock").push(e);
                    loop {
                        loop {
                            match reader.next_server() {
                                Ok(Some(ServerFrame::Ping)) => {
                                    let r = writer.lock().expect("writer").write_all(b"PONG\r\n");
                                    if let Err(e) = r {
                                        push(format!("writing PONG: {e}"));
                                        return;
                                    }
                                }
                                Ok(Some(ServerFrame::Pong)) => {
                                    let _ = tx.send(PubEvent::Pong);
                                }
                                Ok(Some(ServerFrame::Err(e))) => {
                                    push(format!("-ERR '{}'", String::from_utf8_lossy(e)))
                                }
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                                Err(e) => {
                                    push(format!("protocol error from server: {e}"));
                                    return;
                                }
                            }
                        }
                        match reader.fill() {
                            Ok(Fill::Data(_)) | Ok(Fill::Timeout) => {}
                            Ok(Fill::Eof) | Err(_) => {
                                if !stopping.load(Ordering::Acquire) {
                                    push("publisher connection closed by server".into());
                                }
                                return;
                            }
                        }
                        if stopping.load(Ordering::Acquire) {
                            return;
                        }
                    }
                })
                .expect("spawn pub reader")
        };
        Self {
            writer,
            pongs: rx,
            errors,
            stopping,
            reader: Some(handle),
            info,
        }
    }

    /// Writes one batch (the lock is uncontended except for rare PONGs).
    #[inline]
    pub fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
        self.writer.lock().expect("writer").write_all(buf)
    }

    /// Sends `PING` and waits for its `PONG`: proves the server consumed
    /// everything written before.
    pub fn flush(&self, timeout: Duration) -> Result<(), ConnError> {
        while self.pongs.try_recv().is_ok() {}
        self.write_all(b"PING\r\n")?;
        match self.pongs.recv_timeout(timeout) {
            Ok(PubEvent::Pong) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(ConnError::Timeout("PONG")),
            Err(RecvTimeoutError::Disconnected) => Err(ConnError::Closed),
        }
    }

    /// `-ERR`s and disconnects seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("errors lock").clone()
    }

    /// Closes the socket, joins the reader and returns all errors seen.
    pub fn close(mut self) -> Vec<String> {
        self.stopping.store(true, Ordering::Release);
        let _ = self.writer.lock().expect("writer").shutdown(Shutdown::Both);
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
        self.errors()
    }
}

impl Drop for PubConn {
    fn drop(&mut self) {
        if let Some(h) = self.reader.take() {
            self.stopping.store(true, Ordering::Release);
            if let Ok(w) = self.writer.lock() {
                let _ = w.shutdown(Shutdown::Both);
            }
            let _ = h.join();
        }
    }
}

/// A connection with a wildcard inbox for synchronous request/reply (the
/// JetStream API and setup chores).
pub struct ReqConn {
    /// The underlying connection.
    pub conn: Conn,
    inbox: String,
    next: u64,
}

impl ReqConn {
    /// Subscribes `_INBOX.<token>.*` on `conn`.
    pub fn new(mut conn: Conn) -> Result<Self, ConnError> {
        let inbox = format!("_INBOX.{}", unique_token());
        proto::push_sub(&mut conn.out, format!("{inbox}.*").as_bytes(), None, 1);
        conn.roundtrip(Duration::from_secs(5))?;
        Ok(Self {
            conn,
            inbox,
            next: 0,
        })
    }

    /// Publishes `payload` to `subject` with a fresh reply inbox and waits
    /// for the first answer; a 503 status becomes [`ConnError::NoResponders`].
    pub fn request(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<OwnedMsg, ConnError> {
        self.next += 1;
        let reply = format!("{}.{}", self.inbox, self.next);
        proto::push_pub(
            &mut self.conn.out,
            subject.as_bytes(),
            Some(reply.as_bytes()),
            payload,
        );
        self.conn.flush_out()?;
        let deadline = Instant::now() + timeout;
        loop {
            let mut found = None;
            while let Some(f) = self.conn.reader.next_server()? {
                match f {
                    ServerFrame::Msg(m) if m.subject == reply.as_bytes() => {
                        if m.status() == Some(503) {
                            return Err(ConnError::NoResponders(subject.to_owned()));
                        }
                        found = Some(OwnedMsg {
                            subject: m.subject.to_vec(),
                            reply: m.reply.map(<[u8]>::to_vec),
                            headers: m.headers.map(<[u8]>::to_vec),
                            payload: m.payload.to_vec(),
                        });
                        break;
                    }
                    ServerFrame::Ping => self.conn.out.extend_from_slice(b"PONG\r\n"),
                    ServerFrame::Err(e) => {
                        return Err(ConnError::Server(String::from_utf8_lossy(e).into_owned()))
                    }
                    _ => {}
                }
            }
            self.conn.flush_out()?;
            if let Some(m) = found {
                return Ok(m);
            }
            self.conn.fill_until(deadline, "reply")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_to_host_port() {
        assert_eq!(
            host_port("nats://127.0.0.1:4333").unwrap(),
            "127.0.0.1:4333"
        );
        assert_eq!(host_port("localhost").unwrap(), "localhost:4222");
        assert_eq!(host_port("tcp://h:1/").unwrap(), "h:1");
        assert_eq!(host_port("h:99").unwrap(), "h:99");
        assert!(host_port("nats://").is_err());
        assert_eq!(host_port("nats://u:p@h:1").unwrap(), "h:1");
        assert_eq!(
            credentials("nats://u:p@h:1"),
            Some(("u".to_owned(), "p".to_owned()))
        );
        assert_eq!(credentials("nats://h:1"), None);
        assert!(host_port("h:notaport").is_err());
    }

    #[test]
    fn info_fields_are_read() {
        let i = ServerInfo::from_json(
            br#"{"server_name":"s","version":"2.15.1","max_payload":1048576,"headers":true}"#,
        )
        .unwrap();
        assert_eq!(i.server_name, "s");
        assert_eq!(i.max_payload, 1_048_576);
        assert!(i.headers && !i.jetstream);
        assert!(ServerInfo::from_json(b"not json").is_err());
    }

    #[test]
    fn localhost_reaches_an_ipv4_only_listener() {
        use crate::ceiling::{CeilingMode, CeilingServer};
        let srv = CeilingServer::start(CeilingMode::Sink, "127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("nats://localhost:{}", srv.addr().port());
        let mut c = Conn::connect(&url, "t", Duration::from_secs(5)).unwrap();
        c.roundtrip(Duration::from_secs(5)).unwrap();
        let p = c.into_pub_conn();
        p.write_all(b"PUB a 1\r\nx\r\n").unwrap();
        p.flush(Duration::from_secs(5)).unwrap();
        assert!(p.errors().is_empty());
        drop(srv);
        // The server is gone: the background reader reports the close.
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.errors().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            p.errors(),
            vec!["publisher connection closed by server".to_owned()]
        );
        assert!(p.flush(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(unique_token(), unique_token());
    }
}
