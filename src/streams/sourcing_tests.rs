//! The mirror/source machine alone: requests, deliveries, gaps, flow control, resume points.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::streams::HostAction;

struct Q {
    seq: u64,
}

impl crate::consumer::Interest for Q {
    fn has_interest(&mut self, _subject: &Bytes) -> bool {
        true
    }
}

impl EngineQueries for Q {
    fn interest_seq(&self) -> u64 {
        self.seq
    }
    fn interest_visible(&self, _seq: u64) -> bool {
        true
    }
}

fn clock(s: u64) -> Clock {
    Clock {
        mono_ns: s * SEC,
        wall_ns: 1_700_000_000 * SEC + s * SEC,
    }
}

fn actions(out: &mut Outbox) -> Vec<HostAction> {
    let mut v = Vec::new();
    out.take_actions(&mut v);
    v
}

/// Runs a link up to its consumer request; returns (deliver subject, request subject, body).
fn start(m: &mut Sourcing, out: &mut Outbox, last_seq: u64) -> (String, String, serde_json::Value) {
    let view = StoreView { last_seq };
    let mut q = Q { seq: 1 };
    m.tick(0, view, clock(0), &mut q, out);
    m.tick(0, view, clock(0), &mut q, out);
    m.tick(0, view, clock(0), &mut q, out);
    let mut deliver = String::new();
    let mut req = None;
    for a in actions(out) {
        match a {
            HostAction::Subscribe {
                subject, target, ..
            } if target.kind == KIND_SRC_DELIVER => {
                deliver = String::from_utf8(subject.to_vec()).unwrap()
            }
            HostAction::Publish {
                subject, message, ..
            } => {
                req = Some((
                    String::from_utf8(subject.to_vec()).unwrap(),
                    serde_json::from_slice(&message).unwrap(),
                ))
            }
            _ => {}
        }
    }
    let (subject, body) = req.expect("a consumer request");
    (deliver, subject, body)
}

fn ack(cname: &str, sseq: u64, dseq: u64, pending: u64) -> Bytes {
    Bytes::from(format!(
        "$JS.ACK.O.{cname}.1.{sseq}.{dseq}.{}.{pending}",
        5 + sseq
    ))
}

#[test]
fn mirror_requests_from_its_last_sequence_and_keeps_origin_sequences() {
    let origin = StreamSource {
        name: "O".into(),
        ..Default::default()
    };
    let mut m = Sourcing::new("M", Some(&origin), &[], &BTreeMap::new(), "", 7).unwrap();
    let mut out = Outbox::new(0);
    let (deliver, subject, body) = start(&mut m, &mut out, 4);
    assert!(deliver.starts_with("$JS.M."), "{deliver}");
    assert!(
        subject.starts_with("$JS.API.CONSUMER.CREATE.O.JS_MIRROR_"),
        "{subject}"
    );
    assert_eq!(body["config"]["deliver_policy"], "by_start_sequence");
    assert_eq!(body["config"]["opt_start_seq"], 5);
    assert_eq!(body["config"]["flow_control"], true);
    let cname = body["config"]["name"].as_str().unwrap().to_owned();
    let view = StoreView { last_seq: 4 };
    let reply = format!(r#"{{"name":"{cname}","delivered":{{"consumer_seq":0,"stream_seq":4}}}}"#);
    m.on_reply(0, reply.as_bytes(), view, clock(1), &mut out);
    let subj = Bytes::from_static(b"o.a");
    let got = m
        .on_deliver(
            0,
            &subj,
            Some(&ack(&cname, 5, 1, 3)),
            b"",
            &Bytes::from_static(b"x"),
            clock(1),
            &mut out,
        )
        .expect("stored");
    assert_eq!(got.at, Some((5, 10)));
    // Origin sequence 6 was deleted there: 7 comes as the next delivery.
    let got = m
        .on_deliver(
            0,
            &subj,
            Some(&ack(&cname, 7, 2, 1)),
            b"",
            &Bytes::from_static(b"y"),
            clock(1),
            &mut out,
        )
        .expect("stored");
    assert_eq!(got.at, Some((7, 12)));
    assert_eq!(m.info(clock(2))[0].lag, 0);
    // A delivery from another consumer is ignored; a skipped delivery restarts the link.
    assert!(m
        .on_deliver(
            0,
            &subj,
            Some(&ack("OLD", 8, 3, 0)),
            b"",
            &Bytes::from_static(b"z"),
            clock(1),
            &mut out
        )
        .is_none());
    assert!(m
        .on_deliver(
            0,
            &subj,
            Some(&ack(&cname, 9, 4, 0)),
            b"",
            &Bytes::from_static(b"z"),
            clock(1),
            &mut out
        )
        .is_none());
    assert!(actions(&mut out)
        .iter()
        .any(|a| matches!(a, HostAction::Unsubscribe { .. })));
}

#[test]
fn source_adds_its_header_transforms_and_answers_flow_control() {
    let src = StreamSource {
        name: "O".into(),
        subject_transforms: vec![crate::jetstream::SubjectTransform {
            src: "o.*".into(),
            dest: "agg.{{wildcard(1)}}".into(),
        }],
        ..Default::default()
    };
    let mut m = Sourcing::new("S", None, &[src], &BTreeMap::new(), "", 3).unwrap();
    let mut out = Outbox::new(0);
    let (deliver, subject, body) = start(&mut m, &mut out, 0);
    assert!(deliver.starts_with("$JS.S."));
    assert!(subject.ends_with(".o.*"), "{subject}");
    assert_eq!(body["config"]["deliver_policy"], "all");
    let cname = body["config"]["name"].as_str().unwrap().to_owned();
    let reply = format!(r#"{{"name":"{cname}","delivered":{{"stream_seq":0}}}}"#);
    m.on_reply(
        0,
        reply.as_bytes(),
        StoreView::default(),
        clock(1),
        &mut out,
    );
    let got = m
        .on_deliver(
            0,
            &Bytes::from_static(b"o.x"),
            Some(&ack(&cname, 3, 1, 0)),
            b"NATS/1.0\r\nNats-Expected-Stream: O\r\nA: b\r\n\r\n",
            &Bytes::from_static(b"p"),
            clock(1),
            &mut out,
        )
        .unwrap();
    assert_eq!(&got.subject[..], b"agg.x");
    assert_eq!(
        &got.headers[..],
        &b"NATS/1.0\r\nA: b\r\nNats-Stream-Source: O 3 o.* agg.{{wildcard(1)}} o.x\r\n\r\n"[..]
    );
    let fc = Bytes::from_static(b"$JS.FC.O.c.1");
    assert!(m
        .on_deliver(
            0,
            &Bytes::from(deliver),
            Some(&fc),
            b"NATS/1.0 100 FlowControl Request\r\n\r\n",
            &Bytes::new(),
            clock(1),
            &mut out
        )
        .is_none());
    let answered = actions(&mut out).into_iter().any(|a| {
        matches!(a, HostAction::Publish { subject, message, .. }
            if subject == fc && message.starts_with(b"NATS/1.0\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 3"))
    });
    assert!(answered);
    let resume = resume_points(
        &m.index_names(),
        [
            &got.headers[..],
            b"NATS/1.0\r\nNats-Stream-Source: O 1 o.* agg.{{wildcard(1)}} o.y\r\n\r\n",
        ]
        .into_iter(),
    );
    assert_eq!(resume.values().copied().collect::<Vec<_>>(), vec![3]);
}
