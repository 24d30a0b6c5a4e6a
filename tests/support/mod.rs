//! Test utilities of the reliability suite: a fault-injecting proxy and a server that
//! counts the writes it applies.
#![allow(dead_code)] // each test crate uses a different subset

pub mod proxy;
pub mod server;
