//! Connection I/O on one core: the accept loop and, per connection, a reader task (socket
//! bytes into the engine) and a writer task (the engine's queued output onto the socket,
//! coalesced: everything queued since the last write goes out in one write).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::{TcpListener, TcpStream};

use super::{CoreShell, Notify};
use crate::engine::{OutputState, ReadStatus};
use crate::session::{CloseReason, ConnId};

/// Most bytes taken from the socket per read: bounds what one read can push into
/// subscribers between two fast-producer stall checks (nats-server reads 64 KiB at most too).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Writer buffers grown past this are dropped after use instead of kept.
const MAX_IDLE_WRITE_BUF_BYTES: usize = 4 * 1024 * 1024;
/// Pause of a reader while a peer ring is over its high-water mark.
const BACKLOG_PAUSE: Duration = Duration::from_micros(200);

/// The shell's half of a connection: the socket and the wake-ups of its two tasks.
pub(crate) struct ConnIo {
    stream: RefCell<TcpStream>,
    fd: RawFd,
    pub(crate) writable: Notify,
    pub(crate) unblocked: Notify,
    tasks_alive: Cell<u8>,
    admitted: bool,
}

impl ConnIo {
    /// Makes pending and future reads and writes on the socket fail, ending both tasks.
    pub(crate) fn shutdown_socket(&self) {
        // SAFETY: the fd belongs to `stream`, which is alive as long as `self`.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }

    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| Pin::new(&mut *self.stream.borrow_mut()).poll_read(cx, buf)).await
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n =
                poll_fn(|cx| Pin::new(&mut *self.stream.borrow_mut()).poll_write(cx, data)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        Ok(())
    }
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
            None => return,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ip = stream
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let fd = stream.as_raw_fd();
        let admitted = shell.connections.try_admit();
        let io = Rc::new(ConnIo {
            stream: RefCell::new(stream),
            fd,
            writable: Notify::default(),
            unblocked: Notify::default(),
            tasks_alive: Cell::new(2),
            admitted,
        });
        let now = shell.now_ns();
        let id = shell.engine.borrow_mut().open_conn(&ip, now, admitted);
        shell.conns.borrow_mut().insert(id, io.clone());
        shell.process_events();
        glommio::spawn_local(reader(shell.clone(), id, io.clone())).detach();
        glommio::spawn_local(writer(shell.clone(), id, io)).detach();
    }
}

fn feed(shell: &CoreShell, id: ConnId, buf: &mut BytesMut) -> ReadStatus {
    let now = shell.now_ns();
    let status = shell.engine.borrow_mut().on_read(id, buf, now);
    shell.process_events();
    status
}

async fn reader(shell: Rc<CoreShell>, id: ConnId, io: Rc<ConnIo>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut status = if shell.engine.borrow().session(id).is_open() {
        ReadStatus::Continue
    } else {
        ReadStatus::Closed
    };
    loop {
        match status {
            ReadStatus::Closed => break,
            ReadStatus::Blocked => {
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
        let start = buf.len();
        let end = start + (buf.capacity() - start).min(READ_CHUNK_BYTES);
        buf.resize(end, 0);
        let read = io.read(&mut buf[start..end]).await;
        match read {
            Ok(n) if n > 0 => {
                buf.truncate(start + n);
                status = feed(&shell, id, &mut buf);
                shell.stall_if_congested().await;
            }
            _ => {
                buf.truncate(start);
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

async fn writer(shell: Rc<CoreShell>, id: ConnId, io: Rc<ConnIo>) {
    let mut wbuf = BytesMut::new();
    loop {
        let state = shell.engine.borrow_mut().take_output(id, &mut wbuf);
        match state {
            OutputState::Data => {
                let deadline = shell.write_deadline;
                let result = futures_lite::future::or(
                    async { io.write_all(&wbuf).await.map_err(Some) },
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
            OutputState::Idle => io.writable.wait().await,
            OutputState::Close => break,
        }
    }
    io.shutdown_socket();
    finish(&shell, id, &io);
}

/// Called by each of the connection's two tasks as it ends; the last one forgets the
/// connection in the engine and the shell.
fn finish(shell: &CoreShell, id: ConnId, io: &ConnIo) {
    let left = io.tasks_alive.get() - 1;
    io.tasks_alive.set(left);
    if left > 0 {
        return;
    }
    shell.engine.borrow_mut().remove_conn(id);
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
