//! Expiry of a [`Stream`]'s messages: `max_age`, per-message TTLs (`Nats-TTL`, as
//! nats-server 2.15.1 parses and applies them) and the subject delete markers
//! (`subject_delete_marker_ttl`) left when age or a TTL empties a subject.

use bytes::Bytes;

use super::{headers, Effect, Record, StoreError, StoredMsg, Stream};
use crate::store::headers::MsgTtl;

/// Whether removing this message by age/TTL may leave a subject delete marker: not for
/// markers themselves (a `Nats-Marker-Reason`, or a KV purge marker), as nats-server's
/// `isSubjectDeleteMarker`.
pub(super) fn markable(headers: &[u8]) -> bool {
    headers.is_empty()
        || (headers::get_non_empty(headers, headers::MARKER_REASON).is_none()
            && headers::get(headers, headers::KV_OPERATION) != Some(b"PURGE"))
}

/// A publish's parsed `Nats-TTL` header: absent, or what [`headers::parse_ttl`] made of it.
pub(super) type ParsedTtl = Option<Result<Option<MsgTtl>, ()>>;

impl Stream {
    /// The early `Nats-TTL` check of a publish (nats-server's order: right after the expected
    /// stream): a TTL (or `never`) on a stream without `allow_msg_ttl` is refused. An invalid
    /// value is not refused here but by [`Self::publish_ttl`], after the size checks.
    pub(super) fn parse_publish_ttl(&self, headers: &[u8]) -> Result<ParsedTtl, StoreError> {
        let parsed = headers::get_non_empty(headers, headers::TTL).map(headers::parse_ttl);
        if matches!(parsed, Some(Ok(Some(_)))) && !self.limits.allow_msg_ttl {
            return Err(StoreError::MessageTtlDisabled);
        }
        Ok(parsed)
    }

    /// The TTL a publish is stored with: an invalid value is refused; a TTL shorter than
    /// `subject_delete_marker_ttl` is raised to it (not with `max_msgs_per_subject` 1), so a
    /// subject's marker cannot outlive a message after it, and then the header is rewritten as
    /// nats-server does (`Nats-TTL: <seconds>` as the last header; the new block is returned).
    pub(super) fn publish_ttl(
        &self,
        parsed: ParsedTtl,
        headers: &[u8],
    ) -> Result<(Option<MsgTtl>, Option<Vec<u8>>), StoreError> {
        let ttl = match parsed {
            None => return Ok((None, None)),
            Some(Err(())) => return Err(StoreError::MessageTtlInvalid),
            Some(Ok(ttl)) => ttl,
        };
        let marker_secs = self.limits.subject_delete_marker_ttl_ns / 1_000_000_000;
        match ttl {
            Some(MsgTtl::Secs(secs))
                if marker_secs > 0
                    && secs < marker_secs
                    && self.limits.max_msgs_per_subject != 1 =>
            {
                let value = marker_secs.to_string();
                let rewritten = headers::replace(headers, headers::TTL, value.as_bytes());
                Ok((Some(MsgTtl::Secs(marker_secs)), Some(rewritten)))
            }
            other => Ok((other, None)),
        }
    }

    /// Indexes a stored message's TTL: when it expires, or that age never removes it.
    pub(super) fn track_ttl(&mut self, seq: u64, ts_ns: u64, ttl: Option<MsgTtl>) {
        match ttl {
            Some(MsgTtl::Secs(secs)) => {
                let at = ts_ns.saturating_add(secs.saturating_mul(1_000_000_000));
                self.ttls.insert((at, seq));
            }
            Some(MsgTtl::Never) => {
                self.nevers.insert(seq);
            }
            None => {}
        }
    }

    /// Live messages below `below` whose TTL is `never` (max_age skips them).
    fn nevers_below(&self, below: u64) -> Vec<u64> {
        self.nevers
            .range(..below)
            .copied()
            .filter(|&s| self.msgs.contains(s))
            .collect()
    }

    /// Removes messages older than `max_age` (those with `ts <= now - max_age`, except those
    /// with `Nats-TTL: never`), then those whose TTL passed, and forgets expired msg ids.
    /// With `subject_delete_marker_ttl`, a subject emptied so gets a delete marker. Call it
    /// from a timer ([`Stream::next_expiry_ns`] says when).
    pub fn expire(&mut self, now_ns: u64) -> Vec<Effect> {
        self.prune_dedupe(now_ns);
        let mut effects = Vec::new();
        // Subjects whose message went by age or TTL, and whether it may leave a marker.
        let mut gone: Vec<(Bytes, bool)> = Vec::new();
        let max_age = self.limits.max_age_ns;
        let mut tombstoned = false;
        if max_age > 0 && now_ns >= max_age && !self.msgs.is_empty() {
            let cutoff = now_ns - max_age;
            let below = self
                .msgs
                .first_at_or_after_ts(cutoff.saturating_add(1))
                .unwrap_or(self.last_seq + 1);
            let shielded = self.nevers_below(below);
            let purge_below = shielded.first().copied().unwrap_or(below);
            let markers = self.limits.subject_delete_marker_ttl_ns > 0;
            if markers {
                for m in self.msgs.range(..below) {
                    if shielded.binary_search(&m.seq).is_err() {
                        gone.push((m.subject.clone(), markable(&m.headers)));
                    }
                }
            }
            // Between and after `never` messages, one by one (a purge would take them along).
            let singles: Vec<u64> = self
                .msgs
                .seqs(purge_below..below)
                .filter(|s| shielded.binary_search(s).is_err())
                .collect();
            if self.remove_prefix(purge_below) > 0 {
                effects.push(Effect::Append(Record::Purge {
                    filter: Bytes::new(),
                    below_seq: purge_below,
                }));
            }
            for seq in singles {
                self.remove_one(seq);
                effects.push(Effect::Append(Record::Tombstone { seq }));
                tombstoned = true;
            }
            let first = self.first_seq();
            self.nevers = self.nevers.split_off(&first);
        }
        while let Some(&(at, seq)) = self.ttls.iter().next() {
            if at > now_ns {
                break;
            }
            self.ttls.remove(&(at, seq));
            if let Some(m) = self.remove_one(seq) {
                gone.push((m.subject.clone(), markable(&m.headers)));
                effects.push(Effect::Append(Record::Tombstone { seq }));
                tombstoned = true;
            }
        }
        if tombstoned {
            self.settle();
        }
        let marker_ttl = self.limits.subject_delete_marker_ttl_ns;
        if marker_ttl > 0 {
            gone.sort();
            gone.dedup();
            for (subject, markable) in gone {
                if markable && !self.subjects.contains_key(&subject[..]) {
                    effects.push(self.store_marker(subject, marker_ttl, now_ns));
                }
            }
        }
        effects
    }

    /// Writes a subject delete marker (ADR-43): an empty message whose headers say why the
    /// subject is empty now; it expires itself after `ttl_ns`.
    fn store_marker(&mut self, subject: Bytes, ttl_ns: u64, now_ns: u64) -> Effect {
        let seq = self.last_seq + 1;
        let ts_ns = now_ns.max(self.last_ts_ns);
        let secs = ttl_ns / 1_000_000_000;
        let headers = format!(
            "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: {}\r\nNats-Rollup: sub\r\n\r\n",
            crate::jetstream::gocompat::go_duration((secs * 1_000_000_000) as i64)
        );
        let msg = StoredMsg {
            seq,
            ts_ns,
            subject,
            headers: Bytes::from(headers),
            payload: Bytes::new(),
        };
        let effect = Effect::Append(msg.to_record());
        self.insert(msg);
        self.track_ttl(seq, ts_ns, Some(MsgTtl::Secs(secs)));
        self.last_msg_id = Bytes::new();
        effect
    }

    /// When the next message expires (unix ns): the oldest one age may remove (not a `never`
    /// one), or the first TTL, if any.
    pub fn next_expiry_ns(&self) -> Option<u64> {
        let ttl = self.ttls.iter().next().map(|&(at, _)| at);
        let age = if self.limits.max_age_ns == 0 {
            None
        } else {
            self.msgs
                .iter()
                .find(|m| !self.nevers.contains(&m.seq))
                .map(|m| m.ts_ns.saturating_add(self.limits.max_age_ns))
        };
        match (ttl, age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::StreamLimits;
    use super::*;
    use crate::store::record::encode_into;
    use crate::store::segment::scan;
    use crate::store::PublishOutcome;

    const T0: u64 = 1_700_000_000_000_000_000;
    const SEC: u64 = 1_000_000_000;

    fn ttl_stream(max_age_ns: u64, marker_ttl_ns: u64) -> Stream {
        let limits = StreamLimits {
            allow_msg_ttl: true,
            max_age_ns,
            subject_delete_marker_ttl_ns: marker_ttl_ns,
            allow_rollup_hdrs: marker_ttl_ns > 0,
            ..StreamLimits::default()
        };
        Stream::new("T".into(), limits, 0)
    }

    fn publish(
        s: &mut Stream,
        subject: &str,
        ttl: Option<&str>,
        now: u64,
    ) -> Result<u64, StoreError> {
        let h = ttl.map_or_else(Vec::new, |v| {
            format!("NATS/1.0\r\nNats-TTL: {v}\r\n\r\n").into_bytes()
        });
        match s.publish(subject.as_bytes(), &h, b"x", now)? {
            PublishOutcome::Stored { seq, .. } => Ok(seq),
            other => panic!("{other:?}"),
        }
    }

    fn seqs(s: &Stream) -> Vec<u64> {
        s.msgs.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn refusals_in_nats_server_order() {
        let mut off = Stream::new("P".into(), StreamLimits::default(), 0);
        assert_eq!(
            publish(&mut off, "a", Some("5"), T0),
            Err(StoreError::MessageTtlDisabled)
        );
        assert_eq!(
            publish(&mut off, "a", Some("never"), T0),
            Err(StoreError::MessageTtlDisabled)
        );
        // An unparsable value is "invalid" even where TTLs are disabled; `00` is no TTL.
        assert_eq!(
            publish(&mut off, "a", Some("0"), T0),
            Err(StoreError::MessageTtlInvalid)
        );
        assert_eq!(publish(&mut off, "a", Some("00"), T0), Ok(1));
        let mut on = ttl_stream(0, 0);
        for bad in ["500ms", "0", "0s", "-1", "abc"] {
            assert_eq!(
                publish(&mut on, "a", Some(bad), T0),
                Err(StoreError::MessageTtlInvalid),
                "{bad}"
            );
        }
        assert_eq!(on.last_seq(), 0);
    }

    #[test]
    fn ttl_expires_at_whole_seconds() {
        let mut s = ttl_stream(0, 0);
        publish(&mut s, "a", Some("1.9s"), T0).unwrap();
        publish(&mut s, "b", Some("1m"), T0).unwrap();
        publish(&mut s, "c", None, T0).unwrap();
        assert_eq!(s.next_expiry_ns(), Some(T0 + SEC));
        assert!(s.expire(T0 + SEC - 1).is_empty());
        assert_eq!(
            s.expire(T0 + SEC),
            vec![Effect::Append(Record::Tombstone { seq: 1 })]
        );
        assert_eq!(seqs(&s), vec![2, 3]);
        assert_eq!(s.next_expiry_ns(), Some(T0 + 60 * SEC));
    }

    #[test]
    fn never_outlives_max_age() {
        let mut s = ttl_stream(10 * SEC, 0);
        publish(&mut s, "a", None, T0).unwrap();
        publish(&mut s, "b", Some("never"), T0).unwrap();
        publish(&mut s, "c", None, T0).unwrap();
        publish(&mut s, "d", None, T0 + 5 * SEC).unwrap();
        let effects = s.expire(T0 + 11 * SEC);
        assert_eq!(
            effects,
            vec![
                Effect::Append(Record::Purge {
                    filter: Bytes::new(),
                    below_seq: 2
                }),
                Effect::Append(Record::Tombstone { seq: 3 }),
            ]
        );
        assert_eq!(seqs(&s), vec![2, 4]);
        // The next age expiry is the first message that can age out, not the `never` one.
        assert_eq!(s.next_expiry_ns(), Some(T0 + 15 * SEC));
        s.expire(T0 + 16 * SEC);
        assert_eq!(seqs(&s), vec![2]);
        assert_eq!(s.next_expiry_ns(), None);
    }

    #[test]
    fn short_ttl_is_raised_to_the_marker_ttl() {
        let mut s = ttl_stream(0, 5 * SEC);
        let h = b"NATS/1.0\r\nNats-TTL: 1\r\nX-A: b\r\n\r\n";
        s.publish(b"a", h, b"x", T0).unwrap();
        let m = s.msgs.get(1).unwrap();
        assert_eq!(&m.headers[..], b"NATS/1.0\r\nX-A: b\r\nNats-TTL: 5\r\n\r\n");
        publish(&mut s, "b", Some("1m"), T0).unwrap();
        assert_eq!(
            &s.msgs.get(2).unwrap().headers[..],
            b"NATS/1.0\r\nNats-TTL: 1m\r\n\r\n"
        );
        assert!(s.expire(T0 + 4 * SEC).is_empty());
        // Expired at 5 s: the subject is empty, so it leaves a marker (with a 5 s TTL itself).
        let effects = s.expire(T0 + 5 * SEC);
        assert_eq!(effects.len(), 2, "{effects:?}");
        let marker = s.msgs.get(3).unwrap();
        assert_eq!(&marker.subject[..], b"a");
        assert_eq!(
            &marker.headers[..],
            b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 5s\r\nNats-Rollup: sub\r\n\r\n"
        );
        // The marker expires without leaving another one.
        s.expire(T0 + 10 * SEC);
        assert_eq!(seqs(&s), vec![2]);
        // A rewritten header keeps its msg id for de-duplication.
        let h = b"NATS/1.0\r\nNats-Msg-Id: d1\r\nNats-TTL: 2\r\n\r\n";
        assert!(matches!(
            s.publish(b"d", h, b"x", T0),
            Ok(PublishOutcome::Stored { .. })
        ));
        assert!(matches!(
            s.publish(b"d", h, b"x", T0),
            Ok(PublishOutcome::Duplicate { .. })
        ));
        // With max_msgs_per_subject 1 a short TTL is kept as is.
        let mut one = ttl_stream(0, 5 * SEC);
        one.limits.max_msgs_per_subject = 1;
        publish(&mut one, "a", Some("1"), T0).unwrap();
        assert_eq!(
            &one.msgs.get(1).unwrap().headers[..],
            b"NATS/1.0\r\nNats-TTL: 1\r\n\r\n"
        );
    }

    #[test]
    fn ttls_and_nevers_survive_replay() {
        let mut s = ttl_stream(10 * SEC, 0);
        let mut seg = Vec::new();
        for (subject, ttl) in [("a", Some("2")), ("b", Some("never")), ("c", None)] {
            let h = ttl.map_or_else(Vec::new, |v| {
                format!("NATS/1.0\r\nNats-TTL: {v}\r\n\r\n").into_bytes()
            });
            if let Ok(PublishOutcome::Stored { effects, .. }) =
                s.publish(subject.as_bytes(), &h, b"x", T0)
            {
                for Effect::Append(rec) in &effects {
                    encode_into(rec, &mut seg);
                }
            }
        }
        let mut r = ttl_stream(10 * SEC, 0);
        let scanned = scan(&seg);
        for (_, rec) in scanned.records {
            r.replay(rec);
        }
        assert_eq!(r.next_expiry_ns(), Some(T0 + 2 * SEC));
        r.expire(T0 + 11 * SEC);
        assert_eq!(seqs(&r), vec![2]);
    }
}
