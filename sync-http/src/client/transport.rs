//! [`HttpTransport`]: the engine's four writes and reads as HTTP requests.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode, Url};
use sync_core::transport::{
    BatchWrite, PullPage, PullRequest, Stream, Transport, TransportError, WriteResult,
};
use sync_core::{Record, TableSchema};

use super::answer::{self, of_item, refused};
use super::inner::Inner;
use super::send::Call;
use super::stream;
use crate::wire::etag::if_match;
use crate::wire::json::record_to_vec;

/// The engine's [`Transport`] over HTTP, speaking the Azure Mobile Apps table protocol
/// to a tablesync server or to Microsoft's reference server.
///
/// Cheap to clone (one shared connection pool); `Send + Sync`, and so are its futures.
/// See the [module documentation](crate::client) for retries and why re-sending a write
/// is safe.
///
/// ```no_run
/// use sync_core::transport::{PullRequest, Transport};
/// use sync_core::{ColumnType, Record, TableSchema};
/// use sync_http::HttpTransport;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = HttpTransport::builder("https://example.com/").bearer_token("jwt").build()?;
/// transport.register_schema(&TableSchema::new("Todo").with_column("text", ColumnType::Text, false));
/// let mut item = Record::new();
/// item.set("id", "a1");
/// item.set("text", "milk");
/// let saved = transport.insert("Todo", item).await?;
/// let page = transport.pull("Todo", PullRequest::new(100)).await?;
/// assert!(page.records.iter().any(|r| r.id() == saved.id()));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpTransport {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base_url", &self.inner.base.as_str())
            .field("token_header", &self.inner.token_header)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// The base URL, ending in `/`.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::new("https://example.com/app").unwrap();
    /// assert_eq!(t.base_url().as_str(), "https://example.com/app/");
    /// ```
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The largest answer body this transport reads, in bytes
    /// ([`HttpTransportBuilder::max_response_bytes`](crate::HttpTransportBuilder::max_response_bytes)).
    ///
    /// ```
    /// let t = sync_http::HttpTransport::new("https://example.com/").unwrap();
    /// assert_eq!(t.max_response_bytes(), sync_http::DEFAULT_MAX_RESPONSE_BYTES);
    /// ```
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The most rows a pull page asks for now: the configured
    /// [`max_page_size`](crate::HttpTransportBuilder::max_page_size), or less once the
    /// server refused a larger `$top`.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::new("https://example.com/").unwrap();
    /// assert_eq!(t.max_page_size(), sync_http::DEFAULT_MAX_PAGE_SIZE);
    /// ```
    pub fn max_page_size(&self) -> u32 {
        self.inner.page_cap.load(Ordering::Relaxed)
    }

    /// Replaces the bearer token (after the user signs in or out); `None` sends none.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::new("https://example.com/").unwrap();
    /// t.set_token(Some("eyJhbGciOi...".into()));
    /// ```
    pub fn set_token(&self, token: Option<String>) {
        self.inner.set_token(token);
    }
}

/// A record as the JSON body of `call`.
pub(crate) fn body(call: &Call, table: &str, item: &Record) -> Result<Vec<u8>, TransportError> {
    record_to_vec(table, item).map_err(|e| TransportError::Malformed {
        message: format!("{}: the item cannot be sent: {e}", call.described()),
    })
}

pub(crate) fn if_match_header(
    version: Option<String>,
) -> Result<Option<HeaderValue>, TransportError> {
    let Some(v) = version else {
        return Ok(None);
    };
    // From the String itself: the value is checked as `from_str` checks it, not copied.
    match HeaderValue::try_from(if_match(&v)) {
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(TransportError::Malformed {
            message: format!("version {v:?} cannot be sent in an If-Match header"),
        }),
    }
}

impl Transport for HttpTransport {
    fn register_schema(&self, schema: &TableSchema) {
        let mut schemas = match self.inner.schemas.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        schemas.insert(schema.name.to_lowercase(), Arc::new(schema.clone()));
    }

    async fn insert(&self, table: &str, item: Record) -> Result<Record, TransportError> {
        let inner = &self.inner;
        let mut call = Call::new(Method::POST, inner.table_url(table)?);
        call.body = Some(body(&call, table, &item)?);
        let reply = inner.send(&call).await?;
        let what = call.described();
        let schema = inner.schema(table);
        // Without an id the server chooses one; with one, the answer must carry it.
        let id = item.id().filter(|i| !i.is_empty());
        if reply.status.is_success() {
            of_item(
                answer::row(&reply, table, schema.as_deref(), &what)?,
                id,
                &what,
            )
        } else {
            Err(refused(&reply, table, schema.as_deref(), &what, id))
        }
    }

    async fn update(
        &self,
        table: &str,
        item: Record,
        expected_version: Option<String>,
    ) -> Result<Record, TransportError> {
        let inner = &self.inner;
        let id = item.id().ok_or_else(|| TransportError::Malformed {
            message: format!("an update of table `{table}` without a text `id` cannot be sent"),
        })?;
        let mut call = Call::new(Method::PATCH, inner.item_url(table, id)?);
        call.body = Some(body(&call, table, &item)?);
        call.if_match = if_match_header(expected_version)?;
        let reply = inner.send(&call).await?;
        let what = call.described();
        let schema = inner.schema(table);
        if reply.status.is_success() {
            of_item(
                answer::row(&reply, table, schema.as_deref(), &what)?,
                Some(id),
                &what,
            )
        } else {
            Err(refused(&reply, table, schema.as_deref(), &what, Some(id)))
        }
    }

    async fn delete(
        &self,
        table: &str,
        id: &str,
        expected_version: Option<String>,
    ) -> Result<Option<Record>, TransportError> {
        let inner = &self.inner;
        let mut call = Call::new(Method::DELETE, inner.item_url(table, id)?);
        call.if_match = if_match_header(expected_version)?;
        let reply = inner.send(&call).await?;
        let what = call.described();
        let schema = inner.schema(table);
        if !reply.status.is_success() {
            return Err(refused(&reply, table, schema.as_deref(), &what, Some(id)));
        }
        // A server that deletes hard may answer 204 or 200 without a row.
        if reply.status == StatusCode::NO_CONTENT || reply.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(None);
        }
        of_item(
            answer::row(&reply, table, schema.as_deref(), &what)?,
            Some(id),
            &what,
        )
        .map(Some)
    }

    async fn get(&self, table: &str, id: &str) -> Result<Option<Record>, TransportError> {
        let inner = &self.inner;
        let call = Call::new(Method::GET, inner.item_url(table, id)?);
        let reply = inner.send(&call).await?;
        let what = call.described();
        let schema = inner.schema(table);
        if reply.status.is_success() {
            of_item(
                answer::row(&reply, table, schema.as_deref(), &what)?,
                Some(id),
                &what,
            )
            .map(Some)
        } else {
            match refused(&reply, table, schema.as_deref(), &what, Some(id)) {
                TransportError::NotFound => Ok(None),
                e => Err(e),
            }
        }
    }

    async fn pull(&self, table: &str, request: PullRequest) -> Result<PullPage, TransportError> {
        self.inner.pull(table, request).await
    }

    fn pull_stream<'a>(
        &'a self,
        table: &'a str,
        request: PullRequest,
    ) -> impl Stream<Item = Result<PullPage, TransportError>> + Send + 'a {
        stream::pages(self, &self.inner, table, request)
    }

    async fn push_batch(&self, writes: Vec<BatchWrite>) -> Vec<WriteResult> {
        match self.inner.batch_limits().await {
            Ok(Some(limits)) => self.inner.push_batches(writes, &limits).await,
            Ok(None) => sync_core::transport::one_at_a_time(self, writes).await,
            Err(e) => vec![Err(e); writes.len()],
        }
    }

    async fn change_feed(
        &self,
        tables: Vec<String>,
        last_event_id: Option<String>,
    ) -> Result<Option<sync_core::transport::ChangeStream>, TransportError> {
        self.inner.change_feed(tables, last_event_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_become_if_match_headers_or_name_why_not() {
        assert_eq!(if_match_header(None).unwrap(), None);
        assert_eq!(
            if_match_header(Some("MQ==".into())).unwrap().unwrap(),
            "\"MQ==\""
        );
        let e = if_match_header(Some("a\nb".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed response: version \"a\\nb\" cannot be sent in an If-Match header"
        );
    }
}
