//! `$JS.API.CONSUMER.RESET`: move a consumer back (or forward) to a stream sequence, as
//! nats-server 2.15's `resetLocalStartingSeq`: every pending delivery is forgotten (no
//! redelivery of it), the next delivery is `seq` with consumer sequence 1, and `delivered` and
//! `ack_floor` both read `(0, seq - 1)`. Waiting pull requests stay and are served from there.

use super::Consumer;

impl Consumer {
    /// Restarts delivery at stream sequence `seq` (at least 1); the caller checked that the
    /// deliver policy allows it.
    pub fn reset(&mut self, seq: u64) {
        let seq = seq.max(1);
        self.pending.clear();
        self.deadlines.clear();
        self.redeliver.clear();
        self.redelivered.clear();
        self.initial.clear();
        self.pending_count = None;
        self.next_sseq = seq;
        self.delivered_sseq = seq - 1;
        self.delivered_cseq = 0;
        self.replay_anchor = None;
        self.replay_wait_until_ns = 0;
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::{AckMode, Consumer, Everyone, Output, Params, PullSpec, Start};
    use crate::store::{Stream, StreamLimits};

    fn stream(n: u64) -> Stream {
        let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
        for i in 0..n {
            s.publish(b"s.a", b"", b"x", 1_000 + i).unwrap();
        }
        s
    }

    fn consumer() -> Consumer {
        let params = Params {
            stream: "S".into(),
            name: "C".into(),
            ack: AckMode::Explicit,
            ack_wait_ns: 30_000_000_000,
            backoff_ns: Vec::new(),
            max_deliver: None,
            max_ack_pending: None,
            filters: Vec::new(),
            push: None,
            max_waiting: 512,
            headers_only: false,
            replay_original: false,
            ack_sample_percent: 0,
            paused_until_ns: 0,
            priority: Default::default(),
        };
        let start = Start {
            from_seq: 1,
            initial: Vec::new(),
        };
        Consumer::new(params, start, 0)
    }

    /// Stream sequences delivered since the last call.
    fn delivered(c: &mut Consumer) -> Vec<u64> {
        let mut out = Vec::new();
        c.take_outputs(&mut out);
        out.iter()
            .filter_map(|o| match o {
                Output::Deliver { ack_reply, .. } => {
                    let s = std::str::from_utf8(ack_reply).unwrap();
                    s.split('.').nth(5).and_then(|t| t.parse().ok())
                }
                _ => None,
            })
            .collect()
    }

    fn pull(c: &mut Consumer, s: &Stream, batch: u64) -> Vec<u64> {
        let spec = PullSpec {
            batch,
            ..PullSpec::default()
        };
        c.on_pull(
            Bytes::from_static(b"_INBOX.1"),
            spec,
            0,
            &mut Everyone(true),
            s,
        );
        delivered(c)
    }

    #[test]
    fn reset_forgets_pending_and_restarts_at_the_sequence() {
        let s = stream(5);
        let mut c = consumer();
        assert_eq!(pull(&mut c, &s, 3), vec![1, 2, 3]);
        assert_eq!(c.num_ack_pending(), 3);
        c.reset(2);
        assert_eq!((c.delivered(), c.ack_floor()), ((0, 1), (0, 1)));
        assert_eq!((c.num_ack_pending(), c.num_redelivered()), (0, 0));
        assert_eq!(c.num_pending(&s), 4);
        assert!(c.take_dirty());
        assert_eq!(pull(&mut c, &s, 2), vec![2, 3]);
        assert_eq!(c.delivered(), (2, 3));
        // Forward past the end, and 0 reads as 1.
        c.reset(100);
        assert_eq!((c.delivered(), c.num_pending(&s)), ((0, 99), 0));
        c.reset(0);
        assert_eq!(c.delivered(), (0, 0));
        // A snapshot taken after a reset restores to the same place.
        c.reset(4);
        let restored = Consumer::restore(c.params().clone(), &c.snapshot(), 0);
        assert_eq!(
            (restored.delivered(), restored.ack_floor()),
            ((0, 3), (0, 3))
        );
    }
}
