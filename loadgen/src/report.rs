//! Turns the raw runs of a side-by-side comparison (one JSON line per run,
//! written by `scripts/compare.sh`) into medians with min–max, ratios, a
//! Markdown table and an SVG chart.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::result::RunResult;

/// The server whose figures are divided by the baseline's.
pub const CANDIDATE: &str = "natrix";
/// The reference server.
pub const BASELINE: &str = "nats-server";
/// Pseudo-server name of the ceiling runs.
pub const CEILING: &str = "ceiling";

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A line of the runs file is not a run record.
    #[error("line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// Cause.
        source: serde_json::Error,
    },
    /// Drawing the chart failed.
    #[error("chart: {0}")]
    Chart(String),
    /// The document has no markers to replace between.
    #[error("{0} lacks the <!-- compare:begin --> / <!-- compare:end --> markers")]
    NoMarkers(String),
}

/// One line of the runs file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// CPU budget name (`one-core`, `all-cores`).
    pub budget: String,
    /// Stable row id (`pub-16`).
    pub row: String,
    /// Row label for tables.
    pub label: String,
    /// `natrix`, `nats-server` or `ceiling`.
    pub server: String,
    /// Run number within the row and server.
    pub run: u32,
    /// The run's result, absent when the load generator failed outright.
    #[serde(default)]
    pub result: Option<RunResult>,
    /// Why there is no result.
    #[serde(default)]
    pub error: Option<String>,
}

/// A line of metadata in the runs file (`{"meta": {...}}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Machine description.
    #[serde(default)]
    pub machine: String,
    /// Command that reproduces the comparison.
    #[serde(default)]
    pub command: String,
    /// When it ran.
    #[serde(default)]
    pub date: String,
    /// Free-form notes (run length, runs per server, versions).
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Meta { meta: Meta },
    Run(Box<RunRecord>),
}

/// JSON has no NaN: a missing figure is written as `null` and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Median, min and max of one server's runs on one row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Median of the passing runs (NaN when none passed).
    #[serde(with = "nan_as_null")]
    pub median: f64,
    /// Smallest.
    #[serde(with = "nan_as_null")]
    pub min: f64,
    /// Largest.
    #[serde(with = "nan_as_null")]
    pub max: f64,
    /// Passing runs counted.
    pub runs: usize,
    /// Runs that failed verification or did not run.
    pub failed: usize,
    /// All passing values, in run order.
    pub values: Vec<f64>,
}

impl Stat {
    fn from_values(values: Vec<f64>, failed: usize) -> Self {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs: n,
            failed,
            values,
        }
    }
}

/// One line of the comparison table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRow {
    /// Row id plus metric suffix.
    pub id: String,
    /// Human label.
    pub label: String,
    /// Scenario the row's runs came from (`latency`, `js-seek`, …).
    #[serde(default)]
    pub scenario: String,
    /// `msgs/s`, `ops/s` or `µs`.
    pub unit: String,
    /// Throughput rows are better higher, latency rows lower.
    pub higher_is_better: bool,
    /// Per-server statistics.
    pub servers: BTreeMap<String, Stat>,
    /// natrix median / nats-server median.
    pub ratio: Option<f64>,
    /// natrix median / ceiling median.
    pub of_ceiling: Option<f64>,
}

/// All rows of one CPU budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetReport {
    /// Budget name.
    pub budget: String,
    /// Rows in matrix order.
    pub rows: Vec<ReportRow>,
}

/// The whole comparison.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Metadata from the runs file.
    pub meta: Meta,
    /// One entry per budget, in order of appearance.
    pub budgets: Vec<BudgetReport>,
}

const LATENCY_METRICS: [(&str, &str); 5] = [
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "max"),
];

fn latency_value(r: &RunResult, metric: &str) -> Option<f64> {
    let l = r.latency.as_ref()?;
    Some(match metric {
        "p50" => l.p50_us,
        "p90" => l.p90_us,
        "p99" => l.p99_us,
        "p999" => l.p999_us,
        _ => l.max_us,
    })
}

/// Reads a runs file (JSON lines) into records and metadata.
pub fn read_runs(path: &Path) -> Result<(Meta, Vec<RunRecord>), ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut meta = Meta::default();
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line).map_err(|source| ReportError::Parse {
            line: i + 1,
            source,
        })? {
            Line::Meta { meta: m } => meta = m,
            Line::Run(r) => runs.push(*r),
        }
    }
    Ok((meta, runs))
}

/// Groups runs by budget and row, and computes the statistics.
pub fn aggregate(meta: Meta, runs: &[RunRecord]) -> Report {
    let mut budgets: Vec<BudgetReport> = Vec::new();
    // Row order = first appearance.
    let mut order: Vec<(String, String, String)> = Vec::new();
    for r in runs {
        let key = (r.budget.clone(), r.row.clone(), r.label.clone());
        if !order.iter().any(|(b, row, _)| *b == key.0 && *row == key.1) {
            order.push(key);
        }
    }
    for (budget, row, label) in order {
        let these: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.budget == budget && r.row == row)
            .collect();
        let scenario = these
            .iter()
            .find_map(|r| r.result.as_ref())
            .map(|r| r.scenario.clone())
            .unwrap_or_default();
        let metrics: Vec<(String, String, bool)> = match scenario.as_str() {
            "latency" => LATENCY_METRICS
                .iter()
                .map(|(m, l)| (m.to_string(), format!("{label} {l}"), false))
                .collect(),
            // A seek's figure is its time: median and worst of the repeats.
            "js-seek" => vec![
                ("p50".into(), format!("{label} median"), false),
                ("max".into(), format!("{label} max"), false),
            ],
            _ => vec![(String::new(), label.clone(), true)],
        };
        let throughput_unit = if scenario.starts_with("kv-") {
            "ops/s"
        } else {
            "msgs/s"
        };
        let b = match budgets.iter_mut().position(|b| b.budget == budget) {
            Some(i) => &mut budgets[i],
            None => {
                budgets.push(BudgetReport {
                    budget: budget.clone(),
                    rows: Vec::new(),
                });
                budgets.last_mut().expect("just pushed")
            }
        };
        for (metric, mlabel, higher) in metrics {
            let mut servers: BTreeMap<String, Stat> = BTreeMap::new();
            let mut names: Vec<&str> = these.iter().map(|r| r.server.as_str()).collect();
            names.dedup();
            names.sort();
            names.dedup();
            for name in names {
                let mut values = Vec::new();
                let mut failed = 0;
                for r in these.iter().filter(|r| r.server == name) {
                    let v = r
                        .result
                        .as_ref()
                        .filter(|x| x.verification.ok)
                        .and_then(|x| {
                            if metric.is_empty() {
                                Some(x.msgs_per_s)
                            } else {
                                latency_value(x, &metric)
                            }
                        });
                    match v {
                        Some(v) => values.push(v),
                        None => failed += 1,
                    }
                }
                servers.insert(name.to_owned(), Stat::from_values(values, failed));
            }
            let med = |s: &str| servers.get(s).map(|x| x.median).filter(|m| m.is_finite());
            let ratio = match (med(CANDIDATE), med(BASELINE)) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let of_ceiling = match (med(CANDIDATE), med(CEILING)) {
                (Some(a), Some(c)) if c > 0.0 => Some(a / c),
                _ => None,
            };
            b.rows.push(ReportRow {
                id: if metric.is_empty() {
                    row.clone()
                } else {
                    format!("{row}-{metric}")
                },
                label: mlabel,
                scenario: scenario.clone(),
                unit: if higher {
                    throughput_unit.into()
                } else {
                    "µs".into()
                },
                higher_is_better: higher,
                servers,
                ratio,
                of_ceiling,
            });
        }
    }
    Report { meta, budgets }
}

fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if unit == "µs" {
        if v >= 1000.0 {
            format!("{:.2} ms", v / 1000.0)
        } else {
            format!("{v:.1} µs")
        }
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_stat(s: Option<&Stat>, unit: &str) -> String {
    match s {
        None => "— (not run)".into(),
        Some(s) if s.runs == 0 => format!("FAILED ({} runs)", s.failed),
        Some(s) => {
            let mut out = format!(
                "{} ({}–{})",
                fmt_value(s.median, unit),
                fmt_value(s.min, unit),
                fmt_value(s.max, unit)
            );
            if s.failed > 0 {
                out += &format!(" ⚠ {} failed", s.failed);
            }
            out
        }
    }
}

/// Renders the report as Markdown (one table per budget).
pub fn markdown(report: &Report, chart_file: Option<&str>) -> String {
    let mut md = String::new();
    let m = &report.meta;
    if !m.date.is_empty() {
        md += &format!("Run: {}  \n", m.date);
    }
    if !m.machine.is_empty() {
        md += &format!("Machine: {}  \n", m.machine);
    }
    for n in &m.notes {
        md += &format!("{n}  \n");
    }
    if !m.command.is_empty() {
        md += &format!("\nReproduce: `{}`\n", m.command);
    }
    for b in &report.budgets {
        md += &format!("\n### Budget: {}\n\n", b.budget);
        md += "| Row | natrix median (min–max) | nats-server median (min–max) | natrix / nats-server | ceiling | natrix / ceiling |\n";
        md += "|---|---|---|---|---|---|\n";
        for r in &b.rows {
            let ratio = match r.ratio {
                Some(x) => {
                    let good = if r.higher_is_better {
                        x >= 1.0
                    } else {
                        x <= 1.0
                    };
                    format!("{x:.2}× {}", if good { "✓" } else { "✗" })
                }
                None => "—".into(),
            };
            let ceiling = if r.servers.contains_key(CEILING) {
                fmt_stat(r.servers.get(CEILING), &r.unit)
            } else {
                "—".into()
            };
            let of_ceiling = r
                .of_ceiling
                .map(|x| format!("{:.0} %", x * 100.0))
                .unwrap_or_else(|| "—".into());
            md += &format!(
                "| {} ({}) | {} | {} | {} | {} | {} |\n",
                r.label,
                r.unit,
                fmt_stat(r.servers.get(CANDIDATE), &r.unit),
                fmt_stat(r.servers.get(BASELINE), &r.unit),
                ratio,
                ceiling,
                of_ceiling
            );
        }
    }
    md += "\nThroughput rows: higher is better (✓ = natrix at or above nats-server). Latency rows: lower is better (✓ = natrix at or below). Medians over the passing runs; a run whose verification failed is excluded and counted as failed.\n";
    if let Some(c) = chart_file {
        md += &format!("\n![throughput and latency]({c})\n");
    }
    md
}

/// Replaces the text between `<!-- compare:begin -->` and `<!-- compare:end -->`.
pub fn splice_markdown(doc: &str, table: &str) -> Option<String> {
    const BEGIN: &str = "<!-- compare:begin -->";
    const END: &str = "<!-- compare:end -->";
    let b = doc.find(BEGIN)? + BEGIN.len();
    let e = doc[b..].find(END)? + b;
    Some(format!(
        "{}\n{}\n{}",
        &doc[..b],
        table.trim_end(),
        &doc[e..]
    ))
}

const SERIES: [(&str, (u8, u8, u8)); 3] = [
    (CANDIDATE, (214, 93, 14)),
    (BASELINE, (31, 119, 180)),
    (CEILING, (150, 150, 150)),
];

/// Draws throughput bars (log scale) and latency percentile curves, one
/// pair of panels per budget, into an SVG file.
pub fn chart(report: &Report, path: &Path) -> Result<(), ReportError> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| ReportError::Chart(e.to_string());
    let nb = report.budgets.len().max(1);
    let root = SVGBackend::new(path, (1400, 460 * nb as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((nb, 2));
    for (bi, b) in report.budgets.iter().enumerate() {
        // Throughput.
        let rows: Vec<&ReportRow> = b.rows.iter().filter(|r| r.higher_is_better).collect();
        let vals = rows
            .iter()
            .flat_map(|r| r.servers.values().flat_map(|s| [s.min, s.max]))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = vals.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if hi > 0.0 {
            (
                10f64.powf(lo.log10().floor()),
                10f64.powf(hi.log10().ceil()),
            )
        } else {
            (1.0, 10.0)
        };
        let n = rows.len().max(1);
        let labels: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let area = &panels[bi * 2];
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: throughput, msgs/s (log), median with min–max",
                    b.budget
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| fmt_value(*y, "msgs/s"))
            .x_label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| err(&e))?;
        let width = 0.8 / SERIES.len() as f64;
        for (si, (name, (r, g, bl))) in SERIES.iter().enumerate() {
            let color = RGBColor(*r, *g, *bl);
            let bars: Vec<(f64, &Stat)> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    row.servers
                        .get(*name)
                        .filter(|s| s.runs > 0)
                        .map(|s| (i as f64 - 0.4 + width * si as f64, s))
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            chart
                .draw_series(bars.iter().map(|(x0, s)| {
                    Rectangle::new([(*x0, lo), (*x0 + width * 0.9, s.median)], color.filled())
                }))
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart
                .draw_series(bars.iter().map(|(x0, s)| {
                    let xm = *x0 + width * 0.45;
                    PathElement::new(vec![(xm, s.min.max(lo)), (xm, s.max.max(lo))], BLACK)
                }))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;

        // Latency percentiles.
        // Only the fixed-rate latency row has the percentile curve shape.
        let lat: Vec<&ReportRow> = b
            .rows
            .iter()
            .filter(|r| !r.higher_is_better && r.scenario == "latency")
            .collect();
        let area = &panels[bi * 2 + 1];
        let vals = lat
            .iter()
            .flat_map(|r| r.servers.values().map(|s| s.median))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (llo, lhi) = vals.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (llo, lhi) = if lhi > 0.0 {
            (
                10f64.powf(llo.log10().floor()),
                10f64.powf(lhi.log10().ceil()),
            )
        } else {
            (1.0, 10.0)
        };
        let pct_labels: Vec<String> = LATENCY_METRICS.iter().map(|(_, l)| l.to_string()).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: latency percentiles, µs (log)", b.budget),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.3f64..4.3f64, (llo..lhi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    pct_labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| fmt_value(*y, "µs"))
            .draw()
            .map_err(|e| err(&e))?;
        for (name, (r, g, bl)) in SERIES.iter() {
            let color = RGBColor(*r, *g, *bl);
            let pts: Vec<(f64, f64)> = lat
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    row.servers
                        .get(*name)
                        .filter(|s| s.runs > 0 && s.median > 0.0)
                        .map(|s| (i as f64, s.median))
                })
                .collect();
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Writes the JSON, Markdown and SVG outputs for a runs file.
pub fn write_all(
    runs_path: &Path,
    json_out: Option<&Path>,
    md_out: Option<&Path>,
    svg_out: Option<&Path>,
    update_doc: Option<&Path>,
) -> Result<Report, ReportError> {
    let (meta, runs) = read_runs(runs_path)?;
    let report = aggregate(meta, &runs);
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ReportError::Io { path, source }
    };
    if let Some(p) = json_out {
        let text = serde_json::to_string_pretty(&report).expect("report serialises");
        std::fs::write(p, text).map_err(io(p))?;
    }
    if let Some(p) = svg_out {
        chart(&report, p)?;
    }
    let chart_name = svg_out
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if let Some(p) = md_out {
        std::fs::write(p, markdown(&report, chart_name.as_deref())).map_err(io(p))?;
    }
    if let Some(doc) = update_doc {
        let text = std::fs::read_to_string(doc).map_err(io(doc))?;
        let rel = svg_out.map(|p| {
            format!(
                "results/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        });
        let new = splice_markdown(&text, &markdown(&report, rel.as_deref()))
            .ok_or_else(|| ReportError::NoMarkers(doc.display().to_string()))?;
        std::fs::write(doc, new).map_err(io(doc))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Latency, Verification};

    fn rec(budget: &str, row: &str, server: &str, scenario: &str, v: f64, ok: bool) -> RunRecord {
        RunRecord {
            budget: budget.into(),
            row: row.into(),
            label: row.replace('-', " "),
            server: server.into(),
            run: 1,
            result: Some(RunResult {
                scenario: scenario.into(),
                msgs_per_s: v,
                latency: Some(Latency {
                    p50_us: v,
                    p90_us: v * 2.0,
                    p99_us: v * 3.0,
                    p999_us: v * 4.0,
                    max_us: v * 5.0,
                    ..Default::default()
                }),
                verification: Verification {
                    ok,
                    ..Default::default()
                },
                ..Default::default()
            }),
            error: None,
        }
    }

    fn sample() -> Vec<RunRecord> {
        vec![
            rec("one-core", "pub-16", "natrix", "pub", 300.0, true),
            rec("one-core", "pub-16", "nats-server", "pub", 100.0, true),
            rec("one-core", "pub-16", "natrix", "pub", 200.0, true),
            rec("one-core", "pub-16", "nats-server", "pub", 120.0, true),
            rec("one-core", "pub-16", "natrix", "pub", 1000.0, false),
            rec("one-core", "pub-16", "nats-server", "pub", 110.0, true),
            rec("one-core", "pub-16", "ceiling", "pub", 500.0, true),
            rec("one-core", "lat", "natrix", "latency", 10.0, true),
            rec("one-core", "lat", "nats-server", "latency", 20.0, true),
            rec("one-core", "seek", "natrix", "js-seek", 700.0, true),
            rec("one-core", "seek", "nats-server", "js-seek", 1400.0, true),
            rec("one-core", "kv", "natrix", "kv-get", 9.0, true),
            RunRecord {
                result: None,
                error: Some("boom".into()),
                ..rec("all-cores", "pub-16", "natrix", "pub", 0.0, true)
            },
        ]
    }

    #[test]
    fn medians_ratios_and_failures() {
        let r = aggregate(Meta::default(), &sample());
        assert_eq!(r.budgets.len(), 2);
        let pub16 = &r.budgets[0].rows[0];
        let n = &pub16.servers["natrix"];
        assert_eq!((n.runs, n.failed), (2, 1));
        assert_eq!(n.median, 250.0);
        assert_eq!((n.min, n.max), (200.0, 300.0));
        assert_eq!(pub16.servers["nats-server"].median, 110.0);
        assert!((pub16.ratio.unwrap() - 250.0 / 110.0).abs() < 1e-9);
        assert!((pub16.of_ceiling.unwrap() - 0.5).abs() < 1e-9);
        // Latency rows split into five percentile rows, lower is better.
        let lat: Vec<_> = r.budgets[0]
            .rows
            .iter()
            .filter(|x| !x.higher_is_better && x.scenario == "latency")
            .collect();
        assert_eq!(lat.len(), 5);
        assert_eq!(lat[0].ratio, Some(0.5));
        assert_eq!(lat[4].servers["natrix"].median, 50.0);
        // Seek rows: median and max time, lower is better.
        let seek: Vec<_> = r.budgets[0]
            .rows
            .iter()
            .filter(|x| x.scenario == "js-seek")
            .collect();
        assert_eq!(seek.len(), 2);
        assert_eq!(seek[0].id, "seek-p50");
        assert!(!seek[0].higher_is_better && seek[0].unit == "µs");
        assert_eq!(seek[0].ratio, Some(0.5));
        assert_eq!(seek[1].servers["nats-server"].median, 7000.0);
        let kv = r.budgets[0].rows.iter().find(|x| x.id == "kv").unwrap();
        assert!(kv.higher_is_better && kv.unit == "ops/s");
        let failed = &r.budgets[1].rows[0].servers["natrix"];
        assert_eq!((failed.runs, failed.failed), (0, 1));
        assert!(failed.median.is_nan());
    }

    #[test]
    fn markdown_marks_wins_losses_and_missing() {
        let r = aggregate(Meta::default(), &sample());
        let md = markdown(&r, Some("c.svg"));
        assert!(md.contains("2.27× ✓"), "{md}");
        assert!(md.contains("0.50× ✓"), "latency half is a win: {md}");
        assert!(md.contains("1.40 ms"), "seek times in ms: {md}");
        assert!(md.contains("⚠ 1 failed"));
        assert!(md.contains("FAILED (1 runs)"));
        assert!(md.contains("50 %"));
        assert!(md.contains("![throughput and latency](c.svg)"));
        let only_baseline = aggregate(
            Meta::default(),
            &[rec("one-core", "pub-16", "nats-server", "pub", 1.0, true)],
        );
        assert!(markdown(&only_baseline, None).contains("— (not run)"));
    }

    #[test]
    fn splice_replaces_between_markers_only() {
        let doc = "a\n<!-- compare:begin -->\nold\n<!-- compare:end -->\nz\n";
        let out = splice_markdown(doc, "new table\n").unwrap();
        assert_eq!(
            out,
            "a\n<!-- compare:begin -->\nnew table\n<!-- compare:end -->\nz\n"
        );
        assert!(splice_markdown("no markers", "x").is_none());
    }

    #[test]
    fn runs_file_round_trip_and_chart() {
        let dir = std::env::temp_dir().join(format!("loadgen-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let runs = dir.join("runs.jsonl");
        let mut text =
            String::from("{\"meta\":{\"machine\":\"test box\",\"command\":\"make compare\"}}\n");
        for r in sample() {
            text += &serde_json::to_string(&r).unwrap();
            text.push('\n');
        }
        std::fs::write(&runs, text).unwrap();
        let doc = dir.join("DOC.md");
        std::fs::write(&doc, "# x\n<!-- compare:begin -->\n<!-- compare:end -->\n").unwrap();
        let report = write_all(
            &runs,
            Some(&dir.join("r.json")),
            Some(&dir.join("r.md")),
            Some(&dir.join("r.svg")),
            Some(&doc),
        )
        .unwrap();
        assert_eq!(report.meta.machine, "test box");
        let svg = std::fs::read_to_string(dir.join("r.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect") && svg.contains("polyline"));
        assert!(std::fs::read_to_string(&doc)
            .unwrap()
            .contains("Machine: test box"));
        let back: Report =
            serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
        assert_eq!(back.budgets.len(), 2);
        assert!(read_runs(&dir.join("missing")).is_err());
        std::fs::write(&runs, "{not json}\n").unwrap();
        assert!(matches!(
            read_runs(&runs),
            Err(ReportError::Parse { line: 1, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
