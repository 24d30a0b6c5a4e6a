//! The server over loopback HTTP: conformance (SQLite and PostgreSQL), bad input, auth,
//! and several instances on one PostgreSQL. One test binary, to link once.

mod auth;
mod bad_input;
mod common;
mod conformance;
mod hostile;
mod multi_instance;
