//! Stream files on one core: the storage state that carries out the stream host's
//! [`StorageOp`]s with group commit — every op queued at that moment is written, each touched
//! segment gets one aligned write and one `fdatasync` ([`SegmentWriter`]), and only then are the
//! waiting publish acks and API replies released (`storage_task`). Every file operation goes
//! through the [`StorageFs`] seam (glommio in production, a fault-injecting in-memory file
//! system in tests); what a failure means is `storage_policy`'s. Recovery at start-up is in
//! `storage_recover`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ahash::{AHashMap, AHashSet};
use futures_lite::AsyncWriteExt;
use glommio::io::{DmaFile, DmaStreamWriterBuilder};

use super::segment_writer::SegmentWriter;
use super::storage_fs::{io_err, GlommioFs, GlommioSegment, StorageFs};
use super::storage_policy::{error_text, is_no_space, StoreFailure};
pub(crate) use super::storage_recover::{consumer_dir, recover, CONSUMER_STATE_FILE};
pub(crate) use super::storage_task::storage_task;

use crate::store::record::{encode_into, Record};
use crate::store::segment::{build_index, index_file_name, segment_file_name};
use crate::streams::{StorageOp, StorageRefusal};

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

struct ActiveSegment<S: super::storage_fs::SegmentIo> {
    writer: SegmentWriter<S>,
    first_seq: u64,
    written_bytes: u64,
    index: Vec<(u64, u64)>,
    unsynced: bool,
    /// `written_bytes` and `index.len()` at the last commit point (sync; interval policy:
    /// acknowledged write): what a failed write rolls back to.
    committed_bytes: u64,
    committed_entries: usize,
}

/// A stream's files as the storage task tracks them.
pub(crate) struct StreamFiles<S: super::storage_fs::SegmentIo = GlommioSegment> {
    pub(super) dir: PathBuf,
    /// The stream's creation time (its identity, as the host knows it).
    pub(super) created_ns: u64,
    active: Option<ActiveSegment<S>>,
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
    fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Segment files of the streams this core owns; used only by this core's storage task.
pub(crate) struct Storage<F: StorageFs = GlommioFs> {
    fs: F,
    max_segment_bytes: u64,
    pub(super) mode: SyncMode,
    files: AHashMap<u32, StreamFiles<F::Segment>>,
    /// Streams stopped after a failed fdatasync (fail-stop until restart), with the reason.
    stopped: AHashMap<u32, String>,
    /// Segments sealed since the storage task last handed them to the host.
    pub(super) sealed_out: Vec<SealedSegment>,
    /// Consumer state writes that nothing waits for (no double-ack confirmation): written
    /// after the commit's replies are out ([`Storage::write_consumer_states`]), so publish
    /// acks never wait for them.
    after_replies: Vec<StorageOp>,
    /// Per stream, what the commit under way appended: what a refusal gives back.
    marks: AHashMap<u32, CommitMark>,
}

/// What one commit appended to one stream.
struct CommitMark {
    /// The stream files' state before the first append not yet durable: a refused commit
    /// puts it back, so the next segment's leading checkpoint does not claim refused records.
    state_before: (u64, u64, u64),
    /// First message sequence appended that is not durable yet.
    first_seq: Option<u64>,
}

/// What one group commit achieved.
#[derive(Debug, Default)]
pub(crate) struct CommitOutcome {
    /// Streams (by name) whose writes in this commit are not durable, and why.
    pub(crate) failed_streams: AHashMap<String, StoreFailure>,
    /// The first failure of any op: replies not tied to one stream (API responses) fail with it.
    pub(crate) any_failure: Option<StoreFailure>,
    /// Streams touched (for the stats).
    pub(crate) synced: u64,
    /// The streams whose appends in this commit are not durable, from which sequence, and
    /// the reason when the stream is stopped (fail-stop): the host forgets those messages
    /// and shows the stream as failed ([`crate::streams::StreamHost::handle_storage_done`]).
    pub(crate) refused: Vec<StorageRefusal>,
}

impl CommitOutcome {
    fn fail(&mut self, slot: u32, name: String, f: StoreFailure) {
        if !self.refused.iter().any(|r| r.slot == slot) {
            let stopped = match &f {
                StoreFailure::Stopped(why) => Some(why.clone()),
                StoreFailure::NoSpace => None,
            };
            self.refused.push(StorageRefusal {
                slot,
                from_seq: u64::MAX,
                stopped,
            });
        }
        self.any_failure.get_or_insert_with(|| f.clone());
        self.failed_streams.entry(name).or_insert(f);
    }

    /// The failure that withholds a reply, if any: a publish ack fails with its own stream,
    /// any other reply with the commit's first failure.
    pub(crate) fn failure_for(&self, payload: &[u8]) -> Option<&StoreFailure> {
        // A commit without failures (nearly all) withholds nothing: no need to read the
        // stream name out of every publish ack's JSON.
        if self.any_failure.is_none() && self.failed_streams.is_empty() {
            return None;
        }
        match crate::jetstream::failure_reply::pub_ack_stream(payload) {
            Some(stream) => self.failed_streams.get(&stream),
            None => self.any_failure.as_ref(),
        }
    }
}

/// A segment that was just sealed: its messages' bodies can move from RAM to its mapping,
/// and its index file is still to be written.
pub(super) struct SealedSegment {
    pub(super) stream: u32,
    pub(super) created_ns: u64,
    dir: PathBuf,
    first_seq: u64,
    /// Bytes of the closed file.
    len: u64,
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

impl Storage<GlommioFs> {
    /// Empty storage for one core.
    pub(crate) fn new(max_segment_bytes: u64, mode: SyncMode) -> Self {
        Storage::with_fs(GlommioFs, max_segment_bytes, mode)
    }
}

/// Why an op failed: a failed write can be rolled back (ENOSPC), a failed sync cannot.
enum ApplyError {
    Write(std::io::Error),
    Sync(std::io::Error),
}

impl From<std::io::Error> for ApplyError {
    fn from(e: std::io::Error) -> Self {
        ApplyError::Write(e)
    }
}

impl<F: StorageFs> Storage<F> {
    /// Empty storage over a given file system (tests: a fault-injecting one).
    pub(crate) fn with_fs(fs: F, max_segment_bytes: u64, mode: SyncMode) -> Self {
        Storage {
            fs,
            max_segment_bytes,
            mode,
            files: AHashMap::new(),
            stopped: AHashMap::new(),
            sealed_out: Vec::new(),
            after_replies: Vec::new(),
            marks: AHashMap::new(),
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

    /// Starts the next segment: O_DIRECT when every commit is synced, else through the page
    /// cache (the interval policy acks after the write).
    async fn open_segment(
        fs: &F,
        files: &mut StreamFiles<F::Segment>,
        mode: SyncMode,
    ) -> std::io::Result<()> {
        // Named for the next sequence, but never the name of an existing segment: one that
        // holds only removals (tombstones, purges) leaves the last sequence unchanged, and
        // creating a file truncates it.
        let first_seq = (files.state.1 + 1).max(files.sealed.last().map_or(0, |s| s + 1));
        let path = files.dir.join(segment_file_name(first_seq));
        let direct = matches!(mode, SyncMode::Always);
        let mut writer = SegmentWriter::new(fs.create_segment(&path, direct).await?);
        let mut head = Vec::new();
        let (first, last, last_ts) = files.state;
        encode_into(
            &Record::Checkpoint {
                first_seq: first,
                last_seq: last,
                last_ts_ns: last_ts,
            },
            &mut head,
        );
        writer.append(&head);
        files.active = Some(ActiveSegment {
            writer,
            first_seq,
            written_bytes: head.len() as u64,
            index: Vec::new(),
            unsynced: true,
            committed_bytes: 0,
            committed_entries: 0,
        });
        Ok(())
    }

    /// Closes the active segment (sync, trim the DMA padding); its index is still to be
    /// written ([`SealedSegment::write_index`]).
    async fn seal(
        files: &mut StreamFiles<F::Segment>,
        stream: u32,
    ) -> std::io::Result<Option<SealedSegment>> {
        let Some(active) = files.active.take() else {
            return Ok(None);
        };
        active.writer.close().await?;
        files.sealed.push(active.first_seq);
        Ok(Some(SealedSegment {
            stream,
            created_ns: files.created_ns,
            dir: files.dir.clone(),
            first_seq: active.first_seq,
            len: active.written_bytes,
            index: active.index,
        }))
    }

    /// Carries out one group commit: every op in order, then one write and one fdatasync per
    /// touched segment (the interval policy: the write only). Never panics on an I/O error:
    /// the outcome says which streams' writes are not durable and why (see `storage_policy`).
    pub(crate) async fn commit(&mut self, ops: Vec<StorageOp>) -> CommitOutcome {
        let mut out = CommitOutcome::default();
        let mut touched: Vec<u32> = Vec::new();
        // Streams whose append failed in this commit: their later ops in it are skipped.
        let mut failed: AHashSet<u32> = AHashSet::new();
        self.marks.clear();
        for op in ops {
            let slot = op_stream(&op);
            if let (StorageOp::Append { index, .. }, Some(files)) = (&op, self.files.get(&slot)) {
                let mark = self.marks.entry(slot).or_insert(CommitMark {
                    state_before: files.state,
                    first_seq: None,
                });
                if mark.first_seq.is_none() {
                    mark.first_seq = index.first().map(|e| e.0);
                }
            }
            if let StorageOp::Delete { .. } = op {
                self.stopped.remove(&slot);
                self.marks.remove(&slot);
            } else if let Some(why) = self.stopped.get(&slot) {
                let f = StoreFailure::Stopped(why.clone());
                let name = self.files.get(&slot).map(|f| f.name()).unwrap_or_default();
                out.fail(slot, name, f);
                continue;
            } else if failed.contains(&slot) {
                continue;
            }
            match &op {
                StorageOp::ConsumerState { sync: false, .. } => {
                    self.after_replies.push(op);
                    continue;
                }
                StorageOp::ConsumerState {
                    stream,
                    name,
                    sync: true,
                    ..
                } => {
                    // A newer state written now: an older one set aside must not follow it.
                    self.after_replies.retain(|o| {
                        !matches!(o, StorageOp::ConsumerState { stream: s, name: n, .. } if s == stream && n == name)
                    });
                }
                _ => {}
            }
            let is_append = matches!(op, StorageOp::Append { .. });
            let create_name = match &op {
                StorageOp::Create { dir, .. } => {
                    dir.file_name().map(|n| n.to_string_lossy().into_owned())
                }
                _ => None,
            };
            match self.apply(op, &mut touched).await {
                Ok(()) => {}
                Err(ApplyError::Write(e)) if is_append => {
                    failed.insert(slot);
                    let f = self.write_failed(slot, &e).await;
                    let name = self.stream_name(slot);
                    out.fail(slot, name, f);
                }
                Err(ApplyError::Sync(e)) => {
                    failed.insert(slot);
                    let f = self.stop(slot, &format!("fdatasync: {}", error_text(&e)));
                    let name = self.stream_name(slot);
                    out.fail(slot, name, f);
                }
                Err(ApplyError::Write(e)) => {
                    // Metadata and consumer files: nothing acknowledged depends on a partial
                    // one (temp file + rename), so the stream goes on; the replies of this
                    // commit that are not publish acks get the error.
                    let name = create_name.unwrap_or_else(|| self.stream_name(slot));
                    tracing::error!(stream = %name, error = %e, "stream metadata or consumer file write failed");
                    let f = if is_no_space(&e) {
                        StoreFailure::NoSpace
                    } else {
                        StoreFailure::Stopped(error_text(&e))
                    };
                    out.any_failure.get_or_insert(f);
                }
            }
        }
        for slot in touched {
            if failed.contains(&slot) || self.stopped.contains_key(&slot) {
                continue;
            }
            let Some(active) = self.files.get_mut(&slot).and_then(|f| f.active.as_mut()) else {
                continue;
            };
            if let Err(e) = active.writer.flush().await {
                let f = self.write_failed(slot, &e).await;
                out.fail(slot, self.stream_name(slot), f);
                continue;
            }
            if matches!(self.mode, SyncMode::Interval(_)) {
                // Acknowledged after the write: a later failed write must not cut it.
                Self::mark_committed(active);
                continue;
            }
            out.synced += 1;
            match Self::sync_active(active).await {
                Ok(()) => Self::mark_committed(active),
                Err(e) => {
                    let f = self.stop(slot, &format!("fdatasync: {}", error_text(&e)));
                    out.fail(slot, self.stream_name(slot), f);
                }
            }
        }
        // What the host forgets: the refused appends not made durable (a segment sealed
        // within the commit is), and the files' state goes back to before them.
        for r in &mut out.refused {
            if let Some(mark) = self.marks.remove(&r.slot) {
                r.from_seq = mark.first_seq.unwrap_or(u64::MAX);
                if let Some(files) = self.files.get_mut(&r.slot) {
                    files.state = mark.state_before;
                }
            }
        }
        self.marks.clear();
        out
    }

    fn mark_committed(active: &mut ActiveSegment<F::Segment>) {
        active.writer.mark_committed();
        active.committed_bytes = active.written_bytes;
        active.committed_entries = active.index.len();
    }

    async fn sync_active(active: &mut ActiveSegment<F::Segment>) -> std::io::Result<()> {
        if active.unsynced {
            active.writer.sync().await?;
            active.unsynced = false;
        }
        Ok(())
    }

    /// Writes the consumer states a commit set aside (see `after_replies`), in order; a
    /// failure is logged (a state file is only ever replaced whole: the consumer restarts
    /// from its previous state, redelivering, never skipping).
    pub(crate) async fn write_consumer_states(&mut self) {
        for op in std::mem::take(&mut self.after_replies) {
            let mut touched = Vec::new();
            if let Err(ApplyError::Write(e) | ApplyError::Sync(e)) =
                self.apply(op, &mut touched).await
            {
                tracing::warn!(error = %e, "consumer state write failed; the previous state stays");
            }
        }
    }

    /// The interval policy's periodic fdatasync of every stream; a failure stops the stream.
    pub(crate) async fn sync_all(&mut self) {
        let slots: Vec<u32> = self.files.keys().copied().collect();
        for slot in slots {
            if self.stopped.contains_key(&slot) {
                continue;
            }
            let Some(active) = self.files.get_mut(&slot).and_then(|f| f.active.as_mut()) else {
                continue;
            };
            if let Err(e) = Self::sync_active(active).await {
                self.stop(slot, &format!("fdatasync: {}", error_text(&e)));
            }
        }
    }

    fn stream_name(&self, slot: u32) -> String {
        self.files.get(&slot).map(|f| f.name()).unwrap_or_default()
    }

    /// Fail-stop: the stream takes no more writes until the process restarts.
    fn stop(&mut self, slot: u32, why: &str) -> StoreFailure {
        tracing::error!(
            stream = %self.stream_name(slot),
            error = %why,
            "stream storage failed: the stream takes no more writes until restart (fail-stop; a failed sync is never retried)"
        );
        self.stopped.insert(slot, why.to_owned());
        StoreFailure::Stopped(why.to_owned())
    }

    /// A write of the stream's active segment failed: ENOSPC rolls the segment back to its
    /// last synced length (nothing there was acknowledged) and the stream goes on; anything
    /// else, or a failed roll-back, stops the stream.
    async fn write_failed(&mut self, slot: u32, e: &std::io::Error) -> StoreFailure {
        if !is_no_space(e) {
            return self.stop(slot, &error_text(e));
        }
        let name = self.stream_name(slot);
        let Some(files) = self.files.get_mut(&slot) else {
            return StoreFailure::NoSpace;
        };
        let Some(active) = files.active.as_mut() else {
            tracing::warn!(stream = %name, "no space left on device (new segment)");
            return StoreFailure::NoSpace;
        };
        if active.committed_bytes == 0 {
            // Not even its leading checkpoint is durable: drop the new segment; the next
            // append starts another one.
            let active = files.active.take().expect("checked");
            let path = files.dir.join(segment_file_name(active.first_seq));
            active.writer.abandon().await;
            if let Err(e2) = self.fs.remove_file(&path).await {
                tracing::warn!(file = %path.display(), error = %e2, "removing an unsynced new segment failed; recovery cuts it");
            }
            tracing::warn!(stream = %name, "no space left on device: the new segment is dropped and this commit's publishes refused; the stream goes on");
            return StoreFailure::NoSpace;
        }
        match active.writer.roll_back().await {
            Ok(len) => {
                active.written_bytes = active.committed_bytes;
                active.index.truncate(active.committed_entries);
                active.unsynced = false;
                tracing::warn!(
                    stream = %name,
                    segment_len = len,
                    "no space left on device: this commit's writes are rolled back and its publishes refused; the stream goes on"
                );
                StoreFailure::NoSpace
            }
            Err(e2) => self.stop(
                slot,
                &format!("roll back after ENOSPC: {}", error_text(&e2)),
            ),
        }
    }

    async fn apply(&mut self, op: StorageOp, touched: &mut Vec<u32>) -> Result<(), ApplyError> {
        let fs = &self.fs;
        match op {
            StorageOp::Create {
                stream,
                dir,
                meta,
                first_seq,
                created_ns,
            } => {
                fs.create_dir_all(&dir).await?;
                fs.replace_file(&dir, META_FILE, meta, true).await?;
                if let Some(parent) = dir.parent() {
                    fs.sync_dir(parent).await?;
                }
                self.files.insert(
                    stream,
                    StreamFiles::recovered(
                        dir,
                        created_ns,
                        Vec::new(),
                        (first_seq, first_seq - 1, 0),
                    ),
                );
            }
            StorageOp::WriteMeta { stream, meta } => {
                if let Some(f) = self.files.get(&stream) {
                    fs.replace_file(&f.dir, META_FILE, meta, true).await?;
                }
            }
            StorageOp::Append {
                stream,
                records,
                index,
                checkpoint,
            } => {
                let (max, mode) = (self.max_segment_bytes, self.mode);
                let Some(files) = self.files.get_mut(&stream) else {
                    return Ok(());
                };
                if files
                    .active
                    .as_ref()
                    .is_some_and(|a| a.written_bytes >= max)
                {
                    // What this commit queued is written first (a failed write can still be
                    // rolled back); closing syncs: a failure there is a failed fdatasync.
                    let active = files.active.as_mut().expect("checked");
                    active.writer.flush().await?;
                    let sealed = Self::seal(files, stream).await.map_err(ApplyError::Sync)?;
                    // Synced: what this commit put in it is durable, whatever follows.
                    if let Some(mark) = self.marks.get_mut(&stream) {
                        mark.state_before = files.state;
                        mark.first_seq = index.first().map(|e| e.0);
                    }
                    self.sealed_out.extend(sealed);
                }
                if files.active.is_none() {
                    Self::open_segment(fs, files, mode).await?;
                }
                let active = files.active.as_mut().expect("just opened");
                let base = active.written_bytes;
                active.writer.append(&records);
                active.written_bytes += records.len() as u64;
                active
                    .index
                    .extend(index.iter().map(|(seq, off)| (*seq, base + off)));
                active.unsynced = true;
                files.state = checkpoint;
                if !touched.contains(&stream) {
                    touched.push(stream);
                }
                if active.writer.should_flush() {
                    active.writer.flush().await?;
                }
            }
            StorageOp::Compact {
                stream,
                first_live_seq,
            } => {
                let Some(files) = self.files.get_mut(&stream) else {
                    return Ok(());
                };
                // A sealed segment can go once the next segment starts at or below the first
                // live sequence: every message in it is gone, and any tombstone it holds
                // names a sequence below that too.
                while files.sealed.len() > 1 || (files.sealed.len() == 1 && files.active.is_some())
                {
                    let next_first = files
                        .sealed
                        .get(1)
                        .copied()
                        .or(files.active.as_ref().map(|a| a.first_seq))
                        .expect("a successor exists");
                    if next_first > first_live_seq {
                        break;
                    }
                    let gone = files.sealed.remove(0);
                    // Oldest first: a crash between two removals leaves a shorter prefix.
                    let _ = fs
                        .remove_file(&files.dir.join(segment_file_name(gone)))
                        .await;
                    let _ = fs.remove_file(&files.dir.join(index_file_name(gone))).await;
                    tracing::debug!(stream, first_seq = gone, "removed fully deleted segment");
                }
            }
            StorageOp::ConsumerMeta { stream, name, meta } => {
                if let Some(f) = self.files.get(&stream) {
                    let dir = consumer_dir(&f.dir, &name);
                    fs.create_dir_all(&dir).await?;
                    fs.replace_file(&dir, META_FILE, meta, true).await?;
                    fs.sync_dir(dir.parent().expect("consumers dir")).await?;
                }
            }
            StorageOp::ConsumerState {
                stream,
                name,
                state,
                sync,
            } => {
                if let Some(f) = self.files.get(&stream) {
                    let dir = consumer_dir(&f.dir, &name);
                    match fs
                        .replace_file(&dir, CONSUMER_STATE_FILE, state, sync)
                        .await
                    {
                        // The consumer was deleted meanwhile.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        r => r?,
                    }
                }
            }
            StorageOp::ConsumerDelete { stream, name } => {
                if let Some(f) = self.files.get(&stream) {
                    fs.remove_dir_all(&consumer_dir(&f.dir, &name)).await?;
                }
            }
            StorageOp::Delete { stream } => {
                self.sealed_out.retain(|s| s.stream != stream);
                if let Some(mut files) = self.files.remove(&stream) {
                    if let Some(active) = files.active.take() {
                        active.writer.abandon().await;
                    }
                    fs.remove_dir_all(&files.dir).await?;
                }
            }
        }
        Ok(())
    }

    /// Closes every active segment cleanly (syncs, trims the DMA padding) and returns the
    /// segments whose index is still to be written. A stopped stream's segment is abandoned:
    /// syncing it again could report success for pages already lost.
    pub(crate) async fn close_all(&mut self) -> Vec<SealedSegment> {
        self.write_consumer_states().await;
        let mut sealed = std::mem::take(&mut self.sealed_out);
        for (&slot, files) in self.files.iter_mut() {
            if self.stopped.contains_key(&slot) {
                if let Some(active) = files.active.take() {
                    active.writer.abandon().await;
                }
                continue;
            }
            match Self::seal(files, slot).await {
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
