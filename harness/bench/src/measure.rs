//! Running workloads: family by family; within a family, for each run and each client count,
//! every workload of the family is started and warmed up, then the run's ids are cut into slices
//! and the workloads take turns slice by slice (in an order that rotates, so no workload always
//! goes first), timing each pair. A workload's figures for the run are its pairs over the sum of
//! its slices' time. Medians over runs make the rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use tokio::task::JoinSet;

use crate::report::{Machine, Report, Row, Sample, ratios};
use crate::{Pairs, Payload, RunContext, Workload, pair_id};

/// The fewest pairs a slice gives each client: fewer, and the time clients spend waiting for the
/// slowest one at the end of a slice would weigh on the figure.
const PAIRS_PER_CLIENT_IN_A_SLICE: usize = 100;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Distinct ids per run: each gets one pair.
    pub ids: usize,
    /// The client counts to measure at.
    pub clients: Vec<usize>,
    /// Runs per workload and client count; rows show medians.
    pub runs: usize,
    /// Pairs on other ids before each timed run, not counted.
    pub warmup: usize,
    /// The most slices a run is cut into (fewer where a slice would give a client fewer than
    /// 100 pairs); 1 runs each workload's ids in one go.
    pub slices: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { ids: 10_000, clients: vec![1, 32], runs: 5, warmup: 1_000, slices: 10 }
    }
}

impl Settings {
    /// How many slices a run at `clients` clients is cut into.
    pub fn slices_at(&self, clients: usize) -> usize {
        (self.ids / (clients.max(1) * PAIRS_PER_CLIENT_IN_A_SLICE)).clamp(1, self.slices.max(1))
    }
}

/// Measures every workload at every client count, `settings.runs` times, calling `progress`
/// before each round (one run of a family at one client count) with a line saying what runs.
pub async fn run(
    workloads: &[Box<dyn Workload>],
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Report> {
    anyhow::ensure!(settings.ids > 0 && settings.runs > 0, "ids and runs must be at least 1");
    anyhow::ensure!(!settings.clients.is_empty() && !settings.clients.contains(&0), "client counts must be at least 1");
    let payload = Arc::new(Payload::express_session(Utc::now()));
    let ids: Vec<String> = (0..settings.ids).map(|i| pair_id('s', i)).collect();
    // The run's ids, slice by slice, at each client count: the same for every run.
    let parts: Vec<Vec<Arc<Vec<String>>>> = settings
        .clients
        .iter()
        .map(|&clients| {
            ids.chunks(ids.len().div_ceil(settings.slices_at(clients))).map(|p| Arc::new(p.to_vec())).collect()
        })
        .collect();
    let warm: Arc<Vec<String>> = Arc::new((0..settings.warmup).map(|i| pair_id('w', i)).collect());
    let token = sessionspec_runner::run_token();
    let load_before = crate::report::load_average();
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); settings.clients.len()]; workloads.len()];
    let mut number = 0usize;
    for family in families(workloads) {
        let names: Vec<&str> = family.iter().map(|&w| workloads[w].name()).collect();
        for run in 0..settings.runs {
            for (c, &clients) in settings.clients.iter().enumerate() {
                progress(&format!(
                    "run {}/{}: {} with {clients} client(s), {} slice(s)",
                    run + 1,
                    settings.runs,
                    names.join(", "),
                    parts[c].len()
                ));
                let round = Round { workloads, family: &family, clients, step: run + c, parts: &parts[c], warm: &warm };
                let measured = round
                    .measure(|| {
                        number += 1;
                        RunContext { clients, namespace: format!("sb{token}_{number}"), payload: payload.clone() }
                    })
                    .await
                    .with_context(|| format!("run {} with {clients} client(s)", run + 1))?;
                for (&w, sample) in family.iter().zip(measured) {
                    samples[w][c].push(sample);
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (w, workload) in workloads.iter().enumerate() {
        for (c, &clients) in settings.clients.iter().enumerate() {
            rows.push(Row::new(workload.as_ref(), clients, std::mem::take(&mut samples[w][c])));
        }
    }
    let ratios = ratios(&rows);
    Ok(Report {
        ids: settings.ids,
        runs: settings.runs,
        clients: settings.clients.clone(),
        slices: parts.iter().map(Vec::len).collect(),
        machine: Machine::this(),
        load_average: load_before.zip(crate::report::load_average()),
        payload_bytes: payload.json.len(),
        rows,
        ratios,
    })
}

/// The workloads' indices grouped by family, families in order of first appearance. Ratios
/// compare rows of one family only, so families run one after another: a family's runs never
/// sit between another server's heavy writes and the background work that follows them.
fn families(workloads: &[Box<dyn Workload>]) -> Vec<Vec<usize>> {
    let mut families: Vec<(&str, Vec<usize>)> = Vec::new();
    for (w, workload) in workloads.iter().enumerate() {
        match families.iter_mut().find(|(name, _)| *name == workload.family()) {
            Some((_, members)) => members.push(w),
            None => families.push((workload.family(), vec![w])),
        }
    }
    families.into_iter().map(|(_, members)| members).collect()
}

/// Positions `0..len` in order, starting at `step` (modulo `len`). A round's step is its run's
/// number plus its client count's, and each slice adds one, so the first workload changes from
/// slice to slice and from one run to the next at each client count, whatever the family's
/// size: none always runs straight after a change of client count or family. (Until 2026-12-06
/// the step counted runs and client counts together, so with two client counts a family of two
/// put the store first at 1 client in every run, straight after the 32-client runs and the
/// server's work that follows them: the Postgres store measured 0.88-0.90 of its loop at 1
/// client that way, 0.96 alone.)
fn rotated(len: usize, step: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.rotate_left(step % len.max(1));
    order
}

/// One run of one family at one client count.
struct Round<'a> {
    workloads: &'a [Box<dyn Workload>],
    /// The family's workloads, as indices into `workloads`.
    family: &'a [usize],
    clients: usize,
    step: usize,
    /// The run's ids, slice by slice.
    parts: &'a [Arc<Vec<String>>],
    warm: &'a Arc<Vec<String>>,
}

/// What one workload has done so far in a round.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    cpu: Option<Duration>,
    latencies: Vec<Duration>,
}

impl Round<'_> {
    /// Starts every workload of the family (each with the context `context` makes), warms each
    /// up, runs the slices, and finishes every workload that started whatever happened. Returns a
    /// sample per workload, in the family's order.
    async fn measure(&self, mut context: impl FnMut() -> RunContext) -> anyhow::Result<Vec<Sample>> {
        // The family's workloads that have started, in the family's order.
        let mut started: Vec<Arc<dyn Pairs>> = Vec::new();
        let result = self.timed(&mut started, &mut context).await;
        // Clean up whatever happened; a failed run's error wins over a failed clean-up.
        let mut finished = Ok(());
        for (m, pairs) in started.into_iter().enumerate() {
            let done = pairs.finish().await.with_context(|| format!("{}: clean-up", self.name(m)));
            if finished.is_ok() {
                finished = done;
            }
        }
        let samples = result?;
        finished?;
        Ok(samples)
    }

    fn name(&self, member: usize) -> &str {
        self.workloads[self.family[member]].name()
    }

    async fn timed(
        &self,
        started: &mut Vec<Arc<dyn Pairs>>,
        context: &mut impl FnMut() -> RunContext,
    ) -> anyhow::Result<Vec<Sample>> {
        let size = self.family.len();
        for m in 0..size {
            let pairs = self.workloads[self.family[m]]
                .start(&context())
                .await
                .with_context(|| format!("{}: start", self.name(m)))?;
            started.push(pairs);
        }
        if !self.warm.is_empty() {
            for m in rotated(size, self.step) {
                drive(&started[m], self.clients, self.warm)
                    .await
                    .with_context(|| format!("{}: warm-up", self.name(m)))?;
            }
        }
        let mut tallies: Vec<Tally> = (0..size).map(|_| Tally::default()).collect();
        for (s, part) in self.parts.iter().enumerate() {
            for m in rotated(size, self.step + s) {
                let cpu_before = process_cpu();
                let began = Instant::now();
                let latencies = drive(&started[m], self.clients, part)
                    .await
                    .with_context(|| format!("{}: slice {}", self.name(m), s + 1))?;
                let tally = &mut tallies[m];
                tally.elapsed += began.elapsed();
                let cpu = process_cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
                tally.cpu = if s == 0 { cpu } else { tally.cpu.zip(cpu).map(|(sum, more)| sum + more) };
                tally.latencies.extend(latencies);
            }
        }
        Ok(tallies.into_iter().map(|t| Sample::from_latencies(t.elapsed, t.latencies, t.cpu)).collect())
    }
}

/// CPU time used so far by every thread of this process (Linux: the sum of
/// `/proc/self/task/*/schedstat`, nanoseconds precise); `None` elsewhere. The server's own CPU is
/// not in it.
fn process_cpu() -> Option<Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Runs one pair per id, `clients` at a time, and returns every pair's latency.
async fn drive(pairs: &Arc<dyn Pairs>, clients: usize, ids: &Arc<Vec<String>>) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let (pairs, ids, next) = (pairs.clone(), ids.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(ids.len() / clients + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { return Ok::<_, anyhow::Error>(latencies) };
                let started = Instant::now();
                pairs.pair(client, id).await?;
                latencies.push(started.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(ids.len());
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.context("a client task panicked")??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use sessionspec_store_memory::MemoryFactory;

    use super::*;
    use crate::{Goal, Role, StoreWorkload};

    /// A baseline that only counts which ids each run saw.
    #[derive(Default)]
    struct Counting {
        runs: Arc<Mutex<Vec<BTreeMap<String, usize>>>>,
    }

    struct CountingRun {
        seen: Mutex<BTreeMap<String, usize>>,
        runs: Arc<Mutex<Vec<BTreeMap<String, usize>>>>,
    }

    #[async_trait]
    impl Workload for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn family(&self) -> &str {
            "memory"
        }
        fn role(&self) -> Role {
            Role::Baseline { goals: vec![Goal { ratio: 0.5, clients: Some(4) }] }
        }
        fn detail(&self) -> String {
            "counts ids".into()
        }
        async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
            assert!(sessionspec_contract::Namespace::new(run.namespace.clone()).is_ok(), "{}", run.namespace);
            Ok(Arc::new(CountingRun { seen: Mutex::default(), runs: self.runs.clone() }))
        }
    }

    #[async_trait]
    impl Pairs for CountingRun {
        async fn pair(&self, _client: usize, id: &str) -> anyhow::Result<()> {
            *self.seen.lock().unwrap().entry(id.to_owned()).or_default() += 1;
            Ok(())
        }
        async fn finish(&self) -> anyhow::Result<()> {
            self.runs.lock().unwrap().push(std::mem::take(&mut *self.seen.lock().unwrap()));
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_id_gets_one_pair_per_run_and_rows_compare_within_a_family() {
        let counting = Counting::default();
        let runs = counting.runs.clone();
        let workloads: Vec<Box<dyn Workload>> =
            vec![Box::new(StoreWorkload::new("memory", Arc::new(MemoryFactory::new()))), Box::new(counting)];
        let settings = Settings { ids: 300, clients: vec![1, 4], runs: 3, warmup: 20, slices: 10 };
        let report = run(&workloads, &settings, |_| {}).await.unwrap();

        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), 6, "3 runs at 2 client counts");
        for seen in runs.iter() {
            assert_eq!(seen.len(), 320, "every id and warm-up id once");
            assert!(seen.values().all(|&n| n == 1));
        }
        let rows: Vec<(&str, usize, usize)> =
            report.rows.iter().map(|r| (r.workload.as_str(), r.clients, r.runs.len())).collect();
        assert_eq!(rows, [("memory", 1, 3), ("memory", 4, 3), ("counting", 1, 3), ("counting", 4, 3)]);
        let ratios: Vec<(&str, usize, Option<f64>)> =
            report.ratios.iter().map(|r| (r.baseline.as_str(), r.clients, r.goal)).collect();
        assert_eq!(ratios, [("counting", 1, None), ("counting", 4, Some(0.5))]);
        let table = crate::render_table(&report);
        assert!(table.contains("memory / counting"), "{table}");
    }

    /// A workload that logs `name@clients#slice` for every pair it runs (the slice from the
    /// pair's id, for runs of 300 ids in slices of 100 at 1 client and one slice at 32), and
    /// fails its pairs if told to.
    struct Logged {
        name: &'static str,
        family: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        fail: bool,
    }

    struct LoggedRun {
        label: String,
        per_slice: usize,
        log: Arc<Mutex<Vec<String>>>,
        fail: bool,
    }

    #[async_trait]
    impl Workload for Logged {
        fn name(&self) -> &str {
            self.name
        }
        fn family(&self) -> &str {
            self.family
        }
        fn role(&self) -> Role {
            Role::Store
        }
        fn detail(&self) -> String {
            String::new()
        }
        async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
            self.log.lock().unwrap().push(format!("start {}", self.name));
            Ok(Arc::new(LoggedRun {
                label: format!("{}@{}", self.name, run.clients),
                per_slice: if run.clients == 1 { 100 } else { 300 },
                log: self.log.clone(),
                fail: self.fail,
            }))
        }
    }

    #[async_trait]
    impl Pairs for LoggedRun {
        async fn pair(&self, _: usize, id: &str) -> anyhow::Result<()> {
            anyhow::ensure!(!self.fail, "told to fail");
            let index = usize::from_str_radix(&id[1..16], 16).unwrap();
            let line = format!("{}#{}", self.label, index / self.per_slice);
            let mut log = self.log.lock().unwrap();
            if log.last() != Some(&line) {
                log.push(line);
            }
            Ok(())
        }
        async fn finish(&self) -> anyhow::Result<()> {
            self.log.lock().unwrap().push(format!("finish {}", self.label.split('@').next().unwrap()));
            Ok(())
        }
    }

    /// Runs `(name, family, fail)` workloads at 1 and 32 clients in runs of 300 ids, cut into
    /// 3 slices at 1 client, and returns the log and the outcome.
    async fn logged(
        workloads: &[(&'static str, &'static str, bool)],
        runs: usize,
    ) -> (Vec<String>, anyhow::Result<()>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let workloads: Vec<Box<dyn Workload>> = workloads
            .iter()
            .map(|&(name, family, fail)| Box::new(Logged { name, family, log: log.clone(), fail }) as Box<dyn Workload>)
            .collect();
        let settings = Settings { ids: 300, clients: vec![1, 32], runs, warmup: 0, slices: 3 };
        assert_eq!((settings.slices_at(1), settings.slices_at(32)), (3, 1));
        let outcome = run(&workloads, &settings, |_| {}).await.map(|_| ());
        let log = log.lock().unwrap().clone();
        (log, outcome)
    }

    /// The pairs' part of the log: which workload ran which slice, in order.
    fn slices(log: &[String]) -> Vec<&str> {
        log.iter().filter(|l| l.contains('#')).map(String::as_str).collect()
    }

    #[tokio::test]
    async fn families_run_in_blocks_and_workloads_take_turns_slice_by_slice() {
        let (log, outcome) = logged(&[("a", "x", false), ("b", "y", false), ("a-bare", "x", false)], 2).await;
        outcome.unwrap();
        assert_eq!(
            slices(&log),
            [
                // Family x, run 1, 1 client: each slice from the next member.
                "a@1#0",
                "a-bare@1#0",
                "a-bare@1#1",
                "a@1#1",
                "a@1#2",
                "a-bare@1#2",
                // 32 clients, one slice, one further.
                "a-bare@32#0",
                "a@32#0",
                // Run 2: one further again at each client count.
                "a-bare@1#0",
                "a@1#0",
                "a@1#1",
                "a-bare@1#1",
                "a-bare@1#2",
                "a@1#2",
                "a@32#0",
                "a-bare@32#0",
                // Family y after all of x.
                "b@1#0",
                "b@1#1",
                "b@1#2",
                "b@32#0",
                "b@1#0",
                "b@1#1",
                "b@1#2",
                "b@32#0",
            ]
        );
        // Every workload of a round starts before its first pair and finishes after its last.
        let mut first_round = vec!["start a", "start a-bare"];
        first_round.extend_from_slice(&slices(&log)[..6]);
        first_round.extend(["finish a", "finish a-bare"]);
        assert_eq!(log[..10], first_round);
    }

    #[tokio::test]
    async fn a_failing_workload_fails_the_run_and_every_started_workload_is_finished() {
        let (log, outcome) = logged(&[("a", "x", false), ("a-broken", "x", true)], 1).await;
        let error = format!("{:#}", outcome.unwrap_err());
        assert!(error.contains("a-broken: slice 1") && error.contains("told to fail"), "{error}");
        assert_eq!(log, ["start a", "start a-broken", "a@1#0", "finish a", "finish a-broken"]);
    }

    #[test]
    fn slices_give_every_client_at_least_a_hundred_pairs() {
        let settings = Settings::default();
        assert_eq!((settings.slices_at(1), settings.slices_at(32)), (10, 3));
        let settings = Settings { ids: 50, slices: 10, ..Settings::default() };
        assert_eq!(settings.slices_at(1), 1, "a run shorter than a slice is one slice");
    }
}
