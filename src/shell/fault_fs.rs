//! An in-memory file system behind the storage seam that fails on demand: a write or a sync
//! fails (EIO, ENOSPC), a write is torn at any byte, the disk is full until freed, and the
//! power goes out (every file keeps what was synced plus a torn prefix of the rest). After a
//! failed fdatasync it behaves as Linux may: the dirty pages are dropped, and a later sync
//! reports success (fsyncgate), so only a storage layer that never retries stays correct.
//!
//! Its futures are ready at once, unless a directory is stalled ([`FaultFs::stall`]: its
//! metadata operations wait until released): tests drive the storage logic with
//! `futures_lite::future::block_on`, without glommio.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::storage_fs::{SegmentIo, StorageFs};

/// A fault armed for the next matching operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The next segment write writes its first `keep` bytes, then fails with ENOSPC.
    WriteNoSpace {
        /// Bytes that reach the file before the failure.
        keep: usize,
    },
    /// The next segment write writes its first `keep` bytes, then fails with EIO.
    WriteEio {
        /// Bytes that reach the file before the failure.
        keep: usize,
    },
    /// The next fdatasync fails with EIO and drops the file's unsynced bytes.
    SyncEio,
}

#[derive(Debug, Default, Clone)]
struct File {
    data: Vec<u8>,
    /// What survives a power loss for sure (as of the last successful fdatasync).
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    files: BTreeMap<PathBuf, File>,
    dirs: BTreeSet<PathBuf>,
    armed: Option<Fault>,
    /// Segment writes an armed write fault lets through before it fires.
    armed_skip: u64,
    /// Every write that would grow the disk fails with ENOSPC.
    disk_full: bool,
    writes: u64,
    syncs: u64,
    /// The next metadata file replacement fails with EIO (independent of `armed`).
    meta_eio: bool,
    /// Directory and small-file operations under this path wait until it is cleared.
    stalled: Option<PathBuf>,
    stall_wakers: Vec<std::task::Waker>,
    /// Segment fdatasyncs wait until released (a sync under way while the next commit is
    /// written).
    syncs_held: bool,
    sync_wakers: Vec<std::task::Waker>,
    /// Segment fdatasyncs that succeed before one fails with EIO.
    sync_fail_in: Option<u64>,
}

/// The in-memory, fault-injecting file system (cheap to clone: one shared state).
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultFs(Rc<RefCell<Inner>>);

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl FaultFs {
    /// Arms a fault for the next matching operation.
    pub(crate) fn arm(&self, fault: Fault) {
        self.0.borrow_mut().armed = Some(fault);
    }

    /// Arms a write fault for the segment write after the next `skip` ones.
    pub(crate) fn arm_after(&self, skip: u64, fault: Fault) {
        let mut inner = self.0.borrow_mut();
        inner.armed = Some(fault);
        inner.armed_skip = skip;
    }

    /// Clears armed faults that have not fired.
    pub(crate) fn disarm(&self) {
        let mut inner = self.0.borrow_mut();
        inner.armed = None;
        inner.meta_eio = false;
    }

    /// Disk full (every growing write fails with ENOSPC) until called with `false`.
    pub(crate) fn set_disk_full(&self, full: bool) {
        self.0.borrow_mut().disk_full = full;
    }

    /// Power loss: each file keeps its synced bytes plus the first `torn(path, unsynced)`
    /// bytes of what was written (appended, or rewritten in place) after them.
    pub(crate) fn lose_power(&self, mut torn: impl FnMut(&Path, usize) -> usize) {
        let mut inner = self.0.borrow_mut();
        inner.armed = None;
        for (path, f) in inner.files.iter_mut() {
            // Where the page cache first differs from the disk: bytes rewritten in place
            // (a preallocated, pre-zeroed tail written over) are unsynced as much as appended
            // ones, and tear the same way.
            let base = f
                .durable
                .iter()
                .zip(&f.data)
                .position(|(a, b)| a != b)
                .unwrap_or(f.durable.len().min(f.data.len()));
            let extra = f.data.len() - base;
            let keep = torn(path, extra).min(extra);
            // The first `keep` unsynced bytes made it; past them the disk still holds what
            // was synced there (the zeros of a pre-zeroed tail), or nothing.
            let mut after = f.data[..base + keep].to_vec();
            if f.durable.len() > after.len() {
                after.extend_from_slice(&f.durable[after.len()..]);
            }
            f.data = after;
            f.durable = f.data.clone();
        }
    }

    /// Names of the files directly in `dir`.
    pub(crate) fn list(&self, dir: &Path) -> Vec<String> {
        self.0
            .borrow()
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }

    /// A file's current bytes.
    pub(crate) fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.0.borrow().files.get(path).map(|f| f.data.clone())
    }

    /// Cuts a file (recovery's truncation), durably.
    pub(crate) fn cut(&self, path: &Path, len: u64) {
        if let Some(f) = self.0.borrow_mut().files.get_mut(path) {
            f.data.truncate(len as usize);
            f.durable.truncate(len as usize);
        }
    }

    /// fdatasync of a file by path (recovery).
    pub(crate) fn sync_file(&self, path: &Path) {
        if let Some(f) = self.0.borrow_mut().files.get_mut(path) {
            f.durable = f.data.clone();
        }
    }

    /// Removes a file now (recovery's cleanup).
    pub(crate) fn delete(&self, path: &Path) {
        self.0.borrow_mut().files.remove(path);
    }

    /// The next metadata file replacement (stream or consumer file) fails with EIO.
    pub(crate) fn fail_next_meta(&self) {
        self.0.borrow_mut().meta_eio = true;
    }

    /// Directory and small-file operations under `dir` wait (a slow disk, a long removal)
    /// until [`FaultFs::unstall`].
    pub(crate) fn stall(&self, dir: &Path) {
        self.0.borrow_mut().stalled = Some(dir.to_path_buf());
    }

    /// Lets stalled operations go on.
    pub(crate) fn unstall(&self) {
        let mut inner = self.0.borrow_mut();
        inner.stalled = None;
        for w in inner.stall_wakers.drain(..) {
            w.wake();
        }
    }

    /// Waits while operations on `path` are stalled.
    async fn gate(&self, path: &Path) {
        std::future::poll_fn(|cx| {
            let mut inner = self.0.borrow_mut();
            match &inner.stalled {
                Some(dir) if path.starts_with(dir) => {
                    inner.stall_wakers.push(cx.waker().clone());
                    std::task::Poll::Pending
                }
                _ => std::task::Poll::Ready(()),
            }
        })
        .await
    }

    /// Segment fdatasyncs wait until [`FaultFs::release_syncs`].
    pub(crate) fn hold_syncs(&self) {
        self.0.borrow_mut().syncs_held = true;
    }

    /// Lets held fdatasyncs go on.
    pub(crate) fn release_syncs(&self) {
        let mut inner = self.0.borrow_mut();
        inner.syncs_held = false;
        for w in inner.sync_wakers.drain(..) {
            w.wake();
        }
    }

    /// The segment fdatasync after the next `ok` ones fails with EIO (and drops the file's
    /// unsynced bytes, as [`Fault::SyncEio`]).
    pub(crate) fn fail_sync_after(&self, ok: u64) {
        self.0.borrow_mut().sync_fail_in = Some(ok);
    }

    /// (writes, syncs) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let i = self.0.borrow();
        (i.writes, i.syncs)
    }
}

/// A segment open in a [`FaultFs`].
pub(crate) struct FaultSegment {
    fs: FaultFs,
    path: PathBuf,
}

impl SegmentIo for FaultSegment {
    fn alignment(&self) -> u64 {
        512
    }

    async fn write_at(
        &self,
        offset: u64,
        parts: [&[u8]; 2],
        padded_len: usize,
    ) -> io::Result<usize> {
        let mut inner = self.fs.0.borrow_mut();
        inner.writes += 1;
        let mut data: Vec<u8> = parts.concat();
        data.resize(padded_len, 0);
        let skip = inner.armed_skip > 0
            && matches!(
                inner.armed,
                Some(Fault::WriteNoSpace { .. } | Fault::WriteEio { .. })
            );
        if skip {
            inner.armed_skip -= 1;
        }
        let (keep, err) = match inner.armed {
            _ if skip => (data.len(), None),
            Some(Fault::WriteNoSpace { keep }) => (keep.min(data.len()), Some(enospc())),
            Some(Fault::WriteEio { keep }) => (keep.min(data.len()), Some(eio())),
            _ => (data.len(), None),
        };
        let (keep, err) = match err {
            Some(_) => {
                inner.armed = None;
                (keep, err)
            }
            None => {
                let cur = inner.files.get(&self.path).map_or(0, |f| f.data.len());
                if inner.disk_full && offset as usize + data.len() > cur {
                    (0, Some(enospc()))
                } else {
                    (keep, None)
                }
            }
        };
        let f = inner.files.get_mut(&self.path).ok_or_else(not_found)?;
        let end = offset as usize + keep;
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[offset as usize..end].copy_from_slice(&data[..keep]);
        match err {
            Some(e) => Err(e),
            None => Ok(data.len()),
        }
    }

    async fn fdatasync(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut inner = self.fs.0.borrow_mut();
            if inner.syncs_held {
                inner.sync_wakers.push(cx.waker().clone());
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        let mut inner = self.fs.0.borrow_mut();
        inner.syncs += 1;
        let mut fail = inner.armed == Some(Fault::SyncEio);
        if fail {
            inner.armed = None;
        }
        match inner.sync_fail_in {
            Some(0) => {
                inner.sync_fail_in = None;
                fail = true;
            }
            Some(n) => inner.sync_fail_in = Some(n - 1),
            None => {}
        }
        let f = inner.files.get_mut(&self.path).ok_or_else(not_found)?;
        if fail {
            // The kernel dropped the dirty pages: the unsynced bytes are gone for good, and the
            // page cache now shows what the disk has.
            f.data = f.durable.clone();
            return Err(eio());
        }
        f.durable = f.data.clone();
        Ok(())
    }

    async fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut inner = self.fs.0.borrow_mut();
        let disk_full = inner.disk_full;
        let f = inner.files.get_mut(&self.path).ok_or_else(not_found)?;
        let end = (offset + len) as usize;
        if disk_full && end > f.data.len() {
            return Err(enospc());
        }
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[offset as usize..end].fill(0);
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let mut inner = self.fs.0.borrow_mut();
        let f = inner.files.get_mut(&self.path).ok_or_else(not_found)?;
        f.data.resize(len as usize, 0);
        f.durable.truncate(len as usize);
        Ok(())
    }

    async fn close(self) -> io::Result<()> {
        Ok(())
    }
}

impl StorageFs for FaultFs {
    type Segment = FaultSegment;

    async fn create_segment(&self, path: &Path, _direct: bool) -> io::Result<FaultSegment> {
        let mut inner = self.0.borrow_mut();
        if inner.disk_full {
            return Err(enospc());
        }
        inner.files.insert(path.to_path_buf(), File::default());
        Ok(FaultSegment {
            fs: self.clone(),
            path: path.to_path_buf(),
        })
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.gate(path).await;
        self.0.borrow_mut().dirs.insert(path.to_path_buf());
        Ok(())
    }

    async fn replace_file(
        &self,
        dir: &Path,
        name: &str,
        bytes: Vec<u8>,
        sync: bool,
    ) -> io::Result<()> {
        self.gate(dir).await;
        let mut inner = self.0.borrow_mut();
        if !inner.dirs.contains(dir) {
            return Err(not_found());
        }
        if std::mem::take(&mut inner.meta_eio) {
            return Err(eio());
        }
        if inner.disk_full {
            return Err(enospc());
        }
        let durable = if sync { bytes.clone() } else { Vec::new() };
        inner.files.insert(
            dir.join(name),
            File {
                data: bytes,
                durable,
            },
        );
        Ok(())
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.gate(dir).await;
        Ok(())
    }

    async fn exists(&self, path: &Path) -> bool {
        let inner = self.0.borrow();
        inner.files.contains_key(path) || inner.dirs.contains(path)
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.borrow_mut().files.remove(path);
        Ok(())
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.gate(path).await;
        let mut inner = self.0.borrow_mut();
        inner.files.retain(|p, _| !p.starts_with(path));
        inner.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }
}
