//! The container provider against a real Docker engine (harness/backends/docker-engine.sh) with
//! the matrix's images (harness/backends/images/build.sh where no registry is reachable).

use std::path::Path;

use sessionspec_containers::{Fleet, ImagePolicy, Matrix, list_run, run_id};

fn matrix() -> Matrix {
    Matrix::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../backends/matrix.toml")).expect("the matrix parses")
}

async fn fleet(run: &str) -> Fleet {
    Fleet::connect(run, ImagePolicy::Auto).await.unwrap_or_else(|e| {
        panic!("{e}\nthese tests need a Docker engine: export DOCKER_HOST=\"$(harness/backends/docker-engine.sh)\"")
    })
}

async fn labelled(run: &str) -> Vec<String> {
    let docker = testcontainers::bollard::Docker::connect_with_defaults().expect("a Docker client");
    let docker = docker.negotiate_version().await.expect("the engine answers");
    list_run(&docker, run).await.expect("containers can be listed")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_starts_answers_with_its_version_and_is_removed_by_its_run_label() {
    let matrix = matrix();
    let run = run_id();
    let fleet = fleet(&run).await;
    let never = || false;
    let wanted = ["postgres:13", "redis:valkey-8", "mariadb:11.8", "mongo:secantus-0.7.0b3"];
    let starts = wanted.map(|key| {
        let backend = matrix.select(key).expect("in the matrix")[0].clone();
        let fleet = &fleet;
        async move { (key, fleet.start(&backend, &never).await) }
    });
    let started = futures::future::join_all(starts).await;
    assert_eq!(labelled(&run).await.len(), wanted.len(), "one labelled container per backend");
    let mut seen = Vec::new();
    for (key, s) in started {
        let s = s.unwrap_or_else(|e| panic!("{key} did not start: {e}"));
        assert!(s.server.is(&s.backend), "{key}: the server says it is {}", s.server);
        assert!(s.url.contains("127.0.0.1:"), "{key}: {}", s.url);
        seen.push(format!("{key} -> {}", s.server));
    }
    assert_eq!(
        seen.iter().map(|l| l.split_once(" -> ").unwrap().1.split(' ').next().unwrap()).collect::<Vec<_>>(),
        ["PostgreSQL", "Valkey", "MariaDB", "SecantusDB"],
        "{seen:#?}"
    );
    assert_eq!(fleet.remove_all().await.expect("removal works"), wanted.len());
    assert!(labelled(&run).await.is_empty(), "nothing of run {run} is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_start_and_a_dropped_fleet_leave_nothing_behind() {
    let matrix = matrix();
    let run = run_id();
    let fleet = fleet(&run).await;
    let backend = matrix.select("postgres:17").expect("in the matrix")[0].clone();
    let interrupted = || true;
    let err = fleet.start(&backend, &interrupted).await.expect_err("an interrupted start fails");
    assert_eq!(err.to_string(), "postgres:17: interrupted while starting");
    assert_eq!(labelled(&run).await.len(), 1, "the container exists until the fleet removes it");
    // Dropping the fleet without remove_all (a panic's unwinding) still removes it.
    drop(fleet);
    assert!(labelled(&run).await.is_empty(), "nothing of run {run} is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_local_image_names_the_build_command() {
    let mut backend = matrix().select("redis:7").expect("in the matrix")[0].clone();
    backend.official = "sessionspec-nonexistent/redis:0".into();
    backend.local = "sessionspec/redis:does-not-exist".into();
    let run = run_id();
    let fleet = fleet(&run).await;
    let err = fleet.start(&backend, &|| false).await.expect_err("no image, no container").to_string();
    assert!(err.starts_with("redis:7: official image sessionspec-nonexistent/redis:0 cannot be pulled ("), "{err}");
    assert!(
        err.ends_with("local image sessionspec/redis:does-not-exist is not built: run harness/backends/images/build.sh redis:does-not-exist"),
        "{err}"
    );
    assert!(labelled(&run).await.is_empty());
}

/// The environment entries start with the time zone or clock their entry names, checked on the
/// server; and what the Rust clients the stores use see of it, pinned so the README stays true.
#[tokio::test(flavor = "multi_thread")]
async fn environment_entries_run_with_their_time_zone_or_clock_and_the_check_catches_a_plain_server() {
    use sqlx::Connection;
    let matrix = matrix();
    let run = run_id();
    let fleet = fleet(&run).await;
    let never = || false;
    let wanted = [
        "postgres:15-tz-kiritimati",
        "postgres:15-clock-plus2h",
        "postgres:15-session-tz-minus11",
        "mariadb:10.11-tz-minus12",
        "mariadb:10.11-clock-minus2h",
        "postgres:15",
    ];
    let starts = wanted.map(|key| {
        let backend = matrix.select(key).expect("in the matrix")[0].clone();
        let fleet = &fleet;
        async move { (key, fleet.start(&backend, &never).await) }
    });
    let mut started = std::collections::BTreeMap::new();
    for (key, s) in futures::future::join_all(starts).await {
        let s = s.unwrap_or_else(|e| panic!("{key} did not start: {e}"));
        assert!(s.server.is(&s.backend), "{key}: the server says it is {}", s.server);
        started.insert(key, s);
    }
    let detail = |key: &str| started[key].server.detail.clone().unwrap_or_default();
    assert!(
        detail("postgres:15-tz-kiritimati") == "server time zone Pacific/Kiritimati",
        "{}",
        detail("postgres:15-tz-kiritimati")
    );
    assert!(detail("mariadb:10.11-tz-minus12") == "server time zone -12:00", "{}", detail("mariadb:10.11-tz-minus12"));
    assert!(
        detail("postgres:15-clock-plus2h").starts_with("server clock +2h, measured +7"),
        "{}",
        detail("postgres:15-clock-plus2h")
    );
    assert!(
        detail("mariadb:10.11-clock-minus2h").starts_with("server clock -2h, measured -7"),
        "{}",
        detail("mariadb:10.11-clock-minus2h")
    );
    let session = detail("postgres:15-session-tz-minus11");
    assert_eq!(session, "connection time zone Pacific/Pago_Pago (URL options)");
    assert!(started["postgres:15-session-tz-minus11"].url.ends_with("?options=-c%20TimeZone%3DPacific%2FPago_Pago"));
    assert_eq!(started["postgres:15"].server.detail, None, "a plain entry is not asked");

    // The check can fail: a plain server offered as an environment entry is refused.
    let tz = matrix.select("postgres:15-tz-kiritimati").unwrap()[0].clone();
    let err = sessionspec_containers::probe::check_environment(&tz, &started["postgres:15"].url).await.unwrap_err();
    assert!(err.starts_with("expected server time zone Pacific/Kiritimati, the server says Etc/UTC"), "{err}");
    let clock = matrix.select("postgres:15-clock-plus2h").unwrap()[0].clone();
    let err = sessionspec_containers::probe::check_environment(&clock, &started["postgres:15"].url).await.unwrap_err();
    assert!(err.starts_with("expected the server clock +2h (+7200 s) from this machine's, measured +0 s"), "{err}");

    // sqlx (the Rust stores' driver) sends TimeZone=UTC at startup: its sessions never see the
    // server's default, and that parameter wins over `options=-c TimeZone=...` in the URL.
    for url in [&started["postgres:15-tz-kiritimati"].url, &started["postgres:15-session-tz-minus11"].url] {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
        let zone: String = sqlx::query_scalar("SHOW TimeZone").fetch_one(&mut conn).await.unwrap();
        assert_eq!(zone, "UTC", "{url}");
        conn.close().await.unwrap();
    }
    // sqlx's MySQL sessions set time_zone '+00:00' unless the URL's `timezone` says otherwise.
    let my_url = &started["mariadb:10.11-tz-minus12"].url;
    for (url, want) in [(my_url.clone(), "+00:00"), (format!("{my_url}?timezone=%2B05:00"), "+05:00")] {
        let mut conn = sqlx::MySqlConnection::connect(&url).await.expect("connects");
        let (session, global): (String, String) =
            sqlx::query_as("SELECT CAST(@@session.time_zone AS CHAR), CAST(@@global.time_zone AS CHAR)")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((session.as_str(), global.as_str()), (want, "-12:00"), "{url}");
        conn.close().await.unwrap();
    }
    assert_eq!(fleet.remove_all().await.expect("removal works"), wanted.len());
    assert!(labelled(&run).await.is_empty(), "nothing of run {run} is left");
}
