//! The JetStream consume hot path on one core, without I/O: a client's pull request
//! (batch 500) and its 500 explicit acks go through the engine (parse, route to the
//! internal subscriptions), the stream host's consumer (deliveries, acks) and the shell's
//! `JsDriver` (applying the host's actions), and the deliveries come out as the client's
//! output bytes — what the server's core thread does per message in the `js-consume pull
//! batch 500, explicit acks` row of scripts/compare.sh, minus the sockets and the disk.
//! A file stream, so the commit gate (`visible_upto`) is in the path; storage batches are
//! taken and reported done by hand. Reports messages/s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use natrix::engine::{Engine, EngineConfig, EngineLimits, OutputState};
use natrix::protocol::info::{ServerInfo, ADVERTISED_VERSION};
use natrix::session::ConnId;
use natrix::shell::js_drive::JsDriver;
use natrix::streams::{Clock, HostConfig, StreamHost};

const BATCH: usize = 500;
const STREAM_MSGS: usize = 50_000;

struct Core {
    engine: Engine,
    host: StreamHost,
    driver: JsDriver,
    conn: ConnId,
    now: Clock,
    out: Vec<u8>,
}

impl Core {
    fn new() -> Self {
        let info = ServerInfo {
            server_id: "NBENCH".into(),
            server_name: "bench".into(),
            version: ADVERTISED_VERSION.into(),
            proto: 1,
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            max_payload: 1024 * 1024,
            jetstream: true,
            ..ServerInfo::default()
        };
        let mut engine = Engine::new(EngineConfig {
            core_id: 0,
            n_cores: 1,
            limits: EngineLimits {
                max_payload_bytes: 1024 * 1024,
                max_control_line_bytes: 4096,
                max_pending_bytes: 1 << 30,
                max_subscriptions: 0,
                ping_interval_ns: u64::MAX / 4,
                max_pings_outstanding: 2,
            },
            info,
        });
        let mut host = StreamHost::new(
            HostConfig {
                core_id: 0,
                n_cores: 1,
                store_dir: PathBuf::from("/nonexistent"),
                server_name: "bench".into(),
                version: ADVERTISED_VERSION.into(),
                max_memory_bytes: -1,
                max_file_bytes: -1,
                counts: Default::default(),
                dead_letter: Default::default(),
                domain: None,
                batch: Default::default(),
            },
            7,
        );
        host.start();
        let conn = engine.open_conn("127.0.0.1", 0, true);
        let mut core = Core {
            engine,
            host,
            driver: JsDriver::for_account(natrix::accounts::GLOBAL),
            conn,
            now: Clock {
                mono_ns: 1_000_000_000,
                wall_ns: 1_700_000_000_000_000_000,
            },
            out: Vec::new(),
        };
        core.feed(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.> 1\r\n");
        let body = br#"{"name":"S","subjects":["s"],"storage":"file"}"#;
        core.request("$JS.API.STREAM.CREATE.S", body);
        // Prefill in windows of 256, as the loadgen does.
        let mut msgs = Vec::new();
        for i in 0..STREAM_MSGS {
            msgs.extend_from_slice(b"PUB s _INBOX.p 16\r\n0123456789abcdef\r\n");
            if i % 256 == 255 {
                core.feed(&msgs);
                msgs.clear();
            }
        }
        core.feed(&msgs);
        core.take_output();
        core
    }

    /// Feeds client bytes, lets the host handle them and completes every storage batch.
    fn feed(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.engine.on_read(self.conn, &mut buf, self.now.mono_ns);
        for _ in 0..16 {
            self.driver
                .drive(&mut self.host, &mut self.engine, self.now);
            if !self.host.has_storage_work(self.now) {
                break;
            }
            let (_ops, replies) = self.host.take_storage_batch(self.now);
            self.host.handle_storage_done(&[]);
            for r in replies {
                self.engine
                    .publish_internal(&r.subject, None, 0, &r.payload);
            }
        }
        // Consumer state writes are paced by the clock.
        self.now.mono_ns += 1_000_000;
    }

    fn request(&mut self, subject: &str, body: &[u8]) {
        let mut m = format!("PUB {subject} _INBOX.r {}\r\n", body.len()).into_bytes();
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
        self.feed(&m);
        self.take_output();
    }

    /// Takes the client's output into `self.out`.
    fn take_output(&mut self) {
        self.out.clear();
        loop {
            let mut buf = BytesMut::new();
            match self.engine.take_output(self.conn, &mut buf) {
                OutputState::Data => {
                    self.out.extend_from_slice(&buf);
                    self.engine.write_done(self.conn);
                }
                _ => break,
            }
        }
    }

    fn create_consumer(&mut self, name: &str) {
        let body = format!(
            r#"{{"stream_name":"S","config":{{"durable_name":"{name}","deliver_policy":"all","ack_policy":"explicit","max_ack_pending":2000,"max_waiting":512}},"action":"create"}}"#
        );
        self.request(
            &format!("$JS.API.CONSUMER.CREATE.S.{name}"),
            body.as_bytes(),
        );
    }

    /// One pull of BATCH messages and an ack for each; returns the messages received.
    fn pull_and_ack(&mut self, name: &str, acks: &mut Vec<u8>) -> usize {
        let req = format!(
            "PUB $JS.API.CONSUMER.MSG.NEXT.S.{name} _INBOX.pull {}\r\n{{\"batch\":{BATCH}}}\r\n",
            format!("{{\"batch\":{BATCH}}}").len()
        );
        self.feed(req.as_bytes());
        self.take_output();
        acks.clear();
        let mut n = 0;
        for line in self.out.split(|&b| b == b'\n') {
            // MSG <subject> <sid> <reply> <size>
            if let Some(rest) = line.strip_prefix(b"MSG ") {
                let reply = rest.split(|&b| b == b' ').nth(2).unwrap_or_default();
                acks.extend_from_slice(b"PUB ");
                acks.extend_from_slice(reply);
                acks.extend_from_slice(b" 4\r\n+ACK\r\n");
                n += 1;
            }
        }
        self.feed(acks);
        self.take_output();
        n
    }
}

fn consume(c: &mut Criterion) {
    let mut g = c.benchmark_group("js_consume");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("pull500_explicit_file", |b| {
        b.iter_custom(|iters| {
            let mut core = Core::new();
            let mut acks = Vec::new();
            let mut consumer = 0u64;
            let mut name = String::from("c0");
            core.create_consumer(&name);
            let mut left = STREAM_MSGS;
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                if left < BATCH {
                    // Stream drained: a fresh consumer from the start (not timed).
                    consumer += 1;
                    name = format!("c{consumer}");
                    core.create_consumer(&name);
                    left = STREAM_MSGS;
                }
                let t = Instant::now();
                let n = core.pull_and_ack(&name, &mut acks);
                spent += t.elapsed();
                assert_eq!(n, BATCH, "a full batch each pull");
                left -= n;
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, consume);
criterion_main!(benches);
