//! TLS on one client connection: the shell moves ciphertext between the socket and a rustls
//! `ServerConnection`, which turns it into the plaintext protocol bytes the engine sees (and
//! back). The connection state is shared by the connection's reader and writer tasks through
//! a `RefCell` borrowed only inside the synchronous calls below, never across an `.await`.
//!
//! Buffers are the tasks' own and reused: the reader's socket buffer and the writer's
//! ciphertext buffer stay warm for the connection's life. rustls itself keeps one buffer per
//! TLS record (16 KiB of payload), so encryption allocates per record, never per message.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;

use super::conn::{finish, spawn_tasks, ConnIo};
use super::CoreShell;
use crate::engine::OutputState;
use crate::session::{CloseReason, ConnId};
use crate::tls::TlsSetup;

/// Ciphertext read from the socket per call while handshaking (a client flight is small).
const HANDSHAKE_READ_BYTES: usize = 16 * 1024;

/// Why a connection's TLS failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsIoError {
    /// The socket failed or closed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The peer broke TLS (bad certificate, bad record, not TLS at all).
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    /// The handshake did not complete in time.
    #[error("handshake timed out")]
    Timeout,
}

/// What [`TlsIo::absorb`] found besides plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Absorbed {
    /// The connection goes on.
    Open,
    /// The peer sent close_notify: no more plaintext will come.
    PeerClosed,
}

/// One connection's rustls state (server side for accepted connections, client side for
/// leaf links this server solicits).
pub(crate) struct TlsIo {
    conn: RefCell<rustls::Connection>,
}

impl TlsIo {
    /// A fresh server-side TLS connection.
    pub(crate) fn new(config: &Arc<rustls::ServerConfig>) -> Result<TlsIo, rustls::Error> {
        let conn = rustls::ServerConnection::new(config.clone())?;
        Ok(TlsIo::wrap(rustls::Connection::Server(conn)))
    }

    /// A fresh client-side TLS connection to `server` (a soliciting leaf link).
    pub(crate) fn new_client(
        config: &Arc<rustls::ClientConfig>,
        server: rustls::pki_types::ServerName<'static>,
    ) -> Result<TlsIo, rustls::Error> {
        let conn = rustls::ClientConnection::new(config.clone(), server)?;
        Ok(TlsIo::wrap(rustls::Connection::Client(conn)))
    }

    fn wrap(mut conn: rustls::Connection) -> TlsIo {
        // The writer drains rustls after every record it seals, so the outgoing buffer never
        // holds more than one chunk: no limit needed (and none to trip over).
        conn.set_buffer_limit(None);
        TlsIo {
            conn: RefCell::new(conn),
        }
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.borrow().is_handshaking()
    }

    /// Whether rustls has bytes to send (handshake messages, alerts, key updates).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// The user names the verified client certificate offers (`tls.verify_and_map`).
    pub(crate) fn peer_names(&self) -> Vec<String> {
        let conn = self.conn.borrow();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| crate::tls_map::certificate_names(c.as_ref()))
            .unwrap_or_default()
    }

    /// The session facts `/connz` shows (after the handshake): version, suite with Go's
    /// names, and the client's certificates (subject, SHA-256 of the SPKI and of the DER).
    pub(crate) fn monitor_info(&self, first: bool) -> crate::monitor::snapshot::TlsSnapshot {
        use crate::monitor::snapshot::{PeerCertSnapshot, TlsSnapshot};
        let conn = self.conn.borrow();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
            _ => "",
        };
        // rustls spells TLS 1.3 suites `TLS13_*`; Go (and nats-server) `TLS_*`.
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .map(|s| {
                let name = s
                    .suite()
                    .as_str()
                    .map_or_else(|| format!("{:?}", s.suite()), str::to_owned);
                name.replacen("TLS13_", "TLS_", 1)
            })
            .unwrap_or_default();
        let hex = |d: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, d)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let peer_certs = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let (subject, spki) = crate::tls_map::subject_and_spki(c.as_ref())
                    .map_or((String::new(), &[][..]), |(s, k)| (s, k));
                PeerCertSnapshot {
                    subject,
                    subject_pk_sha256: hex(spki),
                    cert_sha256: hex(c.as_ref()),
                }
            })
            .collect();
        TlsSnapshot {
            version: version.to_owned(),
            cipher_suite,
            peer_certs,
            first,
        }
    }

    /// Feeds ciphertext to rustls and appends the plaintext it yields to `plain`.
    pub(crate) fn absorb(
        &self,
        mut ciphertext: &[u8],
        plain: &mut BytesMut,
    ) -> Result<Absorbed, TlsIoError> {
        let mut conn = self.conn.borrow_mut();
        loop {
            if drain_plaintext(&mut conn, plain)? == Absorbed::PeerClosed {
                return Ok(Absorbed::PeerClosed);
            }
            if ciphertext.is_empty() {
                return Ok(Absorbed::Open);
            }
            if conn.read_tls(&mut ciphertext)? == 0 {
                return Ok(Absorbed::PeerClosed);
            }
            conn.process_new_packets()?;
        }
    }

    /// Encrypts `plain` and appends the TLS records to `out`.
    pub(crate) fn seal(&self, mut plain: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        while !plain.is_empty() {
            let n = conn.writer().write(plain)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            plain = &plain[n..];
        }
        while conn.wants_write() {
            conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Appends what rustls wants to send on its own (handshake, alerts) to `out`.
    pub(crate) fn take_pending(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        while conn.wants_write() {
            conn.write_tls(out)?;
        }
        Ok(())
    }
}

/// Moves all decrypted plaintext rustls holds into `plain`.
fn drain_plaintext(conn: &mut rustls::Connection, plain: &mut BytesMut) -> io::Result<Absorbed> {
    let mut reader = conn.reader();
    loop {
        match reader.fill_buf() {
            Ok([]) => return Ok(Absorbed::PeerClosed),
            Ok(bytes) => {
                let n = bytes.len();
                plain.extend_from_slice(bytes);
                reader.consume(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Absorbed::Open),
            Err(e) => return Err(e),
        }
    }
}

/// Writes what rustls wants to send, through the reused `out` buffer.
async fn flush_pending(tls: &TlsIo, io: &ConnIo, out: &mut Vec<u8>) -> Result<(), TlsIoError> {
    out.clear();
    tls.take_pending(out)?;
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Runs the server side of the handshake to completion: reads the client's flights and
/// writes ours on the connection's socket. Plaintext the client sent right behind its last flight
/// lands in `plain` (the reader's buffer). On a TLS error the alert is sent, except for bytes
/// that are not TLS at all (a plaintext client), which get a bare close as from nats-server.
pub(crate) async fn handshake(
    tls: &TlsIo,
    io: &ConnIo,
    plain: &mut BytesMut,
) -> Result<(), TlsIoError> {
    let mut raw = BytesMut::with_capacity(HANDSHAKE_READ_BYTES);
    let mut out = Vec::new();
    loop {
        flush_pending(tls, io, &mut out).await?;
        if !tls.is_handshaking() {
            return Ok(());
        }
        raw.clear();
        if io.read_some(&mut raw, HANDSHAKE_READ_BYTES).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        match tls.absorb(&raw, plain) {
            Ok(Absorbed::Open) => {}
            Ok(Absorbed::PeerClosed) => {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())
            }
            Err(e) => {
                if !matches!(e, TlsIoError::Tls(rustls::Error::InvalidMessage(_))) {
                    let _ = flush_pending(tls, io, &mut out).await;
                }
                return Err(e);
            }
        }
    }
}

/// A new connection on a TLS listener: INFO in plaintext (unless `handshake_first`), the
/// handshake within the configured timeout, then the ordinary reader and writer tasks with
/// rustls in between. A failed handshake closes the connection (`TLS Handshake Error`).
pub(super) async fn serve(shell: Rc<CoreShell>, id: ConnId, io: Rc<ConnIo>, setup: Arc<TlsSetup>) {
    let mut plain = BytesMut::new();
    let handshake = async {
        let tls = TlsIo::new(&setup.config)?;
        if !setup.handshake_first {
            // The INFO queued on accept goes out in plaintext; all after it is encrypted.
            let mut info = BytesMut::new();
            let state = shell.engine.borrow_mut().take_output(id, &mut info);
            if matches!(state, OutputState::Data) {
                let written = io.write_all(&info).await;
                shell.engine.borrow_mut().write_done(id);
                written?;
            }
        }
        handshake(&tls, &io, &mut plain).await?;
        Ok::<_, TlsIoError>(tls)
    };
    let result = futures_lite::future::or(handshake, async {
        glommio::timer::sleep(setup.timeout).await;
        Err(TlsIoError::Timeout)
    })
    .await;
    let (map_user, first) = (setup.map_user, setup.handshake_first);
    after_handshake(shell, id, io, result, plain, map_user, first);
}

/// Starts the connection's tasks once its handshake is done, or closes it on failure.
fn after_handshake(
    shell: Rc<CoreShell>,
    id: ConnId,
    io: Rc<ConnIo>,
    result: Result<TlsIo, TlsIoError>,
    plain: BytesMut,
    map_user: bool,
    handshake_first: bool,
) {
    match result {
        Ok(tls) => {
            let tls = Rc::new(tls);
            let info = tls.monitor_info(handshake_first);
            shell.engine.borrow_mut().set_tls_info(id, info);
            if map_user {
                let names = tls.peer_names();
                shell.engine.borrow_mut().set_tls_names(id, names);
            }
            spawn_tasks(&shell, id, io, Some(tls), plain);
        }
        Err(e) => {
            tracing::warn!(conn = id, error = %e, "TLS handshake error");
            shell
                .engine
                .borrow_mut()
                .close(id, CloseReason::TlsHandshakeError, false);
            shell.process_events();
            io.shutdown_socket();
            // Neither task runs: end both shares of the connection.
            finish(&shell, id, &io);
            finish(&shell, id, &io);
        }
    }
}

/// Longest INFO line a hub may send before TLS starts.
const MAX_INFO_LINE_BYTES: usize = 64 * 1024;

/// Reads the hub's plaintext INFO line (it sends nothing more before the handshake).
async fn read_info_line(io: &ConnIo, line: &mut BytesMut) -> Result<(), TlsIoError> {
    loop {
        if line.contains(&b'\n') {
            return Ok(());
        }
        if line.len() > MAX_INFO_LINE_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "INFO line too long").into());
        }
        if io.read_some(line, HANDSHAKE_READ_BYTES).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
}

/// A leaf link this server solicits over TLS: the hub's INFO in plaintext (unless
/// `handshake_first`), the client side of the handshake within the remote's timeout, then
/// the ordinary tasks, the INFO handed to the engine as the first plaintext.
pub(super) async fn solicit(
    shell: Rc<CoreShell>,
    id: ConnId,
    io: Rc<ConnIo>,
    remote: Arc<crate::leaf::tls::RemoteTls>,
    server: rustls::pki_types::ServerName<'static>,
) {
    let mut plain = BytesMut::new();
    let handshake = async {
        let tls = TlsIo::new_client(&remote.config, server)?;
        if !remote.handshake_first {
            read_info_line(&io, &mut plain).await?;
        }
        let mut after = BytesMut::new();
        handshake(&tls, &io, &mut after).await?;
        plain.extend_from_slice(&after);
        Ok::<_, TlsIoError>(tls)
    };
    let result = futures_lite::future::or(handshake, async {
        glommio::timer::sleep(remote.timeout).await;
        Err(TlsIoError::Timeout)
    })
    .await;
    let first = remote.handshake_first;
    after_handshake(shell, id, io, result, plain, false, first);
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    fn pair() -> (TlsIo, rustls::ClientConnection) {
        let setup = crate::tls::TlsConfig {
            cert_file: fixture("server-cert.pem"),
            key_file: fixture("server-key.pem"),
            ca_file: None,
            verify: false,
            verify_and_map: false,
            handshake_first: false,
            timeout: None,
        }
        .load()
        .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = rustls::ClientConnection::new(
            Arc::new(client_cfg),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        (TlsIo::new(&setup.config).unwrap(), client)
    }

    /// Moves the client's pending ciphertext into the server `step` bytes at a time.
    fn client_to_server(
        client: &mut rustls::ClientConnection,
        server: &TlsIo,
        step: usize,
    ) -> Vec<u8> {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let mut plain = BytesMut::new();
        for piece in wire.chunks(step) {
            assert_eq!(server.absorb(piece, &mut plain).unwrap(), Absorbed::Open);
        }
        plain.to_vec()
    }

    fn server_to_client(server: &TlsIo, client: &mut rustls::ClientConnection) {
        let mut wire = Vec::new();
        server.take_pending(&mut wire).unwrap();
        let mut rd = &wire[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
        }
    }

    #[test]
    fn handshake_then_plaintext_both_ways_even_byte_by_byte() {
        let (server, mut client) = pair();
        while server.is_handshaking() || client.is_handshaking() {
            client_to_server(&mut client, &server, 7);
            server_to_client(&server, &mut client);
        }
        // Client -> server, fed one byte at a time: partial records yield nothing until whole.
        client
            .writer()
            .write_all(b"CONNECT {}\r\nPING\r\n")
            .unwrap();
        let got = client_to_server(&mut client, &server, 1);
        assert_eq!(got, b"CONNECT {}\r\nPING\r\n");
        // Server -> client: more than one TLS record (16 KiB each).
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        server.seal(&big, &mut wire).unwrap();
        assert!(wire.len() > big.len());
        let mut rd = &wire[..];
        let mut received = Vec::new();
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = client.reader().read(&mut chunk) {
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&chunk[..n]);
            }
        }
        assert_eq!(received, big);
        // close_notify ends the stream.
        client.send_close_notify();
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let mut plain = BytesMut::new();
        assert_eq!(
            server.absorb(&wire, &mut plain).unwrap(),
            Absorbed::PeerClosed
        );
    }

    #[test]
    fn plaintext_bytes_are_not_tls() {
        let (server, _) = pair();
        let mut plain = BytesMut::new();
        let err = server
            .absorb(b"CONNECT {\"verbose\":false}\r\n", &mut plain)
            .unwrap_err();
        assert!(
            matches!(err, TlsIoError::Tls(rustls::Error::InvalidMessage(_))),
            "{err:?}"
        );
    }
}
