//! Process measurements for `/varz` (`mem`, `cpu`), read from `/proc` by the monitor thread.

use std::time::Instant;

/// Resident set size in bytes (0 when `/proc` is unavailable).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

/// CPU seconds (user + system) this process used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let mut f = rest.split_whitespace().skip(11);
    let ticks = |v: Option<&str>| v.and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    let total = ticks(f.next()) + ticks(f.next());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    total as f64 / hz
}

/// CPU use between two `/varz` requests, as a percentage of one CPU (nats-server's `cpu`).
pub struct CpuMeter {
    last: Option<(Instant, f64)>,
    started: Instant,
}

impl CpuMeter {
    /// A meter whose first reading averages since `started`.
    pub fn new(started: Instant) -> Self {
        CpuMeter {
            last: None,
            started,
        }
    }

    /// The CPU percentage since the previous reading (rounded to 0.01).
    pub fn sample(&mut self) -> f64 {
        let now = Instant::now();
        let used = cpu_seconds();
        let (since, before) = self.last.unwrap_or((self.started, 0.0));
        self.last = Some((now, used));
        let wall = now.duration_since(since).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        ((used - before) / wall * 10_000.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        assert!(rss_bytes() > 0);
        let mut m = CpuMeter::new(Instant::now() - std::time::Duration::from_secs(1));
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(m.sample() >= 0.0);
    }
}
