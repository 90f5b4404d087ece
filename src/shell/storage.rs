//! Stream files on one core: the storage state that carries out the stream host's
//! [`StorageOp`]s with group commit per stream. Each stream's ops run in order on its lane,
//! a chain at a time (`storage_chain`: the ops, then one aligned write and one `fdatasync` of
//! its segment); chains of different streams run concurrently, and a reply is released once
//! the ops it waits for are done — a publish ack its own stream's, any other reply every op
//! queued before it (`storage_task` publishes them). Every file operation goes through the
//! [`StorageFs`] seam (glommio in production, a fault-injecting in-memory file system in
//! tests); what a failure means is `storage_policy`'s. Recovery at start-up is in
//! `storage_recover`.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use futures_lite::AsyncWriteExt;
use glommio::io::{DmaFile, DmaStreamWriterBuilder};

use super::storage_chain::{seal, ActiveSegment, Chain, ChainDone};
use super::storage_fs::{io_err, GlommioFs, GlommioSegment, StorageFs};
use super::storage_policy::StoreFailure;
pub(crate) use super::storage_recover::recover;
pub(crate) use super::storage_task::storage_task;

use crate::store::segment::{build_index, index_file_name, segment_file_name};
use crate::streams::{DeferredReply, StorageOp, StorageRefusal, StreamStorageDone};

/// Name of a stream's metadata file.
pub const META_FILE: &str = "meta.json";
/// Buffer of the stream writer of index files.
const WRITER_BUFFER_BYTES: usize = 128 * 1024;

/// How appends reach the disk (from `jetstream.sync`).
#[derive(Debug, Clone, Copy)]
pub enum SyncMode {
    /// fdatasync before every ack (group commit).
    Always,
    /// Ack after the write; fdatasync every interval.
    Interval(Duration),
}

/// A stream's files as the storage task tracks them.
pub(crate) struct StreamFiles<S: super::storage_fs::SegmentIo = GlommioSegment> {
    pub(super) dir: PathBuf,
    /// The stream's creation time (its identity, as the host knows it).
    pub(super) created_ns: u64,
    pub(super) active: Option<ActiveSegment<S>>,
    /// First sequence of every sealed segment, ascending.
    pub(super) sealed: Vec<u64>,
    /// (first, last, last_ts) after everything written so far: a new segment starts with it.
    pub(super) state: (u64, u64, u64),
}

impl<S: super::storage_fs::SegmentIo> StreamFiles<S> {
    /// Files of a stream recovered from `dir` (its segments are all sealed).
    pub(super) fn recovered(
        dir: PathBuf,
        created_ns: u64,
        sealed: Vec<u64>,
        state: (u64, u64, u64),
    ) -> Self {
        StreamFiles {
            dir,
            created_ns,
            active: None,
            sealed,
            state,
        }
    }

    /// The stream's name (its directory's).
    pub(super) fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Segment files of the streams this core owns and the lanes their work runs on; used only
/// by this core's storage task.
///
/// Every stream has a lane: its ops run in order, one [`Chain`] at a time (a group commit of
/// that stream: its ops, then one write and one fdatasync), and the chains of different
/// streams run concurrently. A publish ack (a reply tagged with its stream) waits only for
/// the ops of its own stream queued before it; any other reply (API responses) waits for
/// every op queued before it. So another stream's create, delete, metadata or consumer
/// files never hold up a publish ack.
pub(crate) struct Storage<F: StorageFs = GlommioFs> {
    fs: F,
    max_segment_bytes: u64,
    pub(super) mode: SyncMode,
    /// Files of the streams whose lane is idle (a running chain holds its stream's).
    files: AHashMap<u32, StreamFiles<F::Segment>>,
    /// Streams stopped after a failed fdatasync (fail-stop until restart), with the reason.
    stopped: AHashMap<u32, String>,
    /// Segments sealed since the storage task last handed them to the sealer.
    pub(super) sealed_out: Vec<SealedSegment>,
    /// Work per stream slot; a lane with nothing running or queued is removed.
    lanes: AHashMap<u32, Lane>,
    running: Vec<RunningChain<F::Segment>>,
    /// Number of the last batch dispatched.
    batch: u64,
    /// Replies waiting for the ops queued before them, in arrival order.
    waiting: VecDeque<Waiting>,
    /// (first batch, last batch, failure) of chains that failed: what the untagged replies
    /// of those batches fail with (the first one found).
    batch_failures: Vec<(u64, u64, StoreFailure)>,
}

/// A chain under way (glommio is single-threaded: not `Send`).
type RunningChain<S> = Pin<Box<dyn Future<Output = ChainDone<S>>>>;

/// One stream's queued and running work.
#[derive(Default)]
struct Lane {
    /// A chain of this stream is running, carrying ops of these batches (None: consumer
    /// states nothing waits for, or the periodic sync).
    running: Option<Option<(u64, u64)>>,
    /// Ops waiting for the running chain, with their batch numbers.
    pending: Vec<(u64, StorageOp)>,
    /// Consumer state writes nothing waits for (no double-ack confirmation): run as a chain
    /// of their own after the stream's next chain, so acks never wait for them.
    lazy: Vec<StorageOp>,
    /// The last chain started carried pending ops: the lazy states go next.
    last_main: bool,
    /// Interval policy: the periodic fdatasync is due.
    sync_due: bool,
}

impl Lane {
    /// The oldest batch whose ops for this stream are not done.
    fn oldest(&self) -> Option<u64> {
        let r = self.running.flatten().map(|r| r.0);
        let p = self.pending.first().map(|p| p.0);
        match (r, p) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn idle(&self) -> bool {
        self.running.is_none() && self.pending.is_empty() && self.lazy.is_empty() && !self.sync_due
    }
}

struct Waiting {
    batch: u64,
    reply: DeferredReply,
    failure: Option<StoreFailure>,
}

/// What finished chains released: first the streams' outcomes (the host learns them before
/// any reply goes out), then the replies whose ops are all done, each with the failure that
/// refuses it, if any.
#[derive(Default)]
pub(crate) struct Released {
    pub(crate) done: Vec<StreamStorageDone>,
    pub(crate) replies: Vec<(DeferredReply, Option<StoreFailure>)>,
    /// Streams (by name) whose writes were refused, and why.
    pub(crate) failed: Vec<(String, StoreFailure)>,
    /// The first failure of an op that is not an append (metadata, consumer files).
    pub(crate) other_failure: Option<StoreFailure>,
    /// Chains finished, their ops, and their time (µs, summed).
    pub(crate) chains: u64,
    pub(crate) ops: u64,
    pub(crate) took_us: Vec<(usize, u64)>,
    /// fdatasyncs of the finished chains' group commits (µs).
    pub(crate) sync_us: Vec<u64>,
}

/// What one commit achieved (tests: [`Storage::commit`] runs every chain to its end).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct CommitOutcome {
    /// Streams (by name) whose writes in this commit are not durable, and why.
    pub(crate) failed_streams: AHashMap<String, StoreFailure>,
    /// The first failure of any op.
    pub(crate) any_failure: Option<StoreFailure>,
    /// The streams whose appends are not durable, from which sequence.
    pub(crate) refused: Vec<StorageRefusal>,
}

/// A segment that was just sealed: its messages' bodies can move from RAM to its mapping,
/// and its index file is still to be written.
pub(super) struct SealedSegment {
    pub(super) stream: u32,
    pub(super) created_ns: u64,
    pub(super) dir: PathBuf,
    pub(super) first_seq: u64,
    /// Bytes of the closed file.
    pub(super) len: u64,
    /// (sequence, record offset) of every message record in it.
    pub(super) index: Vec<(u64, u64)>,
}

impl SealedSegment {
    pub(super) fn path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.first_seq))
    }

    /// Writes the segment's rkyv index durably, unless the segment is gone meanwhile. The
    /// archive is built on glommio's blocking-thread pool (pure computation over the entries:
    /// tens of ms for a segment of a million tiny messages) and written by this core through
    /// io_uring; the rename and the directory sync go to the blocking pool.
    pub(super) async fn write_index(self) -> std::io::Result<()> {
        let fs = GlommioFs;
        if !fs.exists(&self.path()).await {
            return Ok(());
        }
        let t0 = Instant::now();
        let (first_seq, len, entries) = (self.first_seq, self.len, self.index);
        let n = entries.len();
        let index = glommio::executor()
            .spawn_blocking(move || build_index(first_seq, &entries, len))
            .await;
        let built_us = t0.elapsed().as_micros() as u64;
        if !fs
            .exists(&self.dir.join(segment_file_name(first_seq)))
            .await
        {
            return Ok(());
        }
        let name = index_file_name(first_seq);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let file = DmaFile::create(&tmp).await.map_err(io_err)?;
        let mut writer = DmaStreamWriterBuilder::new(file)
            .with_buffer_size(WRITER_BUFFER_BYTES)
            .build();
        writer.write_all(&index).await?;
        writer.sync().await.map_err(io_err)?;
        writer.close().await?;
        let (dir, to) = (self.dir.clone(), self.dir.join(&name));
        glommio::executor()
            .spawn_blocking(move || {
                std::fs::rename(&tmp, to)?;
                std::fs::File::open(dir)?.sync_all()
            })
            .await?;
        tracing::debug!(
            first_seq,
            entries = n,
            built_us,
            written_us = t0.elapsed().as_micros() as u64 - built_us,
            "segment index written"
        );
        Ok(())
    }
}

/// Sealed segments handed from the storage task to the sealer task, so that neither moving
/// bodies nor writing an index ever holds up a group commit.
#[derive(Default)]
pub(crate) struct SealQueue {
    pub(super) jobs: std::cell::RefCell<std::collections::VecDeque<SealedSegment>>,
    pub(super) notify: super::notify::Notify,
}

/// The stream slot an op is about.
fn op_stream(op: &StorageOp) -> u32 {
    match op {
        StorageOp::Create { stream, .. }
        | StorageOp::WriteMeta { stream, .. }
        | StorageOp::Append { stream, .. }
        | StorageOp::Compact { stream, .. }
        | StorageOp::Delete { stream }
        | StorageOp::ConsumerMeta { stream, .. }
        | StorageOp::ConsumerState { stream, .. }
        | StorageOp::ConsumerDelete { stream, .. } => *stream,
    }
}

/// Whether an op writes the state of consumer `name`.
fn is_state_of(op: &StorageOp, name: &str) -> bool {
    matches!(op, StorageOp::ConsumerState { name: n, .. } if n == name)
}

impl Storage<GlommioFs> {
    /// Empty storage for one core.
    pub(crate) fn new(max_segment_bytes: u64, mode: SyncMode) -> Self {
        Storage::with_fs(GlommioFs, max_segment_bytes, mode)
    }
}

impl<F: StorageFs + Clone + 'static> Storage<F> {
    /// Empty storage over a given file system (tests: a fault-injecting one).
    pub(crate) fn with_fs(fs: F, max_segment_bytes: u64, mode: SyncMode) -> Self {
        Storage {
            fs,
            max_segment_bytes,
            mode,
            files: AHashMap::new(),
            stopped: AHashMap::new(),
            sealed_out: Vec::new(),
            lanes: AHashMap::new(),
            running: Vec::new(),
            batch: 0,
            waiting: VecDeque::new(),
            batch_failures: Vec::new(),
        }
    }

    /// Takes over the files of a recovered stream registered under `slot`.
    pub(crate) fn adopt(&mut self, slot: u32, files: StreamFiles<F::Segment>) {
        self.files.insert(slot, files);
    }

    /// Whether a stream was stopped by a failed fdatasync.
    #[cfg(test)]
    pub(crate) fn is_stopped(&self, slot: u32) -> bool {
        self.stopped.contains_key(&slot)
    }

    /// Whether nothing runs, is queued, or waits.
    pub(crate) fn idle(&self) -> bool {
        self.running.is_empty() && self.lanes.is_empty() && self.waiting.is_empty()
    }

    /// Queues one batch of the host's storage ops (each on its stream's lane, in order) and
    /// the replies that wait for them, and starts the chains of idle lanes. Replies with
    /// nothing left to wait for are released into `out`.
    pub(crate) fn dispatch(
        &mut self,
        ops: Vec<StorageOp>,
        replies: Vec<DeferredReply>,
        out: &mut Released,
    ) {
        self.batch += 1;
        let b = self.batch;
        let mut touched: Vec<u32> = Vec::new();
        for op in ops {
            let slot = op_stream(&op);
            let lane = self.lanes.entry(slot).or_default();
            if touched.last() != Some(&slot) && !touched.contains(&slot) {
                touched.push(slot);
            }
            match &op {
                StorageOp::ConsumerState {
                    name, sync: false, ..
                } => {
                    // A newer state replaces one not written yet.
                    lane.lazy.retain(|o| !is_state_of(o, name));
                    lane.lazy.push(op);
                    continue;
                }
                // Written now, recreated or gone: an older state set aside must not follow.
                StorageOp::ConsumerState { name, .. }
                | StorageOp::ConsumerMeta { name, .. }
                | StorageOp::ConsumerDelete { name, .. } => {
                    lane.lazy.retain(|o| !is_state_of(o, name));
                }
                StorageOp::Delete { .. } => lane.lazy.clear(),
                _ => {}
            }
            lane.pending.push((b, op));
        }
        self.waiting
            .extend(replies.into_iter().map(|reply| Waiting {
                batch: b,
                reply,
                failure: None,
            }));
        for slot in touched {
            self.start(slot);
        }
        self.release(out);
    }

    /// Starts the next chain of an idle lane, if it has work.
    fn start(&mut self, slot: u32) {
        let Some(lane) = self.lanes.get_mut(&slot) else {
            return;
        };
        if lane.running.is_some() {
            return;
        }
        let lazy_turn = !lane.lazy.is_empty() && (lane.pending.is_empty() || lane.last_main);
        let (ops, batches) = if lazy_turn {
            lane.last_main = false;
            (std::mem::take(&mut lane.lazy), None)
        } else if !lane.pending.is_empty() {
            lane.last_main = true;
            let pending = std::mem::take(&mut lane.pending);
            let batches = (pending[0].0, pending[pending.len() - 1].0);
            (
                pending.into_iter().map(|(_, op)| op).collect(),
                Some(batches),
            )
        } else if lane.sync_due {
            (Vec::new(), None)
        } else {
            if lane.idle() {
                self.lanes.remove(&slot);
            }
            return;
        };
        lane.running = Some(batches);
        let chain = Chain {
            fs: self.fs.clone(),
            max_segment_bytes: self.max_segment_bytes,
            mode: self.mode,
            slot,
            files: self.files.remove(&slot),
            stopped: self.stopped.get(&slot).cloned(),
            sync_due: std::mem::take(&mut lane.sync_due),
        };
        self.running.push(Box::pin(chain.run(ops)));
    }

    /// The next chain to finish (pending forever while none runs: race it with new work).
    pub(crate) async fn next_done(&mut self) -> ChainDone<F::Segment> {
        let running = &mut self.running;
        std::future::poll_fn(|cx| {
            for i in 0..running.len() {
                if let Poll::Ready(done) = running[i].as_mut().poll(cx) {
                    drop(running.swap_remove(i));
                    return Poll::Ready(done);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Takes a finished chain back: its stream's files return, its outcome goes to `out`
    /// (for the host), its lane's next chain starts, and the replies it held are released.
    /// A refused chain refuses the appends queued behind it too (the host forgets every
    /// message it has sent that is not on disk), up to a delete of the stream.
    pub(crate) fn finish(&mut self, done: ChainDone<F::Segment>, out: &mut Released) {
        let slot = done.slot;
        let name = done.name();
        let lane = self.lanes.entry(slot).or_default();
        let batches = lane.running.take().flatten();
        let created_ns = done.files.as_ref().map(|f| f.created_ns);
        if let Some(files) = done.files {
            self.files.insert(slot, files);
        }
        match done.stopped {
            Some(why) => self.stopped.insert(slot, why),
            None => self.stopped.remove(&slot),
        };
        self.sealed_out.extend(done.sealed);
        out.chains += 1;
        out.ops += done.ops as u64;
        out.took_us.push((done.ops, done.took_us));
        out.sync_us.extend(done.sync_us);
        let mut refusal = None;
        if let Some(f) = done.failure {
            let mut from = done.refused_from;
            let cut = lane
                .pending
                .iter()
                .position(|(_, op)| matches!(op, StorageOp::Delete { .. }))
                .unwrap_or(lane.pending.len());
            let cutoff = lane.pending.get(cut).map_or(u64::MAX, |p| p.0);
            let mut last_batch = batches.map_or(0, |b| b.1);
            let mut i = 0;
            lane.pending.retain(|(b, op)| {
                i += 1;
                match op {
                    StorageOp::Append { index, .. } if i <= cut => {
                        if let Some(&(seq, _)) = index.first() {
                            from = from.min(seq);
                        }
                        last_batch = last_batch.max(*b);
                        false
                    }
                    _ => true,
                }
            });
            for w in &mut self.waiting {
                if w.reply.stream == Some(slot) && w.batch < cutoff {
                    w.failure.get_or_insert_with(|| f.clone());
                }
            }
            if let Some((first, _)) = batches {
                self.batch_failures.push((first, last_batch, f.clone()));
            }
            let stopped = match &f {
                StoreFailure::Stopped(why) => Some(why.clone()),
                StoreFailure::NoSpace => None,
            };
            out.failed.push((name, f));
            refusal = Some(StorageRefusal {
                slot,
                from_seq: from,
                stopped,
            });
        }
        if let Some(f) = done.other_failure {
            if let Some((first, last)) = batches {
                self.batch_failures.push((first, last, f.clone()));
            }
            out.other_failure.get_or_insert(f);
        }
        if let Some(created_ns) = created_ns {
            out.done.push(StreamStorageDone {
                slot,
                created_ns,
                last_seq: done.last_seq,
                refusal,
            });
        }
        self.start(slot);
        self.release(out);
    }

    /// Moves the replies whose ops are all done into `out`, in order.
    fn release(&mut self, out: &mut Released) {
        if self.waiting.is_empty() {
            return;
        }
        let lanes = &self.lanes;
        let global = lanes.values().filter_map(Lane::oldest).min();
        for _ in 0..self.waiting.len() {
            let w = self.waiting.pop_front().expect("counted");
            let oldest = match w.reply.stream {
                Some(s) => lanes.get(&s).and_then(Lane::oldest),
                None => global,
            };
            if oldest.is_some_and(|o| o <= w.batch) {
                self.waiting.push_back(w);
                continue;
            }
            let failure = w.failure.or_else(|| match w.reply.stream {
                Some(_) => None,
                None => self
                    .batch_failures
                    .iter()
                    .find(|(a, b, _)| (*a..=*b).contains(&w.batch))
                    .map(|(_, _, f)| f.clone()),
            });
            out.replies.push((w.reply, failure));
        }
        if self.waiting.is_empty() {
            self.batch_failures.clear();
        }
    }

    /// The interval policy's periodic fdatasync of every stream (a failure stops the
    /// stream): a sync-only chain on each idle lane, the next chain of each busy one.
    pub(crate) fn sync_all(&mut self) {
        let slots: Vec<u32> = self
            .files
            .iter()
            .filter(|(_, f)| f.active.is_some())
            .map(|(s, _)| *s)
            .chain(self.lanes.keys().copied())
            .collect();
        for slot in slots {
            if self.stopped.contains_key(&slot) {
                continue;
            }
            self.lanes.entry(slot).or_default().sync_due = true;
            self.start(slot);
        }
    }

    /// Runs every chain to its end (shutdown, tests).
    pub(crate) async fn drain(&mut self, out: &mut Released) {
        while !self.running.is_empty() {
            let done = self.next_done().await;
            self.finish(done, out);
        }
    }

    /// Carries out one batch to its end: every stream's chain (concurrently), then their
    /// outcome.
    #[cfg(test)]
    pub(crate) async fn commit(&mut self, ops: Vec<StorageOp>) -> CommitOutcome {
        let mut rel = Released::default();
        self.dispatch(ops, Vec::new(), &mut rel);
        self.drain(&mut rel).await;
        let mut out = CommitOutcome::default();
        for (name, f) in rel.failed {
            out.any_failure.get_or_insert_with(|| f.clone());
            out.failed_streams.entry(name).or_insert(f);
        }
        if let Some(f) = rel.other_failure {
            out.any_failure.get_or_insert(f);
        }
        out.refused = rel.done.into_iter().filter_map(|d| d.refusal).collect();
        out
    }

    /// Finishes every chain, then closes every active segment cleanly (syncs, trims the DMA
    /// padding) and returns the segments whose index is still to be written. A stopped
    /// stream's segment is abandoned: syncing it again could report success for pages
    /// already lost.
    pub(crate) async fn close_all(&mut self) -> Vec<SealedSegment> {
        let mut rel = Released::default();
        self.drain(&mut rel).await;
        let mut sealed = std::mem::take(&mut self.sealed_out);
        for (&slot, files) in self.files.iter_mut() {
            if self.stopped.contains_key(&slot) {
                if let Some(active) = files.active.take() {
                    active.writer.abandon().await;
                }
                continue;
            }
            match seal(files, slot).await {
                Ok(s) => sealed.extend(s),
                Err(e) => {
                    tracing::warn!(dir = %files.dir.display(), error = %e, "closing the active segment failed; its index is rebuilt at the next start")
                }
            }
        }
        sealed
    }
}

#[cfg(test)]
#[path = "storage_sim_tests.rs"]
mod sim_tests;
