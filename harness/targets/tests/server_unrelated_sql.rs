//! The harness leaves unrelated data alone (issue 4): tables and rows seeded in the PostgreSQL
//! and MySQL/MariaDB servers (the stores' default table names in the default schema and
//! database, schemas and databases named like the run's namespaces, one of them exactly like a
//! namespace the run will use) are unchanged, layout and rows, after the whole suite ran against
//! the `postgres`, `sql-postgres` and `sql-mysql` stores; and the run leaves nothing of its own.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use futures::FutureExt;
use sessionspec_runner::{RunOptions, Runner};
use sessionspec_scenario::Suite;
use sessionspec_targets::{BackendKind, Backends, Family};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Executor};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs PostgreSQL and MySQL/MariaDB servers \
             (eval \"$(harness/backends/services.sh)\" starts or finds them and exports their URLs)"
        )
    })
}

/// A seeded table: where it is, and whether this test created it (and so removes it).
struct Seed {
    table: String,
    created: bool,
}

/// A table's layout and rows, as text.
async fn pg_snapshot(pool: &PgPool, schema: &str, table: &str) -> Vec<String> {
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT row_to_json(t)::text FROM \"{schema}\".\"{table}\" t ORDER BY row_to_json(t)::text"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    out.extend(rows);
    out
}

async fn mysql_snapshot(pool: &MySqlPool, database: &str, table: &str) -> Vec<String> {
    let (_, create): (String, String) =
        sqlx::query_as(AssertSqlSafe(format!("SHOW CREATE TABLE `{database}`.`{table}`")))
            .fetch_one(pool)
            .await
            .unwrap();
    let (_, checksum): (String, Option<i64>) =
        sqlx::query_as(AssertSqlSafe(format!("CHECKSUM TABLE `{database}`.`{table}` EXTENDED")))
            .fetch_one(pool)
            .await
            .unwrap();
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM `{database}`.`{table}`")))
        .fetch_one(pool)
        .await
        .unwrap();
    vec![create, format!("checksum {checksum:?}"), format!("{count} rows")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_sql_stores_leaves_unrelated_tables_unchanged() {
    let (pg_url, mysql_url) = (env("SESSIONSPEC_POSTGRES_URL"), env("SESSIONSPEC_MYSQL_URL"));
    let pg = PgPool::connect(&pg_url).await.unwrap();
    let my = MySqlPool::connect(&mysql_url).await.unwrap();
    let my_default: String = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&my).await.unwrap();
    // The run's namespaces are `ss{token}_{n}`, numbered in queue order: scenario by scenario,
    // target by target. So `ss{token}_1` is the first scenario's namespace on the second target
    // (sql-postgres) and `ss{token}_2` on the third (sql-mysql).
    let token = sessionspec_runner::run_token();
    let ns = format!("ss{token}");
    let live = "2100-01-01 00:00:00";
    let row = |sid: &str| format!("('{sid}', '{{\"cookie\":{{}},\"seed\":\"{sid}\"}}', '{live}')");

    // PostgreSQL: the default names in `public`, and schemas next to the run's namespaces.
    let mut pg_seeds: Vec<(String, Seed)> = Vec::new();
    for table in ["session", "sessions"] {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(format!("public.{table}"))
            .fetch_one(&pg)
            .await
            .unwrap();
        if exists.is_none() {
            pg.execute(AssertSqlSafe(format!(
                "CREATE TABLE public.\"{table}\" (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp NOT NULL); \
                 INSERT INTO public.\"{table}\" VALUES {}, {}",
                row("a"),
                row(&format!("{token}-b"))
            )))
            .await
            .unwrap();
        }
        pg_seeds.push(("public".into(), Seed { table: table.into(), created: exists.is_none() }));
    }
    for schema in [ns.clone(), format!("{ns}_1"), format!("{ns}_0x"), format!("{ns}_10_b")] {
        pg.execute(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .await
            .unwrap_or_else(|e| panic!("seeding schema {schema}: {e}"));
        for table in ["session", "sessions"] {
            pg.execute(AssertSqlSafe(format!(
                "CREATE TABLE \"{schema}\".\"{table}\" (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp NOT NULL); \
                 INSERT INTO \"{schema}\".\"{table}\" VALUES {}, {}",
                row("a"),
                row("b")
            )))
            .await
            .unwrap();
            pg_seeds.push((schema.clone(), Seed { table: table.into(), created: true }));
        }
    }

    // MySQL: `sessions` in the URL's database, and databases next to the run's namespaces.
    let mut my_seeds: Vec<(String, Seed)> = Vec::new();
    let create = |db: &str| {
        format!(
            "CREATE TABLE `{db}`.`sessions` (sid varchar(255) PRIMARY KEY, sess longtext NOT NULL, expired datetime NOT NULL); \
             INSERT INTO `{db}`.`sessions` VALUES {}, {}, {}",
            row("a"),
            row("b"),
            row(&format!("{token}-b"))
        )
    };
    let default_has: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'sessions'",
    )
    .fetch_one(&my)
    .await
    .unwrap();
    if default_has == 0 {
        my.execute(AssertSqlSafe(create(&my_default))).await.unwrap();
    }
    my_seeds.push((my_default.clone(), Seed { table: "sessions".into(), created: default_has == 0 }));
    for database in [ns.clone(), format!("{ns}_2"), format!("{ns}_0x"), format!("{ns}_10_b")] {
        my.execute(AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
            .await
            .unwrap_or_else(|e| panic!("seeding database {database}: {e}"));
        my.execute(AssertSqlSafe(create(&database))).await.unwrap();
        my_seeds.push((database, Seed { table: "sessions".into(), created: true }));
    }

    let checked = AssertUnwindSafe(check(&pg, &my, &my_default, &token, &pg_url, &mysql_url, &pg_seeds, &my_seeds))
        .catch_unwind()
        .await;

    // Seeds go whatever happened, so a failed run leaves nothing behind either.
    let mut schemas: Vec<&String> = pg_seeds.iter().map(|(s, _)| s).filter(|s| *s != "public").collect();
    schemas.dedup();
    for schema in schemas {
        pg.execute(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE"))).await.unwrap();
    }
    for (schema, seed) in pg_seeds.iter().filter(|(s, seed)| s == "public" && seed.created) {
        pg.execute(AssertSqlSafe(format!("DROP TABLE \"{schema}\".\"{}\"", seed.table))).await.unwrap();
    }
    for (database, seed) in &my_seeds {
        if database != &my_default {
            my.execute(AssertSqlSafe(format!("DROP DATABASE `{database}`"))).await.unwrap();
        } else if seed.created {
            my.execute(AssertSqlSafe(format!("DROP TABLE `{my_default}`.`sessions`"))).await.unwrap();
        }
    }
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

/// Runs the suite between two snapshots of every seed, and checks them and what is left.
#[allow(clippy::too_many_arguments)]
async fn check(
    pg: &PgPool,
    my: &MySqlPool,
    my_default: &str,
    token: &str,
    pg_url: &str,
    mysql_url: &str,
    pg_seeds: &[(String, Seed)],
    my_seeds: &[(String, Seed)],
) {
    let (pg, my) = (pg.clone(), my.clone());
    let ns = format!("ss{token}");
    let mut before = BTreeMap::new();
    for (schema, seed) in pg_seeds {
        before.insert(format!("pg {schema}.{}", seed.table), pg_snapshot(&pg, schema, &seed.table).await);
    }
    for (database, seed) in my_seeds {
        before.insert(format!("mysql {database}.{}", seed.table), mysql_snapshot(&my, database, &seed.table).await);
    }

    // The whole suite, as `sessionspec run --store postgres --store sql-postgres --store
    // sql-mysql` runs it, with this test's token.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (suite, problems) = Suite::load(&root.join("scenarios"), &root.join("spec"));
    assert!(problems.is_empty(), "the suite has problems: {problems:?}");
    let suite = suite.expect("a suite");
    let backends = Backends {
        postgres_url: Some(pg_url.to_owned()),
        mysql_url: Some(mysql_url.to_owned()),
        ..Backends::default()
    };
    // Every reference store of the catalog on PostgreSQL or MariaDB.
    let names: Vec<String> = sessionspec_targets::STORES
        .iter()
        .filter(|s| s.family == Family::Reference)
        .filter(|s| matches!(s.backend, Some(BackendKind::Postgres | BackendKind::Mariadb)))
        .map(|s| s.name.to_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let resolved = sessionspec_targets::resolve(&names, &backends).await.expect("the SQL targets");
    let runner = Runner::new(RunOptions { run_token: token.to_owned(), ..RunOptions::default() });
    let summary = runner.run(&suite.scenarios, &suite.spec, &resolved.targets, |_| {}).await;
    drop(resolved);
    assert!(!summary.footer.incomplete, "the run did not finish: {:?}", summary.footer.reason);
    for target in names {
        assert!(
            summary.results.iter().any(|r| r.target == target && r.outcome.name() == "pass"),
            "no scenario passed on {target}: the run did not exercise the store"
        );
    }
    // The only cases allowed to go wrong are the two whose namespace was seeded: the harness
    // must refuse to work in (and so to drop) a schema or database it did not create.
    for r in &summary.results {
        if matches!(r.outcome.name(), "pass" | "not-applicable") {
            continue;
        }
        let message = r.detail.as_ref().map(|d| d.message.clone()).unwrap_or_default();
        assert!(
            message.contains("already exists and was not created by this harness"),
            "{} on {}: {} ({message})",
            r.scenario,
            r.target,
            r.outcome.name()
        );
    }

    for (schema, seed) in pg_seeds {
        let key = format!("pg {schema}.{}", seed.table);
        assert_eq!(pg_snapshot(&pg, schema, &seed.table).await, before[&key], "{key} changed");
    }
    for (database, seed) in my_seeds {
        let key = format!("mysql {database}.{}", seed.table);
        assert_eq!(mysql_snapshot(&my, database, &seed.table).await, before[&key], "{key} changed");
    }
    // Nothing of the run's own is left: only the seeded schemas and databases carry the token.
    let pattern = format!("{ns}%");
    let mut pg_left: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1 ORDER BY 1")
            .bind(&pattern)
            .fetch_all(&pg)
            .await
            .unwrap();
    let mut my_left: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE ? ORDER BY 1",
    )
    .bind(&pattern)
    .fetch_all(&my)
    .await
    .unwrap();
    pg_left.sort();
    my_left.sort();
    let mut pg_seeded: Vec<String> = pg_seeds.iter().map(|(s, _)| s.clone()).filter(|s| s != "public").collect();
    pg_seeded.dedup();
    pg_seeded.sort();
    let mut my_seeded: Vec<String> = my_seeds.iter().map(|(d, _)| d.clone()).filter(|d| d != my_default).collect();
    my_seeded.sort();
    assert_eq!(pg_left, pg_seeded, "the run left schemas behind, or removed seeds");
    assert_eq!(my_left, my_seeded, "the run left databases behind, or removed seeds");
}
