//! Lame duck mode on one core (SIGUSR2, nats-server's `lameDuckMode`): this core closes its
//! listener, tells its clients (`INFO` with `"ldm":true`) so they reconnect to another
//! server, waits the grace period, then closes its clients a few at a time spread over the
//! rest of the duration. The cores then leave together through the ordinary shutdown.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::CoreShell;

/// Lame duck settings and the switches the cores share.
#[derive(Debug, Clone)]
pub struct LameDuckSpec {
    /// Set by the SIGUSR2 handler (or `ServerHandle::lame_duck`).
    pub flag: Arc<AtomicBool>,
    /// From the signal to the last client closed.
    pub duration: Duration,
    /// From the signal to the first client closed.
    pub grace: Duration,
    /// Cores done closing their clients; no core starts the shutdown before all are.
    pub cores_done: Arc<AtomicUsize>,
}

/// How often waits look at the shutdown flag (SIGTERM ends lame duck mode at once).
const POLL: Duration = Duration::from_millis(20);
/// Shortest pause between two closes; more clients than the duration allows at this pace
/// are closed in batches.
const MIN_PAUSE: Duration = Duration::from_millis(1);
/// Longest pause between two closes (nats-server: 1 s).
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// How long a core that is done waits for the slowest other core beyond the duration.
const BARRIER_SLACK: Duration = Duration::from_secs(5);

/// Sleeps until `until` or until the shutdown flag is set; false when it was.
async fn sleep_until(until: Instant, shutdown: &AtomicBool) -> bool {
    loop {
        if shutdown.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        glommio::timer::sleep((until - now).min(POLL)).await;
    }
}

/// The pauses between closes of `n` clients over `spread`: (clients per batch, longest pause).
/// As nats-server: `spread / n`, at most 1 s; batches when that is below the shortest pause.
fn pacing(n: usize, spread: Duration) -> (usize, Duration) {
    let per = spread / n.max(1) as u32;
    if per < MIN_PAUSE {
        let batches = (spread.as_micros() / MIN_PAUSE.as_micros()).max(1) as usize;
        (n.div_ceil(batches), MIN_PAUSE)
    } else {
        (1, per.min(MAX_PAUSE))
    }
}

/// Runs this core's lame duck mode; returns when every core is done (or on SIGTERM), and
/// the caller then shuts the core down as on SIGTERM.
pub(super) async fn run(
    shell: &Rc<CoreShell>,
    spec: &LameDuckSpec,
    shutdown: &AtomicBool,
    core_id: usize,
    n_cores: usize,
) {
    let started = Instant::now();
    if core_id == 0 {
        tracing::info!("Entering lame duck mode, stop accepting new clients");
    }
    shell.stop_accepting.notify();
    shell.stop_leaf_accepting.notify();
    let listener_deadline = started + Duration::from_secs(1);
    while !shell.listener_closed.get() && Instant::now() < listener_deadline {
        glommio::timer::sleep(MIN_PAUSE).await;
    }
    let told = shell.engine.borrow_mut().enter_lame_duck();
    shell.process_events();
    let clients = shell.engine.borrow().open_connections();
    tracing::debug!(core = core_id, told, open = clients.len(), "lame duck");
    if !clients.is_empty() && sleep_until(started + spec.grace, shutdown).await {
        if core_id == 0 {
            tracing::info!("Closing existing clients");
        }
        let spread = spec.duration.saturating_sub(spec.grace);
        let spread = if spread.is_zero() {
            Duration::from_secs(1)
        } else {
            spread
        };
        let (batch, pause) = pacing(clients.len(), spread);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = SmallRng::seed_from_u64(seed ^ core_id as u64);
        let chunks: Vec<&[_]> = clients.chunks(batch).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            for &id in *chunk {
                shell.engine.borrow_mut().close_for_lame_duck(id);
            }
            shell.process_events();
            if i + 1 == chunks.len() {
                break;
            }
            // A random pause of at least half the interval, as nats-server.
            let max = pause.as_micros().max(2) as u64;
            let wait = Duration::from_micros(rng.random_range(max / 2..max));
            if !sleep_until(Instant::now() + wait, shutdown).await {
                break;
            }
        }
    }
    // Every core leaves through the shutdown rounds together: a core that went on alone
    // would stop taking its streams' messages while the others' clients still publish.
    spec.cores_done.fetch_add(1, Ordering::AcqRel);
    let barrier = started + spec.duration + BARRIER_SLACK;
    while spec.cores_done.load(Ordering::Acquire) < n_cores
        && sleep_until((Instant::now() + POLL).min(barrier), shutdown).await
        && Instant::now() < barrier
    {}
    // The server now shuts down as on SIGTERM (the monitoring thread stops on this flag too).
    shutdown.store(true, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_spread_over_the_duration_at_most_a_second_apart_or_batched() {
        assert_eq!(
            pacing(4, Duration::from_secs(2)),
            (1, Duration::from_millis(500))
        );
        assert_eq!(pacing(10, Duration::from_secs(110)), (1, MAX_PAUSE));
        // 5,000 clients in 800 ms: 800 batches of 7 (the last smaller), 1 ms apart.
        assert_eq!(pacing(5000, Duration::from_millis(800)), (7, MIN_PAUSE));
        assert_eq!(pacing(1, Duration::from_nanos(1)), (1, MIN_PAUSE));
    }
}
