//! How the bearer token travels: the header that carries it, and the refresher that
//! gets a fresh one after a 401. Shared by the builder (which checks it), the
//! transport's state (which holds it) and sending (which attaches it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::header::HeaderValue;
use sync_core::transport::TransportError;

/// The future a [`TokenRefresher`] returns: a fresh token, or why there is none.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, TransportError>> + Send>>;

/// Called when the server answers 401, at most once per request, to get a new bearer
/// token; the request is then sent again with it. Return
/// [`TransportError::Unauthorized`] when the user must sign in again, or
/// [`TransportError::Network`] when the identity provider could not be reached (both
/// stop a push and keep everything queued).
pub type TokenRefresher = Arc<dyn Fn() -> TokenFuture + Send + Sync>;

/// Which header carries the bearer token.
///
/// ```
/// assert_eq!(sync_http::TokenHeader::default(), sync_http::TokenHeader::Authorization);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>`.
    #[default]
    Authorization,
    /// `X-ZUMO-AUTH: <token>`, the reference server's own header.
    ZumoAuth,
    /// Both headers.
    Both,
}

/// A token as a header value (`Bearer ` is added separately).
pub(crate) fn token_value(token: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(token)
        .map_err(|_| "a token must be visible ASCII text".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}
