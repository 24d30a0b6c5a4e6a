//! Compile tests of `#[derive(Syncable)]` through the facade: every `tests/ui/pass` case
//! must build and run, every `tests/ui/fail` case must fail with exactly its `.stderr`.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p derive-ui`,
//! then read every changed `.stderr`.
//!
//! The cases live in their own crate (`tests/derive-ui`) whose dependencies are the
//! facade with the derive alone and the crates the cases name: trybuild builds those
//! again in a target directory of its own, and the facade's dev-dependencies (the
//! server, reqwest, a bundled SQLite) made that most of the suite's cold time.

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
