//! No scenario can hang the run: a private Redis server (redis-server, as
//! harness/backends/services.sh finds it) is killed while the concurrency scenarios are
//! mid-operation against the `redis` store, and the run still finishes within its bounds, every
//! case with a result, those cut short reported as failures (never as passes).

use std::process::Stdio;
use std::time::Duration;

use sessionspec_runner::{RunOptions, Runner};
use sessionspec_scenario::{Selection, Suite};
use sessionspec_targets::Backends;

/// The run's bound: one wave of cases (8 jobs) each taking at most its scenario timeout plus
/// cleanup (close and drop, one step timeout each), with room to spare for a loaded machine.
const RUN_BOUND: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn commands_processed(client: &redis::Client) -> Option<u64> {
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO").arg("stats").query_async(&mut c).await.ok()?;
    info.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).and_then(|n| n.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_operation_cannot_hang_the_run() {
    let port = free_port();
    let mut server = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed (harness/backends/services.sh needs it too)");
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str()).unwrap();
    let up = tokio::time::timeout(Duration::from_secs(20), async {
        while commands_processed(&client).await.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(up.is_ok(), "the private redis-server did not answer within 20s");

    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (suite, problems) = Suite::load(&root.join("scenarios"), &root.join("spec"));
    assert!(problems.is_empty(), "{problems:#?}");
    let suite = suite.unwrap();
    let selection = Selection::new(&[], &["concurrency".to_owned()], &[]).unwrap();
    let scenarios: Vec<_> = suite.select(&selection).into_iter().cloned().collect();
    let backends = Backends { redis_url: Some(url.clone()), ..Backends::default() };
    let resolved = sessionspec_targets::resolve(&["redis".to_owned()], &backends).await.unwrap();
    let runner = Runner::new(RunOptions {
        jobs: 8,
        step_timeout: Duration::from_secs(3),
        scenario_timeout: Duration::from_secs(10),
        ..RunOptions::default()
    });
    let targets = resolved.targets.clone();
    let spec = suite.spec.clone();
    let count = scenarios.len();
    let run = tokio::spawn(async move { runner.run(&scenarios, &spec, &targets, |_| {}).await });

    // Kill the server once the store's operations are under way: the real condition, not a pause.
    let baseline = commands_processed(&client).await.unwrap_or(0);
    let busy = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match commands_processed(&client).await {
                Some(n) if n > baseline + 200 => return true,
                None => return false,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    assert_eq!(busy, Ok(true), "the scenarios never got under way");
    server.start_kill().unwrap();
    server.wait().await.unwrap();

    let summary = tokio::time::timeout(RUN_BOUND, run)
        .await
        .unwrap_or_else(|_| panic!("the run did not finish within {RUN_BOUND:?} of the backend's death"))
        .unwrap();
    assert!(!summary.footer.incomplete, "{:?}", summary.footer.reason);
    assert_eq!(summary.results.len(), count, "every case has a result");
    let cut: Vec<_> = summary.results.iter().filter(|r| r.outcome.is_failure()).collect();
    assert!(!cut.is_empty(), "the kill reached no case");
    // Each case cut short stopped within its own bounds, not the run's.
    for r in &cut {
        assert!(r.duration_ms < 30_000, "{} took {} ms", r.scenario, r.duration_ms);
    }
}
