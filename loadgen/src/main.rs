//! `natrix-loadgen`: drives any NATS server with the bundled scenarios,
//! runs the ceiling servers, and renders side-by-side reports.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use natrix_loadgen::ceiling::{CeilingMode, CeilingServer};
use natrix_loadgen::report;
use natrix_loadgen::result::RunResult;
use natrix_loadgen::scenario::{self, Common, JsOptions, Scenario};

/// NATS wire-protocol load generator: measures and verifies.
#[derive(Parser, Debug)]
#[command(name = "natrix-loadgen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every scenario. A run stops at --msgs or --duration,
/// whichever comes first.
#[derive(Args, Debug, Clone)]
struct CommonArgs {
    /// Server URL; `ceiling:sink` / `ceiling:pipe` start an in-process ceiling.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Messages to publish in total (requests for reqrep; stream size for js-consume).
    #[arg(long)]
    msgs: Option<u64>,
    /// Time cap for publishing, seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Payload bytes (16+ carries sequence and timestamp; 8+ sequence only).
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Total publish rate, msgs/s (0 = unlimited).
    #[arg(long)]
    rate: Option<u64>,
    /// Publishers (requesters for reqrep).
    #[arg(long, visible_alias = "requesters")]
    pubs: Option<u32>,
    /// Subscribers (queue members, responders, pullers).
    #[arg(long, visible_alias = "responders")]
    subs: Option<u32>,
    /// Spread the load over K subjects (`<subject>.0` … `<subject>.K-1`).
    #[arg(long, default_value_t = 1)]
    subjects: u32,
    /// Base subject.
    #[arg(long, default_value = "bench")]
    subject: String,
    /// Give up on missing messages/replies/acks after this many seconds without progress.
    #[arg(long, default_value_t = 5.0)]
    drain_timeout: f64,
    /// Monitoring URL (http://host:port) to cross-check `pub` counts via /varz.
    #[arg(long)]
    monitor: Option<String>,
    /// Print one JSON object per scenario on stdout.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print a CSV header and row on stdout.
    #[arg(long)]
    csv: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug, Clone)]
struct JsArgs {
    /// Stream name (deleted and recreated).
    #[arg(long, default_value = "LOADGEN")]
    stream: String,
    /// Stream storage: file or memory.
    #[arg(long, default_value = "file", value_parser = ["file", "memory"])]
    storage: String,
    /// Keep the stream and consumer afterwards.
    #[arg(long)]
    keep: bool,
}

#[derive(Args, Debug, Clone)]
struct KvArgs {
    /// Bucket name (stream KV_<bucket>, deleted and recreated).
    #[arg(long, default_value = "LOADGEN")]
    bucket: String,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Outstanding puts (kv-put, and the kv-get prefill) or gets (kv-get) per connection.
    #[arg(long, default_value_t = 64)]
    window: u32,
    /// Stream storage: file or memory.
    #[arg(long, default_value = "file", value_parser = ["file", "memory"])]
    storage: String,
    /// Keep the bucket afterwards.
    #[arg(long)]
    keep: bool,
}

fn kv_options(kv: &KvArgs) -> JsOptions {
    JsOptions {
        bucket: kv.bucket.clone(),
        keys: kv.keys,
        window: kv.window,
        storage: kv.storage.clone(),
        keep: kv.keep,
        ..Default::default()
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Publishers only (default 1 publisher, 1M msgs).
    Pub {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// P publishers and S subscribers on the same subject(s).
    Pubsub {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// One publisher, N subscribers (default 4).
    Fanout {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// One publisher, N members of one queue group (default 4).
    Queue {
        #[command(flatten)]
        common: CommonArgs,
        /// Queue group name.
        #[arg(long, default_value = "loadgen")]
        group: String,
    },
    /// C requesters (--pubs), R responders (--subs), one request in flight each.
    Reqrep {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Fixed-rate one-way latency (default 10000 msgs/s for 5 s), corrected for coordinated omission.
    Latency {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// JetStream publish with W outstanding acks per publisher.
    JsPub {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        js: JsArgs,
        /// Outstanding acks per publisher.
        #[arg(long, default_value_t = 64)]
        window: u32,
    },
    /// Durable pull (or push) consumer draining a prefilled stream.
    JsConsume {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        js: JsArgs,
        /// Messages per pull request (push: max_ack_pending is 4 × batch, at least 1000).
        #[arg(long, default_value_t = 100)]
        batch: u32,
        /// Push consumer with flow control and idle heartbeats (one subscriber) instead of pull.
        #[arg(long)]
        push: bool,
        /// Outstanding acks while prefilling the stream.
        #[arg(long, default_value_t = 256)]
        window: u32,
        /// Ack policy: explicit (every message acked) or none.
        #[arg(long, default_value = "explicit", value_parser = ["explicit", "none"])]
        ack: String,
        /// Durable consumer name.
        #[arg(long, default_value = "loadgen")]
        durable: String,
    },
    /// KV puts to K keys of a fresh bucket, W outstanding acks per writer (--pubs).
    KvPut {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        kv: KvArgs,
    },
    /// KV direct gets of K prefilled keys, W outstanding per reader (--pubs).
    KvGet {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Replay by start time: prefill M (--msgs) messages, then time consumer create → first message at the middle message's time.
    JsSeek {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        js: JsArgs,
        /// Outstanding acks per publisher while prefilling.
        #[arg(long, default_value_t = 4096)]
        window: u32,
        /// Consumers created one after the other (each timed).
        #[arg(long, default_value_t = 10)]
        repeats: u32,
    },
    /// Serve a ceiling: a minimal NATS sink (read, frame, discard) or pipe (forward).
    Ceiling {
        /// sink or pipe.
        #[arg(long, value_enum, default_value_t = CeilingMode::Sink)]
        mode: CeilingMode,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:4333")]
        addr: std::net::SocketAddr,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 3600)]
        max_secs: u64,
    },
    /// Aggregate side-by-side runs (JSON lines) into JSON, Markdown and SVG.
    Report {
        /// The runs file written by scripts/compare.sh.
        #[arg(long)]
        runs: PathBuf,
        /// Write the aggregated JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the Markdown table here (printed to stdout otherwise).
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Render the chart here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Replace the table between the compare markers of this document.
        #[arg(long)]
        update_doc: Option<PathBuf>,
    },
}

struct Defaults {
    msgs: u64,
    duration_s: f64,
    pubs: u32,
    subs: u32,
    rate: u64,
}

fn resolve(a: &CommonArgs, d: Defaults) -> Common {
    let rate = a.rate.unwrap_or(d.rate);
    let duration_s = a.duration.unwrap_or(d.duration_s).max(0.001);
    let msgs = a.msgs.unwrap_or(if rate > 0 {
        (rate as f64 * duration_s).ceil() as u64
    } else {
        d.msgs
    });
    Common {
        url: a.url.clone(),
        msgs,
        duration: Duration::from_secs_f64(duration_s),
        size: a.size,
        rate,
        pubs: a.pubs.unwrap_or(d.pubs),
        subs: a.subs.unwrap_or(d.subs),
        subjects: a.subjects,
        subject: a.subject.clone(),
        drain_timeout: Duration::from_secs_f64(a.drain_timeout.max(0.01)),
        progress: !a.quiet,
        monitor: a.monitor.clone(),
    }
}

fn defaults(msgs: u64, pubs: u32, subs: u32) -> Defaults {
    Defaults {
        msgs,
        duration_s: 60.0,
        pubs,
        subs,
        rate: 0,
    }
}

fn js_options(js: &JsArgs) -> JsOptions {
    JsOptions {
        stream: js.stream.clone(),
        storage: js.storage.clone(),
        keep: js.keep,
        ..Default::default()
    }
}

fn print_result(r: &RunResult, a: &CommonArgs) {
    if a.json {
        println!("{}", r.json_line());
    } else if a.csv {
        println!("{}", RunResult::csv_header());
        println!("{}", r.csv_row());
    } else {
        print!("{}", r.human());
    }
    if !r.verification.ok {
        eprintln!(
            "natrix-loadgen: {} VERIFICATION FAILED: lost {} duplicates {} out-of-order {} errors {}",
            r.scenario,
            r.verification.lost,
            r.verification.duplicates,
            r.verification.out_of_order,
            r.verification.errors.len()
        );
        if a.json || a.csv {
            for e in r.verification.errors.iter().take(10) {
                eprintln!("natrix-loadgen:   {e}");
            }
        }
    }
}

fn run_scenario(s: Scenario, common: Common, args: &CommonArgs) -> ExitCode {
    match scenario::run(&s, &common) {
        Ok(r) => {
            print_result(&r, args);
            if r.verification.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("natrix-loadgen: {}: {e}", s.name());
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Pub { common } => {
            let c = resolve(&common, defaults(1_000_000, 1, 0));
            run_scenario(Scenario::Pub, c, &common)
        }
        Command::Pubsub { common } => {
            let c = resolve(&common, defaults(1_000_000, 1, 1));
            run_scenario(Scenario::PubSub, c, &common)
        }
        Command::Fanout { common } => {
            let c = resolve(&common, defaults(1_000_000, 1, 4));
            run_scenario(Scenario::Fanout, c, &common)
        }
        Command::Queue { common, group } => {
            let c = resolve(&common, defaults(1_000_000, 1, 4));
            run_scenario(Scenario::Queue { group }, c, &common)
        }
        Command::Reqrep { common } => {
            let c = resolve(&common, defaults(100_000, 1, 1));
            run_scenario(Scenario::ReqRep, c, &common)
        }
        Command::Latency { common } => {
            let c = resolve(
                &common,
                Defaults {
                    msgs: 0,
                    duration_s: 5.0,
                    pubs: 1,
                    subs: 1,
                    rate: 10_000,
                },
            );
            run_scenario(Scenario::Latency, c, &common)
        }
        Command::JsPub { common, js, window } => {
            let c = resolve(&common, defaults(100_000, 1, 0));
            let o = JsOptions {
                window,
                ..js_options(&js)
            };
            run_scenario(Scenario::JsPub(o), c, &common)
        }
        Command::JsConsume {
            common,
            js,
            batch,
            push,
            window,
            ack,
            durable,
        } => {
            let c = resolve(&common, defaults(100_000, 1, 1));
            let o = JsOptions {
                batch,
                push,
                window,
                ack,
                durable,
                ..js_options(&js)
            };
            run_scenario(Scenario::JsConsume(o), c, &common)
        }
        Command::KvPut { common, kv } => {
            let c = resolve(&common, defaults(100_000, 1, 0));
            run_scenario(Scenario::KvPut(kv_options(&kv)), c, &common)
        }
        Command::KvGet { common, kv } => {
            let c = resolve(&common, defaults(100_000, 1, 0));
            run_scenario(Scenario::KvGet(kv_options(&kv)), c, &common)
        }
        Command::JsSeek {
            common,
            js,
            window,
            repeats,
        } => {
            let c = resolve(&common, defaults(10_000_000, 1, 1));
            let o = JsOptions {
                window,
                repeats,
                ..js_options(&js)
            };
            run_scenario(Scenario::JsSeek(o), c, &common)
        }
        Command::Ceiling {
            mode,
            addr,
            max_secs,
        } => match CeilingServer::start(mode, addr) {
            Ok(srv) => {
                println!("ceiling {mode:?} listening on nats://{}", srv.addr());
                std::thread::sleep(Duration::from_secs(max_secs));
                let s = srv.stop();
                println!(
                    "ceiling stopped after {max_secs}s: {} connections, {} PUBs in, {} MSGs out",
                    s.connections, s.pubs, s.msgs_out
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("natrix-loadgen: ceiling on {addr}: {e}");
                ExitCode::from(2)
            }
        },
        Command::Report {
            runs,
            json,
            markdown,
            svg,
            update_doc,
        } => match report::write_all(
            &runs,
            json.as_deref(),
            markdown.as_deref(),
            svg.as_deref(),
            update_doc.as_deref(),
        ) {
            Ok(r) => {
                if markdown.is_none() {
                    print!("{}", report::markdown(&r, None));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("natrix-loadgen: report: {e}");
                ExitCode::from(2)
            }
        },
    }
}
