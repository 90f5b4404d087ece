//! The monitoring thread: a small blocking HTTP server (`tiny_http`) on its own OS thread,
//! never on a core executor. Each request gathers fresh snapshots from the cores' slots and
//! renders them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::jsz::JszOpts;
use super::process::{rss_bytes, CpuMeter};
use super::render::{self, ConnzOpts, ProcessStats, ServerFacts, SubsDetail};
use super::slot::{JsDetail, MonitorShared};

/// How often the thread looks at the shutdown flag while idle.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// Why monitoring could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The HTTP port could not be bound.
    #[error("server.http_port: cannot listen on {addr}: {reason}")]
    Bind {
        /// The address tried.
        addr: String,
        /// The listener's error.
        reason: String,
    },
    /// The thread could not be created.
    #[error("cannot start the monitoring thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The running monitoring thread.
pub struct MonitorHandle {
    thread: JoinHandle<()>,
}

impl MonitorHandle {
    /// Waits for the thread to exit (after the shutdown flag is set).
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("monitoring thread panicked");
        }
    }
}

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Binds `addr` and serves monitoring on a new thread until `shutdown` is set.
pub fn spawn(
    addr: &str,
    facts: ServerFacts,
    shared: Arc<MonitorShared>,
    shutdown: Arc<AtomicBool>,
) -> Result<MonitorHandle, MonitorError> {
    let server = tiny_http::Server::http(addr).map_err(|e| MonitorError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    tracing::info!(addr, "monitoring listening");
    let thread = std::thread::Builder::new()
        .name("natrix-monitor".into())
        .spawn(move || {
            let mut m = Monitor::new(facts, shared);
            while !shutdown.load(Ordering::Relaxed) {
                match server.recv_timeout(SHUTDOWN_POLL) {
                    Ok(Some(req)) => m.handle(req),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "monitoring: accept failed");
                        std::thread::sleep(SHUTDOWN_POLL);
                    }
                }
            }
        })?;
    Ok(MonitorHandle { thread })
}

/// The endpoints' renderer: the HTTP thread has one, the `$SYS` responder another.
pub(super) struct Monitor {
    pub(super) facts: ServerFacts,
    shared: Arc<MonitorShared>,
    req_stats: BTreeMap<String, u64>,
    cpu: CpuMeter,
}

/// `key=value` pairs of a query string (no percent-decoding: the values used are plain).
fn query_pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// Go's `strconv.ParseBool` plus the empty value (a bare flag), as nats-server's decodeBool.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "Error decoding boolean: strconv.ParseBool: parsing {v:?}: invalid syntax"
        )),
    }
}

fn parse_num(key: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("Error decoding {key}: strconv.Atoi: parsing {v:?}: invalid syntax"))
}

/// What a request is answered with.
pub(super) struct Reply {
    pub(super) code: u16,
    content_type: &'static str,
    pub(super) body: Vec<u8>,
}

impl Reply {
    fn json(body: Vec<u8>) -> Reply {
        Reply {
            code: 200,
            content_type: "application/json",
            body,
        }
    }

    fn text(code: u16, body: String) -> Reply {
        Reply {
            code,
            content_type: "text/plain; charset=utf-8",
            body: (body + "\n").into_bytes(),
        }
    }
}

impl Monitor {
    pub(super) fn new(facts: ServerFacts, shared: Arc<MonitorShared>) -> Monitor {
        Monitor {
            facts,
            shared,
            req_stats: BTreeMap::new(),
            cpu: CpuMeter::new(Instant::now()),
        }
    }

    fn handle(&mut self, req: tiny_http::Request) {
        let url = req.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let path = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let reply = self.route(path, query);
        let mut resp = tiny_http::Response::from_data(reply.body).with_status_code(reply.code);
        for (k, v) in [
            ("Content-Type", reply.content_type),
            ("Access-Control-Allow-Origin", "*"),
        ] {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                resp.add_header(h);
            }
        }
        if let Err(e) = req.respond(resp) {
            tracing::debug!(error = %e, "monitoring: response not sent");
        }
    }

    fn route(&mut self, path: &str, query: &str) -> Reply {
        let known = [
            "/",
            "/varz",
            "/connz",
            "/subsz",
            "/subscriptionsz",
            "/healthz",
            "/jsz",
            "/metrics",
            "/routez",
            "/gatewayz",
            "/leafz",
            "/accountz",
        ];
        if !known.contains(&path) {
            return Reply::text(404, "404 page not found".into());
        }
        *self.req_stats.entry(path.to_string()).or_default() += 1;
        match self.answer(path, query) {
            Ok(r) => r,
            Err(text) => Reply::text(400, text),
        }
    }

    /// The answer to `path?query` (an endpoint path such as `/varz`); Err = a 400 text.
    pub(super) fn answer(&mut self, path: &str, query: &str) -> Result<Reply, String> {
        let q = query_pairs(query);
        match path {
            "/" => Ok(Reply {
                code: 200,
                content_type: "text/html; charset=utf-8",
                body: render::index(&self.facts.version),
            }),
            "/healthz" => {
                for (k, v) in &q {
                    if matches!(*k, "js-enabled" | "js-enabled-only" | "js-server-only") {
                        parse_bool(v)?;
                    }
                }
                let (code, body) = render::healthz(self.shared.is_started());
                Ok(Reply {
                    code,
                    content_type: "application/json",
                    body,
                })
            }
            "/varz" => {
                let cores = self.shared.gather_js(false, JsDetail::Totals);
                Ok(Reply::json(self.varz(&cores)))
            }
            "/connz" => {
                let mut opts = ConnzOpts::default();
                for (k, v) in &q {
                    match *k {
                        "offset" => opts.offset = parse_num("offset", v)?,
                        "limit" => opts.limit = parse_num("limit", v)?,
                        "sort" => opts.sort = v.to_string(),
                        "cid" => opts.cid = Some(parse_num("cid", v)? as u64),
                        "acc" => opts.acc = Some(v.to_string()),
                        "auth" => opts.auth = parse_bool(v)?,
                        "subs" => {
                            opts.subs = if *v == "detail" {
                                SubsDetail::Detail
                            } else if parse_bool(v)? {
                                SubsDetail::List
                            } else {
                                SubsDetail::None
                            }
                        }
                        _ => {}
                    }
                }
                let cores = self.shared.gather(true);
                render::connz(&self.facts, &cores, &opts, now_unix_ns()).map(Reply::json)
            }
            "/subsz" | "/subscriptionsz" => {
                let mut opts = render::SubszOpts::default();
                for (k, v) in &q {
                    match *k {
                        "subs" => opts.list = parse_bool(v)?,
                        "offset" => opts.offset = parse_num("offset", v)?,
                        "limit" => opts.limit = parse_num("limit", v)?,
                        "acc" => opts.acc = Some(v.to_string()),
                        _ => {}
                    }
                }
                let cores = self.shared.gather(opts.list);
                Ok(Reply::json(render::subsz(
                    &self.facts,
                    &cores,
                    &opts,
                    now_unix_ns(),
                )))
            }
            "/jsz" => {
                let mut opts = JszOpts::default();
                let mut acc = None;
                for (k, v) in &q {
                    match *k {
                        "acc" if !v.is_empty() => acc = Some(*v),
                        "accounts" => opts.accounts = parse_bool(v)?,
                        "streams" => opts.streams = parse_bool(v)?,
                        "consumers" => opts.consumers = parse_bool(v)?,
                        "config" => opts.config = parse_bool(v)?,
                        _ => {}
                    }
                }
                let mut opts = opts.normalized();
                opts.accounts |= acc.is_some();
                let js = if opts.consumers {
                    JsDetail::Consumers
                } else if opts.streams {
                    JsDetail::Streams
                } else {
                    JsDetail::Totals
                };
                let cores = self.shared.gather_js(false, js);
                Ok(Reply::json(super::jsz::jsz(
                    &self.facts,
                    &cores,
                    opts,
                    acc,
                    now_unix_ns(),
                )))
            }
            "/accountz" => {
                let acc = q.iter().find(|(k, _)| *k == "acc").map(|(_, v)| *v);
                let cores = self.shared.gather(false);
                super::accountz::accountz(&self.facts, &cores, acc, now_unix_ns()).map(Reply::json)
            }
            "/metrics" => {
                let cores = self.shared.gather_js(false, JsDetail::Totals);
                let varz = self.varz(&cores);
                Ok(Reply {
                    code: 200,
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: super::metrics::metrics(&varz, &cores).into_bytes(),
                })
            }
            "/leafz" => {
                let cores = self.shared.gather(true);
                Ok(Reply::json(super::leafz::leafz(
                    &self.facts,
                    &cores,
                    now_unix_ns(),
                )))
            }
            _ => render::topology(path, &self.facts, now_unix_ns())
                .map(Reply::json)
                .ok_or_else(|| "404 page not found".into()),
        }
    }

    /// Fresh snapshots of every core (see [`MonitorShared::gather_js`]).
    pub(super) fn gather(
        &self,
        detail: bool,
        js: JsDetail,
    ) -> Vec<Arc<super::snapshot::CoreSnapshot>> {
        self.shared.gather_js(detail, js)
    }

    fn varz(&mut self, cores: &[Arc<super::snapshot::CoreSnapshot>]) -> Vec<u8> {
        self.facts.refresh(now_unix_ns());
        let proc_stats = ProcessStats {
            mem: rss_bytes(),
            cpu: self.cpu.sample(),
        };
        render::varz(
            &self.facts,
            cores,
            proc_stats,
            &self.req_stats,
            now_unix_ns(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(
            query_pairs("subs=1&sort=msgs_to&x"),
            vec![("subs", "1"), ("sort", "msgs_to"), ("x", "")]
        );
        assert_eq!(parse_bool(""), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert!(parse_bool("maybe").is_err());
        assert!(parse_num("limit", "x").is_err());
    }
}
