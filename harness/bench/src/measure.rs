//! Running workloads: family by family; within a family, for each run and each client count,
//! each workload in turn (interleaved, so drift on the machine spreads over all of them, and in
//! an order that rotates, so no workload always goes first), a warm-up, then every id once,
//! spread over the clients, timing each pair. Medians over runs make the rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use tokio::task::JoinSet;

use crate::report::{Machine, Report, Row, Sample, ratios};
use crate::{Pairs, Payload, RunContext, Workload, pair_id};

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings { ids: 10_000, clients: vec![1, 32], runs: 5, warmup: 1_000 }
    }
}

/// Measures every workload at every client count, `settings.runs` times, calling `progress`
/// before each run with a line saying what runs.
pub async fn run(
    workloads: &[Box<dyn Workload>],
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Report> {
    anyhow::ensure!(settings.ids > 0 && settings.runs > 0, "ids and runs must be at least 1");
    anyhow::ensure!(!settings.clients.is_empty() && !settings.clients.contains(&0), "client counts must be at least 1");
    let payload = Arc::new(Payload::express_session(Utc::now()));
    let ids: Arc<Vec<String>> = Arc::new((0..settings.ids).map(|i| pair_id('s', i)).collect());
    let warm: Arc<Vec<String>> = Arc::new((0..settings.warmup).map(|i| pair_id('w', i)).collect());
    let token = sessionspec_runner::run_token();
    let load_before = crate::report::load_average();
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); settings.clients.len()]; workloads.len()];
    let mut number = 0usize;
    for family in families(workloads) {
        for run in 0..settings.runs {
            for (c, &clients) in settings.clients.iter().enumerate() {
                for w in rotated(&family, run + c) {
                    let workload = &workloads[w];
                    progress(&format!(
                        "run {}/{}: {} with {clients} client(s)",
                        run + 1,
                        settings.runs,
                        workload.name()
                    ));
                    number += 1;
                    let context =
                        RunContext { clients, namespace: format!("sb{token}_{number}"), payload: payload.clone() };
                    let sample = once(workload.as_ref(), &context, &ids, &warm)
                        .await
                        .with_context(|| format!("{} with {clients} client(s), run {}", workload.name(), run + 1))?;
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

/// `family` in order, starting at member number `step` (modulo its length). The step is the
/// run's number plus the client count's, so at each client count the first workload changes
/// from one run to the next, whatever the family's size: none always runs straight after a
/// change of client count or family. (Until 2026-12-06 the step counted runs and client counts
/// together, so with two client counts a family of two put the store first at 1 client in every
/// run, straight after the 32-client runs and the server's work that follows them: the Postgres
/// store measured 0.88-0.90 of its loop at 1 client that way, 0.96 alone.)
fn rotated(family: &[usize], step: usize) -> Vec<usize> {
    let mut order = family.to_vec();
    order.rotate_left(step % family.len().max(1));
    order
}

/// One timed run of one workload.
async fn once(
    workload: &dyn Workload,
    context: &RunContext,
    ids: &Arc<Vec<String>>,
    warm: &Arc<Vec<String>>,
) -> anyhow::Result<Sample> {
    let pairs = workload.start(context).await.context("start")?;
    let result = async {
        if !warm.is_empty() {
            drive(&pairs, context.clients, warm).await.context("warm-up")?;
        }
        let cpu_before = process_cpu();
        let started = Instant::now();
        let latencies = drive(&pairs, context.clients, ids).await?;
        let elapsed = started.elapsed();
        let cpu = process_cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
        Ok::<_, anyhow::Error>(Sample::from_latencies(elapsed, latencies, cpu))
    }
    .await;
    // Clean up whatever happened; a failed run's error wins over a failed clean-up.
    let finished = pairs.finish().await.context("clean-up");
    let sample = result?;
    finished?;
    Ok(sample)
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
        let settings = Settings { ids: 300, clients: vec![1, 4], runs: 3, warmup: 20 };
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

    /// Workloads `(name, family)` in the order `run` measures them, with the client count.
    async fn order(workloads: &[(&'static str, &'static str)], runs: usize) -> Vec<String> {
        struct Named(&'static str, &'static str);
        #[async_trait]
        impl Workload for Named {
            fn name(&self) -> &str {
                self.0
            }
            fn family(&self) -> &str {
                self.1
            }
            fn role(&self) -> Role {
                Role::Store
            }
            fn detail(&self) -> String {
                String::new()
            }
            async fn start(&self, _: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
                Ok(Arc::new(Idle))
            }
        }
        struct Idle;
        #[async_trait]
        impl Pairs for Idle {
            async fn pair(&self, _: usize, _: &str) -> anyhow::Result<()> {
                Ok(())
            }
            async fn finish(&self) -> anyhow::Result<()> {
                Ok(())
            }
        }
        let workloads: Vec<Box<dyn Workload>> =
            workloads.iter().map(|&(name, family)| Box::new(Named(name, family)) as Box<dyn Workload>).collect();
        let settings = Settings { ids: 1, clients: vec![1, 32], runs, warmup: 0 };
        let mut seen = Vec::new();
        run(&workloads, &settings, |line| seen.push(line.split(": ").nth(1).unwrap().to_owned())).await.unwrap();
        seen
    }

    #[tokio::test]
    async fn families_run_in_blocks_and_the_first_workload_rotates() {
        let seen = order(&[("a", "x"), ("b", "y"), ("a-bare", "x"), ("a-json", "x")], 2).await;
        let short: Vec<String> =
            seen.iter().map(|s| format!("{}@{}", s.split(' ').next().unwrap(), s.split(' ').nth(2).unwrap())).collect();
        assert_eq!(
            short,
            [
                // Family x, run 1: at 1 client from its first member, at 32 from its second.
                "a@1",
                "a-bare@1",
                "a-json@1",
                "a-bare@32",
                "a-json@32",
                "a@32",
                // Run 2: one further at each client count.
                "a-bare@1",
                "a-json@1",
                "a@1",
                "a-json@32",
                "a@32",
                "a-bare@32",
                // Family y after all of x.
                "b@1",
                "b@32",
                "b@1",
                "b@32",
            ]
        );
    }

    /// A family of two, as every SQL store's, with two client counts: at each client count the
    /// store and its loop take turns going first.
    #[tokio::test]
    async fn a_pair_of_workloads_takes_turns_at_each_client_count() {
        let seen = order(&[("s", "x"), ("s-bare", "x")], 4).await;
        let first_at = |clients: &str| -> Vec<String> {
            let at: Vec<&String> = seen.iter().filter(|s| s.split(' ').nth(2) == Some(clients)).collect();
            at.chunks(2).map(|run| run[0].split(' ').next().unwrap().to_owned()).collect()
        };
        assert_eq!(first_at("1"), ["s", "s-bare", "s", "s-bare"]);
        assert_eq!(first_at("32"), ["s-bare", "s", "s-bare", "s"]);
    }
}
