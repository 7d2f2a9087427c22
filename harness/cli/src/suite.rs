//! Which suite a command runs, from the command line's point of view: the one built into the
//! binary unless --scenarios or --spec name directories, and the project checkout the user may
//! be standing in (for the default output directory and the backend scripts). Nothing here
//! requires a checkout.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sessionspec_scenario::{Diagnostic, Spec, Suite};

use crate::SuiteArgs;

/// Where the suite comes from, and the project checkout when the user is inside one.
pub struct Locations {
    /// `--scenarios`: a directory of scenarios instead of the built-in ones.
    pub scenarios: Option<PathBuf>,
    /// `--spec`, or `spec/` next to the --scenarios directory: a spec instead of the built-in one.
    pub spec: Option<PathBuf>,
    /// The sessionspec checkout found upwards from the current directory (a directory holding
    /// `scenarios/` and `spec/session-store.md`), if any.
    pub root: Option<PathBuf>,
}

/// Resolves --scenarios and --spec; finds the checkout around the current directory, if any.
pub fn locate(args: &SuiteArgs) -> anyhow::Result<Locations> {
    let root = checkout()?;
    if let Some(dir) = &args.scenarios
        && !dir.is_dir()
    {
        bail!("the scenarios directory {} does not exist (--scenarios or SESSIONSPEC_SCENARIOS)", dir.display());
    }
    if let Some(dir) = &args.spec
        && !dir.join(sessionspec_scenario::spec::SPEC_FILE).is_file()
    {
        bail!(
            "{} holds no {} (--spec or SESSIONSPEC_SPEC names a spec directory)",
            dir.display(),
            sessionspec_scenario::spec::SPEC_FILE
        );
    }
    let spec = args.spec.clone().or_else(|| {
        let beside = args.scenarios.as_ref()?.parent()?.join("spec");
        beside.join(sessionspec_scenario::spec::SPEC_FILE).is_file().then_some(beside)
    });
    Ok(Locations { scenarios: args.scenarios.clone(), spec, root })
}

impl Locations {
    /// Where report links to scenario files and the spec start: the parent of --scenarios, the
    /// checkout the user is in, or (for the built-in suite outside a checkout) the repository
    /// at this release.
    pub fn link_base(&self) -> LinkBase {
        match (&self.scenarios, &self.root) {
            (Some(dir), _) => match std::path::absolute(dir).ok().and_then(|p| p.parent().map(Path::to_owned)) {
                Some(parent) => LinkBase::Dir(parent),
                None => LinkBase::Url(release_url()),
            },
            (None, Some(root)) => LinkBase::Dir(root.clone()),
            (None, None) => LinkBase::Url(release_url()),
        }
    }

    /// What the suite is, for messages: `the built-in suite` or the directories.
    pub fn describe(&self) -> String {
        match (&self.scenarios, &self.spec) {
            (None, None) => "the suite built into sessionspec".to_owned(),
            (Some(s), None) => format!("the scenarios in {} with the built-in spec", s.display()),
            (None, Some(p)) => format!("the built-in scenarios with the spec in {}", p.display()),
            (Some(s), Some(p)) => format!("the scenarios in {} with the spec in {}", s.display(), p.display()),
        }
    }
}

/// The sessionspec checkout around the current directory: the nearest directory upwards holding
/// `scenarios/` and `spec/session-store.md`.
pub fn checkout() -> anyhow::Result<Option<PathBuf>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(cwd
        .ancestors()
        .find(|d| d.join("scenarios").is_dir() && d.join("spec/session-store.md").is_file())
        .map(Path::to_owned))
}

/// Where report links lead.
pub enum LinkBase {
    /// A directory on this machine.
    Dir(PathBuf),
    /// The repository on the web (ends with `/`).
    Url(String),
}

/// The repository's files at this release, for links from reports made outside a checkout.
pub fn release_url() -> String {
    format!("{}/blob/v{}/", env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_VERSION"))
}

/// Loads the suite with every problem found. `None` only when nothing could be loaded.
pub fn load_all(locations: &Locations) -> (Option<Suite>, Vec<Diagnostic>) {
    let spec = match &locations.spec {
        Some(dir) => Spec::load(dir),
        None => sessionspec_suite::spec(),
    };
    let spec = match spec {
        Ok(spec) => spec,
        Err(problems) => return (None, problems),
    };
    match &locations.scenarios {
        Some(dir) => match sessionspec_scenario::suite::read_dir(dir) {
            Ok(files) => Suite::from_files(dir, files, spec),
            Err(problem) => (None, vec![problem]),
        },
        None => {
            Suite::from_files(Path::new(sessionspec_suite::SCENARIOS_DIR), sessionspec_suite::scenario_files(), spec)
        }
    }
}

/// Loads the suite, printing every problem to stderr. `None` when there were problems.
pub fn load(locations: &Locations, color: bool) -> Option<Suite> {
    let (suite, problems) = load_all(locations);
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
        eprintln!("{}", sessionspec_report::plural(problems.len(), "problem", "problems") + " found");
    }
}
