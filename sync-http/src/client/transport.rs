//! [`HttpTransport`]: the engine's four writes and reads as HTTP requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sync_core::transport::{
    BatchWrite, PullPage, PullRequest, Stream, Transport, TransportError, WriteResult,
};
use sync_core::{Record, TableSchema};

use super::answer;
use super::builder::{BuildError, HttpTransportBuilder, TokenHeader, TokenRefresher};
use super::pull::TablePaging;
use super::retry::RetryPolicy;
use super::send::Call;
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

pub(crate) struct Inner {
    pub client: reqwest::Client,
    /// Ends in `/`.
    pub base: Url,
    /// `{base}tables`, which every table's URL extends.
    pub tables: Url,
    /// Sent with every request: the API version, the app's extra headers, `Accept`
    /// and the API key.
    pub headers: HeaderMap,
    pub token: RwLock<Option<String>>,
    pub token_header: TokenHeader,
    pub refresher: Option<TokenRefresher>,
    pub refresh_lock: tokio::sync::Mutex<()>,
    pub retry: RetryPolicy,
    /// By lowercased table name: the server matches table names case-insensitively.
    pub schemas: RwLock<HashMap<String, Arc<TableSchema>>>,
    /// By lowercased table name.
    pub paging: Mutex<HashMap<String, TablePaging>>,
    /// The largest answer body read.
    pub max_response_bytes: u64,
    /// The most rows a page asks for: the configured cap, lowered to what a server
    /// that refused a larger `$top` allows.
    pub page_cap: AtomicU32,
    /// Whether to ask for the `tablesync` extension.
    pub extensions: bool,
    /// Rows per page of a streamed pull.
    pub stream_page_rows: usize,
    /// The server's discovery answer, once asked (`None`: table protocol only).
    pub discovered: tokio::sync::OnceCell<Option<crate::wire::batch::Discovery>>,
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
    /// A builder for the server at `base_url`.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000").build().unwrap();
    /// assert_eq!(t.base_url().as_str(), "http://127.0.0.1:3000/");
    /// ```
    pub fn builder(base_url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder::new(base_url)
    }

    /// A transport with the defaults and no credentials.
    ///
    /// ```
    /// assert!(sync_http::HttpTransport::new("https://example.com/app/").is_ok());
    /// assert!(sync_http::HttpTransport::new("example.com").is_err());
    /// ```
    pub fn new(base_url: impl Into<String>) -> Result<HttpTransport, BuildError> {
        HttpTransportBuilder::new(base_url).build()
    }

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
    /// ([`HttpTransportBuilder::max_response_bytes`]).
    ///
    /// ```
    /// let t = sync_http::HttpTransport::new("https://example.com/").unwrap();
    /// assert_eq!(t.max_response_bytes(), sync_http::DEFAULT_MAX_RESPONSE_BYTES);
    /// ```
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The most rows a pull page asks for now: the configured
    /// [`max_page_size`](HttpTransportBuilder::max_page_size), or less once the
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

impl Inner {
    pub(crate) fn token(&self) -> Option<String> {
        match self.token.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_token(&self, token: Option<String>) {
        match self.token.write() {
            Ok(mut t) => *t = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
    }

    pub(crate) fn schema(&self, table: &str) -> Option<Arc<TableSchema>> {
        let schemas = match self.schemas.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A short ASCII name is lowercased on the stack (for ASCII text `to_lowercase`
        // is `to_ascii_lowercase`), not in a new String for every answer.
        let mut buf = [0u8; 64];
        if table.is_ascii()
            && let Some(key) = buf.get_mut(..table.len())
        {
            key.copy_from_slice(table.as_bytes());
            key.make_ascii_lowercase();
            if let Ok(key) = std::str::from_utf8(key) {
                return schemas.get(key).cloned();
            }
        }
        schemas.get(&table.to_lowercase()).cloned()
    }

    /// `{base}tables/{table}`, the table percent-encoded.
    pub(crate) fn table_url(&self, table: &str) -> Result<Url, TransportError> {
        self.url(&[table])
    }

    /// `{base}tables/{table}/{id}`, both percent-encoded.
    pub(crate) fn item_url(&self, table: &str, id: &str) -> Result<Url, TransportError> {
        self.url(&[table, id])
    }

    fn url(&self, segments: &[&str]) -> Result<Url, TransportError> {
        for segment in segments {
            // An empty segment would address the collection; `.` and `..` are removed by
            // every URL parser, even percent-encoded (`%2E%2E`): none can be sent.
            if segment.is_empty() || *segment == "." || *segment == ".." {
                return Err(TransportError::Malformed {
                    message: format!(
                        "{segment:?} cannot be sent as a table name or id in a URL path"
                    ),
                });
            }
        }
        // Most names and ids need no encoding: url's own segment push then writes exactly
        // what `encode_segment` would (it encodes no unreserved character), without
        // building the path text and parsing all of it again.
        if segments.iter().all(|s| s.bytes().all(unreserved)) {
            let mut url = self.tables.clone();
            let pushed = url.path_segments_mut().map(|mut path| {
                path.extend(segments);
            });
            if pushed.is_ok() {
                return Ok(url);
            }
        }
        let mut path = self.tables.path().to_owned();
        for segment in segments {
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }
}

/// RFC 3986's unreserved characters: the only ones a path segment sends as they are.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so ids with `/`,
/// `?`, `#`, `%`, `;`, `'`, spaces or non-ASCII text reach the server intact whatever
/// its router makes of reserved characters.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

/// A single-row answer must be about the row asked for. A row with another id (from a
/// confused proxy or cache, or a buggy server) would otherwise be stored by the engine
/// as the server's copy of an item it is not, and the operation dropped as done.
pub(crate) fn of_item(
    row: Record,
    id: Option<&str>,
    what: &(impl std::fmt::Display + ?Sized),
) -> Result<Record, TransportError> {
    match id {
        Some(asked) if row.id() != Some(asked) => Err(TransportError::Malformed {
            message: format!(
                "{what}: the answer is about row {:?}, not {asked:?}",
                row.id().unwrap_or_default()
            ),
        }),
        _ => Ok(row),
    }
}

/// A refusal whose server copy (409/412) is about another row carries no server copy:
/// the engine then reads the item itself, as after the reference server's 409.
pub(crate) fn refused(
    reply: &super::send::Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl std::fmt::Display + ?Sized),
    id: Option<&str>,
) -> TransportError {
    let mut e = answer::refusal(reply, table, schema, what);
    if let TransportError::PreconditionFailed { server_copy }
    | TransportError::Conflict { server_copy } = &mut e
        && let Some(asked) = id
        && server_copy.as_ref().is_some_and(|c| c.id() != Some(asked))
    {
        *server_copy = None;
    }
    e
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
        super::stream::pages(self, table, request)
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
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(
            encode_segment("a/b c%'é;?#"),
            "a%2Fb%20c%25%27%C3%A9%3B%3F%23"
        );
        assert_eq!(encode_segment("Az09-._~"), "Az09-._~");
    }

    /// The URL the general way makes: the whole path encoded, then parsed.
    fn general_url(base: &str, segments: &[&str]) -> String {
        let mut url = Url::parse(base).unwrap();
        let mut path = format!("{}tables", url.path());
        for segment in segments {
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        url.set_path(&path);
        url.to_string()
    }

    #[test]
    fn every_url_is_the_one_the_whole_path_encoded_makes() {
        let ids = [
            "a1", "Az09-._~", "a.b", "...", "~", "a/b", "a?b", "a#b", "a%2Fb", "a;b", "it's",
            "a b", "é", "日本", "a\tb", "a+b", "a@b:c",
        ];
        for base in [
            "https://h:8443/app/",
            "http://127.0.0.1:3000/",
            "http://h/a%20b/",
        ] {
            let t = HttpTransport::new(base).unwrap();
            for table in ["Todo", "to do", "T~1"] {
                assert_eq!(
                    t.inner.table_url(table).unwrap().as_str(),
                    general_url(base, &[table]),
                    "{base} {table}"
                );
                for id in ids {
                    assert_eq!(
                        t.inner.item_url(table, id).unwrap().as_str(),
                        general_url(base, &[table, id]),
                        "{base} {table} {id}"
                    );
                }
            }
        }
    }

    #[test]
    fn schemas_are_found_whatever_the_case_of_the_table_name() {
        let t = HttpTransport::new("https://h/").unwrap();
        let long = "T".repeat(70);
        for name in ["Todo", "ÄPFEL", long.as_str()] {
            t.register_schema(&TableSchema::new(name));
        }
        for (asked, found) in [
            ("Todo", Some("Todo")),
            ("todo", Some("Todo")),
            ("TODO", Some("Todo")),
            ("äpfel", Some("ÄPFEL")),
            ("Äpfel", Some("ÄPFEL")),
            (&"t".repeat(70), Some(long.as_str())),
            ("Todos", None),
            ("", None),
        ] {
            assert_eq!(
                t.inner.schema(asked).map(|s| s.name.clone()).as_deref(),
                found,
                "{asked}"
            );
        }
    }

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

    #[test]
    fn a_call_is_described_by_its_method_and_path() {
        let t = HttpTransport::new("https://h:8443/app").unwrap();
        let call = Call::new(Method::PATCH, t.inner.item_url("Todo", "a/b").unwrap());
        assert_eq!(call.describe(), "PATCH /app/tables/Todo/a%2Fb");
        assert_eq!(call.described().to_string(), call.describe());
    }

    #[test]
    fn urls_join_under_the_base_path() {
        let t = HttpTransport::new("https://h:8443/app").unwrap();
        assert_eq!(
            t.inner.item_url("Todo", "a/b").unwrap().as_str(),
            "https://h:8443/app/tables/Todo/a%2Fb"
        );
        assert_eq!(
            t.inner.item_url("Todo", "a1").unwrap().as_str(),
            "https://h:8443/app/tables/Todo/a1"
        );
        assert_eq!(
            t.inner.table_url("Todo").unwrap().as_str(),
            "https://h:8443/app/tables/Todo"
        );
        assert!(t.inner.item_url("Todo", "..").is_err());
        assert!(t.inner.item_url("Todo", ".").is_err());
        assert!(t.inner.item_url("..", "a").is_err());
        assert!(t.inner.item_url("Todo", "").is_err());
    }
}
