//! The README's code blocks as doctests of a crate whose dependencies are exactly the
//! `Cargo.toml` lines the README gives a user: `tablesync` (with the `http` feature)
//! and `tokio`. A block that needs more does not compile here.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
