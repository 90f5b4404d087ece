//! PING/PONG round trip through one server: a plain TCP client sends `PING`, waits for
//! `PONG`, and repeats; prints one JSON line with the percentiles in microseconds.
//! Used by scripts/ping-rtt.sh to compare natrix and nats-server.
//!
//!   cargo run --release --example ping_rtt -- HOST:PORT [ROUND_TRIPS]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .expect("usage: ping_rtt HOST:PORT [ROUND_TRIPS]");
    let n: usize = args
        .next()
        .map_or(20_000, |s| s.parse().expect("ROUND_TRIPS"));
    let stream = TcpStream::connect(&addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).expect("INFO");
    assert!(line.starts_with("INFO "), "first line: {line}");
    writer
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .expect("CONNECT");
    let mut pong = |reader: &mut BufReader<TcpStream>| loop {
        line.clear();
        reader.read_line(&mut line).expect("read");
        if line == "PONG\r\n" {
            return;
        }
        assert!(!line.is_empty(), "server closed");
    };
    pong(&mut reader);
    // Warm-up, then the measured round trips.
    for _ in 0..1000 {
        writer.write_all(b"PING\r\n").expect("PING");
        pong(&mut reader);
    }
    let mut rtt = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        writer.write_all(b"PING\r\n").expect("PING");
        pong(&mut reader);
        rtt.push(t.elapsed().as_nanos() as f64 / 1e3);
    }
    rtt.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| rtt[((rtt.len() as f64 * q) as usize).min(rtt.len() - 1)];
    println!(
        "{{\"round_trips\":{n},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
        p(0.5),
        p(0.9),
        p(0.99),
        rtt[rtt.len() - 1]
    );
}
