//! Leaf node sockets on one core: the leaf port's accept loop (hub role) and the task that
//! solicits a link to a hub and re-dials it with backoff (leaf role). Once connected a link
//! is an ordinary connection (reader + writer tasks, `conn::start_conn`); the engine speaks
//! the leaf protocol on it (`engine_leaf.rs`).

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::net::{TcpListener, TcpStream};
use rand::{Rng, SeedableRng};

use rustls::pki_types::ServerName;

use super::conn::{start_conn, start_conn_with, ConnTls};
use super::CoreShell;
use crate::leaf::remote::{backoff, RemoteSpec, LOOP_DELAY};
use crate::leaf::{LeafRole, SolicitAuth};
use crate::session::CloseReason;

/// Longest wait for a TCP connect to a hub.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A link that stayed up this long resets the backoff.
const STABLE_LINK: Duration = Duration::from_secs(1);

/// Accepts leaf links on this core's leaf listener until shutdown.
pub(crate) async fn accept_loop(
    shell: Rc<CoreShell>,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::TlsSetup>>,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shell.stop_leaf_accepting.wait().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                start_conn(
                    &shell,
                    stream,
                    false,
                    tls.clone(),
                    |engine, ip, port, now| {
                        engine.open_leaf(
                            ip,
                            port,
                            now,
                            LeafRole::Accept,
                            crate::leaf::GLOBAL_ACCOUNT,
                        )
                    },
                );
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "leafnode accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sleeps `d`, or less once `stop` is set; true when stopping.
async fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        glommio::timer::sleep((end - Instant::now()).min(Duration::from_millis(50))).await;
    }
    stop.load(Ordering::Relaxed)
}

/// Keeps one remote's link up: dial its URLs in turn, run the link until it closes, wait
/// (bounded backoff with jitter; 30 s after a loop) and dial again, until shutdown.
pub(crate) async fn solicit(shell: Rc<CoreShell>, remote: Arc<RemoteSpec>, stop: Arc<AtomicBool>) {
    let mut failures = 0u32;
    let mut next_url = 0usize;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(shell.now_ns() ^ 0x5eed);
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let url = remote.urls[next_url % remote.urls.len()].clone();
        next_url += 1;
        let addr = url.addr();
        let dialled = futures_lite::future::or(
            async { Some(TcpStream::connect(addr.as_str()).await) },
            async {
                glommio::timer::sleep(CONNECT_TIMEOUT).await;
                None
            },
        )
        .await;
        let mut delay_extra = Duration::ZERO;
        match dialled {
            Some(Ok(stream)) if !stop.load(Ordering::Relaxed) => {
                let auth = SolicitAuth {
                    user: url.user.clone(),
                    pass: url.pass.clone(),
                    creds: remote.creds.clone(),
                    perms: remote.perms.clone(),
                    tls: remote.tls.is_some(),
                };
                let started = Instant::now();
                let account = remote.account.clone();
                let tls = match &remote.tls {
                    None => Some(ConnTls::Plain),
                    Some(t) => match ServerName::try_from(url.host.clone()) {
                        Ok(name) => Some(ConnTls::Client(t.clone(), name)),
                        Err(e) => {
                            tracing::error!(url = %addr, error = %e, "leafnode TLS: bad host name");
                            None
                        }
                    },
                };
                let link = tls.and_then(|tls| {
                    start_conn_with(&shell, stream, false, tls, |engine, ip, port, now| {
                        engine.open_leaf(ip, port, now, LeafRole::Solicit(auth), &account)
                    })
                });
                if let Some((_, io)) = link {
                    tracing::info!(url = %addr, "leafnode link connected");
                    io.done.wait().await;
                    if started.elapsed() >= STABLE_LINK {
                        failures = 0;
                    }
                    if io.close_reason.get() == Some(CloseReason::LeafLoopDetected) {
                        tracing::error!(url = %addr, "leafnode loop detected: waiting 30s before reconnecting");
                        delay_extra = LOOP_DELAY;
                    } else {
                        tracing::warn!(url = %addr, "leafnode link lost; reconnecting");
                    }
                }
            }
            Some(Ok(_)) => return,
            Some(Err(e)) => tracing::debug!(url = %addr, error = %e, "leafnode connect failed"),
            None => tracing::debug!(url = %addr, "leafnode connect timed out"),
        }
        let delay = backoff(failures, rng.random::<f64>()) + delay_extra;
        failures = failures.saturating_add(1);
        if sleep_unless(&stop, delay).await {
            return;
        }
    }
}
