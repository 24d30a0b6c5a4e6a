//! The server over loopback HTTP: conformance (SQLite and PostgreSQL), bad input, auth,
//! several instances on one PostgreSQL, and connection limits against slow or silent
//! clients. One test binary, to link once.

mod auth;
mod bad_input;
mod batch;
mod common;
mod conformance;
mod feed;
mod hostile;
mod limits;
mod multi_instance;
mod sqlite_load;
mod stream;
