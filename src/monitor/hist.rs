//! Fixed-bucket histograms a core keeps for `/metrics` (Prometheus `histogram` type):
//! JetStream group-commit size and duration. Recording is an index search over a dozen
//! bounds and an add, done by the storage task once per group commit (never per message).

/// Upper bounds (inclusive) of the group-commit size buckets, in storage ops per commit.
pub const COMMIT_SIZE_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
/// Upper bounds of the group-commit duration buckets (write + fdatasync), in microseconds.
pub const COMMIT_MICROS_BOUNDS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// One histogram of whole numbers: a count per bucket (the last counts values above every
/// bound), a sum and a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    bounds: &'static [u64],
    counts: Vec<u64>,
    /// Sum of the recorded values.
    pub sum: u64,
    /// Number of recorded values.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0,
            count: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum = self.sum.saturating_add(v);
        self.count += 1;
    }

    /// `(upper bound, cumulative count)` per bucket, the last with bound None (`+Inf`).
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut acc = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                acc += c;
                (self.bounds.get(i).copied(), acc)
            })
            .collect()
    }
}

/// A core's JetStream group-commit histograms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitHistograms {
    /// Storage ops per group commit.
    pub size: Histogram,
    /// Microseconds per group commit (the writes and the fdatasyncs).
    pub micros: Histogram,
    /// Microseconds per group-commit fdatasync alone.
    pub fdatasync: Histogram,
}

impl Default for CommitHistograms {
    fn default() -> Self {
        CommitHistograms {
            size: Histogram::new(COMMIT_SIZE_BOUNDS),
            micros: Histogram::new(COMMIT_MICROS_BOUNDS),
            fdatasync: Histogram::new(COMMIT_MICROS_BOUNDS),
        }
    }
}

impl CommitHistograms {
    /// Records one group commit of `ops` storage ops that took `micros`.
    pub fn record(&mut self, ops: usize, micros: u64) {
        self.size.record(ops as u64);
        self.micros.record(micros);
    }

    /// Records one group-commit fdatasync that took `micros`.
    pub fn record_fdatasync(&mut self, micros: u64) {
        self.fdatasync.record(micros);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inclusive() {
        let mut h = Histogram::new(&[1, 4]);
        for v in [1, 2, 4, 9] {
            h.record(v);
        }
        assert_eq!(h.cumulative(), vec![(Some(1), 1), (Some(4), 3), (None, 4)]);
        assert_eq!(h.count, 4);
        assert_eq!(h.sum, 16);
    }
}
