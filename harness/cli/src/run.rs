//! `sessionspec run`: resolve targets, load and select the suite, run it with a progress bar,
//! and write results.jsonl, matrix.md and junit.xml.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sessionspec_report::{Record, Results, jsonl, markdown, plural};
use sessionspec_runner::{RunEvent, RunOptions, Runner};
use sessionspec_scenario::Selection;
use sessionspec_targets::Backends;

use crate::suite::{self, LinkBase, Locations};
use crate::{Colors, EXIT_BAD_INPUT, EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK, SuiteArgs};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// A store to run against (repeatable): a catalog name (`sessionspec list stores`), an
    /// express-session store factory file (`./my-store.js`), or `exec:COMMAND` for an adapter in
    /// any language [default: the embedded stores: memory, sql-sqlite]
    #[arg(short, long = "store", value_name = "NAME")]
    stores: Vec<String>,
    #[command(flatten)]
    backends: BackendArgs,
    #[command(flatten)]
    versions: Box<crate::matrix::VersionArgs>,
    /// Only scenarios whose id matches this glob (repeatable), e.g. 'touch.*'
    #[arg(short = 'k', long = "select", value_name = "GLOB")]
    select: Vec<String>,
    /// Only scenarios of this area (repeatable), e.g. expiry
    #[arg(long = "area", value_name = "AREA")]
    areas: Vec<String>,
    /// Only scenarios checking this requirement (repeatable), e.g. TOUCH-3
    #[arg(long = "requirement", value_name = "ID")]
    requirements: Vec<String>,
    /// Where to write results.jsonl, matrix.md and junit.xml [default: target/sessionspec/ in a
    /// sessionspec checkout, else ./sessionspec-results/]
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// What to print on stdout: a human summary, or the results as JSON lines as they happen.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// How many cases run at once.
    #[arg(short, long, default_value_t = 8, value_name = "N")]
    jobs: usize,
    /// The bound on one step (a step's own `timeout` wins).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    step_timeout: Duration,
    /// The bound on one scenario, besides the real time its `advance` steps wait.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    scenario_timeout: Duration,
    /// The most real time a scenario may wait on a store whose expiry runs on its server's
    /// clock; scenarios needing more are not applicable to it.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    real_time_budget: Duration,
    /// Run a failed case again, up to this many times, in a fresh namespace. A case that passes
    /// on a retry counts as a pass but is reported as flaky, with its first failure.
    #[arg(long, default_value_t = 0, value_name = "N")]
    retries: u32,
    /// List not-applicable cases and their reasons in the summary too.
    #[arg(long)]
    show_not_applicable: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    expect: crate::expect::ExpectArgs,
}

/// Where the server-backed stores find their servers.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Backends")]
pub struct BackendArgs {
    /// Redis server for the redis store
    #[arg(long, env = "SESSIONSPEC_REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// PostgreSQL server for the postgres and sql-postgres stores
    #[arg(long, env = "SESSIONSPEC_POSTGRES_URL", hide_env_values = true, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// MySQL or MariaDB server for the sql-mysql store
    #[arg(long, env = "SESSIONSPEC_MYSQL_URL", hide_env_values = true, value_name = "URL")]
    pub mysql_url: Option<String>,
    /// MongoDB (or compatible) server for the mongo store
    #[arg(long, env = "SESSIONSPEC_MONGO_URL", hide_env_values = true, value_name = "URL")]
    pub mongo_url: Option<String>,
}

impl BackendArgs {
    /// The targets crate's view of these flags.
    pub fn backends(&self) -> Backends {
        Backends {
            work_dir: None,
            redis_url: self.redis_url.clone(),
            postgres_url: self.postgres_url.clone(),
            mysql_url: self.mysql_url.clone(),
            mongo_url: self.mongo_url.clone(),
            fault_proxies: false,
            store_backend: None,
            admin_urls: Vec::new(),
            servers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// A summary with every failure and its diff.
    Human,
    /// The results records (header, one per case, footer), one JSON object per line.
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    sessionspec_contract::duration::parse(text)
}

pub async fn run(args: RunArgs, colors: Colors) -> anyhow::Result<u8> {
    crate::expect::load(&args.expect)?;
    let locations = suite::locate(&args.suite)?;
    let Some(suite) = suite::load(&locations, colors.stderr) else {
        eprintln!("fix the scenario problems above, or run `sessionspec lint` for the full report");
        return Ok(EXIT_BAD_INPUT);
    };
    if let Some(problem) = unknown_filter(&suite, &args.areas, &args.requirements) {
        eprintln!("error: {problem}");
        return Ok(EXIT_BAD_INPUT);
    }
    let selection = Selection::new(&args.select, &args.areas, &args.requirements).map_err(anyhow::Error::msg)?;
    let scenarios: Vec<_> = suite.select(&selection).into_iter().cloned().collect();
    if scenarios.is_empty() {
        eprintln!("error: no scenario matches every filter given (`sessionspec list` shows the scenarios)");
        return Ok(EXIT_BAD_INPUT);
    }
    let request = match args.versions.request(locations.root.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let names: Vec<String> = if !args.stores.is_empty() {
        args.stores.clone()
    } else if !request.versions.is_empty() {
        request.default_stores()
    } else {
        sessionspec_targets::embedded().into_iter().map(str::to_owned).collect()
    };
    let runner = Runner::new(RunOptions {
        jobs: args.jobs,
        step_timeout: args.step_timeout,
        scenario_timeout: args.scenario_timeout,
        real_time_budget: args.real_time_budget,
        retries: args.retries,
        ..RunOptions::default()
    });
    // Watching from before the first container starts: a signal at any point removes them.
    let interrupts = crate::matrix::Interrupts::watch(runner.cancel_handle(), request.run.clone());
    // Scenarios causing faults need a fault proxy between each server-backed store and its server.
    let backends = Backends { fault_proxies: scenarios.iter().any(|s| s.uses_faults()), ..args.backends.backends() };
    let provisioned = match sessionspec_targets::provision(&names, &backends, &request, &interrupts).await {
        Ok(p) => p,
        Err(sessionspec_targets::ProvideError::Interrupted) => {
            eprintln!("interrupted while starting backends: nothing ran, and every container started was removed");
            return Ok(EXIT_INCOMPLETE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let targets = provisioned.targets.clone();

    let out_dir = output_dir(args.out.as_deref(), &locations);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let results_path = out_dir.join("results.jsonl");
    let mut header = Runner::header(&suite.spec, &suite.digest, &targets);
    for t in &mut header.targets {
        t.provider = provisioned.providers.get(&t.id).cloned();
    }
    let file = File::create(&results_path).with_context(|| format!("cannot create {}", results_path.display()))?;
    let mut writer = jsonl::Writer::new(BufWriter::new(file), &header)?;
    let json_stdout = args.format == OutputFormat::Json;
    if json_stdout {
        print_record(&Record::Header(header.clone()));
    }

    let total = (scenarios.len() * targets.len()) as u64;
    let progress = if args.no_progress || json_stdout && !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    };
    eprintln!(
        "running {} on {} ({})",
        plural(scenarios.len(), "scenario", "scenarios"),
        targets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
        plural(total as usize, "case", "cases")
    );

    let mut write_error = None;
    let summary = runner
        .run(&scenarios, &suite.spec, &targets, |event| match event {
            RunEvent::CaseStarted { scenario, target } => progress.set_message(format!("{scenario} on {target}")),
            RunEvent::CaseFinished(result) => {
                progress.inc(1);
                if result.outcome.is_failure() {
                    progress.println(format!(
                        "{} {} on {}",
                        result.outcome.name().to_uppercase(),
                        result.scenario,
                        result.target
                    ));
                }
                if let Err(e) = writer.result(&result) {
                    write_error.get_or_insert(e);
                }
                if json_stdout {
                    print_record(&Record::Result(result));
                }
            }
        })
        .await;
    progress.finish_and_clear();
    match provisioned.release().await {
        Ok(0) => {}
        Ok(n) => eprintln!("removed {}", plural(n, "container", "containers")),
        Err(e) => eprintln!("error: {e}"),
    }
    drop(interrupts);
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("cannot write {}", results_path.display()));
    }
    writer.finish(&summary.footer).with_context(|| format!("cannot write {}", results_path.display()))?;
    if json_stdout {
        print_record(&Record::Footer(summary.footer.clone()));
    }

    let results = Results { header, results: summary.results, footer: Some(summary.footer) };
    // Reports name scenario files relative to the scenarios directory's parent; links start there.
    let links = markdown::Links {
        root: match locations.link_base() {
            LinkBase::Dir(project) => link_root(&out_dir, Some(&project)),
            LinkBase::Url(url) => url,
        },
    };
    let matrix_path = out_dir.join("matrix.md");
    let known: Vec<_> = crate::expect::load(&args.expect)?.into_iter().map(|(_, e)| e).collect();
    std::fs::write(&matrix_path, markdown::render(&results, &links, &known))
        .with_context(|| format!("cannot write {}", matrix_path.display()))?;
    let ids = suite.scenarios.iter().map(|s| s.id.clone()).collect();
    let applied = crate::expect::apply(&args.expect, &results, &ids)?;
    let junit_path = out_dir.join("junit.xml");
    let junit = sessionspec_report::junit::render(&results, applied.as_ref().map(|a| a.judged()));
    std::fs::write(&junit_path, junit).with_context(|| format!("cannot write {}", junit_path.display()))?;
    if !json_stdout {
        out!("{}", sessionspec_report::summary::render(&results, colors.stdout, args.show_not_applicable));
    }
    eprintln!("\nwrote {}, {} and {}", shown(&results_path), shown(&matrix_path), shown(&junit_path));
    Ok(crate::expect::finish(applied.as_ref(), &results, exit_code(&results), json_stdout))
}

/// An --area or --requirement value that names nothing in the suite, said with what is known.
fn unknown_filter(suite: &sessionspec_scenario::Suite, areas: &[String], requirements: &[String]) -> Option<String> {
    let mut known_areas: Vec<&str> = suite.scenarios.iter().map(|s| s.area.as_str()).collect();
    known_areas.sort_unstable();
    known_areas.dedup();
    let hint = |given: &str, known: &[&str]| {
        known
            .iter()
            .map(|k| (strsim::levenshtein(given, k), *k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 4))
            .min()
            .map(|(_, k)| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default()
    };
    if let Some(area) = areas.iter().find(|a| !known_areas.contains(&a.as_str())) {
        return Some(format!(
            "--area `{area}` is no area of the suite{}; the areas are: {}",
            hint(area, &known_areas),
            known_areas.join(", ")
        ));
    }
    let ids: Vec<&str> = suite.spec.requirements.iter().map(|r| r.id.as_str()).collect();
    if let Some(id) = requirements.iter().find(|r| !ids.contains(&r.as_str())) {
        return Some(format!(
            "--requirement `{id}` is no requirement of spec {}{}; `sessionspec list requirements` shows all {}",
            suite.spec.version,
            hint(id, &ids),
            ids.len()
        ));
    }
    None
}

/// A path as the user would type it: relative to the current directory when below it.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

/// The exit code a set of results stands for.
pub fn exit_code(results: &Results) -> u8 {
    if results.incomplete() {
        EXIT_INCOMPLETE
    } else if results.has_failures() {
        EXIT_FAILURES
    } else {
        EXIT_OK
    }
}

fn print_record(record: &Record) {
    outln!("{}", serde_json::to_string(record).expect("records serialize"));
}

fn output_dir(out: Option<&Path>, locations: &Locations) -> PathBuf {
    match (out, &locations.root) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(root)) => root.join("target").join("sessionspec"),
        (None, None) => PathBuf::from("sessionspec-results"),
    }
}

/// The relative path from `dir` up to the project root, for links in matrix.md.
pub fn link_root(dir: &Path, root: Option<&Path>) -> String {
    let (Some(root), Ok(dir)) = (root, std::path::absolute(dir)) else { return String::new() };
    let (Ok(dir), Ok(root)) = (dir.canonicalize(), root.canonicalize()) else { return String::new() };
    match dir.strip_prefix(&root) {
        Ok(rel) => "../".repeat(rel.components().count()),
        Err(_) => format!("{}/", root.display()),
    }
}
