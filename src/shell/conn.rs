//! Connection I/O on one core: the accept loop and, per connection, a reader task (socket
//! bytes into the engine) and a writer task (the engine's queued output onto the socket,
//! coalesced: what was queued since the last write, up to `engine::WRITE_CHUNK_BYTES`, goes
//! out in one write, through buffers that are reused, not freed). With `[tls]`,
//! `tls_io` runs the handshake first and both tasks then move bytes through rustls.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::AsyncWrite;
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
/// Plaintext sealed into TLS records per socket write: bounds the writer's ciphertext buffer.
const SEAL_CHUNK_BYTES: usize = 256 * 1024;
/// Pause of a reader while a peer ring is over its high-water mark.
const BACKLOG_PAUSE: Duration = Duration::from_micros(200);

/// The shell's half of a connection: the wake-ups of its two tasks. The reader and the
/// writer each own a handle on the socket (the writer's is a dup), so neither needs a lock
/// or a `RefCell` around the stream.
pub(crate) struct ConnIo {
    /// A descriptor of the socket owned by this struct, for `shutdown` from any task.
    ctl_fd: OwnedFd,
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
        // SAFETY: `ctl_fd` is owned by `self`, so it cannot have been closed or reused.
        unsafe {
            libc::shutdown(self.ctl_fd.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

/// Reads what the socket has into `buf`'s spare capacity (up to `max` bytes) without
/// waiting and without zeroing it first; `Ok(None)` = nothing there yet.
pub(super) fn recv_now(fd: RawFd, buf: &mut BytesMut, max: usize) -> io::Result<Option<usize>> {
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

/// Writes all of `data`, trying the socket first and waiting for writability only when full.
pub(super) async fn write_all(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
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
    // SAFETY: dups of a valid socket fd, each then owned by exactly one holder.
    let (write_fd, ctl_fd) = unsafe { (libc::dup(fd), libc::dup(fd)) };
    if write_fd < 0 || ctl_fd < 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "dup of accepted socket failed");
        // SAFETY: closing only the descriptors this call created.
        unsafe {
            if write_fd >= 0 {
                libc::close(write_fd);
            }
            if ctl_fd >= 0 {
                libc::close(ctl_fd);
            }
        }
        if admitted {
            shell.connections.release();
        }
        return None;
    }
    // SAFETY: fresh, owned socket descriptors.
    let write_stream = unsafe { TcpStream::from_raw_fd(write_fd) };
    let ctl_fd = unsafe { OwnedFd::from_raw_fd(ctl_fd) };
    let io = Rc::new(ConnIo {
        ctl_fd,
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
            glommio::spawn_local(tls_io::serve(
                shell.clone(),
                id,
                io.clone(),
                stream,
                write_stream,
                setup,
            ))
            .detach();
        }
        ConnTls::Client(remote, server) if !refused => {
            glommio::spawn_local(tls_io::solicit(
                shell.clone(),
                id,
                io.clone(),
                stream,
                write_stream,
                remote,
                server,
            ))
            .detach();
        }
        _ => spawn_tasks(
            shell,
            id,
            io.clone(),
            stream,
            write_stream,
            None,
            BytesMut::new(),
        ),
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
    stream: TcpStream,
    write_stream: TcpStream,
    tls: Option<Rc<TlsIo>>,
    plain: BytesMut,
) {
    glommio::spawn_local(reader(
        shell.clone(),
        id,
        io.clone(),
        stream,
        tls.clone(),
        plain,
    ))
    .detach();
    glommio::spawn_local(writer(shell.clone(), id, io, write_stream, tls)).detach();
}

/// Reads ciphertext from the socket until rustls yields plaintext (appended to `plain`):
/// `Ok(None)` = the socket has nothing now, `Ok(Some(0))` = the peer closed.
fn recv_tls(
    fd: RawFd,
    tls: &TlsIo,
    raw: &mut BytesMut,
    plain: &mut BytesMut,
    io: &ConnIo,
) -> io::Result<Option<usize>> {
    loop {
        raw.clear();
        match recv_now(fd, raw, READ_CHUNK_BYTES)? {
            None => return Ok(None),
            Some(0) => return Ok(Some(0)),
            Some(_) => {}
        }
        let before = plain.len();
        let state = tls
            .absorb(raw, plain)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if tls.wants_write() {
            // An alert or a key update to answer: the writer sends it.
            io.writable.notify();
        }
        let got = plain.len() - before;
        if got > 0 {
            return Ok(Some(got));
        }
        if state == tls_io::Absorbed::PeerClosed {
            return Ok(Some(0));
        }
        // Only part of a record so far: read on.
    }
}

/// Seals `plain` into TLS records and writes them, a bounded chunk at a time.
async fn write_sealed(
    stream: &mut TcpStream,
    tls: &TlsIo,
    plain: &[u8],
    sealed: &mut Vec<u8>,
) -> io::Result<()> {
    for chunk in plain.chunks(SEAL_CHUNK_BYTES) {
        sealed.clear();
        tls.seal(chunk, sealed)?;
        write_all(stream, sealed).await?;
    }
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
    stream: TcpStream,
    tls: Option<Rc<TlsIo>>,
    mut buf: BytesMut,
) {
    buf.reserve(READ_CHUNK_BYTES);
    // Ciphertext straight from the socket (TLS only), reused for every read.
    let mut raw = BytesMut::with_capacity(if tls.is_some() { READ_CHUNK_BYTES } else { 0 });
    let mut status = if !shell.engine.borrow().session(id).is_open() {
        ReadStatus::Closed
    } else if !buf.is_empty() {
        // Plaintext that came with the client's last handshake flight.
        feed(&shell, id, &mut buf)
    } else {
        ReadStatus::Continue
    };
    let mut fed_since_yield = 0;
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
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES / 4 {
            buf.reserve(READ_CHUNK_BYTES);
        }
        let fd = stream.as_raw_fd();
        let now = match &tls {
            None => recv_now(fd, &mut buf, READ_CHUNK_BYTES),
            Some(tls) => recv_tls(fd, tls, &mut raw, &mut buf, &io),
        };
        let read = match now {
            Ok(Some(n)) => Ok(n),
            Ok(None) => {
                // Nothing buffered: wait for data through io_uring (a 1-byte peek consumes
                // nothing), then read it directly.
                let mut probe = [0u8; 1];
                match stream.peek(&mut probe).await {
                    Ok(0) => Ok(0),
                    Ok(_) => {
                        fed_since_yield = 0;
                        continue;
                    }
                    Err(e) => Err(io::Error::from(e)),
                }
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(n) if n > 0 => {
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

async fn writer(
    shell: Rc<CoreShell>,
    id: ConnId,
    io: Rc<ConnIo>,
    mut stream: TcpStream,
    tls: Option<Rc<TlsIo>>,
) {
    let mut wbuf = BytesMut::new();
    // TLS records of one chunk of `wbuf` (TLS only), reused for every write.
    let mut sealed = Vec::new();
    loop {
        let state = shell.engine.borrow_mut().take_output(id, &mut wbuf);
        match state {
            OutputState::Data => {
                let deadline = shell.write_deadline;
                let result = futures_lite::future::or(
                    async {
                        match &tls {
                            None => write_all(&mut stream, &wbuf).await,
                            Some(tls) => write_sealed(&mut stream, tls, &wbuf, &mut sealed).await,
                        }
                        .map_err(Some)
                    },
                    async {
                        glommio::timer::sleep(deadline).await;
                        Err(None)
                    },
                )
                .await;
                wbuf.clear();
                if wbuf.capacity() > MAX_IDLE_WRITE_BUF_BYTES {
                    wbuf = BytesMut::new();
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
                        let _ = write_all(&mut stream, &sealed).await;
                    }
                    sealed.clear();
                }
                _ => io.writable.wait().await,
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
