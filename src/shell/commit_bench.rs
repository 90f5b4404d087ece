//! The group-commit path on a real disk, for `benches/commit.rs` (not used by the server):
//! one stream's batches of appends through the production [`Storage`] over glommio's files,
//! `sync = "always"`, with a fixed number of batches in flight as a publisher window keeps
//! them, and pipelining or pre-zeroing switched off for A/B.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::storage::{Released, Storage, StorageTuning, SyncMode};
use crate::store::record::{encode_into, Record};
use crate::streams::{DeferredReply, StorageOp};

/// One run's shape.
#[derive(Debug, Clone, Copy)]
pub struct CommitRun {
    /// Batches appended (each one group commit's worth when they do not queue).
    pub batches: u64,
    /// Messages per batch.
    pub msgs_per_batch: usize,
    /// Payload bytes per message.
    pub payload: usize,
    /// Batches dispatched and not yet acknowledged, at most.
    pub in_flight: usize,
    /// Pipelining and pre-zeroing.
    pub tuning: StorageTuning,
}

/// What a run measured.
#[derive(Debug, Clone, Copy)]
pub struct CommitOutcome {
    /// From the first dispatch to the last ack.
    pub elapsed: Duration,
    /// fdatasyncs of group commits.
    pub fdatasyncs: u64,
}

/// Runs `run` in a fresh stream directory under `dir` (removed afterwards) on a glommio
/// executor of its own thread.
pub fn run(dir: &Path, run: CommitRun) -> CommitOutcome {
    let stream_dir = dir.join(format!("commit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stream_dir);
    let d = stream_dir.clone();
    let out = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(2 << 20)
        .spawn(move || async move { drive(&d, run).await })
        .expect("executor")
        .join()
        .expect("commit bench");
    let _ = std::fs::remove_dir_all(&stream_dir);
    out
}

async fn drive(dir: &Path, run: CommitRun) -> CommitOutcome {
    let mut storage = Storage::new(64 << 20, SyncMode::Always).with_tuning(run.tuning);
    let mut rel = Released::default();
    storage.dispatch(
        vec![StorageOp::Create {
            stream: 0,
            dir: dir.to_path_buf(),
            meta: b"{}".to_vec(),
            first_seq: 1,
            created_ns: 1,
        }],
        Vec::new(),
        &mut rel,
    );
    storage.drain(&mut rel).await;
    let subject = Bytes::from_static(b"bench.commit");
    let payload = Bytes::from(vec![0x5a; run.payload]);
    let reply = DeferredReply {
        subject: Bytes::from_static(b"_INBOX.ack"),
        payload: Bytes::new(),
        stream: Some(0),
    };
    let (mut seq, mut sent, mut acked, mut fdatasyncs) = (0u64, 0u64, 0u64, 0u64);
    let t0 = Instant::now();
    while acked < run.batches {
        while sent < run.batches && sent - acked < run.in_flight as u64 {
            let mut records = Vec::with_capacity(run.msgs_per_batch * (run.payload + 64));
            let mut index = Vec::with_capacity(run.msgs_per_batch);
            for _ in 0..run.msgs_per_batch {
                seq += 1;
                index.push((seq, records.len() as u64));
                let rec = Record::Message {
                    seq,
                    ts_ns: seq,
                    subject: subject.clone(),
                    headers: Bytes::new(),
                    payload: payload.clone(),
                };
                encode_into(&rec, &mut records);
            }
            let op = StorageOp::Append {
                stream: 0,
                records,
                index,
                checkpoint: (1, seq, seq),
            };
            let mut out = Released::default();
            storage.dispatch(vec![op], vec![reply.clone()], &mut out);
            sent += 1;
            acked += out.replies.len() as u64;
        }
        let done = storage.next_done().await;
        let mut out = Released::default();
        storage.finish(done, &mut out);
        assert!(
            out.failed.is_empty(),
            "commit failed: {:?}",
            out.failed[0].1
        );
        acked += out.replies.len() as u64;
        fdatasyncs += out.sync_us.len() as u64;
    }
    let elapsed = t0.elapsed();
    storage.close_all().await;
    CommitOutcome {
        elapsed,
        fdatasyncs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test --lib commit_bench -- --ignored --nocapture`: the four variants on this disk.
    #[test]
    #[ignore]
    fn variants_on_this_disk() {
        let dir = std::env::var_os("NATRIX_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/var/tmp".into());
        for payload in [128usize, 1024] {
            for (pipelined, zero_ahead) in
                [(false, false), (false, true), (true, false), (true, true)]
            {
                let batches = 1500;
                let o = run(
                    &dir,
                    CommitRun {
                        batches,
                        msgs_per_batch: 128,
                        payload,
                        in_flight: 2,
                        tuning: StorageTuning {
                            pipelined,
                            zero_ahead,
                        },
                    },
                );
                let secs = o.elapsed.as_secs_f64();
                eprintln!(
                    "{payload} B pipelined={pipelined} zero_ahead={zero_ahead}: {:.0} msgs/s, {:.0} fdatasyncs/s, {:.1} msgs/fdatasync",
                    (batches * 128) as f64 / secs,
                    o.fdatasyncs as f64 / secs,
                    (batches * 128) as f64 / o.fdatasyncs.max(1) as f64
                );
            }
        }
    }
}
