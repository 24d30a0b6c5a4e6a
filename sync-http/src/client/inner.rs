//! What every call of one [`HttpTransport`](super::HttpTransport) shares: the
//! connection pool, the base URL, the credentials, the schemas registered, what paging
//! learned about each table and what the server offers. Every part of the client
//! works on an [`Inner`]; sending, pulling and batching each add their methods to it
//! in their own file.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};

use reqwest::Url;
use reqwest::header::HeaderMap;
use sync_core::TableSchema;
use sync_core::store::Watermark;
use sync_core::transport::{PullRequest, TransportError};

use super::retry::RetryPolicy;
use super::token::{TokenHeader, TokenRefresher};

/// The state behind an `HttpTransport` and every clone of it.
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

/// What is remembered between the pages of one table, for the pull to go on from.
#[derive(Debug, Default)]
pub(crate) struct TablePaging {
    /// The server refused the keyset filter: page with `ge` and `$skip`.
    pub fallback: bool,
    /// The next link given with the last page, and the request it continues.
    pub next: Option<(PullRequest, Url)>,
    /// In fallback mode: what was seen at the last page's watermark's instant.
    pub seen: Option<SeenAt>,
}

/// The rows already delivered at one instant, for `$skip`.
#[derive(Debug, Clone)]
pub(crate) struct SeenAt {
    /// The watermark the next request will start after.
    pub after: Watermark,
    /// How many rows at `after`'s instant come before and at `after` in server order.
    pub count: usize,
    /// Their ids.
    pub ids: HashSet<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpTransport;
    use sync_core::transport::Transport;

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
