//! Error answers: every non-2xx answer is JSON. Protocol errors carry
//! `{"error": "..."}`; the sync answers 409 and 412 carry the server's row and its strong
//! ETag instead, because that is what clients resolve conflicts with.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sync_http::wire::ErrorBody;
use sync_http::wire::etag::to_etag;

use crate::store::{Row, StoreError};

/// An error answer.
///
/// ```
/// use axum::response::IntoResponse;
/// let r = sync_server::ApiError::bad_request("malformed JSON").into_response();
/// assert_eq!(r.status(), 400);
///
/// let busy = sync_server::store::StoreError::Busy("the read queue is full".into());
/// let r = sync_server::ApiError::from(busy).into_response();
/// assert_eq!(r.status(), 503);
/// assert_eq!(r.headers()["retry-after"], "1");
/// ```
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message (`{"error": message}`), unless a row is sent.
    pub message: String,
    /// The server's row, for 409 and 412.
    pub row: Option<Row>,
    /// Seconds for a `Retry-After` header (a 503 when the server is busy).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with this status and message.
    ///
    /// ```
    /// let e = sync_server::ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "no token");
    /// assert_eq!((e.status.as_u16(), e.message.as_str()), (401, "no token"));
    /// ```
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            row: None,
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with the reference server's message for a missing item.
    ///
    /// ```
    /// assert_eq!(sync_server::ApiError::item_not_found().message, "The item does not exist");
    /// ```
    pub fn item_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "The item does not exist")
    }

    /// An answer carrying the server's row (409, 412) and its strong ETag.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// let row = sync_server::store::Row {
    ///     id: "a".into(), version: 1, created_ms: 0, updated_ms: 0, deleted: false, data: vec![],
    /// };
    /// let r = sync_server::ApiError::with_row(axum::http::StatusCode::CONFLICT, row).into_response();
    /// assert_eq!(r.headers()["etag"], "\"MQ==\"");
    /// ```
    pub fn with_row(status: StatusCode, row: Row) -> ApiError {
        ApiError {
            status,
            message: String::new(),
            row: Some(row),
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::BadRequest(m) => ApiError::bad_request(m),
            StoreError::Database(m) => {
                tracing::error!(error = %m, "storage failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal storage error")
            }
            e @ StoreError::Busy(_) => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            },
            StoreError::TimedOut(m) => {
                tracing::warn!(error = %m, "statement stopped");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = match self.row {
            Some(row) => row_response(self.status, &row, None),
            None => (self.status, axum::Json(ErrorBody::new(self.message))).into_response(),
        };
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// A single-row answer: the row as JSON and its strong ETag.
pub(crate) fn row_response(status: StatusCode, row: &Row, select: Option<&[String]>) -> Response {
    let mut r = (status, axum::Json(row.json(select))).into_response();
    if let Ok(v) = HeaderValue::from_str(&to_etag(&row.version_text())) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}
