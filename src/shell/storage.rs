//! Stream files on one core: recovery at start, and the storage task that carries out the
//! stream host's [`StorageOp`]s through glommio's io_uring file API (DmaFile, O_DIRECT), with
//! group commit: every op queued at that moment is written, each touched segment gets one
//! aligned write and one `fdatasync` ([`SegmentWriter`]), and only then are the waiting
//! publish acks and API replies released.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use glommio::io::{DmaFile, DmaStreamWriterBuilder};

use super::segment_writer::SegmentWriter;

use super::CoreShell;

use crate::store::record::{encode_into, Record, RecordRef};
use crate::store::recovery;
use crate::store::segment::{
    self, build_index, index_file_name, segment_file_name, IndexView, Scanner,
};
use crate::store::Stream;
use crate::streams::{limits_of, StorageOp, StreamMeta};

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

struct ActiveSegment {
    writer: SegmentWriter,
    first_seq: u64,
    written_bytes: u64,
    index: Vec<(u64, u64)>,
    unsynced: bool,
}

/// A stream's files as the storage task tracks them.
pub(crate) struct StreamFiles {
    dir: PathBuf,
    /// The stream's creation time (its identity, as the host knows it).
    created_ns: u64,
    active: Option<ActiveSegment>,
    /// First sequence of every sealed segment, ascending.
    sealed: Vec<u64>,
    /// (first, last, last_ts) after everything written so far: a new segment starts with it.
    state: (u64, u64, u64),
}

/// Segment files of the streams this core owns; used only by this core's storage task.
pub(crate) struct Storage {
    max_segment_bytes: u64,
    mode: SyncMode,
    files: AHashMap<u32, StreamFiles>,
    /// Segments sealed since the storage task last handed them to the host.
    sealed_out: Vec<SealedSegment>,
}

/// A segment that was just sealed: its messages' bodies can move from RAM to its mapping,
/// and its index file is still to be written.
struct SealedSegment {
    stream: u32,
    created_ns: u64,
    dir: PathBuf,
    first_seq: u64,
    /// Bytes of the closed file.
    len: u64,
    /// (sequence, record offset) of every message record in it.
    index: Vec<(u64, u64)>,
}

impl SealedSegment {
    fn path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.first_seq))
    }

    /// Writes the segment's rkyv index durably, unless the segment is gone meanwhile. The
    /// archive is built on glommio's blocking-thread pool (pure computation over the entries:
    /// tens of ms for a segment of a million tiny messages) and written by this core.
    async fn write_index(self) -> std::io::Result<()> {
        if !self.path().exists() {
            return Ok(());
        }
        let t0 = Instant::now();
        let (first_seq, len, entries) = (self.first_seq, self.len, self.index);
        let n = entries.len();
        let index = glommio::executor()
            .spawn_blocking(move || build_index(first_seq, &entries, len))
            .await;
        let built_us = t0.elapsed().as_micros() as u64;
        if !self.dir.join(segment_file_name(first_seq)).exists() {
            return Ok(());
        }
        write_durable_async(&self.dir, &index_file_name(first_seq), &index).await?;
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

/// [`write_durable`] through glommio's io_uring file API, for files large enough that a
/// blocking write would stall the core: temp file written and synced, renamed, directory synced.
async fn write_durable_async(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let file = DmaFile::create(&tmp).await.map_err(io_err)?;
    let mut writer = DmaStreamWriterBuilder::new(file)
        .with_buffer_size(WRITER_BUFFER_BYTES)
        .build();
    writer.write_all(bytes).await?;
    writer.sync().await.map_err(io_err)?;
    writer.close().await?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Sealed segments handed from the storage task to the sealer task, so that neither moving
/// bodies nor writing an index ever holds up a group commit.
#[derive(Default)]
pub(crate) struct SealQueue {
    jobs: std::cell::RefCell<std::collections::VecDeque<SealedSegment>>,
    notify: super::notify::Notify,
}

/// Maps a segment file read-only; message bodies become slices of it, so they live in the
/// page cache (reclaimable, shared with the file) rather than in the process's heap.
///
/// Segment files are append-only and never truncated while mapped (recovery truncates a torn
/// tail only past every byte a record borrows), so a mapped page is always backed by the file.
fn map_segment(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file is only ever appended to, or truncated past the records in use (see
    // above), and no other process is expected to modify a stream's files while it runs.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Bytes::from_owner(map))
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes a small file durably: temp file, fsync, rename, fsync of the directory.
fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The names of the files in a stream directory.
fn list_names(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// A stream found on disk, ready to be registered with the host.
pub(crate) struct Recovered {
    pub(crate) meta: StreamMeta,
    pub(crate) consumers: Vec<crate::streams::RecoveredConsumer>,
    pub(crate) store: Stream,
    pub(crate) files: StreamFiles,
}

/// Reopens every stream under `store_dir` that core `core_id` (of `n_cores`) owns: checks
/// every record's CRC, truncates a torn or corrupt tail (and says so), rebuilds missing or
/// stale segment indexes, and replays the records into a fresh stream state.
///
/// Synchronous `std::fs` on purpose: it runs while the core starts, before it accepts any
/// client (the start-up barrier in `shell::run_core`), so it stalls no connection.
pub(crate) fn recover(store_dir: &Path, core_id: usize, n_cores: usize) -> Vec<Recovered> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(store_dir) else {
        return out;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let dir = entry.path();
        let meta_path = dir.join(META_FILE);
        let Ok(meta_bytes) = std::fs::read(&meta_path) else {
            continue;
        };
        let meta: StreamMeta = match serde_json::from_slice(&meta_bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(file = %meta_path.display(), error = %e, "unreadable stream metadata; stream skipped");
                continue;
            }
        };
        if meta.owner_core % n_cores != core_id {
            continue;
        }
        match recover_stream(&dir, meta) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "stream recovery failed; stream skipped")
            }
        }
    }
    out
}

/// Where a stream keeps its consumers: `<stream dir>/consumers/<name>/{meta.json,state}`.
fn consumer_dir(stream_dir: &Path, name: &str) -> PathBuf {
    stream_dir.join(CONSUMERS_DIR).join(name)
}

const CONSUMERS_DIR: &str = "consumers";
const CONSUMER_STATE_FILE: &str = "state";

/// Reads every durable consumer of a stream; a missing or damaged state file restarts that
/// consumer from its deliver policy (redelivery, never a skip) and says so.
fn recover_consumers(stream_dir: &Path) -> Vec<crate::streams::RecoveredConsumer> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(stream_dir.join(CONSUMERS_DIR)) else {
        return out;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let dir = entry.path();
        let meta_path = dir.join(META_FILE);
        let meta: crate::streams::ConsumerMeta = match std::fs::read(&meta_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(file = %meta_path.display(), error = %e, "unreadable consumer metadata; consumer skipped");
                continue;
            }
        };
        let state_path = dir.join(CONSUMER_STATE_FILE);
        let state = match std::fs::read(&state_path) {
            Ok(b) => match crate::consumer::state::Snapshot::decode(&b) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(file = %state_path.display(), error = %e, "consumer state unreadable; it restarts from its deliver policy");
                    None
                }
            },
            Err(_) => None,
        };
        out.push(crate::streams::RecoveredConsumer { meta, state });
    }
    out
}

fn recover_stream(dir: &Path, meta: StreamMeta) -> std::io::Result<Recovered> {
    let started = Instant::now();
    let name = meta.config.name.clone();
    let mut store = Stream::new(
        name.clone(),
        limits_of(&meta.config),
        meta.config.first_seq.max(1),
    );
    // The decisions are `store::recovery`'s; this only carries them out.
    let (segs, leftovers) = recovery::plan_files(&list_names(dir)?);
    for name in leftovers {
        tracing::info!(file = %dir.join(&name).display(), "removing leftover file (orphan index or interrupted write)");
        std::fs::remove_file(dir.join(&name))?;
    }
    let mut sealed = Vec::with_capacity(segs.len());
    let mut records = 0u64;
    let (mut read_us, mut replay_us, mut index_us) = (0u64, 0u64, 0u64);
    let mut prev: Option<recovery::SegmentScan> = None;
    for (i, &first_seq) in segs.iter().enumerate() {
        let path = dir.join(segment_file_name(first_seq));
        let t0 = Instant::now();
        // Recovered message bodies are slices of the segment's mapping (page cache, not heap).
        let bytes = map_segment(&path)?;
        let idx_path = dir.join(index_file_name(first_seq));
        let idx_bytes = std::fs::read(&idx_path).ok();
        let idx_covers = idx_bytes
            .as_deref()
            .and_then(|b| IndexView::open(b).ok().map(|v| v.covers_len()));
        let t1 = Instant::now();
        // Index entries are gathered during the scan only when the index will need a rebuild.
        let collect = idx_covers != Some(bytes.len() as u64);
        let mut entries: Vec<(u64, u64)> = Vec::new();
        let mut acc = recovery::ScanAcc::default();
        let mut scanner = Scanner::new(&bytes);
        let scanned = scanner.by_ref().map(|(off, rec)| {
            records += 1;
            acc.see(&rec);
            if let (true, RecordRef::Message(m)) = (collect, rec) {
                entries.push((m.seq, off));
            }
            rec
        });
        // One pass: the records of the good prefix are replayed as they are checked.
        store.replay_all(scanned, Some(&bytes));
        let scan = acc.finish(
            first_seq,
            bytes.len() as u64,
            &scanner,
            idx_bytes.as_deref(),
        );
        let plan = recovery::plan_segment(&scan, i + 1 == segs.len());
        if let Some(hole) = prev
            .as_ref()
            .and_then(|p| recovery::hole_between(p, first_seq))
        {
            tracing::error!(
                stream = %name,
                from_seq = hole.from_seq,
                to_seq = hole.to_seq,
                "messages lost: a segment is missing or was cut"
            );
        }
        if let Some(t) = &plan.truncate {
            if t.preserve_copy {
                let copy = dir.join(format!(
                    "{}{}",
                    segment_file_name(first_seq),
                    recovery::DAMAGED_SUFFIX
                ));
                std::fs::copy(&path, &copy)?;
                tracing::error!(
                    file = %path.display(),
                    offset = t.to_len,
                    dropped_bytes = t.dropped,
                    problem = ?t.problem,
                    copy = %copy.display(),
                    "corrupt record in a sealed segment: the rest of the segment is cut (original kept)"
                );
            } else if t.zero_fill {
                // Zero padding of the last DMA block: what an unclean stop leaves behind.
                tracing::info!(
                    file = %path.display(),
                    offset = t.to_len,
                    dropped_bytes = t.dropped,
                    "truncating torn or corrupt segment tail (zero padding after an unclean stop)"
                );
            } else {
                tracing::warn!(
                    file = %path.display(),
                    offset = t.to_len,
                    dropped_bytes = t.dropped,
                    problem = ?t.problem,
                    "truncating torn or corrupt segment tail"
                );
            }
            let f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.set_len(t.to_len)?;
            f.sync_all()?;
        }
        let t2 = Instant::now();
        if plan.rebuild_index {
            let valid_len = scan.valid_len as usize;
            if !collect {
                // The index covered the whole file but the tail was cut: index the good prefix.
                entries = segment::index_entries(&segment::scan(&bytes[..valid_len]).records);
            }
            write_durable(
                dir,
                &index_file_name(first_seq),
                &build_index(first_seq, &entries, valid_len as u64),
            )?;
            tracing::debug!(file = %idx_path.display(), "rebuilt segment index");
        }
        sealed.push(first_seq);
        prev = Some(scan);
        read_us += (t1 - t0).as_micros() as u64;
        replay_us += (t2 - t1).as_micros() as u64;
        index_us += t2.elapsed().as_micros() as u64;
    }
    let s = store.state_summary();
    tracing::info!(
        stream = %name,
        messages = s.messages,
        records,
        segments = segs.len(),
        read_ms = read_us / 1000,
        scan_replay_ms = replay_us / 1000,
        index_ms = index_us / 1000,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "stream recovered"
    );
    let consumers = recover_consumers(dir);
    let created_ns = meta.created_ns;
    Ok(Recovered {
        meta,
        consumers,
        store,
        files: StreamFiles {
            dir: dir.to_path_buf(),
            created_ns,
            active: None,
            sealed,
            state: (s.first_seq, s.last_seq, s.last_ts_ns),
        },
    })
}

impl Storage {
    /// Empty storage for one core.
    pub(crate) fn new(max_segment_bytes: u64, mode: SyncMode) -> Self {
        Storage {
            max_segment_bytes,
            mode,
            files: AHashMap::new(),
            sealed_out: Vec::new(),
        }
    }

    /// Takes over the files of a recovered stream registered under `slot`.
    pub(crate) fn adopt(&mut self, slot: u32, files: StreamFiles) {
        self.files.insert(slot, files);
    }

    /// Starts the next segment: O_DIRECT when every commit is synced, else through the page
    /// cache (the interval policy acks after the write).
    async fn open_segment(files: &mut StreamFiles, mode: SyncMode) -> std::io::Result<()> {
        let first_seq = files.state.1 + 1;
        let path = files.dir.join(segment_file_name(first_seq));
        let mut writer = match mode {
            SyncMode::Always => SegmentWriter::new(DmaFile::create(&path).await.map_err(io_err)?),
            SyncMode::Interval(_) => SegmentWriter::new_buffered(
                glommio::io::BufferedFile::create(&path)
                    .await
                    .map_err(io_err)?,
            ),
        };
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
        });
        Ok(())
    }

    /// Closes the active segment (sync, trim the DMA padding); its index is still to be
    /// written ([`SealedSegment::write_index`]).
    async fn seal(files: &mut StreamFiles, stream: u32) -> std::io::Result<Option<SealedSegment>> {
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

    async fn apply(&mut self, op: StorageOp, touched: &mut Vec<u32>) -> std::io::Result<()> {
        match op {
            StorageOp::Create {
                stream,
                dir,
                meta,
                first_seq,
                created_ns,
            } => {
                std::fs::create_dir_all(&dir)?;
                write_durable(&dir, META_FILE, &meta)?;
                if let Some(parent) = dir.parent() {
                    std::fs::File::open(parent)?.sync_all()?;
                }
                self.files.insert(
                    stream,
                    StreamFiles {
                        dir,
                        created_ns,
                        active: None,
                        sealed: Vec::new(),
                        state: (first_seq, first_seq - 1, 0),
                    },
                );
            }
            StorageOp::WriteMeta { stream, meta } => {
                if let Some(f) = self.files.get(&stream) {
                    write_durable(&f.dir, META_FILE, &meta)?;
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
                    if let Some(sealed) = Self::seal(files, stream).await? {
                        self.sealed_out.push(sealed);
                    }
                }
                if files.active.is_none() {
                    Self::open_segment(files, mode).await?;
                }
                let active = files.active.as_mut().expect("just opened");
                let base = active.written_bytes;
                active.writer.append(&records);
                if active.writer.should_flush() {
                    active.writer.flush().await?;
                }
                active.written_bytes += records.len() as u64;
                active
                    .index
                    .extend(index.iter().map(|(seq, off)| (*seq, base + off)));
                active.unsynced = true;
                files.state = checkpoint;
                if !touched.contains(&stream) {
                    touched.push(stream);
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
                    let _ = std::fs::remove_file(files.dir.join(segment_file_name(gone)));
                    let _ = std::fs::remove_file(files.dir.join(index_file_name(gone)));
                    tracing::debug!(stream, first_seq = gone, "removed fully deleted segment");
                }
            }
            StorageOp::ConsumerMeta { stream, name, meta } => {
                if let Some(f) = self.files.get(&stream) {
                    let dir = consumer_dir(&f.dir, &name);
                    std::fs::create_dir_all(&dir)?;
                    write_durable(&dir, META_FILE, &meta)?;
                    std::fs::File::open(dir.parent().expect("consumers dir"))?.sync_all()?;
                }
            }
            StorageOp::ConsumerState {
                stream,
                name,
                state,
                sync,
            } => {
                if let Some(f) = self.files.get(&stream) {
                    use std::io::Write;
                    let dir = consumer_dir(&f.dir, &name);
                    if !dir.exists() {
                        return Ok(());
                    }
                    let tmp = dir.join("state.tmp");
                    let mut file = std::fs::File::create(&tmp)?;
                    file.write_all(&state)?;
                    if sync {
                        file.sync_data()?;
                    }
                    std::fs::rename(&tmp, dir.join(CONSUMER_STATE_FILE))?;
                }
            }
            StorageOp::ConsumerDelete { stream, name } => {
                if let Some(f) = self.files.get(&stream) {
                    let dir = consumer_dir(&f.dir, &name);
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)?;
                    }
                }
            }
            StorageOp::Delete { stream } => {
                self.sealed_out.retain(|s| s.stream != stream);
                if let Some(mut files) = self.files.remove(&stream) {
                    if let Some(active) = files.active.take() {
                        active.writer.abandon().await;
                    }
                    std::fs::remove_dir_all(&files.dir)?;
                }
            }
        }
        Ok(())
    }

    /// Write and fdatasync of every stream touched since its last sync.
    async fn sync(&mut self, streams: impl Iterator<Item = u32>) -> std::io::Result<()> {
        for slot in streams {
            if let Some(active) = self.files.get_mut(&slot).and_then(|f| f.active.as_mut()) {
                if active.unsynced {
                    active.writer.sync().await?;
                    active.unsynced = false;
                }
            }
        }
        Ok(())
    }

    /// Write (no sync) of what these streams queued: the interval policy acks after it.
    async fn flush(&mut self, streams: impl Iterator<Item = u32>) -> std::io::Result<()> {
        for slot in streams {
            if let Some(active) = self.files.get_mut(&slot).and_then(|f| f.active.as_mut()) {
                active.writer.flush().await?;
            }
        }
        Ok(())
    }
}

/// Group-commit accounting, logged at debug level every few seconds of activity.
#[derive(Default)]
struct CommitStats {
    commits: u64,
    fsyncs: u64,
    ops: u64,
    replies: u64,
    write_us: u64,
    sync_us: u64,
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
            avg_write_us = self.write_us / self.commits,
            avg_sync_us = self.sync_us / self.fsyncs.max(1),
            "storage group commits"
        );
        *self = CommitStats::default();
    }
}

/// The storage task of one core: group commits until the server stops.
pub(crate) async fn storage_task(shell: Rc<CoreShell>, mut storage: Storage) {
    let mut stats = CommitStats::default();
    let interval = match storage.mode {
        SyncMode::Always => None,
        SyncMode::Interval(d) => Some(d),
    };
    let mut last_sync = Instant::now();
    let seal_queue = Rc::new(SealQueue::default());
    glommio::spawn_local(sealer_task(shell.clone(), seal_queue.clone())).detach();
    loop {
        if shell.storage_stop.get() && !shell.host.borrow().has_storage_work() {
            close_all(&mut storage, &seal_queue).await;
            shell.storage_done.notify();
            return;
        }
        match interval {
            None => shell.storage_notify.wait().await,
            Some(d) => {
                let wait = d.saturating_sub(last_sync.elapsed());
                futures_lite::future::or(shell.storage_notify.wait(), glommio::timer::sleep(wait))
                    .await;
            }
        }
        loop {
            let (ops, replies) = shell.host.borrow_mut().take_storage_batch();
            if ops.is_empty() && replies.is_empty() {
                break;
            }
            let mut touched = Vec::new();
            let mut failed = false;
            stats.commits += 1;
            stats.ops += ops.len() as u64;
            stats.replies += replies.len() as u64;
            let t0 = Instant::now();
            for op in ops {
                if let Err(e) = storage.apply(op, &mut touched).await {
                    tracing::error!(error = %e, "stream storage write failed");
                    failed = true;
                }
            }
            let t1 = Instant::now();
            stats.write_us += (t1 - t0).as_micros() as u64;
            if interval.is_none() {
                stats.fsyncs += touched.len() as u64;
                if let Err(e) = storage.sync(touched.into_iter()).await {
                    tracing::error!(error = %e, "stream write or fdatasync failed");
                    failed = true;
                }
                stats.sync_us += t1.elapsed().as_micros() as u64;
            } else if let Err(e) = storage.flush(touched.into_iter()).await {
                tracing::error!(error = %e, "stream write failed");
                failed = true;
            }
            stats.maybe_log();
            if !storage.sealed_out.is_empty() {
                seal_queue
                    .jobs
                    .borrow_mut()
                    .extend(storage.sealed_out.drain(..));
                seal_queue.notify.notify();
            }
            if failed {
                // Never acknowledge what may not be on disk: the publishers time out instead.
                tracing::error!(
                    replies = replies.len(),
                    "withholding replies after a storage failure"
                );
                continue;
            }
            publish_replies(&shell, replies);
        }
        if let Some(d) = interval {
            if last_sync.elapsed() >= d {
                let all: Vec<u32> = storage.files.keys().copied().collect();
                if let Err(e) = storage.sync(all.into_iter()).await {
                    tracing::error!(error = %e, "periodic stream fdatasync failed");
                }
                last_sync = Instant::now();
            }
        }
    }
}

/// Index entries re-pointed per host borrow: bounds how long the core is kept from other
/// tasks (a 64 MiB segment of tiny messages holds over a million).
const REBASE_CHUNK_ENTRIES: usize = 4096;
/// Pause between two rebase chunks.
const REBASE_PAUSE: Duration = Duration::from_micros(500);

/// The sealer task of one core: for each segment the storage task sealed, moves its messages'
/// bodies from RAM to the file's mapping, a chunk at a time with a yield in between so that
/// connections keep being served, then writes the segment's index.
async fn sealer_task(shell: Rc<CoreShell>, queue: Rc<SealQueue>) {
    loop {
        queue.notify.wait().await;
        loop {
            let Some(seg) = queue.jobs.borrow_mut().pop_front() else {
                break;
            };
            rebase_sealed(&shell, &seg).await;
            let path = seg.path();
            if let Err(e) = seg.write_index().await {
                tracing::warn!(file = %path.display(), error = %e, "writing the segment index failed; it is rebuilt at the next start");
            }
        }
    }
}

async fn rebase_sealed(shell: &CoreShell, seg: &SealedSegment) {
    let path = seg.path();
    let map = match map_segment(&path) {
        Ok(map) => map,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot map sealed segment; its messages stay in memory");
            return;
        }
    };
    let (mut n, mut busy_us, t0) = (0, 0u64, Instant::now());
    for chunk in seg.index.chunks(REBASE_CHUNK_ENTRIES) {
        let t = Instant::now();
        n += shell
            .host
            .borrow_mut()
            .rebase_sealed(seg.stream, seg.created_ns, &map, chunk);
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

fn publish_replies(shell: &CoreShell, replies: Vec<crate::streams::DeferredReply>) {
    if replies.is_empty() {
        return;
    }
    {
        let mut engine = shell.engine.borrow_mut();
        for r in &replies {
            engine.publish_internal(&r.subject, None, 0, &r.payload);
        }
    }
    shell.process_events();
}

/// Closes every active segment cleanly (syncs, trims the DMA padding) and writes its index
/// and those the sealer has not written yet, so the next start finds fresh indexes instead of
/// rebuilding them.
async fn close_all(storage: &mut Storage, queue: &SealQueue) {
    let mut sealed: Vec<SealedSegment> = queue.jobs.borrow_mut().drain(..).collect();
    sealed.append(&mut storage.sealed_out);
    for (&slot, files) in storage.files.iter_mut() {
        match Storage::seal(files, slot).await {
            Ok(s) => sealed.extend(s),
            Err(e) => {
                tracing::warn!(dir = %files.dir.display(), error = %e, "closing the active segment failed; its index is rebuilt at the next start")
            }
        }
    }
    for seg in sealed {
        let path = seg.path();
        if let Err(e) = seg.write_index().await {
            tracing::warn!(file = %path.display(), error = %e, "writing the segment index failed; it is rebuilt at the next start");
        }
    }
}
