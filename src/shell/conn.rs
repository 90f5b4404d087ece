//! Connection I/O on one core: the accept loop and, per connection, a reader task (socket
//! bytes into the engine) and a writer task (the engine's queued output onto the socket:
//! what was queued since the last write, up to `engine::WRITE_CHUNK_BYTES`, goes out in one
//! vectored write of the segments the engine holds — header lines and the payloads it was
//! handed, never copied into one buffer). With `[tls]`, `tls_io` runs the handshake first and
//! both tasks then move bytes through rustls.
//!
//! A connection is one socket descriptor, owned by its [`ConnIo`] and shared by both tasks:
//! each borrows the stream only inside a synchronous poll, never across an `.await`. The
//! reader waits with one io_uring poll and reads with one `recv` per wake-up into the core's
//! scratch buffer, then copies what came into the connection's read buffer, sized to what it
//! holds: an idle connection keeps no read buffer (it goes back to the core's pool).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::{TcpListener, TcpStream};

use super::tls_io::{self, TlsIo};
use super::{CoreShell, Notify};
use crate::engine::{OutputState, ReadStatus};
use crate::session::{CloseReason, ConnId};

/// Most bytes taken from the socket per read: bounds what one read can push into
/// subscribers between two fast-producer stall checks (nats-server reads 64 KiB at most too).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes a reader feeds the engine before it yields, so the writers of the subscribers it
/// filled get a turn: their queued output stays around this size (a warm, reused buffer)
/// instead of growing to megabytes while one busy publisher's socket keeps having data.
const READ_YIELD_BYTES: usize = 256 * 1024;
/// Writer buffers grown past this are dropped after use instead of kept.
const MAX_IDLE_WRITE_BUF_BYTES: usize = 4 * 1024 * 1024;
/// Read buffers kept warm in a core's pool for the next connection that has data (an idle
/// connection holds none; a busy one takes one, and gives it back when it has parsed all).
const READ_POOL_BUFFERS: usize = 64;
/// Segments of one vectored write (Linux `IOV_MAX`).
const MAX_IOVECS: usize = 1024;
/// Segment slots a writer keeps while its connection is idle.
const IDLE_SEGMENTS: usize = 64;
/// TLS plaintext and record bytes a writer keeps while its connection is idle.
const IDLE_TLS_BYTES: usize = 16 * 1024;
/// Plaintext sealed into TLS records per socket write: bounds the writer's ciphertext buffer.
const SEAL_CHUNK_BYTES: usize = 256 * 1024;
/// Pause of a reader while a peer ring is over its high-water mark.
const BACKLOG_PAUSE: Duration = Duration::from_micros(200);

thread_local! {
    /// The core's read scratch: every read lands here, then only what came is copied into
    /// the connection's buffer (initialised once, so a read needs no zeroing).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK_BYTES].into_boxed_slice());
    /// Warm read buffers of this core (LIFO), see [`READ_POOL_BUFFERS`].
    static READ_POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    /// Connections of this core closed since its last heap trim, and when the last closed.
    static CLOSED_SINCE_TRIM: Cell<(u64, Option<Instant>)> = const { Cell::new((0, None)) };
    /// When this core last asked for a heap trim.
    static LAST_TRIM: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Quiet time after the last close before the heap is trimmed.
const TRIM_QUIET: Duration = Duration::from_secs(1);
/// Closes after which the heap is trimmed even while connections keep closing.
const TRIM_AFTER_CLOSES: u64 = 1024;

/// Gives the memory of closed connections back to the system: glibc keeps freed chunks in
/// its arenas (RSS stays where it was after thousands of connections closed), so once closes
/// have happened and things are quiet (or a great many closed), `malloc_trim` runs on the
/// blocking pool (it walks the arenas, returning their free pages; never on a core), at most
/// once per [`TRIM_QUIET`] per core. Called from the core's poll loop; cheap when nothing closed.
pub(crate) fn maybe_trim_heap() {
    let (closed, last_close) = CLOSED_SINCE_TRIM.get();
    let Some(last_close) = last_close else {
        return;
    };
    let now = Instant::now();
    let quiet = now.duration_since(last_close) >= TRIM_QUIET;
    let rested = LAST_TRIM
        .get()
        .is_none_or(|t| now.duration_since(t) >= TRIM_QUIET);
    if !(rested && (quiet || closed >= TRIM_AFTER_CLOSES)) {
        return;
    }
    CLOSED_SINCE_TRIM.set((0, None));
    LAST_TRIM.set(Some(now));
    // The pooled read buffers go too: the next busy connection takes fresh ones.
    READ_POOL.with(|p| p.borrow_mut().clear());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glommio::spawn_local(async {
        // SAFETY: malloc_trim only walks and shrinks the allocator's own free lists.
        let trim = glommio::executor().spawn_blocking(|| unsafe { libc::malloc_trim(0) });
        trim.await;
    })
    .detach();
}

/// The shell's half of a connection: its socket and the wake-ups of its two tasks.
pub(crate) struct ConnIo {
    /// The socket, shared by the reader and the writer; borrowed only inside a synchronous
    /// poll (never across an `.await`), so the two tasks never contend for it.
    stream: RefCell<TcpStream>,
    /// Its descriptor, valid as long as `stream` (so as long as `self`).
    fd: RawFd,
    pub(crate) writable: Notify,
    pub(crate) unblocked: Notify,
    tasks_alive: Cell<u8>,
    admitted: bool,
    /// Notified when both tasks ended and the engine forgot the connection.
    pub(crate) done: Notify,
    /// Why the engine closed it (read once `done` fired).
    pub(crate) close_reason: Cell<Option<CloseReason>>,
}

impl ConnIo {
    /// Makes pending and future reads and writes on the socket fail, ending both tasks.
    pub(crate) fn shutdown_socket(&self) {
        // SAFETY: `fd` belongs to `stream`, owned by `self`, so it is neither closed nor reused.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }

    /// Waits until the socket has bytes, then appends what one read returns (at most `max`)
    /// to `buf`; `Ok(0)` = the peer closed. One `recv` per wake-up: after a short read the
    /// stream arms its io_uring poll at once, so the next call waits without a syscall; the
    /// bytes land in the core's scratch buffer and are copied into `buf`.
    pub(super) async fn read_some(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        self.read_some_from(buf, max, false).await
    }

    /// [`ConnIo::read_some`]; with `direct` (the last read was large, so more is likely
    /// waiting) it first reads straight into `buf`'s spare capacity, no copy, and only when
    /// the socket turns out empty waits as `read_some` does.
    pub(super) async fn read_some_from(
        &self,
        buf: &mut BytesMut,
        max: usize,
        direct: bool,
    ) -> io::Result<usize> {
        if direct {
            if buf.capacity() == 0 {
                *buf = pooled_read_buf();
            }
            if buf.capacity() - buf.len() < max / 4 {
                buf.reserve(max);
            }
            if let Some(n) = recv_now(self.fd, buf, max)? {
                return Ok(n);
            }
            if buf.is_empty() {
                // Nothing came after all: hold no buffer while waiting.
                return_read_buf(std::mem::take(buf));
            }
        }
        poll_fn(|cx| {
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let want = max.min(scratch.len());
                let mut stream = self.stream.borrow_mut();
                match Pin::new(&mut *stream).poll_read(cx, &mut scratch[..want]) {
                    Poll::Ready(Ok(n)) => {
                        if buf.capacity() == 0 {
                            *buf = pooled_read_buf();
                        }
                        if buf.capacity() - buf.len() < n {
                            buf.reserve(n.max(READ_CHUNK_BYTES));
                        }
                        buf.extend_from_slice(&scratch[..n]);
                        Poll::Ready(Ok(n))
                    }
                    other => other,
                }
            })
        })
        .await
    }

    /// Writes all of `data`, trying the socket first and waiting for writability only when full.
    pub(super) async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write_some(data).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes some of `data` (at least one byte), waiting for writability when the socket is full.
    async fn write_some(&self, data: &[u8]) -> io::Result<usize> {
        let n = poll_fn(|cx| Pin::new(&mut *self.stream.borrow_mut()).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        Ok(n)
    }

    /// Writes all of `segs` in order with vectored `sendmsg` (up to [`MAX_IOVECS`] segments a call),
    /// waiting for writability only when the socket is full; `segs` is left empty.
    pub(super) async fn write_segments(&self, segs: &mut Vec<Bytes>) -> io::Result<()> {
        // Index of the first segment not fully written, and bytes of it already written.
        let (mut first, mut skip) = (0, 0);
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(segs.len().min(MAX_IOVECS));
        loop {
            while first < segs.len() && segs[first].len() == skip {
                first += 1;
                skip = 0;
            }
            if first == segs.len() {
                break;
            }
            iov.clear();
            for (i, seg) in segs[first..].iter().take(MAX_IOVECS).enumerate() {
                let part = if i == 0 { &seg[skip..] } else { &seg[..] };
                iov.push(libc::iovec {
                    iov_base: part.as_ptr() as *mut libc::c_void,
                    iov_len: part.len(),
                });
            }
            // SAFETY: an all-zero msghdr is valid (no address, no control data).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov.len() as _;
            // SAFETY: every iovec points into a `Bytes` of `segs`, alive and unchanged for the
            // call; the socket may be in blocking mode, so the call says not to wait.
            let n =
                unsafe { libc::sendmsg(self.fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
            let mut n = if n >= 0 {
                n as usize
            } else {
                let err = io::Error::last_os_error();
                match err.kind() {
                    // Full: wait for writability through the stream, which writes some too.
                    io::ErrorKind::WouldBlock => self.write_some(&segs[first][skip..]).await?,
                    io::ErrorKind::Interrupted => 0,
                    _ => return Err(err),
                }
            };
            while n > 0 {
                let left = segs[first].len() - skip;
                let step = n.min(left);
                n -= step;
                skip += step;
                if skip == segs[first].len() {
                    first += 1;
                    skip = 0;
                }
            }
        }
        segs.clear();
        Ok(())
    }
}

/// Reads what the socket has into `buf`'s spare capacity (up to `max` bytes) without
/// waiting and without zeroing it first; `Ok(None)` = nothing there now.
fn recv_now(fd: RawFd, buf: &mut BytesMut, max: usize) -> io::Result<Option<usize>> {
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    // SAFETY: the kernel writes at most `want` bytes into memory we own, through a raw
    // pointer (no reference to uninitialised bytes is made); `set_len` below covers exactly
    // the bytes it reports as written.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        };
    }
    let n = n as usize;
    // SAFETY: `n <= want <= spare capacity`, and those bytes were just written.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(Some(n))
}

/// A warm read buffer from the core's pool (empty when the pool is).
fn pooled_read_buf() -> BytesMut {
    READ_POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

/// Gives an emptied read buffer back to the core's pool (or frees it when the pool is full
/// or the buffer too small to be worth keeping).
fn return_read_buf(buf: BytesMut) {
    debug_assert!(buf.is_empty());
    if buf.capacity() >= READ_CHUNK_BYTES / 4 {
        READ_POOL.with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < READ_POOL_BUFFERS {
                pool.push(buf);
            }
        });
    }
}

/// How a new connection's bytes travel.
pub(crate) enum ConnTls {
    /// Plaintext.
    Plain,
    /// TLS with this server as the TLS server (accepted connections).
    Serve(std::sync::Arc<crate::tls::TlsSetup>),
    /// TLS with this server as the TLS client (a leaf link it solicits).
    Client(
        std::sync::Arc<crate::leaf::tls::RemoteTls>,
        rustls::pki_types::ServerName<'static>,
    ),
}

/// Registers a connected socket with the engine (`open` makes its session, given the peer
/// IP, port and the time) and spawns its reader and writer; None when the socket could not
/// be duplicated (it is dropped). `admitted` says whether a `max_connections` slot was claimed.
pub(crate) fn start_conn(
    shell: &Rc<CoreShell>,
    stream: TcpStream,
    admitted: bool,
    tls: Option<std::sync::Arc<crate::tls::TlsSetup>>,
    open: impl FnOnce(&mut crate::engine::Engine, &str, u16, u64) -> ConnId,
) -> Option<(ConnId, Rc<ConnIo>)> {
    start_conn_with(
        shell,
        stream,
        admitted,
        tls.map_or(ConnTls::Plain, ConnTls::Serve),
        open,
    )
}

/// [`start_conn`] with any [`ConnTls`].
pub(crate) fn start_conn_with(
    shell: &Rc<CoreShell>,
    stream: TcpStream,
    admitted: bool,
    tls: ConnTls,
    open: impl FnOnce(&mut crate::engine::Engine, &str, u16, u64) -> ConnId,
) -> Option<(ConnId, Rc<ConnIo>)> {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let ip = peer.map(|a| a.ip().to_string()).unwrap_or_default();
    let fd = stream.as_raw_fd();
    let io = Rc::new(ConnIo {
        stream: RefCell::new(stream),
        fd,
        writable: Notify::default(),
        unblocked: Notify::default(),
        tasks_alive: Cell::new(2),
        admitted,
        done: Notify::default(),
        close_reason: Cell::new(None),
    });
    let now = shell.now_ns();
    let id = open(
        &mut shell.engine.borrow_mut(),
        &ip,
        peer.map_or(0, |a| a.port()),
        now,
    );
    shell.conns.borrow_mut().insert(id, io.clone());
    shell.process_events();
    // A refused connection (its -ERR queued) gets the plaintext close nats-server gives.
    let refused = !shell.engine.borrow().session(id).is_open();
    match tls {
        ConnTls::Serve(setup) if !refused => {
            glommio::spawn_local(tls_io::serve(shell.clone(), id, io.clone(), setup)).detach();
        }
        ConnTls::Client(remote, server) if !refused => {
            glommio::spawn_local(tls_io::solicit(
                shell.clone(),
                id,
                io.clone(),
                remote,
                server,
            ))
            .detach();
        }
        _ => spawn_tasks(shell, id, io.clone(), None, BytesMut::new()),
    }
    Some((id, io))
}

/// Accepts connections on this core's listener until shutdown.
pub(crate) async fn accept_loop(shell: Rc<CoreShell>, listener: TcpListener) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shell.stop_accepting.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => {
                drop(listener);
                shell.listener_closed.set(true);
                return;
            }
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let admitted = shell.connections.try_admit();
        start_conn(
            &shell,
            stream,
            admitted,
            shell.tls.clone(),
            |engine, ip, port, now| {
                let id = engine.open_conn(ip, now, admitted);
                engine.set_client_port(id, port);
                id
            },
        );
    }
}

/// Starts the reader and writer of a connection; `plain` holds plaintext already read.
pub(super) fn spawn_tasks(
    shell: &Rc<CoreShell>,
    id: ConnId,
    io: Rc<ConnIo>,
    tls: Option<Rc<TlsIo>>,
    plain: BytesMut,
) {
    glommio::spawn_local(reader(shell.clone(), id, io.clone(), tls.clone(), plain)).detach();
    glommio::spawn_local(writer(shell.clone(), id, io, tls)).detach();
}

/// Reads ciphertext from the socket until rustls yields plaintext (appended to `plain`):
/// `Ok(0)` = the peer closed.
async fn read_tls(
    tls: &TlsIo,
    raw: &mut BytesMut,
    plain: &mut BytesMut,
    io: &ConnIo,
) -> io::Result<usize> {
    loop {
        raw.clear();
        if io.read_some(raw, READ_CHUNK_BYTES).await? == 0 {
            return Ok(0);
        }
        if plain.capacity() == 0 {
            *plain = pooled_read_buf();
        }
        let before = plain.len();
        let absorbed = tls.absorb(raw, plain);
        raw.clear();
        return_read_buf(std::mem::take(raw));
        let state = absorbed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if tls.wants_write() {
            // An alert or a key update to answer: the writer sends it.
            io.writable.notify();
        }
        let got = plain.len() - before;
        if got > 0 {
            return Ok(got);
        }
        if state == tls_io::Absorbed::PeerClosed {
            return Ok(0);
        }
        // Only part of a record so far: read on.
    }
}

/// Seals the segments into TLS records (coalesced up to [`SEAL_CHUNK_BYTES`] of plaintext
/// per socket write, so small segments do not become records of their own) and writes them.
async fn write_sealed(
    io: &ConnIo,
    tls: &TlsIo,
    segs: &mut Vec<Bytes>,
    plain: &mut Vec<u8>,
    sealed: &mut Vec<u8>,
) -> io::Result<()> {
    let mut i = 0;
    while i < segs.len() {
        plain.clear();
        while i < segs.len()
            && (plain.is_empty() || plain.len() + segs[i].len() <= SEAL_CHUNK_BYTES)
        {
            plain.extend_from_slice(&segs[i]);
            i += 1;
        }
        sealed.clear();
        tls.seal(plain, sealed)?;
        io.write_all(sealed).await?;
    }
    segs.clear();
    plain.clear();
    sealed.clear();
    Ok(())
}

fn feed(shell: &CoreShell, id: ConnId, buf: &mut BytesMut) -> ReadStatus {
    let now = shell.now_ns();
    let status = shell.engine.borrow_mut().on_read(id, buf, now);
    shell.process_events();
    status
}

async fn reader(
    shell: Rc<CoreShell>,
    id: ConnId,
    io: Rc<ConnIo>,
    tls: Option<Rc<TlsIo>>,
    mut buf: BytesMut,
) {
    // Ciphertext straight from the socket (TLS only), reused for every read.
    let mut raw = BytesMut::new();
    let mut status = if !shell.engine.borrow().session(id).is_open() {
        ReadStatus::Closed
    } else if !buf.is_empty() {
        // Plaintext that came with the client's last handshake flight.
        feed(&shell, id, &mut buf)
    } else {
        ReadStatus::Continue
    };
    let mut fed_since_yield = 0;
    // Whether the next read goes straight into `buf` (see `ConnIo::read_some_from`).
    let mut direct = false;
    loop {
        match status {
            ReadStatus::Closed => break,
            ReadStatus::Blocked => {
                let job = shell.engine.borrow_mut().take_auth_job(id);
                if let Some((password, hash)) = job {
                    // bcrypt is slow on purpose: check it on the blocking pool, not the core.
                    let matched = glommio::executor()
                        .spawn_blocking(move || crate::auth::bcrypt_matches(&password, &hash))
                        .await;
                    shell.engine.borrow_mut().finish_auth(id, matched);
                    shell.process_events();
                }
                io.unblocked.wait().await;
                status = feed(&shell, id, &mut buf);
                shell.stall_if_congested().await;
                continue;
            }
            ReadStatus::Continue => {}
        }
        while shell.engine.borrow().peers_backlogged() {
            glommio::timer::sleep(BACKLOG_PAUSE).await;
        }
        if buf.is_empty() && !direct {
            // Everything read was parsed: the buffer goes back to the core's pool while the
            // connection waits (an idle connection holds none); `read_some` takes a warm one
            // when bytes come.
            return_read_buf(std::mem::take(&mut buf));
        }
        let read = match &tls {
            None => io.read_some_from(&mut buf, READ_CHUNK_BYTES, direct).await,
            Some(tls) => read_tls(tls, &mut raw, &mut buf, &io).await,
        };
        match read {
            Ok(n) if n > 0 => {
                // A large read: the socket likely holds more, read it straight into `buf`.
                direct = n >= READ_CHUNK_BYTES / 2;
                status = feed(&shell, id, &mut buf);
                shell.stall_if_congested().await;
                fed_since_yield += n;
                if shell.storage_pending() || fed_since_yield >= READ_YIELD_BYTES {
                    // Let the storage task start a group commit with what is queued, so the
                    // disk works while the rest of the socket's data is parsed; let the
                    // writers drain what this reader queued (see READ_YIELD_BYTES).
                    fed_since_yield = 0;
                    futures_lite::future::yield_now().await;
                }
            }
            _ => {
                shell
                    .engine
                    .borrow_mut()
                    .close(id, CloseReason::ClientClosed, false);
                shell.process_events();
                break;
            }
        }
    }
    finish(&shell, id, &io);
}
async fn writer(shell: Rc<CoreShell>, id: ConnId, io: Rc<ConnIo>, tls: Option<Rc<TlsIo>>) {
    // The segments of one write (header lines and payloads, shared with the engine's
    // buffers: nothing is copied), reused for every write.
    let mut segs: Vec<Bytes> = Vec::new();
    // TLS only: plaintext coalesced for sealing, and its records.
    let (mut plain, mut sealed) = (Vec::new(), Vec::new());
    loop {
        let state = shell
            .engine
            .borrow_mut()
            .take_output_segments(id, &mut segs);
        match state {
            OutputState::Data => {
                let deadline = shell.write_deadline;
                let result = futures_lite::future::or(
                    async {
                        match &tls {
                            None => io.write_segments(&mut segs).await,
                            Some(tls) => {
                                write_sealed(&io, tls, &mut segs, &mut plain, &mut sealed).await
                            }
                        }
                        .map_err(Some)
                    },
                    async {
                        glommio::timer::sleep(deadline).await;
                        Err(None)
                    },
                )
                .await;
                segs.clear();
                if plain.capacity() > MAX_IDLE_WRITE_BUF_BYTES {
                    plain = Vec::new();
                }
                if sealed.capacity() > MAX_IDLE_WRITE_BUF_BYTES {
                    sealed = Vec::new();
                }
                shell.engine.borrow_mut().write_done(id);
                if let Err(e) = result {
                    let reason = match e {
                        None => {
                            tracing::warn!(
                                conn = id,
                                "slow consumer detected: write deadline exceeded"
                            );
                            CloseReason::SlowConsumerWriteDeadline
                        }
                        Some(_) => CloseReason::ClientClosed,
                    };
                    shell.engine.borrow_mut().close(id, reason, false);
                    shell.process_events();
                    break;
                }
            }
            OutputState::Idle => match &tls {
                Some(tls) if tls.wants_write() => {
                    // What rustls sends on its own (alert, key update); failures show on
                    // the next read or write.
                    sealed.clear();
                    if tls.take_pending(&mut sealed).is_ok() {
                        let _ = io.write_all(&sealed).await;
                    }
                    sealed.clear();
                }
                _ => {
                    // Nothing queued: an idle connection keeps no grown buffers.
                    if segs.capacity() > IDLE_SEGMENTS {
                        segs = Vec::new();
                    }
                    if plain.capacity() > IDLE_TLS_BYTES {
                        plain = Vec::new();
                    }
                    if sealed.capacity() > IDLE_TLS_BYTES {
                        sealed = Vec::new();
                    }
                    shell.engine.borrow_mut().output_idle(id);
                    io.writable.wait().await
                }
            },
            OutputState::Close => break,
        }
    }
    io.shutdown_socket();
    finish(&shell, id, &io);
}

/// Called by each of the connection's two tasks as it ends; the last one forgets the
/// connection in the engine and the shell.
pub(super) fn finish(shell: &CoreShell, id: ConnId, io: &ConnIo) {
    let left = io.tasks_alive.get() - 1;
    io.tasks_alive.set(left);
    if left > 0 {
        return;
    }
    io.close_reason.set(shell.engine.borrow().session(id).close);
    let (closed, _) = CLOSED_SINCE_TRIM.get();
    CLOSED_SINCE_TRIM.set((closed + 1, Some(Instant::now())));
    shell.engine.borrow_mut().remove_conn(id);
    io.done.notify();
    if io.admitted {
        shell.connections.release();
    }
    shell.process_events();
    let mut conns = shell.conns.borrow_mut();
    conns.remove(&id);
    if conns.is_empty() {
        shell.all_closed.notify();
    }
}
