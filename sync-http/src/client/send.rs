//! One request, sent until it has an answer worth returning: the credentials, the
//! protocol headers, the retries of transient failures and the one token refresh.

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sync_core::transport::{NetworkKind, TransportError};

use super::inner::Inner;
use super::token::{TokenHeader, TokenRefresher, token_value};

/// A request to send.
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub if_match: Option<HeaderValue>,
}

impl Call {
    pub fn new(method: Method, url: Url) -> Call {
        Call {
            method,
            url,
            body: None,
            if_match: None,
        }
    }

    /// `PATCH /app/tables/Todo/a1`, for messages.
    pub fn describe(&self) -> String {
        self.described().to_string()
    }

    /// What [`describe`](Self::describe) says, written only when a message is: most
    /// answers need none.
    pub fn described(&self) -> Described<'_> {
        Described { call: self }
    }
}

/// A [`Call`] as messages name it.
pub(crate) struct Described<'a> {
    call: &'a Call,
}

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.call.method, self.call.url.path())
    }
}

/// An answer that is not a transient failure.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What [`Inner::open`] answers: a success whose body is still to be read, or any
/// other answer, read.
pub(crate) enum Opened {
    /// A 2xx, its body unread.
    Body(reqwest::Response),
    /// Anything else, as [`Inner::send`] answers it.
    Reply(Reply),
}

/// Statuses worth trying again: the server or a proxy in front of it is briefly unable.
fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

impl Inner {
    /// Sends `call`, retrying transient failures per the retry policy and a 401 once
    /// after a token refresh. Statuses other than transient ones come back as a
    /// [`Reply`]; what is left after the retries is `Network` (no answer) or the last
    /// transient answer.
    pub(crate) async fn send(&self, call: &Call) -> Result<Reply, TransportError> {
        match self.send_or_open(call, false).await? {
            Opened::Reply(reply) => Ok(reply),
            // Not asked for: `send_or_open` reads every body when `open` is false.
            Opened::Body(_) => Err(TransportError::Malformed {
                message: format!("{}: an answer was left unread", call.describe()),
            }),
        }
    }

    /// [`send`](Self::send), except that a 2xx answer comes back with its body unread,
    /// for the caller to read as it arrives (a streamed pull). The retries and the token
    /// refresh are the same; once the body is being read, nothing is retried here.
    pub(crate) async fn open(&self, call: &Call) -> Result<Opened, TransportError> {
        self.send_or_open(call, true).await
    }

    async fn send_or_open(&self, call: &Call, open: bool) -> Result<Opened, TransportError> {
        let mut refreshed = false;
        let mut retry = 0;
        loop {
            let started = std::time::Instant::now();
            let token = self.token();
            let last_try = retry + 1 >= self.retry.attempts;
            let request = self.request(call, token.as_deref())?;
            let outcome = match self.client.execute(request).await {
                Ok(response) if open && response.status().is_success() => {
                    tracing::debug!(
                        method = %call.method,
                        path = %call.url.path(),
                        status = response.status().as_u16(),
                        millis = started.elapsed().as_millis() as u64,
                        "request answered; reading its body as it comes"
                    );
                    return Ok(Opened::Body(response));
                }
                Ok(mut response) => {
                    let status = response.status();
                    let headers = std::mem::take(response.headers_mut());
                    match self.body(call, &mut response).await {
                        Ok(Ok(body)) => Ok(Reply {
                            status,
                            headers,
                            body,
                        }),
                        // Too large is an answer, not a transient failure: the same
                        // request would get the same answer.
                        Ok(Err(too_large)) => return Err(too_large),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let reply = match outcome {
                Ok(reply) => reply,
                Err(e) => {
                    // No answer: the request may or may not have been applied. Retrying is
                    // safe (see the module doc); only our own mistakes are not retried.
                    let retriable =
                        e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
                    if retriable && !last_try {
                        let wait = self.retry.backoff(retry);
                        tracing::debug!(
                            method = %call.method,
                            path = %call.url.path(),
                            error = %e,
                            attempt = retry + 1,
                            wait_ms = wait.as_millis() as u64,
                            "no answer; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        retry += 1;
                        continue;
                    }
                    let message = format!("{}: {}", call.describe(), error_chain(&e));
                    return Err(TransportError::network_from(network_kind(&e), message, e));
                }
            };
            tracing::debug!(
                method = %call.method,
                path = %call.url.path(),
                status = reply.status.as_u16(),
                bytes = reply.body.len(),
                millis = started.elapsed().as_millis() as u64,
                "request answered"
            );
            if reply.status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let Some(refresh) = &self.refresher
            {
                refreshed = true;
                self.refresh(refresh, token).await?;
                continue;
            }
            if transient(reply.status) && !last_try {
                let asked = reply
                    .headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| self.retry.retry_after(v, chrono::Utc::now()));
                let wait = asked.unwrap_or_else(|| self.retry.backoff(retry));
                tracing::debug!(
                    method = %call.method,
                    path = %call.url.path(),
                    status = reply.status.as_u16(),
                    attempt = retry + 1,
                    wait_ms = wait.as_millis() as u64,
                    "transient answer; retrying"
                );
                tokio::time::sleep(wait).await;
                retry += 1;
                continue;
            }
            return Ok(Opened::Reply(reply));
        }
    }

    /// The answer's body, read chunk by chunk and no further than
    /// `max_response_bytes`: a body past the limit is dropped with its connection
    /// (never buffered whole), and a `Content-Length` above it is refused before any
    /// byte of the body is read.
    async fn body(
        &self,
        call: &Call,
        response: &mut reqwest::Response,
    ) -> Result<Result<Vec<u8>, TransportError>, reqwest::Error> {
        let limit = self.max_response_bytes;
        let too_large = |how: String| TransportError::ResponseTooLarge {
            limit,
            message: format!("{}: {how}", call.describe()),
        };
        let declared = response.content_length();
        if let Some(len) = declared
            && len > limit
        {
            return Ok(Err(too_large(format!(
                "the answer's Content-Length is {len}"
            ))));
        }
        let past = |read: usize| format!("the answer's body goes on past {read} bytes");
        // Most bodies come in one chunk, taken as it is.
        let Some(first) = response.chunk().await? else {
            return Ok(Ok(Vec::new()));
        };
        if first.len() as u64 > limit {
            return Ok(Err(too_large(past(first.len()))));
        }
        let mut body = Vec::from(first);
        if let Some(len) = declared {
            // At most the limit (checked above): the body's room, allocated once.
            body.reserve_exact(usize::try_from(len).unwrap_or(0).saturating_sub(body.len()));
        }
        while let Some(chunk) = response.chunk().await? {
            let read = body.len() + chunk.len();
            if read as u64 > limit {
                return Ok(Err(too_large(past(read))));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Ok(body))
    }

    /// The transport's fixed headers with the credentials of `token`, as every
    /// request carries them (the change feed's too).
    pub(crate) fn credentials(&self, token: Option<&str>) -> Result<HeaderMap, TransportError> {
        let mut headers = self.headers.clone();
        if let Some(token) = token {
            let unauthorized = |reason: String| TransportError::Unauthorized {
                status: 401,
                message: format!("the bearer token cannot be sent: {reason}"),
            };
            if matches!(
                self.token_header,
                TokenHeader::Authorization | TokenHeader::Both
            ) {
                let v = token_value(&format!("Bearer {token}")).map_err(unauthorized)?;
                headers.insert(header::AUTHORIZATION, v);
            }
            if matches!(self.token_header, TokenHeader::ZumoAuth | TokenHeader::Both) {
                let v = token_value(token).map_err(unauthorized)?;
                headers.insert(header::HeaderName::from_static("x-zumo-auth"), v);
            }
        }
        Ok(headers)
    }

    fn request(
        &self,
        call: &Call,
        token: Option<&str>,
    ) -> Result<reqwest::Request, TransportError> {
        let mut headers = self.credentials(token)?;
        if let Some(v) = &call.if_match {
            headers.insert(header::IF_MATCH, v.clone());
        }
        if call.body.is_some() {
            // Appended, as reqwest's `RequestBuilder::header` does after the others.
            headers.append(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .build()
            .map_err(|e| TransportError::Malformed {
                message: format!("{}: the request cannot be built: {e}", call.describe()),
            })?;
        // The map replaces the request's own, which is empty (the base URL has no
        // credentials to become a basic `Authorization`): the same headers in the same
        // order as `RequestBuilder::headers` would copy them in, without the copying.
        *request.headers_mut() = headers;
        if let Some(body) = &call.body {
            *request.body_mut() = Some(body.clone().into());
        }
        Ok(request)
    }

    /// Asks the refresher for a new token, unless another request already replaced
    /// the token this one was refused with.
    pub(crate) async fn refresh(
        &self,
        refresh: &TokenRefresher,
        refused: Option<String>,
    ) -> Result<(), TransportError> {
        let _one_refresh_at_a_time = self.refresh_lock.lock().await;
        if self.token() != refused {
            return Ok(());
        }
        let fresh = refresh().await?;
        self.set_token(Some(fresh));
        Ok(())
    }
}

/// What kind of failure a reqwest error is: its own flags first, then its causes (an
/// `io::Error`'s kind, the words rustls and the resolver use).
pub(crate) fn network_kind(e: &reqwest::Error) -> NetworkKind {
    if e.is_timeout() {
        return NetworkKind::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut text = String::new();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::TimedOut => return NetworkKind::Timeout,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return NetworkKind::Broken;
                }
                _ => {}
            }
        }
        text.push_str(&s.to_string().to_ascii_lowercase());
        text.push(' ');
        source = s.source();
    }
    if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        NetworkKind::Tls
    } else if text.contains("dns") || text.contains("resolve") || text.contains("lookup") {
        NetworkKind::Dns
    } else if e.is_connect() {
        NetworkKind::Connect
    } else if e.is_body() || e.is_request() || e.is_decode() {
        NetworkKind::Broken
    } else {
        NetworkKind::Other
    }
}

/// An error with its causes: reqwest's own message alone rarely says what happened
/// ("error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_described_by_its_method_and_path() {
        let url = Url::parse("https://h:8443/app/tables/Todo/a%2Fb").unwrap();
        let call = Call::new(Method::PATCH, url);
        assert_eq!(call.describe(), "PATCH /app/tables/Todo/a%2Fb");
        assert_eq!(call.described().to_string(), call.describe());
    }
}
