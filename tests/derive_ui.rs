//! Compile tests of `#[derive(Syncable)]` through the facade: every `tests/ui/pass` case
//! must build and run, every `tests/ui/fail` case must fail with exactly its `.stderr`.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test derive_ui`,
//! then read every changed `.stderr`.

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
