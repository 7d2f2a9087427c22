//! A server password given to the CLI appears in no output: not on stdout or stderr of a run
//! whose connection fails, not in results.jsonl, matrix.md, junit.xml, the HTML or Markdown
//! report, not in an adapter's stderr excerpt. The password holds `@`, `:` and `%40`, so it is
//! masked whole only by a redactor that takes the user info to the last `@`, and it is checked
//! for as written and percent-decoded (as a driver uses it). No server is needed: every URL
//! points at 127.0.0.1:1, where nothing answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Four distinct pieces, so that a password cut at the wrong `@` or `:` is caught too.
const PASSWORD: &str = "Qv9secret@Kx7half:Jz3end%40Wm5tail";
const PIECES: [&str; 4] = ["Qv9secret", "Kx7half", "Jz3end", "Wm5tail"];

/// Each URL kind the CLI takes: flag, environment variable, URL.
fn urls() -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("--postgres-url", "SESSIONSPEC_POSTGRES_URL", format!("postgres://app:{PASSWORD}@127.0.0.1:1/app")),
        ("--mysql-url", "SESSIONSPEC_MYSQL_URL", format!("mysql://root:{PASSWORD}@127.0.0.1:1/test")),
        ("--redis-url", "SESSIONSPEC_REDIS_URL", format!("redis://user:{PASSWORD}@127.0.0.1:1/0")),
        ("--mongo-url", "SESSIONSPEC_MONGO_URL", format!("mongodb://app:{PASSWORD}@127.0.0.1:1/test")),
    ]
}

fn sessionspec(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessionspec"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SESSIONSPEC_SCENARIOS")
        .env_remove("SESSIONSPEC_SPEC");
    for (_, var, _) in urls() {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails naming `what` and the piece of the password found in `content`.
fn assert_no_password(what: &str, content: &str) {
    for piece in PIECES {
        assert!(!content.contains(piece), "{what} shows the password (`{piece}`):\n{content}");
    }
}

#[test]
fn a_store_that_cannot_connect_shows_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let urls = urls();
    for store in ["postgres", "sql-postgres", "sql-mysql", "redis", "mongo"] {
        // The URLs as flags, then as environment variables.
        let mut args = vec!["run", "--no-progress", "-k", "core.get-missing", "--store", store];
        for (flag, _, url) in &urls {
            args.extend([*flag, url.as_str()]);
        }
        let env: Vec<(&str, &str)> = urls.iter().map(|(_, var, url)| (*var, url.as_str())).collect();
        for (how, args, env) in [("flags", args.clone(), vec![]), ("environment", args[..6].to_vec(), env)] {
            let out = sessionspec(&args, &env, dir.path());
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "{store} ({how}): a store that cannot run is bad input:\n{stderr}");
            assert!(
                stderr.contains(&format!("store `{store}` cannot run: ")),
                "{store} ({how}): the failure is the connection's:\n{stderr}"
            );
            assert_no_password(&format!("{store} ({how}) stdout"), &stdout);
            assert_no_password(&format!("{store} ({how}) stderr"), &stderr);
        }
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn an_adapters_stderr_and_every_report_show_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let adapter = format!(
        "exec:'{}' '{}'",
        fixtures().join("adapters/echo-env-then-die.sh").display(),
        env!("CARGO_BIN_EXE_sessionspec")
    );
    let urls = urls();
    let env: Vec<(&str, &str)> = urls.iter().map(|(_, var, url)| (*var, url.as_str())).collect();
    let run = sessionspec(
        &["run", "--no-progress", "-k", "core.get-missing", "--store", &adapter, "--out", out.to_str().unwrap()],
        &env,
        dir.path(),
    );
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "the case errors:\n{stdout}{stderr}");
    assert_no_password("stdout", &stdout);
    assert_no_password("stderr", &stderr);

    let results = out.join("results.jsonl");
    let report = |format: &str, file: &str| {
        let path = out.join(file);
        let rendered = sessionspec(
            &["report", results.to_str().unwrap(), "--format", format, "--out", path.to_str().unwrap()],
            &[],
            dir.path(),
        );
        assert_eq!(rendered.status.code(), Some(1), "report --format {format}: {}", text(&rendered.stderr));
        assert_no_password(&format!("report --format {format} output"), &text(&rendered.stdout));
        path
    };
    let html = report("html", "report.html");
    let markdown = report("markdown", "report.md");
    for path in [results.clone(), out.join("matrix.md"), out.join("junit.xml"), html, markdown] {
        let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_no_password(&path.display().to_string(), &content);
    }

    // The excerpt is there, masked: the adapter printed each URL and the password, decoded too.
    let results = std::fs::read_to_string(&results).unwrap();
    for expected in [
        "SESSIONSPEC_POSTGRES_URL=postgres://app:****@127.0.0.1:1/app",
        "SESSIONSPEC_MYSQL_URL=mysql://root:****@127.0.0.1:1/test",
        "SESSIONSPEC_REDIS_URL=redis://user:****@127.0.0.1:1/0",
        "SESSIONSPEC_MONGO_URL=mongodb://app:****@127.0.0.1:1/test",
        "password: **** (decoded: ****)",
    ] {
        assert!(results.contains(expected), "the stderr excerpt in results.jsonl has `{expected}`:\n{results}");
    }
}
