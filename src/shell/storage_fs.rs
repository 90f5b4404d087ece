//! The file operations of the storage task, behind one small seam: [`StorageFs`] (directories
//! and small files) and [`SegmentIo`] (one open segment file). [`GlommioFs`] is the real
//! thing: segments through glommio's io_uring file API (O_DIRECT `DmaFile`, or `BufferedFile`
//! for the interval policy), and every metadata operation (create/rename/fsync of small files,
//! directory fsyncs, removals) on glommio's blocking-thread pool, so no syscall that can block
//! runs on a core. Tests put an in-memory, fault-injecting file system behind the same traits
//! (`fault_fs`), so the storage logic that runs in production is the logic under test.
//!
//! glommio is single-threaded: the futures need not be `Send`.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use glommio::io::{BufferedFile, DmaFile};

/// One open segment file, written only by its stream's storage task.
pub(crate) trait SegmentIo: 'static {
    /// Offset and length granularity of writes (1 when writes go through the page cache).
    fn alignment(&self) -> u64;
    /// Writes `parts`, back to back, at `offset`, then zeros up to `padded_len` bytes in all
    /// (`padded_len` is a multiple of [`SegmentIo::alignment`]). Returns the bytes written.
    fn write_at(
        &self,
        offset: u64,
        parts: [&[u8]; 2],
        padded_len: usize,
    ) -> impl Future<Output = io::Result<usize>>;
    /// `fdatasync`.
    fn fdatasync(&self) -> impl Future<Output = io::Result<()>>;
    /// Writes zeros over `offset..offset + len` (`offset` aligned): space ahead of the
    /// records, so that the writes landing there later overwrite allocated, written blocks
    /// and the fdatasync of a group commit has no metadata to flush. Not a segment write
    /// for fault injection (`fault_fs`): only a full disk refuses it.
    fn zero_range(&self, offset: u64, len: u64) -> impl Future<Output = io::Result<()>>;
    /// Cuts (or extends) the file to `len` bytes.
    fn truncate(&self, len: u64) -> impl Future<Output = io::Result<()>>;
    /// Closes the file.
    fn close(self) -> impl Future<Output = io::Result<()>>;
}

/// Directory and small-file operations, and segment creation.
pub(crate) trait StorageFs {
    /// An open segment.
    type Segment: SegmentIo;
    /// Creates an empty segment file: O_DIRECT when `direct`, else through the page cache.
    fn create_segment(
        &self,
        path: &Path,
        direct: bool,
    ) -> impl Future<Output = io::Result<Self::Segment>>;
    /// `mkdir -p`.
    fn create_dir_all(&self, path: &Path) -> impl Future<Output = io::Result<()>>;
    /// Replaces `dir/name` atomically: temp file written (and fdatasync'd when `sync`), renamed
    /// over it; with `sync` the directory is synced too, so the new content is durable.
    fn replace_file(
        &self,
        dir: &Path,
        name: &str,
        bytes: Vec<u8>,
        sync: bool,
    ) -> impl Future<Output = io::Result<()>>;
    /// fsync of a directory (makes a create, rename or removal in it durable).
    fn sync_dir(&self, dir: &Path) -> impl Future<Output = io::Result<()>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> impl Future<Output = bool>;
    /// Removes a file; a missing file is not an error.
    fn remove_file(&self, path: &Path) -> impl Future<Output = io::Result<()>>;
    /// Removes a directory tree; a missing one is not an error.
    fn remove_dir_all(&self, path: &Path) -> impl Future<Output = io::Result<()>>;
}

/// glommio's error as the `io::Error` it wraps, so the OS error code (ENOSPC, EIO) survives
/// for the failure policy.
pub(crate) fn io_err(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::EnhancedIoError { source, .. } => source,
        other => other.into(),
    }
}

/// The production file system: glommio's io_uring files and its blocking-thread pool.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GlommioFs;

/// Runs a blocking file operation on glommio's blocking-thread pool.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(f).await
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// The blocking body of [`StorageFs::replace_file`].
pub(crate) fn replace_file_blocking(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: bool,
) -> io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}{}", crate::store::recovery::TMP_SUFFIX));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_data()?;
    }
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    if sync {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl StorageFs for GlommioFs {
    type Segment = GlommioSegment;

    async fn create_segment(&self, path: &Path, direct: bool) -> io::Result<GlommioSegment> {
        Ok(if direct {
            GlommioSegment::Direct(DmaFile::create(path).await.map_err(io_err)?)
        } else {
            GlommioSegment::Buffered(BufferedFile::create(path).await.map_err(io_err)?)
        })
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let p = path.to_path_buf();
        blocking(move || std::fs::create_dir_all(p)).await
    }

    async fn replace_file(
        &self,
        dir: &Path,
        name: &str,
        bytes: Vec<u8>,
        sync: bool,
    ) -> io::Result<()> {
        let (dir, name) = (dir.to_path_buf(), name.to_owned());
        blocking(move || replace_file_blocking(&dir, &name, &bytes, sync)).await
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let p = dir.to_path_buf();
        blocking(move || std::fs::File::open(p)?.sync_all()).await
    }

    async fn exists(&self, path: &Path) -> bool {
        let p: PathBuf = path.to_path_buf();
        blocking(move || p.exists()).await
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        let p = path.to_path_buf();
        blocking(move || ignore_missing(std::fs::remove_file(p))).await
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let p = path.to_path_buf();
        blocking(move || ignore_missing(std::fs::remove_dir_all(p))).await
    }
}

/// Bytes of the zero block that [`SegmentIo::zero_range`] writes over and over.
const ZERO_BLOCK_BYTES: usize = 1 << 20;

type ZeroBlock = std::rc::Rc<glommio::io::DmaBuffer>;

thread_local! {
    /// One zeroed DMA block per core (and executor: its buffers belong to its ring), shared
    /// by every zeroing write and never written into.
    static ZERO_BLOCK: std::cell::RefCell<Option<(usize, ZeroBlock)>> =
        const { std::cell::RefCell::new(None) };
}

fn zero_block(f: &DmaFile) -> ZeroBlock {
    let executor = glommio::executor().id();
    ZERO_BLOCK.with(|z| {
        let mut z = z.borrow_mut();
        match z.as_ref() {
            Some((id, block)) if *id == executor => block.clone(),
            _ => {
                let mut buf = f.alloc_dma_buffer(ZERO_BLOCK_BYTES);
                buf.as_bytes_mut().fill(0);
                let block = std::rc::Rc::new(buf);
                *z = Some((executor, block.clone()));
                block
            }
        }
    })
}

/// A segment file opened by glommio.
pub(crate) enum GlommioSegment {
    /// O_DIRECT (`sync = "always"`).
    Direct(DmaFile),
    /// Through the page cache (interval policy).
    Buffered(BufferedFile),
}

impl SegmentIo for GlommioSegment {
    fn alignment(&self) -> u64 {
        match self {
            GlommioSegment::Direct(f) => f.alignment(),
            GlommioSegment::Buffered(_) => 1,
        }
    }

    async fn write_at(
        &self,
        offset: u64,
        parts: [&[u8]; 2],
        padded_len: usize,
    ) -> io::Result<usize> {
        match self {
            GlommioSegment::Direct(f) => {
                let mut buf = f.alloc_dma_buffer(padded_len);
                let b = buf.as_bytes_mut();
                let mut at = 0;
                for p in parts {
                    b[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
                // Zero padding: what recovery recognises as the end of the records.
                b[at..].fill(0);
                f.write_at(buf, offset).await.map_err(io_err)
            }
            GlommioSegment::Buffered(f) => {
                let mut data = Vec::with_capacity(padded_len);
                for p in parts {
                    data.extend_from_slice(p);
                }
                data.resize(padded_len, 0);
                f.write_at(data, offset).await.map_err(io_err)
            }
        }
    }

    async fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        match self {
            GlommioSegment::Direct(f) => {
                let (mut at, end) = (offset, offset + len);
                while at < end {
                    let n = (end - at).min(ZERO_BLOCK_BYTES as u64) as usize;
                    let written = if n == ZERO_BLOCK_BYTES {
                        f.write_rc_at(zero_block(f), at).await
                    } else {
                        let mut buf = f.alloc_dma_buffer(n);
                        buf.as_bytes_mut().fill(0);
                        f.write_at(buf, at).await
                    }
                    .map_err(io_err)?;
                    if written < n {
                        return Err(io::Error::new(
                            io::ErrorKind::StorageFull,
                            "short write while zeroing ahead",
                        ));
                    }
                    at += n as u64;
                }
                Ok(())
            }
            GlommioSegment::Buffered(f) => f
                .write_at(vec![0; len as usize], offset)
                .await
                .map(drop)
                .map_err(io_err),
        }
    }

    async fn fdatasync(&self) -> io::Result<()> {
        match self {
            GlommioSegment::Direct(f) => f.fdatasync().await.map_err(io_err),
            GlommioSegment::Buffered(f) => f.fdatasync().await.map_err(io_err),
        }
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        match self {
            GlommioSegment::Direct(f) => f.truncate(len).await.map_err(io_err),
            GlommioSegment::Buffered(f) => f.truncate(len).await.map_err(io_err),
        }
    }

    async fn close(self) -> io::Result<()> {
        match self {
            GlommioSegment::Direct(f) => f.close().await.map_err(io_err),
            GlommioSegment::Buffered(f) => f.close().await.map_err(io_err),
        }
    }
}
