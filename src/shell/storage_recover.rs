//! Recovery of a core's streams at start-up: carries out `store::recovery`'s plan for each
//! stream directory (delete leftovers, cut torn or corrupt tails, keep a copy of a damaged
//! sealed segment, rebuild indexes) and replays the records into a fresh `Stream`.
//!
//! Synchronous `std::fs` on purpose: it runs while the core starts, before it accepts any
//! client (the start-up barrier in `shell::run_core`), so it stalls no connection.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use super::storage::{StreamFiles, META_FILE};
use super::storage_fs::replace_file_blocking;
use crate::store::record::RecordRef;
use crate::store::recovery;
use crate::store::segment::{
    self, build_index, index_file_name, segment_file_name, IndexView, Scanner,
};
use crate::store::Stream;
use crate::streams::{limits_of, StreamMeta};

/// Maps a segment file read-only; message bodies become slices of it, so they live in the
/// page cache (reclaimable, shared with the file) rather than in the process's heap.
///
/// Segment files are append-only and never truncated while mapped (recovery truncates a torn
/// tail only past every byte a record borrows), so a mapped page is always backed by the file.
pub(super) fn map_segment(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file is only ever appended to, or truncated past the records in use (see
    // above), and no other process is expected to modify a stream's files while it runs.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Bytes::from_owner(map))
}

/// Asks the kernel to read a whole file into the page cache in the background (segments are
/// written with O_DIRECT, so after a restart none of them is cached): recovery's scan then
/// finds its pages read with large requests instead of faulting them in a few at a time.
fn prefetch(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: a plain advisory call on a descriptor this function owns.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
        if rc != 0 {
            tracing::debug!(file = %path.display(), rc, "posix_fadvise(WILLNEED) failed");
        }
    }
}

/// Writes a small file durably: temp file, fsync, rename, fsync of the directory.
fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    replace_file_blocking(dir, name, bytes, true)
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
pub(crate) fn consumer_dir(stream_dir: &Path, name: &str) -> PathBuf {
    stream_dir.join(CONSUMERS_DIR).join(name)
}

pub(crate) const CONSUMERS_DIR: &str = "consumers";
pub(crate) const CONSUMER_STATE_FILE: &str = "state";

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
    if let Some(&first) = segs.first() {
        prefetch(&dir.join(segment_file_name(first)));
    }
    for (i, &first_seq) in segs.iter().enumerate() {
        let path = dir.join(segment_file_name(first_seq));
        // The disk reads the next segment while this one is scanned.
        if let Some(&next) = segs.get(i + 1) {
            prefetch(&dir.join(segment_file_name(next)));
        }
        let t0 = Instant::now();
        // Recovered message bodies are slices of the segment's mapping (page cache, not heap).
        let bytes = map_segment(&path)?;
        let idx_path = dir.join(index_file_name(first_seq));
        // Mapped, not read: a sealed segment's index is 16 bytes per message.
        let idx_bytes = map_segment(&idx_path).ok().filter(|b| !b.is_empty());
        let idx_covers = idx_bytes
            .as_deref()
            .and_then(|b| IndexView::open(b).ok().map(|v| v.covers_len()));
        let t1 = Instant::now();
        // Index entries are gathered during the scan only when the index will need a rebuild.
        let collect = idx_covers != Some(bytes.len() as u64);
        let mut entries: Vec<(u64, u64)> = Vec::new();
        let mut acc = recovery::ScanAcc::default();
        // A sealed segment whose checksummed index covers exactly its length was synced and
        // closed whole: its records are walked without their CRCs. The last segment (where a
        // write may have been in flight) is always checked record by record.
        let trusted = !collect && i + 1 < segs.len();
        let mut scanner = if trusted {
            Scanner::trusted(&bytes)
        } else {
            Scanner::new(&bytes)
        };
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
        let scan = acc.finish(first_seq, bytes.len() as u64, &scanner, idx_covers);
        let plan = recovery::plan_segment(&scan, i + 1 == segs.len());
        if let Some(hole) = prev.as_ref().and_then(|p| recovery::hole_between(p, &scan)) {
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
                // Zero padding of the last DMA block, or the space zeroed ahead of the
                // records: the end of the segment after an unclean stop, nothing lost.
                tracing::info!(
                    file = %path.display(),
                    offset = t.to_len,
                    dropped_bytes = t.dropped,
                    "cutting the zeros after the last record (block padding or space zeroed ahead; nothing lost)"
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
        } else if i + 1 == segs.len() {
            // The last segment may hold records written but never synced (a process crash
            // leaves them in the page cache): they are replayed, so make them durable before
            // anything is delivered from them.
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .sync_data()?;
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
        files: StreamFiles::recovered(
            dir.to_path_buf(),
            created_ns,
            sealed,
            (s.first_seq, s.last_seq, s.last_ts_ns),
        ),
    })
}
