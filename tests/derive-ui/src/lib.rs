//! Nothing here: the crate exists for `tests/derive_ui.rs`, whose cases see only the
//! dependencies of this crate's `Cargo.toml` (the facade with the derive, chrono,
//! serde, uuid), so that trybuild builds no more than they need.
