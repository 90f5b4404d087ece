//! One stream's share of the storage work (a "chain" on its lane, see `storage`): its ops
//! in order, then one write and one `fdatasync` of its active segment. A chain owns its
//! stream's files while it runs, so chains of different streams run concurrently and a
//! stream's publish acks wait for its own appends only — never for another stream's
//! metadata, consumer or delete ops. What a failure means is `storage_policy`'s.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use super::segment_writer::{SegmentWriter, ZeroAhead};
use super::storage::{SealedSegment, StreamFiles, SyncMode, META_FILE};
use super::storage_fs::{SegmentIo, StorageFs};
use super::storage_policy::{error_text, is_no_space, StoreFailure};
use super::storage_recover::{consumer_dir, CONSUMER_STATE_FILE};
use crate::store::record::{encode_into, Record};
use crate::store::segment::{index_file_name, segment_file_name};
use crate::streams::StorageOp;

/// The segment a stream appends to.
pub(super) struct ActiveSegment<S: SegmentIo> {
    pub(super) writer: SegmentWriter<S>,
    pub(super) first_seq: u64,
    pub(super) written_bytes: u64,
    pub(super) index: Vec<(u64, u64)>,
    unsynced: bool,
    /// `written_bytes` and `index.len()` at the last commit point (sync; interval policy:
    /// acknowledged write): what a failed write rolls back to.
    committed_bytes: u64,
    committed_entries: usize,
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

/// What the appends of a chain put at risk: the files' state before the first append not
/// yet durable (a refused chain puts it back, so the next segment's leading checkpoint does
/// not claim refused records) and the first message sequence not yet durable.
#[derive(Clone, Copy)]
struct Mark {
    state_before: (u64, u64, u64),
    first_seq: Option<u64>,
}

/// One stream's work, ready to run.
pub(super) struct Chain<F: StorageFs> {
    pub(super) fs: F,
    pub(super) max_segment_bytes: u64,
    pub(super) mode: SyncMode,
    pub(super) tuning: StorageTuning,
    pub(super) slot: u32,
    pub(super) files: Option<StreamFiles<F::Segment>>,
    /// Why the stream is stopped (fail-stop), if it is.
    pub(super) stopped: Option<String>,
    /// Interval policy: fdatasync the active segment at the end (the periodic sync).
    pub(super) sync_due: bool,
}

/// How `sync = "always"` commits run (both on in production; off for A/B measurements).
#[derive(Debug, Clone, Copy)]
pub struct StorageTuning {
    /// A stream's next chain is written while the last one's fdatasync runs.
    pub pipelined: bool,
    /// O_DIRECT segments are zeroed ahead of the records.
    pub zero_ahead: bool,
}

impl Default for StorageTuning {
    fn default() -> Self {
        StorageTuning {
            pipelined: true,
            zero_ahead: true,
        }
    }
}

/// A group commit's fdatasync, still to run or under way (pipelined commits: the stream's
/// next chain is written meanwhile).
pub(super) type SyncJob = Pin<Box<dyn Future<Output = std::io::Result<()>>>>;

/// What a chain did; its files go back to the storage.
pub(super) struct ChainDone<S: SegmentIo> {
    pub(super) slot: u32,
    pub(super) files: Option<StreamFiles<S>>,
    pub(super) stopped: Option<String>,
    /// Segments sealed by the chain (their index is still to be written).
    pub(super) sealed: Vec<SealedSegment>,
    /// The chain's appends are refused, and why (the stream's publish acks fail with it).
    pub(super) failure: Option<StoreFailure>,
    /// From this message sequence on the refused appends are not on disk (`u64::MAX`: none
    /// was written; those before it are durable, in a segment sealed within the chain).
    pub(super) refused_from: u64,
    /// A metadata or consumer file op failed (other replies waiting on the chain fail).
    pub(super) other_failure: Option<StoreFailure>,
    /// The highest message sequence appended by the chain (of the stream it ends with).
    pub(super) last_seq: Option<u64>,
    /// Ops carried out (or refused).
    pub(super) ops: usize,
    /// The chain's group-commit fdatasync, in microseconds, if it made one.
    pub(super) sync_us: Option<u64>,
    /// The whole chain, in microseconds.
    pub(super) took_us: u64,
    /// `sync = "always"`: the chain's writes are done and this fdatasync makes them durable;
    /// nothing of the chain is acknowledged before it succeeds.
    pub(super) pending_sync: Option<SyncJob>,
    /// The first message sequence the pending sync makes durable (a failed sync refuses the
    /// stream's messages from there on).
    pub(super) unsynced_from: Option<u64>,
    /// The chain deleted the stream (what was under way for it no longer concerns the slot).
    pub(super) deleted: bool,
    /// The first message sequence the chain appended.
    pub(super) first_appended: Option<u64>,
}

impl<S: SegmentIo> ChainDone<S> {
    /// The stream's name (its directory's), for replies and logs.
    pub(super) fn name(&self) -> String {
        self.files.as_ref().map(|f| f.name()).unwrap_or_default()
    }
}

impl<F: StorageFs> Chain<F> {
    fn name(&self) -> String {
        self.files.as_ref().map(|f| f.name()).unwrap_or_default()
    }

    /// Carries out the stream's ops in order, then one write and one fdatasync of its
    /// segment (the interval policy: the write only). Never panics on an I/O error: the
    /// outcome says whether the stream's writes are durable and why not.
    pub(super) async fn run(mut self, ops: Vec<StorageOp>) -> ChainDone<F::Segment> {
        let t0 = Instant::now();
        let mut done = ChainDone {
            slot: self.slot,
            files: None,
            stopped: None,
            sealed: Vec::new(),
            failure: None,
            refused_from: u64::MAX,
            other_failure: None,
            last_seq: None,
            ops: ops.len(),
            sync_us: None,
            took_us: 0,
            pending_sync: None,
            unsynced_from: None,
            deleted: false,
            first_appended: None,
        };
        let mut mark: Option<Mark> = None;
        let mut failed = false;
        let mut touched = false;
        for op in ops {
            if let StorageOp::Append { index, .. } = &op {
                if let Some(files) = &self.files {
                    let m = mark.get_or_insert(Mark {
                        state_before: files.state,
                        first_seq: None,
                    });
                    if m.first_seq.is_none() {
                        m.first_seq = index.first().map(|e| e.0);
                    }
                }
                if let Some(&(seq, _)) = index.last() {
                    done.last_seq = Some(seq);
                }
                if done.first_appended.is_none() {
                    done.first_appended = index.first().map(|e| e.0);
                }
            }
            if let StorageOp::Delete { .. } = op {
                self.stopped = None;
                mark = None;
                done.last_seq = None;
                done.deleted = true;
            } else if let Some(why) = &self.stopped {
                let f = StoreFailure::Stopped(why.clone());
                done.failure.get_or_insert(f);
                continue;
            } else if failed {
                continue;
            }
            let is_append = matches!(op, StorageOp::Append { .. });
            let create_name = match &op {
                StorageOp::Create { dir, .. } => {
                    dir.file_name().map(|n| n.to_string_lossy().into_owned())
                }
                _ => None,
            };
            match self.apply(op, &mut touched, &mut mark, &mut done).await {
                Ok(()) => {}
                Err(ApplyError::Write(e)) if is_append => {
                    failed = true;
                    let f = self.write_failed(&e).await;
                    done.failure.get_or_insert(f);
                }
                Err(ApplyError::Sync(e)) => {
                    failed = true;
                    let f = self.stop(&format!("fdatasync: {}", error_text(&e)));
                    done.failure.get_or_insert(f);
                }
                Err(ApplyError::Write(e)) => {
                    // Metadata and consumer files: nothing acknowledged depends on a partial
                    // one (temp file + rename), so the stream goes on; the replies waiting
                    // on this chain that are not publish acks get the error.
                    let name = create_name.unwrap_or_else(|| self.name());
                    tracing::error!(stream = %name, error = %e, "stream metadata or consumer file write failed");
                    let f = if is_no_space(&e) {
                        StoreFailure::NoSpace
                    } else {
                        StoreFailure::Stopped(error_text(&e))
                    };
                    done.other_failure.get_or_insert(f);
                }
            }
        }
        let healthy = !failed && self.stopped.is_none();
        if healthy && (touched || self.sync_due) {
            if let Err(f) = self.commit_point(touched, &mut done).await {
                failed = true;
                done.failure.get_or_insert(f);
            }
        }
        if done.pending_sync.is_some() {
            done.unsynced_from = mark.and_then(|m| m.first_seq);
        }
        if failed || done.failure.is_some() {
            if let Some(m) = mark {
                done.refused_from = m.first_seq.unwrap_or(u64::MAX);
                if let Some(files) = self.files.as_mut() {
                    files.state = m.state_before;
                }
            }
        }
        done.took_us = t0.elapsed().as_micros() as u64;
        done.files = self.files;
        done.stopped = self.stopped;
        done
    }

    /// The end of a chain: what it wrote goes out in one write and, unless the interval
    /// policy acknowledges after the write, one fdatasync — which `sync = "always"` hands
    /// back to the storage as a pending sync (`done.pending_sync`), so the stream's next
    /// chain is written while it runs. The write is the roll-back point from here on: a
    /// later failed write keeps it (its sync decides; a failed one stops the stream).
    async fn commit_point(
        &mut self,
        touched: bool,
        done: &mut ChainDone<F::Segment>,
    ) -> Result<(), StoreFailure> {
        let interval = matches!(self.mode, SyncMode::Interval(_));
        let Some(active) = self.files.as_mut().and_then(|f| f.active.as_mut()) else {
            return Ok(());
        };
        if touched {
            if let Err(e) = active.writer.flush().await {
                return Err(self.write_failed(&e).await);
            }
            if interval {
                // Acknowledged after the write: a later failed write must not cut it.
                mark_committed(active);
                if !self.sync_due {
                    return Ok(());
                }
            }
        }
        if !interval && self.tuning.pipelined {
            if active.unsynced {
                done.pending_sync = Some(Box::pin(active.writer.sync_job()));
                active.unsynced = false;
            }
            mark_committed(active);
            return Ok(());
        }
        let t = Instant::now();
        match sync_active(active).await {
            Ok(true) => {
                done.sync_us = Some(t.elapsed().as_micros() as u64);
                mark_committed(active);
                Ok(())
            }
            Ok(false) => {
                mark_committed(active);
                Ok(())
            }
            Err(e) => Err(self.stop(&format!("fdatasync: {}", error_text(&e)))),
        }
    }

    /// Fail-stop: the stream takes no more writes until the process restarts.
    fn stop(&mut self, why: &str) -> StoreFailure {
        tracing::error!(
            stream = %self.name(),
            error = %why,
            "stream storage failed: the stream takes no more writes until restart (fail-stop; a failed sync is never retried)"
        );
        self.stopped = Some(why.to_owned());
        StoreFailure::Stopped(why.to_owned())
    }

    /// A write of the stream's active segment failed: ENOSPC rolls the segment back to its
    /// last synced length (nothing there was acknowledged) and the stream goes on; anything
    /// else, or a failed roll-back, stops the stream.
    async fn write_failed(&mut self, e: &std::io::Error) -> StoreFailure {
        if !is_no_space(e) {
            return self.stop(&error_text(e));
        }
        let name = self.name();
        let Some(files) = self.files.as_mut() else {
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
            Err(e2) => self.stop(&format!("roll back after ENOSPC: {}", error_text(&e2))),
        }
    }

    async fn apply(
        &mut self,
        op: StorageOp,
        touched: &mut bool,
        mark: &mut Option<Mark>,
        done: &mut ChainDone<F::Segment>,
    ) -> Result<(), ApplyError> {
        let fs = &self.fs;
        match op {
            StorageOp::Create {
                stream: _,
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
                self.files = Some(StreamFiles::recovered(
                    dir,
                    created_ns,
                    Vec::new(),
                    (first_seq, first_seq - 1, 0),
                ));
            }
            StorageOp::WriteMeta { meta, .. } => {
                if let Some(f) = &self.files {
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
                let zero = self.tuning.zero_ahead;
                let Some(files) = self.files.as_mut() else {
                    return Ok(());
                };
                if files
                    .active
                    .as_ref()
                    .is_some_and(|a| a.written_bytes >= max)
                {
                    // What this chain queued is written first (a failed write can still be
                    // rolled back); closing syncs: a failure there is a failed fdatasync.
                    let active = files.active.as_mut().expect("checked");
                    active.writer.flush().await?;
                    let sealed = seal(files, stream).await.map_err(ApplyError::Sync)?;
                    // Synced: what this chain put in it is durable, whatever follows.
                    if let Some(m) = mark.as_mut() {
                        m.state_before = files.state;
                        m.first_seq = index.first().map(|e| e.0);
                    }
                    done.sealed.extend(sealed);
                }
                if files.active.is_none() {
                    open_segment(fs, files, mode, max, zero).await?;
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
                *touched = true;
                if active.writer.should_flush() {
                    active.writer.flush().await?;
                }
            }
            StorageOp::Compact {
                stream,
                first_live_seq,
            } => {
                let Some(files) = self.files.as_mut() else {
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
            StorageOp::ConsumerMeta { name, meta, .. } => {
                if let Some(f) = &self.files {
                    let dir = consumer_dir(&f.dir, &name);
                    fs.create_dir_all(&dir).await?;
                    fs.replace_file(&dir, META_FILE, meta, true).await?;
                    fs.sync_dir(dir.parent().expect("consumers dir")).await?;
                }
            }
            StorageOp::ConsumerState {
                name, state, sync, ..
            } => {
                if let Some(f) = &self.files {
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
            StorageOp::ConsumerDelete { name, .. } => {
                if let Some(f) = &self.files {
                    fs.remove_dir_all(&consumer_dir(&f.dir, &name)).await?;
                }
            }
            StorageOp::Delete { .. } => {
                done.sealed.clear();
                if let Some(mut files) = self.files.take() {
                    if let Some(active) = files.active.take() {
                        active.writer.abandon().await;
                    }
                    fs.remove_dir_all(&files.dir).await?;
                }
            }
        }
        Ok(())
    }
}

fn mark_committed<S: SegmentIo>(active: &mut ActiveSegment<S>) {
    active.writer.mark_committed();
    active.committed_bytes = active.written_bytes;
    active.committed_entries = active.index.len();
}

/// fdatasync of the active segment if it has unsynced writes; whether it synced.
pub(super) async fn sync_active<S: SegmentIo>(
    active: &mut ActiveSegment<S>,
) -> std::io::Result<bool> {
    if !active.unsynced {
        return Ok(false);
    }
    active.writer.sync().await?;
    active.unsynced = false;
    Ok(true)
}

/// Starts the next segment: O_DIRECT when every commit is synced, else through the page
/// cache (the interval policy acks after the write).
async fn open_segment<F: StorageFs>(
    fs: &F,
    files: &mut StreamFiles<F::Segment>,
    mode: SyncMode,
    max_segment_bytes: u64,
    zero_ahead: bool,
) -> std::io::Result<()> {
    // Named for the next sequence, but never the name of an existing segment: one that
    // holds only removals (tombstones, purges) leaves the last sequence unchanged, and
    // creating a file truncates it.
    let first_seq = (files.state.1 + 1).max(files.sealed.last().map_or(0, |s| s + 1));
    let path = files.dir.join(segment_file_name(first_seq));
    let direct = matches!(mode, SyncMode::Always);
    let mut writer = SegmentWriter::new(fs.create_segment(&path, direct).await?);
    if direct && zero_ahead {
        writer = writer.with_zero_ahead(ZeroAhead::for_segment(max_segment_bytes));
    }
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
pub(super) async fn seal<S: SegmentIo>(
    files: &mut StreamFiles<S>,
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
