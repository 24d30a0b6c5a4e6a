//! HttpTransport against a scriptable fake server on 127.0.0.1.

mod fake;

mod bounds;
mod malformed;
mod paging;
mod refusals;
mod requests;
mod retries;
