//! Running workloads: for each run, each client count and each workload in turn (interleaved,
//! so drift on the machine spreads over all of them), a warm-up, then every id once, spread over
//! the clients, timing each pair. Medians over runs make the rows.

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
        Settings { ids: 10_000, clients: vec![1, 32], runs: 3, warmup: 1_000 }
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
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); settings.clients.len()]; workloads.len()];
    let mut number = 0usize;
    for run in 0..settings.runs {
        for (c, &clients) in settings.clients.iter().enumerate() {
            for (w, workload) in workloads.iter().enumerate() {
                progress(&format!("run {}/{}: {} with {clients} client(s)", run + 1, settings.runs, workload.name()));
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
        payload_bytes: payload.json.len(),
        rows,
        ratios,
    })
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
        let started = Instant::now();
        let latencies = drive(&pairs, context.clients, ids).await?;
        Ok::<_, anyhow::Error>(Sample::from_latencies(started.elapsed(), latencies))
    }
    .await;
    // Clean up whatever happened; a failed run's error wins over a failed clean-up.
    let finished = pairs.finish().await.context("clean-up");
    let sample = result?;
    finished?;
    Ok(sample)
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
