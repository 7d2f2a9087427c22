//! The `sessionspec` binary with backends in containers (a Docker engine from
//! harness/backends/docker-engine.sh, images from harness/backends/images/build.sh where no
//! registry is reachable): a run through a container, the column per backend version, and
//! Ctrl-C at any moment leaving no container behind with the documented exit code 3.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rstest::rstest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the project root")
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sessionspec"));
    c.args(args).current_dir(root()).env("NO_COLOR", "1");
    for var in ["SESSIONSPEC_SCENARIOS", "SESSIONSPEC_SPEC", "SESSIONSPEC_MATRIX", "SESSIONSPEC_IMAGES"] {
        c.env_remove(var);
    }
    c
}

fn engine() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need a Docker engine: export DOCKER_HOST=\"$(harness/backends/docker-engine.sh)\" and build the images with harness/backends/images/build.sh"
    );
}

/// The containers carrying `label`, running or not.
fn containers(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter", &format!("label={label}")])
        .output()
        .expect("docker ps runs");
    assert!(out.status.success(), "docker ps: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stderr of `child`, line by line, as it comes.
fn lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line matching `want`, collecting what came before; panics after `bound`.
fn wait_for(rx: &Receiver<String>, seen: &mut Vec<String>, bound: Duration, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + bound;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if want(&line) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no such line within {bound:?}; stderr so far:\n{}", seen.join("\n"))
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the run ended first; stderr:\n{}", seen.join("\n")),
        }
    }
}

fn wait_exit(child: &mut Child, bound: Duration) -> i32 {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status.code().expect("exited, not killed by a signal");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("sessionspec did not exit within {bound:?} of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("the binary runs")
}

#[test]
fn a_store_runs_through_a_container_and_its_column_names_version_server_and_image() {
    engine();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "--backend",
        "redis:valkey-8",
        "--backend",
        "redis:6",
        "--store",
        "redis",
        "-k",
        "core.*",
        "--no-progress",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "a complete run; stderr:\n{stderr}");
    assert!(stderr.contains("backend redis:valkey-8: container "), "{stderr}");
    let label = stderr
        .lines()
        .find_map(|l| l.split("carry the label ").nth(1).and_then(|r| r.split_whitespace().next()))
        .expect("the run names its container label");
    assert!(containers(label).is_empty(), "the run removed its containers");

    let results = std::fs::read_to_string(out_dir.path().join("results.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    let targets = header["targets"].as_array().unwrap();
    let ids: Vec<&str> = targets.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["redis@6", "redis@valkey-8"], "one column per version, in matrix order");
    assert_eq!(targets[0]["backend"], "redis");
    assert!(targets[0]["backend_version"].as_str().unwrap().starts_with("6.0."), "{}", targets[0]);
    // Valkey reports redis_version 7.2.4 too: the column shows Valkey's own version.
    assert_eq!(targets[1]["backend"], "valkey");
    assert!(targets[1]["backend_version"].as_str().unwrap().starts_with("8.1."), "{}", targets[1]);
    for t in targets {
        let provider = t["provider"].as_str().unwrap();
        assert!(provider.starts_with("container "), "{provider}");
    }
    let cases = results.lines().filter(|l| l.contains("\"type\":\"result\"")).count();
    assert!(cases > 0 && cases % 2 == 0, "each scenario ran on both columns: {cases}");
    let matrix = std::fs::read_to_string(out_dir.path().join("matrix.md")).unwrap();
    // One row per column in the summary, naming the server and its version.
    assert!(matrix.contains("| [redis@6](#store-redis-6) redis 0.1.0 on redis 6.0."), "{matrix}");
    assert!(matrix.contains("| [redis@valkey-8](#store-redis-valkey-8) redis 0.1.0 on valkey 8."), "{matrix}");
}

/// When the signal comes: once every container answers and cases run, or while they start.
#[rstest]
#[case::while_cases_run(true)]
#[case::while_containers_start(false)]
fn sigint_removes_every_container_and_exits_3(#[case] after_ready: bool) {
    engine();
    let out_dir = tempfile::tempdir().unwrap();
    let backends = ["postgres:13", "postgres:17", "redis:8", "mariadb:10.5"];
    let mut args = vec!["run", "--store", "postgres", "--store", "redis", "--store", "sql-mysql", "--no-progress"];
    for b in &backends {
        args.extend(["--backend", b]);
    }
    args.extend(["--out", out_dir.path().to_str().unwrap()]);
    let mut child = command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("the binary starts");
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    let line = wait_for(&rx, &mut seen, Duration::from_secs(60), |l| l.contains("carry the label "));
    let label = line.split("carry the label ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    if after_ready {
        wait_for(&rx, &mut seen, Duration::from_secs(180), |l| l.starts_with("running "));
        assert_eq!(containers(&label).len(), backends.len(), "one container per backend version while it runs");
    } else {
        // The first container exists: the others are being created or awaited.
        let deadline = Instant::now() + Duration::from_secs(60);
        while containers(&label).is_empty() {
            assert!(Instant::now() < deadline, "no container appeared; stderr:\n{}", seen.join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let code = wait_exit(&mut child, Duration::from_secs(120));
    seen.extend(rx.try_iter());
    let stderr = seen.join("\n");
    assert!(containers(&label).is_empty(), "containers of {label} left behind; stderr:\n{stderr}");
    assert_eq!(code, 3, "the documented incomplete-run code; stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn an_unknown_version_or_a_version_no_store_uses_is_bad_input() {
    let out = run(&["run", "--backend", "postgres:16", "--store", "postgres"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--backend postgres:16: no version `16` of postgres;"), "{stderr}");

    let out = run(&["run", "--backend", "redis:7", "--store", "memory"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--backend redis:7: no selected store runs on redis (its stores: redis"), "{stderr}");
}

/// connect-session-knex's table on MariaDB takes the server's default collation. From 11.5 on
/// that is `utf8mb4_uca1400_ai_ci`, which compares "é" (NFC) and "e\u{301}" (NFD) as equal, so
/// two sessions become one on 11.8 while 10.5 and 10.11 keep them apart (SER-7). A difference
/// between versions is a cell of its own: a failure on that column, never a harness error.
#[test]
fn a_behaviour_that_differs_between_versions_is_a_cell_of_its_own() {
    engine();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "--backend",
        "mariadb",
        "--store",
        "node:knex-mysql",
        "-k",
        "serialization.sid-normalization",
        "--no-progress",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failures, not bad input or an incomplete run; stderr:\n{stderr}");
    let results = std::fs::read_to_string(out_dir.path().join("results.jsonl")).unwrap();
    let outcomes: Vec<(String, String)> = results
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "result")
        .map(|r| (r["target"].as_str().unwrap().to_owned(), r["outcome"].as_str().unwrap().to_owned()))
        .collect();
    let mut outcomes = outcomes;
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("node:knex-mysql@10.11".to_owned(), "pass".to_owned()),
            ("node:knex-mysql@10.5".to_owned(), "pass".to_owned()),
            ("node:knex-mysql@11.8".to_owned(), "fail".to_owned()),
        ]
    );
    let matrix = std::fs::read_to_string(out_dir.path().join("matrix.md")).unwrap();
    // Each version is a row of its own in the summary: 10.5 and 10.11 conform, 11.8 has one
    // MUST failure, listed under its own section with the scenario.
    let row = |column: &str| {
        matrix
            .lines()
            .find(|l| l.starts_with(&format!("| [node:knex-mysql@{column}]")))
            .unwrap_or_else(|| panic!("{column}'s row:\n{matrix}"))
    };
    assert!(row("10.5").contains("| ✅ none | ✅ none | 1/1 |"), "{}", row("10.5"));
    assert!(row("10.11").contains("| ✅ none | ✅ none | 1/1 |"), "{}", row("10.11"));
    assert!(row("11.8").contains("| ❌ 1 | ✅ none | 0/1 |"), "{}", row("11.8"));
    let section = &matrix[matrix.find("### node:knex-mysql@11.8").expect("11.8's section")..];
    assert!(section.contains("❌ fail (MUST) [`serialization.sid-normalization`]"), "{section}");
}

/// The provider order per backend: an explicit URL, then a container, then a local process, else
/// "not available" with every step's reason; never a silent skip.
#[test]
fn providers_are_tried_in_order_and_a_missing_backend_names_every_reason() {
    engine();
    let redis = std::env::var("SESSIONSPEC_REDIS_URL")
        .expect("SESSIONSPEC_REDIS_URL must name a Redis 7 server: eval \"$(harness/backends/services.sh redis)\"");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let header = |dir: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(Path::new(dir).join("results.jsonl")).unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    };

    // An explicit URL for a version wins, and is checked to be that version.
    let given = format!("redis:7={redis}");
    let ok = command(&["run", "--backend", &given, "--store", "redis", "-k", "core.get-missing", "--out", out])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(!text(&ok.stderr).contains("carry the label"), "no container for an explicit URL");
    let target = &header(out)["targets"][0];
    assert_eq!(
        (target["id"].as_str(), target["provider"].as_str()),
        (Some("redis@7"), Some("url (--backend KIND:VERSION=URL)"))
    );
    let wrong = format!("redis:6={redis}");
    let bad = run(&["run", "--backend", &wrong, "--store", "redis", "-k", "core.get-missing"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("is Redis 7.0."), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains(", not redis:6"), "{}", text(&bad.stderr));

    // No URL and no version asked: the matrix's default version, in a container.
    let default = command(&["run", "--store", "redis", "-k", "core.get-missing", "--out", out])
        .env_remove("SESSIONSPEC_REDIS_URL")
        .output()
        .unwrap();
    assert_eq!(default.status.code(), Some(0), "{}", text(&default.stderr));
    assert_eq!(header(out)["targets"][0]["id"], "redis@7");

    // Without containers, the local process serves only its own version; anything else is named.
    let local =
        command(&["run", "--no-containers", "--backend", "redis:6", "--store", "redis", "-k", "core.get-missing"])
            .env_remove("SESSIONSPEC_REDIS_URL")
            .output()
            .unwrap();
    assert_eq!(local.status.code(), Some(2));
    let stderr = text(&local.stderr);
    assert!(stderr.contains("error: store `redis` cannot run: redis:6 is not available:"), "{stderr}");
    assert!(stderr.contains("  - container: containers are turned off"), "{stderr}");
    assert!(stderr.contains("  - local process: harness/backends/services.sh up redis serves Redis 7.0."), "{stderr}");
}

/// RES-8's oracle: a store that keeps its expiry as a UTC `timestamp without time zone` and
/// compares it with the server's now() (stores/express-adapter/test/fixtures/server-time-store.js)
/// passes on the plain PostgreSQL 15 and is caught on every environment entry that varies it: a
/// session hidden at once (server time zone UTC+14, server clock 2 h ahead), or still there after
/// its cookie expired (connection time zone UTC-11). Each column's version cell says which.
#[test]
fn a_store_on_the_servers_clock_is_caught_on_every_environment_entry_and_passes_on_the_plain_one() {
    engine();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "--store",
        "./stores/express-adapter/test/fixtures/server-time-store.js",
        "--backend",
        "postgres:15",
        "--backend",
        "postgres:15-tz-kiritimati",
        "--backend",
        "postgres:15-clock-plus2h",
        "--backend",
        "postgres:15-session-tz-minus11",
        "-k",
        "expiry.whatever-server-time",
        "--no-progress",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failures, not bad input or an incomplete run; stderr:\n{stderr}");
    let results = std::fs::read_to_string(out_dir.path().join("results.jsonl")).unwrap();
    let mut outcomes: Vec<(String, String, String)> = results
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "result")
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r.to_string().contains("expected a session, found nothing").to_string(),
            )
        })
        .collect();
    outcomes.sort();
    let row = |t: &str, o: &str, hidden: bool| (format!("js:server-time-store@{t}"), o.to_owned(), hidden.to_string());
    assert_eq!(
        outcomes,
        [
            row("15", "pass", false),
            row("15-clock-plus2h", "fail", true),
            row("15-session-tz-minus11", "fail", false),
            row("15-tz-kiritimati", "fail", true),
        ],
        "{stderr}"
    );
    let header: serde_json::Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    let version = |id: &str| {
        header["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["backend_version"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert!(
        version("js:server-time-store@15-tz-kiritimati").ends_with("(server time zone Pacific/Kiritimati)"),
        "{header}"
    );
    assert!(version("js:server-time-store@15-clock-plus2h").contains("(server clock +2h, measured +7"), "{header}");
    let plain = version("js:server-time-store@15");
    assert!(plain.starts_with("15.") && !plain.contains("time zone") && !plain.contains("clock"), "{header}");
}

/// An environment entry never runs on a server that is not in its environment: a plain server
/// given as its URL is refused, with what was expected and what was found.
#[test]
fn an_environment_entry_given_a_plain_server_is_refused() {
    engine();
    let url = std::env::var("SESSIONSPEC_POSTGRES_URL")
        .expect("SESSIONSPEC_POSTGRES_URL must name a PostgreSQL 15 server in UTC: eval \"$(harness/backends/services.sh postgres)\"");
    let given = format!("postgres:15-tz-kiritimati={url}");
    let out = run(&["run", "--backend", &given, "--store", "sql-postgres", "-k", "core.get-missing"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not 15 (server time zone Pacific/Kiritimati, UTC+14): expected server time zone Pacific/Kiritimati, the server says"),
        "{}",
        text(&out.stderr)
    );
}
