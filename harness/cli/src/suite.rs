//! Finding and loading the suite from the command line's point of view: where scenarios/ and
//! spec/ are, and printing the problems found in them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sessionspec_scenario::{Diagnostic, Suite};

use crate::SuiteArgs;

/// The scenarios and spec directories, and the project root when there is one.
pub struct Locations {
    pub scenarios: PathBuf,
    pub spec: PathBuf,
    pub root: Option<PathBuf>,
}

/// Resolves --scenarios and --spec, searching upwards from the current directory for a
/// directory holding both `scenarios/` and `spec/session-store.md`.
pub fn locate(args: &SuiteArgs) -> anyhow::Result<Locations> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let root = cwd
        .ancestors()
        .find(|d| d.join("scenarios").is_dir() && d.join("spec/session-store.md").is_file())
        .map(Path::to_owned);
    let scenarios = match (&args.scenarios, &root) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => relative_to_cwd(&root.join("scenarios"), &cwd),
        (None, None) => bail!(
            "no scenarios/ and spec/session-store.md found in {} or any parent; pass --scenarios DIR and --spec DIR",
            cwd.display()
        ),
    };
    let spec = match (&args.spec, &root) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => relative_to_cwd(&root.join("spec"), &cwd),
        (None, None) => scenarios.parent().map(|p| p.join("spec")).unwrap_or_else(|| PathBuf::from("spec")),
    };
    if !scenarios.is_dir() {
        bail!("the scenarios directory {} does not exist", scenarios.display());
    }
    Ok(Locations { scenarios, spec, root })
}

/// Paths in messages are shown relative to where the user is, when they are below it.
fn relative_to_cwd(path: &Path, cwd: &Path) -> PathBuf {
    match path.strip_prefix(cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_owned(),
        _ => path.to_owned(),
    }
}

/// Loads the suite, printing every problem to stderr. `None` when there were problems.
pub fn load(locations: &Locations, color: bool) -> Option<Suite> {
    let (suite, problems) = Suite::load(&locations.scenarios, &locations.spec);
    print_problems(&problems, color);
    if problems.is_empty() { suite } else { None }
}

/// Prints problems and a count.
pub fn print_problems(problems: &[Diagnostic], color: bool) {
    for p in problems {
        eprint!("{}", p.render(color));
        eprintln!();
    }
    if !problems.is_empty() {
        eprintln!("{} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" });
    }
}
