//! Authentication: a request's credentials in, the caller's owner key out (the JWT
//! `sub` in per-user mode, empty otherwise), or a 401.

use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sync_http::wire::AUTH_HEADER;

use crate::config::Auth;
use crate::error::ApiError;

/// The header carrying an API key (`Authorization: Bearer <key>` also works).
///
/// ```
/// assert_eq!(sync_server::auth::API_KEY_HEADER, "X-API-KEY");
/// ```
pub const API_KEY_HEADER: &str = "X-API-KEY";

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// Equal without leaking where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The longest `sub` accepted in per-user mode (in characters), as for ids.
pub const MAX_SUB_LEN: usize = 255;

/// A `sub` is the owner key of every row its user writes: non-empty, bounded, and free
/// of control characters (PostgreSQL cannot store a NUL in text).
fn check_sub(sub: &str) -> Result<(), ApiError> {
    let reason = if sub.is_empty() {
        "is empty"
    } else if sub.chars().count() > MAX_SUB_LEN {
        "is longer than 255 characters"
    } else if sub.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(unauthorized(&format!("invalid token: its `sub` {reason}")))
}

/// The owner key of an authenticated request.
///
/// ```
/// use axum::http::HeaderMap;
/// use sync_server::{Auth, auth::authenticate};
/// let mut h = HeaderMap::new();
/// h.insert("x-api-key", "k".parse().unwrap());
/// assert_eq!(authenticate(&Auth::ApiKey("k".into()), &h).unwrap(), "");
/// assert_eq!(authenticate(&Auth::ApiKey("other".into()), &h).unwrap_err().status, 401);
/// ```
pub fn authenticate(auth: &Auth, headers: &HeaderMap) -> Result<String, ApiError> {
    match auth {
        Auth::None => Ok(String::new()),
        Auth::ApiKey(key) => {
            if key.is_empty() {
                // An empty key would let in every request that sends an empty one.
                return Err(unauthorized("the server has no API key configured"));
            }
            let given = header(headers, API_KEY_HEADER)
                .or_else(|| bearer(headers))
                .ok_or_else(|| unauthorized("an API key is required (X-API-KEY)"))?;
            if same(given.as_bytes(), key.as_bytes()) {
                Ok(String::new())
            } else {
                Err(unauthorized("invalid API key"))
            }
        }
        Auth::Jwt { secret, per_user } => {
            let token = header(headers, AUTH_HEADER)
                .or_else(|| bearer(headers))
                .ok_or_else(|| unauthorized("a token is required (X-ZUMO-AUTH)"))?;
            if secret.is_empty() {
                // Anyone could sign a token with an empty secret: accept none.
                return Err(unauthorized("the server has no JWT secret configured"));
            }
            let mut validation = Validation::new(Algorithm::HS256);
            // The reference's audience and issuer are not checked: any token signed
            // with the secret, not expired and already valid is accepted.
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp"]);
            // `nbf`, when present, is checked with the same (zero) leeway as `exp`.
            validation.validate_nbf = true;
            validation.leeway = 0;
            let data = jsonwebtoken::decode::<Claims>(
                token,
                &DecodingKey::from_secret(secret),
                &validation,
            )
            .map_err(|e| unauthorized(&format!("invalid token: {e}")))?;
            if !per_user {
                return Ok(String::new());
            }
            match data.claims.sub {
                None => Err(unauthorized("the token has no `sub`")),
                Some(sub) => check_sub(&sub).map(|()| sub),
            }
        }
    }
}
