//! The storage task of one core (group commits, replies released or refused after them) and
//! its sealer task (bodies of sealed segments to the file mapping, index files).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::storage::{Released, SealQueue, SealedSegment, Storage, SyncMode};
use super::storage_policy::StoreFailure;
use super::storage_recover::map_segment;
use super::CoreShell;
use crate::jetstream::failure_reply::failure_reply;

/// Group-commit accounting, logged at debug level every few seconds of activity.
#[derive(Default)]
struct CommitStats {
    commits: u64,
    fsyncs: u64,
    ops: u64,
    replies: u64,
    /// Time in commits (writes and syncs), microseconds.
    write_us: u64,
    since: Option<Instant>,
}

impl CommitStats {
    const PERIOD: Duration = Duration::from_secs(5);

    fn maybe_log(&mut self) {
        let since = *self.since.get_or_insert_with(Instant::now);
        let elapsed = since.elapsed();
        if elapsed < Self::PERIOD || self.commits == 0 {
            return;
        }
        let secs = elapsed.as_secs_f64();
        tracing::debug!(
            commits_per_s = (self.commits as f64 / secs) as u64,
            fsyncs_per_s = (self.fsyncs as f64 / secs) as u64,
            replies_per_commit = self.replies / self.commits,
            ops_per_commit = self.ops / self.commits,
            avg_commit_us = self.write_us / self.commits,
            "storage group commits"
        );
        *self = CommitStats::default();
    }
}

/// The storage task of one core: group commits until the server stops. It takes the host's
/// storage work as it comes, queues it on the streams' lanes (`Storage::dispatch`), and as
/// each stream's chain finishes tells the host and releases the replies that waited for it.
/// `idx` is the stream host's place in `CoreShell::hosts` (one per account with JetStream).
pub(crate) async fn storage_task(shell: Rc<CoreShell>, mut storage: Storage, idx: usize) {
    let slot = &shell.hosts[idx];
    let mut stats = CommitStats::default();
    let interval = match storage.mode {
        SyncMode::Always => None,
        SyncMode::Interval(d) => Some(d),
    };
    let mut last_sync = Instant::now();
    let seal_queue = Rc::new(SealQueue::default());
    glommio::spawn_local(sealer_task(shell.clone(), seal_queue.clone(), idx)).detach();
    loop {
        if shell.storage_stop.get()
            && storage.idle()
            && !slot.host.borrow().has_storage_work(shell.js_clock())
        {
            close_all(&mut storage, &seal_queue).await;
            slot.storage_done.notify();
            return;
        }
        // New work, or a chain finished (or the interval policy's sync is due).
        let finished = {
            let work = async {
                slot.storage_notify.wait().await;
                None
            };
            let chain = async { Some(storage.next_done().await) };
            match interval {
                None => futures_lite::future::or(work, chain).await,
                Some(d) => {
                    let wait = d.saturating_sub(last_sync.elapsed());
                    let tick = async {
                        glommio::timer::sleep(wait).await;
                        None
                    };
                    futures_lite::future::or(futures_lite::future::or(work, chain), tick).await
                }
            }
        };
        if let Some(done) = finished {
            let mut rel = Released::default();
            storage.finish(done, &mut rel);
            settle(&shell, &mut storage, &seal_queue, rel, idx, &mut stats);
        }
        // The host's work so far, after it learned of the finished chain (a refusal makes
        // it forget what it sent: the appends queued behind the chain are dropped with it).
        let (ops, replies) = slot.host.borrow_mut().take_storage_batch(shell.js_clock());
        if !ops.is_empty() || !replies.is_empty() {
            let mut rel = Released::default();
            storage.dispatch(ops, replies, &mut rel);
            settle(&shell, &mut storage, &seal_queue, rel, idx, &mut stats);
        }
        if let Some(d) = interval {
            if last_sync.elapsed() >= d {
                storage.sync_all();
                last_sync = Instant::now();
            }
        }
    }
}

/// Hands what finished chains released to the host (first) and the clients (then), and the
/// segments they sealed to the sealer.
fn settle(
    shell: &CoreShell,
    storage: &mut Storage,
    seal_queue: &SealQueue,
    rel: Released,
    idx: usize,
    stats: &mut CommitStats,
) {
    let slot = &shell.hosts[idx];
    if rel.chains > 0 {
        stats.commits += rel.chains;
        stats.ops += rel.ops;
        stats.fsyncs += rel.sync_us.len() as u64;
        let mut hist = shell.commit_hist.borrow_mut();
        for &(ops, us) in &rel.took_us {
            stats.write_us += us;
            hist.record(ops, us);
        }
        for &us in &rel.sync_us {
            hist.record_fdatasync(us);
        }
    }
    stats.replies += rel.replies.len() as u64;
    stats.maybe_log();
    if !storage.sealed_out.is_empty() {
        seal_queue
            .jobs
            .borrow_mut()
            .extend(storage.sealed_out.drain(..));
        seal_queue.notify.notify();
    }
    for (name, f) in &rel.failed {
        tracing::debug!(stream = %name, failure = ?f, "stream writes refused");
    }
    // Before the replies: what was refused is gone before anyone hears of it, and what is
    // durable becomes visible to consumers.
    if !rel.done.is_empty() {
        let mut host = slot.host.borrow_mut();
        let mut forgotten = 0;
        for d in &rel.done {
            forgotten += host.handle_stream_storage_done(d);
        }
        if forgotten > 0 {
            tracing::debug!(
                forgotten,
                "refused messages removed from their streams (never acknowledged, not on disk)"
            );
        }
    }
    if rel.done.is_empty() && rel.replies.is_empty() {
        return;
    }
    publish_replies(shell, rel.replies, slot.account);
}

/// Index entries re-pointed per host borrow: bounds how long the core is kept from other
/// tasks (a 64 MiB segment of tiny messages holds over a million).
const REBASE_CHUNK_ENTRIES: usize = 4096;
/// Pause between two rebase chunks.
const REBASE_PAUSE: Duration = Duration::from_micros(500);

/// The sealer task of one core: for each segment the storage task sealed, moves its messages'
/// bodies from RAM to the file's mapping, a chunk at a time with a yield in between so that
/// connections keep being served, then writes the segment's index.
async fn sealer_task(shell: Rc<CoreShell>, queue: Rc<SealQueue>, idx: usize) {
    loop {
        queue.notify.wait().await;
        loop {
            let Some(seg) = queue.jobs.borrow_mut().pop_front() else {
                break;
            };
            rebase_sealed(&shell, &seg, idx).await;
            let path = seg.path();
            if let Err(e) = seg.write_index().await {
                tracing::warn!(file = %path.display(), error = %e, "writing the segment index failed; it is rebuilt at the next start");
            }
        }
    }
}

async fn rebase_sealed(shell: &CoreShell, seg: &SealedSegment, idx: usize) {
    let path = seg.path();
    // open + mmap on the blocking pool: never a file syscall on the core.
    let p = path.clone();
    let map = match glommio::executor()
        .spawn_blocking(move || map_segment(&p))
        .await
    {
        Ok(map) => map,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot map sealed segment; its messages stay in memory");
            return;
        }
    };
    let (mut n, mut busy_us, t0) = (0, 0u64, Instant::now());
    for chunk in seg.index.chunks(REBASE_CHUNK_ENTRIES) {
        let t = Instant::now();
        n += shell.hosts[idx].host.borrow_mut().rebase_sealed(
            seg.stream,
            seg.created_ns,
            &map,
            chunk,
        );
        busy_us += t.elapsed().as_micros() as u64;
        // A timer, not a plain yield: the reactor must get to poll io_uring (group commits
        // wait on it), which it does only when no task is ready to run.
        glommio::timer::sleep(REBASE_PAUSE).await;
    }
    tracing::debug!(
        file = %path.display(),
        messages = n,
        busy_us,
        elapsed_us = t0.elapsed().as_micros() as u64,
        "sealed segment mapped; bodies left the heap"
    );
}

/// Releases replies whose writes are done: a reply whose writes are durable as it is, one
/// whose writes failed as the JetStream error nats-server sends (never a false ack, and an
/// answer rather than a timeout); a reply with no error form is withheld.
fn publish_replies(
    shell: &CoreShell,
    replies: Vec<(crate::streams::DeferredReply, Option<StoreFailure>)>,
    account: crate::accounts::AccountId,
) {
    if replies.is_empty() {
        // Messages that just became visible: let their consumers deliver.
        shell.process_events();
        return;
    }
    let mut refused = 0usize;
    {
        let mut engine = shell.engine.borrow_mut();
        for (r, failure) in &replies {
            match failure {
                None => {
                    engine.publish_internal_in(account, &r.subject, None, 0, &r.payload);
                }
                Some(f) => {
                    refused += 1;
                    if let Some(err) = failure_reply(&r.payload, &f.api_error()) {
                        engine.publish_internal_in(account, &r.subject, None, 0, &err);
                    }
                }
            }
        }
    }
    if refused > 0 {
        tracing::warn!(
            refused,
            "replies refused with a storage error (their writes are not durable)"
        );
    }
    shell.process_events();
}

/// Closes every active segment cleanly (syncs, trims the DMA padding) and writes its index
/// and those the sealer has not written yet, so the next start finds fresh indexes instead of
/// rebuilding them.
async fn close_all(storage: &mut Storage, queue: &SealQueue) {
    let mut sealed: Vec<SealedSegment> = queue.jobs.borrow_mut().drain(..).collect();
    sealed.extend(storage.close_all().await);
    for seg in sealed {
        let path = seg.path();
        if let Err(e) = seg.write_index().await {
            tracing::warn!(file = %path.display(), error = %e, "writing the segment index failed; it is rebuilt at the next start");
        }
    }
}
