//! sessionspec results and their renderings.
//!
//! [`model`] is the canonical results model, written as JSON lines by [`jsonl`]. The terminal
//! summary, the Markdown compatibility matrix and JUnit XML are renderings of it; none of them
//! sees anything the results file does not hold.
#![warn(missing_docs)]

pub mod diff;
pub mod expectations;
pub mod html;
pub mod jsonl;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod site;
pub mod standing;
pub mod summary;

pub use model::{CaseResult, Detail, Footer, Harness, Header, Outcome, Record, Results, Target};

/// A count with its noun: `1 scenario`, `2 scenarios`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
