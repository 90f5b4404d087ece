//! Property test: random publishes, deletes, purges, expiries, limit changes and restarts agree
//! with a naive in-memory model (a `BTreeMap` and linear scans). A restart encodes every effect
//! emitted so far into segment buffers (rolling segments with a checkpoint, optionally deleting
//! dead segments from the front), scans them, checks the rkyv index of each, and replays them
//! into a fresh `Stream` that must equal the live one and then replaces it.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::store::record::{decode, encode_into, RecordRef};
use crate::store::segment::{build_index, index_entries, scan, IndexView};
use crate::subject::subject_matches;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
const SUBJECTS: [&str; 4] = ["a.1", "a.2", "b.1", "c"];
const FILTERS: [&str; 7] = ["", ">", "a.*", "a.1", "b.>", "c", "*.1"];

#[derive(Debug, Clone)]
struct MMsg {
    subject: Vec<u8>,
    headers: Vec<u8>,
    payload: Vec<u8>,
    ts: u64,
}

/// The reference: nats-server's rules written as plainly as possible.
#[derive(Debug)]
struct Model {
    name: String,
    limits: StreamLimits,
    msgs: BTreeMap<u64, MMsg>,
    last_seq: u64,
    last_ts: u64,
    empty_first: u64,
    ids: Vec<(Vec<u8>, u64, u64)>,
    last_id: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Stored(u64),
    Duplicate(u64),
}

fn size(m: &MMsg) -> u64 {
    let h = if m.headers.is_empty() {
        0
    } else {
        4 + m.headers.len()
    };
    (22 + m.subject.len() + h + m.payload.len() + 8) as u64
}

fn matches(filter: &[u8], subject: &[u8]) -> bool {
    filter.is_empty() || filter == b">" || subject_matches(filter, subject)
}

fn header<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn encode_headers(pairs: &[(String, String)]) -> Vec<u8> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let mut h = b"NATS/1.0\r\n".to_vec();
    for (k, v) in pairs {
        h.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    h.extend_from_slice(b"\r\n");
    h
}

impl Model {
    fn new(limits: StreamLimits) -> Self {
        Model {
            name: "S".into(),
            limits,
            msgs: BTreeMap::new(),
            last_seq: 0,
            last_ts: 0,
            empty_first: 0,
            ids: Vec::new(),
            last_id: Vec::new(),
        }
    }

    fn bytes(&self) -> u64 {
        self.msgs.values().map(size).sum()
    }

    fn first_seq(&self) -> u64 {
        self.msgs.keys().next().copied().unwrap_or(self.empty_first)
    }

    fn emptied(&mut self) {
        if self.msgs.is_empty() {
            self.empty_first = self.last_seq + 1;
        }
    }

    fn first_of(&self, subject: &[u8]) -> Option<u64> {
        self.msgs
            .iter()
            .find(|(_, m)| m.subject == subject)
            .map(|(s, _)| *s)
    }

    fn count_of(&self, subject: &[u8]) -> u64 {
        self.msgs.values().filter(|m| m.subject == subject).count() as u64
    }

    fn last_matching(&self, filter: &[u8]) -> Option<u64> {
        self.msgs
            .iter()
            .rev()
            .find(|(_, m)| matches(filter, &m.subject))
            .map(|(s, _)| *s)
    }

    fn pop_first(&mut self) -> bool {
        self.msgs.pop_first().is_some()
    }

    fn enforce_total(&mut self) -> bool {
        let mut removed = false;
        if self.limits.discard == Discard::Old {
            if self.limits.max_msgs > 0 {
                while self.msgs.len() as i64 > self.limits.max_msgs {
                    removed |= self.pop_first();
                }
            }
            if self.limits.max_bytes > 0 {
                while self.bytes() as i64 > self.limits.max_bytes && self.pop_first() {
                    removed = true;
                }
            }
        }
        removed
    }

    fn publish(
        &mut self,
        subject: &str,
        pairs: &[(String, String)],
        payload: &[u8],
        now: u64,
    ) -> Result<Outcome, StoreError> {
        let headers = encode_headers(pairs);
        let subject = subject.as_bytes().to_vec();
        if let Some(s) = header(pairs, "Nats-Expected-Stream") {
            if s != self.name {
                return Err(StoreError::ExpectedStreamMismatch);
            }
        }
        let id = header(pairs, "Nats-Msg-Id").map(|v| v.as_bytes().to_vec());
        if let Some(id) = &id {
            if let Some((_, seq, ts)) = self.ids.iter().rev().find(|(i, _, _)| i == id) {
                if now - ts < self.limits.duplicate_window_ns {
                    return Ok(Outcome::Duplicate(*seq));
                }
            }
        }
        if let Some(v) = header(pairs, "Nats-Expected-Last-Subject-Sequence") {
            let want: u64 = v.parse().unwrap();
            let on = header(pairs, "Nats-Expected-Last-Subject-Sequence-Subject")
                .map_or(subject.clone(), |s| s.as_bytes().to_vec());
            let have = self.last_matching(&on).unwrap_or(0);
            if have != want {
                return Err(StoreError::WrongLastSequence { last_seq: have });
            }
        }
        if let Some(v) = header(pairs, "Nats-Expected-Last-Sequence") {
            if v.parse::<u64>().unwrap() != self.last_seq {
                return Err(StoreError::WrongLastSequence {
                    last_seq: self.last_seq,
                });
            }
        }
        if let Some(v) = header(pairs, "Nats-Expected-Last-Msg-Id") {
            if v.as_bytes() != self.last_id {
                return Err(StoreError::WrongLastMsgId {
                    last_id: String::from_utf8_lossy(&self.last_id).into_owned(),
                });
            }
        }
        let rollup = header(pairs, "Nats-Rollup").map(str::to_string);
        if let Some(r) = &rollup {
            if !self.limits.allow_rollup_hdrs || self.limits.deny_purge {
                return Err(StoreError::RollupNotPermitted);
            }
            assert!(r == "sub" || r == "all");
        }
        if self.limits.max_msg_size > 0
            && (headers.len() + payload.len()) as i64 > self.limits.max_msg_size
        {
            return Err(StoreError::MessageTooLarge);
        }
        let msg = MMsg {
            subject: subject.clone(),
            headers,
            payload: payload.to_vec(),
            ts: now.max(self.last_ts),
        };
        let per = self.limits.max_msgs_per_subject;
        let asl = per > 0 && self.count_of(&subject) >= per as u64;
        if self.limits.discard == Discard::New {
            if asl && self.limits.discard_new_per_subject {
                return Err(StoreError::MaxMsgsPerSubjectExceeded);
            }
            if self.limits.max_msgs > 0 && self.msgs.len() as i64 >= self.limits.max_msgs && !asl {
                return Err(StoreError::MaxMsgsExceeded);
            }
            if self.limits.max_bytes > 0
                && (self.bytes() + size(&msg)) as i64 >= self.limits.max_bytes
            {
                let evicted = self.first_of(&subject).map_or(0, |s| size(&self.msgs[&s]));
                if !asl || evicted <= size(&msg) {
                    return Err(StoreError::MaxBytesExceeded);
                }
            }
        }
        let seq = self.last_seq + 1;
        self.last_seq = seq;
        self.last_ts = msg.ts;
        let ts = msg.ts;
        self.msgs.insert(seq, msg);
        let mut removed = false;
        if per > 0 {
            while self.count_of(&subject) > per as u64 {
                let first = self.first_of(&subject).unwrap();
                self.msgs.remove(&first);
                removed = true;
            }
        }
        removed |= self.enforce_total();
        if removed {
            self.emptied();
        }
        self.last_id = id.clone().unwrap_or_default();
        if let Some(id) = id {
            if self.limits.duplicate_window_ns > 0 {
                self.ids.push((id, seq, ts));
            }
        }
        match rollup.as_deref() {
            Some("sub") => {
                self.purge_inner(Some(&subject), 0, 1);
            }
            Some("all") => {
                self.purge_inner(None, 0, 1);
            }
            _ => {}
        }
        Ok(Outcome::Stored(seq))
    }

    fn purge(&mut self, filter: Option<&[u8]>, seq: u64, keep: u64) -> Result<u64, StoreError> {
        if seq > 0 && keep > 0 {
            return Err(StoreError::PurgeSeqAndKeep);
        }
        if self.limits.deny_purge {
            return Err(StoreError::PurgeNotPermitted);
        }
        Ok(self.purge_inner(filter, seq, keep))
    }

    fn purge_inner(&mut self, filter: Option<&[u8]>, seq: u64, keep: u64) -> u64 {
        let filter = filter.unwrap_or_default().to_vec();
        let mut n = 0;
        if filter.is_empty() || filter == b">" {
            let below = if keep == 0 && seq <= 1 {
                self.last_seq + 1
            } else if seq > 1 {
                seq
            } else if keep >= self.msgs.len() as u64 {
                return 0;
            } else {
                self.last_seq - keep + 1
            };
            let doomed: Vec<u64> = self.msgs.keys().copied().filter(|&s| s < below).collect();
            for s in doomed {
                self.msgs.remove(&s);
                n += 1;
            }
            if below > self.last_seq + 1 {
                self.last_seq = below - 1;
            }
            self.emptied();
            return n;
        }
        let matching: Vec<u64> = self
            .msgs
            .iter()
            .filter(|(_, m)| matches(&filter, &m.subject))
            .map(|(s, _)| *s)
            .collect();
        let doomed: Vec<u64> = if keep > 0 {
            if keep as usize >= matching.len() {
                return 0;
            }
            matching[..matching.len() - keep as usize].to_vec()
        } else if seq > 0 {
            matching.into_iter().filter(|&s| s < seq).collect()
        } else {
            matching
        };
        for s in &doomed {
            self.msgs.remove(s);
        }
        if !doomed.is_empty() {
            self.emptied();
        }
        doomed.len() as u64
    }

    fn delete(&mut self, seq: u64) -> Result<(), StoreError> {
        if self.limits.deny_delete {
            return Err(StoreError::DeleteNotPermitted);
        }
        self.msgs.remove(&seq).ok_or(StoreError::DeleteMissing {
            seq,
            last_seq: self.last_seq,
        })?;
        self.emptied();
        Ok(())
    }

    fn expire(&mut self, now: u64) {
        let age = self.limits.max_age_ns;
        if age == 0 || now < age {
            return;
        }
        let doomed: Vec<u64> = self
            .msgs
            .iter()
            .filter(|(_, m)| m.ts <= now - age)
            .map(|(s, _)| *s)
            .collect();
        for s in &doomed {
            self.msgs.remove(s);
        }
        if !doomed.is_empty() {
            self.emptied();
        }
    }

    fn set_limits(&mut self, limits: StreamLimits) {
        self.limits = limits;
        let mut removed = self.enforce_total();
        if self.limits.max_msgs_per_subject > 0 {
            for subj in SUBJECTS {
                while self.count_of(subj.as_bytes()) as i64 > self.limits.max_msgs_per_subject {
                    let first = self.first_of(subj.as_bytes()).unwrap();
                    self.msgs.remove(&first);
                    removed = true;
                }
            }
        }
        if removed {
            self.emptied();
        }
    }

    fn state(&self) -> StreamStateView {
        let first_seq = self.first_seq();
        let deleted: Vec<u64> = if self.msgs.is_empty() {
            Vec::new()
        } else {
            (first_seq..=self.last_seq)
                .filter(|s| !self.msgs.contains_key(s))
                .collect()
        };
        let mut subjects: Vec<&Vec<u8>> = self.msgs.values().map(|m| &m.subject).collect();
        subjects.sort();
        subjects.dedup();
        StreamStateView {
            messages: self.msgs.len() as u64,
            bytes: self.bytes(),
            first_seq,
            first_ts_ns: self.msgs.values().next().map_or(0, |m| m.ts),
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts,
            num_subjects: subjects.len() as u64,
            num_deleted: deleted.len() as u64,
            deleted,
            ..StreamStateView::default()
        }
    }
}

/// The shell's files, simulated: segments rolled at a size, each starting with a checkpoint.
struct Disk {
    segments: Vec<(Vec<u8>, u64)>,
    roll_bytes: usize,
    /// Segments at the front already sealed (the live stream serves them from a "mapping").
    sealed: usize,
}

impl Disk {
    fn new(stream: &Stream, roll_bytes: usize) -> Self {
        let mut first = Vec::new();
        encode_into(&stream.checkpoint_record(), &mut first);
        Disk {
            segments: vec![(first, 0)],
            roll_bytes,
            sealed: 0,
        }
    }

    /// Appends one operation's effects; rolls first when the active segment is full (the
    /// checkpoint is taken after the operation was applied, the realistic and harder order).
    fn append(&mut self, stream: &Stream, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        if self.segments.last().unwrap().0.len() >= self.roll_bytes {
            let mut seg = Vec::new();
            encode_into(&stream.checkpoint_record(), &mut seg);
            self.segments.push((seg, 0));
        }
        let (seg, max_msg_seq) = self.segments.last_mut().unwrap();
        for Effect::Append(rec) in effects {
            if let Record::Message { seq, .. } = rec {
                *max_msg_seq = (*max_msg_seq).max(*seq);
            }
            encode_into(rec, seg);
        }
    }

    /// Starts a new segment now.
    fn roll(&mut self, stream: &Stream) {
        let mut seg = Vec::new();
        encode_into(&stream.checkpoint_record(), &mut seg);
        self.segments.push((seg, 0));
    }

    /// Deletes front segments whose messages are all below the stream's first sequence.
    fn drop_dead_prefix(&mut self, first_seq: u64) {
        while self.segments.len() > 1 && self.segments[0].1 < first_seq {
            self.segments.remove(0);
            self.sealed = self.sealed.saturating_sub(1);
        }
    }

    /// The sealer: the live stream serves the messages of every segment before the active
    /// one from a copy of its bytes (the mapping), as the shell does after a roll.
    fn seal(&mut self, stream: &mut Stream) {
        while self.sealed + 1 < self.segments.len() {
            let seg = Bytes::from(self.segments[self.sealed].0.clone());
            let entries = index_entries(&scan(&seg).records);
            for chunk in entries.chunks(3) {
                stream.rebase_bodies(&seg, chunk);
            }
            self.sealed += 1;
        }
    }

    fn recover(&self, limits: StreamLimits) -> Stream {
        let mut s = Stream::new("S".into(), limits, 0);
        for (seg, _) in &self.segments {
            let res = scan(seg);
            assert_eq!(res.problem, None);
            assert_eq!(res.valid_len, seg.len());
            let entries = index_entries(&res.records);
            let idx = build_index(
                entries.first().map_or(0, |e| e.0),
                &entries,
                seg.len() as u64,
            );
            let view = IndexView::open(&idx).unwrap();
            for &(seq, off) in &entries {
                let at = view.lookup(seq).unwrap();
                assert_eq!(at, off);
                let (rec, _) = decode(&seg[at as usize..]).unwrap();
                assert!(matches!(rec, RecordRef::Message(m) if m.seq == seq));
            }
            // Recovery serves every segment's messages from its mapping.
            let owner = Bytes::from(seg.clone());
            s.replay_all(
                scan(&owner).records.into_iter().map(|(_, r)| r),
                Some(&owner),
            );
        }
        s
    }
}

#[derive(Debug, Clone)]
enum Op {
    Publish {
        subject: usize,
        payload_len: usize,
        msg_id: Option<u8>,
        expect: Option<(u8, i8)>,
        rollup: Option<bool>,
        dt_ms: u64,
    },
    Delete {
        pick: usize,
        miss: bool,
    },
    Purge {
        filter: usize,
        seq_back: Option<u64>,
        keep: Option<u64>,
    },
    Expire {
        dt_ms: u64,
    },
    SetLimits(StreamLimits),
    /// The shell starts a new segment on its own (size, age, startup).
    Roll,
    Restart,
}

fn limits_strategy() -> impl Strategy<Value = StreamLimits> {
    (
        prop_oneof![Just(-1i64), 1..8i64],
        prop_oneof![Just(-1i64), 60..400i64],
        prop_oneof![Just(0u64), (1..5u64).prop_map(|s| s * SEC)],
        prop_oneof![3 => Just(-1i64), 1 => 20..60i64],
        prop_oneof![Just(-1i64), 1..4i64],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(max_msgs, max_bytes, max_age_ns, max_msg_size, per, new, dnps, rollup, dd, dp)| {
                StreamLimits {
                    max_msgs,
                    max_bytes,
                    max_age_ns,
                    max_msg_size,
                    max_msgs_per_subject: per,
                    discard: if new { Discard::New } else { Discard::Old },
                    discard_new_per_subject: dnps,
                    duplicate_window_ns: 2 * SEC,
                    allow_rollup_hdrs: rollup,
                    deny_delete: dd,
                    deny_purge: dp,
                    memory_accounting: false,
                    allow_msg_ttl: false,
                    subject_delete_marker_ttl_ns: 0,
                    allow_msg_counter: false,
                    sealed: false,
                }
            },
        )
}

fn op_strategy(with_ids: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (
            0..SUBJECTS.len(),
            0..40usize,
            prop::option::weighted(0.5, 0..6u8),
            prop::option::weighted(0.3, (0..if with_ids { 3u8 } else { 2 }, -1..=1i8)),
            prop::option::weighted(0.15, any::<bool>()),
            0..1500u64,
        )
            .prop_map(|(subject, payload_len, msg_id, expect, rollup, dt_ms)| Op::Publish {
                subject,
                payload_len,
                msg_id,
                expect,
                rollup,
                dt_ms,
            }),
        3 => (any::<usize>(), prop::bool::weighted(0.15)).prop_map(|(pick, miss)| Op::Delete { pick, miss }),
        2 => (
            0..FILTERS.len(),
            prop::option::weighted(0.3, 0..10u64),
            prop::option::weighted(0.3, 0..4u64),
        )
            .prop_map(|(filter, seq_back, keep)| Op::Purge { filter, seq_back, keep }),
        2 => (0..4000u64).prop_map(|dt_ms| Op::Expire { dt_ms }),
        1 => limits_strategy().prop_map(Op::SetLimits),
        1 => Just(Op::Roll),
        3 => Just(Op::Restart),
    ]
}

fn stored_msg_eq(real: Option<StoredMsg>, model: Option<&MMsg>, seq: u64) -> bool {
    match (real, model) {
        (None, None) => true,
        (Some(r), Some(m)) => {
            r.seq == seq
                && r.ts_ns == m.ts
                && r.subject[..] == m.subject[..]
                && r.headers[..] == m.headers[..]
                && r.payload[..] == m.payload[..]
        }
        _ => false,
    }
}

fn check(real: &Stream, model: &Model) {
    assert_eq!(real.state(), model.state());
    for seq in 0..=model.last_seq + 2 {
        assert!(
            stored_msg_eq(real.get(seq), model.msgs.get(&seq), seq),
            "get({seq})"
        );
    }
    for f in FILTERS {
        let f = f.as_bytes();
        assert_eq!(
            real.last_by_subject(f).map(|m| m.seq),
            model.last_matching(f),
            "last_by_subject"
        );
        for from in [0, model.first_seq(), model.first_seq() + 2, model.last_seq] {
            let want = model
                .msgs
                .range(from..)
                .find(|(_, m)| matches(f, &m.subject))
                .map(|(s, _)| *s);
            assert_eq!(
                real.next_by_subject(f, from).map(|m| m.seq),
                want,
                "next_by_subject"
            );
        }
        let mut got: Vec<(Vec<u8>, u64)> = real
            .subjects_count(f)
            .into_iter()
            .map(|(s, n)| (s.to_vec(), n))
            .collect();
        got.sort();
        let mut want: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for m in model.msgs.values().filter(|m| matches(f, &m.subject)) {
            *want.entry(m.subject.clone()).or_default() += 1;
        }
        assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "subjects_count");
    }
    for m in model.msgs.values().step_by(3) {
        for ts in [m.ts.saturating_sub(1), m.ts, m.ts + 1] {
            let want = model.msgs.iter().find(|(_, x)| x.ts >= ts).map(|(s, _)| *s);
            assert_eq!(
                real.first_seq_at_or_after(ts),
                want,
                "first_seq_at_or_after({ts})"
            );
        }
    }
}

fn run(
    limits: StreamLimits,
    ops: Vec<Op>,
    roll_bytes: usize,
    with_ids: bool,
    delete_segments: bool,
) {
    let mut real = Stream::new("S".into(), limits.clone(), 0);
    let mut model = Model::new(limits);
    let mut disk = Disk::new(&real, roll_bytes);
    let mut now = T0;
    for op in ops {
        match op {
            Op::Publish {
                subject,
                payload_len,
                msg_id,
                expect,
                rollup,
                dt_ms,
            } => {
                now += dt_ms * MS;
                let msg_id = msg_id.filter(|_| with_ids);
                let subject = SUBJECTS[subject];
                let mut pairs: Vec<(String, String)> = Vec::new();
                if let Some(id) = msg_id {
                    pairs.push(("Nats-Msg-Id".into(), format!("id{id}")));
                }
                if let Some((kind, delta)) = expect {
                    let adj = |v: u64| (v as i64 + delta as i64).max(0).to_string();
                    match kind {
                        0 => {
                            pairs.push(("Nats-Expected-Last-Sequence".into(), adj(model.last_seq)))
                        }
                        1 => pairs.push((
                            "Nats-Expected-Last-Subject-Sequence".into(),
                            adj(model.last_matching(subject.as_bytes()).unwrap_or(0)),
                        )),
                        _ => pairs.push((
                            "Nats-Expected-Last-Msg-Id".into(),
                            format!("id{}", delta + 1),
                        )),
                    }
                }
                if let Some(all) = rollup {
                    pairs.push(("Nats-Rollup".into(), if all { "all" } else { "sub" }.into()));
                }
                assert!(with_ids || pairs.iter().all(|(k, _)| !k.contains("Msg-Id")));
                let payload = vec![b'p'; payload_len];
                let want = model.publish(subject, &pairs, &payload, now);
                let got = real.publish(subject.as_bytes(), &encode_headers(&pairs), &payload, now);
                let got = match got {
                    Ok(PublishOutcome::Stored { seq, effects }) => {
                        disk.append(&real, &effects);
                        Ok(Outcome::Stored(seq))
                    }
                    Ok(PublishOutcome::Duplicate { seq }) => Ok(Outcome::Duplicate(seq)),
                    Err(e) => Err(e),
                };
                assert_eq!(got, want, "publish {subject} {pairs:?}");
            }
            Op::Delete { pick, miss } => {
                let live: Vec<u64> = model.msgs.keys().copied().collect();
                let seq = if miss || live.is_empty() {
                    (model.first_seq()..=model.last_seq + 1)
                        .find(|s| !model.msgs.contains_key(s))
                        .unwrap_or(0)
                } else {
                    live[pick % live.len()]
                };
                let want = model.delete(seq);
                let got = real.delete_msg(seq).map(|e| disk.append(&real, &e));
                assert_eq!(got, want, "delete {seq}");
            }
            Op::Purge {
                filter,
                seq_back,
                keep,
            } => {
                let filter = (!FILTERS[filter].is_empty()).then(|| FILTERS[filter].as_bytes());
                let seq = seq_back.map(|b| (model.last_seq + 3).saturating_sub(b));
                let want = model.purge(filter, seq.unwrap_or(0), keep.unwrap_or(0));
                let got = real.purge(filter, seq, keep).map(|(n, e)| {
                    disk.append(&real, &e);
                    n
                });
                assert_eq!(got, want, "purge {filter:?} {seq:?} {keep:?}");
            }
            Op::Expire { dt_ms } => {
                now += dt_ms * MS;
                model.expire(now);
                let e = real.expire(now);
                disk.append(&real, &e);
            }
            Op::SetLimits(l) => {
                model.set_limits(l.clone());
                let e = real.set_limits(l);
                disk.append(&real, &e);
            }
            Op::Roll => disk.roll(&real),
            Op::Restart => {
                if delete_segments {
                    disk.drop_dead_prefix(real.first_seq());
                }
                let recovered = disk.recover(real.limits().clone());
                assert_eq!(recovered.state(), real.state(), "recovered state");
                if with_ids {
                    assert_eq!(recovered.last_msg_id, real.last_msg_id);
                }
                real = recovered;
            }
        }
        disk.seal(&mut real);
        check(&real, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every segment kept: msg ids, expected-* headers and de-duplication survive restarts.
    #[test]
    fn stream_agrees_with_model(
        limits in limits_strategy(),
        ops in prop::collection::vec(op_strategy(true), 1..100),
        roll_bytes in prop_oneof![Just(100usize), Just(300), Just(4096)],
    ) {
        run(limits, ops, roll_bytes, true, false);
    }

    /// Dead segments deleted from the front before each restart (no msg ids: their history is
    /// deliberately lost with the segment, as in nats-server).
    #[test]
    fn stream_agrees_with_model_after_segment_deletion(
        limits in limits_strategy(),
        ops in prop::collection::vec(op_strategy(false), 1..100),
        roll_bytes in prop_oneof![Just(100usize), Just(300)],
    ) {
        run(limits, ops, roll_bytes, false, true);
    }
}
