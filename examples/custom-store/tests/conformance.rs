//! Every scenario of the sessionspec suite as a test of this store: `cargo test`.

fn main() -> std::process::ExitCode {
    sessionspec_conformance::Conformance::new(custom_store::MapFactory::default()).main()
}
