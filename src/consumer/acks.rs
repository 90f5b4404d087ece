//! A consumer's acks: `+ACK`, `-NAK` (with delay), `+WPI`, `+TERM`, `+NXT`, the ack floor,
//! ack sampling (`sample_freq`) and flow-control replies. Split from `mod.rs` (same
//! [`Consumer`], one job here).

use super::*;

impl Consumer {
    // ----- acks -------------------------------------------------------------------------

    /// An ack published to one of our `$JS.ACK` subjects. Returns whether it changed state.
    pub fn on_ack(
        &mut self,
        ack: &AckReply,
        kind: &AckKind,
        reply: Option<&Bytes>,
        now_ns: u64,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) -> bool {
        self.last_activity_ns = now_ns;
        let sseq = ack.stream_seq;
        let changed = match kind {
            AckKind::Ack => self.ack(sseq, now_ns),
            AckKind::Next { batch } => {
                let changed = self.ack(sseq, now_ns);
                if let Some(r) = reply {
                    let spec = PullSpec {
                        batch: (*batch).max(1),
                        ..PullSpec::default()
                    };
                    self.on_pull(r.clone(), spec, now_ns, interest, src);
                }
                changed
            }
            AckKind::Nak { delay_ns } => {
                if let Some(p) = self.pending.get(&sseq) {
                    self.outputs.push(Output::Naked {
                        consumer_seq: p.consumer_seq,
                        stream_seq: sseq,
                        deliveries: p.deliveries,
                    });
                    match delay_ns {
                        Some(d) if *d > 0 => self.set_deadline(sseq, now_ns.saturating_add(*d)),
                        _ => {
                            self.set_deadline(sseq, u64::MAX);
                            self.redeliver.insert(sseq);
                        }
                    }
                    true
                } else {
                    false
                }
            }
            AckKind::Progress => {
                if self.pending.contains_key(&sseq) && !self.redeliver.contains(&sseq) {
                    let d = self.pending[&sseq].deliveries;
                    let wait = self.wait_for(d);
                    self.set_deadline(sseq, now_ns.saturating_add(wait));
                }
                false
            }
            AckKind::Term { reason } => match self.forget(sseq) {
                Some(p) => {
                    self.outputs.push(Output::Terminated {
                        consumer_seq: p.consumer_seq,
                        stream_seq: sseq,
                        deliveries: p.deliveries,
                        reason: reason.clone(),
                    });
                    self.outputs.push(Output::Done { stream_seq: sseq });
                    true
                }
                None => false,
            },
        };
        if changed {
            self.poll(now_ns, interest, src);
        }
        changed
    }

    pub(super) fn ack(&mut self, sseq: u64, now_ns: u64) -> bool {
        if let Some(&p) = self.pending.get(&sseq) {
            self.maybe_sample_ack(sseq, &p, now_ns);
        }
        match self.params.ack {
            AckMode::None => false,
            AckMode::Explicit => {
                if self.forget(sseq).is_some() {
                    self.outputs.push(Output::Done { stream_seq: sseq });
                    true
                } else {
                    false
                }
            }
            AckMode::All => {
                let covered: Vec<u64> = self.pending.range(..=sseq).map(|(&s, _)| s).collect();
                for s in &covered {
                    self.forget(*s);
                    self.outputs.push(Output::Done { stream_seq: *s });
                }
                !covered.is_empty()
            }
        }
    }

    /// Reports every n-th ack as a metric so that `ack_sample_percent` of them are (evenly
    /// spread rather than random: the state machine stays deterministic).
    pub(super) fn maybe_sample_ack(&mut self, sseq: u64, p: &PendingEntry, now_ns: u64) {
        let pct = u32::from(self.params.ack_sample_percent.min(100));
        if pct == 0 {
            return;
        }
        self.ack_sample_acc += pct;
        if self.ack_sample_acc < 100 {
            return;
        }
        self.ack_sample_acc -= 100;
        self.outputs.push(Output::AckSampled {
            consumer_seq: p.consumer_seq,
            stream_seq: sseq,
            deliveries: p.deliveries,
            ack_time_ns: now_ns.saturating_sub(p.delivered_ns),
        });
    }

    /// A reply to our outstanding flow-control request.
    pub fn on_flow_control_reply(
        &mut self,
        subject: &[u8],
        now_ns: u64,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) {
        if self.fc_pending.as_deref() == Some(subject) {
            self.fc_pending = None;
            self.fc_bytes = 0;
            self.poll(now_ns, interest, src);
        }
    }
}
