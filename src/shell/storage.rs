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

pub use super::storage_chain::StorageTuning;
use super::storage_chain::{seal, ActiveSegment, Chain, ChainDone, SyncJob};
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
    tuning: StorageTuning,
    /// Files of the streams whose lane is idle (a running chain holds its stream's).
    files: AHashMap<u32, StreamFiles<F::Segment>>,
    /// Streams stopped after a failed fdatasync (fail-stop until restart), with the reason.
    stopped: AHashMap<u32, String>,
    /// Segments sealed since the storage task last handed them to the sealer.
    pub(super) sealed_out: Vec<SealedSegment>,
    /// Work per stream slot; a lane with nothing running or queued is removed.
    lanes: AHashMap<u32, Lane<F::Segment>>,
    running: Vec<RunningChain<F::Segment>>,
    /// Number of the last batch dispatched.
    batch: u64,
    /// Replies waiting for the ops queued before them, in arrival order.
    waiting: VecDeque<Waiting>,
    /// (first batch, last batch, failure) of chains that failed: what the untagged replies
    /// of those batches fail with (the first one found).
    batch_failures: Vec<(u64, u64, StoreFailure)>,
}

/// A chain or a group commit's fdatasync under way (glommio is single-threaded: not `Send`).
type RunningChain<S> = Pin<Box<dyn Future<Output = Finished<S>>>>;

/// What finished: a chain (its ops and its write), or the fdatasync of a written chain.
/// (Moved once per chain: the size difference of the variants costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Finished<S: super::storage_fs::SegmentIo> {
    Chain(ChainDone<S>),
    Synced(Synced),
}

/// A group commit's fdatasync, done.
pub(crate) struct Synced {
    slot: u32,
    result: std::io::Result<()>,
    took_us: u64,
}

/// A written chain whose fdatasync is under way or next (`sync = "always"`).
struct Syncing {
    batches: Option<(u64, u64)>,
    /// First and last message sequences it makes durable.
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    created_ns: Option<u64>,
    /// Not started yet (the one before it is still syncing).
    job: Option<SyncJob>,
    /// The stream was deleted since: its outcome concerns nobody.
    orphan: bool,
    /// The chain's ops and time (µs): counted with its sync's, as one group commit.
    ops: usize,
    took_us: u64,
}

/// One stream's queued and running work.
struct Lane<S: super::storage_fs::SegmentIo> {
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
    /// Pipelined commits (`sync = "always"`): the chain whose fdatasync runs now, and the
    /// chains written after it (merged: one fdatasync, started once that one succeeded,
    /// covers them all). The stream's chains go on being written while a sync runs.
    syncing: Option<Syncing>,
    written: Option<Syncing>,
    /// A refused chain that finished while a commit before it was still syncing: settled
    /// after that sync.
    deferred: Option<ChainDone<S>>,
}

impl<S: super::storage_fs::SegmentIo> Default for Lane<S> {
    fn default() -> Self {
        Lane {
            running: None,
            pending: Vec::new(),
            lazy: Vec::new(),
            last_main: false,
            sync_due: false,
            syncing: None,
            written: None,
            deferred: None,
        }
    }
}

impl<S: super::storage_fs::SegmentIo> Lane<S> {
    /// The oldest batch whose ops for this stream are not done.
    fn oldest(&self) -> Option<u64> {
        let r = self.running.flatten().map(|r| r.0);
        let p = self.pending.first().map(|p| p.0);
        let s = [&self.syncing, &self.written]
            .into_iter()
            .flatten()
            .filter_map(|s| s.batches.map(|b| b.0))
            .min();
        [r, p, s].into_iter().flatten().min()
    }

    fn idle(&self) -> bool {
        self.running.is_none()
            && self.pending.is_empty()
            && self.lazy.is_empty()
            && !self.sync_due
            && self.syncing.is_none()
            && self.written.is_none()
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
            tuning: StorageTuning::default(),
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

    /// Turns pipelining or pre-zeroing off (A/B measurements).
    pub(crate) fn with_tuning(mut self, tuning: StorageTuning) -> Self {
        self.tuning = tuning;
        self
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
            tuning: self.tuning,
            slot,
            files: self.files.remove(&slot),
            stopped: self.stopped.get(&slot).cloned(),
            sync_due: std::mem::take(&mut lane.sync_due),
        };
        self.running.push(Box::pin(
            async move { Finished::Chain(chain.run(ops).await) },
        ));
    }

    /// Starts a written chain's fdatasync.
    fn start_sync(&mut self, slot: u32, job: SyncJob) {
        self.running.push(Box::pin(async move {
            let t = Instant::now();
            let result = job.await;
            Finished::Synced(Synced {
                slot,
                result,
                took_us: t.elapsed().as_micros() as u64,
            })
        }));
    }

    /// The next chain or sync to finish (pending forever while none runs: race it with new
    /// work).
    pub(crate) async fn next_done(&mut self) -> Finished<F::Segment> {
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
    pub(crate) fn finish(&mut self, done: Finished<F::Segment>, out: &mut Released) {
        match done {
            Finished::Chain(done) => self.finish_chain(done, out),
            Finished::Synced(synced) => self.finish_sync(synced, out),
        }
    }

    fn finish_chain(&mut self, mut done: ChainDone<F::Segment>, out: &mut Released) {
        let slot = done.slot;
        let lane = self.lanes.entry(slot).or_default();
        let behind_sync = lane.syncing.is_some() || lane.written.is_some();
        if done.failure.is_some() && behind_sync && !done.deleted {
            // Refused while the commit before it still syncs: settled after that sync, so the
            // host learns the outcomes in order (that commit durable or not, then this one).
            lane.deferred = Some(done);
            return;
        }
        let batches = lane.running.take().flatten();
        if done.deleted {
            for s in [&mut lane.syncing, &mut lane.written].into_iter().flatten() {
                s.orphan = true;
            }
        } else if let Some(why) = self.stopped.get(&slot) {
            // A sync of this stream failed while the chain was being written (fail-stop):
            // nothing it wrote is synced or acknowledged.
            done.stopped.get_or_insert_with(|| why.clone());
            if done.pending_sync.take().is_some() && done.failure.is_none() {
                done.failure = Some(StoreFailure::Stopped(why.clone()));
                done.refused_from = done.first_appended.unwrap_or(u64::MAX);
            }
        }
        let name = done.name();
        let created_ns = done.files.as_ref().map(|f| f.created_ns);
        if let Some(files) = done.files {
            self.files.insert(slot, files);
        }
        match done.stopped {
            Some(why) => self.stopped.insert(slot, why),
            None => self.stopped.remove(&slot),
        };
        self.sealed_out.extend(done.sealed);
        if done.pending_sync.is_none() {
            out.chains += 1;
            out.ops += done.ops as u64;
            out.took_us.push((done.ops, done.took_us));
        }
        out.sync_us.extend(done.sync_us);
        let refusal = done
            .failure
            .map(|f| self.refuse(slot, name, f, done.refused_from, batches, out));
        if let Some(f) = done.other_failure {
            if let Some((first, last)) = batches {
                self.batch_failures.push((first, last, f.clone()));
            }
            out.other_failure.get_or_insert(f);
        }
        match done.pending_sync {
            Some(job) => {
                // Durable (and told to the host) once its fdatasync succeeds.
                let lane = self.lanes.entry(slot).or_default();
                let mut s = Syncing {
                    batches,
                    first_seq: done.unsynced_from,
                    last_seq: done.last_seq,
                    created_ns,
                    job: Some(job),
                    orphan: false,
                    ops: done.ops,
                    took_us: done.took_us,
                };
                if lane.syncing.is_none() {
                    let job = s.job.take().expect("set above");
                    lane.syncing = Some(s);
                    self.start_sync(slot, job);
                } else if let Some(w) = lane.written.as_mut() {
                    // Written while a sync runs, after another written chain: one fdatasync
                    // (this chain's: its file holds both, or the other's was sealed, which
                    // synced it) makes both durable.
                    w.batches = match (w.batches, s.batches) {
                        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                        (a, b) => a.or(b),
                    };
                    w.first_seq = w.first_seq.or(s.first_seq);
                    w.last_seq = s.last_seq.or(w.last_seq);
                    w.created_ns = s.created_ns;
                    w.job = s.job;
                    w.ops += s.ops;
                    w.took_us += s.took_us;
                } else {
                    lane.written = Some(s);
                }
            }
            None => {
                if let Some(created_ns) = created_ns {
                    out.done.push(StreamStorageDone {
                        slot,
                        created_ns,
                        last_seq: done.last_seq,
                        refusal,
                    });
                }
            }
        }
        self.start(slot);
        self.release(out);
    }

    /// A written chain's fdatasync finished: its stream's messages are durable (the host
    /// learns it, its replies go) and the next written chain's sync starts; or it failed: the
    /// stream stops (fail-stop) and everything of it not yet synced is refused, the written
    /// chain behind it included — its sync never runs (a later sync could report success for
    /// pages the failed one lost).
    fn finish_sync(&mut self, synced: Synced, out: &mut Released) {
        let slot = synced.slot;
        let lane = self.lanes.entry(slot).or_default();
        let Some(s) = lane.syncing.take() else {
            return;
        };
        out.chains += 1;
        out.ops += s.ops as u64;
        out.took_us.push((s.ops, s.took_us + synced.took_us));
        match synced.result {
            Ok(()) => {
                out.sync_us.push(synced.took_us);
                if let (false, Some(created_ns)) = (s.orphan, s.created_ns) {
                    out.done.push(StreamStorageDone {
                        slot,
                        created_ns,
                        last_seq: s.last_seq,
                        refusal: None,
                    });
                }
                if let Some(mut w) = lane.written.take() {
                    let job = w.job.take().expect("not started");
                    lane.syncing = Some(w);
                    self.start_sync(slot, job);
                }
            }
            Err(e) if s.orphan => {
                lane.written = None;
                tracing::warn!(error = %e, "fdatasync of a deleted stream's segment failed");
            }
            Err(e) => {
                let why = format!("fdatasync: {}", super::storage_policy::error_text(&e));
                let name = self.files.get(&slot).map(|f| f.name()).unwrap_or_default();
                tracing::error!(
                    stream = %name,
                    error = %why,
                    "stream storage failed: the stream takes no more writes until restart (fail-stop; a failed sync is never retried)"
                );
                self.stopped.insert(slot, why.clone());
                let lane = self.lanes.entry(slot).or_default();
                let mut batches = s.batches;
                if let Some(w) = lane.written.take() {
                    batches = match (batches, w.batches) {
                        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                        (a, b) => a.or(b),
                    };
                }
                let from = s.first_seq.unwrap_or(u64::MAX);
                let refusal =
                    self.refuse(slot, name, StoreFailure::Stopped(why), from, batches, out);
                if let Some(created_ns) = s.created_ns {
                    out.done.push(StreamStorageDone {
                        slot,
                        created_ns,
                        last_seq: None,
                        refusal: Some(refusal),
                    });
                }
            }
        }
        let lane = self.lanes.entry(slot).or_default();
        if lane.syncing.is_none() && lane.written.is_none() {
            if let Some(d) = lane.deferred.take() {
                return self.finish_chain(d, out);
            }
        }
        self.start(slot);
        self.release(out);
    }

    /// A stream's writes failed: the appends queued behind them (up to a delete of the stream)
    /// are dropped, the publish acks waiting on the stream fail, and so do the other replies
    /// of the batches involved. Returns what the host must forget.
    fn refuse(
        &mut self,
        slot: u32,
        name: String,
        f: StoreFailure,
        mut from: u64,
        batches: Option<(u64, u64)>,
        out: &mut Released,
    ) -> StorageRefusal {
        let lane = self.lanes.entry(slot).or_default();
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
        StorageRefusal {
            slot,
            from_seq: from,
            stopped,
        }
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

#[cfg(test)]
#[path = "storage_pipeline_tests.rs"]
mod pipeline_tests;
