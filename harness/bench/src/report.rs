//! The results model (rows of medians, ratios against baselines, the machine) and its text
//! rendering. JSON output is this model serialized.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sessionspec_report::plural;

use crate::{Role, Workload};

/// A benchmark run's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Distinct ids per run.
    pub ids: usize,
    /// Runs per row.
    pub runs: usize,
    /// The client counts measured.
    pub clients: Vec<usize>,
    /// How many slices a run was cut into at each client count (in the order of `clients`):
    /// the workloads of a family took turns slice by slice.
    pub slices: Vec<usize>,
    /// Where it ran.
    pub machine: Machine,
    /// The machine's 1-minute load average before the first run and after the last (Linux
    /// only); the second includes the benchmark's own load.
    pub load_average: Option<(f64, f64)>,
    /// The size of the session's JSON text.
    pub payload_bytes: usize,
    /// One row per workload and client count.
    pub rows: Vec<Row>,
    /// Each store against each baseline of its family, per client count.
    pub ratios: Vec<Ratio>,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// The first `model name` in /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// The tokio runtime the clients and drivers ran on: `single-threaded`, or `N worker
    /// threads`.
    pub runtime: String,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        });
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {
                "single-threaded".to_owned()
            }
            Ok(handle) => format!("{} worker threads", handle.metrics().num_workers()),
            Err(_) => "none".to_owned(),
        };
        Machine { cpus, cpu_model, runtime }
    }
}

/// The 1-minute load average (Linux: /proc/loadavg).
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// One timed run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Pairs completed per second of wall time.
    pub pairs_per_sec: f64,
    /// Median pair latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile pair latency, microseconds.
    pub p99_us: f64,
    /// Wall time of the run, milliseconds.
    pub elapsed_ms: f64,
    /// CPU time of this process (every client, the runtime and the driver; not the server's)
    /// per pair, microseconds, where the platform reports it.
    pub cpu_us_per_pair: Option<f64>,
}

impl Sample {
    /// The figures of a run that took `elapsed` for pairs of these latencies.
    pub fn from_latencies(elapsed: Duration, mut latencies: Vec<Duration>, cpu: Option<Duration>) -> Sample {
        latencies.sort_unstable();
        let secs = elapsed.as_secs_f64();
        let pairs = latencies.len().max(1) as f64;
        Sample {
            cpu_us_per_pair: cpu.map(|c| c.as_secs_f64() * 1e6 / pairs),
            pairs_per_sec: if secs > 0.0 { latencies.len() as f64 / secs } else { 0.0 },
            p50_us: percentile(&latencies, 0.50),
            p99_us: percentile(&latencies, 0.99),
            elapsed_ms: secs * 1000.0,
        }
    }
}

/// The nearest-rank percentile of sorted latencies, in microseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One workload at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The workload's name.
    pub workload: String,
    /// Its family.
    pub family: String,
    /// Store or baseline.
    #[serde(flatten)]
    pub role: Role,
    /// What exactly ran.
    pub detail: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Each run.
    pub runs: Vec<Sample>,
    /// The median of each figure over the runs (taken separately).
    pub median: Sample,
}

impl Row {
    /// The row of `workload` at `clients` from its runs.
    pub fn new(workload: &dyn Workload, clients: usize, runs: Vec<Sample>) -> Row {
        let median = Sample {
            pairs_per_sec: median(runs.iter().map(|s| s.pairs_per_sec).collect()),
            p50_us: median(runs.iter().map(|s| s.p50_us).collect()),
            p99_us: median(runs.iter().map(|s| s.p99_us).collect()),
            elapsed_ms: median(runs.iter().map(|s| s.elapsed_ms).collect()),
            cpu_us_per_pair: runs
                .iter()
                .map(|s| s.cpu_us_per_pair)
                .collect::<Option<Vec<f64>>>()
                .filter(|v| !v.is_empty())
                .map(median),
        };
        Row {
            workload: workload.name().to_owned(),
            family: workload.family().to_owned(),
            role: workload.role(),
            detail: workload.detail(),
            clients,
            runs,
            median,
        }
    }
}

/// A store's median pairs per second over a baseline's, at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The store's workload.
    pub store: String,
    /// The baseline's workload.
    pub baseline: String,
    /// Concurrent clients.
    pub clients: usize,
    /// store / baseline, of the medians.
    pub ratio: f64,
    /// The lowest and highest ratio of one run of the store to the same run of the baseline
    /// (run `i` of both comes from the same round of the interleaving, so a machine that slows
    /// down between rounds moves both).
    pub range: (f64, f64),
    /// The smallest ratio the baseline asks for at this client count, if any.
    pub goal: Option<f64>,
    /// Whether the ratio reaches the goal.
    pub met: Option<bool>,
}

/// Every store row against every baseline row of its family at the same client count.
pub(crate) fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for store in rows.iter().filter(|r| r.role == Role::Store) {
        for base in rows.iter().filter(|r| r.family == store.family && r.clients == store.clients) {
            let Role::Baseline { goals } = &base.role else { continue };
            let goal =
                goals.iter().filter(|g| g.clients.is_none_or(|c| c == store.clients)).map(|g| g.ratio).reduce(f64::max);
            let ratio = quotient(store.median.pairs_per_sec, base.median.pairs_per_sec);
            let per_run = store.runs.iter().zip(&base.runs).map(|(s, b)| quotient(s.pairs_per_sec, b.pairs_per_sec));
            let range = per_run.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r), hi.max(r)));
            out.push(Ratio {
                store: store.workload.clone(),
                baseline: base.workload.clone(),
                clients: store.clients,
                ratio,
                range: if range.0 <= range.1 { range } else { (ratio, ratio) },
                goal,
                met: goal.map(|g| ratio >= g),
            });
        }
    }
    out
}

fn quotient(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The report as text: the rows, the ratios with their goals, and what each workload is.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let cpu = report.machine.cpu_model.as_deref().unwrap_or("unknown CPU");
    let load = match report.load_average {
        Some((before, after)) => format!("; load average {before:.2} before, {after:.2} after"),
        None => String::new(),
    };
    let slices: Vec<String> = report
        .clients
        .iter()
        .zip(&report.slices)
        .map(|(c, s)| format!("{s} at {}", plural(*c, "client", "clients")))
        .collect();
    let _ = writeln!(
        out,
        "{} ids per run, medians of {}, runs cut into slices taken in turn ({}), session JSON {} bytes; \
         {} CPUs ({cpu}), tokio {}{load}\n",
        report.ids,
        plural(report.runs, "run", "runs"),
        slices.join(", "),
        report.payload_bytes,
        report.machine.cpus,
        report.machine.runtime
    );
    let width = report.rows.iter().map(|r| r.workload.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(
        out,
        "{:width$}  {:>7}  {:>9}  {:>8}  {:>8}  {:>11}  runs (pairs/s)",
        "workload", "clients", "pairs/s", "p50 µs", "p99 µs", "cpu µs/pair"
    );
    for row in &report.rows {
        let runs: Vec<String> = row.runs.iter().map(|s| thousands(s.pairs_per_sec)).collect();
        let _ = writeln!(
            out,
            "{:width$}  {:>7}  {:>9}  {:>8.0}  {:>8.0}  {:>11}  {}",
            row.workload,
            row.clients,
            thousands(row.median.pairs_per_sec),
            row.median.p50_us,
            row.median.p99_us,
            row.median.cpu_us_per_pair.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
            runs.join(" ")
        );
    }
    if !report.ratios.is_empty() {
        let pairs: Vec<String> = report.ratios.iter().map(|r| format!("{} / {}", r.store, r.baseline)).collect();
        let w = pairs.iter().map(String::len).max().unwrap_or(0).max(16);
        let _ = writeln!(out, "\n{:w$}  {:>7}  {:>6}  {:>11}  goal", "store / baseline", "clients", "ratio", "runs");
        for (r, label) in report.ratios.iter().zip(pairs) {
            let goal = match (r.goal, r.met) {
                (Some(g), Some(true)) => format!(">= {g:.2}: met"),
                (Some(g), _) => format!(">= {g:.2}: MISSED"),
                _ => "-".to_owned(),
            };
            let range = format!("{:.2}-{:.2}", r.range.0, r.range.1);
            let _ = writeln!(out, "{label:w$}  {:>7}  {:>6.2}  {range:>11}  {goal}", r.clients, r.ratio);
        }
    }
    let _ = writeln!(out);
    let mut seen = Vec::new();
    for row in &report.rows {
        if !seen.contains(&&row.workload) {
            seen.push(&row.workload);
            let _ = writeln!(out, "{}: {}", row.workload, row.detail);
        }
    }
    out
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let lat: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = Sample::from_latencies(Duration::from_secs(2), lat, Some(Duration::from_millis(1)));
        assert_eq!(s.cpu_us_per_pair, Some(10.0));
        assert_eq!(s.pairs_per_sec, 50.0);
        assert_eq!(s.p50_us, 50.0);
        assert_eq!(s.p99_us, 99.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(152_345.6), "152,346");
        assert_eq!(thousands(999.0), "999");
    }

    fn row(workload: &str, role: Role, pairs_per_sec: &[f64]) -> Row {
        let sample =
            |p: f64| Sample { pairs_per_sec: p, p50_us: 1.0, p99_us: 2.0, elapsed_ms: 1.0, cpu_us_per_pair: None };
        let runs: Vec<Sample> = pairs_per_sec.iter().copied().map(sample).collect();
        let median = sample(median(pairs_per_sec.to_vec()));
        let (workload, family, detail) = (workload.to_owned(), "f".to_owned(), String::new());
        Row { workload, family, role, detail, clients: 32, runs, median }
    }

    #[test]
    fn ratios_pair_the_runs_of_one_round() {
        let goal = crate::Goal { ratio: 0.9, clients: Some(32) };
        let rows = [
            row("store", Role::Store, &[100.0, 50.0, 80.0]),
            row("bare", Role::Baseline { goals: vec![goal] }, &[100.0, 100.0, 40.0]),
        ];
        let [r] = &ratios(&rows)[..] else { panic!("one ratio") };
        assert_eq!((r.ratio, r.range, r.goal, r.met), (0.8, (0.5, 2.0), Some(0.9), Some(false)));
    }
}
