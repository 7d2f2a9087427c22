//! sessionspec's store benchmark (being written).
#![warn(missing_docs)]
