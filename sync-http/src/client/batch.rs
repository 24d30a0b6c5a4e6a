//! The `tablesync` extension on the client: discovery (asked once per transport) and
//! batch push. Each result of a batch is read as the answer of the single request it
//! stands for, by the same code, so a batched write means exactly what it means alone.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sync_core::transport::{BatchWrite, TransportError, Write, WriteResult};

use super::answer::{self, of_item, refused};
use super::inner::Inner;
use super::send::{Call, Reply};
use crate::wire::ErrorBody;
use crate::wire::batch::{self, BatchLimits, BatchOperation, BatchResponse, Discovery};
use crate::wire::json::record_to_json;
use crate::wire::stream::StreamLimits;

/// Bytes of a batch body besides its operations: `{"operations":[` and `]}`.
const ENVELOPE: usize = 20;

impl Inner {
    /// The server's batch limits, when it offers batches. Asked once; a network or
    /// credentials failure is returned (and asked again next time), any other answer
    /// that is not the extension's means the table protocol alone.
    pub(crate) async fn batch_limits(&self) -> Result<Option<BatchLimits>, TransportError> {
        if !self.extensions {
            return Ok(None);
        }
        Ok(self.discovery().await?.and_then(|d| d.batch.clone()))
    }

    /// The server's stream limits, when it offers streamed pulls; asked as
    /// [`batch_limits`](Self::batch_limits) is (one discovery answers both).
    pub(crate) async fn stream_limits(&self) -> Result<Option<StreamLimits>, TransportError> {
        if !self.extensions {
            return Ok(None);
        }
        Ok(self.discovery().await?.and_then(|d| d.stream.clone()))
    }

    async fn discovery(&self) -> Result<Option<&Discovery>, TransportError> {
        let found = self.discovered.get_or_try_init(|| self.discover()).await?;
        Ok(found.as_ref())
    }

    async fn discover(&self) -> Result<Option<Discovery>, TransportError> {
        let url = self
            .base
            .join(batch::DISCOVERY_PATH.trim_start_matches('/'))
            .map_err(|e| TransportError::Malformed {
                message: format!("cannot make the discovery URL: {e}"),
            })?;
        let call = Call::new(Method::GET, url);
        let reply = self.send(&call).await?;
        if matches!(
            reply.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(answer::refusal(&reply, "", None, &call.described()));
        }
        if !reply.status.is_success() {
            return Ok(None);
        }
        let found = serde_json::from_slice::<Discovery>(&reply.body)
            .ok()
            .filter(|d| d.extension == batch::EXTENSION && d.version == batch::VERSION);
        tracing::debug!(
            batch = found.as_ref().is_some_and(|d| d.batch.is_some()),
            stream = found.as_ref().is_some_and(|d| d.stream.is_some()),
            "discovery: what the server offers beyond the table protocol"
        );
        Ok(found)
    }

    /// Sends writes in batches within the server's limits, in order; see
    /// [`Transport::push_batch`](sync_core::transport::Transport::push_batch).
    pub(crate) async fn push_batches(
        &self,
        writes: Vec<BatchWrite>,
        limits: &BatchLimits,
    ) -> Vec<WriteResult> {
        let max_ops = usize::try_from(limits.max_operations)
            .unwrap_or(usize::MAX)
            .max(1);
        let max_bytes = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
        let mut results: Vec<WriteResult> = Vec::with_capacity(writes.len());
        let mut chunk: Vec<(BatchWrite, Vec<u8>)> = Vec::new();
        let mut bytes = ENVELOPE;
        let mut stop: Option<TransportError> = None;
        for w in writes {
            if let Some(e) = &stop {
                results.push(Err(e.clone()));
                continue;
            }
            let op = match operation(&w) {
                Ok(op) => op,
                Err(e) => {
                    // Not sendable: answered alone, the rest go on.
                    results.push(Err(e));
                    continue;
                }
            };
            if !chunk.is_empty() && (chunk.len() >= max_ops || bytes + op.len() + 1 > max_bytes) {
                let sent = std::mem::take(&mut chunk);
                bytes = ENVELOPE;
                stop = self.send_batch(sent, &mut results).await;
                if let Some(e) = &stop {
                    results.push(Err(e.clone()));
                    continue;
                }
            }
            bytes += op.len() + 1;
            chunk.push((w, op));
        }
        if !chunk.is_empty() {
            self.send_batch(chunk, &mut results).await;
        }
        results
    }

    /// One batch request; its results appended in order. The error that stops the
    /// push, if one did.
    async fn send_batch(
        &self,
        chunk: Vec<(BatchWrite, Vec<u8>)>,
        results: &mut Vec<WriteResult>,
    ) -> Option<TransportError> {
        let url = match self.base.join(batch::BATCH_PATH.trim_start_matches('/')) {
            Ok(url) => url,
            Err(e) => {
                let e = TransportError::Malformed {
                    message: format!("cannot make the batch URL: {e}"),
                };
                results.extend(chunk.iter().map(|_| Err(e.clone())));
                return None;
            }
        };
        let mut body =
            Vec::with_capacity(chunk.iter().map(|(_, op)| op.len() + 1).sum::<usize>() + ENVELOPE);
        body.extend_from_slice(b"{\"operations\":[");
        for (i, (_, op)) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(op);
        }
        body.extend_from_slice(b"]}");
        let mut call = Call::new(Method::POST, url);
        call.body = Some(body);
        let what = call.described().to_string();
        let whole = |e: TransportError, results: &mut Vec<WriteResult>| {
            let stops = e.stops_push().then(|| e.clone());
            results.extend(chunk.iter().map(|_| Err(e.clone())));
            stops
        };
        let reply = match self.send(&call).await {
            Ok(reply) => reply,
            Err(e) => return whole(e, results),
        };
        if !reply.status.is_success() {
            return whole(answer::refusal(&reply, "", None, &what), results);
        }
        let answer: BatchResponse = match serde_json::from_slice(&reply.body) {
            Ok(a) => a,
            Err(e) => {
                let e = TransportError::Malformed {
                    message: format!("{what}: the answer is not a batch answer: {e}"),
                };
                return whole(e, results);
            }
        };
        if answer.results.len() != chunk.len() {
            let e = TransportError::Malformed {
                message: format!(
                    "{what}: {} results for {} operations",
                    answer.results.len(),
                    chunk.len()
                ),
            };
            return whole(e, results);
        }
        for ((w, _), r) in chunk.into_iter().zip(answer.results) {
            results.push(self.result(w, r));
        }
        None
    }

    /// One result of a batch, read as its single request's answer.
    fn result(&self, w: BatchWrite, r: batch::BatchResult) -> WriteResult {
        let status = StatusCode::from_u16(r.status).map_err(|_| TransportError::Malformed {
            message: format!("a batch result has status {}", r.status),
        })?;
        let body = match (r.item, r.error) {
            (Some(item), _) => item.get().as_bytes().to_vec(),
            (None, Some(error)) => serde_json::to_vec(&ErrorBody::new(error)).unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        let reply = Reply {
            status,
            headers: HeaderMap::new(),
            body,
        };
        let schema = self.schema(&w.table);
        let (method, id) = match &w.write {
            Write::Insert { item } => (Method::POST, item.id().filter(|i| !i.is_empty())),
            Write::Update { item, .. } => (Method::PATCH, item.id()),
            Write::Delete { id, .. } => (Method::DELETE, Some(id.as_str())),
        };
        let what = format!(
            "{method} /tables/{}/{} in a batch",
            w.table,
            id.unwrap_or_default()
        );
        let id = id.map(str::to_owned);
        if !reply.status.is_success() {
            return Err(refused(
                &reply,
                &w.table,
                schema.as_deref(),
                &what,
                id.as_deref(),
            ));
        }
        if matches!(w.write, Write::Delete { .. }) && reply.body.is_empty() {
            return Ok(None);
        }
        let row = answer::row(&reply, &w.table, schema.as_deref(), &what)?;
        of_item(row, id.as_deref(), &what).map(Some)
    }
}

/// A write as a batch operation's JSON.
fn operation(w: &BatchWrite) -> Result<Vec<u8>, TransportError> {
    let cannot = |e: &dyn std::fmt::Display| TransportError::Malformed {
        message: format!("a write to `{}` cannot be sent: {e}", w.table),
    };
    let (method, id, version, item) = match &w.write {
        Write::Insert { item } => (batch::Method::Insert, None, None, Some(item)),
        Write::Update {
            item,
            expected_version,
        } => {
            let id = item
                .id()
                .ok_or_else(|| cannot(&"an update without a text `id`"))?;
            (
                batch::Method::Update,
                Some(id.to_owned()),
                expected_version.clone(),
                Some(item),
            )
        }
        Write::Delete {
            id,
            expected_version,
        } => (
            batch::Method::Delete,
            Some(id.clone()),
            expected_version.clone(),
            None,
        ),
    };
    let item = match item {
        Some(r) => Some(record_to_json(&w.table, r).map_err(|e| cannot(&e))?),
        None => None,
    };
    serde_json::to_vec(&BatchOperation {
        key: w.key.clone(),
        table: w.table.clone(),
        method,
        id,
        version,
        item,
    })
    .map_err(|e| cannot(&e))
}
