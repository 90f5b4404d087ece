//! The ceiling: the least work a NATS server could possibly do on this
//! machine for the same traffic, so a server's figure can be read as a
//! fraction of what the hardware allows.
//!
//! * `sink` accepts connections, sends INFO, answers PING and frames every
//!   PUB only to count and discard it.
//! * `pipe` additionally forwards each PUB as MSG to matching subscribers
//!   (exact, `*` and `>` matching; queue groups round-robin), with one
//!   write per subscriber per read batch.
//!
//! Both use one blocking thread per connection, like the load generator.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::proto::{self, ClientFrame};
use crate::reader::{Fill, FrameReader};

/// Which ceiling to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CeilingMode {
    /// Read, frame, discard.
    Sink,
    /// Read, frame, forward to subscribers.
    Pipe,
}

/// Totals a ceiling server reports when stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CeilingStats {
    /// PUB/HPUB frames received.
    pub pubs: u64,
    /// MSG/HMSG frames sent.
    pub msgs_out: u64,
    /// Connections accepted.
    pub connections: u64,
}

struct Sub {
    subject: Vec<u8>,
    sid: Vec<u8>,
    queue: Option<Vec<u8>>,
    conn_id: u64,
    out: Arc<Mutex<TcpStream>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    pubs: AtomicU64,
    msgs_out: AtomicU64,
    connections: AtomicU64,
    subs: RwLock<Vec<Arc<Sub>>>,
    generation: AtomicU64,
    streams: Mutex<Vec<TcpStream>>,
}

/// A running ceiling server.
pub struct CeilingServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// True when `subject` matches the subscription `filter` (NATS wildcards).
pub fn subject_matches(filter: &[u8], subject: &[u8]) -> bool {
    let mut f = filter.split(|&b| b == b'.');
    let mut s = subject.split(|&b| b == b'.');
    loop {
        match (f.next(), s.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(ft), Some(st)) if ft == st => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl CeilingServer {
    /// Binds `addr` (port 0 picks one) and starts accepting.
    pub fn start(mode: CeilingMode, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let workers = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let shared = Arc::clone(&shared);
            let workers = Arc::clone(&workers);
            std::thread::Builder::new()
                .name("ceiling-accept".into())
                .spawn(move || {
                    let mut next_id = 0u64;
                    for stream in listener.incoming() {
                        if shared.stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        next_id += 1;
                        shared.connections.fetch_add(1, Ordering::Relaxed);
                        if let Ok(c) = stream.try_clone() {
                            shared.streams.lock().expect("streams").push(c);
                        }
                        let shared = Arc::clone(&shared);
                        let id = next_id;
                        let h = std::thread::Builder::new()
                            .name(format!("ceiling-{id}"))
                            .spawn(move || {
                                let _ = serve(stream, id, mode, &shared);
                            });
                        if let Ok(h) = h {
                            workers.lock().expect("workers").push(h);
                        }
                    }
                })?
        };
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
            workers,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Totals so far.
    pub fn stats(&self) -> CeilingStats {
        CeilingStats {
            pubs: self.shared.pubs.load(Ordering::Relaxed),
            msgs_out: self.shared.msgs_out.load(Ordering::Relaxed),
            connections: self.shared.connections.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every connection, joins all threads.
    pub fn stop(mut self) -> CeilingStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for s in self.shared.streams.lock().expect("streams").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let handles: Vec<_> = self.workers.lock().expect("workers").drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for CeilingServer {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.shutdown();
        }
    }
}

/// Per-connection forwarding state of the pipe: a snapshot of the
/// subscription list plus one pending output buffer per subscriber.
struct Forwarder {
    generation: u64,
    subs: Vec<Arc<Sub>>,
    pending: Vec<Vec<u8>>,
    rr: u64,
}

impl Forwarder {
    fn refresh(&mut self, shared: &Shared) {
        let g = shared.generation.load(Ordering::Acquire);
        if g != self.generation || self.subs.is_empty() {
            self.subs = shared.subs.read().expect("subs").clone();
            self.pending = vec![Vec::new(); self.subs.len()];
            self.generation = g;
        }
    }

    fn route(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> u64 {
        let mut sent = 0;
        let mut groups: Vec<(&[u8], Vec<usize>)> = Vec::new();
        for (i, s) in self.subs.iter().enumerate() {
            if !subject_matches(&s.subject, subject) {
                continue;
            }
            match &s.queue {
                None => {
                    proto::push_msg(
                        &mut self.pending[i],
                        subject,
                        &s.sid,
                        reply,
                        headers,
                        payload,
                    );
                    sent += 1;
                }
                Some(q) => match groups.iter_mut().find(|(g, _)| g == q) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((q, vec![i])),
                },
            }
        }
        for (_, members) in groups {
            self.rr = self.rr.wrapping_add(1);
            let i = members[(self.rr % members.len() as u64) as usize];
            let s = &self.subs[i];
            proto::push_msg(
                &mut self.pending[i],
                subject,
                &s.sid,
                reply,
                headers,
                payload,
            );
            sent += 1;
        }
        sent
    }

    fn flush(&mut self) {
        for (i, buf) in self.pending.iter_mut().enumerate() {
            if !buf.is_empty() {
                let _ = self.subs[i].out.lock().expect("sub out").write_all(buf);
                buf.clear();
            }
        }
    }
}

fn serve(stream: TcpStream, id: u64, mode: CeilingMode, shared: &Shared) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let out = Arc::new(Mutex::new(stream.try_clone()?));
    out.lock().expect("out").write_all(
        format!(
            "INFO {{\"server_id\":\"CEILING{id}\",\"server_name\":\"ceiling-{}\",\"version\":\"2.15.1\",\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"client_id\":{id}}} \r\n",
            match mode {
                CeilingMode::Sink => "sink",
                CeilingMode::Pipe => "pipe",
            }
        )
        .as_bytes(),
    )?;
    let mut reader = FrameReader::new(stream);
    let mut fwd = Forwarder {
        generation: u64::MAX,
        subs: Vec::new(),
        pending: Vec::new(),
        rr: 0,
    };
    let mut my_subs_changed = false;
    let result = 'conn: loop {
        let mut pubs = 0u64;
        let mut out_msgs = 0u64;
        let mut pong = 0;
        if mode == CeilingMode::Pipe {
            fwd.refresh(shared);
        }
        loop {
            let frame = match reader.next_client() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'conn Ok(()),
            };
            match frame {
                ClientFrame::Pub {
                    subject,
                    reply,
                    headers,
                    payload,
                } => {
                    pubs += 1;
                    if mode == CeilingMode::Pipe {
                        out_msgs += fwd.route(subject, reply, headers, payload);
                    }
                }
                ClientFrame::Ping => pong += 1,
                ClientFrame::Sub {
                    subject,
                    queue,
                    sid,
                } if mode == CeilingMode::Pipe => {
                    let sub = Arc::new(Sub {
                        subject: subject.to_vec(),
                        sid: sid.to_vec(),
                        queue: queue.map(<[u8]>::to_vec),
                        conn_id: id,
                        out: Arc::clone(&out),
                    });
                    shared.subs.write().expect("subs").push(sub);
                    shared.generation.fetch_add(1, Ordering::AcqRel);
                    my_subs_changed = true;
                    // Later PUBs on this connection must see the new sub.
                    fwd.flush();
                    fwd.refresh(shared);
                }
                ClientFrame::Unsub { sid, .. } if mode == CeilingMode::Pipe => {
                    shared
                        .subs
                        .write()
                        .expect("subs")
                        .retain(|s| !(s.conn_id == id && s.sid == sid));
                    shared.generation.fetch_add(1, Ordering::AcqRel);
                    fwd.flush();
                    fwd.refresh(shared);
                }
                _ => {}
            }
        }
        if mode == CeilingMode::Pipe {
            fwd.flush();
        }
        if pong > 0 {
            let mut o = out.lock().expect("out");
            for _ in 0..pong {
                if o.write_all(b"PONG\r\n").is_err() {
                    break 'conn Ok(());
                }
            }
        }
        shared.pubs.fetch_add(pubs, Ordering::Relaxed);
        shared.msgs_out.fetch_add(out_msgs, Ordering::Relaxed);
        if shared.stop.load(Ordering::Acquire) {
            break Ok(());
        }
        match reader.fill() {
            Ok(Fill::Data(_)) | Ok(Fill::Timeout) => {}
            Ok(Fill::Eof) | Err(_) => break Ok(()),
        }
    };
    if my_subs_changed {
        shared
            .subs
            .write()
            .expect("subs")
            .retain(|s| s.conn_id != id);
        shared.generation.fetch_add(1, Ordering::AcqRel);
    }
    let _ = out.lock().expect("out").shutdown(Shutdown::Both);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Conn;
    use crate::proto::ServerFrame;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(b"a.b", b"a.b"));
        assert!(subject_matches(b"a.*", b"a.b"));
        assert!(!subject_matches(b"a.*", b"a.b.c"));
        assert!(subject_matches(b"a.>", b"a.b.c"));
        assert!(!subject_matches(b"a.>", b"a"));
        assert!(!subject_matches(b"a.b", b"a.c"));
        assert!(!subject_matches(b"a", b"a.b"));
    }

    #[test]
    fn sink_counts_and_answers_ping() {
        let srv = CeilingServer::start(CeilingMode::Sink, "127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("nats://{}", srv.addr());
        let mut c = Conn::connect(&url, "t", Duration::from_secs(5)).unwrap();
        assert_eq!(c.info.server_name, "ceiling-sink");
        for i in 0..1000u32 {
            proto::push_pub(&mut c.out, b"x", None, &i.to_le_bytes());
        }
        c.roundtrip(Duration::from_secs(5)).unwrap();
        let stats = srv.stop();
        assert_eq!(stats.pubs, 1000);
        assert_eq!(stats.msgs_out, 0);
    }

    #[test]
    fn pipe_forwards_to_matching_subscribers_once_per_queue_group() {
        let srv = CeilingServer::start(CeilingMode::Pipe, "127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("nats://{}", srv.addr());
        let mut sub = Conn::connect(&url, "s", Duration::from_secs(5)).unwrap();
        proto::push_sub(&mut sub.out, b"a.*", None, 1);
        proto::push_sub(&mut sub.out, b"a.b", Some(b"q"), 2);
        proto::push_sub(&mut sub.out, b"a.>", Some(b"q"), 3);
        proto::push_sub(&mut sub.out, b"z", None, 4);
        sub.roundtrip(Duration::from_secs(5)).unwrap();
        let mut publ = Conn::connect(&url, "p", Duration::from_secs(5)).unwrap();
        for _ in 0..10 {
            proto::push_pub(&mut publ.out, b"a.b", Some(b"r"), b"hi");
        }
        publ.roundtrip(Duration::from_secs(5)).unwrap();
        let mut per_sid = [0u32; 5];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while per_sid.iter().sum::<u32>() < 20 && std::time::Instant::now() < deadline {
            while let Some(f) = sub.reader.next_server().unwrap() {
                if let ServerFrame::Msg(m) = f {
                    assert_eq!(m.subject, b"a.b");
                    assert_eq!(m.reply, Some(&b"r"[..]));
                    per_sid[m.sid as usize] += 1;
                }
            }
            sub.reader.fill().unwrap();
        }
        assert_eq!(per_sid[1], 10);
        assert_eq!(per_sid[2] + per_sid[3], 10);
        assert_eq!(per_sid[4], 0);
        let stats = srv.stop();
        assert_eq!(stats.pubs, 10);
        assert_eq!(stats.msgs_out, 20);
    }
}
