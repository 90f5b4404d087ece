//! One scenario run's outcome: rates, latency percentiles and the
//! verification verdict, plus its human, JSON and CSV renderings.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histograms track (60 s, in ns); larger values are clamped.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// What was measured ("one-way, corrected for coordinated omission", …).
    pub kind: String,
}

impl Latency {
    /// Summarises a histogram; `None` when it is empty.
    pub fn from_histogram(h: &Histogram<u64>, kind: &str) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Self {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
            kind: kind.to_owned(),
        })
    }
}

/// Whether the run delivered exactly what it should have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// True when nothing was lost, duplicated, reordered or refused.
    pub ok: bool,
    /// Messages (or replies, or acks) expected but never received.
    pub lost: u64,
    /// Messages received more than once (per receiver, or across a queue group).
    pub duplicates: u64,
    /// Messages received behind a later one from the same publisher on the same subject.
    pub out_of_order: u64,
    /// Everything else that went wrong: -ERR, disconnects, failed acks, timeouts.
    pub errors: Vec<String>,
    /// What was checked, in words.
    pub checked: Vec<String>,
}

impl Verification {
    /// Recomputes `ok` from the counters and error list.
    pub fn finish(&mut self) {
        self.ok = self.lost == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.errors.is_empty();
    }
}

/// Scenario parameters echoed into the result so a JSON line stands alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Payload bytes per message.
    pub size: usize,
    /// Publishers (requesters for reqrep).
    pub pubs: u32,
    /// Subscribers (responders for reqrep, pullers for js-consume).
    pub subs: u32,
    /// Subjects the load is spread over.
    pub subjects: u32,
    /// Message cap requested.
    pub msgs: u64,
    /// Time cap requested, seconds (0 = none).
    pub duration_s: f64,
    /// Publish rate requested, msgs/s in total (0 = unlimited).
    pub rate: u64,
    /// Queue group, when members share the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// JetStream outstanding-ack window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// JetStream pull batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// JetStream ack policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<String>,
    /// Consumer delivery mode (`pull` or `push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Distinct KV keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Repetitions (js-seek consumers created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u32>,
}

/// Everything one scenario run measured and checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Scenario name (`pub`, `pubsub`, …).
    pub scenario: String,
    /// Target URL.
    pub url: String,
    /// Server `server_name` and `version` from INFO.
    pub server: String,
    /// Parameters.
    pub params: Params,
    /// Messages published (requests sent, for reqrep).
    pub sent: u64,
    /// Messages the receivers should have seen.
    pub expected: u64,
    /// Messages the receivers counted.
    pub received: u64,
    /// Wall time of the measured phase, seconds.
    pub elapsed_s: f64,
    /// Publish rate, msgs/s.
    pub pub_msgs_per_s: f64,
    /// Delivery rate summed over receivers, msgs/s.
    pub recv_msgs_per_s: f64,
    /// The headline rate for this scenario, msgs/s (see `headline`).
    pub msgs_per_s: f64,
    /// Headline payload throughput, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Which rate `msgs_per_s` is ("published", "delivered", "round trips", "acked", "consumed").
    pub headline: String,
    /// Latency percentiles, when the scenario measures latency.
    pub latency: Option<Latency>,
    /// Paced runs: how late the load generator itself sent (part of the corrected latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag: Option<Latency>,
    /// The verdict.
    pub verification: Verification,
}

/// Formats a rate with an SI suffix (k, M, G).
pub fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl RunResult {
    /// Multi-line summary for a terminal.
    pub fn human(&self) -> String {
        let p = &self.params;
        let mut s = format!(
            "{} {} B  pubs={} subs={} subjects={}{}  server {} at {}\n",
            self.scenario,
            p.size,
            p.pubs,
            p.subs,
            p.subjects,
            if p.rate > 0 {
                format!(" rate={}/s", p.rate)
            } else {
                String::new()
            },
            self.server,
            self.url
        );
        s += &format!(
            "  {:>10} msgs/s {:>9.1} MB/s  ({}; sent {} received {}/{} in {:.2}s)\n",
            si(self.msgs_per_s),
            self.mb_per_s,
            self.headline,
            self.sent,
            self.received,
            self.expected,
            self.elapsed_s
        );
        if self.pub_msgs_per_s > 0.0 && self.headline != "published" {
            s += &format!("  publish {} msgs/s\n", si(self.pub_msgs_per_s));
        }
        if let Some(l) = &self.latency {
            s += &format!(
                "  latency µs ({}, n={}): p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}\n",
                l.kind, l.count, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
            );
        }
        if let Some(l) = &self.send_lag {
            s += &format!(
                "  send lag µs (loadgen's own lateness, n={}): p50 {:.1}  p99 {:.1}  max {:.1}\n",
                l.count, l.p50_us, l.p99_us, l.max_us
            );
        }
        let v = &self.verification;
        if v.ok {
            s += &format!("  verified OK: {}\n", v.checked.join("; "));
        } else {
            s += &format!(
                "  !!! VERIFICATION FAILED: lost {} duplicates {} out-of-order {}\n",
                v.lost, v.duplicates, v.out_of_order
            );
            for e in v.errors.iter().take(20) {
                s += &format!("  !!! {e}\n");
            }
            if v.errors.len() > 20 {
                s += &format!("  !!! … and {} more errors\n", v.errors.len() - 20);
            }
        }
        s
    }

    /// One JSON object on one line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("result serialises")
    }

    /// CSV header matching [`RunResult::csv_row`].
    pub fn csv_header() -> &'static str {
        "scenario,size,pubs,subs,subjects,rate,sent,expected,received,elapsed_s,msgs_per_s,mb_per_s,headline,pub_msgs_per_s,recv_msgs_per_s,p50_us,p90_us,p99_us,p999_us,max_us,ok,lost,duplicates,out_of_order,errors"
    }

    /// One CSV row.
    pub fn csv_row(&self) -> String {
        let l = self.latency.clone().unwrap_or_default();
        let lat = |v: f64| {
            if self.latency.is_some() {
                format!("{v:.1}")
            } else {
                String::new()
            }
        };
        let p = &self.params;
        let v = &self.verification;
        format!(
            "{},{},{},{},{},{},{},{},{},{:.3},{:.0},{:.2},{},{:.0},{:.0},{},{},{},{},{},{},{},{},{},{}",
            self.scenario,
            p.size,
            p.pubs,
            p.subs,
            p.subjects,
            p.rate,
            self.sent,
            self.expected,
            self.received,
            self.elapsed_s,
            self.msgs_per_s,
            self.mb_per_s,
            self.headline,
            self.pub_msgs_per_s,
            self.recv_msgs_per_s,
            lat(l.p50_us),
            lat(l.p90_us),
            lat(l.p99_us),
            lat(l.p999_us),
            lat(l.max_us),
            v.ok,
            v.lost,
            v.duplicates,
            v.out_of_order,
            v.errors.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_uses_microseconds() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::from_histogram(&h, "test").unwrap();
        assert!((l.p50_us - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.max_us - 1000.0).abs() < 1.0);
        assert!(Latency::from_histogram(&new_histogram(), "x").is_none());
    }

    #[test]
    fn verification_fails_on_any_defect() {
        let mut v = Verification::default();
        v.finish();
        assert!(v.ok);
        v.lost = 1;
        v.finish();
        assert!(!v.ok);
        v.lost = 0;
        v.errors.push("boom".into());
        v.finish();
        assert!(!v.ok);
    }

    #[test]
    fn json_round_trips_and_csv_has_all_columns() {
        let r = RunResult {
            scenario: "pub".into(),
            latency: Some(Latency::default()),
            ..Default::default()
        };
        let back: RunResult = serde_json::from_str(&r.json_line()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            RunResult::csv_header().split(',').count(),
            r.csv_row().split(',').count()
        );
        assert!(r.human().contains("VERIFICATION FAILED"));
    }
}
