//! The tower-sessions stores of crates.io, each at a pinned version on a backend of this machine,
//! as sessionspec stores: the catalog `sessionspec-tower NAME` serves over the adapter protocol.
//! The mapping of sessions to records is `sessionspec-tower-adapter`'s, shared with the main
//! workspace; this crate only opens the stores.
#![warn(missing_docs)]

pub mod catalog;
