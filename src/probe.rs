//! Start-up host checks: prove that io_uring works and that every executor can register its I/O
//! memory *before* any glommio executor starts, because glommio panics (or silently degrades)
//! deep inside executor start-up with messages that do not tell the operator what to change.
//!
//! The checks are real, not guesses from numbers: the probe builds the same rings glommio builds
//! for each executor (main, poll, latency; 128 entries), registers a buffer of the executor's io
//! memory in each of them, submits a `NOP`, and asks the kernel which opcodes it supports. The
//! only number-based check is glommio's own floor on `RLIMIT_MEMLOCK` (512 KiB), which glommio
//! enforces by refusing to start.

use std::alloc::{self, Layout};
use std::fmt;
use std::io;

use io_uring::{opcode, IoUring, Probe};

/// glommio refuses to build a reactor when the soft `RLIMIT_MEMLOCK` is below this.
const GLOMMIO_MIN_MEMLOCK_BYTES: u64 = 512 * 1024;
/// Submission-queue depth glommio uses for each ring (its default `ring_depth`).
const RING_ENTRIES: u32 = 128;
/// Rings glommio creates per executor (main, poll, latency), each registering the io memory.
const RINGS_PER_EXECUTOR: usize = 3;
/// Page alignment glommio gives its io memory.
const PAGE_BYTES: usize = 4096;
/// Locked memory one 128-entry ring costs itself (SQ/CQ and SQE arrays), measured on Linux 6.18.
const RING_OVERHEAD_BYTES: usize = 16 * 1024;
/// glommio never registers less than this, whatever `io_memory` asks for.
const GLOMMIO_MIN_IO_MEMORY_BYTES: usize = 64 * 1024;
/// The Docker seccomp profile shipped with natrix, relative to the repository root.
const SECCOMP_PROFILE: &str = "scripts/seccomp-natrix.json";

/// io_uring operations glommio requires; it exits the process if any is missing.
const REQUIRED_OPS: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::ReadFixed::CODE, "READ_FIXED"),
    (opcode::WriteFixed::CODE, "WRITE_FIXED"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::PollRemove::CODE, "POLL_REMOVE"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::TimeoutRemove::CODE, "TIMEOUT_REMOVE"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::LinkTimeout::CODE, "LINK_TIMEOUT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Fallocate::CODE, "FALLOCATE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Recv::CODE, "RECV"),
];

/// Why the host cannot run natrix; `Display` is a multi-line message telling the operator what to
/// change.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// An io_uring system call was refused: seccomp (Docker's default profile), the
    /// `kernel.io_uring_disabled` sysctl, or a kernel without io_uring.
    #[error("{}", unavailable_message(syscall, *errno, *io_uring_disabled))]
    IoUringUnavailable {
        /// The io_uring system call that failed.
        syscall: &'static str,
        /// The errno it failed with (EPERM, EACCES, ENOSYS...).
        errno: i32,
        /// Value of `/proc/sys/kernel/io_uring_disabled`, when readable.
        io_uring_disabled: Option<u32>,
    },
    /// The kernel's io_uring lacks operations glommio needs (Linux older than 5.8).
    #[error(
        "this kernel's io_uring lacks operations natrix needs: {}.\n\
         natrix (through glommio) needs Linux 5.8 or newer; upgrade the kernel or run on a newer host.",
        missing.join(", ")
    )]
    KernelTooOld {
        /// Names of the missing io_uring operations.
        missing: Vec<&'static str>,
    },
    /// `RLIMIT_MEMLOCK` is too low to register the executors' io memory.
    #[error("{}", memlock_message(*have, *need, *cores, *io_memory_bytes))]
    MemlockTooLow {
        /// The soft `RLIMIT_MEMLOCK`, in bytes.
        have: u64,
        /// About how much locked memory the executors need, in bytes.
        need: u64,
        /// Executors the probe was asked to check.
        cores: usize,
        /// `server.io_memory_bytes` being checked.
        io_memory_bytes: usize,
    },
    /// Registering io memory failed for a reason other than `RLIMIT_MEMLOCK` (e.g. the memory
    /// cgroup limit, when locked memory is unlimited).
    #[error("{}", registration_message(*core, *errno, *need, *io_memory_bytes))]
    RegistrationFailed {
        /// Index of the executor whose registration failed (0-based).
        core: usize,
        /// The errno `io_uring_register` returned.
        errno: i32,
        /// About how much memory all executors need, in bytes.
        need: u64,
        /// `server.io_memory_bytes` being checked.
        io_memory_bytes: usize,
    },
    /// Creating a ring failed for another reason (e.g. too many open files).
    #[error(
        "cannot create io_uring ring {ring} of {total}: {}.\n\
         Each executor needs {RINGS_PER_EXECUTOR} rings; if this is EMFILE raise `ulimit -n`, \
         otherwise lower server.cores (--cores).",
        errno_text(*errno)
    )]
    RingSetupFailed {
        /// Index of the ring that failed (0-based).
        ring: usize,
        /// Rings the probe needed in total.
        total: usize,
        /// The errno `io_uring_setup` returned.
        errno: i32,
    },
}

/// `EPERM (Operation not permitted)`: the constant operators search for, then what it means.
fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    let meaning = text
        .rsplit_once(" (os error")
        .map_or(text.as_str(), |(meaning, _)| meaning);
    match errno_name(errno) {
        Some(name) => format!("{name} ({meaning})"),
        None => format!("errno {errno} ({meaning})"),
    }
}

fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOSYS => "ENOSYS",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EINVAL => "EINVAL",
        libc::EFAULT => "EFAULT",
        _ => return None,
    })
}

fn unavailable_message(syscall: &str, errno: i32, disabled: Option<u32>) -> String {
    let mut msg = format!(
        "io_uring is not available to this process: {syscall} failed with {}.\n\
         natrix runs every core on io_uring (glommio) and cannot start without it. To fix:\n",
        errno_text(errno)
    );
    msg.push_str(&format!(
        "  - in a container: the runtime's default seccomp profile blocks io_uring. Run with\n      \
         docker run --security-opt seccomp={SECCOMP_PROFILE} --ulimit memlock=-1 ...\n    \
         (Kubernetes: a `Localhost` seccompProfile with the same file; Podman: the same flags).\n"
    ));
    match disabled {
        Some(0) | None => msg.push_str(
            "  - on the host: check `sysctl kernel.io_uring_disabled`; it must be 0 \
             (or 1 with this user in kernel.io_uring_group).\n",
        ),
        Some(v) => msg.push_str(&format!(
            "  - on the host: `sysctl kernel.io_uring_disabled` is {v}; set it to 0 \
             (`sysctl -w kernel.io_uring_disabled=0`), or with 1 add this user to the group \
             in kernel.io_uring_group.\n"
        )),
    }
    if errno == libc::ENOSYS {
        msg.push_str(
            "  - ENOSYS can also mean a kernel built without io_uring (CONFIG_IO_URING) or \
             older than 5.1; natrix needs Linux 5.8 or newer.\n",
        );
    }
    msg.truncate(msg.trim_end().len());
    msg
}

fn memlock_message(have: u64, need: u64, cores: usize, io_memory_bytes: usize) -> String {
    let need_kib = need.div_ceil(1024);
    let shared = if have >= need {
        "\nThat is within the limit, but the kernel counts locked memory per user: io_uring memory \
         held by other processes of this user (including a natrix that has just exited; the \
         kernel releases it asynchronously) counts against the same limit."
    } else {
        ""
    };
    format!(
        "the locked-memory limit (RLIMIT_MEMLOCK) is too low: {have} bytes, natrix needs about \
         {need} bytes\n\
         ({cores} executors x {RINGS_PER_EXECUTOR} io_uring rings x ({io_memory_bytes} bytes of \
         server.io_memory_bytes + {RING_OVERHEAD_BYTES} for the ring)). To fix, either:\n  \
         - raise the limit: `ulimit -l unlimited` (or `ulimit -l {need_kib}`, in KiB) in the shell \
         that starts natrix,\n    \
         `LimitMEMLOCK=infinity` in a systemd unit, `docker run --ulimit memlock=-1 ...`,\n    \
         or run natrix with CAP_IPC_LOCK (which bypasses the limit);\n  \
         - or need less: lower server.io_memory_bytes (minimum 262144) or server.cores (--cores).\
         {shared}"
    )
}

fn registration_message(core: usize, errno: i32, need: u64, io_memory_bytes: usize) -> String {
    format!(
        "cannot register {io_memory_bytes} bytes of io memory with io_uring for executor {core}: \
         {}.\n\
         The executors need about {need} bytes of pinned memory in total. To fix:\n  \
         - lower server.io_memory_bytes (minimum 262144) or server.cores (--cores);\n  \
         - or raise the memory limit of the container / cgroup natrix runs in \
         (`docker run --memory ...`).",
        errno_text(errno)
    )
}

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` when unlimited.
fn memlock_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and has no other effect.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(lim.rlim_cur)
}

fn io_uring_disabled_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The size glommio actually registers for a given `io_memory`.
fn glommio_io_memory(io_memory_bytes: usize) -> usize {
    io_memory_bytes
        .div_ceil(PAGE_BYTES)
        .saturating_mul(PAGE_BYTES)
        .max(GLOMMIO_MIN_IO_MEMORY_BYTES)
}

/// Locked memory `cores` executors need: each of their rings plus the io memory registered in it.
fn locked_bytes_needed(cores: usize, io_memory_bytes: usize) -> u64 {
    let per_ring = (glommio_io_memory(io_memory_bytes) + RING_OVERHEAD_BYTES) as u64;
    let per_executor = per_ring * RINGS_PER_EXECUTOR as u64;
    (per_executor * cores as u64).max(GLOMMIO_MIN_MEMLOCK_BYTES)
}

fn is_blocked(errno: i32) -> bool {
    matches!(errno, libc::EPERM | libc::EACCES | libc::ENOSYS)
}

fn unavailable(syscall: &'static str, errno: i32) -> ProbeError {
    ProbeError::IoUringUnavailable {
        syscall,
        errno,
        io_uring_disabled: io_uring_disabled_sysctl(),
    }
}

fn raw_errno(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EINVAL)
}

/// Page-aligned heap memory standing in for one executor's io memory while it is registered.
struct IoMemory {
    ptr: *mut u8,
    layout: Layout,
}

impl IoMemory {
    fn new(len: usize) -> Self {
        debug_assert!(len > 0 && len.is_multiple_of(PAGE_BYTES));
        let layout = Layout::from_size_align(len, PAGE_BYTES).expect("io memory layout");
        // Left uninitialised, like glommio's: only the kernel touches it (to pin it).
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc(layout) };
        if ptr.is_null() {
            alloc::handle_alloc_error(layout);
        }
        IoMemory { ptr, layout }
    }

    fn iovec(&self) -> libc::iovec {
        libc::iovec {
            iov_base: self.ptr.cast(),
            iov_len: self.layout.size(),
        }
    }
}

impl Drop for IoMemory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this exact layout.
        unsafe { alloc::dealloc(self.ptr, self.layout) }
    }
}

impl fmt::Debug for IoMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoMemory")
            .field("len", &self.layout.size())
            .finish()
    }
}

/// Which of glommio's three per-executor rings is being imitated.
#[derive(Clone, Copy)]
enum RingKind {
    Sleepable,
    Poll,
}

fn build_ring(kind: RingKind) -> io::Result<IoUring> {
    match kind {
        RingKind::Sleepable => IoUring::new(RING_ENTRIES),
        RingKind::Poll => IoUring::builder().setup_iopoll().build(RING_ENTRIES),
    }
}

/// What the host is being checked for, carried along to word errors.
#[derive(Clone, Copy, Debug)]
struct Demand {
    cores: usize,
    io_memory_bytes: usize,
}

impl Demand {
    fn need(&self) -> u64 {
        locked_bytes_needed(self.cores, self.io_memory_bytes)
    }

    fn memlock_too_low(&self, have: u64) -> ProbeError {
        ProbeError::MemlockTooLow {
            have,
            need: self.need(),
            cores: self.cores,
            io_memory_bytes: self.io_memory_bytes,
        }
    }

    /// Classifies a failed `io_uring_setup`.
    fn setup_error(&self, err: &io::Error, ring: usize, total: usize) -> ProbeError {
        let errno = raw_errno(err);
        match (errno, memlock_limit()) {
            (errno, _) if is_blocked(errno) => unavailable("io_uring_setup", errno),
            // Before Linux 5.12 ring memory itself is charged to RLIMIT_MEMLOCK.
            (libc::ENOMEM, Some(have)) => self.memlock_too_low(have),
            (errno, _) => ProbeError::RingSetupFailed { ring, total, errno },
        }
    }

    /// Classifies a failed `IORING_REGISTER_BUFFERS`.
    fn register_error(&self, err: &io::Error, core: usize) -> ProbeError {
        let errno = raw_errno(err);
        match (errno, memlock_limit()) {
            (errno, _) if is_blocked(errno) => unavailable("io_uring_register", errno),
            (libc::ENOMEM, Some(have)) => self.memlock_too_low(have),
            (errno, _) => ProbeError::RegistrationFailed {
                core,
                errno,
                need: self.need(),
                io_memory_bytes: self.io_memory_bytes,
            },
        }
    }
}

/// Creates one ring, pushes a NOP through `io_uring_enter` and checks the supported opcodes.
fn check_io_uring(demand: Demand) -> Result<(), ProbeError> {
    let mut ring = build_ring(RingKind::Sleepable).map_err(|e| demand.setup_error(&e, 0, 1))?;

    let nop = opcode::Nop::new().build().user_data(0x6e_61_74);
    // SAFETY: a NOP references no memory.
    unsafe { ring.submission().push(&nop) }.expect("a fresh ring has room for one entry");
    match ring.submit_and_wait(1) {
        Ok(_) => {}
        Err(e) if is_blocked(raw_errno(&e)) => {
            return Err(unavailable("io_uring_enter", raw_errno(&e)))
        }
        Err(e) => {
            return Err(ProbeError::RingSetupFailed {
                ring: 0,
                total: 1,
                errno: raw_errno(&e),
            })
        }
    }
    let completed = ring
        .completion()
        .next()
        .map(|c| (c.user_data(), c.result()));
    debug_assert_eq!(completed, Some((0x6e_61_74, 0)));

    let mut probe = Probe::new();
    match ring.submitter().register_probe(&mut probe) {
        Ok(()) => {}
        // Kernels before 5.6 have no opcode probe at all: far too old for glommio.
        Err(e) if raw_errno(&e) == libc::EINVAL => {
            return Err(ProbeError::KernelTooOld {
                missing: vec!["IORING_REGISTER_PROBE"],
            })
        }
        Err(e) => return Err(unavailable("io_uring_register", raw_errno(&e))),
    }
    let missing: Vec<&'static str> = REQUIRED_OPS
        .iter()
        .filter(|(code, _)| !probe.is_supported(*code))
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(ProbeError::KernelTooOld { missing });
    }
    Ok(())
}

/// Builds every executor's rings and registers its io memory in each, all held at once as
/// they will be when the executors run.
fn check_registration(demand: Demand) -> Result<(), ProbeError> {
    let len = glommio_io_memory(demand.io_memory_bytes);
    let total = demand.cores * RINGS_PER_EXECUTOR;
    let kinds = [RingKind::Sleepable, RingKind::Poll, RingKind::Sleepable];
    debug_assert_eq!(kinds.len(), RINGS_PER_EXECUTOR);

    let memories: Vec<IoMemory> = (0..demand.cores).map(|_| IoMemory::new(len)).collect();
    let mut rings: Vec<IoUring> = Vec::with_capacity(total);
    let mut result = Ok(());
    'executors: for (core, memory) in memories.iter().enumerate() {
        for kind in kinds {
            let ring = match build_ring(kind) {
                Ok(ring) => ring,
                Err(e) => {
                    result = Err(demand.setup_error(&e, rings.len(), total));
                    break 'executors;
                }
            };
            // SAFETY: `memory` outlives every ring: `rings` is dropped below before `memories`.
            let registered = unsafe { ring.submitter().register_buffers(&[memory.iovec()]) };
            rings.push(ring);
            if let Err(e) = registered {
                result = Err(demand.register_error(&e, core));
                break 'executors;
            }
        }
    }
    // Unregister explicitly: it returns the locked-memory charge at once, whereas closing a ring
    // returns it asynchronously, late enough to make the executors' own registrations fail.
    for ring in &rings {
        let _ = ring.submitter().unregister_buffers();
    }
    drop(rings);
    drop(memories);
    result
}

/// Checks that io_uring works and that `cores` executors with `io_memory_bytes` each can register their buffers, before any executor starts (glommio would panic instead).
pub fn check_host(cores: usize, io_memory_bytes: usize) -> Result<(), ProbeError> {
    debug_assert!(cores > 0, "check_host needs at least one executor");
    let demand = Demand {
        cores,
        io_memory_bytes,
    };
    let memlock = memlock_limit();
    tracing::debug!(
        cores,
        io_memory_bytes,
        memlock_bytes = memlock,
        need_bytes = demand.need(),
        "probing io_uring"
    );
    if let Some(have) = memlock.filter(|&have| have < GLOMMIO_MIN_MEMLOCK_BYTES) {
        return Err(demand.memlock_too_low(have));
    }
    check_io_uring(demand)?;
    check_registration(demand)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn this_host_passes_with_default_settings() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        check_host(cores, 2 * MIB).unwrap();
        check_host(1, 256 * 1024).unwrap();
    }

    #[test]
    fn size_arithmetic_mirrors_glommio() {
        assert_eq!(glommio_io_memory(1), GLOMMIO_MIN_IO_MEMORY_BYTES);
        assert_eq!(glommio_io_memory(256 * 1024 + 1), 256 * 1024 + PAGE_BYTES);
        assert_eq!(glommio_io_memory(2 * MIB), 2 * MIB);
        assert_eq!(
            locked_bytes_needed(2, 2 * MIB),
            (12 * MIB + 6 * 16 * 1024) as u64
        );
        // glommio's own floor dominates tiny configurations.
        assert_eq!(locked_bytes_needed(1, 1), GLOMMIO_MIN_MEMLOCK_BYTES);
    }

    #[test]
    fn io_uring_unavailable_message_says_what_to_change() {
        let e = ProbeError::IoUringUnavailable {
            syscall: "io_uring_setup",
            errno: libc::EPERM,
            io_uring_disabled: Some(0),
        };
        let msg = e.to_string();
        assert!(msg.starts_with(
            "io_uring is not available to this process: io_uring_setup failed with EPERM"
        ));
        assert!(msg.contains(
            "docker run --security-opt seccomp=scripts/seccomp-natrix.json --ulimit memlock=-1"
        ));
        assert!(msg.contains("kernel.io_uring_disabled"));
        assert!(
            !msg.contains("CONFIG_IO_URING"),
            "EPERM is not a missing kernel feature"
        );
        assert!(msg.lines().count() >= 4, "{msg}");

        let msg = ProbeError::IoUringUnavailable {
            syscall: "io_uring_setup",
            errno: libc::ENOSYS,
            io_uring_disabled: Some(2),
        }
        .to_string();
        assert!(msg.contains("failed with ENOSYS"));
        assert!(msg.contains("`sysctl kernel.io_uring_disabled` is 2"));
        assert!(msg.contains("sysctl -w kernel.io_uring_disabled=0"));
        assert!(msg.contains("CONFIG_IO_URING"));
        assert!(!msg.ends_with('\n'));
    }

    #[test]
    fn memlock_message_says_what_to_change() {
        let e = ProbeError::MemlockTooLow {
            have: 8 * MIB as u64,
            need: 12 * MIB as u64,
            cores: 2,
            io_memory_bytes: 2 * MIB,
        };
        let msg = e.to_string();
        assert!(msg.starts_with(
            "the locked-memory limit (RLIMIT_MEMLOCK) is too low: 8388608 bytes, \
             natrix needs about 12582912 bytes\n"
        ));
        assert!(msg.contains(
            "(2 executors x 3 io_uring rings x (2097152 bytes of server.io_memory_bytes + 16384 \
             for the ring))"
        ));
        assert!(msg.contains("`ulimit -l unlimited` (or `ulimit -l 12288`, in KiB)"));
        assert!(msg.contains("docker run --ulimit memlock=-1"));
        assert!(msg.contains("lower server.io_memory_bytes"));
        assert!(msg.contains("server.cores (--cores)"));
        assert!(!msg.contains("per user"));

        // When the estimate fits, the message explains where the rest of the limit went.
        let msg = ProbeError::MemlockTooLow {
            have: 8 * MIB as u64,
            need: 6 * MIB as u64,
            cores: 1,
            io_memory_bytes: 2 * MIB,
        }
        .to_string();
        assert!(msg.contains("counts locked memory per user"), "{msg}");
    }

    #[test]
    fn other_messages_name_the_fix() {
        let msg = ProbeError::KernelTooOld {
            missing: vec!["SEND", "RECV"],
        }
        .to_string();
        assert!(msg.contains("SEND, RECV"));
        assert!(msg.contains("Linux 5.8 or newer"));
        let msg = ProbeError::RegistrationFailed {
            core: 3,
            errno: libc::ENOMEM,
            need: 48 * MIB as u64,
            io_memory_bytes: 16 * MIB,
        }
        .to_string();
        assert!(msg.contains("for executor 3: ENOMEM"));
        assert!(msg.contains("lower server.io_memory_bytes"));
        assert!(msg.contains("docker run --memory"));
        let msg = ProbeError::RingSetupFailed {
            ring: 5,
            total: 6,
            errno: libc::EMFILE,
        }
        .to_string();
        assert!(msg.starts_with("cannot create io_uring ring 5 of 6: EMFILE"));
        assert!(msg.contains("ulimit -n"));
    }

    #[test]
    fn errno_text_is_name_then_meaning() {
        assert_eq!(errno_text(libc::EPERM), "EPERM (Operation not permitted)");
        assert_eq!(
            errno_text(libc::ENOSYS),
            "ENOSYS (Function not implemented)"
        );
        assert!(errno_text(libc::EBADF).starts_with("errno 9 ("));
    }

    /// The profile the error messages point operators at must really allow what natrix does.
    #[test]
    fn seccomp_profile_allows_io_uring_and_what_natrix_needs() {
        let text = include_str!("../scripts/seccomp-natrix.json");
        let profile: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
        let rules = profile["syscalls"].as_array().unwrap();
        let names = |rule: &serde_json::Value| -> Vec<String> {
            rule["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect()
        };
        let mut allowed = Vec::new();
        let mut conditional = Vec::new();
        for rule in rules {
            assert!(rule.get("includes").is_none() && rule.get("excludes").is_none());
            if rule["action"] != "SCMP_ACT_ALLOW" {
                continue;
            }
            if rule.get("args").is_some() {
                conditional.extend(names(rule));
            } else {
                allowed.extend(names(rule));
            }
        }
        let mut sorted = allowed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), allowed.len(), "a syscall is listed twice");

        // Seen with `strace -f` on natrix serving clients (x86_64), plus the container init.
        let needed = [
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "membarrier",
            "read",
            "write",
            "close",
            "openat",
            "statx",
            "mmap",
            "mprotect",
            "munmap",
            "rt_sigprocmask",
            "futex",
            "fcntl",
            "sigaltstack",
            "sched_getaffinity",
            "sched_setaffinity",
            "getrandom",
            "sendto",
            "recvfrom",
            "lseek",
            "set_robust_list",
            "rseq",
            "prlimit64",
            "newfstatat",
            "gettid",
            "shutdown",
            "setsockopt",
            "madvise",
            "exit",
            "accept",
            "accept4",
            "eventfd2",
            "brk",
            "pread64",
            "prctl",
            "listen",
            "getpeername",
            "bind",
            "set_tid_address",
            "rt_sigreturn",
            "restart_syscall",
            "poll",
            "getpid",
            "exit_group",
            "execve",
            "access",
            "rt_sigaction",
            "capset",
            "setgroups",
            "setresuid",
            "setresgid",
        ];
        for name in needed {
            assert!(allowed.iter().any(|a| a == name), "{name} is not allowed");
        }
        for name in ["socket", "clone"] {
            assert!(conditional.iter().any(|a| a == name), "{name} has no rule");
            assert!(
                !allowed.iter().any(|a| a == name),
                "{name} is allowed unconditionally"
            );
        }
        let clone3 = rules.iter().find(|r| names(r) == ["clone3"]).unwrap();
        assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3["errnoRet"], libc::ENOSYS);
        // What containers are confined for stays refused.
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "chroot",
            "ptrace",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "init_module",
            "finit_module",
            "kexec_load",
            "reboot",
            "process_vm_writev",
            "userfaultfd",
            "open_by_handle_at",
            "personality",
        ] {
            assert!(
                !allowed.contains(&name.to_owned()),
                "{name} must stay refused"
            );
            assert!(
                !conditional.contains(&name.to_owned()),
                "{name} must stay refused"
            );
        }
    }

    // ---- Real refusals, staged in a child process (this test binary re-run on one test). ----

    const CHILD_ENV: &str = "NATRIX_PROBE_CHILD";

    /// True inside the child process started by `run_in_child` for this scenario.
    fn in_child(scenario: &str) -> bool {
        std::env::var(CHILD_ENV).is_ok_and(|s| s == scenario)
    }

    /// Re-runs test `name` (this module) in a child that first applies `setup` (after fork,
    /// before exec), and fails if the child's assertions did.
    fn run_in_child<F>(name: &str, setup: F) -> String
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([&format!("{module}::{name}"), "--exact", "--nocapture"])
            .env(CHILD_ENV, name);
        // SAFETY: `setup` only makes async-signal-safe system calls (prctl, setrlimit).
        unsafe { cmd.pre_exec(setup) };
        let out = cmd.output().expect("spawn child test");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child {name} failed:\n{text}");
        assert!(
            text.contains("1 passed"),
            "child {name} ran nothing:\n{text}"
        );
        text
    }

    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7;

    fn bpf(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    /// A seccomp filter that fails one system call with `errno`, like a container runtime's
    /// default profile does for io_uring.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn deny_syscall(nr: libc::c_long, errno: i32) -> impl FnMut() -> io::Result<()> {
        let nr_offset = std::mem::offset_of!(libc::seccomp_data, nr) as u32;
        let arch_offset = std::mem::offset_of!(libc::seccomp_data, arch) as u32;
        let program = [
            bpf(
                libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
                arch_offset,
                0,
                0,
            ),
            bpf(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                AUDIT_ARCH_NATIVE,
                1,
                0,
            ),
            bpf(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
            bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, nr_offset, 0, 0),
            bpf(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, nr as u32, 0, 1),
            bpf(
                libc::BPF_RET | libc::BPF_K,
                libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
                0,
                0,
            ),
            bpf(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
        ];
        move || {
            let prog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: plain prctl calls; `prog` points at `program`, alive for the call.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                        &prog as *const libc::sock_fprog,
                    ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        }
    }

    fn set_memlock(bytes: u64) -> io::Result<()> {
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn expect_unavailable(syscall: &str, errno: i32) {
        match check_host(1, 2 * MIB) {
            Err(ProbeError::IoUringUnavailable {
                syscall: s,
                errno: e,
                ..
            }) => {
                assert_eq!((s, e), (syscall, errno));
            }
            other => panic!("expected {syscall} refused with {errno}, got {other:?}"),
        }
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn seccomp_blocked_setup_is_reported() {
        if in_child("seccomp_blocked_setup_is_reported") {
            expect_unavailable("io_uring_setup", libc::EPERM);
            let msg = check_host(1, 2 * MIB).unwrap_err().to_string();
            assert!(msg.contains("--security-opt seccomp=scripts/seccomp-natrix.json"));
            return;
        }
        run_in_child(
            "seccomp_blocked_setup_is_reported",
            deny_syscall(libc::SYS_io_uring_setup, libc::EPERM),
        );
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn enosys_from_setup_is_reported() {
        if in_child("enosys_from_setup_is_reported") {
            expect_unavailable("io_uring_setup", libc::ENOSYS);
            return;
        }
        run_in_child(
            "enosys_from_setup_is_reported",
            deny_syscall(libc::SYS_io_uring_setup, libc::ENOSYS),
        );
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn seccomp_blocked_enter_is_reported() {
        if in_child("seccomp_blocked_enter_is_reported") {
            expect_unavailable("io_uring_enter", libc::EPERM);
            return;
        }
        run_in_child(
            "seccomp_blocked_enter_is_reported",
            deny_syscall(libc::SYS_io_uring_enter, libc::EPERM),
        );
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn seccomp_blocked_register_is_reported() {
        if in_child("seccomp_blocked_register_is_reported") {
            expect_unavailable("io_uring_register", libc::EPERM);
            return;
        }
        run_in_child(
            "seccomp_blocked_register_is_reported",
            deny_syscall(libc::SYS_io_uring_register, libc::EPERM),
        );
    }

    #[test]
    fn memlock_below_glommio_floor_is_reported() {
        if in_child("memlock_below_glommio_floor_is_reported") {
            match check_host(1, 256 * 1024) {
                Err(ProbeError::MemlockTooLow { have, need, .. }) => {
                    assert_eq!(have, 256 * 1024);
                    assert_eq!(need, 3 * (256 + 16) * 1024);
                }
                other => panic!("expected MemlockTooLow, got {other:?}"),
            }
            return;
        }
        run_in_child("memlock_below_glommio_floor_is_reported", || {
            set_memlock(256 * 1024)
        });
    }

    /// Registered io_uring memory is charged to RLIMIT_MEMLOCK unless the process holds
    /// CAP_IPC_LOCK; the child drops that capability so the kernel enforces a 1 MiB limit.
    #[test]
    fn memlock_enforced_by_the_kernel_is_reported() {
        const CAP_IPC_LOCK: libc::c_ulong = 14;
        const LIMIT: u64 = 1024 * 1024;
        if in_child("memlock_enforced_by_the_kernel_is_reported") {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let cap_eff = status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
                .unwrap();
            if cap_eff & (1 << CAP_IPC_LOCK) != 0 {
                println!("SKIP: could not drop CAP_IPC_LOCK");
                return;
            }
            // 1 executor x 3 rings x 256 KiB fits in 1 MiB...
            check_host(1, 256 * 1024).unwrap();
            // ...1 x 3 x 2 MiB does not, and the kernel says so at registration.
            match check_host(1, 2 * MIB) {
                Err(ProbeError::MemlockTooLow { have, need, .. }) => {
                    assert_eq!(have, LIMIT);
                    assert_eq!(need, (6 * MIB + 3 * 16 * 1024) as u64);
                }
                other => panic!("expected MemlockTooLow, got {other:?}"),
            }
            return;
        }
        let out = run_in_child("memlock_enforced_by_the_kernel_is_reported", || {
            // Without CAP_SETPCAP (not root) this fails, and the process most likely lacks
            // CAP_IPC_LOCK anyway; the child checks which case it is in.
            // SAFETY: plain prctl call.
            let _ = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) };
            set_memlock(LIMIT)
        });
        if out.contains("SKIP:") {
            eprintln!("memlock_enforced_by_the_kernel_is_reported: {out}");
        }
    }
}
