//! `sessionspec list`, `lint`: what the suite holds and whether it is sound.

use clap::{Args, ValueEnum};
use sessionspec_scenario::{Level, Suite};

use crate::suite::{self, print_problems};
use crate::{Colors, EXIT_BAD_INPUT, EXIT_OK, SuiteArgs};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum, default_value_t = ListWhat::Scenarios)]
    what: ListWhat,
    #[command(flatten)]
    suite: SuiteArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListWhat {
    /// Scenario ids, areas, requirements and titles.
    Scenarios,
    /// The stores `--store` accepts and what each needs (with --json: the catalog scripts read).
    Stores,
    /// The spec's requirements with their level, profile and how many scenarios check them.
    Requirements,
    /// The capability registry.
    Capabilities,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Print only problems and the coverage summary, not one line per requirement.
    #[arg(short, long)]
    quiet: bool,
}

fn load(args: &SuiteArgs) -> anyhow::Result<(Suite, Vec<sessionspec_scenario::Diagnostic>)> {
    let locations = suite::locate(args)?;
    let (suite, problems) = suite::load_all(&locations);
    match suite {
        Some(suite) => Ok((suite, problems)),
        None => {
            print_problems(&problems, false);
            anyhow::bail!("cannot load the suite")
        }
    }
}

pub fn list(args: ListArgs) -> anyhow::Result<u8> {
    if args.what == ListWhat::Stores {
        list_stores(args.json);
        return Ok(EXIT_OK);
    }
    let (suite, problems) = load(&args.suite)?;
    if !problems.is_empty() {
        eprintln!("note: {} scenario problem(s); `sessionspec lint` shows them. Listing what loaded.", problems.len());
    }
    match args.what {
        ListWhat::Scenarios => {
            for s in &suite.scenarios {
                if args.json {
                    outln!(
                        "{}",
                        serde_json::json!({
                            "id": s.id, "area": s.area, "title": s.title, "file": s.file, "checks": s.checks,
                            "requires": s.requires.iter().map(|c| c.name()).collect::<Vec<_>>(),
                            "excludes": s.excludes.iter().map(|c| c.name()).collect::<Vec<_>>(),
                        })
                    );
                } else {
                    outln!("{:<48} {:<24} {}", s.id, s.checks.join(","), s.title);
                }
            }
        }
        ListWhat::Requirements => {
            for c in suite.coverage() {
                let r = c.requirement;
                let profile = r.profile.map(|p| p.name()).unwrap_or("-");
                if args.json {
                    outln!(
                        "{}",
                        serde_json::json!({"id": r.id, "level": r.keyword, "profile": r.profile.map(|p| p.name()), "statement": r.statement, "scenarios": c.scenarios})
                    );
                } else {
                    outln!("{:<10} {:<10} {:<22} {:>3}  {}", r.id, r.keyword, profile, c.scenarios.len(), r.statement);
                }
            }
        }
        ListWhat::Capabilities => {
            for c in &suite.spec.capabilities {
                if args.json {
                    outln!("{}", serde_json::json!({"name": c.name, "summary": c.summary, "options": c.options}));
                } else {
                    outln!("{:<22} {}", c.name, c.summary);
                }
            }
        }
        ListWhat::Stores => unreachable!(),
    }
    Ok(EXIT_OK)
}

pub fn lint(args: LintArgs, colors: Colors) -> anyhow::Result<u8> {
    let locations = suite::locate(&args.suite)?;
    let (suite, mut problems) = suite::load_all(&locations);
    let Some(suite) = suite else {
        print_problems(&problems, colors.stderr);
        return Ok(EXIT_BAD_INPUT);
    };
    let coverage = suite.coverage();
    if !args.quiet {
        outln!("coverage per requirement (scenarios checking it):");
        for c in &coverage {
            let r = c.requirement;
            let mark = if c.scenarios.is_empty() && r.level != Level::May { "MISSING" } else { "" };
            outln!("  {:<10} {:<10} {:>3} {mark:<8}{}", r.id, r.keyword, c.scenarios.len(), c.scenarios.join(", "));
        }
    }
    let required: Vec<_> = coverage.iter().filter(|c| c.requirement.level != Level::May).collect();
    let covered = required.iter().filter(|c| !c.scenarios.is_empty()).count();
    outln!(
        "{} ({}, {}); {covered} of {} MUST and SHOULD requirements have at least one scenario",
        sessionspec_report::plural(suite.scenarios.len(), "scenario", "scenarios"),
        locations.describe(),
        suite.digest,
        required.len()
    );
    problems.extend(suite.coverage_problems());
    print_problems(&problems, colors.stderr);
    Ok(if problems.is_empty() { EXIT_OK } else { EXIT_BAD_INPUT })
}

/// The store catalog, and the kinds of store outside it that `--store` takes.
fn list_stores(json: bool) {
    if json {
        // One object per line, like the other lists: `jq -r 'select(.family == "npm") | .name'`.
        for s in sessionspec_targets::STORES {
            let store = serde_json::json!({
                "name": s.name,
                "family": s.family.name(),
                "backend": s.backend.map(|b| b.name()),
                "embedded": s.embedded(),
                "variant_of": s.variant_of,
                "summary": s.summary,
                "needs": s.needs(),
                "capabilities": s.description().map(|d| d.capabilities.names()),
            });
            outln!("{store}");
        }
        return;
    }
    for s in sessionspec_targets::STORES {
        let tag = if s.embedded() { " [embedded]" } else { "" };
        outln!("{:<19} {}{tag}\n{:<19} needs: {}", s.name, s.summary, "", s.needs());
    }
    for (name, summary) in sessionspec_targets::OTHER_STORES {
        outln!("{name:<19} {summary}");
    }
}
