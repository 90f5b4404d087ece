//! Appends to one segment file. With `sync = "always"` through O_DIRECT writes of whole
//! blocks: everything appended since the last flush goes out as one aligned `write` (the
//! partial last block is rewritten with it, its padding zeroed), so a group commit costs one
//! write and one `fdatasync` — two io_uring round trips, where a buffered stream writer needs
//! one per buffer plus the tail. With the opt-in interval policy through the page cache
//! (io_uring buffered writes), so an ack after the write costs a copy, not a device write.
//!
//! Pre-zeroing (O_DIRECT): ahead of the records the writer keeps writing zeros over the next
//! stretch of the file (a chunk at a time, through io_uring, while group commits go on), so a
//! commit's write lands on blocks that are allocated and written and within the file's size,
//! and its `fdatasync` flushes data only — no extent or size change to journal. A write never
//! overlaps a zeroing in flight: one that reaches into it waits for it first. Recovery reads
//! the zeros after the last record as the end of the segment (`store::segment::Scanner`), and
//! sealing cuts them off.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_lite::future::poll_once;

use super::storage_fs::SegmentIo;

/// Pending bytes past which an append writes them out at once, so a huge batch (or the
/// interval sync policy) never holds more than this in memory.
pub(crate) const FLUSH_AT_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// Bytes zeroed per step ahead of the records.
pub(crate) const ZERO_CHUNK_BYTES: u64 = 8 * 1024 * 1024;
/// The next chunk is zeroed once fewer than this many zeroed bytes lie ahead of the records.
const ZERO_LOW_WATER_BYTES: u64 = 4 * 1024 * 1024;

/// How far ahead of the records a writer zeroes (O_DIRECT segments).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZeroAhead {
    /// Zero nothing at or past this offset (the segment's size limit, rounded up).
    pub(crate) until: u64,
    /// Bytes per zeroing write.
    pub(crate) chunk: u64,
    /// Zero the next chunk when fewer zeroed bytes than this are left ahead.
    pub(crate) low_water: u64,
}

impl ZeroAhead {
    /// For segments of at most `max_segment_bytes` (the last append may pass it a little).
    pub(crate) fn for_segment(max_segment_bytes: u64) -> Self {
        let chunk = ZERO_CHUNK_BYTES.min(max_segment_bytes.next_multiple_of(4096));
        ZeroAhead {
            until: max_segment_bytes.next_multiple_of(4096),
            chunk,
            low_water: ZERO_LOW_WATER_BYTES.min(chunk),
        }
    }
}

type ZeroFuture = Pin<Box<dyn Future<Output = std::io::Result<()>>>>;

/// A zeroing write under way over `from..to`.
struct Zeroing {
    from: u64,
    to: u64,
    fut: ZeroFuture,
}

/// The writer of the active segment of one stream (owned by its core's storage task).
pub(crate) struct SegmentWriter<F: SegmentIo> {
    /// Shared with the fdatasync of a commit still under way (pipelined commits).
    file: Rc<F>,
    /// Record bytes on disk (written; synced only after [`SegmentWriter::sync`]).
    written: u64,
    /// The bytes of the last, partial block already written (`written % alignment` of them).
    tail: Vec<u8>,
    /// Bytes appended, not yet written.
    pending: Vec<u8>,
    /// `written` and `tail` at the last commit point (after a sync, or after a write whose
    /// sync is under way or that the interval policy acknowledged): where a failed write
    /// rolls back to.
    committed: u64,
    committed_tail: Vec<u8>,
    /// Pre-zeroing, if this writer does it.
    zero: Option<ZeroAhead>,
    /// The file holds written blocks (records or zeros) up to here.
    zeroed_to: u64,
    zeroing: Option<Zeroing>,
}

impl<F: SegmentIo> SegmentWriter<F> {
    /// A writer at the start of an empty file.
    pub(crate) fn new(file: F) -> Self {
        SegmentWriter {
            file: Rc::new(file),
            written: 0,
            tail: Vec::new(),
            pending: Vec::new(),
            committed: 0,
            committed_tail: Vec::new(),
            zero: None,
            zeroed_to: 0,
            zeroing: None,
        }
    }

    /// Zeroes the file ahead of the records from the next flush on.
    pub(crate) fn with_zero_ahead(mut self, zero: ZeroAhead) -> Self {
        self.zero = Some(zero);
        self
    }

    /// Queues bytes; they reach the file at the next flush.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Whether enough is queued that it should be written now.
    pub(crate) fn should_flush(&self) -> bool {
        self.pending.len() >= FLUSH_AT_PENDING_BYTES
    }

    /// Where written zeros end (records included).
    #[cfg(test)]
    pub(crate) fn zeroed_to(&self) -> u64 {
        self.zeroed_to
    }

    /// Writes everything queued in one write (whole blocks for O_DIRECT: the partial last
    /// block is rewritten with it, its padding zeroed).
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let align = self.file.alignment().max(1) as usize;
        let start = self.written - self.tail.len() as u64;
        debug_assert_eq!(start % align as u64, 0, "writes start on a block boundary");
        let data_len = self.tail.len() + self.pending.len();
        let size = data_len.div_ceil(align) * align;
        let end = start + size as u64;
        self.settle_zeroing(end).await;
        let n = self
            .file
            .write_at(start, [&self.tail, &self.pending], size)
            .await?;
        if n < data_len {
            // A regular file is written short only when the disk (or quota) is full.
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("short segment write: {n} of {data_len} bytes at offset {start}"),
            ));
        }
        self.zeroed_to = self.zeroed_to.max(end);
        self.written += self.pending.len() as u64;
        let keep = if align == 1 {
            0
        } else {
            (self.written % align as u64) as usize
        };
        let mut tail = Vec::with_capacity(keep);
        if keep > self.pending.len() {
            let from_old = keep - self.pending.len();
            tail.extend_from_slice(&self.tail[self.tail.len() - from_old..]);
            tail.extend_from_slice(&self.pending);
        } else {
            tail.extend_from_slice(&self.pending[self.pending.len() - keep..]);
        }
        self.tail = tail;
        self.pending.clear();
        self.zero_ahead(end).await;
        Ok(())
    }

    /// Takes note of a finished zeroing; waits for it if a write up to `end` would overlap it.
    async fn settle_zeroing(&mut self, end: u64) {
        let Some(z) = self.zeroing.as_mut() else {
            return;
        };
        let res = if end > z.from {
            Some(z.fut.as_mut().await)
        } else {
            poll_once(z.fut.as_mut()).await
        };
        if let Some(r) = res {
            let z = self.zeroing.take().expect("checked");
            match r {
                Ok(()) => self.zeroed_to = self.zeroed_to.max(z.to),
                // Nothing lost: the records' writes extend the file themselves (slower syncs
                // for the rest of this segment; a full disk is not asked again and again).
                Err(e) => {
                    self.zero = None;
                    tracing::debug!(error = %e, from = z.from, to = z.to, "zeroing ahead of a segment's records failed")
                }
            }
        }
    }

    /// Starts zeroing the next chunk if the records written up to `end` come close to the
    /// end of the zeroed space (the write is submitted at once; it finishes on its own).
    async fn zero_ahead(&mut self, end: u64) {
        let Some(z) = self.zero else { return };
        if self.zeroing.is_some() || self.zeroed_to >= end + z.low_water {
            return;
        }
        let from = self.zeroed_to.max(end);
        if from >= z.until {
            return;
        }
        let to = from + z.chunk;
        let file = self.file.clone();
        let mut fut: ZeroFuture = Box::pin(async move { file.zero_range(from, to - from).await });
        // The first poll submits the write.
        match poll_once(fut.as_mut()).await {
            Some(Ok(())) => self.zeroed_to = to,
            Some(Err(e)) => {
                self.zero = None;
                tracing::debug!(error = %e, from, to, "zeroing ahead of a segment's records failed")
            }
            None => self.zeroing = Some(Zeroing { from, to, fut }),
        }
    }

    /// Waits for a zeroing under way (before the file is cut or closed).
    async fn finish_zeroing(&mut self) {
        self.settle_zeroing(u64::MAX).await;
    }

    /// Writes everything queued and makes it durable (`fdatasync`).
    pub(crate) async fn sync(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        self.file.fdatasync().await
    }

    /// An `fdatasync` of the file that may outlive this borrow: a group commit's sync goes on
    /// while the next commit is written (pipelined commits). Call after [`Self::flush`].
    pub(crate) fn sync_job(&self) -> impl Future<Output = std::io::Result<()>> + 'static {
        let file = self.file.clone();
        async move { file.fdatasync().await }
    }

    /// Everything written so far is acknowledged: a later failed write rolls back to here.
    pub(crate) fn mark_committed(&mut self) {
        self.committed = self.written;
        self.committed_tail.clone_from(&self.tail);
    }

    /// After a failed write (never after a failed sync: that is fail-stop): forgets every
    /// byte since the last commit point and cuts the file back to it, so the next write
    /// continues from acknowledged data. Returns the length rolled back to.
    pub(crate) async fn roll_back(&mut self) -> std::io::Result<u64> {
        self.finish_zeroing().await;
        self.pending.clear();
        self.written = self.committed;
        self.tail.clone_from(&self.committed_tail);
        self.file.truncate(self.committed).await?;
        self.zeroed_to = self.committed;
        Ok(self.committed)
    }

    /// Syncs, trims the padding of the last block (and the zeros ahead) and closes the file
    /// (once a sync still under way lets go of it).
    pub(crate) async fn close(mut self) -> std::io::Result<()> {
        self.finish_zeroing().await;
        self.sync().await?;
        self.file.truncate(self.written).await?;
        match Rc::try_unwrap(self.file) {
            Ok(file) => file.close().await,
            // A pipelined commit's fdatasync still holds it: closed when that lets go.
            Err(_) => Ok(()),
        }
    }

    /// Closes without writing what is queued (the stream is being deleted).
    pub(crate) async fn abandon(mut self) {
        self.finish_zeroing().await;
        if let Ok(file) = Rc::try_unwrap(self.file) {
            let _ = file.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::storage_fs::{GlommioFs, StorageFs};

    /// Runs `f` on a small glommio executor (fits the default 8 MiB locked-memory limit).
    fn on_glommio<F, Fut>(f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(256 * 1024)
            .spawn(f)
            .expect("executor")
            .join()
            .expect("test body");
    }

    #[test]
    fn appends_reach_the_file_in_order_with_zero_padding_then_trimmed() {
        let dir = std::env::temp_dir().join(format!("natrix-segw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.seg");
        let p = path.clone();
        on_glommio(move || async move {
            let mut w = SegmentWriter::new(GlommioFs.create_segment(&p, true).await.unwrap());
            let mut expected = Vec::new();
            // Sizes straddling block boundaries, flushes and syncs interleaved.
            for (i, size) in [1usize, 4095, 1, 4096, 7000, 3, 12_289, 0, 5]
                .iter()
                .enumerate()
            {
                let chunk: Vec<u8> = (0..*size).map(|j| (i * 31 + j) as u8 | 1).collect();
                w.append(&chunk);
                expected.extend_from_slice(&chunk);
                if i % 2 == 0 {
                    w.sync().await.unwrap();
                } else {
                    w.flush().await.unwrap();
                }
                let on_disk = std::fs::read(&p).unwrap();
                assert_eq!(&on_disk[..expected.len()], &expected[..], "after chunk {i}");
                assert!(
                    on_disk[expected.len()..].iter().all(|&b| b == 0),
                    "zero padding"
                );
                assert_eq!(on_disk.len() % 512, 0, "whole blocks while open");
            }
            w.close().await.unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), expected, "trimmed at close");
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zeroed_ahead_then_written_over_while_the_last_sync_runs() {
        let dir = std::env::temp_dir().join(format!("natrix-segz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("z.seg");
        let p = path.clone();
        on_glommio(move || async move {
            let zero = ZeroAhead {
                until: 1 << 20,
                chunk: 64 * 1024,
                low_water: 32 * 1024,
            };
            let mut w = SegmentWriter::new(GlommioFs.create_segment(&p, true).await.unwrap())
                .with_zero_ahead(zero);
            let mut expected = Vec::new();
            let mut last_sync = None;
            for i in 0..40usize {
                let chunk: Vec<u8> = (0..3000 + i * 97).map(|j| (i + j) as u8 | 1).collect();
                w.append(&chunk);
                expected.extend_from_slice(&chunk);
                w.flush().await.unwrap();
                // The previous commit's sync finishes after this commit was written.
                if let Some(s) = last_sync.replace(w.sync_job()) {
                    s.await.unwrap();
                }
                let on_disk = std::fs::read(&p).unwrap();
                assert_eq!(&on_disk[..expected.len()], &expected[..], "after chunk {i}");
                assert!(
                    on_disk[expected.len()..].iter().all(|&b| b == 0),
                    "zeros after"
                );
            }
            last_sync.take().unwrap().await.unwrap();
            assert!(
                w.zeroed_to() > expected.len() as u64,
                "zeroed ahead of the records"
            );
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len > expected.len() as u64 && len <= 1 << 20, "{len}");
            w.close().await.unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), expected, "zeros cut at close");
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn buffered_appends_reach_the_file_exactly() {
        let dir = std::env::temp_dir().join(format!("natrix-segb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.seg");
        let p = path.clone();
        on_glommio(move || async move {
            let mut w = SegmentWriter::new(GlommioFs.create_segment(&p, false).await.unwrap());
            let mut expected = Vec::new();
            for (i, size) in [5usize, 4096, 0, 9000, 1].iter().enumerate() {
                let chunk: Vec<u8> = (0..*size).map(|j| (i + j) as u8).collect();
                w.append(&chunk);
                expected.extend_from_slice(&chunk);
                w.flush().await.unwrap();
                assert_eq!(std::fs::read(&p).unwrap(), expected, "after chunk {i}");
            }
            w.close().await.unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), expected);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
