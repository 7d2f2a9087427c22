//! The sessionspec scenario language.
//!
//! Scenario files are YAML. This crate parses them with locations ([`yaml`]), checks them into
//! the model the runner executes ([`model`]), reads the spec they cite ([`spec`]), lints a
//! whole suite ([`suite`]) and generates the JSON Schema editors validate against ([`schema`]).
//! It never runs anything and knows no store.
#![warn(missing_docs)]

mod compile;
pub mod diagnostic;
pub mod document;
pub mod load;
pub mod model;
pub mod schema;
pub mod spec;
pub mod suite;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use load::{Loaded, load_file, load_text};
pub use model::*;
pub use spec::{Level, Requirement, Spec};
pub use suite::{Selection, SourceFile, Suite};
